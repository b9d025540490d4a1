/* Data parallelism in the trainer (dist.c): one process (rank) per device, each with its part
 * of every global batch; the loss normalised over the global batch, gradients averaged over
 * the ranks before each optimizer step, BN statistics optionally over every rank's images
 * (--sync-bn). Built on the communicator of src/core/comm.h: with one rank nothing here runs. */
#ifndef YKD_TRAIN_DIST_H
#define YKD_TRAIN_DIST_H

#include "train/head_views.h"
#include "yolokd/loss.h"
#include "yolokd/ops.h"
#include "yolokd/train.h"

typedef struct ykd_dist {
    int rank, ranks;
    bool sync_bn;
    bool check_params; /* $YOLOKD_CHECK_SYNC: hash the parameters after every step */
    int64_t steps;     /* optimizer steps so far (for messages) */
    ykd_bn_sync bn_sync;
    float *host; /* staging for the gradient all-reduce */
    size_t host_count;
} ykd_dist;

/* The trainer's data parallelism for the ranks of this process's run (ranks 1: nothing to do,
 * *dist NULL). */
ykd_status ykd_dist_open(bool sync_bn, ykd_dist **dist, ykd_error *err);
void ykd_dist_close(ykd_dist *dist);

/* Rank 0's parameters (and running statistics) on every rank. */
ykd_status ykd_dist_broadcast_params(const ykd_model *model, ykd_error *err);

/* Fails (on every rank) unless every rank holds rank 0's parameters; what names the moment. */
ykd_status ykd_dist_check_params(const ykd_model *model, const char *what, ykd_error *err);

/* After the detection loss of this rank's images: the loss values become the global batch's
 * (its raw sums and target-score sum over every rank) and the head gradients are scaled so
 * that the ranks' averaged gradients are the global batch's; *images the global batch's
 * image count. */
ykd_status ykd_dist_detection_loss(ykd_dist *dist, size_t count, ykd_yolo_loss_value *value,
                                   const ykd_head_views *grads, size_t *images, ykd_error *err);

/* After the extra loss terms (which average over this rank's images): their value becomes the
 * global batch's mean, and when the ranks' shares differ (an epoch's last batch) the seed
 * gradients are weighted by this rank's share. tensors: every seed gradient of the step. */
ykd_status ykd_dist_extra_terms(ykd_dist *dist, size_t count, size_t images, double *extra,
                                const ykd_tensor *tensors, int tensor_count, ykd_error *err);

/* Values averaged over the ranks, each weighted by its share count / images. */
ykd_status ykd_dist_weighted_mean(size_t count, size_t images, double *values, size_t n,
                                  ykd_error *err);

/* Before an optimizer step: the gradients averaged over the ranks, in buckets. */
ykd_status ykd_dist_average_grads(ykd_dist *dist, ykd_model *model, ykd_error *err);
/* A tensor's values averaged over the ranks (a distillation adapter's gradient). */
ykd_status ykd_dist_average_tensor(const ykd_tensor *tensor, ykd_error *err);

/* After an optimizer step, before the EMA: without sync_bn the BN running statistics are rank
 * 0's everywhere (each rank's saw its own images); with check_params, the hash check. */
ykd_status ykd_dist_after_step(ykd_dist *dist, ykd_model *model, ykd_error *err);

#endif
