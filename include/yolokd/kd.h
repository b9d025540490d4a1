/* Distillation: which losses, how much of each, and the context that computes them for a
 * student model from a teacher's tensors.
 *
 * The config (JSON, README "Distillation losses") picks among five losses (kd_loss.h has their
 * definitions): "logit" (class logits, per level), "ld" (box DFL logits at the positive
 * anchors, per level), "cwd", "pkd" and "imitation" (on the feature pairs, default the neck
 * outputs p3/p4/p5 of both models). Each has a weight, the losses with a temperature have one,
 * and one schedule scales every weight over training: constant, or cosine decay from the
 * weight to final * weight (as YOLOv6 and DAMO-YOLO decay theirs).
 *
 * The context (ykd_kd) is made for one student model and the teacher's tensor shapes. A
 * feature pair whose channel counts differ gets a 1x1 adapter (a convolution with a bias, from
 * the student's channels to the teacher's, initialised Kaiming-uniform as PyTorch's Conv2d
 * default, from the seed): CWD, PKD and imitation of that pair compare adapter(student) with
 * the teacher. The adapters are the context's parameters (ykd_kd_param_at), trained with the
 * student by the caller's optimizer and never part of the student's weights file. Pairs whose
 * spatial sizes differ (different strides) are refused with both shapes named: no resizing.
 *
 * Per batch, after the student's training forward and its detection loss:
 *   ykd_kd_compute(kd, &batch, &values, &err);    teacher tensors on the student's device
 *   ykd_kd_grads(kd, &grads, &count);             the detection loss's gradients + KD's
 *   ykd_model_backward(student, grads, count, NULL, &err);
 *   then the optimizer steps the student's and the context's parameters.
 * The gradients are of N * sum_k weight_k(epoch) * L_k, N the batch size: the factor the
 * detection loss's total carries (loss.h), so a KD weight compares directly with its gains
 * (box 7.5, cls 0.5, dfl 1.5).
 *
 * Positive anchors come from the student's own assignment (the detection loss of the same
 * batch), as the LD paper does: LD weighs each positive anchor by its target score and, like
 * the logit KD, divides by the detection loss's normaliser S = max(sum of target scores, 1),
 * so both sit on the scale of the DFL and class terms they mirror. Imitation with "mask":
 * "assigned" compares only at anchors assigned to a gt (the fine-grained mask) and divides by
 * (teacher channels) * max(assigned positions, 1); otherwise by every element (a mean). */
#ifndef YOLOKD_KD_H
#define YOLOKD_KD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yolokd/kd_loss.h"
#include "yolokd/loss.h"
#include "yolokd/model.h"
#include "yolokd/status.h"
#include "yolokd/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the config ------------------------------------------------------------------------------ */

typedef enum ykd_kd_loss_kind {
    YKD_KD_LOGIT = 0,
    YKD_KD_LD = 1,
    YKD_KD_CWD = 2,
    YKD_KD_PKD = 3,
    YKD_KD_IMITATION = 4,
    YKD_KD_LOSS_COUNT = 5
} ykd_kd_loss_kind;

/* "logit", "ld", "cwd", "pkd", "imitation". */
const char *ykd_kd_loss_name(ykd_kd_loss_kind kind);

typedef struct ykd_kd_loss_config {
    bool enabled;
    float weight;      /* >= 0 */
    float temperature; /* > 0; logit, ld and cwd only */
    bool masked;       /* imitation only: at assigned anchors only */
} ykd_kd_loss_config;

enum { YKD_KD_MAX_PAIRS = 8, YKD_KD_NAME_SIZE = 16 };

/* A student tensor and the teacher tensor it learns from: names ykd_model_output knows
 * ("p3", "cls4", ...). */
typedef struct ykd_kd_pair {
    char student[YKD_KD_NAME_SIZE];
    char teacher[YKD_KD_NAME_SIZE];
} ykd_kd_pair;

typedef enum ykd_kd_schedule {
    YKD_KD_SCHEDULE_CONSTANT = 0,
    YKD_KD_SCHEDULE_COSINE = 1
} ykd_kd_schedule;

typedef struct ykd_kd_config {
    ykd_kd_loss_config loss[YKD_KD_LOSS_COUNT];
    ykd_kd_pair pairs[YKD_KD_MAX_PAIRS]; /* for cwd, pkd and imitation */
    int pair_count;
    /* No "features" given: pair the neck outputs the student has ("p3", "p4", "p5" for
     * YOLOv8; a model with other levels gets its own), decided at ykd_kd_create. */
    bool neck_pairs;
    ykd_kd_schedule schedule;
    float final_fraction; /* cosine: the weights' fraction at the end, in [0, 1] */
} ykd_kd_config;

/* The defaults, what a run without a config file uses: logit KD (weight 1, T 1) and LD (weight 1,
 * T 10), constant weights, the best of the KD benchmark (BENCHMARKS.md). The losses not enabled
 * keep their own defaults (CWD T 4; imitation masked; feature pairs the neck outputs, p3/p4/p5
 * <-> p3/p4/p5 for YOLOv8), used when a config names them. */
void ykd_kd_config_default(ykd_kd_config *config);

/* Whether a loss on the feature pairs (CWD, PKD or imitation) is enabled. */
bool ykd_kd_config_has_feature_loss(const ykd_kd_config *config);

/* Parses a config from JSON text (source names it in messages). Keys: "losses" (an object of
 * loss name -> {"weight", "temperature", "mask": "assigned"|"all"}; the losses it names are
 * the ones enabled, their other fields defaulted), "features" (an array of {"student",
 * "teacher"}), "schedule" ({"type": "constant"|"cosine", "final": fraction}); each optional.
 * Refused with YKD_ERR_FORMAT and the JSON path of the fault ("kd.json: $.losses.cwd.weight:
 * -1 is negative"): unknown keys and loss names, wrong JSON types, negative weights,
 * temperatures <= 0, names that are no model tensor's, a student tensor paired twice, an empty
 * "features", and "features" while no feature loss (cwd, pkd, imitation) is on. */
ykd_status ykd_kd_config_parse(const char *json, size_t length, const char *source,
                               ykd_kd_config *config, ykd_error *err);

/* The config as JSON text that ykd_kd_config_parse reads back to the same losses, pairs and
 * schedule: each enabled loss with all its fields, the pairs when a feature loss is on, the
 * schedule; floats as the shortest text that reads back to the same float. malloc'd (free());
 * NULL when out of memory. */
char *ykd_kd_config_json(const ykd_kd_config *config);

/* Reads and parses a config file; path NULL gives the defaults. */
ykd_status ykd_kd_config_load(const char *path, ykd_kd_config *config, ykd_error *err);

/* The factor the schedule puts on every weight at `epoch` (fractional epochs allowed) of a
 * run of `epochs`: 1 when constant; cosine: final + (1 - final) * (1 + cos(pi * e / E)) / 2,
 * e clamped to [0, E]: 1 at the start, final at the end. */
double ykd_kd_schedule_factor(const ykd_kd_config *config, double epoch, int epochs);

/* ---- the context ----------------------------------------------------------------------------- */

/* A tensor of the teacher, by the name ykd_model_output gives it: its channels and its stride
 * (input pixels per cell, which fixes its size at any input size). */
typedef struct ykd_kd_shape {
    char name[YKD_KD_NAME_SIZE];
    int channels;
    int stride;
} ykd_kd_shape;

/* Every named tensor of a model ("p3", "box3", "cls3", "head3", per level), at most cap of
 * them, in *shapes; *count = how many there are. */
ykd_status ykd_kd_model_shapes(const ykd_model *model, ykd_kd_shape *shapes, size_t cap,
                               size_t *count, ykd_error *err);

typedef struct ykd_kd ykd_kd;

/* The context for config, student and the teacher's tensors (shapes[0 .. count)). Refused,
 * naming the JSON path where it came from: a pair or a level whose tensor either model lacks,
 * different strides (both shapes named), teacher and student class counts that differ (logit
 * KD). Adapters are made on the student's device, drawn from seed. */
ykd_status ykd_kd_create(const ykd_kd_config *config, ykd_model *student,
                         const ykd_kd_shape *shapes, size_t count, uint64_t seed, ykd_kd **kd,
                         ykd_error *err);
void ykd_kd_free(ykd_kd *kd);

/* The config as the context uses it (the neck pairs resolved for the student). */
const ykd_kd_config *ykd_kd_get_config(const ykd_kd *kd);

/* The teacher tensors a compute needs ("p3", "cls3", ...), for moving them to the student's
 * device or caching them. */
size_t ykd_kd_teacher_name_count(const ykd_kd *kd);
const char *ykd_kd_teacher_name(const ykd_kd *kd, size_t index);

/* The adapters' parameters: "kd.adapter.p3.weight" [Ct, Cs, 1, 1] (kind conv weight, decayed)
 * and "kd.adapter.p3.bias" [1, Ct, 1, 1] (kind conv bias), with their gradients, which every
 * compute adds to (zero them with ykd_kd_zero_grad, as the model's). */
size_t ykd_kd_param_count(const ykd_kd *kd);
const ykd_model_param *ykd_kd_param_at(const ykd_kd *kd, size_t index);
ykd_status ykd_kd_zero_grad(ykd_kd *kd, ykd_error *err);

typedef struct ykd_kd_tensor {
    const char *name;
    const ykd_tensor *tensor;
} ykd_kd_tensor;

/* One batch's inputs. */
typedef struct ykd_kd_batch {
    const ykd_kd_tensor *teacher; /* every name of ykd_kd_teacher_name, on the student's device */
    size_t teacher_count;
    /* The student's detection loss, computed on this batch (its assignment gives the positive
     * anchors and S); needed when logit KD, LD or masked imitation is on, else may be NULL. */
    const ykd_yolo_loss *assignment;
    double epoch; /* for the schedule: the current (fractional) epoch of epochs */
    int epochs;
    /* Gradients the caller already holds for the student (the detection loss's, "head3" or
     * "box3"/"cls3" ...): KD adds to them where they cover its tensors, and ykd_kd_grads lists
     * them with KD's own. May be empty. The caller's tensors must outlive the backward. */
    const ykd_model_grad *base;
    size_t base_count;
    /* With data parallelism, the trainer's combination of the ranks (NULL: one process). The
     * head losses are normalised as the detection loss and need nothing; CWD, PKD and imitation
     * are normalised over the global batch (the images and assigned anchors added over the
     * ranks) and their gradients scaled against the trainer's rescaling, so the ranks together
     * compute one process's (PKD's standardisation excepted: its mean and variance per channel
     * are this rank's images', as BN's without sync). */
    const ykd_loss_ranks *ranks;
} ykd_kd_batch;

typedef struct ykd_kd_values {
    /* each loss as defined, summed over its levels or pairs; with batch->ranks, CWD's, PKD's
     * and imitation's are this rank's part of the global batch's over ranks->value_share (so
     * the trainer's weighted sum over the ranks is the global batch's value) */
    double loss[YKD_KD_LOSS_COUNT];
    double weight[YKD_KD_LOSS_COUNT]; /* the weight at this epoch (0 when not enabled) */
    double total;                     /* sum of weight * loss (without N) */
    double score_sum;                 /* S before the max(., 1) (0 without an assignment) */
    size_t positives;                 /* anchors assigned to a gt over the batch */
} ykd_kd_values;

/* Computes every enabled loss of the student's last training forward against the teacher's
 * tensors, and their gradients: added to the base gradients that cover a tensor, written to
 * the context's own otherwise; the adapters' gradients added. Refused before anything is
 * written: a teacher tensor missing, on another device or of another shape (both shapes
 * named), an assignment missing or for another batch shape. */
ykd_status ykd_kd_compute(ykd_kd *kd, const ykd_kd_batch *batch, ykd_kd_values *values,
                          ykd_error *err);

/* The gradients of the last compute, for ykd_model_backward: the base ones, then KD's own for
 * tensors no base gradient covers. Valid until the next compute or free. */
void ykd_kd_grads(const ykd_kd *kd, const ykd_model_grad **grads, size_t *count);

#ifdef __cplusplus
}
#endif

#endif
