/* Stride-1 3x3 convolutions by Winograd F(2x2, 3x3) (cl/conv_winograd.cl): the weights and a
 * pass of images' input tiles are transformed into the scratch, 16 GEMMs (one batched
 * product, any implementation) multiply them over the channels, and the output transform
 * adds the bias, the activation and beta * y as the GEMM epilogue would. The input gradient
 * of such a convolution is the forward pass of the flipped weights (conv.c), so it takes this
 * path too. Scratch: U [16][cout][cin] | V [16][cin][tiles] | M [16][cout][tiles]. */
#include "core/error_internal.h"
#include "ops/conv_internal.h"
#include "ops/ops_state.h"

static const char *const winograd_sources[] = {"cl/shared.cl", "cl/conv_winograd.cl", NULL};

enum { POINTS = 16 }; /* a 4x4 tile */

bool ykd_conv_winograd_apply(const ykd_conv_shape *s)
{
    return s->k == 3 && s->stride == 1 && s->groups <= 1;
}

typedef struct winograd_plan {
    int th, tw;            /* tiles per output plane */
    size_t weights;        /* floats of U */
    size_t per_image;      /* floats of V and M per image */
    int pass;              /* images per pass */
} winograd_plan;

static void plan_winograd(ykd_device *device, const ykd_conv_shape *s, winograd_plan *p)
{
    p->th = (s->ho + 1) / 2;
    p->tw = (s->wo + 1) / 2;
    p->weights = (size_t)POINTS * s->cout * s->cin;
    p->per_image = (size_t)POINTS * (size_t)(s->cin + s->cout) * p->th * p->tw;
    p->pass = ykd_conv_images_per_pass(device, p->per_image, s->n);
}

size_t ykd_conv_winograd_forward_floats(ykd_device *device, const ykd_conv_shape *s)
{
    winograd_plan p;
    plan_winograd(device, s, &p);
    return p.weights + (size_t)p.pass * p.per_image;
}

/* Work-items per group along the tiles (axis 0): neighbouring tiles of a plane, up to
 * YKD_CONV_ROW_GROUP, within the plane's tiles and what the kernel and device allow. */
static size_t tile_group(const ykd_device *device, const ykd_kernel *kernel,
                         const winograd_plan *p)
{
    size_t want = YKD_CONV_ROW_GROUP, limit = ykd_op_local_limit(device, kernel, 0);
    size_t tiles = (size_t)p->th * p->tw;
    if (want > limit)
        want = limit;
    if (want > tiles)
        want = tiles;
    return ykd_pow2_at_most(want);
}

static ykd_status transform_weights(ykd_device *device, const ykd_buffer *w, size_t w_offset,
                                    const ykd_conv_shape *s, ykd_buffer *scratch,
                                    size_t u_offset, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st =
        ykd_device_kernel(device, winograd_sources, NULL, "winograd_weights", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, w->mem);
    ykd_op_args_uint(&a, w_offset);
    ykd_op_args_int(&a, s->cout);
    ykd_op_args_int(&a, s->cin);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, u_offset);
    size_t limit = ykd_op_local_limit(device, kernel, 0);
    size_t want = (size_t)YKD_CONV_ROW_GROUP < limit ? (size_t)YKD_CONV_ROW_GROUP : limit;
    size_t global[2] = {(size_t)s->cin, (size_t)s->cout};
    size_t local[2] = {ykd_pow2_at_most(want < (size_t)s->cin ? want : (size_t)s->cin), 1};
    return ykd_op_run(device, kernel, &a, 2, global, local, err);
}

static ykd_status transform_input(ykd_device *device, const ykd_tensor *x, int first, int count,
                                  const ykd_conv_shape *s, const winograd_plan *p,
                                  ykd_buffer *scratch, size_t v_offset, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st =
        ykd_device_kernel(device, winograd_sources, NULL, "winograd_input", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_images(&a, x, first);
    const int geometry[] = {s->cin, s->h, s->w, s->pad, p->th, p->tw};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, v_offset);
    ykd_op_args_uint(&a, (size_t)count * p->th * p->tw);
    size_t global[3] = {(size_t)p->th * p->tw, (size_t)s->cin, (size_t)count};
    size_t local[3] = {tile_group(device, kernel, p), 1, 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}

static ykd_status transform_output(ykd_device *device, const ykd_buffer *scratch,
                                   size_t m_offset, const ykd_conv_shape *s,
                                   const winograd_plan *p, int first, int count,
                                   const ykd_tensor *bias, ykd_activation activation, float beta,
                                   const ykd_tensor *y, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st =
        ykd_device_kernel(device, winograd_sources, NULL, "winograd_output", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, m_offset);
    ykd_op_args_uint(&a, (size_t)count * p->th * p->tw);
    const int geometry[] = {s->cout, s->ho, s->wo, p->th, p->tw};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_images(&a, y, first);
    ykd_op_args_float(&a, beta);
    ykd_op_args_mem(&a, bias ? bias->buffer->mem : NULL);
    ykd_op_args_uint(&a, bias ? bias->offset : 0);
    ykd_op_args_int(&a, bias != NULL);
    ykd_op_args_int(&a, (int)activation);
    size_t global[3] = {(size_t)p->th * p->tw, (size_t)s->cout, (size_t)count};
    size_t local[3] = {tile_group(device, kernel, p), 1, 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}

ykd_status ykd_conv_forward_winograd(ykd_device *device, const ykd_tensor *x,
                                     const ykd_buffer *w, size_t w_offset,
                                     const ykd_conv_shape *s, const ykd_tensor *bias,
                                     ykd_activation activation, float beta, const ykd_tensor *y,
                                     size_t reserved, ykd_error *err)
{
    winograd_plan p;
    plan_winograd(device, s, &p);
    size_t u_offset = reserved, v_offset = u_offset + p.weights;
    size_t pass_tiles = (size_t)p.pass * p.th * p.tw;
    size_t m_offset = v_offset + (size_t)POINTS * s->cin * pass_tiles;
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(
        device, (m_offset + (size_t)POINTS * s->cout * pass_tiles) * sizeof(float), &scratch,
        err);
    if (st == YKD_OK)
        st = transform_weights(device, w, w_offset, s, scratch, u_offset, err);
    for (int first = 0; first < s->n && st == YKD_OK; first += p.pass) {
        int count = s->n - first < p.pass ? s->n - first : p.pass;
        size_t tiles = (size_t)count * p.th * p.tw;
        st = transform_input(device, x, first, count, s, &p, scratch, v_offset, err);
        /* M[xi] = U[xi] [cout x cin] x V[xi] [cin x tiles], the 16 points as a batch */
        ykd_gemm g = {.m = s->cout, .n = (int)tiles, .k = s->cin, .batch = POINTS,
                      .k_batches = 1,
                      .a = ykd_conv_operand(scratch, u_offset, s->cin,
                                            (size_t)s->cout * s->cin, 0),
                      .b = ykd_conv_operand(scratch, v_offset, tiles, (size_t)s->cin * tiles, 0),
                      .c = ykd_conv_operand(scratch, m_offset, tiles, (size_t)s->cout * tiles,
                                            0),
                      .alpha = 1.0f, .beta = 0.0f, .act = YKD_ACTIVATION_NONE};
        if (st == YKD_OK)
            st = ykd_gemm_run(device, &g, err);
        if (st == YKD_OK)
            st = transform_output(device, scratch, m_offset, s, &p, first, count, bias,
                                  activation, beta, y, err);
    }
    return st;
}
