/* Convolutions by pixel rows: the patches read from a channels-last, zero-padded copy of the
 * input instead of im2col columns, for the weight gradient (dW = dy x patches) and the forward
 * pass (y^T = patches x W^T).
 *
 * In that copy (cl/conv.cl's pad_channels_last) the values kernel row ky reads for output
 * pixel p, over kx and then c, are one contiguous run of K * C floats starting at
 * start(p) + ky * Wp * C, start(p) = (oy * S * Wp + ox * S) * C. So for each ky the gradient
 * rows dW[co][ky][., .] (kx and c, channels innermost) are one product of dy [Cout x HWo]
 * (its rows along the pixels, as stored) by a B of HWo rows of K * C floats read through a
 * table of the starts (cl/gemm.cl with -DB_ROWS), summed over the images in the GEMM's
 * k-runs. B's rows are read as 16-float vectors and A is broadcast, the shape our GEMM kernel
 * runs fastest, where the column-wise products of the other paths (cl/gemm_nt.cl) reduce 16
 * lanes per output and lose to short pixel rows. The copy is the size of the input (any
 * stride, no im2col); a last pass puts the gradient back in the weights' layout (storing
 * each column at its place from the GEMM's epilogue, one float at a time, cost more than
 * that pass on small planes, where the products are short). */

#include "core/error_internal.h"
#include "ops/conv_internal.h"
#include "ops/ops_state.h"

/* Work-items per group along the channels (axis 0) for weights_from_channels_last: up to
 * YKD_CONV_ROW_GROUP, no more than the channels, within what the kernel and device allow. */
static size_t channel_group(const ykd_device *device, const ykd_kernel *kernel, int channels)
{
    size_t want = YKD_CONV_ROW_GROUP, limit = ykd_op_local_limit(device, kernel, 0);
    if (want > limit)
        want = limit;
    if (want > (size_t)channels)
        want = (size_t)channels;
    return ykd_pow2_at_most(want);
}

/* Writes start(p) for every output pixel at table_offset of the scratch, on the device (a
 * blocking write from the host would wait for every earlier command). */
static ykd_status write_pixel_table(ykd_device *device, const ykd_conv_shape *s, int wp,
                                    ykd_buffer *scratch, size_t table_offset, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st =
        ykd_device_kernel(device, ykd_conv_sources, NULL, "pixel_starts", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, table_offset);
    const int geometry[] = {(int)s->hwo, s->wo, s->stride, wp, s->cin};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    return ykd_op_run_1d(device, kernel, &a, s->hwo, err);
}

ykd_status ykd_conv_pad_channels_last(ykd_device *device, const ykd_tensor *x, int first,
                                      int count, const ykd_conv_shape *s, ykd_buffer *scratch,
                                      size_t dst_offset, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st =
        ykd_device_kernel(device, ykd_conv_sources, NULL, "pad_channels_last", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_images(&a, x, first);
    const int geometry[] = {s->cin, s->h, s->w, s->pad};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, dst_offset);
    /* a work-item per 16 pixels (of the plane, then of the border) by 16 channels */
    size_t plane = (size_t)s->h * s->w;
    size_t border = (size_t)(s->h + 2 * s->pad) * (size_t)(s->w + 2 * s->pad) - plane;
    size_t global[3] = {(plane + 15) / 16 + (border + 15) / 16, (size_t)(s->cin + 15) / 16,
                        (size_t)count};
    size_t local[3] = {1, 1, 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}

/* dw (+)= the gradient computed with the channels innermost at offset of the scratch, in the
 * weights' layout. */
static ykd_status weights_from_channels_last(ykd_device *device, const ykd_buffer *scratch,
                                             size_t offset, const ykd_conv_shape *s,
                                             bool accumulate, const ykd_tensor *dw,
                                             ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, ykd_conv_sources, NULL,
                                      "weights_from_channels_last", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, offset);
    ykd_op_args_int(&a, s->cout);
    ykd_op_args_int(&a, s->cin);
    ykd_op_args_int(&a, s->k);
    ykd_op_args_mem(&a, dw->buffer->mem);
    ykd_op_args_uint(&a, dw->offset);
    ykd_op_args_int(&a, accumulate);
    size_t global[2] = {(size_t)s->cin, (size_t)s->cout};
    size_t local[2] = {channel_group(device, kernel, s->cin), 1};
    return ykd_op_run(device, kernel, &a, 2, global, local, err);
}

/* ---- the forward pass ---------------------------------------------------------------------
 * Transposed, y^T [pixels x Cout] = patches [pixels x K * K * C] x W^T: for each ky a product
 * of the pixels' patch rows (A read through the pixel geometry, cl/gemm.cl's -DA_PIXELS, the
 * images of a pass one after another) by the weights rearranged as rows of (kx, c) taps with
 * the output channels innermost, summed over ky in the GEMM's k-runs, and stored into y's
 * planes (-DC_PLANES). The vectors run along the output channels (multiples of 16 in YOLO
 * networks) instead of the pixels, so a 5 x 5 plane wastes no lanes where the other paths
 * compute 32 or more columns for its 25; the price is the channels-last copy and the
 * rearranged weights. */

bool ykd_conv_rows_forward_apply(ykd_device *device, const ykd_conv_shape *s)
{
    (void)s; /* any geometry */
    ykd_ops_state *state = NULL;
    if (ykd_ops_state_get(device, &state, NULL) != YKD_OK || state->columns_only)
        return false;
    return ykd_conv_tiled_gemms(device);
}

static size_t padded_image(const ykd_conv_shape *s)
{
    return (size_t)(s->h + 2 * s->pad) * (size_t)(s->w + 2 * s->pad) * (size_t)s->cin;
}

static size_t taps_floats(const ykd_conv_shape *s)
{
    return ((size_t)s->cout * s->ckk + 15) / 16 * 16;
}

size_t ykd_conv_rows_forward_floats(ykd_device *device, const ykd_conv_shape *s)
{
    size_t image = padded_image(s);
    return taps_floats(s) + (size_t)ykd_conv_images_per_pass(device, image, s->n) * image;
}

/* The weights as rows of (ky, kx, c) with the output channels innermost, at taps_offset. */
static ykd_status weights_by_taps(ykd_device *device, const ykd_buffer *w, size_t w_offset,
                                  bool flipped, const ykd_conv_shape *s, ykd_buffer *scratch,
                                  size_t taps_offset, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, ykd_conv_sources, NULL,
                                      flipped ? "flipped_weights_by_taps" : "weights_by_taps",
                                      &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, w->mem);
    ykd_op_args_uint(&a, w_offset);
    const int geometry[] = {s->cout, s->cin, s->k};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, taps_offset);
    /* a work-item per block of 16 x 16 (16 outputs of one input channel when flipped) */
    size_t global[2] = {(s->ckk + 15) / 16, (size_t)(s->cout + 15) / 16};
    if (flipped)
        global[0] = (size_t)(s->cout + 15) / 16, global[1] = (size_t)s->cin;
    size_t local[2] = {1, 1};
    return ykd_op_run(device, kernel, &a, 2, global, local, err);
}

/* The weights as rows of taps: in the cache (made there once) when there is one, else in the
 * scratch at *offset. */
static ykd_status taps_of(ykd_device *device, const ykd_buffer *w, size_t w_offset, bool flipped,
                          ykd_conv2d_cache *cache, const ykd_conv_shape *s, ykd_buffer *scratch,
                          const ykd_buffer **taps, size_t *offset, ykd_error *err)
{
    if (!cache)
        return weights_by_taps(device, w, w_offset, flipped, s, scratch, *offset, err);
    ykd_buffer *kept = NULL;
    bool ready = false;
    ykd_status st = ykd_conv_cache_slot(cache, device, w, w_offset, YKD_CONV_CACHED_TAPS,
                                        (size_t)s->cout * s->ckk, &kept, &ready, err);
    if (st == YKD_OK && !ready) {
        st = weights_by_taps(device, w, w_offset, flipped, s, kept, 0, err);
        if (st == YKD_OK)
            ykd_conv_cache_ready(cache, YKD_CONV_CACHED_TAPS);
    }
    *taps = kept, *offset = 0;
    return st;
}

ykd_status ykd_conv_forward_rows(ykd_device *device, const ykd_tensor *x, const ykd_buffer *w,
                                 size_t w_offset, bool flipped, ykd_conv2d_cache *cache,
                                 ykd_conv2d_saved *saved, const ykd_conv_shape *s,
                                 const ykd_tensor *bias, ykd_activation activation, float beta,
                                 const ykd_tensor *y, size_t reserved, ykd_error *err)
{
    int wp = s->w + 2 * s->pad;
    size_t image = padded_image(s), row = (size_t)s->k * s->cin;
    /* the copy of a pass's images: in the scratch, or (every image at once) kept in saved for
     * the weight gradient */
    int pass = saved ? s->n : ykd_conv_images_per_pass(device, image, s->n);
    /* scratch: the caller's | the weights by taps | padded channels-last images */
    size_t taps_offset = reserved, images_offset = reserved + taps_floats(s);
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(
        device, (images_offset + (saved ? 0 : (size_t)pass * image)) * sizeof(float), &scratch,
        err);
    ykd_buffer *images = scratch;
    if (st == YKD_OK && saved) {
        st = ykd_conv_saved_buffer(saved, device, (size_t)s->n * image, &images, err);
        images_offset = 0;
    }
    const ykd_buffer *taps = scratch;
    if (st == YKD_OK)
        st = taps_of(device, w, w_offset, flipped, cache, s, scratch, &taps, &taps_offset, err);
    ykd_gemm g = {.n = s->cout, .k = (int)row, .batch = 1, .k_batches = s->k,
                  .b = ykd_conv_operand(taps, taps_offset, s->cout, 0, row * s->cout),
                  .alpha = 1.0f, .beta = beta, .bias = bias ? bias->buffer : NULL,
                  .bias_offset = bias ? bias->offset : 0, .act = activation,
                  .a_pixels = {.plane = (int)s->hwo, .wo = s->wo, .stride = s->stride,
                               .wp = wp, .channels = s->cin, .image = image},
                  .c_planes = {.pixels = (int)s->hwo, .wo = s->wo, .row = s->wo, .col = 1,
                               .channel = s->hwo, .image = y->batch_stride}};
    for (int first = 0; first < s->n && st == YKD_OK; first += pass) {
        int count = s->n - first < pass ? s->n - first : pass;
        st = ykd_conv_pad_channels_last(device, x, first, count, s, images, images_offset,
                                        err);
        g.m = (int)((size_t)count * s->hwo);
        g.a = ykd_conv_operand(images, images_offset, row, 0, (size_t)wp * s->cin);
        g.c = ykd_conv_tensor_operand(y, first, s->hwo);
        if (st == YKD_OK)
            st = ykd_gemm_run(device, &g, err);
    }
    if (st == YKD_OK && saved)
        ykd_conv_saved_made(saved, x, s);
    return st;
}

/* ---- the weight gradient ------------------------------------------------------------------ */

ykd_status ykd_conv_weight_grad_rows(ykd_device *device, const ykd_tensor *x,
                                     const ykd_tensor *dy, ykd_conv2d_saved *saved,
                                     const ykd_conv_shape *s, bool accumulate,
                                     const ykd_tensor *dw, ykd_error *err)
{
    int hp = s->h + 2 * s->pad, wp = s->w + 2 * s->pad;
    size_t image = (size_t)hp * wp * s->cin, row = (size_t)s->k * s->cin;
    size_t grad_size = (size_t)s->cout * s->ckk;
    /* every image's copy, made by the forward, or a pass's at a time made here */
    const ykd_buffer *kept = saved ? ykd_conv_saved_take(saved, x, s) : NULL;
    int pass = kept ? s->n : ykd_conv_images_per_pass(device, image, s->n);
    /* a 1x1 kernel's gradient, channels last, is already in the weights' layout: the GEMM
     * stores it into dw */
    bool direct = s->k == 1;
    /* scratch: pixel table | the gradient, channels last (unless direct) | padded
     * channels-last images */
    size_t table = (s->hwo + 15) / 16 * 16, grad_offset = table;
    size_t images_offset = grad_offset + (direct ? 0 : grad_size);
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(
        device, (images_offset + (kept ? 0 : (size_t)pass * image)) * sizeof(float), &scratch,
        err);
    const ykd_buffer *images = kept ? kept : scratch;
    if (kept)
        images_offset = 0;
    if (st == YKD_OK)
        st = write_pixel_table(device, s, wp, scratch, 0, err);
    size_t span = (((size_t)(s->ho - 1) * wp + (size_t)(s->wo - 1)) * s->stride) * s->cin;
    ykd_gemm g = {.m = s->cout, .n = (int)row, .k = (int)s->hwo, .batch = 1, .alpha = 1.0f,
                  .act = YKD_ACTIVATION_NONE, .b_rows = scratch, .b_rows_offset = 0,
                  .b_row_span = span};
    for (int first = 0; first < s->n && st == YKD_OK; first += pass) {
        int count = s->n - first < pass ? s->n - first : pass;
        if (!kept)
            st = ykd_conv_pad_channels_last(device, x, first, count, s, scratch, images_offset,
                                            err);
        g.k_batches = count;
        g.beta = first > 0 || (direct && accumulate) ? 1.0f : 0.0f;
        g.a = ykd_conv_tensor_operand(dy, first, s->hwo);
        for (int ky = 0; ky < s->k && st == YKD_OK; ky++) {
            g.b = ykd_conv_operand(images, images_offset + (size_t)ky * wp * s->cin, row, 0,
                                   image);
            g.c = direct ? ykd_conv_operand(dw->buffer, dw->offset, s->ckk, 0, 0)
                         : ykd_conv_operand(scratch, grad_offset + (size_t)ky * row, s->ckk,
                                            0, 0);
            st = ykd_gemm_run(device, &g, err);
        }
    }
    if (st == YKD_OK && !direct)
        st = weights_from_channels_last(device, scratch, grad_offset, s, accumulate, dw, err);
    return st;
}
