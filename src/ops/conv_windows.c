/* Convolution GEMMs without im2col.
 *
 * With the input zero-padded to planes of Hp x Wp, the im2col row of column j = (c, ky, kx)
 * is, over the output pixels laid out Wp wide, the padded plane c shifted by ky * Wp + kx: a
 * contiguous window. So the GEMM reads B's rows straight from the padded copy through a table
 * of window starts (cl/gemm.cl with -DB_ROWS), computes Ho x Wp outputs per channel and drops
 * the Wp - Wo columns past each output row as it stores (-DC_REMAP). The copy is the size of
 * the input, not k * k times it; the price is (Wp - Wo) / Wo extra columns of arithmetic.
 * The rows of a padded plane share their zeros (Wp = W + P: a row's P zeros on the left are
 * the previous row's right padding), so only K - 1 - P columns a row are computed and
 * dropped. The weight gradient reads the same windows against the output gradient laid out
 * Wp wide with zeros in the extra columns (cl/gemm_nt.cl with -DB_ROWS).
 * A forward pass of stride S > 1 reads windows of phase planes instead: plane (c, py, px)
 * holds the padded input's pixels (S i + py, S j + px), so tap (ky, kx) is the window of
 * plane (c, ky % S, kx % S) shifted by (ky / S, kx / S), and the copy is again the size of
 * the padded input where im2col's columns are k * k / (S * S) times it. Stride 1 is the case
 * of one phase.
 *
 * Only our GEMM kernels read through a row table, so windows are used where the device's
 * GEMMs are ours: the policy says so, or a calibration (ykd_gemm_calibrate, once per device,
 * remembered in the tuning file) found our kernels at least as fast as CLBlast. */
#include <limits.h>

#include "core/error_internal.h"
#include "ops/conv_internal.h"
#include "ops/ops_state.h"

/* The padded geometry and the scratch it takes. */
typedef struct window_plan {
    int stride, phases; /* phases: stride * stride planes per channel */
    int hp, wp;         /* a (phase) plane: the output plus the rows and columns windows reach */
    size_t plane;       /* hp * wp */
    size_t width;       /* GEMM columns: ho * wp */
    size_t table;       /* floats the row table occupies (ckk ints, rounded up) */
    size_t span;        /* the farthest window start */
    size_t slack;       /* floats after the last padded image that windows past the edge read */
} window_plan;

/* Where the window of tap (ky, kx) of channel c starts. */
static size_t window_start(const window_plan *p, int c, int ky, int kx)
{
    int phase = (ky % p->stride) * p->stride + kx % p->stride;
    return ((size_t)c * p->phases + (size_t)phase) * p->plane +
           (size_t)(ky / p->stride) * p->wp + (size_t)(kx / p->stride);
}

static void plan_windows(const ykd_conv_shape *s, window_plan *p)
{
    int reach = (s->k - 1) / s->stride; /* rows and columns past the output a window reads */
    p->stride = s->stride;
    p->phases = s->stride * s->stride;
    p->hp = s->ho + reach;
    p->wp = s->wo + reach;
    if (s->stride == 1) {
        /* the zeros right of a padded row serve as the left padding of the next: windows
         * read at most pad columns either side, so w + pad columns hold a row with one run
         * of pad zeros between rows (k - 1 - pad fewer than w + 2 pad: one for 3x3, pad 1) */
        p->wp = s->w + s->pad > s->wo ? s->w + s->pad : s->wo;
    }
    p->plane = (size_t)p->hp * p->wp;
    p->width = (size_t)s->ho * p->wp;
    p->table = (s->ckk + 15) / 16 * 16;
    p->span = 0;
    for (int ky = 0; ky < s->k; ky++)
        for (int kx = 0; kx < s->k; kx++) {
            size_t start = window_start(p, s->cin - 1, ky, kx);
            p->span = start > p->span ? start : p->span;
        }
    p->slack = (size_t)s->k + 16;
}

bool ykd_conv_tiled_gemms(ykd_device *device)
{
    ykd_ops_state *state = NULL;
    if (ykd_ops_state_get(device, &state, NULL) != YKD_OK)
        return false;
    switch (state->policy) {
    case YKD_GEMM_POLICY_FIXED:
        return state->fixed.backend == YKD_GEMM_TILED;
    case YKD_GEMM_POLICY_TILED:
        return true;
    default:
        ykd_gemm_calibrate(device, state);
        return state->windows;
    }
}

bool ykd_conv_windows_apply(ykd_device *device, const ykd_conv_shape *s)
{
    return s->stride == 1 && ykd_conv_windows_forward_apply(device, s);
}

bool ykd_conv_windows_forward_apply(ykd_device *device, const ykd_conv_shape *s)
{
    ykd_ops_state *state = NULL;
    if (s->k < 2 || s->k < s->stride || ykd_ops_state_get(device, &state, NULL) != YKD_OK ||
        state->columns_only)
        return false;
    window_plan p;
    plan_windows(s, &p);
    /* the row table holds ints, and the kernel computes them in int */
    if (p.span + p.plane > INT_MAX)
        return false;
    return ykd_conv_tiled_gemms(device);
}

/* Writes the window starts of every column j = (c, ky, kx) at table_offset of the scratch, on
 * the device: a blocking write from the host would wait for every earlier command, leaving
 * the device idle while the host queues the next convolution's commands. */
static ykd_status write_row_table(ykd_device *device, const ykd_conv_shape *s,
                                  const window_plan *p, ykd_buffer *scratch,
                                  size_t table_offset, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st =
        ykd_device_kernel(device, ykd_conv_sources, NULL, "window_starts", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, table_offset);
    const int geometry[] = {(int)s->ckk, s->k, p->stride, (int)p->plane, p->wp};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    return ykd_op_run_1d(device, kernel, &a, s->ckk, err);
}

ykd_status ykd_conv_pad_images(ykd_device *device, const ykd_tensor *src, int first, int count,
                               int c, int h, int w, int top, int left, int hp, int wp,
                               ykd_buffer *scratch, size_t dst_offset, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, ykd_conv_sources, NULL, "pad_planes", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_images(&a, src, first);
    const int geometry[] = {c, h, w, top, left, hp, wp};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, dst_offset);
    size_t global[3] = {(size_t)hp, (size_t)c, (size_t)count};
    size_t local[3] = {1, ykd_conv_row_group(device, kernel), 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}

/* Copies count images (from x's first image) into the scratch at dst_offset as phase planes:
 * plane (c, py, px) of p's size holds pixel (stride * i + py - pad, stride * j + px - pad) of
 * channel c at (i, j), zero outside the image. */
static ykd_status pad_phase_images(ykd_device *device, const ykd_tensor *x, int first, int count,
                                   const ykd_conv_shape *s, const window_plan *p,
                                   ykd_buffer *scratch, size_t dst_offset, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st =
        ykd_device_kernel(device, ykd_conv_sources, NULL, "pad_phases", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_images(&a, x, first);
    const int geometry[] = {s->cin, s->h, s->w, s->stride, s->pad, p->hp, p->wp};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, dst_offset);
    size_t global[3] = {(size_t)p->hp, (size_t)s->cin * (size_t)p->phases, (size_t)count};
    size_t local[3] = {1, ykd_conv_row_group(device, kernel), 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}

/* Zeroes the slack after the padded images: windows of the last rows read it, and in the
 * weight gradient those reads are multiplied by zeros, which an uninitialised NaN would spoil. */
static ykd_status zero_slack(ykd_buffer *scratch, size_t offset, size_t floats, ykd_error *err)
{
    float zero = 0.0f;
    return ykd_buffer_fill(scratch, offset * sizeof(float), &zero, sizeof zero,
                           floats * sizeof(float), err);
}

size_t ykd_conv_windows_forward_floats(ykd_device *device, const ykd_conv_shape *s)
{
    window_plan p;
    plan_windows(s, &p);
    size_t per_image = (size_t)s->cin * p.phases * p.plane;
    int pass = ykd_conv_images_per_pass(device, per_image, s->n);
    return p.table + (size_t)pass * per_image + p.slack;
}

ykd_status ykd_conv_forward_windows(ykd_device *device, const ykd_tensor *x, const ykd_buffer *w,
                                    size_t w_offset, const ykd_conv_shape *s,
                                    const ykd_tensor *bias, ykd_activation activation,
                                    float beta, const ykd_tensor *y, size_t reserved,
                                    ykd_error *err)
{
    window_plan p;
    plan_windows(s, &p);
    size_t per_image = (size_t)s->cin * p.phases * p.plane;
    int pass = ykd_conv_images_per_pass(device, per_image, s->n);
    size_t table_offset = reserved, images_offset = reserved + p.table;
    size_t slack_offset = images_offset + (size_t)pass * per_image;
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(device, (slack_offset + p.slack) * sizeof(float), &scratch,
                                    err);
    if (st == YKD_OK)
        st = write_row_table(device, s, &p, scratch, table_offset, err);
    if (st == YKD_OK)
        st = zero_slack(scratch, slack_offset, p.slack, err);
    ykd_gemm g = {.m = s->cout, .n = (int)p.width, .k = (int)s->ckk, .k_batches = 1,
                  .a = ykd_conv_operand(w, w_offset, s->ckk, 0, 0), .alpha = 1.0f,
                  .beta = beta, .bias = bias ? bias->buffer : NULL,
                  .bias_offset = bias ? bias->offset : 0, .act = activation,
                  .b_rows = scratch, .b_rows_offset = table_offset, .b_row_span = p.span,
                  .c_pitch = p.wp, .c_width = s->wo};
    for (int first = 0; first < s->n && st == YKD_OK; first += pass) {
        int count = s->n - first < pass ? s->n - first : pass;
        if (s->stride == 1)
            st = ykd_conv_pad_images(device, x, first, count, s->cin, s->h, s->w, s->pad,
                                     s->pad, p.hp, p.wp, scratch, images_offset, err);
        else
            st = pad_phase_images(device, x, first, count, s, &p, scratch, images_offset, err);
        g.batch = count;
        g.b = ykd_conv_operand(scratch, images_offset, p.width, per_image, 0);
        g.c = ykd_conv_tensor_operand(y, first, s->hwo);
        if (st == YKD_OK)
            st = ykd_gemm_run(device, &g, err);
    }
    return st;
}

ykd_status ykd_conv_weight_grad_windows(ykd_device *device, const ykd_tensor *x,
                                        const ykd_tensor *dy, const ykd_conv_shape *s,
                                        bool accumulate, const ykd_tensor *dw, ykd_error *err)
{
    window_plan p;
    plan_windows(s, &p);
    bool split = ykd_conv_split_over_images(device, s->cout, s->ckk);
    size_t x_image = (size_t)s->cin * p.plane, dy_image = (size_t)s->cout * p.width;
    size_t grad_size = (size_t)s->cout * s->ckk;
    int pass = ykd_conv_images_per_pass(device, x_image + dy_image + (split ? grad_size : 0),
                                        s->n);
    /* scratch: row table | padded x | slack | dy laid out wp wide | per-image gradients */
    size_t x_offset = p.table, slack_offset = x_offset + (size_t)pass * x_image;
    size_t dy_offset = slack_offset + p.slack, parts_offset = dy_offset + (size_t)pass * dy_image;
    size_t total = parts_offset + (split ? (size_t)pass * grad_size : 0);
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(device, total * sizeof(float), &scratch, err);
    if (st == YKD_OK)
        st = write_row_table(device, s, &p, scratch, 0, err);
    if (st == YKD_OK)
        st = zero_slack(scratch, slack_offset, p.slack, err);
    /* dW = sum over images of dy' [cout, ho * wp] x windows^T */
    ykd_gemm g = {.m = s->cout, .n = (int)s->ckk, .k = (int)p.width, .trans_b = true,
                  .alpha = 1.0f, .act = YKD_ACTIVATION_NONE, .b_rows = scratch,
                  .b_rows_offset = 0, .b_row_span = p.span};
    for (int first = 0; first < s->n && st == YKD_OK; first += pass) {
        int count = s->n - first < pass ? s->n - first : pass;
        bool add = accumulate || first > 0;
        st = ykd_conv_pad_images(device, x, first, count, s->cin, s->h, s->w, s->pad, s->pad,
                                 p.hp, p.wp, scratch, x_offset, err);
        if (st == YKD_OK)
            st = ykd_conv_pad_images(device, dy, first, count, s->cout, s->ho, s->wo, 0, 0,
                                     s->ho, p.wp, scratch, dy_offset, err);
        g.a = ykd_conv_operand(scratch, dy_offset, p.width, dy_image, dy_image);
        g.b = ykd_conv_operand(scratch, x_offset, p.width, x_image, x_image);
        if (st == YKD_OK)
            st = ykd_conv_weight_grad_pass(device, &g, s, count, split, scratch, parts_offset, dw,
                                           add, err);
    }
    return st;
}
