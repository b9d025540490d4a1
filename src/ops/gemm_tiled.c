/* Our GEMM kernel (cl/gemm.cl), one program per tile shape and A orientation. */
#include <stdio.h>

#include "ops/gemm.h"

static const char *const gemm_sources[] = {"cl/shared.cl", "cl/gemm.cl", NULL};
static const char *const gemm_nt_sources[] = {"cl/shared.cl", "cl/gemm_nt.cl", NULL};

ykd_status ykd_gemm_run_tiled(ykd_device *device, const ykd_gemm *g, int tm, int tv,
                              ykd_error *err)
{
    /* tv counts float16 vectors for cl/gemm.cl, single columns for cl/gemm_nt.cl */
    char options[128];
    if (g->trans_b)
        snprintf(options, sizeof options, "-DTM=%d -DTN=%d -DB_ROWS=%d", tm, tv,
                 g->b_rows ? 1 : 0);
    else
        snprintf(options, sizeof options,
                 "-DTM=%d -DTV=%d -DTRANS_A=%d -DB_ROWS=%d -DC_REMAP=%d -DA_PIXELS=%d "
                 "-DC_PLANES=%d",
                 tm, tv, g->trans_a ? 1 : 0, g->b_rows ? 1 : 0, g->c_pitch ? 1 : 0,
                 g->a_pixels.plane ? 1 : 0, g->c_planes.pixels ? 1 : 0);
    int tile_columns = g->trans_b ? tv : 16 * tv;
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, g->trans_b ? gemm_nt_sources : gemm_sources,
                                      options, g->trans_b ? "gemm_nt" : "gemm", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {0};
    const int sizes[] = {g->m, g->n, g->k, g->k_batches};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        ykd_op_args_int(&a, sizes[i]);
    const ykd_gemm_operand *inputs[] = {&g->a, &g->b};
    for (size_t i = 0; i < 2; i++) {
        ykd_op_args_mem(&a, inputs[i]->buffer->mem);
        ykd_op_args_uint(&a, inputs[i]->offset);
        ykd_op_args_int(&a, inputs[i]->ld);
        ykd_op_args_uint(&a, inputs[i]->batch_stride);
        ykd_op_args_uint(&a, inputs[i]->kbatch_stride);
    }
    ykd_op_args_mem(&a, g->c.buffer->mem);
    ykd_op_args_uint(&a, g->c.offset);
    ykd_op_args_int(&a, g->c.ld);
    ykd_op_args_uint(&a, g->c.batch_stride);
    ykd_op_args_float(&a, g->alpha);
    ykd_op_args_float(&a, g->beta);
    ykd_op_args_mem(&a, g->bias ? g->bias->mem : NULL);
    ykd_op_args_uint(&a, g->bias_offset);
    ykd_op_args_int(&a, g->bias != NULL);
    ykd_op_args_int(&a, (int)g->act);
    ykd_op_args_mem(&a, g->b_rows ? g->b_rows->mem : NULL);
    ykd_op_args_uint(&a, g->b_rows_offset);
    ykd_op_args_int(&a, g->c_pitch);
    ykd_op_args_int(&a, g->c_width);
    if (!g->trans_b) {
        const ykd_gemm_pixels *p = &g->a_pixels;
        const int pixels[] = {p->plane, p->wo, p->stride, p->wp, p->channels};
        ykd_op_args_ints(&a, pixels, sizeof pixels / sizeof pixels[0]);
        ykd_op_args_uint(&a, p->image);
        const ykd_gemm_planes *c = &g->c_planes;
        const int planes[] = {c->pixels, c->wo, c->row, c->col};
        ykd_op_args_ints(&a, planes, sizeof planes / sizeof planes[0]);
        ykd_op_args_uint(&a, c->channel);
        ykd_op_args_uint(&a, c->image);
    }
    size_t global[3] = {(size_t)(g->m + tm - 1) / (size_t)tm,
                        (size_t)(g->n + tile_columns - 1) / (size_t)tile_columns,
                        (size_t)g->batch};
    /* four row tiles per group: neighbours share B's panel, and PoCL's per-group cost is
     * spread over four tiles (1, 2, 4 and 8 measured on the v8n shapes: 4 was fastest) */
    size_t limit = ykd_op_local_limit(device, kernel, 0);
    size_t local[3] = {limit < 4 ? 1 : 4, 1, 1};
    return ykd_op_run(device, kernel, &a, 3, global, local, err);
}
