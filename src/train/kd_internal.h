/* Shared by the distillation context's files: kd.c (creation, adapters, parameters),
 * kd_grads.c (where each student gradient goes) and kd_compute.c (one batch). */
#ifndef YKD_KD_INTERNAL_H
#define YKD_KD_INTERNAL_H

#include "yolokd/kd.h"
#include "yolokd/ops.h"

enum { KD_MAX_LEVELS = YKD_MODEL_MAX_LEVELS, KD_MAX_TEACHER = 3 * KD_MAX_LEVELS };

/* Which part of a level a named tensor is: the neck output, or the head's box or class
 * channels (a "head" name is both). */
typedef enum kd_region { KD_NECK = 0, KD_BOX = 1, KD_CLS = 2, KD_REGIONS = 3 } kd_region;

/* A model tensor's name taken apart: its regions (a bit per kd_region) and its stride. */
typedef struct kd_name {
    unsigned regions;
    int stride;
} kd_name;

/* false when the name is none of p<k>, box<k>, cls<k>, head<k>. */
bool ykd_kd_parse_name(const char *name, kd_name *out);

/* A feature pair as the context uses it. */
typedef struct kd_pair {
    ykd_kd_pair names;
    int level;           /* the student's level (for the imitation mask) */
    int cs, ct;          /* channels of student and teacher */
    int adapter;         /* the adapter's weight in the parameter table, or -1 */
    ykd_tensor y, dy;    /* adapter(student) and its gradient, this batch's shape */
    ykd_buffer *buffer;  /* holds y and dy */
} kd_pair;

/* The student's gradients the context owns, per level: the neck's and the head's (box
 * channels then class channels, as the model's head tensor), grown to the batch's shape. */
typedef struct kd_own {
    ykd_tensor neck, head, box, cls; /* box and cls: channel views of head */
    ykd_buffer *neck_buf, *head_buf;
    bool written[KD_REGIONS]; /* this batch: the first loss writes, later ones add */
    char names[KD_REGIONS + 1][YKD_KD_NAME_SIZE]; /* p<k>, box<k>, cls<k>, head<k> */
} kd_own;

/* The student's level geometry for this batch, and its per-anchor weights and mask. */
typedef struct kd_level {
    int stride, h, w;
    ykd_tensor weight, mask; /* [N, 1, H, W]: target scores; 1 where assigned to a gt */
    ykd_buffer *weight_buf;  /* holds both */
    double assigned;         /* anchors of the level assigned to a gt, over the batch */
    double assigned_global;  /* the same over every rank's part of the global batch */
} kd_level;

struct ykd_kd {
    ykd_kd_config config;
    ykd_model *student;
    ykd_device *device;
    int levels, nc, images;
    /* with data parallelism (else 1, and the batch's images): how the feature losses' gradients
     * are scaled to come out as one process's after the trainer's rescaling and average, and
     * the global batch's images */
    const ykd_loss_ranks *ranks;
    double global_images;
    kd_level level[KD_MAX_LEVELS];
    kd_pair pairs[YKD_KD_MAX_PAIRS];
    int pair_count;
    ykd_kd_shape teacher[KD_MAX_TEACHER + YKD_KD_MAX_PAIRS]; /* the teacher tensors needed */
    size_t teacher_count;
    /* the adapters' parameters */
    ykd_model_param *params;
    char (*param_names)[48];
    size_t param_count;
    ykd_buffer *param_buf, *grad_buf;
    /* the student's gradients of the last compute */
    kd_own own[KD_MAX_LEVELS];
    ykd_model_grad *grads;
    size_t grad_count;
    /* host copies of the assignment, grown as batches need */
    int *host_gt;
    float *host_score, *host_weight;
    size_t host_anchors;
};

/* Where the gradient of the student tensor `name` goes this batch: a base gradient that
 * covers it (added to), or the context's own (written by the first loss, added by the rest).
 * *dx receives the view, *accumulate whether to add. */
ykd_status ykd_kd_grad_target(ykd_kd *kd, const ykd_kd_batch *batch, const char *name,
                              ykd_tensor *dx, bool *accumulate, ykd_error *err);

/* Starts a batch: own gradients grown to the student's outputs, nothing written yet. */
ykd_status ykd_kd_grads_begin(ykd_kd *kd, ykd_error *err);

/* Ends a batch: the list ykd_kd_grads returns (the base gradients, then the own written). */
ykd_status ykd_kd_grads_end(ykd_kd *kd, const ykd_kd_batch *batch, ykd_error *err);

void ykd_kd_grads_free(ykd_kd *kd);

/* Makes *buf hold at least floats floats (keeping it when it does). */
ykd_status ykd_kd_ensure(ykd_device *device, ykd_buffer **buf, size_t floats, ykd_error *err);

#endif
