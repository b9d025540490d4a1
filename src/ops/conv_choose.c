/* A convolution's path per shape, by measurement, for the forward pass (im2col columns,
 * windows of padded planes, Winograd F(4x4, 3x3) or F(5x5, 3x3), pixel rows of a channels-last
 * copy) and the weight gradient (columns, windows, pixel rows, Winograd F(4x4, 3x3)).
 *
 * The paths compute the same sums in different orders; which is fastest depends on the shape
 * (rows win the weight gradient where the output is small and the channels many, windows or
 * columns on the first, wide layers with few channels) and the device. The first time a
 * shape is seen, each path that applies runs once to warm up (compiling its kernels and tuning
 * its GEMMs), then up to TIMED_RUNS times each, in turns, into a temporary result, timed by
 * the host clock from a finished queue to a finished queue (short runs several times between
 * the two, see SHORT_MS); the fastest run wins and is remembered in the tuning file, so later
 * calls and later runs on the device take the same path. A fixed GEMM configuration
 * (YOLOKD_GEMM) fixes the paths too: windows where they apply, else columns. */
#include <stdio.h>
#include <string.h>

#include "core/error_internal.h"
#include "ops/conv_internal.h"
#include "ops/ops_state.h"

/* Five rounds: with three, a burst of other load on a 2-core machine once kept Winograd
 * F(5x5) (0.8-0.9 ms) for a 10x10 forward behind windows of padded planes (1.5 ms). */
enum { TIMED_RUNS = 5 };
static const double PATH_MS = 300.0; /* per path: the timed runs stop after this much */

/* After the first round, a path whose run took less than this runs several times between
 * the two finished queues (at most MAX_CALLS): a single short run also times the device's
 * waking up for it, which on a busy 2-core machine once made pixel rows (0.33 ms) look
 * slower than Winograd F(5x5) (0.77 ms) for a 128 -> 128 5x5 forward. */
static const double SHORT_MS = 2.0;
enum { MAX_CALLS = 16 };

/* Runs path into out (a temporary shaped like the real result, overwritten). */
typedef ykd_status (*path_runner)(ykd_device *device, const void *call, int path,
                                  const ykd_tensor *out, ykd_error *err);

/* Milliseconds of `calls` runs of path, from a finished queue to a finished queue; negative
 * when one fails. */
static double time_path(ykd_device *device, path_runner run, const void *call, int path,
                        const ykd_tensor *temp, int calls)
{
    ykd_error ignored;
    if (ykd_device_finish(device, &ignored) != YKD_OK)
        return -1.0;
    double start = ykd_now_ms();
    for (int i = 0; i < calls; i++)
        if (run(device, call, path, temp, &ignored) != YKD_OK)
            return -1.0;
    if (ykd_device_finish(device, &ignored) != YKD_OK)
        return -1.0;
    return ykd_now_ms() - start;
}

/* The runs of a path between two finished queues after a first round that took ms. */
static int calls_for(double ms)
{
    if (ms >= SHORT_MS)
        return 1;
    int calls = ms > 0.0 ? (int)(SHORT_MS / ms) + 1 : MAX_CALLS;
    return calls < MAX_CALLS ? calls : MAX_CALLS;
}

/* An op's paths: names[p] for p = 1 .. count - 1, which apply to this call, and the one
 * used where nothing is measured. */
typedef struct path_set {
    const char *const *names;
    int count;
    bool applies[8];
    int fallback;
} path_set;

/* The path for signature: the one remembered, else the fastest measured now (remembered),
 * else the fallback. temp_shape: the result's n, c, h, w. */
static ykd_status choose(ykd_device *device, ykd_ops_state *state, const char *signature,
                         const path_set *paths, path_runner run, const void *call,
                         const int temp_shape[4], int *chosen, ykd_error *err)
{
    *chosen = paths->fallback;
    const char *known = ykd_ops_algo_lookup(state, signature);
    int candidates = 0;
    for (int p = 1; p < paths->count; p++) {
        candidates += paths->applies[p];
        if (known && paths->applies[p] && strcmp(known, paths->names[p]) == 0) {
            *chosen = p;
            return YKD_OK;
        }
    }
    if (candidates < 2)
        return YKD_OK;
    ykd_tensor temp;
    ykd_status st = ykd_tensor_alloc(device, temp_shape[0], temp_shape[1], temp_shape[2],
                                     temp_shape[3], &temp, err);
    if (st != YKD_OK) {
        ykd_error_prefix(err, "measuring the paths of %s", signature);
        return st;
    }
    /* a warm-up run of each (compiling kernels, tuning GEMMs), then timed runs taken in turns
     * so that a burst of other load falls on every path alike; each path's fastest run counts */
    double fastest[8], spent = 0.0, best = -1.0;
    int calls[8];
    for (int p = 1; p < paths->count; p++) {
        fastest[p] =
            paths->applies[p] && time_path(device, run, call, p, &temp, 1) >= 0 ? 0.0 : -1.0;
        calls[p] = 1;
    }
    for (int round = 0; round < TIMED_RUNS && spent < PATH_MS * candidates; round++)
        for (int p = 1; p < paths->count; p++) {
            if (fastest[p] < 0)
                continue;
            double ms = time_path(device, run, call, p, &temp, calls[p]);
            if (ms < 0) {
                fastest[p] = -1.0; /* failed: out of the running */
                continue;
            }
            spent += ms;
            ms /= calls[p];
            if (round == 0)
                calls[p] = calls_for(ms);
            if (round == 0 || ms < fastest[p])
                fastest[p] = ms;
        }
    for (int p = 1; p < paths->count; p++)
        if (fastest[p] >= 0 && (best < 0 || fastest[p] < best)) {
            best = fastest[p];
            *chosen = p;
        }
    ykd_tensor_free(&temp);
    if (best >= 0)
        ykd_ops_algo_remember(device, state, signature, paths->names[*chosen], best);
    return YKD_OK;
}

/* The path a test forces (where it applies, else the fallback); the fallback under a fixed
 * GEMM configuration (YOLOKD_GEMM=tiled-8x1, say: everything fixed, nothing measured, so two
 * contexts of a device compute alike); else 0: choose. */
static int forced_path(const ykd_ops_state *state, int forced, const path_set *paths)
{
    if (forced > 0 && forced < paths->count)
        return paths->applies[forced] ? forced : paths->fallback;
    if (state->policy == YKD_GEMM_POLICY_FIXED && !state->conv_measure_fixed)
        return paths->fallback;
    return 0;
}

static void shape_signature(const char *tag, const ykd_conv_shape *s, char *buf, size_t size)
{
    snprintf(buf, size, "%s n%d c%d h%d w%d o%d k%d s%d p%d", tag, s->n, s->cin, s->h, s->w,
             s->cout, s->k, s->stride, s->pad);
}

/* The path for shape s: the one a test forces (where it applies), else the one remembered
 * for the shape under tag or measured now (running `measured`, whose result temp_shape
 * holds), else the fallback. */
static ykd_status path_for(ykd_device *device, ykd_ops_state *state, int forced,
                           const char *tag, const ykd_conv_shape *s, const path_set *paths,
                           path_runner run, const void *measured, const int temp_shape[4],
                           int *path, ykd_error *err)
{
    *path = forced_path(state, forced, paths);
    if (*path)
        return YKD_OK;
    char signature[128];
    shape_signature(tag, s, signature, sizeof signature);
    return choose(device, state, signature, paths, run, measured, temp_shape, path, err);
}

/* ---- the weight gradient --------------------------------------------------------------- */

static const char *const weight_grad_names[YKD_CONV_WGRAD_COUNT] = {NULL, "columns", "windows",
                                                                  "rows", "winograd"};

typedef struct weight_grad_call {
    const ykd_tensor *x, *dy;
    ykd_conv2d_saved *saved;
    const ykd_conv_shape *s;
    bool accumulate;
} weight_grad_call;

static ykd_status run_weight_grad(ykd_device *device, const void *call, int path,
                                  const ykd_tensor *dw, ykd_error *err)
{
    const weight_grad_call *c = call;
    switch (path) {
    case YKD_CONV_WGRAD_WINDOWS:
        return ykd_conv_weight_grad_windows(device, c->x, c->dy, c->s, c->accumulate, dw, err);
    case YKD_CONV_WGRAD_ROWS:
        return ykd_conv_weight_grad_rows(device, c->x, c->dy, c->saved, c->s, c->accumulate,
                                         dw, err);
    case YKD_CONV_WGRAD_WINOGRAD:
        return ykd_conv_weight_grad_winograd(device, c->x, c->dy, c->s, c->accumulate, dw,
                                             err);
    default:
        return ykd_conv_weight_grad_columns(device, c->x, c->dy, c->s, c->accumulate, dw, err);
    }
}

static void weight_grad_paths(ykd_device *device, const ykd_conv_shape *s, path_set *paths)
{
    *paths = (path_set){.names = weight_grad_names, .count = YKD_CONV_WGRAD_COUNT};
    paths->applies[YKD_CONV_WGRAD_COLUMNS] = true;
    paths->applies[YKD_CONV_WGRAD_WINDOWS] = ykd_conv_windows_apply(device, s);
    paths->applies[YKD_CONV_WGRAD_ROWS] = ykd_conv_tiled_gemms(device);
    paths->applies[YKD_CONV_WGRAD_WINOGRAD] = ykd_conv_winograd_apply(s);
    paths->fallback = paths->applies[YKD_CONV_WGRAD_WINDOWS] ? YKD_CONV_WGRAD_WINDOWS
                                                             : YKD_CONV_WGRAD_COLUMNS;
}

ykd_status ykd_conv_weight_grad_any(ykd_device *device, const ykd_tensor *x,
                                    const ykd_tensor *dy, ykd_conv2d_saved *saved,
                                    const ykd_conv_shape *s, bool accumulate,
                                    const ykd_tensor *dw, ykd_error *err)
{
    ykd_ops_state *state = NULL;
    ykd_status st = ykd_ops_state_get(device, &state, err);
    if (st != YKD_OK)
        return st;
    path_set paths;
    weight_grad_paths(device, s, &paths);
    weight_grad_call measured = {x, dy, NULL, s, false};
    const int temp_shape[4] = {s->cout, s->cin, s->k, s->k};
    int path = 0;
    st = path_for(device, state, state->conv_weight_grad, "conv-wgrad", s, &paths,
                  run_weight_grad, &measured, temp_shape, &path, err);
    weight_grad_call real = {x, dy, saved, s, accumulate};
    if (st == YKD_OK)
        st = run_weight_grad(device, &real, path, dw, err);
    return st;
}

/* Whether the weight gradient of shape s reads pixel rows: the path a test forces or the
 * one remembered (a shape not yet measured: no). */
static bool weight_grad_by_rows(ykd_device *device, const ykd_ops_state *state,
                                const ykd_conv_shape *s)
{
    path_set paths;
    weight_grad_paths(device, s, &paths);
    int forced = forced_path(state, state->conv_weight_grad, &paths);
    if (forced)
        return forced == YKD_CONV_WGRAD_ROWS;
    char signature[128];
    shape_signature("conv-wgrad", s, signature, sizeof signature);
    const char *known = ykd_ops_algo_lookup(state, signature);
    return known && paths.applies[YKD_CONV_WGRAD_ROWS] &&
           strcmp(known, weight_grad_names[YKD_CONV_WGRAD_ROWS]) == 0;
}

/* ---- the input gradient of strided convolutions ---------------------------------------- */

static const char *const strided_grad_names[YKD_CONV_SGRAD_COUNT] = {NULL, "columns", "phases"};

typedef struct strided_grad_call {
    const ykd_tensor *dy, *w;
    const ykd_conv_shape *s;
    bool accumulate;
} strided_grad_call;

static ykd_status run_strided_grad(ykd_device *device, const void *call, int path,
                                   const ykd_tensor *dx, ykd_error *err)
{
    const strided_grad_call *c = call;
    if (path == YKD_CONV_SGRAD_PHASES)
        return ykd_conv_input_grad_phases(device, c->dy, c->w, c->s, c->accumulate, dx, err);
    return ykd_conv_input_grad_columns(device, c->dy, c->w, c->s, c->accumulate, dx, err);
}

ykd_status ykd_conv_strided_input_grad_any(ykd_device *device, const ykd_tensor *dy,
                                           const ykd_tensor *w, const ykd_conv_shape *s,
                                           bool accumulate, const ykd_tensor *dx,
                                           ykd_error *err)
{
    ykd_ops_state *state = NULL;
    ykd_status st = ykd_ops_state_get(device, &state, err);
    if (st != YKD_OK)
        return st;
    path_set paths = {.names = strided_grad_names, .count = YKD_CONV_SGRAD_COUNT,
                      .fallback = YKD_CONV_SGRAD_COLUMNS};
    paths.applies[YKD_CONV_SGRAD_COLUMNS] = true;
    paths.applies[YKD_CONV_SGRAD_PHASES] = ykd_conv_phases_apply(device, s);
    strided_grad_call measured = {dy, w, s, false};
    const int temp_shape[4] = {s->n, s->cin, s->h, s->w};
    int path = 0;
    st = path_for(device, state, state->conv_strided_grad, "conv-sgrad", s, &paths,
                  run_strided_grad, &measured, temp_shape, &path, err);
    strided_grad_call real = {dy, w, s, accumulate};
    if (st == YKD_OK)
        st = run_strided_grad(device, &real, path, dx, err);
    return st;
}

/* ---- the forward pass (and with it the input gradient of stride-1 convolutions) -------- */

static const char *const forward_names[YKD_CONV_FWD_COUNT] = {
    NULL, "columns", "windows", "winograd", "rows", "winograd5"};

typedef struct forward_call {
    const ykd_tensor *x;
    const ykd_buffer *w;
    size_t w_offset;
    const ykd_conv_shape *s;
    const ykd_tensor *bias;
    ykd_activation activation;
    float beta;
    size_t reserved;
    const ykd_tensor *flip_of; /* an input gradient: the weights to flip, w unset */
    ykd_conv2d_cache *cache;
    ykd_conv2d_saved *saved; /* set for the pixel-row path alone, where the weight gradient's
                              * takes the same copy (see forward_by_chosen_path) */
} forward_call;

/* The output tile of a Winograd forward path. */
static int winograd_tile(int path)
{
    return path == YKD_CONV_FWD_WINOGRAD5 ? 5 : 4;
}

static ykd_status run_forward(ykd_device *device, const void *call, int path,
                              const ykd_tensor *y, ykd_error *err)
{
    forward_call copy = *(const forward_call *)call, *c = &copy; /* w set below for a flip */
    /* the pixel rows and Winograd flip the weights as they rearrange them */
    if (c->flip_of && path == YKD_CONV_FWD_ROWS)
        return ykd_conv_forward_rows(device, c->x, c->flip_of->buffer, c->flip_of->offset, true,
                                     NULL, NULL, c->s, c->bias, c->activation, c->beta, y,
                                     c->reserved, err);
    if (c->flip_of && (path == YKD_CONV_FWD_WINOGRAD || path == YKD_CONV_FWD_WINOGRAD5))
        return ykd_conv_forward_winograd(device, c->x, c->flip_of->buffer, c->flip_of->offset,
                                         true, NULL, c->s, winograd_tile(path), c->bias,
                                         c->activation, c->beta, y, c->reserved, err);
    if (c->flip_of) {
        ykd_buffer *scratch = NULL;
        ykd_status st = ykd_ops_scratch(device, c->reserved * sizeof(float), &scratch, err);
        if (st == YKD_OK)
            st = ykd_conv_flip_weights(device, c->flip_of, scratch, err);
        if (st != YKD_OK)
            return st;
        c->w = scratch, c->w_offset = 0;
    }
    switch (path) {
    case YKD_CONV_FWD_WINDOWS:
        return ykd_conv_forward_windows(device, c->x, c->w, c->w_offset, c->s, c->bias,
                                        c->activation, c->beta, y, c->reserved, err);
    case YKD_CONV_FWD_WINOGRAD:
    case YKD_CONV_FWD_WINOGRAD5:
        return ykd_conv_forward_winograd(device, c->x, c->w, c->w_offset, false, c->cache, c->s,
                                         winograd_tile(path), c->bias,
                                         c->activation, c->beta, y, c->reserved, err);
    case YKD_CONV_FWD_ROWS:
        return ykd_conv_forward_rows(device, c->x, c->w, c->w_offset, false, c->cache,
                                     c->saved, c->s, c->bias, c->activation, c->beta, y,
                                     c->reserved, err);
    default:
        return ykd_conv_forward_columns(device, c->x, c->w, c->w_offset, c->s, c->bias,
                                        c->activation, c->beta, y, c->reserved, err);
    }
}

static void forward_paths(ykd_device *device, const ykd_conv_shape *s, path_set *paths)
{
    *paths = (path_set){.names = forward_names, .count = YKD_CONV_FWD_COUNT};
    paths->applies[YKD_CONV_FWD_COLUMNS] = true;
    paths->applies[YKD_CONV_FWD_WINDOWS] = ykd_conv_windows_forward_apply(device, s);
    paths->applies[YKD_CONV_FWD_WINOGRAD] = ykd_conv_winograd_apply(s);
    paths->applies[YKD_CONV_FWD_ROWS] = ykd_conv_rows_forward_apply(device, s);
    paths->applies[YKD_CONV_FWD_WINOGRAD5] = ykd_conv_winograd_apply(s);
    paths->fallback = paths->applies[YKD_CONV_FWD_WINDOWS] ? YKD_CONV_FWD_WINDOWS
                                                           : YKD_CONV_FWD_COLUMNS;
}

size_t ykd_conv_forward_floats(ykd_device *device, const ykd_conv_shape *s)
{
    path_set paths;
    forward_paths(device, s, &paths);
    size_t most = ykd_conv_columns_forward_floats(device, s), f = 0;
    if (paths.applies[YKD_CONV_FWD_WINDOWS] &&
        (f = ykd_conv_windows_forward_floats(device, s)) > most)
        most = f;
    static const int winograd[] = {YKD_CONV_FWD_WINOGRAD, YKD_CONV_FWD_WINOGRAD5};
    for (int i = 0; i < 2; i++)
        if (paths.applies[winograd[i]] &&
            (f = ykd_conv_winograd_forward_floats(device, s, winograd_tile(winograd[i]))) >
                most)
            most = f;
    if (paths.applies[YKD_CONV_FWD_ROWS] && (f = ykd_conv_rows_forward_floats(device, s)) > most)
        most = f;
    return most;
}

/* The cache slot a forward path fills for s, or -1. */
static int cached_kind_of(ykd_device *device, const ykd_conv_shape *s, int path)
{
    if (path == YKD_CONV_FWD_ROWS)
        return YKD_CONV_CACHED_TAPS;
    if (path == YKD_CONV_FWD_WINOGRAD || path == YKD_CONV_FWD_WINOGRAD5)
        return (int)ykd_conv_winograd_cached_kind(device, s, winograd_tile(path));
    return -1;
}

/* The forward pass of call->s by the path a test forces, the one remembered for the shape
 * under tag, or the fastest measured now. */
static ykd_status forward_by_chosen_path(ykd_device *device, const char *tag,
                                         const forward_call *call, const ykd_tensor *y,
                                         ykd_error *err)
{
    ykd_ops_state *state = NULL;
    ykd_status st = ykd_ops_state_get(device, &state, err);
    if (st != YKD_OK)
        return st;
    const ykd_conv_shape *s = call->s;
    path_set paths;
    forward_paths(device, s, &paths);
    forward_call measured = *call;
    measured.beta = 0.0f; /* the temporary holds nothing to add to */
    measured.saved = NULL;
    const int temp_shape[4] = {s->n, s->cout, s->ho, s->wo};
    int path = 0;
    st = path_for(device, state, state->conv_forward, tag, s, &paths, run_forward, &measured,
                  temp_shape, &path, err);
    /* what measuring other paths left in the cache goes */
    ykd_conv_cache_keep_only(call->cache, cached_kind_of(device, s, path));
    forward_call real = *call;
    if (path != YKD_CONV_FWD_ROWS || !weight_grad_by_rows(device, state, s))
        real.saved = NULL; /* nothing would take the copy */
    if (st == YKD_OK)
        st = run_forward(device, &real, path, y, err);
    return st;
}

ykd_status ykd_conv_forward_any(ykd_device *device, const ykd_tensor *x, const ykd_buffer *w,
                                size_t w_offset, ykd_conv2d_cache *cache,
                                ykd_conv2d_saved *saved, const ykd_conv_shape *s,
                                const ykd_tensor *bias, ykd_activation activation, float beta,
                                const ykd_tensor *y, size_t reserved, ykd_error *err)
{
    forward_call call = {x, w, w_offset, s, bias, activation, beta, reserved, NULL, cache,
                         saved};
    /* with a cache the weights' rearrangement is made once for many calls (inference), so
     * the paths compare without it, under a tag of their own; without one (training, the
     * weights new each step) every call pays it and the timings include it */
    return forward_by_chosen_path(device, cache ? "conv-fwd-cached" : "conv-fwd", &call, y,
                                  err);
}

ykd_status ykd_conv_forward_flipped_any(ykd_device *device, const ykd_tensor *dy,
                                        const ykd_tensor *w, const ykd_conv_shape *t,
                                        float beta, const ykd_tensor *dx, ykd_error *err)
{
    /* the flipped copy, where a path takes one, at the scratch's front; sized for every path
     * first so that none reallocates the scratch under it */
    size_t flipped = (size_t)t->cout * t->ckk;
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(
        device, (flipped + ykd_conv_forward_floats(device, t)) * sizeof(float), &scratch, err);
    forward_call call = {dy, NULL, 0, t, NULL, YKD_ACTIVATION_NONE, beta, flipped, w, NULL,
                         NULL};
    if (st == YKD_OK)
        st = forward_by_chosen_path(device, "conv-igrad", &call, dx, err);
    return st;
}
