/* Stride-1 3x3 convolutions by Winograd F(4x4, 3x3) or F(5x5, 3x3) (cl/conv_winograd.cl, its
 * TILE): the weights and a pass of images' input tiles are transformed into the scratch, 36 or
 * 49 GEMMs (one batched product, any implementation) multiply them over the channels, and the
 * output transform adds the bias, the activation and beta * y as the GEMM epilogue would. The
 * input gradient of such a convolution is the forward pass of the flipped weights (conv.c),
 * so it takes this path too; the weight transform flips them as it reads them. The input
 * transform reads x in place, zeros outside its planes. Where a pass has fewer tiles than a
 * vector of our GEMM's columns, the products take the tiles as rows (plan_winograd).
 * Scratch: U [points][cout][cin] (or [points][cin][cout]) | V [points][cin][tiles] |
 * M [points][cout][tiles] | LANES floats that the output transform's last loads reach. The
 * weight gradient takes F(4x4, 3x3). */
#include <stdint.h>
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/conv_internal.h"
#include "ops/ops_state.h"

static const char *const winograd_sources[] = {"cl/shared.cl", "cl/conv_winograd.cl", NULL};

enum { POINTS = 36 /* the weight gradient's 6x6 input tile */, OUT_TILE = 4 };

/* Tiles per work-item: the transforms' vector width, 8; 4 where a tile row holds at most four
 * tiles (planes up to 16 wide at F(4x4), 20 at F(5x5)), whose strips would leave most of 8
 * lanes idle. The weight transforms take WEIGHT_LANES channels (weights_plan). */
enum { LANES = 8, NARROW_LANES = 4, WEIGHT_LANES = 16 };

/* A pass's padded input, V and M on a CPU: small enough to stay in its caches between the
 * transforms and the GEMM (passes of 2 MiB instead of the default 64: the two transforms of a
 * c128 40x40 layer, batch 8, 6.0 -> 4.4 ms on PoCL, 2 Zen 4 cores). */
static const size_t CPU_PASS_BYTES = (size_t)2 << 20;

/* ... but at least this many tiles, the GEMMs' columns, where the default allows: narrower
 * products leave the GEMM's tiles part empty and read all of U once per pass, from memory
 * when other load has the shared cache. A 40x40 plane (100 tiles) stays one image a pass: 2
 * were 3% slower there. Forward, batch 8, PoCL on 2 Zen 4 cores, the floor against none
 * alternating in one process: c128 20x20 (25 tiles an image) 0.84x, c256 20x20 -> 64 0.90x,
 * c64 20x20 0.84x, c128 10x10 0.94x, c64 40x40 1.00x (BENCHMARKS.md). */
enum { CPU_PASS_TILES = 100 };

/* The columns of one vector of our GEMM's tiles (cl/gemm.cl's float16). */
enum { GEMM_COLUMNS = 16 };

/* The weight gradient's pass on a CPU: larger, since each pass's GEMMs add the whole of dU
 * and want many tiles (their k) to sum (c128 40x40, batch 8: passes of 2 MiB 30.7 ms, 16 MiB
 * 12.9 ms, 64 MiB 16-23 ms). */
static const size_t CPU_GRAD_PASS_BYTES = (size_t)16 << 20;

bool ykd_conv_winograd_apply(const ykd_conv_shape *s)
{
    return s->k == 3 && s->stride == 1 && s->groups <= 1;
}

/* Images per pass: the convolutions' default, at most cpu_bytes' worth on a CPU (at least
 * one image). */
static int images_per_pass(ykd_device *device, size_t floats_per_image, int n, size_t cpu_bytes)
{
    int pass = ykd_conv_images_per_pass(device, floats_per_image, n);
    size_t cached = cpu_bytes / (floats_per_image * sizeof(float));
    if (device->info.type == YKD_DEVICE_TYPE_CPU && pass > 1 && (size_t)pass > cached)
        pass = cached > 1 ? (int)cached : 1;
    return pass;
}

typedef struct winograd_plan {
    int tile, points;      /* the output tile's side; (tile + 2)^2, the GEMMs */
    int th, tw;            /* tiles per output plane */
    int lanes;             /* the transforms' vector width */
    int strips;            /* strips of `lanes` tiles per tile row */
    bool linear_input;     /* the forward's transforms' strips run over the pass's tiles in */
    bool linear_output;    /* order, across tile rows and images (see plan_winograd) */
    bool tiles_as_rows;    /* the products take the tiles as rows, U transposed (see there) */
    size_t weights;        /* floats of U */
    size_t per_image;      /* floats of V and M per image */
    int pass;              /* images per pass */
} winograd_plan;

static void plan_winograd(ykd_device *device, const ykd_conv_shape *s, int tile,
                          winograd_plan *p)
{
    p->tile = tile;
    p->points = (tile + 2) * (tile + 2);
    p->th = (s->ho + tile - 1) / tile;
    p->tw = (s->wo + tile - 1) / tile;
    p->lanes = p->tw <= NARROW_LANES ? NARROW_LANES : LANES;
    p->strips = (p->tw + p->lanes - 1) / p->lanes;
    /* strips over the pass's tiles in order where a tile row is shorter than a strip, which
     * would leave lanes idle: for the output transform always (c128 20x20 at F(4x4), 5 tiles a
     * row in strips of 8: 0.61 -> 0.46-0.54 ms; where rows hold more than a strip, as at 40x40,
     * tile-row strips stay faster: 0.84 against 0.98), for the input transform on narrow planes
     * (c128 10x10 at F(5x5), 2 tiles a row in strips of 4: 0.23-0.28 -> 0.19; at 20x20 F(4x4)'s
     * gathers lost to the tile row's vector loads, 0.37-0.40 against 0.55-0.64) */
    p->linear_input = p->tw < p->lanes && p->lanes == NARROW_LANES;
    p->linear_output = p->tw < p->lanes;
    p->weights = (size_t)p->points * s->cout * s->cin;
    p->per_image = (size_t)p->points * (size_t)(s->cin + s->cout) * p->th * p->tw;
    p->pass = images_per_pass(device, p->per_image, s->n, CPU_PASS_BYTES);
    int cap = ykd_conv_images_per_pass(device, p->per_image, s->n);
    int wanted = (CPU_PASS_TILES + p->th * p->tw - 1) / (p->th * p->tw);
    if (p->pass < wanted)
        p->pass = wanted < cap ? wanted : cap;
    /* Fewer tiles a pass than one vector of our GEMM's columns (a batch of 8 at 5x5 has 8
     * tiles at F(5x5)): the products M^T = V^T U^T take the tiles as rows and the output
     * channels as columns, with U stored transposed, instead of leaving most of each vector
     * of columns empty; our kernels alone store C as M's planes. */
    p->tiles_as_rows =
        (size_t)p->pass * p->th * p->tw < GEMM_COLUMNS && ykd_conv_tiled_gemms(device);
}

size_t ykd_conv_winograd_forward_floats(ykd_device *device, const ykd_conv_shape *s, int tile)
{
    winograd_plan p;
    plan_winograd(device, s, tile, &p);
    return p.weights + (size_t)p.pass * p.per_image + (size_t)p.lanes;
}

static ykd_status winograd_kernel(ykd_device *device, const winograd_plan *p, const char *name,
                                  ykd_kernel **kernel, ykd_error *err)
{
    char options[32];
    snprintf(options, sizeof options, "-DLANES=%d -DTILE=%d", p->lanes, p->tile);
    return ykd_device_kernel(device, winograd_sources, options, name, kernel, err);
}

/* Work-items per group along axis 0 (strips, or weight channels): up to YKD_CONV_ROW_GROUP
 * neighbours, within `count` and what the kernel and device allow. */
static size_t axis0_group(const ykd_device *device, const ykd_kernel *kernel, size_t count)
{
    size_t want = YKD_CONV_ROW_GROUP, limit = ykd_op_local_limit(device, kernel, 0);
    if (want > limit)
        want = limit;
    if (want > count)
        want = count;
    return ykd_pow2_at_most(want);
}

/* The weight transforms' plan: p's, with WEIGHT_LANES channels a work-item whatever the
 * planes' width, so that each point's store (or load) fills a 64-byte line. PoCL on 2 Zen 4
 * cores, c128 -> 128: at 10x10 (4 lanes before) F(4x4) 0.29-0.34 -> 0.11-0.13 ms, F(5x5)
 * 0.41-0.49 -> 0.12-0.14 (it had been twice F(5x5)'s GEMM); at 20x20 (8 lanes before) F(4x4)
 * 0.18-0.21 -> 0.13, F(5x5) 0.40-0.46 -> 0.14-0.17. */
static winograd_plan weights_plan(const winograd_plan *p)
{
    winograd_plan wide = *p;
    wide.lanes = WEIGHT_LANES;
    return wide;
}

/* U from w; with `flipped`, w holds the weights of the convolution whose input gradient s is
 * ([s->cin][s->cout][3][3]), flipped and transposed on the way. */
static ykd_status transform_weights(ykd_device *device, const ykd_buffer *w, size_t w_offset,
                                    bool flipped, const ykd_conv_shape *s,
                                    const winograd_plan *p, ykd_buffer *scratch,
                                    size_t u_offset, ykd_error *err)
{
    winograd_plan wide = weights_plan(p);
    ykd_kernel *kernel = NULL;
    ykd_status st = winograd_kernel(device, &wide, "winograd_weights", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    /* w's own shape and U's layout in its terms: a flipped w's rows are s's input channels,
     * and s's U is w's transposed */
    int cout = flipped ? s->cin : s->cout, cin = flipped ? s->cout : s->cin;
    bool transposed = p->tiles_as_rows != flipped;
    ykd_op_args_mem(&a, w->mem);
    ykd_op_args_uint(&a, w_offset);
    ykd_op_args_int(&a, cout);
    ykd_op_args_int(&a, cin);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, u_offset);
    ykd_op_args_int(&a, transposed);
    ykd_op_args_int(&a, flipped);
    /* lanes over the channels U's rows run along: ci, or co where U is transposed */
    int along = transposed ? cout : cin, across = transposed ? cin : cout;
    size_t groups = (size_t)(along + wide.lanes - 1) / wide.lanes;
    size_t global[2] = {groups, (size_t)across};
    size_t local[2] = {axis0_group(device, kernel, groups), 1};
    return ykd_op_run(device, kernel, &a, 2, global, local, err);
}

/* The _linear kernels' work-items along axis 0: strips of `lanes` over a pass's tiles. */
static size_t linear_strips(const winograd_plan *p, int count)
{
    return ((size_t)count * p->th * p->tw + p->lanes - 1) / p->lanes;
}

/* V[xi][c][t], or transposed V[xi][t][c] (the weight gradient's), from the count images of x
 * from `first` on, read in place (the kernels treat what lies outside the planes as zeros). */
static ykd_status transform_input(ykd_device *device, const ykd_tensor *x, int first, int count,
                                  const ykd_conv_shape *s, const winograd_plan *p,
                                  ykd_buffer *scratch, size_t v_offset, bool transposed,
                                  ykd_error *err)
{
    bool linear = !transposed && p->linear_input;
    ykd_kernel *kernel = NULL;
    ykd_status st = winograd_kernel(device, p,
                                    transposed ? "winograd_input_transposed"
                                    : linear   ? "winograd_input_linear"
                                               : "winograd_input",
                                    &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_images(&a, x, first);
    if (!transposed && !linear) {
        /* the strips' loads' bound: the buffer's floats, or as many as 32 bits index (offsets
         * past them are refused anyway) */
        size_t floats = x->buffer->size / sizeof(float);
        ykd_op_args_uint(&a, floats < UINT32_MAX ? floats : UINT32_MAX);
    }
    const int geometry[] = {s->cin, s->h, s->w, s->pad, p->th, p->tw};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, v_offset);
    ykd_op_args_uint(&a, (size_t)count * p->th * p->tw);
    size_t strips = (size_t)p->th * p->strips, tiles = (size_t)p->th * p->tw;
    size_t groups = (size_t)(s->cin + p->lanes - 1) / p->lanes;
    size_t global[3] = {transposed ? groups : strips, transposed ? tiles : (size_t)s->cin,
                        (size_t)count};
    if (linear) /* strips over the pass's tiles, every image in them */
        global[0] = linear_strips(p, count), global[2] = 1;
    size_t local[3] = {axis0_group(device, kernel, global[0]), 1, 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}

static ykd_status transform_output(ykd_device *device, const ykd_buffer *scratch,
                                   size_t m_offset, const ykd_conv_shape *s,
                                   const winograd_plan *p, int first, int count,
                                   const ykd_tensor *bias, ykd_activation activation, float beta,
                                   const ykd_tensor *y, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = winograd_kernel(
        device, p, p->linear_output ? "winograd_output_linear" : "winograd_output", &kernel,
        err);
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
    size_t global[3] = {(size_t)p->th * p->strips, (size_t)s->cout, (size_t)count};
    if (p->linear_output) /* strips over the pass's tiles, every image in them */
        global[0] = linear_strips(p, count), global[2] = 1;
    size_t local[3] = {axis0_group(device, kernel, global[0]), 1, 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}

/* M[xi] [cout x tiles] = U[xi] [cout x cin] x V[xi] [cin x tiles], the tile points as a
 * batch; or, with the tiles as rows, M[xi]^T = V[xi]^T U[xi]^T from U stored [cin x cout],
 * C stored as M's planes (column co of row t at co * tiles + t). */
static ykd_status multiply(ykd_device *device, const ykd_buffer *u, size_t u_offset,
                           ykd_buffer *scratch, size_t v_offset, size_t m_offset,
                           const ykd_conv_shape *s, const winograd_plan *p, size_t tiles,
                           ykd_error *err)
{
    size_t u_plane = (size_t)s->cout * s->cin, v_plane = (size_t)s->cin * tiles,
           m_plane = (size_t)s->cout * tiles;
    ykd_gemm g = {.m = s->cout, .n = (int)tiles, .k = s->cin, .batch = p->points,
                  .k_batches = 1, .a = ykd_conv_operand(u, u_offset, s->cin, u_plane, 0),
                  .b = ykd_conv_operand(scratch, v_offset, tiles, v_plane, 0),
                  .c = ykd_conv_operand(scratch, m_offset, tiles, m_plane, 0), .alpha = 1.0f,
                  .beta = 0.0f, .act = YKD_ACTIVATION_NONE};
    if (p->tiles_as_rows) {
        g.m = (int)tiles, g.n = s->cout, g.trans_a = true;
        g.a = ykd_conv_operand(scratch, v_offset, tiles, v_plane, 0);
        g.b = ykd_conv_operand(u, u_offset, s->cout, u_plane, 0);
        g.c_planes = (ykd_gemm_planes){.pixels = (int)tiles, .wo = (int)tiles, .row = 0,
                                       .col = 1, .channel = tiles, .image = m_plane};
    }
    return ykd_gemm_run(device, &g, err);
}

/* The cache slot of p's U: one per tile and layout. */
static ykd_conv_cached_kind plan_cached_kind(const winograd_plan *p)
{
    if (p->tile == OUT_TILE)
        return p->tiles_as_rows ? YKD_CONV_CACHED_WINOGRAD_T : YKD_CONV_CACHED_WINOGRAD;
    return p->tiles_as_rows ? YKD_CONV_CACHED_WINOGRAD5_T : YKD_CONV_CACHED_WINOGRAD5;
}

ykd_conv_cached_kind ykd_conv_winograd_cached_kind(ykd_device *device, const ykd_conv_shape *s,
                                                   int tile)
{
    winograd_plan p;
    plan_winograd(device, s, tile, &p);
    return plan_cached_kind(&p);
}

/* U: in the cache (transformed there once) when there is one, else in the scratch at
 * *offset. */
static ykd_status transformed_weights(ykd_device *device, const ykd_buffer *w, size_t w_offset,
                                      bool flipped, ykd_conv2d_cache *cache,
                                      const ykd_conv_shape *s, const winograd_plan *p,
                                      ykd_buffer *scratch, const ykd_buffer **u, size_t *offset,
                                      ykd_error *err)
{
    if (!cache || flipped) /* a cache keeps the unflipped weights' U */
        return transform_weights(device, w, w_offset, flipped, s, p, scratch, *offset, err);
    ykd_buffer *kept = NULL;
    bool ready = false;
    ykd_conv_cached_kind kind = plan_cached_kind(p);
    ykd_status st =
        ykd_conv_cache_slot(cache, device, w, w_offset, kind, p->weights, &kept, &ready, err);
    if (st == YKD_OK && !ready) {
        st = transform_weights(device, w, w_offset, false, s, p, kept, 0, err);
        if (st == YKD_OK)
            ykd_conv_cache_ready(cache, kind);
    }
    *u = kept, *offset = 0;
    return st;
}

ykd_status ykd_conv_forward_winograd(ykd_device *device, const ykd_tensor *x,
                                     const ykd_buffer *w, size_t w_offset, bool flipped,
                                     ykd_conv2d_cache *cache, const ykd_conv_shape *s, int tile,
                                     const ykd_tensor *bias, ykd_activation activation,
                                     float beta, const ykd_tensor *y, size_t reserved,
                                     ykd_error *err)
{
    winograd_plan p;
    plan_winograd(device, s, tile, &p);
    size_t pass_tiles = (size_t)p.pass * p.th * p.tw;
    size_t u_offset = reserved, v_offset = u_offset + p.weights;
    size_t m_offset = v_offset + (size_t)p.points * s->cin * pass_tiles;
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(
        device, (m_offset + (size_t)p.points * s->cout * pass_tiles + p.lanes) * sizeof(float),
        &scratch, err);
    const ykd_buffer *u = scratch;
    if (st == YKD_OK)
        st = transformed_weights(device, w, w_offset, flipped, cache, s, &p, scratch, &u,
                                 &u_offset, err);
    for (int first = 0; first < s->n && st == YKD_OK; first += p.pass) {
        int count = s->n - first < p.pass ? s->n - first : p.pass;
        size_t tiles = (size_t)count * p.th * p.tw;
        st = transform_input(device, x, first, count, s, &p, scratch, v_offset, false, err);
        if (st == YKD_OK)
            st = multiply(device, u, u_offset, scratch, v_offset, m_offset, s, &p, tiles, err);
        if (st == YKD_OK)
            st = transform_output(device, scratch, m_offset, s, &p, first, count, bias,
                                  activation, beta, y, err);
    }
    return st;
}

/* ---- the weight gradient --------------------------------------------------------------- */

typedef struct winograd_grad_plan {
    winograd_plan f;       /* the forward's tiles and strips */
    int hq, wq;            /* the padded output-gradient planes */
    size_t slack;          /* floats after them that the last strips' loads reach (lanes past
                            * the tile row, their results dropped) */
    size_t per_image;      /* floats of the padded output gradient, V and dM per image */
    int pass;
} winograd_grad_plan;

static void plan_winograd_grad(ykd_device *device, const ykd_conv_shape *s,
                               winograd_grad_plan *p)
{
    plan_winograd(device, s, OUT_TILE, &p->f);
    p->hq = OUT_TILE * p->f.th;
    p->wq = OUT_TILE * p->f.tw + 2; /* the loads past a row's last tile in the slack after */
    p->slack = (size_t)OUT_TILE * p->f.lanes;
    p->per_image = p->f.per_image + (size_t)s->cout * p->hq * p->wq;
    p->pass = images_per_pass(device, p->per_image, s->n, CPU_GRAD_PASS_BYTES);
}

static ykd_status transform_output_grad(ykd_device *device, int count, const ykd_conv_shape *s,
                                        const winograd_grad_plan *p, ykd_buffer *scratch,
                                        size_t padded_offset, size_t m_offset, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = winograd_kernel(device, &p->f, "winograd_output_grad", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, padded_offset);
    const int geometry[] = {s->cout, p->hq, p->wq, p->f.th, p->f.tw};
    ykd_op_args_ints(&a, geometry, sizeof geometry / sizeof geometry[0]);
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, m_offset);
    ykd_op_args_uint(&a, (size_t)count * p->f.th * p->f.tw);
    size_t strips = (size_t)p->f.th * p->f.strips;
    size_t global[3] = {strips, (size_t)s->cout, (size_t)count};
    size_t local[3] = {axis0_group(device, kernel, strips), 1, 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}

static ykd_status transform_weights_grad(ykd_device *device, const ykd_buffer *scratch,
                                         size_t du_offset, const ykd_conv_shape *s,
                                         const winograd_plan *p, bool accumulate,
                                         const ykd_tensor *dw, ykd_error *err)
{
    winograd_plan wide = weights_plan(p);
    int lanes = wide.lanes;
    ykd_kernel *kernel = NULL;
    ykd_status st = winograd_kernel(device, &wide, "winograd_weights_grad", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, scratch->mem);
    ykd_op_args_uint(&a, du_offset);
    ykd_op_args_int(&a, s->cout);
    ykd_op_args_int(&a, s->cin);
    ykd_op_args_mem(&a, dw->buffer->mem);
    ykd_op_args_uint(&a, dw->offset);
    ykd_op_args_int(&a, accumulate);
    size_t groups = (size_t)(s->cin + lanes - 1) / lanes;
    size_t global[2] = {groups, (size_t)s->cout};
    size_t local[2] = {axis0_group(device, kernel, groups), 1};
    return ykd_op_run(device, kernel, &a, 2, global, local, err);
}

ykd_status ykd_conv_weight_grad_winograd(ykd_device *device, const ykd_tensor *x,
                                         const ykd_tensor *dy, const ykd_conv_shape *s,
                                         bool accumulate, const ykd_tensor *dw, ykd_error *err)
{
    winograd_grad_plan p;
    plan_winograd_grad(device, s, &p);
    size_t pass_tiles = (size_t)p.pass * p.f.th * p.f.tw;
    size_t du_offset = 0, dy_offset = du_offset + p.f.weights;
    size_t v_offset = dy_offset + (size_t)p.pass * s->cout * p.hq * p.wq + p.slack;
    size_t m_offset = v_offset + (size_t)POINTS * s->cin * pass_tiles;
    ykd_buffer *scratch = NULL;
    ykd_status st = ykd_ops_scratch(
        device, (m_offset + (size_t)POINTS * s->cout * pass_tiles) * sizeof(float), &scratch,
        err);
    for (int first = 0; first < s->n && st == YKD_OK; first += p.pass) {
        int count = s->n - first < p.pass ? s->n - first : p.pass;
        size_t tiles = (size_t)count * p.f.th * p.f.tw;
        st = ykd_conv_pad_images(device, dy, first, count, s->cout, s->ho, s->wo, 0, 0, p.hq,
                                 p.wq, scratch, dy_offset, err);
        if (st == YKD_OK)
            st = transform_input(device, x, first, count, s, &p.f, scratch, v_offset, true, err);
        if (st == YKD_OK)
            st = transform_output_grad(device, count, s, &p, scratch, dy_offset, m_offset, err);
        /* dU[xi] (+)= dM[xi] [cout x tiles] x V[xi]^T [tiles x cin], the 36 points as a
         * batch, summed over the passes; V stored transposed, so that the product reads
         * rows of both (the faster kernel on CPUs) */
        ykd_gemm g = {.m = s->cout, .n = s->cin, .k = (int)tiles, .batch = POINTS,
                      .k_batches = 1,
                      .a = ykd_conv_operand(scratch, m_offset, tiles, (size_t)s->cout * tiles, 0),
                      .b = ykd_conv_operand(scratch, v_offset, s->cin, (size_t)s->cin * tiles, 0),
                      .c = ykd_conv_operand(scratch, du_offset, s->cin,
                                            (size_t)s->cout * s->cin, 0),
                      .alpha = 1.0f, .beta = first > 0 ? 1.0f : 0.0f,
                      .act = YKD_ACTIVATION_NONE};
        if (st == YKD_OK)
            st = ykd_gemm_run(device, &g, err);
    }
    if (st == YKD_OK)
        st = transform_weights_grad(device, scratch, du_offset, s, &p.f, accumulate, dw,
                                    err);
    return st;
}
