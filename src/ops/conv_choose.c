/* The weight gradient's path per shape, by measurement.
 *
 * The paths (im2col columns, windows of padded planes, pixel rows of a channels-last copy)
 * compute the same sums in different orders; which is fastest depends on the shape (rows win
 * where the output is small and the channels many, windows or columns on the first, wide
 * layers with few channels) and the device. The first time a shape is seen, each path that
 * applies runs once to warm up (compiling its kernels and tuning its GEMMs), then up to
 * TIMED_RUNS times into a temporary gradient, timed by the host clock from a finished queue to
 * a finished queue; the fastest run wins and is remembered in the tuning file, so later calls
 * and later runs on the device take the same path. */
#include <stdio.h>
#include <string.h>

#include "core/error_internal.h"
#include "ops/conv_internal.h"
#include "ops/ops_state.h"

enum { TIMED_RUNS = 3 };
static const double PATH_MS = 300.0; /* a path's timed runs stop after this much */

static const char *const path_names[YKD_CONV_WGRAD_COUNT] = {NULL, "columns", "windows", "rows"};

static bool applies(ykd_device *device, const ykd_conv_shape *s, ykd_conv_weight_grad_path path)
{
    switch (path) {
    case YKD_CONV_WGRAD_COLUMNS:
        return true;
    case YKD_CONV_WGRAD_WINDOWS:
        return ykd_conv_windows_apply(device, s);
    case YKD_CONV_WGRAD_ROWS:
        return ykd_conv_tiled_gemms(device);
    default:
        return false;
    }
}

static ykd_status run_path(ykd_device *device, ykd_conv_weight_grad_path path,
                           const ykd_tensor *x, const ykd_tensor *dy, const ykd_conv_shape *s,
                           bool accumulate, const ykd_tensor *dw, ykd_error *err)
{
    switch (path) {
    case YKD_CONV_WGRAD_WINDOWS:
        return ykd_conv_weight_grad_windows(device, x, dy, s, accumulate, dw, err);
    case YKD_CONV_WGRAD_ROWS:
        return ykd_conv_weight_grad_rows(device, x, dy, s, accumulate, dw, err);
    default:
        return ykd_conv_weight_grad_columns(device, x, dy, s, accumulate, dw, err);
    }
}

/* The path used where none is measured: windows where they apply, else columns. */
static ykd_conv_weight_grad_path default_path(ykd_device *device, const ykd_conv_shape *s)
{
    return applies(device, s, YKD_CONV_WGRAD_WINDOWS) ? YKD_CONV_WGRAD_WINDOWS
                                                      : YKD_CONV_WGRAD_COLUMNS;
}

static void signature_of(const ykd_conv_shape *s, char *buf, size_t size)
{
    snprintf(buf, size, "conv-wgrad n%d c%d h%d w%d o%d k%d s%d p%d", s->n, s->cin, s->h, s->w,
             s->cout, s->k, s->stride, s->pad);
}

/* The fastest timed run of path into the temporary gradient, or a negative value when the
 * path fails. */
static double measure(ykd_device *device, ykd_conv_weight_grad_path path, const ykd_tensor *x,
                      const ykd_tensor *dy, const ykd_conv_shape *s, const ykd_tensor *temp)
{
    double fastest = -1.0, spent = 0.0;
    ykd_error ignored;
    for (int i = 0; i <= TIMED_RUNS && spent < PATH_MS; i++) {
        if (ykd_device_finish(device, &ignored) != YKD_OK)
            return -1.0;
        double start = ykd_now_ms();
        if (run_path(device, path, x, dy, s, false, temp, &ignored) != YKD_OK ||
            ykd_device_finish(device, &ignored) != YKD_OK)
            return -1.0;
        double ms = ykd_now_ms() - start;
        if (i == 0)
            continue; /* the warm-up: compiles kernels and tunes GEMMs */
        spent += ms;
        if (fastest < 0 || ms < fastest)
            fastest = ms;
    }
    return fastest;
}

static ykd_status choose(ykd_device *device, ykd_ops_state *state, const ykd_tensor *x,
                         const ykd_tensor *dy, const ykd_conv_shape *s,
                         ykd_conv_weight_grad_path *chosen, ykd_error *err)
{
    *chosen = default_path(device, s);
    char signature[128];
    signature_of(s, signature, sizeof signature);
    const char *known = ykd_ops_algo_lookup(state, signature);
    if (known) {
        for (int p = 1; p < YKD_CONV_WGRAD_COUNT; p++)
            if (strcmp(known, path_names[p]) == 0 && applies(device, s, p)) {
                *chosen = p;
                return YKD_OK;
            }
    }
    ykd_conv_weight_grad_path candidates[YKD_CONV_WGRAD_COUNT];
    int count = 0;
    for (int p = 1; p < YKD_CONV_WGRAD_COUNT; p++)
        if (applies(device, s, p))
            candidates[count++] = p;
    if (count < 2)
        return YKD_OK;
    ykd_tensor temp;
    ykd_status st = ykd_tensor_alloc(device, s->cout, s->cin, s->k, s->k, &temp, err);
    if (st != YKD_OK) {
        ykd_error_prefix(err, "measuring the weight gradient's paths");
        return st;
    }
    double best = -1.0;
    for (int i = 0; i < count; i++) {
        double ms = measure(device, candidates[i], x, dy, s, &temp);
        if (ms >= 0 && (best < 0 || ms < best)) {
            best = ms;
            *chosen = candidates[i];
        }
    }
    ykd_tensor_free(&temp);
    if (best >= 0)
        ykd_ops_algo_remember(device, state, signature, path_names[*chosen], best);
    return YKD_OK;
}

ykd_status ykd_conv_weight_grad_any(ykd_device *device, const ykd_tensor *x,
                                    const ykd_tensor *dy, const ykd_conv_shape *s,
                                    bool accumulate, const ykd_tensor *dw, ykd_error *err)
{
    ykd_ops_state *state = NULL;
    ykd_status st = ykd_ops_state_get(device, &state, err);
    if (st != YKD_OK)
        return st;
    ykd_conv_weight_grad_path path = (ykd_conv_weight_grad_path)state->conv_weight_grad;
    if (path != YKD_CONV_WGRAD_CHOOSE)
        path = applies(device, s, path) ? path : default_path(device, s);
    else
        st = choose(device, state, x, dy, s, &path, err);
    if (st != YKD_OK)
        return st;
    return run_path(device, path, x, dy, s, accumulate, dw, err);
}
