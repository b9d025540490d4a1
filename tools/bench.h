/* Benchmarks built into the yolokd command and reached through `yolokd bench WHAT`. */
#ifndef YKD_BENCH_H
#define YKD_BENCH_H

#include "cli/cli.h"

/* yolokd bench loader: images/s of the data loader alone. */
int ykd_bench_loader(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);

/* yolokd bench ops: every op, forward and backward, on YOLOv8 layer shapes. */
int ykd_bench_ops(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);

/* yolokd bench loss: the detection loss, forward and backward, at training shapes. */
int ykd_bench_loss(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);

/* yolokd bench step: a whole training step on pre-made batches. */
int ykd_bench_step(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);

#endif
