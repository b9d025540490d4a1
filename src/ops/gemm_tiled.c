/* Our GEMM kernel (cl/gemm.cl), one program per tile shape and A orientation. */
#include <stdio.h>

#include "ops/gemm.h"

static const char *const gemm_sources[] = {"cl/gemm.cl", NULL};
static const char *const gemm_nt_sources[] = {"cl/gemm_nt.cl", NULL};

ykd_status ykd_gemm_run_tiled(ykd_device *device, const ykd_gemm *g, int tm, int tv,
                              ykd_error *err)
{
    /* tv counts float16 vectors for cl/gemm.cl, single columns for cl/gemm_nt.cl */
    char options[96];
    if (g->trans_b)
        snprintf(options, sizeof options, "-DTM=%d -DTN=%d -DB_ROWS=%d", tm, tv,
                 g->b_rows ? 1 : 0);
    else
        snprintf(options, sizeof options, "-DTM=%d -DTV=%d -DTRANS_A=%d -DB_ROWS=%d -DC_REMAP=%d",
                 tm, tv, g->trans_a ? 1 : 0, g->b_rows ? 1 : 0, g->c_pitch ? 1 : 0);
    int tile_columns = g->trans_b ? tv : 16 * tv;
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_device_kernel(device, g->trans_b ? gemm_nt_sources : gemm_sources,
                                      options, g->trans_b ? "gemm_nt" : "gemm", &kernel, err);
    if (st != YKD_OK)
        return st;
    cl_int m = g->m, n = g->n, k = g->k, k_batches = g->k_batches;
    cl_mem a = g->a.buffer->mem, b = g->b.buffer->mem, c = g->c.buffer->mem;
    cl_mem bias = g->bias ? g->bias->mem : NULL;
    cl_uint a_off = (cl_uint)g->a.offset, a_batch = (cl_uint)g->a.batch_stride,
            a_kbatch = (cl_uint)g->a.kbatch_stride;
    cl_uint b_off = (cl_uint)g->b.offset, b_batch = (cl_uint)g->b.batch_stride,
            b_kbatch = (cl_uint)g->b.kbatch_stride;
    cl_uint c_off = (cl_uint)g->c.offset, c_batch = (cl_uint)g->c.batch_stride;
    cl_uint bias_off = (cl_uint)g->bias_offset;
    cl_int lda = g->a.ld, ldb = g->b.ld, ldc = g->c.ld;
    cl_int has_bias = g->bias != NULL, act = (cl_int)g->act;
    float alpha = g->alpha, beta = g->beta;
    cl_mem b_rows = g->b_rows ? g->b_rows->mem : NULL;
    cl_uint b_rows_off = (cl_uint)g->b_rows_offset;
    cl_int c_pitch = g->c_pitch, c_width = g->c_width;
    ykd_kernel_arg args[] = {
        YKD_ARG(m),     YKD_ARG(n),        YKD_ARG(k),     YKD_ARG(k_batches),
        YKD_ARG(a),     YKD_ARG(a_off),    YKD_ARG(lda),   YKD_ARG(a_batch),
        YKD_ARG(a_kbatch),
        YKD_ARG(b),     YKD_ARG(b_off),    YKD_ARG(ldb),   YKD_ARG(b_batch),
        YKD_ARG(b_kbatch),
        YKD_ARG(c),     YKD_ARG(c_off),    YKD_ARG(ldc),   YKD_ARG(c_batch),
        YKD_ARG(alpha), YKD_ARG(beta),     YKD_ARG(bias),  YKD_ARG(bias_off),
        YKD_ARG(has_bias), YKD_ARG(act), YKD_ARG(b_rows), YKD_ARG(b_rows_off),
        YKD_ARG(c_pitch), YKD_ARG(c_width)};
    size_t global[3] = {(size_t)(g->m + tm - 1) / (size_t)tm,
                        (size_t)(g->n + tile_columns - 1) / (size_t)tile_columns,
                        (size_t)g->batch};
    /* four row tiles per group: neighbours share B's panel, and PoCL's per-group cost is
     * spread over four tiles (1, 2, 4 and 8 measured on the v8n shapes: 4 was fastest) */
    size_t local[3] = {kernel->work_group_size < 4 ? 1 : 4, 1, 1};
    return ykd_kernel_run(device, kernel, args, sizeof args / sizeof args[0], 3, global, local,
                          NULL, err);
}
