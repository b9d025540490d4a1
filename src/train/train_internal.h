/* The trainer's parts, shared by trainer.c (set-up and the epoch loop), trainer_state.c (the
 * resumable state) and train_options.c; the step itself is step.c. */
#ifndef YKD_TRAIN_INTERNAL_H
#define YKD_TRAIN_INTERNAL_H

#include "train/checkpoint.h"
#include "yolokd/loss.h"
#include "yolokd/train.h"

/* File names inside a run folder. */
#define YKD_RUN_LAST "last.safetensors"
#define YKD_RUN_BEST "best.safetensors"
#define YKD_RUN_STATE "last.state.safetensors"
#define YKD_RUN_ARGS "args.json"
#define YKD_RUN_CURVES "curves.png"
#define YKD_RUN_CSV "metrics.csv"
#define YKD_RUN_JSONL "metrics.jsonl"

enum { YKD_TRAINER_MAX_EXTRA = 40, YKD_TRAINER_MAX_TERMS = 8 };

/* Sums over an epoch, for the running means and the row. */
typedef struct ykd_epoch_sums {
    double box, cls, dfl, extra;
    double parts[YKD_EPOCH_MAX_EXTRA]; /* the loss terms' parts */
    size_t load_faults;                /* images that failed to load */
    size_t batches;
    double images;
    double start_ms, train_ms;
} ykd_epoch_sums;

struct ykd_trainer {
    ykd_device *device;
    ykd_train_options o; /* its strings point at the copies below */
    char *model_spec, *weights, *data, *out;
    ykd_dataset *train_set, *val_set;
    ykd_model *model;
    ykd_ema *ema;
    ykd_optimizer *optimizer;
    ykd_yolo_loss *loss;
    ykd_loader *loader;
    ykd_validator *validator;
    ykd_schedule schedule;
    int64_t batches_per_epoch;
    /* where the run stands: what the state file keeps */
    int epoch;             /* the next epoch to train */
    int64_t last_opt_step; /* iteration of the last optimizer step; -1 before the first */
    double best_fitness;
    int best_epoch;        /* 1-based; 0 before the first */
    ykd_train_row *rows;
    size_t row_count, row_capacity;
    bool stopped;
    bool repaired; /* the last epoch's files were unfinished when the run reopened */
    bool data_named; /* the datasets' faults were named (once per trainer) */
    ykd_step *step;
    char loss_terms[256]; /* the extra loss terms' names, comma-separated (the state keeps it) */
    ykd_train_loss_term terms[YKD_TRAINER_MAX_TERMS];
    int term_count;
    /* the terms' parts, as metrics columns ("train/kd_logit_loss"); rows point at part_columns */
    char part_names[YKD_EPOCH_MAX_EXTRA][48];
    const char *part_columns[YKD_EPOCH_MAX_EXTRA];
    int part_count;
    /* what the loss terms keep between steps (a distillation's adapters and their optimizer
     * state): tensors and one metadata pair, saved and restored with the trainer's */
    ykd_state_tensor extra[YKD_TRAINER_MAX_EXTRA];
    int extra_count;
    char *extra_key, *extra_value;
    /* this epoch */
    ykd_epoch_sums sums;
    double last_lr[YKD_GROUP_COUNT];
    double last_epoch_s; /* the previous epoch's duration, for the ETA */
    /* data parallelism: this process's rank (0 validates, writes the run's files and tells
     * the callback) and its part of the gradient averaging (NULL alone) */
    int rank;
    struct ykd_dist *dist;
};

/* ---- options (train_options.c) ---- */

/* Checks the options a run needs (paths present, numbers in range), naming the option. */
ykd_status ykd_train_options_check(const ykd_train_options *o, ykd_error *err);

/* The options as JSON text (malloc'd), and back: strings into *owned (malloc'd, freed by the
 * caller with ykd_train_options_free_strings). */
char *ykd_train_options_json(const ykd_train_options *o);
ykd_status ykd_train_options_parse(const char *json, const char *source, ykd_train_options *o,
                                   ykd_error *err);
void ykd_train_options_free_strings(ykd_train_options *o);

/* ---- the trainer's set-up (trainer.c) ---- */

/* Opens datasets, loaders, loss, validator and the parts around a model that exists (the
 * model, EMA and optimizer are made by the caller: new, or restored). */
ykd_status ykd_trainer_open_data(ykd_trainer *t, ykd_error *err);
ykd_status ykd_trainer_open_parts(ykd_trainer *t, ykd_error *err);

/* Reopens run from its state file without restoring it yet: the options, datasets, the
 * model (fresh), EMA, optimizer, loader. With extra_key, *extra_value receives a copy of that
 * metadata value of the state (malloc'd; NULL when absent). Then loss terms may be added and
 * extra state declared, and ykd_trainer_load_state + ykd_trainer_reopen_files finish. */
ykd_status ykd_trainer_reopen(ykd_device *device, const char *run, int workers,
                              const char *extra_key, char **extra_value, ykd_trainer **trainer,
                              ykd_error *err);

/* Declares the state a loss term keeps: tensors (their names and views copied; the buffers
 * must live as long as the trainer) and a metadata pair (copied), saved with every state and
 * restored by ykd_trainer_load_state. */
ykd_status ykd_trainer_set_extra_state(ykd_trainer *t, const ykd_state_tensor *tensors,
                                       int count, const char *key, const char *value,
                                       ykd_error *err);

/* RUN/args.json: the options as the run uses them, "device" (the trainer's), with a teacher
 * device its "teacher_device", and the extra state's record under its key (a distillation's
 * teacher, its SHA-256 and the KD config as used). */
ykd_status ykd_trainer_write_args(const ykd_trainer *t, const ykd_device *teacher_device,
                                  ykd_error *err);

/* A path in the run folder (into buf, 4096). */
const char *ykd_run_path(const ykd_trainer *t, const char *name, char *buf);

/* ---- the state file (trainer_state.c) ---- */

ykd_status ykd_trainer_save_state(const ykd_trainer *t, ykd_error *err);

/* Restores a trainer whose options came from the file (ykd_trainer_resume does the rest). */
ykd_status ykd_trainer_load_state(ykd_trainer *t, const char *path, ykd_error *err);

/* After the state is restored: removes the temporary files a kill left, writes the last
 * epoch's files again when they were left unfinished, and refuses a finished run with nothing
 * to repair (path, the state file, named). */
ykd_status ykd_trainer_reopen_files(ykd_trainer *t, const char *path, ykd_error *err);

/* ---- the epoch's files (run_files.c) ---- */

/* last.safetensors, best.safetensors (when best), curves.png, metrics.csv, metrics.jsonl: what
 * follows the state of a finished epoch, in this order. */
ykd_status ykd_run_files_write(const ykd_trainer *t, bool best, ykd_error *err);

/* Writes them again from the restored state when metrics.jsonl shows them unfinished (sets
 * t->repaired). */
ykd_status ykd_run_files_repair(ykd_trainer *t, ykd_error *err);

/* Removes temporary files of ours a kill left in the run folder. */
void ykd_run_remove_temps(const ykd_trainer *t);

/* ---- rows (metrics.c) ---- */

/* metrics.jsonl's text for rows (malloc'd; NULL when out of memory). */
char *ykd_metrics_jsonl_text(const ykd_train_row *rows, size_t count);


struct cJSON;
/* A row as a JSON object with metrics.csv's keys (NaN as null), and back. */
struct cJSON *ykd_train_row_json(const ykd_train_row *row);
ykd_status ykd_train_row_parse(const struct cJSON *object, const char *source,
                               const char *const *extra_names, int extra_count,
                               ykd_train_row *row, ykd_error *err);

/* Appends a row to the history. */
ykd_status ykd_trainer_add_row(ykd_trainer *t, const ykd_train_row *row, ykd_error *err);

#endif
