/* Choosing a GEMM implementation per shape by measurement, remembered on disk.
 *
 * The first time a shape (m, n, k, orientations, and whether there are several products or
 * k-runs) is seen on a device, every candidate runs once to warm up (and compile), then up to
 * three timed runs on a copy of C, with the batch or k-runs cut to two; the fastest run wins
 * (the minimum: other load only ever adds time). A candidate three times slower than the best
 * so far after one timed run is not run again for that shape, and a backend that loses so on
 * LOSSES_TO_DROP shapes in a row is no longer measured on the device (CLBlast on PoCL, say).
 * Runs are timed by the host clock from a finished queue to a finished queue: what a training
 * step pays, launch costs included, and right on devices whose event timestamps are not
 * (ykd_device_timing_get). Measuring is bounded in time as well as in runs: a candidate's
 * timed runs stop after CANDIDATE_MS, and once a shape has taken SHAPE_MS only the first
 * candidate of a backend not yet tried still runs (a slow device, such as llvmpipe, would
 * otherwise spend minutes per shape, and there our tiles are far slower than CLBlast); such a
 * shape is chosen among the candidates measured and counted in the state's tunings_cut.
 * Choices are kept in <cache dir>/tuning/gemm-<key>.tsv, the key covering the device, its
 * driver and platform, this version, the kernel sources and the tile shapes measured, so any
 * change there starts afresh.
 * A damaged file is ignored line by line and rewritten. The same file keeps the ops' own
 * choices of algorithm per shape (lines whose signature starts with "conv"; see
 * ykd_ops_algo_remember), which depend on the same kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "core/sha256.h"
#include "ops/ops_state.h"

enum { TIMED_RUNS = 3, LOSSES_TO_DROP = 4 };
static const double CANDIDATE_MS = 300.0, SHAPE_MS = 2000.0;

/* The tuning file's line for a dropped backend: "dropped <TAB> clblast <TAB> 0", and for the
 * calibration: "windows <TAB> <the winner> <TAB> <CLBlast's time / ours>". */
static const char dropped_tag[] = "dropped";
static const char windows_tag[] = "windows";
static const char algo_prefix[] = "conv";

/* Batches and k-runs are measured with at most two products, so the shape records only
 * whether there are several. */
static void signature_of(const ykd_gemm *g, char *buf, size_t size)
{
    snprintf(buf, size, "m%d n%d k%d b%d kb%d t%d%d%s%s%s%s", g->m, g->n, g->k,
             g->batch < 2 ? 1 : 2, g->k_batches < 2 ? 1 : 2, g->trans_a ? 1 : 0,
             g->trans_b ? 1 : 0, g->b_rows ? " rows" : "", g->c_pitch ? " remap" : "",
             g->a_pixels.plane ? " pixels" : "", g->c_planes.pixels ? " planes" : "");
}

static void tuning_path(const ykd_device *device, char *path, size_t size)
{
    path[0] = '\0';
    if (!device->cache_dir[0])
        return;
    ykd_sha256 h;
    ykd_sha256_init(&h);
    const char *fields[] = {device->info.name, device->info.driver_version,
                            device->info.device_version, device->info.platform_version,
                            ykd_version()};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        ykd_sha256_update_field(&h, fields[i], strlen(fields[i]));
    static const char *const kernels[] = {"cl/gemm.cl", "cl/gemm_nt.cl", "cl/conv.cl",
                                           "cl/conv_winograd.cl"};
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
        const ykd_source_text *src = ykd_embedded_source_find(kernels[i]);
        if (src)
            ykd_sha256_update_field(&h, src->text, src->length);
    }
    /* the tiles measured too: a new candidate list is measured afresh, not left to lose to
     * the old list's recorded winners */
    for (int nt = 0; nt < 2; nt++) {
        const ykd_gemm_config *shapes = NULL;
        size_t count = ykd_gemm_tile_shapes(device->info.vector_floats, nt, &shapes);
        for (size_t i = 0; i < count; i++) {
            char name[32];
            ykd_gemm_config_name(&shapes[i], name, sizeof name);
            ykd_sha256_update_field(&h, name, strlen(name));
        }
    }
    uint8_t digest[YKD_SHA256_SIZE];
    char hex[2 * YKD_SHA256_SIZE + 1];
    ykd_sha256_final(&h, digest);
    ykd_sha256_hex(digest, hex);
    snprintf(path, size, "%s/tuning/gemm-%.16s.tsv", device->cache_dir, hex);
}

static bool add_choice(ykd_ops_state *state, const char *signature,
                       const ykd_gemm_config *config, double ms)
{
    ykd_gemm_choice *grown =
        realloc(state->choices, (state->choice_count + 1) * sizeof *state->choices);
    if (!grown)
        return false;
    state->choices = grown;
    ykd_gemm_choice *c = &grown[state->choice_count++];
    snprintf(c->signature, sizeof c->signature, "%s", signature);
    c->config = *config;
    c->ms = ms;
    return true;
}

static bool add_algo(ykd_ops_state *state, const char *signature, const char *name, double ms)
{
    ykd_algo_choice *grown = realloc(state->algo_choices,
                                     (state->algo_choice_count + 1) * sizeof *state->algo_choices);
    if (!grown)
        return false;
    state->algo_choices = grown;
    ykd_algo_choice *c = &grown[state->algo_choice_count++];
    snprintf(c->signature, sizeof c->signature, "%s", signature);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->ms = ms;
    return true;
}

const char *ykd_ops_algo_lookup(const ykd_ops_state *state, const char *signature)
{
    for (size_t i = 0; i < state->algo_choice_count; i++)
        if (strcmp(state->algo_choices[i].signature, signature) == 0)
            return state->algo_choices[i].name;
    return NULL;
}

static bool is_algo_signature(const char *signature)
{
    return strncmp(signature, algo_prefix, sizeof algo_prefix - 1) == 0;
}

void ykd_gemm_tuning_load(ykd_device *device, ykd_ops_state *state)
{
    tuning_path(device, state->tuning_path, sizeof state->tuning_path);
    if (!state->tuning_path[0])
        return;
    void *data = NULL;
    size_t size = 0;
    if (ykd_file_read_all(state->tuning_path, 16 << 20, &data, &size, NULL) != YKD_OK)
        return;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char signature[128], name[32];
        double ms = 0;
        ykd_gemm_config config;
        if (line[0] == '#' || sscanf(line, "%127[^\t]\t%31s\t%lf", signature, name, &ms) != 3)
            continue; /* a damaged line: that shape is measured again */
        if (is_algo_signature(signature)) {
            add_algo(state, signature, name, ms);
            continue;
        }
        if (!ykd_gemm_config_parse(name, &config))
            continue;
        if (strcmp(signature, dropped_tag) == 0) {
            state->backend_dropped[config.backend] = true;
        } else if (strcmp(signature, windows_tag) == 0) {
            state->windows_decided = true;
            state->windows = config.backend == YKD_GEMM_TILED;
            state->calibration_ratio = ms;
        } else {
            add_choice(state, signature, &config, ms);
        }
    }
    free(data);
}

/* Rewrites the whole table; a failure only costs a future re-measurement. */
static void tuning_save(const ykd_device *device, const ykd_ops_state *state)
{
    if (!state->tuning_path[0])
        return;
    char folder[4300];
    snprintf(folder, sizeof folder, "%s/tuning", device->cache_dir);
    if (ykd_mkdir_p(folder, NULL) != YKD_OK)
        return;
    size_t cap = 128 + (state->choice_count + state->algo_choice_count) * 200, used = 0;
    char *text = malloc(cap);
    if (!text)
        return;
    used += (size_t)snprintf(text, cap, "# yolokd GEMM choices for %s\n", device->info.name);
    if (state->backend_dropped[YKD_GEMM_CLBLAST])
        used += (size_t)snprintf(text + used, cap - used, "%s\tclblast\t0\n", dropped_tag);
    if (state->backend_dropped[YKD_GEMM_TILED])
        used += (size_t)snprintf(text + used, cap - used, "%s\ttiled-6x2\t0\n", dropped_tag);
    if (state->windows_decided)
        used += (size_t)snprintf(text + used, cap - used, "%s\t%s\t%.4f\n", windows_tag,
                                 state->windows ? "tiled-8x1" : "clblast",
                                 state->calibration_ratio);
    for (size_t i = 0; i < state->choice_count && used < cap; i++) {
        char name[32];
        ykd_gemm_config_name(&state->choices[i].config, name, sizeof name);
        used += (size_t)snprintf(text + used, cap - used, "%s\t%s\t%.4f\n",
                                 state->choices[i].signature, name, state->choices[i].ms);
    }
    for (size_t i = 0; i < state->algo_choice_count && used < cap; i++)
        used += (size_t)snprintf(text + used, cap - used, "%s\t%s\t%.4f\n",
                                 state->algo_choices[i].signature, state->algo_choices[i].name,
                                 state->algo_choices[i].ms);
    const void *parts[] = {text};
    size_t sizes[] = {used < cap ? used : cap - 1};
    ykd_file_write_atomic(state->tuning_path, parts, sizes, 1, NULL);
    free(text);
}

bool ykd_ops_algo_remember(ykd_device *device, ykd_ops_state *state, const char *signature,
                           const char *name, double ms)
{
    if (!add_algo(state, signature, name, ms))
        return false;
    tuning_save(device, state);
    return true;
}

/* Milliseconds of one run, from a finished queue to a finished queue. */
static ykd_status time_run(ykd_device *device, const ykd_gemm *g, const ykd_gemm_config *config,
                           double *ms, ykd_error *err)
{
    ykd_status st = ykd_device_finish(device, err);
    double start = ykd_now_ms();
    if (st == YKD_OK)
        st = ykd_gemm_run_config(device, g, config, err);
    if (st == YKD_OK)
        st = ykd_device_finish(device, err);
    *ms = ykd_now_ms() - start;
    return st;
}

/* The fastest timed run, or a negative value when the candidate fails. A candidate clearly
 * slower than best_ms after its first timed run is not run again, nor one whose timed runs
 * have taken CANDIDATE_MS. */
static double measure(ykd_device *device, const ykd_gemm *g, const ykd_gemm_config *config,
                      double best_ms)
{
    double fastest = -1.0, ms = 0, spent = 0;
    ykd_error ignored;
    if (time_run(device, g, config, &ms, &ignored) != YKD_OK)
        return -1.0; /* warm-up: compiles the kernel; a failure rules the candidate out */
    for (int i = 0; i < TIMED_RUNS; i++) {
        if (time_run(device, g, config, &ms, &ignored) != YKD_OK)
            return -1.0;
        spent += ms;
        if (fastest < 0 || ms < fastest)
            fastest = ms;
        if ((best_ms > 0 && fastest > 3.0 * best_ms) || spent > CANDIDATE_MS)
            break;
    }
    return fastest;
}

void ykd_gemm_score_backends(ykd_ops_state *state, const double best_of[2], double best)
{
    for (int b = 0; b < 2; b++) {
        if (best_of[b] < 0)
            continue; /* not measured this time */
        if (best_of[b] > 3.0 * best)
            state->backend_losses[b]++;
        else
            state->backend_losses[b] = 0;
        if (state->backend_losses[b] >= LOSSES_TO_DROP)
            state->backend_dropped[b] = true;
    }
}

/* The products measured: at most two of a batch or of the k-runs (the implementations scale
 * alike beyond that, and a big batch would make the first call of a new shape slow), with C
 * moved into a zeroed temporary buffer so measuring never disturbs the real C. */
static ykd_status trial_product(ykd_device *device, const ykd_gemm *g, ykd_gemm *copy,
                                ykd_buffer **temp, ykd_error *err)
{
    *copy = *g;
    copy->batch = g->batch < 2 ? g->batch : 2;
    copy->k_batches = g->k_batches < 2 ? g->k_batches : 2;
    size_t floats = ykd_gemm_c_extent(g, copy->batch);
    ykd_status st = ykd_buffer_alloc(device, floats * sizeof(float), temp, err);
    if (st != YKD_OK) {
        ykd_error_prefix(err, "measuring GEMM implementations");
        return st;
    }
    unsigned char zero = 0;
    st = ykd_buffer_fill(*temp, 0, &zero, 1, floats * sizeof(float), err);
    copy->c.buffer = *temp;
    copy->c.offset = 0;
    return st;
}

static ykd_status tune(ykd_device *device, ykd_ops_state *state, const ykd_gemm *g,
                       const char *signature, ykd_gemm_config *chosen, ykd_error *err)
{
    ykd_gemm_config candidates[8];
    size_t count = ykd_gemm_candidates(device, g, candidates, 8);
    ykd_gemm trial;
    ykd_buffer *temp = NULL;
    ykd_status st = trial_product(device, g, &trial, &temp, err);
    double best = -1.0, best_of[2] = {-1.0, -1.0}, start = ykd_now_ms();
    bool cut = false, tried[2] = {false, false};
    /* a second round includes dropped backends, should nothing else run for this shape */
    for (int round = 0; round < 2 && best < 0 && st == YKD_OK; round++)
        for (size_t i = 0; i < count; i++) {
            ykd_gemm_backend backend = candidates[i].backend;
            if ((state->policy == YKD_GEMM_POLICY_TILED && backend != YKD_GEMM_TILED) ||
                state->backend_dropped[backend] != (round == 1))
                continue;
            /* out of time, only a backend not yet tried still gets its first candidate */
            if (best >= 0 && tried[backend] && ykd_now_ms() - start > SHAPE_MS) {
                cut = true;
                continue;
            }
            tried[backend] = true;
            double ms = measure(device, &trial, &candidates[i], best);
            if (ms >= 0 && (best_of[backend] < 0 || ms < best_of[backend]))
                best_of[backend] = ms;
            if (ms >= 0 && (best < 0 || ms < best)) {
                best = ms;
                *chosen = candidates[i];
            }
        }
    ykd_buffer_free(temp);
    if (best >= 0)
        ykd_gemm_score_backends(state, best_of, best);
    if (st != YKD_OK)
        return st;
    if (best < 0)
        return ykd_fail(err, YKD_ERR_OPENCL,
                        "gemm %s: no implementation ran on device %d (%s); run with "
                        "YOLOKD_GEMM=tiled-6x2 to see the error",
                        signature, device->info.index, device->info.name);
    state->tunings++;
    state->tunings_cut += cut;
    if (add_choice(state, signature, chosen, best))
        tuning_save(device, state);
    return YKD_OK;
}

ykd_status ykd_gemm_choose(ykd_device *device, const ykd_gemm *g, ykd_gemm_config *config,
                           ykd_error *err)
{
    ykd_ops_state *state = NULL;
    ykd_status st = ykd_ops_state_get(device, &state, err);
    if (st != YKD_OK)
        return st;
    if (state->policy == YKD_GEMM_POLICY_FIXED) {
        *config = state->fixed;
        return YKD_OK;
    }
    char signature[128];
    signature_of(g, signature, sizeof signature);
    for (size_t i = 0; i < state->choice_count; i++) {
        const ykd_gemm_choice *c = &state->choices[i];
        bool allowed =
            state->policy == YKD_GEMM_POLICY_AUTO || c->config.backend == YKD_GEMM_TILED;
        if (allowed && strcmp(c->signature, signature) == 0) {
            *config = c->config;
            return YKD_OK;
        }
    }
    return tune(device, state, g, signature, config, err);
}

/* The calibration product: batch 2 of [64 x 576] x [576 x 1600], a 3x3 convolution of 64
 * channels on 40 x 40 as the middle of a YOLOv8 network has. */
enum { CAL_M = 64, CAL_K = 576, CAL_N = 1600, CAL_BATCH = 2 };

static double best_of_backend(ykd_device *device, const ykd_gemm *g, ykd_gemm_backend backend)
{
    ykd_gemm_config candidates[8];
    size_t count = ykd_gemm_candidates(device, g, candidates, 8);
    double best = -1.0;
    for (size_t i = 0; i < count; i++) {
        if (candidates[i].backend != backend)
            continue;
        double ms = measure(device, g, &candidates[i], best);
        if (ms >= 0 && (best < 0 || ms < best))
            best = ms;
    }
    return best;
}

void ykd_gemm_calibrate(ykd_device *device, ykd_ops_state *state)
{
    if (state->windows_decided)
        return;
    size_t a_floats = (size_t)CAL_M * CAL_K, b_floats = (size_t)CAL_BATCH * CAL_K * CAL_N;
    size_t c_floats = (size_t)CAL_BATCH * CAL_M * CAL_N;
    ykd_buffer *a = NULL, *b = NULL, *c = NULL;
    float value = 0.01f;
    bool ready = ykd_buffer_alloc(device, a_floats * sizeof(float), &a, NULL) == YKD_OK &&
                 ykd_buffer_alloc(device, b_floats * sizeof(float), &b, NULL) == YKD_OK &&
                 ykd_buffer_alloc(device, c_floats * sizeof(float), &c, NULL) == YKD_OK &&
                 ykd_buffer_fill(a, 0, &value, 4, a_floats * 4, NULL) == YKD_OK &&
                 ykd_buffer_fill(b, 0, &value, 4, b_floats * 4, NULL) == YKD_OK;
    double ours = -1.0, theirs = -1.0;
    if (ready) {
        ykd_gemm g = {.m = CAL_M, .n = CAL_N, .k = CAL_K, .batch = CAL_BATCH, .k_batches = 1,
                      .a = {a, 0, CAL_K, 0, 0},
                      .b = {b, 0, CAL_N, (size_t)CAL_K * CAL_N, 0},
                      .c = {c, 0, CAL_N, (size_t)CAL_M * CAL_N, 0}, .alpha = 1.0f};
        ours = best_of_backend(device, &g, YKD_GEMM_TILED);
        theirs = best_of_backend(device, &g, YKD_GEMM_CLBLAST);
    }
    ykd_buffer_free(a);
    ykd_buffer_free(b);
    ykd_buffer_free(c);
    /* windows only when our kernels ran and CLBlast did not beat them */
    state->windows = ours >= 0 && (theirs < 0 || ours <= theirs);
    state->calibration_ratio = ours > 0 && theirs >= 0 ? theirs / ours : 0.0;
    if (ours > 0 && (theirs < 0 || theirs > 3.0 * ours))
        state->backend_dropped[YKD_GEMM_CLBLAST] = true;
    state->windows_decided = true;
    tuning_save(device, state);
}
