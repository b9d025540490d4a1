/* The communicator of a build without MPI: one process, rank 0 of 1. */
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error_internal.h"

/* Started by mpirun as one of several processes, which this build cannot join: each would
 * train alone into the same run folder. */
ykd_status ykd_comm_init(int *argc, char ***argv, ykd_error *err)
{
    (void)argc, (void)argv;
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (!size)
        size = getenv("PMI_SIZE");
    if (size && atoi(size) > 1)
        return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                        "started by mpirun as one of %s processes, but this yolokd is built "
                        "without MPI (install libopenmpi-dev and rebuild: meson setup "
                        "-Dmpi=enabled)",
                        size);
    return YKD_OK;
}

void ykd_comm_finalize(void) {}

const char *ykd_comm_library(void)
{
    return NULL;
}

bool ykd_comm_joined(void)
{
    return false;
}

int ykd_comm_rank(void)
{
    return 0;
}

int ykd_comm_size(void)
{
    return 1;
}

int ykd_comm_local_rank(void)
{
    return 0;
}

int ykd_comm_local_size(void)
{
    return 1;
}

ykd_status ykd_comm_allreduce_sum(float *data, size_t count, ykd_error *err)
{
    (void)data, (void)count, (void)err;
    return YKD_OK;
}

ykd_status ykd_comm_allreduce_sum_f64(double *data, size_t count, ykd_error *err)
{
    (void)data, (void)count, (void)err;
    return YKD_OK;
}

ykd_status ykd_comm_allreduce_max(int *value, ykd_error *err)
{
    (void)value, (void)err;
    return YKD_OK;
}

ykd_status ykd_comm_allreduce_sum_start(float *data, size_t count, ykd_error *err)
{
    (void)data, (void)count, (void)err;
    return YKD_OK;
}

ykd_status ykd_comm_progress(int *pending, ykd_error *err)
{
    (void)err;
    *pending = 0;
    return YKD_OK;
}

ykd_status ykd_comm_wait(ykd_error *err)
{
    (void)err;
    return YKD_OK;
}

ykd_status ykd_comm_broadcast(void *data, size_t bytes, int root, ykd_error *err)
{
    (void)data, (void)bytes;
    if (root != 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "comm: broadcast from rank %d of 1", root);
    return YKD_OK;
}

ykd_status ykd_comm_allgather(const float *in, size_t count, float **out, size_t *counts,
                              ykd_error *err)
{
    *out = malloc((count ? count : 1) * sizeof(float));
    if (!*out)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "comm: out of host memory");
    if (count)
        memcpy(*out, in, count * sizeof(float));
    counts[0] = count;
    return YKD_OK;
}

ykd_status ykd_comm_barrier(ykd_error *err)
{
    (void)err;
    return YKD_OK;
}

void ykd_comm_abort(int code)
{
    (void)code;
}
