/* Per-device ops state: created on first use, freed by ykd_device_close. */
#include <clblast_c.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "ops/ops_state.h"

/* Scratch grows in steps of this size, so slightly larger requests do not reallocate. */
#define SCRATCH_GRANULE ((size_t)1 << 20)

void ykd_gemm_tuning_load(ykd_device *device, ykd_ops_state *state);

static void free_state(ykd_device *device)
{
    ykd_ops_state *state = device->ops_state;
    if (!state)
        return;
    ykd_buffer_free(state->scratch);
    free(state->choices);
    free(state->algo_choices);
    /* CLBlast keeps compiled programs per context; ours is about to go */
    if (state->used_clblast)
        CLBlastClearCache();
    free(state);
    device->ops_state = NULL;
    device->ops_state_free = NULL;
}

ykd_status ykd_ops_set_gemm_policy(ykd_device *device, const char *value, ykd_error *err)
{
    ykd_ops_state *state = NULL;
    ykd_status st = ykd_ops_state_get(device, &state, err);
    if (st != YKD_OK)
        return st;
    if (!value || !*value || strcmp(value, "auto") == 0) {
        state->policy = YKD_GEMM_POLICY_AUTO;
    } else if (strcmp(value, "tiled") == 0) {
        state->policy = YKD_GEMM_POLICY_TILED;
    } else if (ykd_gemm_config_parse(value, &state->fixed)) {
        state->policy = YKD_GEMM_POLICY_FIXED;
    } else {
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "YOLOKD_GEMM: unknown value '%s'; use auto, tiled, clblast or "
                        "tiled-<rows>x<vectors> (e.g. tiled-6x2)",
                        value);
    }
    return YKD_OK;
}

ykd_status ykd_ops_state_get(ykd_device *device, ykd_ops_state **state, ykd_error *err)
{
    if (device->ops_state) {
        *state = device->ops_state;
        return YKD_OK;
    }
    ykd_ops_state *s = calloc(1, sizeof *s);
    if (!s)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "ops state: out of host memory");
    device->ops_state = s;
    device->ops_state_free = free_state;
    ykd_gemm_tuning_load(device, s);
    ykd_status st = ykd_ops_set_gemm_policy(device, getenv("YOLOKD_GEMM"), err);
    if (st != YKD_OK) {
        free_state(device);
        return st;
    }
    *state = s;
    return YKD_OK;
}

ykd_status ykd_ops_scratch(ykd_device *device, size_t bytes, ykd_buffer **buffer,
                           ykd_error *err)
{
    ykd_ops_state *state = NULL;
    ykd_status st = ykd_ops_state_get(device, &state, err);
    if (st != YKD_OK)
        return st;
    if (!state->scratch || ykd_buffer_size(state->scratch) < bytes) {
        ykd_buffer_free(state->scratch);
        state->scratch = NULL;
        size_t rounded = (bytes + SCRATCH_GRANULE - 1) / SCRATCH_GRANULE * SCRATCH_GRANULE;
        if (rounded > device->info.max_alloc_bytes)
            rounded = bytes;
        st = ykd_buffer_alloc(device, rounded, &state->scratch, err);
        if (st != YKD_OK) {
            ykd_error_prefix(err, "scratch space for a convolution");
            return st;
        }
    }
    *buffer = state->scratch;
    return YKD_OK;
}
