/* The GEMM description: checks, dispatch to an implementation, and the shared epilogue. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error_internal.h"
#include "ops/gemm.h"
#include "ops/ops_state.h"

static const char *const conv_sources[] = {"cl/shared.cl", "cl/conv.cl", NULL};

void ykd_gemm_config_name(const ykd_gemm_config *config, char *buf, size_t size)
{
    if (config->backend == YKD_GEMM_CLBLAST)
        snprintf(buf, size, "clblast");
    else
        snprintf(buf, size, "tiled-%dx%d", config->tm, config->tv);
}

bool ykd_gemm_config_parse(const char *name, ykd_gemm_config *config)
{
    int tm = 0, tv = 0, used = 0;
    if (strcmp(name, "clblast") == 0) {
        *config = (ykd_gemm_config){YKD_GEMM_CLBLAST, 0, 0};
        return true;
    }
    if (sscanf(name, "tiled-%dx%d%n", &tm, &tv, &used) == 2 && name[used] == '\0' && tm >= 1 &&
        tm <= 16 && tv >= 1 && tv <= 16) {
        *config = (ykd_gemm_config){YKD_GEMM_TILED, tm, tv};
        return true;
    }
    return false;
}

/* The last float an operand touches, plus one: rows x cols from its offset. */
static size_t operand_end(const ykd_gemm_operand *o, int rows, int cols, int batch,
                          int k_batches)
{
    return o->offset + (size_t)(batch - 1) * o->batch_stride +
           (size_t)(k_batches - 1) * o->kbatch_stride + (size_t)(rows - 1) * (size_t)o->ld +
           (size_t)cols;
}

static ykd_status check_operand(const ykd_gemm_operand *o, const char *name, int rows,
                                int cols, int batch, int k_batches, const char *op,
                                ykd_error *err)
{
    if (!o->buffer)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: GEMM operand %s has no buffer", op,
                        name);
    if (o->ld < cols)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: GEMM operand %s has leading dimension %d < %d columns", op, name,
                        o->ld, cols);
    size_t end = operand_end(o, rows, cols, batch, k_batches);
    size_t capacity = ykd_buffer_size(o->buffer) / sizeof(float);
    if (end > capacity || end > UINT32_MAX)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: GEMM operand %s (%d x %d) reaches element %zu of a buffer of %zu", op,
                        name, rows, cols, end, capacity);
    return YKD_OK;
}

/* Floats a row of C holds when rows are rows of ld floats: n, or the packed pixels of
 * remapped columns. */
static int c_columns(const ykd_gemm *g)
{
    return g->c_pitch ? g->n / g->c_pitch * g->c_width : g->n;
}

/* Where pixel q of an image of C in planes lies. */
static size_t planes_pixel(const ykd_gemm_planes *c, size_t q)
{
    return q / (size_t)c->wo * (size_t)c->row + q % (size_t)c->wo * (size_t)c->col;
}

size_t ykd_gemm_c_extent(const ykd_gemm *g, int batch)
{
    const ykd_gemm_planes *c = &g->c_planes;
    if (c->pixels) {
        /* pixels lie further the later they come: the last row's, and the last of the image
         * before it, with the last channel */
        size_t last = (size_t)(g->m - 1), pixels = (size_t)c->pixels;
        size_t channels = (size_t)(g->n - 1) * c->channel;
        size_t end = last / pixels * c->image + planes_pixel(c, last % pixels) + channels + 1;
        if (g->m > c->pixels) {
            size_t full = (last / pixels - 1) * c->image + planes_pixel(c, pixels - 1) +
                          channels + 1;
            end = full > end ? full : end;
        }
        return (size_t)(batch - 1) * g->c.batch_stride + end;
    }
    return (size_t)(batch - 1) * g->c.batch_stride + (size_t)(g->m - 1) * (size_t)g->c.ld +
           (size_t)c_columns(g);
}

/* The farthest float of A that rows of pixels read, plus one (see ykd_gemm_pixels). */
static size_t pixels_extent(const ykd_gemm *g)
{
    const ykd_gemm_pixels *p = &g->a_pixels;
    size_t last = (size_t)(g->m - 1), pixel = last % (size_t)p->plane;
    size_t oy = pixel / (size_t)p->wo, ox = pixel % (size_t)p->wo;
    size_t start = last / (size_t)p->plane * p->image +
                   (oy * (size_t)p->stride * (size_t)p->wp + ox * (size_t)p->stride) *
                       (size_t)p->channels;
    return g->a.offset + start + (size_t)(g->k_batches - 1) * g->a.kbatch_stride + (size_t)g->k;
}

static ykd_status check_pixels(const ykd_gemm *g, const char *op, ykd_error *err)
{
    const ykd_gemm_pixels *p = &g->a_pixels;
    if (g->trans_a || g->trans_b || g->batch > 1 || p->wo <= 0 || p->stride <= 0 ||
        p->wp <= 0 || p->channels <= 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: GEMM over pixel rows (plane %d, %d wide, stride %d, %d channels) "
                        "with a transpose or a batch",
                        op, p->plane, p->wo, p->stride, p->channels);
    if (!g->a.buffer)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: GEMM operand A has no buffer", op);
    size_t end = pixels_extent(g), capacity = ykd_buffer_size(g->a.buffer) / sizeof(float);
    if (end > capacity || end > UINT32_MAX)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "%s: GEMM operand A (%d pixel rows of %d) reaches element %zu of a "
                        "buffer of %zu",
                        op, g->m, g->k, end, capacity);
    return YKD_OK;
}

ykd_status ykd_gemm_check(const ykd_gemm *g, const char *op, ykd_error *err)
{
    if (g->m <= 0 || g->n <= 0 || g->k <= 0 || g->batch <= 0 || g->k_batches <= 0)
        return ykd_fail(err, YKD_ERR_SHAPE, "%s: GEMM of %d x %d x %d (batch %d, k-runs %d)", op,
                        g->m, g->n, g->k, g->batch, g->k_batches);
    if (g->batch > 1 && g->k_batches > 1)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: a GEMM cannot have both a batch and k-runs", op);
    if (g->trans_a && g->trans_b)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED, "%s: a GEMM with both operands transposed",
                        op);
    const ykd_gemm_planes *planes = &g->c_planes;
    if (planes->pixels < 0 ||
        (planes->pixels &&
         (planes->wo <= 0 || planes->row < 0 || planes->col < 0 || g->c_pitch || g->trans_b)))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%s: C in planes of %d pixels (%d wide) with a remapped pitch or B "
                        "transposed",
                        op, planes->pixels, planes->wo);
    int a_rows = g->trans_a ? g->k : g->m, a_cols = g->trans_a ? g->m : g->k;
    int b_rows = g->trans_b ? g->n : g->k, b_cols = g->trans_b ? g->k : g->n;
    ykd_status st = g->a_pixels.plane
                        ? check_pixels(g, op, err)
                        : check_operand(&g->a, "A", a_rows, a_cols, g->batch, g->k_batches, op,
                                        err);
    if (st == YKD_OK && g->b_rows) {
        /* rows at arbitrary starts: check the farthest one, read b_cols floats long */
        ykd_gemm_operand spread = g->b;
        spread.ld = b_cols;
        spread.offset += g->b_row_span;
        st = check_operand(&spread, "B", 1, b_cols, g->batch, g->k_batches, op, err);
    } else if (st == YKD_OK) {
        st = check_operand(&g->b, "B", b_rows, b_cols, g->batch, g->k_batches, op, err);
    }
    if (st == YKD_OK && !g->c.buffer)
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: GEMM operand C has no buffer", op);
    size_t c_end = g->c.offset + ykd_gemm_c_extent(g, g->batch);
    if (st == YKD_OK && !planes->pixels && g->c.ld < c_columns(g))
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "%s: GEMM operand C has leading dimension %d < %d columns", op, g->c.ld,
                      c_columns(g));
    if (st == YKD_OK && (c_end > ykd_buffer_size(g->c.buffer) / sizeof(float) ||
                         c_end > UINT32_MAX))
        st = ykd_fail(err, YKD_ERR_SHAPE,
                      "%s: GEMM operand C (%d x %d) reaches element %zu of a buffer of %zu", op,
                      g->m, g->n, c_end, ykd_buffer_size(g->c.buffer) / sizeof(float));
    /* the bias is per row of C, or per column where C is in planes */
    int biased = planes->pixels ? g->n : g->m;
    if (st == YKD_OK && g->bias &&
        g->bias_offset + (size_t)biased > ykd_buffer_size(g->bias) / sizeof(float))
        st = ykd_fail(err, YKD_ERR_SHAPE, "%s: GEMM bias of %d floats outside its buffer", op,
                      biased);
    return st;
}

size_t ykd_gemm_tile_shapes(unsigned vector_floats, bool trans_b,
                            const ykd_gemm_config **shapes)
{
    /* Tile shapes whose accumulators and loads fit in the device's vector registers, the
     * usual winner first so slower ones are cut short. With vectors of 16 floats (AVX-512:
     * 32 registers, a float16 in each), tuning the v8n/v8s shapes on PoCL picked 8x1, 12x1
     * and 4x2 for 186 of 201 NN/TN shapes (6x2 and 8x2 won the rest by a few percent) and
     * 4x6 and 6x4 for 100 of 109 NT shapes; since the epilogue runs on whole vectors, 6x2 is
     * the fastest on many of the windows and 1x1 shapes of the YOLOv8s forward at 320. With
     * narrower vectors (AVX2: 16 registers, a float16 in two) those tiles spill: 8x1 ran a
     * 128 x 1600 x 576 product at 60 GFLOP/s where 5x1 ran it at 107, and tuning the v8n
     * shapes among 13 tiles picked 5x1, 4x1, 2x2 and 6x1 for 171 of 190 NN/TN shapes and
     * 2x3, 3x2 and 1x6 for 34 of 40 NT shapes. */
    static const ykd_gemm_config wide[] = {{YKD_GEMM_TILED, 8, 1},
                                           {YKD_GEMM_TILED, 12, 1},
                                           {YKD_GEMM_TILED, 4, 2},
                                           {YKD_GEMM_TILED, 6, 2}};
    static const ykd_gemm_config wide_nt[] = {{YKD_GEMM_TILED, 4, 6}, {YKD_GEMM_TILED, 6, 4}};
    static const ykd_gemm_config narrow[] = {{YKD_GEMM_TILED, 5, 1},
                                             {YKD_GEMM_TILED, 4, 1},
                                             {YKD_GEMM_TILED, 2, 2},
                                             {YKD_GEMM_TILED, 6, 1}};
    static const ykd_gemm_config narrow_nt[] = {
        {YKD_GEMM_TILED, 2, 3}, {YKD_GEMM_TILED, 3, 2}, {YKD_GEMM_TILED, 1, 6}};
    bool wide_vectors = vector_floats >= 16;
    if (trans_b) {
        *shapes = wide_vectors ? wide_nt : narrow_nt;
        return wide_vectors ? sizeof wide_nt / sizeof wide_nt[0]
                            : sizeof narrow_nt / sizeof narrow_nt[0];
    }
    *shapes = wide_vectors ? wide : narrow;
    return wide_vectors ? sizeof wide / sizeof wide[0] : sizeof narrow / sizeof narrow[0];
}

size_t ykd_gemm_candidates(const ykd_device *device, const ykd_gemm *g, ykd_gemm_config *configs,
                           size_t max)
{
    const ykd_gemm_config *ours = NULL;
    size_t our_count = ykd_gemm_tile_shapes(device->info.vector_floats, g->trans_b, &ours);
    size_t n = 0;
    /* CLBlast has no row table, pixel rows or remapped store */
    bool clblast = !g->b_rows && !g->c_pitch && !g->a_pixels.plane && !g->c_planes.pixels;
    /* on GPUs CLBlast is the likely winner, so measure it first to drop slow tiles early */
    if (clblast && device->info.type != YKD_DEVICE_TYPE_CPU && n < max)
        configs[n++] = (ykd_gemm_config){YKD_GEMM_CLBLAST, 0, 0};
    for (size_t i = 0; i < our_count && n < max; i++)
        configs[n++] = ours[i];
    if (clblast && device->info.type == YKD_DEVICE_TYPE_CPU && n < max)
        configs[n++] = (ykd_gemm_config){YKD_GEMM_CLBLAST, 0, 0};
    return n;
}

ykd_status ykd_gemm_run_config(ykd_device *device, const ykd_gemm *g,
                               const ykd_gemm_config *config, ykd_error *err)
{
    if (config->backend == YKD_GEMM_CLBLAST)
        return ykd_gemm_run_clblast(device, g, err);
    return ykd_gemm_run_tiled(device, g, config->tm, config->tv, err);
}

ykd_status ykd_gemm_run(ykd_device *device, const ykd_gemm *g, ykd_error *err)
{
    ykd_status st = ykd_gemm_check(g, "gemm", err);
    ykd_gemm_config config;
    if (st == YKD_OK)
        st = ykd_gemm_choose(device, g, &config, err);
    if (st == YKD_OK)
        st = ykd_gemm_run_config(device, g, &config, err);
    return st;
}

ykd_status ykd_gemm_epilogue(ykd_device *device, const ykd_gemm *g, ykd_error *err)
{
    if (!g->bias && g->act == YKD_ACTIVATION_NONE)
        return YKD_OK;
    ykd_kernel *kernel = NULL;
    ykd_status st =
        ykd_device_kernel(device, conv_sources, NULL, "bias_activation", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    ykd_op_args_mem(&a, g->c.buffer->mem);
    ykd_op_args_uint(&a, g->c.offset);
    ykd_op_args_uint(&a, g->c.batch_stride);
    ykd_op_args_int(&a, g->n);
    ykd_op_args_int(&a, g->c.ld);
    ykd_op_args_mem(&a, g->bias ? g->bias->mem : NULL);
    ykd_op_args_uint(&a, g->bias_offset);
    ykd_op_args_int(&a, g->bias != NULL);
    ykd_op_args_int(&a, (int)g->act);
    size_t global[3] = {(size_t)g->n, (size_t)g->m, (size_t)g->batch};
    size_t limit = ykd_op_local_limit(device, kernel, 0);
    size_t local[3] = {ykd_pow2_at_most(limit < 64 ? limit : 64), 1, 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}
