/* The communicator on MPI: MPI_COMM_WORLD when mpirun started the process, with errors
 * returned (MPI_ERRORS_RETURN) and turned into ykd_status with MPI's own message. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error_internal.h"

static struct {
    bool joined;
    int rank, size, local_rank, local_size;
    /* the started all-reduces, on a communicator of their own: they may be started while
     * another collective (a synchronised BN's exchange) runs, in another order on each rank,
     * which a communicator's collectives must not be */
    MPI_Comm started;
    MPI_Request pending[YKD_COMM_MAX_PENDING];
    int pending_count;
    char library[MPI_MAX_LIBRARY_VERSION_STRING];
} comm = {false, 0, 1, 0, 1, MPI_COMM_NULL, {0}, 0, {0}};

/* Whether mpirun (Open MPI's, or a PMI/PMIx launcher's) started this process. */
static bool started_by_mpirun(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

static ykd_status mpi_failed(ykd_error *err, int code, const char *call)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", code);
    return ykd_fail(err, YKD_ERR_COMM, "%s on rank %d of %d failed: %s", call, comm.rank,
                    comm.size, text);
}

ykd_status ykd_comm_init(int *argc, char ***argv, ykd_error *err)
{
    if (comm.joined || !started_by_mpirun())
        return YKD_OK;
    int provided = 0;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        return ykd_fail(err, YKD_ERR_COMM, "MPI_Init_thread failed (error %d)", rc);
    comm.joined = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &comm.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &comm.size);
    MPI_Comm local;
    rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, comm.rank, MPI_INFO_NULL,
                             &local);
    if (rc != MPI_SUCCESS)
        return mpi_failed(err, rc, "MPI_Comm_split_type");
    rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm.started);
    if (rc != MPI_SUCCESS)
        return mpi_failed(err, rc, "MPI_Comm_dup");
    MPI_Comm_rank(local, &comm.local_rank);
    MPI_Comm_size(local, &comm.local_size);
    MPI_Comm_free(&local);
    return YKD_OK;
}

void ykd_comm_finalize(void)
{
    if (comm.joined && comm.started != MPI_COMM_NULL)
        MPI_Comm_free(&comm.started);
    if (comm.joined)
        MPI_Finalize();
    comm.joined = false;
}

const char *ykd_comm_library(void)
{
    if (!comm.library[0]) {
        char text[MPI_MAX_LIBRARY_VERSION_STRING];
        int len = 0;
        if (MPI_Get_library_version(text, &len) != MPI_SUCCESS)
            snprintf(text, sizeof text, "MPI");
        text[strcspn(text, ",\n")] = '\0'; /* "Open MPI v4.1.4, package: ..." */
        snprintf(comm.library, sizeof comm.library, "%s", text);
    }
    return comm.library;
}

bool ykd_comm_joined(void)
{
    return comm.joined;
}

int ykd_comm_rank(void)
{
    return comm.rank;
}

int ykd_comm_size(void)
{
    return comm.size;
}

int ykd_comm_local_rank(void)
{
    return comm.local_rank;
}

int ykd_comm_local_size(void)
{
    return comm.local_size;
}

/* MPI counts are int: long arrays go in pieces. */
enum { PIECE = INT_MAX / 8 };

static ykd_status allreduce(void *data, size_t count, MPI_Datatype type, size_t size, MPI_Op op,
                            ykd_error *err)
{
    if (!comm.joined)
        return YKD_OK;
    for (size_t at = 0; at < count; at += PIECE) {
        int n = (int)(count - at < PIECE ? count - at : PIECE);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)data + at * size, n, type, op,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_failed(err, rc, "MPI_Allreduce");
    }
    return YKD_OK;
}

ykd_status ykd_comm_allreduce_sum(float *data, size_t count, ykd_error *err)
{
    return allreduce(data, count, MPI_FLOAT, sizeof(float), MPI_SUM, err);
}

ykd_status ykd_comm_allreduce_sum_f64(double *data, size_t count, ykd_error *err)
{
    return allreduce(data, count, MPI_DOUBLE, sizeof(double), MPI_SUM, err);
}

ykd_status ykd_comm_allreduce_max(int *value, ykd_error *err)
{
    return allreduce(value, 1, MPI_INT, sizeof(int), MPI_MAX, err);
}

ykd_status ykd_comm_allreduce_sum_start(float *data, size_t count, ykd_error *err)
{
    if (!comm.joined)
        return YKD_OK;
    if (count > PIECE)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "comm: a bucket of %zu floats (at most %d)", count, (int)PIECE);
    if (comm.pending_count >= YKD_COMM_MAX_PENDING) {
        ykd_status st = ykd_comm_wait(err);
        if (st != YKD_OK)
            return st;
    }
    MPI_Request *r = &comm.pending[comm.pending_count];
    int rc = MPI_Iallreduce(MPI_IN_PLACE, data, (int)count, MPI_FLOAT, MPI_SUM, comm.started, r);
    if (rc != MPI_SUCCESS)
        return mpi_failed(err, rc, "MPI_Iallreduce");
    comm.pending_count++;
    int done = 0; /* lets the library progress the ones already started */
    MPI_Testall(comm.pending_count, comm.pending, &done, MPI_STATUSES_IGNORE);
    return YKD_OK;
}

ykd_status ykd_comm_progress(int *pending, ykd_error *err)
{
    *pending = 0;
    if (comm.pending_count == 0)
        return YKD_OK;
    int done = 0;
    int rc = MPI_Testall(comm.pending_count, comm.pending, &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS)
        return mpi_failed(err, rc, "MPI_Iallreduce (progressing)");
    if (done) /* MPI_Testall set them to MPI_REQUEST_NULL */
        comm.pending_count = 0;
    *pending = comm.pending_count; /* a false MPI_Testall leaves every request as it was */
    return YKD_OK;
}

ykd_status ykd_comm_wait(ykd_error *err)
{
    int count = comm.pending_count;
    comm.pending_count = 0;
    if (count == 0)
        return YKD_OK;
    int rc = MPI_Waitall(count, comm.pending, MPI_STATUSES_IGNORE);
    return rc == MPI_SUCCESS ? YKD_OK : mpi_failed(err, rc, "MPI_Iallreduce (waiting)");
}

ykd_status ykd_comm_broadcast(void *data, size_t bytes, int root, ykd_error *err)
{
    if (root < 0 || root >= comm.size)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "comm: broadcast from rank %d of %d",
                        root, comm.size);
    if (!comm.joined)
        return YKD_OK;
    for (size_t at = 0; at < bytes; at += PIECE) {
        int n = (int)(bytes - at < PIECE ? bytes - at : PIECE);
        int rc = MPI_Bcast((char *)data + at, n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_failed(err, rc, "MPI_Bcast");
    }
    return YKD_OK;
}

ykd_status ykd_comm_allgather(const float *in, size_t count, float **out, size_t *counts,
                              ykd_error *err)
{
    *out = NULL;
    int k = comm.size;
    int *ints = calloc((size_t)k * 2, sizeof(int));
    if (!ints)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "comm: out of host memory");
    int mine = (int)count, *displs = ints + k;
    int rc = count > PIECE ? MPI_ERR_COUNT : MPI_SUCCESS;
    if (rc == MPI_SUCCESS && comm.joined)
        rc = MPI_Allgather(&mine, 1, MPI_INT, ints, 1, MPI_INT, MPI_COMM_WORLD);
    else
        ints[0] = mine;
    size_t total = 0;
    for (int r = 0; r < k && rc == MPI_SUCCESS; r++) {
        displs[r] = (int)total;
        counts[r] = (size_t)ints[r];
        total += counts[r];
        rc = total > PIECE ? MPI_ERR_COUNT : rc;
    }
    ykd_status st = rc == MPI_SUCCESS ? YKD_OK : mpi_failed(err, rc, "MPI_Allgather");
    if (st == YKD_OK && !(*out = malloc((total ? total : 1) * sizeof(float))))
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "comm: out of host memory");
    if (st == YKD_OK && comm.joined)
        rc = MPI_Allgatherv(in, mine, MPI_FLOAT, *out, ints, displs, MPI_FLOAT, MPI_COMM_WORLD);
    else if (st == YKD_OK && count)
        memcpy(*out, in, count * sizeof(float));
    if (st == YKD_OK && rc != MPI_SUCCESS)
        st = mpi_failed(err, rc, "MPI_Allgatherv");
    free(ints);
    if (st != YKD_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

ykd_status ykd_comm_barrier(ykd_error *err)
{
    if (!comm.joined)
        return YKD_OK;
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? YKD_OK : mpi_failed(err, rc, "MPI_Barrier");
}

void ykd_comm_abort(int code)
{
    if (comm.joined)
        MPI_Abort(MPI_COMM_WORLD, code);
}
