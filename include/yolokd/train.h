/* Training a YOLO detector: the learning-rate schedule, the optimizer over parameter groups,
 * the exponential moving average (EMA) of the weights, validation, and the trainer loop with
 * its run folder (weights, resumable state, metrics, curves).
 *
 * The recipe is Ultralytics YOLOv8's, with its defaults:
 * - Parameter groups (Ultralytics' pg0, pg1, pg2): biases (BN and conv biases: no weight
 *   decay; their LR warms up *down* from warmup_bias_lr), conv weights (weight decay), BN
 *   weights (no decay). BN running statistics and the DFL projection are not trained.
 * - Nominal batch size (nbs, 64): gradients are accumulated over accumulate = max(round(nbs /
 *   batch), 1) batches before an optimizer step, so a step sees about nbs images whatever the
 *   batch size, and the weight decay is scaled by batch * accumulate / nbs. During the warm-up
 *   the accumulation rises from 1 to that value (np.interp, rounded half to even). The
 *   accumulation runs across epoch boundaries (a step every accumulate batches of the run).
 * - Schedule: lf(e) = (1 - e / epochs) (1 - lrf) + lrf (linear, the default) or the cosine
 *   ((1 - cos(pi e / epochs)) / 2) (lrf - 1) + 1; lr = lr0 lf(epoch). For the first
 *   nw = max(round(warmup_epochs * batches per epoch), 100) batches (iterations ni <= nw) every
 *   group's LR is interpolated from 0 (biases: warmup_bias_lr) at ni = 0 to lr0 lf(epoch) at
 *   ni = nw, and SGD's momentum from warmup_momentum to momentum.
 * - SGD: momentum 0.937, Nesterov, weight decay coupled as PyTorch's SGD (grad += wd * param
 *   before the momentum). AdamW: beta1 = momentum, beta2 0.999, eps 1e-8, decoupled decay
 *   (param *= 1 - lr * wd), bias correction by the optimizer-step count.
 * - Before each step the gradients' global L2 norm is clipped to max_grad_norm (10), as
 *   Ultralytics' optimizer_step does; a norm that is not finite stops the run.
 * - EMA after each optimizer step: d = decay (1 - exp(-updates / tau)) (0.9999, 2000),
 *   ema = d ema + (1 - d) model over every float tensor of the state_dict (trained parameters
 *   and BN running statistics; the fixed DFL projection is left as it is). Validation, last
 *   and best use the EMA weights.
 * - Validation every epoch (EMA model, inference mode, conf 0.001, IoU 0.7, max 300
 *   detections), fitness = 0.1 mAP@0.5 + 0.9 mAP@0.5:0.95 picks best.
 *
 * The library never prints: progress goes to a callback (ykd_train_callback). */
#ifndef YOLOKD_TRAIN_H
#define YOLOKD_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yolokd/curves.h"
#include "yolokd/data.h"
#include "yolokd/device.h"
#include "yolokd/eval.h"
#include "yolokd/model.h"
#include "yolokd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- parameter groups */

/* Ultralytics' optimizer parameter groups, in its order (lr/pg0, pg1, pg2 in its logs). */
typedef enum ykd_param_group {
    YKD_GROUP_BIAS = 0,  /* BN biases and conv biases: no decay, bias warm-up */
    YKD_GROUP_DECAY = 1, /* conv weights: weight decay */
    YKD_GROUP_BN = 2,    /* BN weights: no decay */
    YKD_GROUP_COUNT = 3
} ykd_param_group;

/* "bias", "decay", "bn" */
const char *ykd_param_group_name(ykd_param_group group);

/* The group of a trained kind; -1 for the kinds not trained. */
int ykd_param_kind_group(ykd_param_kind kind);

/* ---------------------------------------------------------------- schedule */

typedef enum ykd_lr_decay {
    YKD_LR_LINEAR = 0, /* Ultralytics' default */
    YKD_LR_COSINE = 1  /* --cos */
} ykd_lr_decay;

typedef struct ykd_schedule {
    int epochs;
    int64_t batches_per_epoch;
    double lr0, lrf;
    ykd_lr_decay decay;
    double momentum;        /* after the warm-up */
    double warmup_epochs;   /* 3; 0: no warm-up */
    double warmup_momentum; /* 0.8 */
    double warmup_bias_lr;  /* 0.1 */
    int warmup_min_iters;   /* 100: the warm-up lasts at least this many batches */
    double accumulate;      /* nbs / batch: where the warm-up's accumulation ends (unrounded) */
} ykd_schedule;

/* What the schedule gives one batch. */
typedef struct ykd_schedule_point {
    double lr[YKD_GROUP_COUNT];
    double momentum;
    int accumulate; /* step when (iteration - last step's iteration) >= accumulate */
} ykd_schedule_point;

/* lf(epoch): the LR factor of an epoch (1 at epoch 0, lrf at epoch == epochs). */
double ykd_schedule_factor(const ykd_schedule *s, int epoch);

/* nw: the last iteration of the warm-up (-1 without one). */
int64_t ykd_schedule_warmup_iters(const ykd_schedule *s);

/* The LRs, momentum and accumulation of iteration ni (= epoch * batches_per_epoch + batch) in
 * epoch. */
void ykd_schedule_at(const ykd_schedule *s, int epoch, int64_t ni, ykd_schedule_point *point);

/* max(round(nbs / batch), 1), rounded half to even as Python does. */
int ykd_nominal_accumulate(int batch, int nbs);

/* weight_decay * batch * accumulate / nbs. */
double ykd_nominal_weight_decay(double weight_decay, int batch, int nbs);

/* ---------------------------------------------------------------- optimizer */

typedef enum ykd_optimizer_kind {
    YKD_OPTIMIZER_SGD = 0,
    YKD_OPTIMIZER_ADAMW = 1,
    YKD_OPTIMIZER_AUTO = 2 /* trainer option only: Ultralytics' choice (ykd_optimizer_auto) */
} ykd_optimizer_kind;

/* "sgd", "adamw", "auto"; and back (false for an unknown name). */
const char *ykd_optimizer_kind_name(ykd_optimizer_kind kind);
bool ykd_optimizer_kind_parse(const char *name, ykd_optimizer_kind *kind);

/* Ultralytics' optimizer "auto": for runs of over 10000 optimizer iterations
 * (ceil(images / max(batch, nbs)) * epochs), SGD with lr0 0.01 and momentum 0.9; for shorter
 * ones AdamW with lr0 = round(0.002 * 5 / (4 + nc), 6) and beta1 0.9; either way the bias
 * warm-up LR becomes 0. Sets *kind, *lr0, *momentum, *warmup_bias_lr. */
void ykd_optimizer_auto(size_t images, int batch, int nbs, int epochs, int nc,
                        ykd_optimizer_kind *kind, double *lr0, double *momentum,
                        double *warmup_bias_lr);

typedef struct ykd_optimizer_options {
    ykd_optimizer_kind kind;
    double weight_decay;  /* on the decay group, already scaled (ykd_nominal_weight_decay) */
    bool nesterov;        /* SGD, true */
    double beta2, eps;    /* AdamW, 0.999 and 1e-8 */
    double max_grad_norm; /* 10; 0: no clipping */
} ykd_optimizer_options;

void ykd_optimizer_options_default(ykd_optimizer_options *options);

typedef struct ykd_optimizer ykd_optimizer;

/* An optimizer for model's trained parameters (momentum or Adam moments on the model's
 * device, zeroed). The model must outlive it. */
ykd_status ykd_optimizer_init(ykd_model *model, const ykd_optimizer_options *options,
                              ykd_optimizer **optimizer, ykd_error *err);
void ykd_optimizer_free(ykd_optimizer *optimizer);

/* One update from the gradients the model holds: clip their global norm (*grad_norm receives
 * it before clipping; may be NULL), then step each group with lr[group] and momentum (SGD's
 * momentum or AdamW's beta1). The gradients are left modified (clipped, SGD's decay added):
 * zero them before the next accumulation. A gradient norm that is not finite fails with
 * YKD_ERR_NOT_FINITE before anything changes. */
ykd_status ykd_optimizer_step(ykd_optimizer *optimizer, const double lr[YKD_GROUP_COUNT],
                              double momentum, double *grad_norm, ykd_error *err);

/* Updates made so far (AdamW's bias correction uses it); set when restoring a run. */
int64_t ykd_optimizer_steps(const ykd_optimizer *optimizer);
void ykd_optimizer_set_steps(ykd_optimizer *optimizer, int64_t steps);

const ykd_optimizer_options *ykd_optimizer_get_options(const ykd_optimizer *optimizer);

/* The optimizer's state buffers, for checkpoints: "momentum" (SGD) or "adam_m" and "adam_v",
 * each as many floats as the model has trained ones. Returns false past the last. */
bool ykd_optimizer_state_at(const ykd_optimizer *optimizer, int index, const char **name,
                            ykd_buffer **buffer, size_t *floats);

/* ---------------------------------------------------------------- EMA */

typedef struct ykd_ema ykd_ema;

/* The decay of update number `updates` (1 for the first): decay (1 - exp(-updates / tau)). */
double ykd_ema_decay_at(double decay, double tau, int64_t updates);

/* An EMA of model: a second model on its device (same description, class names and BN batch
 * counter) starting as a copy of its weights. decay 0.9999, tau 2000 as YOLOv8. */
ykd_status ykd_ema_init(const ykd_model *model, double decay, double tau, ykd_ema **ema,
                        ykd_error *err);
void ykd_ema_free(ykd_ema *ema);

/* One update from model (the one it was made from): updates += 1, then
 * ema = d ema + (1 - d) model with d = ykd_ema_decay_at(updates). */
ykd_status ykd_ema_update(ykd_ema *ema, const ykd_model *model, ykd_error *err);

/* The averaged model: validate it, save it. */
ykd_model *ykd_ema_model(const ykd_ema *ema);
int64_t ykd_ema_updates(const ykd_ema *ema);
void ykd_ema_set_updates(ykd_ema *ema, int64_t updates);

/* ---------------------------------------------------------------- validation */

typedef struct ykd_val_options {
    int imgsz;           /* 640 */
    int batch;           /* 32 */
    int workers;         /* loader threads, 2 */
    int cache_mb;        /* the loader's image cache, 1024 */
    ykd_detect_options detect; /* ykd_detect_options_default: conf 0.001, IoU 0.7, 300 */
    bool keep_detections;      /* keep every image's detections in the result (--save-json) */
    bool losses;               /* compute the validation losses too, true */
} ykd_val_options;

void ykd_val_options_default(ykd_val_options *options);

typedef struct ykd_val_result {
    ykd_eval_result eval;      /* precision, recall, mAP, per class */
    double box, cls, dfl;      /* mean validation losses per batch (with gains); NAN when off */
    double fitness;            /* 0.1 mAP@0.5 + 0.9 mAP@0.5:0.95 */
    double seconds;            /* the whole pass */
    double images_per_s;
    size_t images;
    ykd_detections *detections; /* per dataset image, in original pixels (keep_detections) */
} ykd_val_result;

void ykd_val_result_free(ykd_val_result *result);

/* 0.1 mAP@0.5 + 0.9 mAP@0.5:0.95 */
double ykd_fitness(const ykd_eval_result *eval);

/* Called after each validation batch with (batches done, batches); returning false abandons
 * the pass (YKD_ERR_INVALID_ARGUMENT "stopped"). */
typedef bool (*ykd_val_callback)(size_t done, size_t total, void *user);

typedef struct ykd_validator ykd_validator;

/* A validator of dataset (which must outlive it) on device: a letterbox-only loader in file
 * order, the detector, the evaluator, the loss. Reads every image's size from its header once,
 * to map detections back to original pixels. */
ykd_status ykd_validator_open(ykd_device *device, const ykd_dataset *dataset,
                              const ykd_val_options *options, ykd_validator **validator,
                              ykd_error *err);
void ykd_validator_close(ykd_validator *validator);

/* Runs model (inference mode) over the whole dataset. The model's classes must be the
 * dataset's and imgsz a multiple of its largest stride. result is freed with
 * ykd_val_result_free. callback may be NULL. */
ykd_status ykd_validator_run(ykd_validator *validator, ykd_model *model, ykd_val_callback callback,
                             void *user, ykd_val_result *result, ykd_error *err);

/* The dataset image's frame (its size and where the letterbox put it). */
const ykd_image_frame *ykd_validator_frame(const ykd_validator *validator, size_t index);

/* ---------------------------------------------------------------- detection of one image */

/* The detections of one image (any size) by model in inference mode: letterboxed to imgsz
 * (a multiple of the model's stride) as validation does, decoded, thresholded and suppressed
 * by detector (made for the model's classes on its device) with options, and mapped back to
 * the image's own pixels. out->items is malloc'd (free with ykd_detections_free). */
ykd_status ykd_model_detect(ykd_model *model, ykd_detector *detector, const ykd_image *image,
                            int imgsz, const ykd_detect_options *options, ykd_detections *out,
                            ykd_error *err);

/* ---------------------------------------------------------------- one training step */

/* A gradient sink: where a loss term adds the gradient of its loss with respect to a named
 * tensor of the model's last forward ("head3", "box3", "cls3", "p3", ...; see
 * ykd_model_output). *grad is a tensor of that tensor's shape, holding what earlier terms put
 * there (the detection loss's gradient for head, box and cls, which are views of one another;
 * zero for the others at their first request in a step): add to it, do not overwrite. */
typedef struct ykd_grad_sink ykd_grad_sink;
ykd_status ykd_grad_sink_get(ykd_grad_sink *sink, const char *name, ykd_tensor *grad,
                             ykd_error *err);

/* With data parallelism, how the step combines the ranks' gradients and values (see
 * ykd_loss_ranks); NULL in a process alone. */
const ykd_loss_ranks *ykd_grad_sink_ranks(const ykd_grad_sink *sink);

/* An extra loss term (distillation): called every training step after the detection loss,
 * with the model's training-mode forward done. It adds its gradients through the sink and
 * returns its value in *value (logged, and checked to be finite). */
typedef struct ykd_train_loss_term {
    const char *name; /* shown in messages */
    ykd_status (*compute)(void *user, ykd_model *model, const ykd_batch *batch,
                          ykd_grad_sink *sink, double *value, ykd_error *err);
    void *user;
    /* Optional: called at the start of each step, before the model's forward, so a term whose
     * inputs come from elsewhere (a teacher on another device) can start on the batch. */
    ykd_status (*begin)(void *user, const ykd_batch *batch, ykd_error *err);
    /* Optional: called after each optimizer step with the schedule point it used, so a term
     * with parameters of its own (distillation adapters) can step them alongside. */
    ykd_status (*optimized)(void *user, const ykd_schedule_point *point, ykd_error *err);
    /* Optional: the term's value in parts (a distillation's each KD loss, weighted as in the
     * value), logged per epoch as columns "train/<name>_loss" (metrics.csv, curves.png, the
     * epoch summary). Fills up to cap names (the same every call) and, when values is not
     * NULL, the last compute's values; returns the count. At most YKD_EPOCH_MAX_EXTRA in all
     * terms. */
    size_t (*parts)(void *user, const char **names, double *values, size_t cap);
} ykd_train_loss_term;

/* The detection loss of the step the sink belongs to, computed on the current batch: its
 * assignment gives a term the positive anchors (ykd_yolo_loss_assignment). */
const ykd_yolo_loss *ykd_grad_sink_detection_loss(const ykd_grad_sink *sink);

/* The parts a step works with (not owned by it; they must outlive it). */
typedef struct ykd_step_parts {
    ykd_model *model;         /* trained in training mode */
    ykd_yolo_loss *loss;      /* the detection loss, for the model's classes */
    ykd_optimizer *optimizer; /* over the model */
    ykd_ema *ema;             /* of the model; NULL: no EMA */
} ykd_step_parts;

/* What one step did. */
typedef struct ykd_step_result {
    ykd_yolo_loss_value loss; /* the detection loss */
    double extra;             /* the sum of the extra terms' values */
    bool optimized;           /* the optimizer stepped (and the EMA followed) */
    double grad_norm;         /* before clipping, when optimized */
    /* with timing on: wall milliseconds of each phase, the device finished after each */
    double upload_ms, forward_ms, loss_ms, backward_ms, optimizer_ms;
    size_t images;    /* the batch's images: this process's, or with several ranks all of theirs */
    size_t instances; /* the boxes of those images */
} ykd_step_result;

typedef struct ykd_step ykd_step;

/* A step for batches of up to batch images of imgsz x imgsz. With timing true every phase
 * waits for the device and is timed (for benchmarks; slower on GPUs). */
ykd_status ykd_step_init(const ykd_step_parts *parts, int batch, int imgsz, bool timing,
                         ykd_step **step, ykd_error *err);
void ykd_step_free(ykd_step *step);

/* Turns the per-phase timing (and its waits for the device) on or off. */
void ykd_step_set_timing(ykd_step *step, bool timing);

/* Adds an extra loss term (at most 8). */
ykd_status ykd_step_add_loss_term(ykd_step *step, const ykd_train_loss_term *term,
                                  ykd_error *err);

/* One step on batch: data (the images to the device), forward (training mode), losses (the
 * detection loss writes the head gradients, then each extra term adds its gradients through
 * the sink), backward (every named gradient at once, accumulating into the parameters'
 * gradients), and, when optimize is true, the optimizer step with point's LRs and momentum,
 * zeroed gradients and the EMA update. A loss or gradient that is not finite fails with
 * YKD_ERR_NOT_FINITE and a message giving the three loss values. */
ykd_status ykd_step_run(ykd_step *step, const ykd_batch *batch, const ykd_schedule_point *point,
                        bool optimize, ykd_step_result *result, ykd_error *err);

/* ---------------------------------------------------------------- the trainer */

typedef struct ykd_train_options {
    const char *model;   /* "n", "s", ... a .json description or a .safetensors file */
    const char *weights; /* initial weights (a model file of the same model), or NULL */
    const char *data;    /* dataset root */
    const char *out;     /* the run folder */
    bool exist_ok;       /* false: refuse a folder that already holds a run's state */
    int epochs;          /* 100 */
    int batch;           /* 16 */
    int imgsz;           /* 640 */
    int workers;         /* loader threads, 2 (results do not depend on it) */
    uint64_t seed;       /* 0: initial weights and every augmentation */
    int close_mosaic;    /* no mosaic in the last close_mosaic epochs, 10 */
    int cache_mb;        /* the loaders' decoded-image cache, 1024 */
    bool augment;        /* training augmentations, true */
    ykd_augment_options aug;
    ykd_optimizer_kind optimizer; /* auto (resolved when the run opens) */
    double lr0;                   /* 0: 0.01 for SGD, 0.001 for AdamW (auto sets its own) */
    double lrf;                   /* final LR factor, 0.01 */
    double momentum;              /* 0.937 */
    double weight_decay;          /* 5e-4, before the nominal-batch scaling */
    int nbs;                      /* nominal batch size, 64 */
    double warmup_epochs;         /* 3 */
    double warmup_momentum;       /* 0.8 */
    double warmup_bias_lr;        /* 0.1 */
    ykd_lr_decay decay;           /* linear */
    double max_grad_norm;         /* 10 */
    double ema_decay, ema_tau;    /* 0.9999, 2000 */
    bool val;                     /* validate every epoch, true */
    int val_batch;                /* 0: 2 * batch */
    float val_conf, val_iou;      /* 0.001, 0.7 */
    /* false: a bad image or label line is left out, named once at the start (as check-data
     * names it) and counted in each epoch's summary; true: the first one stops the run */
    bool strict;
    /* Data parallelism (mpirun -np K): batch is the global batch, split over the K processes
     * (ranks). sync_bn: BN statistics over every rank's images (as one process with the whole
     * batch), false: over each rank's own. ranks: K, set by the trainer (a run resumes with
     * the same K). */
    bool sync_bn;
    int ranks;
} ykd_train_options;

void ykd_train_options_default(ykd_train_options *options);

/* What the trainer reports, through the callback. */
typedef enum ykd_train_event_kind {
    YKD_TRAIN_START,     /* the run is set up: message describes it */
    YKD_TRAIN_BATCH,     /* a training batch is done */
    YKD_TRAIN_VAL_BATCH, /* a validation batch is done */
    YKD_TRAIN_EPOCH,     /* an epoch is done, validated and saved: row */
    YKD_TRAIN_NOTE       /* a message worth showing (an image left out, a new best) */
} ykd_train_event_kind;

/* One epoch's figures, as metrics.csv holds them. */
typedef struct ykd_train_row {
    ykd_epoch_metrics m;       /* epoch (1-based, as metrics.csv), losses, P, R, mAPs */
    double lr[YKD_GROUP_COUNT]; /* at the epoch's last batch */
    double fitness;
    double images_per_s; /* training images per second over the epoch (validation excluded) */
    double seconds;      /* the epoch, validation included */
    /* training inputs left out: the images and label lines the dataset skipped when opened,
     * and the images that failed to load this epoch (not kept in metrics files) */
    size_t left_out;
} ykd_train_row;

typedef struct ykd_train_event {
    ykd_train_event_kind kind;
    int epoch, epochs;        /* 0-based epoch, and the total */
    size_t batch, batches;    /* batches done in this epoch (or validation pass), of */
    size_t images;            /* images in the batch */
    size_t instances;         /* boxes in the batch */
    double box, cls, dfl;     /* the epoch's running mean training losses (with gains) */
    double extra;             /* the running mean of the extra loss terms, 0 without */
    double images_per_s;      /* training images per second, this epoch so far */
    double eta_s;             /* seconds left in the run (an estimate) */
    const ykd_train_row *row; /* YKD_TRAIN_EPOCH */
    const char *message;      /* YKD_TRAIN_START, YKD_TRAIN_NOTE */
} ykd_train_event;

/* Returns false to stop the run: after a batch, at once (nothing more is written: what a kill
 * would leave); after an epoch, with that epoch saved. */
typedef bool (*ykd_train_callback)(const ykd_train_event *event, void *user);

typedef struct ykd_trainer ykd_trainer;

/* Sets up a new run in options->out (created; refused when it already holds a run's state,
 * unless options->exist_ok):
 * datasets (training and validation splits of options->data), the model (classes from the
 * dataset), EMA, optimizer, loss, loaders. Nothing is trained yet. */
ykd_status ykd_trainer_open(ykd_device *device, const ykd_train_options *options,
                            ykd_trainer **trainer, ykd_error *err);

/* Reopens the run in folder run from its RUN/last.state.safetensors: the same options
 * (workers may differ: >= 0 overrides, -1 keeps the run's), the raw and EMA weights, the optimizer state, the
 * counters, best fitness and metrics history, so that ykd_trainer_run continues as if never
 * stopped. Refuses a damaged state file, one from another version, a finished run, and a
 * dataset that changed (class count or image count), naming the file and the difference. */
ykd_status ykd_trainer_resume(ykd_device *device, const char *run, int workers,
                              ykd_trainer **trainer, ykd_error *err);

void ykd_trainer_close(ykd_trainer *trainer);

/* Adds an extra loss term to the trainer's step (at most 8), before ykd_trainer_run. */
ykd_status ykd_trainer_add_loss_term(ykd_trainer *trainer, const ykd_train_loss_term *term,
                                     ykd_error *err);

/* Trains until the last epoch (or the callback stops it). After each epoch: validation, the
 * row, RUN/last.state.safetensors first (the epoch's commit), then RUN/last.safetensors (EMA
 * weights), RUN/best.safetensors when the fitness is the best so far, RUN/curves.png,
 * RUN/metrics.csv, RUN/metrics.jsonl, each written atomically. A loss or gradient that is not finite stops the run with
 * YKD_ERR_NOT_FINITE and a message naming the epoch, the batch and the three loss values,
 * leaving the files of the last finished epoch as they were. callback may be NULL. */
ykd_status ykd_trainer_run(ykd_trainer *trainer, ykd_train_callback callback, void *user,
                           ykd_error *err);

/* The run's options (on resume: as the state file holds them). */
const ykd_train_options *ykd_trainer_options(const ykd_trainer *trainer);
ykd_model *ykd_trainer_model(const ykd_trainer *trainer);
ykd_model *ykd_trainer_ema_model(const ykd_trainer *trainer);
/* The next epoch to train (= epochs when finished), and whether the callback stopped it. */
int ykd_trainer_epoch(const ykd_trainer *trainer);
/* Batches per training epoch (known once the run is open). */
int64_t ykd_trainer_batches_per_epoch(const ykd_trainer *trainer);
/* The training split it draws its batches from. */
const ykd_dataset *ykd_trainer_train_set(const ykd_trainer *trainer);
/* The optimizer of the model (its kind, options and step count). */
const ykd_optimizer *ykd_trainer_optimizer(const ykd_trainer *trainer);
bool ykd_trainer_stopped(const ykd_trainer *trainer);
/* The rows of the epochs done (resumed ones included). */
const ykd_train_row *ykd_trainer_rows(const ykd_trainer *trainer, size_t *count);
double ykd_trainer_best_fitness(const ykd_trainer *trainer);

/* ---------------------------------------------------------------- run files */

/* RUN/metrics.csv and RUN/metrics.jsonl from rows (rewritten whole, atomically). */
ykd_status ykd_metrics_write(const char *run, const ykd_train_row *rows, size_t count,
                             ykd_error *err);

/* ---------------------------------------------------------------- progress text */

/* One line for an event, without a newline: "  3/20  12/25  box 1.234 cls 2.345 dfl 1.111
 * 85.3 img/s  ETA 4:12" for batches, "  3/20  val 2/4" for validation batches, the epoch's
 * summary for epochs, the message otherwise. */
void ykd_progress_format(const ykd_train_event *event, char *buf, size_t size);

/* "1:02:03", "4:12", "0:07" */
void ykd_format_duration(double seconds, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
