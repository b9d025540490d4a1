/* The input gradient of a strided convolution by phases of pixel rows.
 *
 * dx[iy][ix] sums dy[oy][ox] w[ky][kx] over iy = S oy + ky - P (and ix alike). The input
 * pixels of one phase, iy = S qy + py, take only the taps ky = ky0 + S i with ky0 = (py + P)
 * mod S, each at oy = qy + (py + P - ky) / S: a stride-1 correlation of dy with that
 * sub-kernel, its taps in reverse order. So each of the S * S phases is one pixel-row product
 * (cl/gemm.cl with -DA_PIXELS and -DC_PLANES, as conv_rows.c's forward) over a zero-padded
 * channels-last copy of dy, by the weights rearranged per phase (cl/conv.cl's phase_weights),
 * stored into every S-th pixel of every S-th row of dx: every pixel of dx is written once, and
 * neither the columns (K * K / (S * S) times dx) nor col2im's scatter remain. Strides up to the
 * kernel's size, so that every phase has a tap. */
#include "core/error_internal.h"
#include "ops/conv_internal.h"
#include "ops/ops_state.h"

/* One phase along one axis. */
typedef struct phase_axis {
    int taps;    /* the sub-kernel's taps */
    int last;    /* its last tap (window position 0) */
    int outputs; /* input pixels of the phase: p, p + S, ... below the input's size */
    int offset;  /* dy's row (column) of window position 0, relative to the phase's pixel */
} phase_axis;

static phase_axis axis_of(int p, int size, int k, int stride, int pad)
{
    phase_axis a;
    int first = (p + pad) % stride;
    a.taps = (k - first + stride - 1) / stride;
    a.last = first + stride * (a.taps - 1);
    a.outputs = size > p ? (size - p + stride - 1) / stride : 0;
    a.offset = (p + pad - a.last) / stride;
    return a;
}

/* The zero border dy needs so that every phase's windows stay inside its padded copy. */
static int border_of(const ykd_conv_shape *s)
{
    int border = 0;
    for (int p = 0; p < s->stride; p++) {
        const int sizes[2][2] = {{s->h, s->ho}, {s->w, s->wo}};
        for (int d = 0; d < 2; d++) {
            phase_axis a = axis_of(p, sizes[d][0], s->k, s->stride, s->pad);
            if (a.outputs == 0)
                continue;
            int before = -a.offset, after = a.outputs - 1 + a.offset + a.taps - sizes[d][1];
            border = before > border ? before : border;
            border = after > border ? after : border;
        }
    }
    return border;
}

bool ykd_conv_phases_apply(ykd_device *device, const ykd_conv_shape *s)
{
    ykd_ops_state *state = NULL;
    if (s->stride < 2 || s->stride > s->k || s->groups > 1 ||
        ykd_ops_state_get(device, &state, NULL) != YKD_OK || state->columns_only)
        return false;
    return ykd_conv_tiled_gemms(device);
}

static ykd_status phase_weights(ykd_device *device, const ykd_tensor *w,
                                const ykd_conv_shape *s, ykd_buffer *scratch, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st =
        ykd_device_kernel(device, ykd_conv_sources, NULL, "phase_weights", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, w->buffer->mem);
    ykd_op_args_uint(&a, w->offset);
    const int geometry[] = {s->cout, s->cin, s->k, s->stride, s->pad};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, 0);
    /* a work-item per 16 input channels of one filter */
    size_t global[2] = {(size_t)(s->cin + 15) / 16, (size_t)s->cout};
    size_t local[2] = {1, 1};
    return ykd_op_run(device, kernel, &a, 2, global, local, err);
}

ykd_status ykd_conv_input_grad_phases(ykd_device *device, const ykd_tensor *dy,
                                      const ykd_tensor *w, const ykd_conv_shape *s,
                                      bool accumulate, const ykd_tensor *dx, ykd_error *err)
{
    int border = border_of(s), hq = s->ho + 2 * border, wq = s->wo + 2 * border;
    size_t image = (size_t)hq * wq * s->cout, weights = ((size_t)s->cout * s->ckk + 15) / 16 * 16;
    int pass = ykd_conv_images_per_pass(device, image, s->n);
    /* scratch: the phases' weights, one block after another | padded channels-last dy */
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(device, (weights + (size_t)pass * image) * sizeof(float),
                                    &scratch, err);
    if (st == YKD_OK)
        st = phase_weights(device, w, s, scratch, err);
    /* dy as the input of a convolution padded by the border */
    ykd_conv_shape padded = {.n = s->n, .cin = s->cout, .h = s->ho, .w = s->wo, .cout = s->cin,
                             .k = 1, .stride = 1, .pad = border};
    ykd_conv_derive(&padded);
    size_t plane = (size_t)s->h * s->w;
    for (int first = 0; first < s->n && st == YKD_OK; first += pass) {
        int count = s->n - first < pass ? s->n - first : pass;
        st = ykd_conv_pad_channels_last(device, dy, first, count, &padded, scratch, weights,
                                        err);
        size_t block = 0; /* the phase's weights */
        for (int py = 0; py < s->stride && st == YKD_OK; py++)
            for (int px = 0; px < s->stride && st == YKD_OK; px++) {
                phase_axis y = axis_of(py, s->h, s->k, s->stride, s->pad);
                phase_axis x = axis_of(px, s->w, s->k, s->stride, s->pad);
                size_t taps = (size_t)y.taps * x.taps * s->cout * s->cin;
                if (y.outputs == 0 || x.outputs == 0) {
                    block += taps;
                    continue;
                }
                int pixels = y.outputs * x.outputs;
                size_t origin = ((size_t)(y.offset + border) * wq + (size_t)(x.offset + border)) *
                                s->cout;
                size_t row = (size_t)x.taps * s->cout;
                ykd_gemm g = {
                    .m = count * pixels, .n = s->cin, .k = (int)row, .batch = 1,
                    .k_batches = y.taps, .alpha = 1.0f, .beta = accumulate ? 1.0f : 0.0f,
                    .act = YKD_ACTIVATION_NONE,
                    .a = ykd_conv_operand(scratch, weights + origin, row, 0,
                                          (size_t)wq * s->cout),
                    .a_pixels = {.plane = pixels, .wo = x.outputs, .stride = 1, .wp = wq,
                                 .channels = s->cout, .image = image},
                    .b = ykd_conv_operand(scratch, block, s->cin, 0, row * s->cin),
                    .c = ykd_conv_operand(dx->buffer,
                                          dx->offset + (size_t)first * dx->batch_stride +
                                              (size_t)py * s->w + (size_t)px,
                                          0, 0, 0),
                    .c_planes = {.pixels = pixels, .wo = x.outputs, .row = s->stride * s->w,
                                 .col = s->stride, .channel = plane,
                                 .image = dx->batch_stride}};
                st = ykd_gemm_run(device, &g, err);
                block += taps;
            }
    }
    return st;
}
