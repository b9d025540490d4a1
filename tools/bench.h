/* Benchmarks built into the yolokd command and reached through `yolokd bench WHAT`. */
#ifndef YKD_BENCH_H
#define YKD_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/cli.h"

/* yolokd bench loader: images/s of the data loader alone. */
int ykd_bench_loader(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);

/* yolokd bench ops: every op, forward and backward, on YOLOv8 layer shapes. */
int ykd_bench_ops(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);

/* yolokd bench loss: the detection loss, forward and backward, at training shapes. */
int ykd_bench_loss(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);

/* yolokd bench step: a whole training step on pre-made batches. */
int ykd_bench_step(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
/* yolokd bench kd: each distillation loss next to a training step. */
int ykd_bench_kd(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);

/* Uniform in [lo, hi) from a splitmix64 state: the same inputs every run. */
float ykd_bench_uniform(uint64_t *state, float lo, float hi);

/* Wall time after which a benchmark's loop of timed calls stops (its first timed call always
 * runs): a slow device cannot keep a benchmark going for long. */
#define YKD_BENCH_LOOP_LIMIT_MS 30000.0

/* Whether call r of a timing loop runs (r < 0: warm-ups, 0: the first timed call, always),
 * the loop having begun at started_ms (ykd_now_ms). */
bool ykd_bench_run_more(int r, double started_ms);

/* Whether a kernel profile may be taken during the timed calls: where the device's events are
 * usable. Where the host clock times each launch (which serialises them), the profile must
 * come from a call of its own. Fails when the timing cannot be decided. */
ykd_status ykd_bench_profile_alongside(ykd_device *device, bool *alongside, ykd_error *err);

/* The median of n timings (sorts v). */
double ykd_bench_median(double *v, int n);

#endif
