/* Data parallelism in the trainer (dist.c): one process (rank) per device, each with its part
 * of every global batch; the loss normalised over the global batch, gradients averaged over
 * the ranks before each optimizer step, BN statistics optionally over every rank's images
 * (--sync-bn). Built on the communicator of src/core/comm.h: with one rank nothing here runs. */
#ifndef YKD_TRAIN_DIST_H
#define YKD_TRAIN_DIST_H

#include "yolokd/loss.h"
#include "yolokd/ops.h"
#include "yolokd/train.h"

/* How the gradient all-reduce overlapped the backward, over the run's optimizer steps. */
typedef struct ykd_dist_overlap_stats {
    bool overlap;              /* on ($YOLOKD_ALLREDUCE_OVERLAP is not 0) */
    size_t buckets;            /* per step */
    size_t bucket_bytes;       /* at most ($YOLOKD_ALLREDUCE_BUCKET_KB, default 4 MiB) */
    int64_t steps;
    size_t read_in_backward;   /* buckets read from the device as the backward made them final */
    size_t reduced_in_backward; /* buckets whose all-reduce started while the device still ran
                                   the backward (the last bucket not read yet) */
} ykd_dist_overlap_stats;

/* The buckets of the gradient all-reduce (dist_grads.c). */
typedef struct ykd_dist_grads ykd_dist_grads;
ykd_status ykd_dist_grads_open(const ykd_model *model, ykd_dist_grads **grads, ykd_error *err);
void ykd_dist_grads_close(ykd_dist_grads *grads);
/* Before the backward of a step that ends in an optimizer step: with the overlap, the model
 * tells the buckets as their gradients become final, and they are read and reduced at once. */
ykd_status ykd_dist_grads_begin(ykd_dist_grads *grads, ykd_model *model, ykd_error *err);
/* After that backward (failed: every read out is waited for, nothing more started). */
void ykd_dist_grads_backward_done(ykd_dist_grads *grads, ykd_model *model, bool failed);
/* The rest: every bucket read, reduced, averaged over ranks and written back. */
ykd_status ykd_dist_grads_reduce(ykd_dist_grads *grads, int ranks, ykd_error *err);
const ykd_dist_overlap_stats *ykd_dist_grads_stats(const ykd_dist_grads *grads);

typedef struct ykd_dist {
    int rank, ranks;
    bool sync_bn;
    bool check_params; /* $YOLOKD_CHECK_SYNC: hash the parameters after every step */
    int64_t steps;     /* optimizer steps so far (for messages) */
    double share;      /* this rank's part of the global batch's target-score sum, this step */
    double grad_scale; /* (B / S) / (B_r / S_r): this step's gradient over the global batch's */
    ykd_bn_sync bn_sync;
    ykd_loss_ranks loss_ranks; /* this step's, for the extra loss terms */
    ykd_dist_grads *grads; /* made at the first step's backward */
} ykd_dist;

/* The trainer's data parallelism for the ranks of this process's run (ranks 1: nothing to do,
 * *dist NULL). */
ykd_status ykd_dist_open(bool sync_bn, ykd_dist **dist, ykd_error *err);
void ykd_dist_close(ykd_dist *dist);

/* Rank 0's parameters (and running statistics) on every rank. */
ykd_status ykd_dist_broadcast_params(const ykd_model *model, ykd_error *err);

/* Fails (on every rank) unless every rank holds rank 0's parameters; what names the moment. */
ykd_status ykd_dist_check_params(const ykd_model *model, const char *what, ykd_error *err);

/* After the detection loss of this rank's *images images of *instances boxes: the loss values
 * become the global batch's (its raw sums and target-score sum over every rank), and so do
 * the counts; the scale that makes this rank's gradients its part of the global batch's is
 * found (applied by ykd_dist_extra_terms), and loss_ranks tells the extra terms so. */
ykd_status ykd_dist_detection_loss(ykd_dist *dist, ykd_yolo_loss_value *value, size_t *images,
                                   size_t *instances, ykd_error *err);

/* After the extra loss terms: their value becomes the global batch's, and every seed gradient
 * of the step (tensors) is rescaled as the detection loss's (see ykd_loss_ranks: exact for a
 * term normalised as the detection loss; one normalised otherwise, as the distillation's
 * feature losses, corrects for it itself). */
ykd_status ykd_dist_extra_terms(ykd_dist *dist, double *extra, const ykd_tensor *tensors,
                                int tensor_count, ykd_error *err);

/* Values (this step's extra terms' parts) summed over the ranks, each weighted by its share. */
ykd_status ykd_dist_weighted_sum(const ykd_dist *dist, double *values, size_t n,
                                 ykd_error *err);

/* Around the backward of a step that ends in an optimizer step (failed: that backward did):
 * the all-reduce of the gradients starts as they become final. */
ykd_status ykd_dist_backward_begin(ykd_dist *dist, ykd_model *model, ykd_error *err);
void ykd_dist_backward_end(ykd_dist *dist, ykd_model *model, bool failed);
/* Before an optimizer step (after the backward_begin/end above): the gradients averaged over
 * the ranks. */
ykd_status ykd_dist_average_grads(ykd_dist *dist, ykd_model *model, ykd_error *err);
/* How the all-reduce overlapped the backward so far (NULL before the first step). */
const ykd_dist_overlap_stats *ykd_dist_overlap(const ykd_dist *dist);
/* A tensor's values averaged over the ranks (a distillation adapter's gradient). */
ykd_status ykd_dist_average_tensor(const ykd_tensor *tensor, ykd_error *err);

/* After an optimizer step, before the EMA: the BN running statistics become rank 0's
 * everywhere (without sync_bn each rank's saw its own images); with check_params, the hash
 * check. */
ykd_status ykd_dist_after_step(ykd_dist *dist, ykd_model *model, ykd_error *err);

#endif
