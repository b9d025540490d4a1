/* GEMM through CLBlast: SGEMM, strided-batched SGEMM, or one SGEMM per k-run; our epilogue. */
#include <clblast_c.h>
#include <stdio.h>

#include "core/error_internal.h"
#include "device/cl_error.h"
#include "ops/gemm.h"
#include "ops/ops_state.h"

static ykd_status clblast_fail(ykd_device *device, CLBlastStatusCode code, const char *call,
                               ykd_error *err)
{
    if (code > -1000) /* CLBlast passes OpenCL errors through unchanged */
        return ykd_cl_fail(err, &device->info, (cl_int)code, call, NULL);
    return ykd_fail(err, YKD_ERR_OPENCL, "%s failed: CLBlast status %d on device %d (%s)", call,
                    (int)code, device->info.index, device->info.name);
}

ykd_status ykd_gemm_run_clblast(ykd_device *device, const ykd_gemm *g, ykd_error *err)
{
    ykd_ops_state *state = NULL;
    ykd_status st = ykd_ops_state_get(device, &state, err);
    if (st != YKD_OK)
        return st;
    if (g->b_rows || g->c_pitch)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "gemm: CLBlast cannot read B through a row table or remap C");
    state->used_clblast = true;
    CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode code = CLBlastSuccess;
    const char *call = "CLBlastSgemm";
    if (g->batch > 1) {
        call = "CLBlastSgemmStridedBatched";
        code = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, ta, tb, (size_t)g->m, (size_t)g->n,
            (size_t)g->k, g->alpha, g->a.buffer->mem, g->a.offset, (size_t)g->a.ld,
            g->a.batch_stride, g->b.buffer->mem, g->b.offset, (size_t)g->b.ld,
            g->b.batch_stride, g->beta, g->c.buffer->mem, g->c.offset, (size_t)g->c.ld,
            g->c.batch_stride, (size_t)g->batch, &device->queue, NULL);
    } else {
        for (int kb = 0; kb < g->k_batches && code == CLBlastSuccess; kb++)
            code = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)g->m,
                                (size_t)g->n, (size_t)g->k, g->alpha, g->a.buffer->mem,
                                g->a.offset + (size_t)kb * g->a.kbatch_stride, (size_t)g->a.ld,
                                g->b.buffer->mem, g->b.offset + (size_t)kb * g->b.kbatch_stride,
                                (size_t)g->b.ld, kb == 0 ? g->beta : 1.0f, g->c.buffer->mem,
                                g->c.offset, (size_t)g->c.ld, &device->queue, NULL);
    }
    if (code != CLBlastSuccess)
        return clblast_fail(device, code, call, err);
    return ykd_gemm_epilogue(device, g, err);
}
