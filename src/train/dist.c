/* Data parallelism in the trainer: see dist.h. With the loss normalised as Ultralytics' (a
 * batch's raw sums over its target-score sum; the gradient times its image count, as the
 * distillation's head losses are too), a rank's gradient is rescaled by (B / S) / (B_r / S_r),
 * B and S the global batch's images and target-score sum, B_r and S_r its own. Then the ranks'
 * average, times their count, is the global batch's gradient: the same step one process with
 * the whole batch takes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error_internal.h"
#include "core/sha256.h"
#include "train/dist.h"

static ykd_status exchange_partials(void *user, const float *mine, size_t count, float **all,
                                    size_t *counts, ykd_error *err)
{
    (void)user;
    return ykd_comm_allgather(mine, count, all, counts, err);
}

ykd_status ykd_dist_open(bool sync_bn, ykd_dist **dist, ykd_error *err)
{
    *dist = NULL;
    if (ykd_comm_size() < 2)
        return YKD_OK;
    ykd_dist *d = calloc(1, sizeof *d);
    if (!d)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
    d->rank = ykd_comm_rank();
    d->ranks = ykd_comm_size();
    d->sync_bn = sync_bn;
    const char *check = getenv("YOLOKD_CHECK_SYNC");
    d->check_params = check && *check && strcmp(check, "0") != 0;
    d->bn_sync = (ykd_bn_sync){exchange_partials, NULL, d->ranks};
    *dist = d;
    return YKD_OK;
}

void ykd_dist_close(ykd_dist *dist)
{
    if (!dist)
        return;
    ykd_dist_grads_close(dist->grads);
    free(dist);
}

/* The whole parameter buffer (trained parameters, running statistics, fixed) on the host. */
static ykd_status read_params(const ykd_model *model, float **host, size_t *count,
                              ykd_error *err)
{
    ykd_buffer *params = ykd_model_param_buffer(model);
    *count = ykd_buffer_size(params) / sizeof(float);
    *host = malloc((*count ? *count : 1) * sizeof(float));
    if (!*host)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory for %zu "
                                                     "parameters",
                        *count);
    return ykd_buffer_read(params, 0, *host, *count * sizeof(float), err);
}

ykd_status ykd_dist_broadcast_params(const ykd_model *model, ykd_error *err)
{
    if (ykd_comm_size() < 2)
        return YKD_OK;
    float *host = NULL;
    size_t count = 0;
    ykd_status st = read_params(model, &host, &count, err);
    if (st == YKD_OK)
        st = ykd_comm_broadcast(host, count * sizeof(float), 0, err);
    if (st == YKD_OK)
        st = ykd_buffer_write(ykd_model_param_buffer(model), 0, host, count * sizeof(float), err);
    free(host);
    if (st == YKD_OK)
        ykd_model_params_changed((ykd_model *)model);
    return st;
}

ykd_status ykd_dist_check_params(const ykd_model *model, const char *what, ykd_error *err)
{
    if (ykd_comm_size() < 2)
        return YKD_OK;
    float *host = NULL;
    size_t count = 0;
    uint8_t mine[YKD_SHA256_SIZE], rank0[YKD_SHA256_SIZE];
    ykd_status st = read_params(model, &host, &count, err);
    if (st == YKD_OK) {
        ykd_sha256 h;
        ykd_sha256_init(&h);
        ykd_sha256_update(&h, host, count * sizeof(float));
        ykd_sha256_final(&h, mine);
        memcpy(rank0, mine, sizeof rank0);
        st = ykd_comm_broadcast(rank0, sizeof rank0, 0, err);
    }
    free(host);
    int differs = st == YKD_OK && memcmp(mine, rank0, sizeof mine) != 0;
    if (st == YKD_OK)
        st = ykd_comm_allreduce_max(&differs, err);
    if (st == YKD_OK && differs) {
        char hex[2 * YKD_SHA256_SIZE + 1];
        ykd_sha256_hex(mine, hex);
        st = ykd_fail(err, YKD_ERR_COMM,
                      "the parameters of the ranks differ %s (rank %d's SHA-256 %.16s...%s)", what,
                      ykd_comm_rank(), hex,
                      memcmp(mine, rank0, sizeof mine) ? ", not rank 0's" : ", as rank 0's");
    }
    return st;
}

ykd_status ykd_dist_weighted_sum(const ykd_dist *dist, double *values, size_t n,
                                 ykd_error *err)
{
    for (size_t i = 0; i < n; i++)
        values[i] *= dist->share;
    return ykd_comm_allreduce_sum_f64(values, n, err);
}

static ykd_status sum_over_ranks(void *user, double *values, size_t count, ykd_error *err)
{
    (void)user;
    return ykd_comm_allreduce_sum_f64(values, count, err);
}

ykd_status ykd_dist_detection_loss(ykd_dist *dist, ykd_yolo_loss_value *value, size_t *images,
                                   size_t *instances, ykd_error *err)
{
    double s_mine = fmax(value->target_score_sum, 1.0), count = (double)*images;
    /* raw sums (the values times this batch's normaliser), target scores, images, positives,
     * boxes */
    double sums[7] = {value->box_raw * s_mine, value->cls_raw * s_mine, value->dfl_raw * s_mine,
                      value->target_score_sum, count, (double)value->positives,
                      (double)*instances};
    ykd_status st = ykd_comm_allreduce_sum_f64(sums, 7, err);
    if (st != YKD_OK)
        return st;
    double s = fmax(sums[3], 1.0), total = sums[4];
    double box_gain = value->box_raw != 0.0 ? value->box / value->box_raw : 0.0;
    double cls_gain = value->cls_raw != 0.0 ? value->cls / value->cls_raw : 0.0;
    double dfl_gain = value->dfl_raw != 0.0 ? value->dfl / value->dfl_raw : 0.0;
    value->box_raw = sums[0] / s, value->cls_raw = sums[1] / s, value->dfl_raw = sums[2] / s;
    value->box = value->box_raw * box_gain, value->cls = value->cls_raw * cls_gain;
    value->dfl = value->dfl_raw * dfl_gain;
    value->total = total * (value->box + value->cls + value->dfl);
    value->target_score_sum = sums[3];
    value->positives = (size_t)sums[5];
    *images = (size_t)total;
    *instances = (size_t)sums[6];
    /* the values' weight (sums over the target scores), and the gradients' (times the image
     * count): applied once the extra terms have added theirs (ykd_dist_extra_terms) */
    dist->share = s_mine / s;
    dist->grad_scale = (total / s) / (count / s_mine);
    dist->loss_ranks = (ykd_loss_ranks){dist->ranks, dist->grad_scale * dist->ranks, dist->share,
                                        sum_over_ranks, NULL};
    return st;
}

ykd_status ykd_dist_extra_terms(ykd_dist *dist, double *extra, const ykd_tensor *tensors,
                                int tensor_count, ykd_error *err)
{
    ykd_status st = ykd_dist_weighted_sum(dist, extra, 1, err);
    /* times the rank count the average divides by */
    double scale = dist->grad_scale * dist->ranks;
    for (int i = 0; i < tensor_count && st == YKD_OK && scale != 1.0; i++)
        st = ykd_tensor_scale(&tensors[i], (float)scale, &tensors[i], err);
    return st;
}

ykd_status ykd_dist_backward_begin(ykd_dist *dist, ykd_model *model, ykd_error *err)
{
    ykd_status st = dist->grads ? YKD_OK : ykd_dist_grads_open(model, &dist->grads, err);
    return st == YKD_OK ? ykd_dist_grads_begin(dist->grads, model, err) : st;
}

void ykd_dist_backward_end(ykd_dist *dist, ykd_model *model, bool failed)
{
    if (dist->grads)
        ykd_dist_grads_backward_done(dist->grads, model, failed);
}

ykd_status ykd_dist_average_grads(ykd_dist *dist, ykd_model *model, ykd_error *err)
{
    (void)model;
    ykd_status st = dist->grads ? ykd_dist_grads_reduce(dist->grads, dist->ranks, err)
                                : ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                                           "train: no backward began the gradients' average");
    if (st != YKD_OK)
        ykd_error_prefix(err, "averaging the gradients over %d ranks", dist->ranks);
    return st;
}

const ykd_dist_overlap_stats *ykd_dist_overlap(const ykd_dist *dist)
{
    return dist->grads ? ykd_dist_grads_stats(dist->grads) : NULL;
}

ykd_status ykd_dist_average_tensor(const ykd_tensor *tensor, ykd_error *err)
{
    int ranks = ykd_comm_size();
    if (ranks < 2)
        return YKD_OK;
    size_t count = (size_t)tensor->n * tensor->c * tensor->h * tensor->w;
    float *host = malloc((count ? count : 1) * sizeof(float));
    ykd_status st = host ? ykd_tensor_read(tensor, host, err)
                         : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
    if (st == YKD_OK)
        st = ykd_comm_allreduce_sum(host, count, err);
    for (size_t i = 0; i < count && st == YKD_OK; i++)
        host[i] /= (float)ranks;
    if (st == YKD_OK)
        st = ykd_tensor_write(tensor, host, err);
    free(host);
    return st;
}

/* BN running statistics (kinds mean and var, adjacent in the buffer) from rank 0. */
static ykd_status broadcast_running_stats(ykd_model *model, ykd_error *err)
{
    size_t first = 0, count = 0, var_first = 0, var_count = 0;
    ykd_model_kind_range(model, YKD_PARAM_BN_MEAN, &first, &count);
    ykd_model_kind_range(model, YKD_PARAM_BN_VAR, &var_first, &var_count);
    if (var_first != first + count)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "train: the BN running means and variances are not adjacent");
    count += var_count;
    float *host = malloc((count ? count : 1) * sizeof(float));
    ykd_buffer *params = ykd_model_param_buffer(model);
    ykd_status st = host ? ykd_buffer_read(params, first * sizeof(float), host,
                                           count * sizeof(float), err)
                         : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
    if (st == YKD_OK)
        st = ykd_comm_broadcast(host, count * sizeof(float), 0, err);
    if (st == YKD_OK)
        st = ykd_buffer_write(params, first * sizeof(float), host, count * sizeof(float), err);
    free(host);
    ykd_model_params_changed(model);
    return st;
}

ykd_status ykd_dist_after_step(ykd_dist *dist, ykd_model *model, ykd_error *err)
{
    dist->steps++;
    /* with sync_bn they agree already, unless the ranks' devices round differently */
    ykd_status st = broadcast_running_stats(model, err);
    if (st == YKD_OK && dist->check_params) {
        char what[64];
        snprintf(what, sizeof what, "after optimizer step %lld", (long long)dist->steps);
        st = ykd_dist_check_params(model, what, err);
    }
    return st;
}
