/* The processes of a data-parallel run as the training loop sees them: a rank and a size, and
 * the few collectives data parallelism needs. Built on MPI (comm_mpi.c) when meson found it,
 * else on one process alone (comm_single.c); a process not started by mpirun is rank 0 of 1
 * in both, and every collective is then a copy or nothing. Process-wide, as MPI is. */
#ifndef YKD_CORE_COMM_H
#define YKD_CORE_COMM_H

#include <stdbool.h>
#include <stddef.h>

#include "yolokd/status.h"

/* Joins the run's processes when this one was started by mpirun (MPI's environment says so);
 * otherwise does nothing. Call once, before any other ykd_comm_ function. */
ykd_status ykd_comm_init(int *argc, char ***argv, ykd_error *err);

/* Leaves the run (MPI_Finalize) when ykd_comm_init joined one. */
void ykd_comm_finalize(void);

/* The MPI library built in ("Open MPI v4.1.4"), or NULL when built without MPI. */
const char *ykd_comm_library(void);

/* Whether this process is one of several started by mpirun (or one started alone by it). */
bool ykd_comm_joined(void);

int ykd_comm_rank(void);
int ykd_comm_size(void);
/* The rank among the processes of this machine, and how many they are. */
int ykd_comm_local_rank(void);
int ykd_comm_local_size(void);

/* data[0..count) becomes the sum over the ranks, on every rank. */
ykd_status ykd_comm_allreduce_sum(float *data, size_t count, ykd_error *err);
ykd_status ykd_comm_allreduce_sum_f64(double *data, size_t count, ykd_error *err);
/* *value becomes the largest over the ranks (an error flag, a stop request). */
ykd_status ykd_comm_allreduce_max(int *value, ykd_error *err);

/* An all-reduce (sum) started now and finished by ykd_comm_wait, so the caller can go on
 * (read the next bucket from its device, queue the rest of a backward) meanwhile. At most
 * YKD_COMM_MAX_PENDING pending at once. The ranks must start them in the same order; other
 * collectives may come between them in any order (they run on a communicator of their own). */
enum { YKD_COMM_MAX_PENDING = 64 };
ykd_status ykd_comm_allreduce_sum_start(float *data, size_t count, ykd_error *err);
/* Lets the library move the all-reduces started on (MPI progresses them only inside its
 * calls); *pending becomes how many are not done yet. */
ykd_status ykd_comm_progress(int *pending, ykd_error *err);
/* Waits for every all-reduce started. */
ykd_status ykd_comm_wait(ykd_error *err);

/* bytes of data from rank root to every rank. */
ykd_status ykd_comm_broadcast(void *data, size_t bytes, int root, ykd_error *err);

/* Every rank's in[0..count) (counts may differ between ranks), concatenated in rank order into
 * *out (malloc'd, the caller frees); counts[0..size) receives each rank's count. */
ykd_status ykd_comm_allgather(const float *in, size_t count, float **out, size_t *counts,
                              ykd_error *err);

ykd_status ykd_comm_barrier(ykd_error *err);

/* Ends every process of the run with code (MPI_Abort). For the command alone, after it has
 * printed why: the library never calls it. Returns only when not joined. */
void ykd_comm_abort(int code);

#endif
