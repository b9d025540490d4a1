/* The trainer: set-up of a run (datasets, model, EMA, optimizer, loss, loaders, schedule) and
 * the epoch loop: training batches (train_step.c), then validation of the EMA model, the
 * epoch's row, and the run's files, each written atomically. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/comm.h"
#include "core/error_internal.h"
#include "core/fs.h"
#include "device/device_internal.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/step_internal.h"
#include "train/train_internal.h"

const char *ykd_run_path(const ykd_trainer *t, const char *name, char *buf)
{
    snprintf(buf, 4096, "%s/%s", t->out, name);
    return buf;
}

/* The option strings become the trainer's own copies. */
static ykd_status own_strings(ykd_trainer *t, ykd_error *err)
{
    const char **fields[] = {&t->o.model, &t->o.weights, &t->o.data, &t->o.out};
    char **copies[] = {&t->model_spec, &t->weights, &t->data, &t->out};
    for (int i = 0; i < 4; i++) {
        if (!*fields[i])
            continue;
        *copies[i] = strdup(*fields[i]);
        if (!*copies[i])
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
        *fields[i] = *copies[i];
    }
    return YKD_OK;
}

ykd_status ykd_trainer_open_data(ykd_trainer *t, ykd_error *err)
{
    ykd_dataset_options d;
    ykd_dataset_options_default(&d);
    d.strict = t->o.strict;
    ykd_status st = ykd_dataset_open(t->o.data, YKD_SPLIT_TRAIN, &d, &t->train_set, err);
    if (st == YKD_OK)
        st = ykd_dataset_open(t->o.data, YKD_SPLIT_VAL, &d, &t->val_set, err);
    if (st != YKD_OK)
        return st;
    if (ykd_dataset_count(t->train_set) == 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "train: %s has no usable training images",
                        t->o.data);
    if (t->o.val && ykd_dataset_count(t->val_set) == 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "train: %s has no usable validation images (validation runs every "
                        "epoch)",
                        t->o.data);
    return YKD_OK;
}

/* The dataset's class names into the model, so its files carry them. */
static ykd_status name_classes(ykd_trainer *t, ykd_model *model, ykd_error *err)
{
    size_t nc = ykd_dataset_class_count(t->train_set);
    const char **names = calloc(nc, sizeof *names);
    if (!names)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
    for (size_t i = 0; i < nc; i++)
        names[i] = ykd_dataset_class_name(t->train_set, i);
    ykd_status st = ykd_model_set_class_names(model, names, (int)nc, err);
    free(names);
    return st;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The model of a new run: the description (classes from the dataset), initialised from the
 * seed, then the weights of --weights, or of the model file itself when it is one. */
static ykd_status make_model(ykd_trainer *t, ykd_error *err)
{
    int nc = (int)ykd_dataset_class_count(t->train_set);
    ykd_model_desc_options o = {NULL, nc};
    ykd_model_desc *desc = NULL;
    ykd_status st = ykd_model_desc_load(t->o.model, &o, &desc, err);
    if (st != YKD_OK)
        return st;
    int stride = ykd_model_desc_max_stride(desc);
    if (ykd_model_desc_classes(desc) != nc)
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "train: model %s has %d classes but dataset %s has %d", t->o.model,
                      ykd_model_desc_classes(desc), t->o.data, nc);
    else if (t->o.imgsz % stride)
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "train: image size %d is not a multiple of the model's stride %d",
                      t->o.imgsz, stride);
    if (st == YKD_OK)
        st = ykd_model_create(t->device, desc, t->o.seed, &t->model, err);
    ykd_model_desc_free(desc);
    const char *weights = t->o.weights ? t->o.weights
                          : ends_with(t->o.model, ".safetensors") ? t->o.model
                                                                  : NULL;
    if (st == YKD_OK && weights)
        st = ykd_model_load_weights(t->model, weights, err);
    if (st == YKD_OK)
        st = name_classes(t, t->model, err);
    return st;
}

/* The EMA and the optimizer around the model (weight decay scaled to the nominal batch). */
static ykd_status make_ema_and_optimizer(ykd_trainer *t, ykd_error *err)
{
    ykd_optimizer_options oo;
    ykd_optimizer_options_default(&oo);
    oo.kind = t->o.optimizer;
    oo.weight_decay = ykd_nominal_weight_decay(t->o.weight_decay, t->o.batch, t->o.nbs);
    oo.max_grad_norm = t->o.max_grad_norm;
    ykd_status st = ykd_ema_init(t->model, t->o.ema_decay, t->o.ema_tau, &t->ema, err);
    if (st == YKD_OK)
        st = ykd_optimizer_init(t->model, &oo, &t->optimizer, err);
    return st;
}

/* A batch's image may hold batch_boxes boxes (four images' with mosaic): refused over the
 * loss's limit, naming the image with the most. */
static ykd_status check_box_limit(const ykd_dataset *set, size_t batch_boxes, ykd_error *err)
{
    size_t most = ykd_dataset_max_boxes(set);
    if (batch_boxes <= YKD_YOLO_MAX_BOXES || most == 0)
        return YKD_OK;
    size_t index = 0, count = 0;
    for (size_t i = 0; i < ykd_dataset_count(set) && count < most; i++)
        if (ykd_dataset_labels(set, i, &count) && count == most)
            index = i;
    size_t factor = batch_boxes / most;
    return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                    "train: %s has %zu boxes (its label file): %s%zu in one training image, over "
                    "the loss's limit of %d boxes per image; images of at most %zu boxes train%s",
                    ykd_dataset_image_path(set, index), most,
                    factor > 1 ? "with mosaic (four images in one) up to " : "", batch_boxes,
                    YKD_YOLO_MAX_BOXES, (size_t)YKD_YOLO_MAX_BOXES / factor,
                    factor > 1 ? " (or --no-augment: no mosaic)" : "");
}

static ykd_status open_loader(ykd_trainer *t, ykd_error *err)
{
    ykd_loader_options lo;
    ykd_loader_options_default(&lo);
    lo.image_size = t->o.imgsz;
    lo.batch_size = t->o.batch;
    lo.workers = t->o.workers;
    lo.seed = t->o.seed;
    lo.augment = t->o.augment;
    lo.aug = t->o.aug;
    lo.epochs = t->o.epochs;
    lo.close_mosaic = t->o.close_mosaic;
    lo.cache_mb = t->o.cache_mb;
    lo.strict = t->o.strict;
    lo.shard = t->rank;
    lo.shards = t->o.ranks;
    ykd_status st = ykd_loader_open(t->train_set, &lo, &t->loader, err);
    if (st == YKD_OK)
        t->batches_per_epoch = (int64_t)ykd_loader_batches_per_epoch(t->loader);
    if (st == YKD_OK && t->batches_per_epoch == 0)
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "train: %s has %zu training images, fewer than the %d ranks (each needs "
                      "one)",
                      t->o.data, ykd_dataset_count(t->train_set), t->o.ranks);
    if (st == YKD_OK)
        st = check_box_limit(t->train_set, ykd_loader_max_boxes(t->loader), err);
    return st;
}

static void make_schedule(ykd_trainer *t)
{
    t->schedule = (ykd_schedule){
        .epochs = t->o.epochs,
        .batches_per_epoch = t->batches_per_epoch,
        .lr0 = t->o.lr0,
        .lrf = t->o.lrf,
        .decay = t->o.decay,
        .momentum = t->o.momentum,
        .warmup_epochs = t->o.warmup_epochs,
        .warmup_momentum = t->o.optimizer == YKD_OPTIMIZER_SGD ? t->o.warmup_momentum
                                                               : t->o.momentum,
        .warmup_bias_lr = t->o.warmup_bias_lr,
        .warmup_min_iters = 100,
        .accumulate = (double)t->o.nbs / t->o.batch,
    };
}

/* With several ranks: the gradient averaging in the step, and synchronised BN in the model. */
static ykd_status join_ranks(ykd_trainer *t, ykd_error *err)
{
    ykd_status st = ykd_dist_open(t->o.sync_bn, &t->dist, err);
    if (st != YKD_OK || !t->dist)
        return st;
    ykd_step_set_dist(t->step, t->dist);
    if (t->o.sync_bn)
        ykd_model_set_bn_sync(t->model, &t->dist->bn_sync);
    return YKD_OK;
}

ykd_status ykd_trainer_open_parts(ykd_trainer *t, ykd_error *err)
{
    int nc = (int)ykd_dataset_class_count(t->train_set);
    ykd_status st = make_ema_and_optimizer(t, err);
    if (st == YKD_OK)
        st = ykd_yolo_loss_init(t->device, nc, NULL, &t->loss, err);
    if (st == YKD_OK)
        st = open_loader(t, err);
    ykd_step_parts parts = {t->model, t->loss, t->optimizer, t->ema};
    int rank_batch = (t->o.batch + t->o.ranks - 1) / t->o.ranks;
    if (st == YKD_OK)
        st = ykd_step_init(&parts, rank_batch, t->o.imgsz, false, &t->step, err);
    if (st == YKD_OK)
        st = join_ranks(t, err);
    if (st == YKD_OK && t->o.val && t->rank == 0) {
        ykd_val_options vo;
        ykd_val_options_default(&vo);
        vo.imgsz = t->o.imgsz;
        vo.batch = t->o.val_batch ? t->o.val_batch : 2 * t->o.batch;
        vo.workers = t->o.workers;
        vo.cache_mb = t->o.cache_mb;
        vo.detect.conf = t->o.val_conf;
        vo.detect.iou = t->o.val_iou;
        st = check_box_limit(t->val_set, ykd_dataset_max_boxes(t->val_set), err);
        if (st == YKD_OK)
            st = ykd_validator_open(t->device, t->val_set, &vo, &t->validator, err);
    }
    make_schedule(t);
    return st;
}

/* Creates the run folder (without a killed run's temporary files); refuses one holding a
 * run's state unless exist_ok. */
static ykd_status prepare_run_folder(ykd_trainer *t, ykd_error *err)
{
    char path[4096];
    struct stat sb;
    if (t->rank != 0)
        return YKD_OK; /* rank 0 writes the run's files */
    if (!t->o.exist_ok && stat(ykd_run_path(t, YKD_RUN_STATE, path), &sb) == 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "train: %s already holds a run (%s): continue it with --resume %s, or "
                        "choose another --out (or --exist-ok to replace it)",
                        t->out, YKD_RUN_STATE, t->out);
    ykd_status st = ykd_mkdir_p(t->out, err);
    if (st == YKD_OK && t->rank == 0)
        ykd_run_remove_temps(t);
    return st;
}

static cJSON *device_json(const ykd_device *device)
{
    const ykd_device_info *info = ykd_device_get_info(device);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", info->index);
    cJSON_AddStringToObject(o, "name", info->name);
    cJSON_AddStringToObject(o, "type", ykd_device_type_name(info->type));
    cJSON_AddStringToObject(o, "platform", info->platform_name);
    cJSON_AddStringToObject(o, "driver_version", info->driver_version);
    return o;
}

ykd_status ykd_trainer_write_args(const ykd_trainer *t, const ykd_device *teacher_device,
                                  ykd_error *err)
{
    char path[4096];
    if (t->rank != 0)
        return YKD_OK;
    char *options = ykd_train_options_json(&t->o);
    cJSON *root = options ? cJSON_Parse(options) : NULL;
    free(options);
    if (root) {
        cJSON_AddItemToObject(root, "device", device_json(t->device));
        if (teacher_device)
            cJSON_AddItemToObject(root, "teacher_device", device_json(teacher_device));
        cJSON *extra = t->extra_key && t->extra_value ? cJSON_Parse(t->extra_value) : NULL;
        if (extra)
            cJSON_AddItemToObject(root, t->extra_key, extra);
    }
    char *json = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!json)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
    const void *parts[] = {json, "\n"};
    size_t sizes[] = {strlen(json), 1};
    ykd_status st = ykd_file_write_atomic(ykd_run_path(t, YKD_RUN_ARGS, path), parts, sizes, 2,
                                          err);
    free(json);
    return st;
}

static ykd_trainer *new_trainer(ykd_device *device, const ykd_train_options *o)
{
    ykd_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->device = device;
    t->o = *o;
    t->rank = ykd_comm_rank();
    t->last_opt_step = -1;
    t->best_fitness = -INFINITY;
    return t;
}

/* "auto" becomes Ultralytics' choice for this run's length; a zero lr0 the optimizer's
 * default. The options then hold what the run really uses (args.json, the state). */
static void resolve_optimizer(ykd_trainer *t)
{
    ykd_train_options *o = &t->o;
    if (o->optimizer == YKD_OPTIMIZER_AUTO) {
        double lr0;
        ykd_optimizer_auto(ykd_dataset_count(t->train_set), o->batch, o->nbs, o->epochs,
                           (int)ykd_dataset_class_count(t->train_set), &o->optimizer, &lr0,
                           &o->momentum, &o->warmup_bias_lr);
        o->lr0 = o->lr0 > 0.0 ? o->lr0 : lr0;
    }
    if (o->lr0 == 0.0)
        o->lr0 = o->optimizer == YKD_OPTIMIZER_SGD ? 0.01 : 0.001;
}

ykd_status ykd_trainer_open(ykd_device *device, const ykd_train_options *options,
                            ykd_trainer **trainer, ykd_error *err)
{
    *trainer = NULL;
    ykd_status st = ykd_train_options_check(options, err);
    if (st != YKD_OK)
        return st;
    ykd_trainer *t = new_trainer(device, options);
    if (!t)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
    t->o.ranks = ykd_comm_size();
    st = own_strings(t, err);
    if (st == YKD_OK && t->o.batch < t->o.ranks)
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "train: --batch %d is the global batch, split over the %d ranks: at "
                      "least one image each",
                      t->o.batch, t->o.ranks);
    if (st == YKD_OK)
        st = prepare_run_folder(t, err);
    if (st == YKD_OK)
        st = ykd_trainer_open_data(t, err);
    if (st == YKD_OK)
        resolve_optimizer(t);
    if (st == YKD_OK)
        st = make_model(t, err);
    if (st == YKD_OK) /* the same start on every rank, whatever its device rounds */
        st = ykd_dist_broadcast_params(t->model, err);
    if (st == YKD_OK)
        st = ykd_trainer_open_parts(t, err);
    if (st == YKD_OK)
        st = ykd_trainer_write_args(t, NULL, err);
    if (st != YKD_OK) {
        ykd_trainer_close(t);
        return st;
    }
    *trainer = t;
    return YKD_OK;
}

/* The model a state file describes, its classes named from the dataset. */
static ykd_status model_from_state(ykd_trainer *t, const char *desc_json, const char *source,
                                   ykd_error *err)
{
    ykd_model_desc *desc = NULL;
    ykd_status st = ykd_model_desc_parse(desc_json, strlen(desc_json), source, NULL, &desc, err);
    if (st == YKD_OK && (size_t)ykd_model_desc_classes(desc) != ykd_dataset_class_count(t->train_set))
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "%s: the run's model has %d classes but dataset %s now has %zu", source,
                      ykd_model_desc_classes(desc), t->o.data,
                      ykd_dataset_class_count(t->train_set));
    if (st == YKD_OK)
        st = ykd_model_create(t->device, desc, t->o.seed, &t->model, err);
    if (st == YKD_OK)
        st = name_classes(t, t->model, err);
    ykd_model_desc_free(desc);
    return st;
}

/* The options and model description a state file holds, and the extra_key's value. */
static ykd_status read_state_options(const char *path, ykd_train_options *o, char **desc,
                                     const char *extra_key, char **extra, ykd_error *err)
{
    ykd_state_file f;
    ykd_status st = ykd_state_open(path, &f, err);
    if (st != YKD_OK)
        return st;
    const char *options = NULL, *model = NULL;
    const char *value = extra_key ? ykd_state_meta(&f, extra_key) : NULL;
    st = ykd_state_meta_required(&f, "options", &options, err);
    if (st == YKD_OK)
        st = ykd_state_meta_required(&f, "yolokd.model", &model, err);
    if (st == YKD_OK)
        st = ykd_train_options_parse(options, path, o, err);
    if (st == YKD_OK && !(*desc = strdup(model)))
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    if (st == YKD_OK && value && !(*extra = strdup(value)))
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    ykd_state_close(&f);
    return st;
}

ykd_status ykd_trainer_reopen(ykd_device *device, const char *run, int workers,
                              const char *extra_key, char **extra_value, ykd_trainer **trainer,
                              ykd_error *err)
{
    *trainer = NULL;
    if (extra_value)
        *extra_value = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", run, YKD_RUN_STATE);
    ykd_train_options o;
    char *desc = NULL;
    ykd_status st = read_state_options(path, &o, &desc, extra_key, extra_value, err);
    if (st != YKD_OK)
        return st;
    free((char *)o.out);
    o.out = run; /* the folder may have moved */
    if (workers >= 0)
        o.workers = workers;
    ykd_trainer *t = new_trainer(device, &o);
    st = t ? own_strings(t, err) : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    o.out = NULL;
    ykd_train_options_free_strings(&o);
    if (st == YKD_OK && (st = ykd_train_options_check(&t->o, err)) != YKD_OK)
        ykd_error_prefix(err, "%s", path);
    if (st == YKD_OK && t->o.ranks != ykd_comm_size())
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "%s: the run trains on %d rank%s (processes); resume it on as many "
                      "(%s), not %d",
                      path, t->o.ranks, t->o.ranks == 1 ? "" : "s",
                      t->o.ranks == 1 ? "without mpirun" : "mpirun -np K with that K",
                      ykd_comm_size());
    if (st == YKD_OK)
        st = ykd_trainer_open_data(t, err);
    if (st == YKD_OK)
        st = model_from_state(t, desc, path, err);
    if (st == YKD_OK)
        st = ykd_trainer_open_parts(t, err);
    free(desc);
    if (st != YKD_OK) {
        ykd_trainer_close(t);
        return st;
    }
    *trainer = t;
    return YKD_OK;
}

ykd_status ykd_trainer_resume(ykd_device *device, const char *run, int workers,
                              ykd_trainer **trainer, ykd_error *err)
{
    ykd_trainer *t = NULL;
    char path[4096];
    ykd_status st = ykd_trainer_reopen(device, run, workers, NULL, NULL, &t, err);
    if (st == YKD_OK)
        st = ykd_trainer_load_state(t, ykd_run_path(t, YKD_RUN_STATE, path), err);
    if (st == YKD_OK)
        st = ykd_trainer_reopen_files(t, path, err);
    if (st != YKD_OK) {
        ykd_trainer_close(t);
        t = NULL;
    }
    *trainer = t;
    return st;
}

ykd_status ykd_trainer_set_extra_state(ykd_trainer *t, const ykd_state_tensor *tensors,
                                       int count, const char *key, const char *value,
                                       ykd_error *err)
{
    if (count < 0 || count > YKD_TRAINER_MAX_EXTRA)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "train: %d extra state tensors (at most "
                                                       "%d)",
                        count, YKD_TRAINER_MAX_EXTRA);
    free(t->extra_key);
    free(t->extra_value);
    t->extra_key = key ? strdup(key) : NULL;
    t->extra_value = value ? strdup(value) : NULL;
    if ((key && !t->extra_key) || (value && !t->extra_value))
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
    memcpy(t->extra, tensors, (size_t)count * sizeof *tensors);
    t->extra_count = count;
    return YKD_OK;
}

ykd_status ykd_trainer_reopen_files(ykd_trainer *t, const char *path, ykd_error *err)
{
    ykd_status st = ykd_dist_check_params(t->model,
                                           "after reading the run's state (every rank reads it: "
                                           "the run folder must hold the same files on every "
                                           "machine)",
                                           err);
    if (st == YKD_OK && t->rank == 0) {
        ykd_run_remove_temps(t);
        st = ykd_run_files_repair(t, err);
    }
    if (st == YKD_OK && t->epoch >= t->o.epochs && !t->repaired)
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                      "%s: the run finished all its %d epochs; nothing to resume (to train on, "
                      "start a new run with --weights %s/%s)",
                      path, t->o.epochs, t->out, YKD_RUN_LAST);
    return st;
}

void ykd_trainer_close(ykd_trainer *t)
{
    if (!t)
        return;
    ykd_step_free(t->step);
    ykd_dist_close(t->dist);
    ykd_loader_close(t->loader);
    ykd_validator_close(t->validator);
    ykd_yolo_loss_free(t->loss);
    ykd_optimizer_free(t->optimizer);
    ykd_ema_free(t->ema);
    ykd_model_free(t->model);
    ykd_dataset_close(t->train_set);
    ykd_dataset_close(t->val_set);
    free(t->rows);
    free(t->extra_key);
    free(t->extra_value);
    free(t->model_spec);
    free(t->weights);
    free(t->data);
    free(t->out);
    free(t);
}

/* The term's parts become columns "train/<name>_loss". */
static ykd_status add_parts(ykd_trainer *t, const ykd_train_loss_term *term, ykd_error *err)
{
    const char *names[YKD_EPOCH_MAX_EXTRA];
    size_t cap = (size_t)(YKD_EPOCH_MAX_EXTRA - t->part_count);
    size_t n = term->parts ? term->parts(term->user, names, NULL, YKD_EPOCH_MAX_EXTRA) : 0;
    if (n > cap)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "train: loss term '%s' has %zu parts; %zu more fit (at most %d in all)",
                        term->name ? term->name : "unnamed", n, cap, YKD_EPOCH_MAX_EXTRA);
    for (size_t i = 0; i < n; i++) {
        int k = t->part_count++;
        snprintf(t->part_names[k], sizeof t->part_names[k], "train/%s_loss", names[i]);
        t->part_columns[k] = t->part_names[k];
    }
    t->terms[t->term_count++] = *term;
    return YKD_OK;
}

ykd_status ykd_trainer_add_loss_term(ykd_trainer *t, const ykd_train_loss_term *term,
                                     ykd_error *err)
{
    if (t->term_count >= YKD_TRAINER_MAX_TERMS)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "train: at most %d extra loss terms",
                        YKD_TRAINER_MAX_TERMS);
    ykd_status st = ykd_step_add_loss_term(t->step, term, err);
    if (st == YKD_OK)
        st = add_parts(t, term, err);
    size_t used = strlen(t->loss_terms);
    if (st == YKD_OK)
        snprintf(t->loss_terms + used, sizeof t->loss_terms - used, "%s%s", used ? "," : "",
                 term->name ? term->name : "unnamed");
    return st;
}

/* ---- the loop ----------------------------------------------------------------------------- */

typedef struct run_ctx {
    ykd_trainer *t;
    ykd_train_callback cb;
    void *user;
    double val_s; /* the last validation's seconds, for the ETA */
} run_ctx;

/* Tells the callback; a false answer stops the run. */
static void emit(run_ctx *c, ykd_train_event *e)
{
    if (e->kind != YKD_TRAIN_EPOCH)
        e->epoch = c->t->epoch;
    e->epochs = c->t->o.epochs;
    if (c->t->rank == 0 && c->cb && !c->cb(e, c->user))
        c->t->stopped = true;
}

static void note(run_ctx *c, const char *message)
{
    ykd_train_event e = {.kind = YKD_TRAIN_NOTE, .message = message};
    emit(c, &e);
}

/* Seconds left: this epoch's remaining batches at its rate so far, then whole epochs (the
 * last one's duration, or this one's estimate) for the rest. */
static double eta(const run_ctx *c, size_t done)
{
    const ykd_trainer *t = c->t;
    double per_batch = done ? t->sums.train_ms / 1000.0 / (double)done : 0.0;
    double rest = per_batch * (double)(t->batches_per_epoch - (int64_t)done) + c->val_s;
    double epoch_s = t->last_epoch_s > 0 ? t->last_epoch_s
                                         : per_batch * (double)t->batches_per_epoch + c->val_s;
    return rest + epoch_s * (t->o.epochs - t->epoch - 1);
}

static void batch_event(run_ctx *c, const ykd_step_result *r)
{
    ykd_trainer *t = c->t;
    const ykd_epoch_sums *s = &t->sums;
    double n = (double)s->batches;
    ykd_train_event e = {.kind = YKD_TRAIN_BATCH,
                         .batch = s->batches,
                         .batches = (size_t)t->batches_per_epoch,
                         .images = r->images,
                         .instances = r->instances,
                         .box = s->box / n,
                         .cls = s->cls / n,
                         .dfl = s->dfl / n,
                         .extra = s->extra / n,
                         .images_per_s = s->train_ms > 0 ? s->images / (s->train_ms / 1000.0) : 0,
                         .eta_s = eta(c, s->batches)};
    emit(c, &e);
}

static void fault_notes(run_ctx *c, const ykd_batch *b)
{
    c->t->sums.load_faults += b->fault_count;
    for (size_t i = 0; i < b->fault_count; i++) {
        char line[1200];
        ykd_fault_format(&b->faults[i], line, sizeof line);
        note(c, line);
    }
}

/* Names where a failure happened and what the run's files still hold. */
static ykd_status step_failed(run_ctx *c, const ykd_batch *b, ykd_status st, ykd_error *err)
{
    ykd_trainer *t = c->t;
    ykd_error_prefix(err, "epoch %d/%d, batch %zu/%lld", t->epoch + 1, t->o.epochs, b->index + 1,
                     (long long)t->batches_per_epoch);
    if (st != YKD_ERR_NOT_FINITE)
        return st;
    if (t->epoch > 0)
        ykd_error_append(err, "; training stopped: %s/%s and %s/%s still hold epoch %d", t->out,
                         YKD_RUN_LAST, t->out, YKD_RUN_STATE, t->epoch);
    else
        ykd_error_append(err, "; training stopped before the first epoch ended: nothing saved");
    return st;
}

/* The step's figures into the epoch's sums: with several ranks, the loss terms' parts as the
 * global batch's means (the step made the losses the global batch's already). */
static ykd_status add_to_sums(ykd_trainer *t, const ykd_step_result *r,
                              ykd_error *err)
{
    ykd_epoch_sums *s = &t->sums;
    s->box += r->loss.box, s->cls += r->loss.cls, s->dfl += r->loss.dfl;
    s->extra += r->extra;
    double parts[YKD_EPOCH_MAX_EXTRA] = {0};
    int k = 0;
    for (int i = 0; i < t->term_count; i++) {
        const ykd_train_loss_term *term = &t->terms[i];
        const char *names[YKD_EPOCH_MAX_EXTRA];
        double values[YKD_EPOCH_MAX_EXTRA];
        size_t n = term->parts ? term->parts(term->user, names, values, YKD_EPOCH_MAX_EXTRA) : 0;
        for (size_t j = 0; j < n && k < t->part_count; j++)
            parts[k++] = values[j];
    }
    ykd_status st = t->dist && k > 0
                        ? ykd_dist_weighted_sum(t->dist, parts, (size_t)k, err)
                        : YKD_OK;
    for (int i = 0; i < k; i++)
        s->parts[i] += parts[i];
    s->batches++;
    s->images += (double)r->images;
    s->train_ms = ykd_now_ms() - s->start_ms;
    return st;
}

/* A batch through the step, with the schedule's LRs; the optimizer steps once accumulate
 * batches have passed since its last step (Ultralytics: ni - last_opt_step >= accumulate). */
static ykd_status train_batch(ykd_trainer *t, const ykd_batch *b, ykd_step_result *r,
                              ykd_error *err)
{
    int64_t ni = (int64_t)t->epoch * t->batches_per_epoch + (int64_t)b->index;
    ykd_schedule_point p;
    ykd_schedule_at(&t->schedule, t->epoch, ni, &p);
    memcpy(t->last_lr, p.lr, sizeof t->last_lr);
    bool optimize = ni - t->last_opt_step >= p.accumulate;
    ykd_status st = ykd_step_run(t->step, b, &p, optimize, r, err);
    if (st == YKD_OK && optimize)
        t->last_opt_step = ni;
    if (st == YKD_OK)
        st = add_to_sums(t, r, err);
    return st;
}

/* A stop rank 0's callback asked for is every rank's, at the same batch. */
static ykd_status agree_to_stop(ykd_trainer *t, ykd_error *err)
{
    int stop = t->stopped;
    ykd_status st = ykd_comm_allreduce_max(&stop, err);
    t->stopped = stop != 0;
    return st;
}

static ykd_status run_epoch(run_ctx *c, ykd_error *err)
{
    ykd_trainer *t = c->t;
    memset(&t->sums, 0, sizeof t->sums);
    t->sums.start_ms = ykd_now_ms();
    ykd_status st = ykd_loader_start_epoch(t->loader, t->epoch, err);
    while (st == YKD_OK && !t->stopped) {
        ykd_batch *b = NULL;
        ykd_step_result r;
        st = ykd_loader_next(t->loader, &b, err);
        if (st != YKD_OK || !b)
            break;
        fault_notes(c, b);
        if (b->count == 0 && t->dist) /* the others wait for this rank's gradients */
            st = ykd_fail(err, YKD_ERR_IO,
                          "rank %d: every image of its part of batch %zu failed to load (the "
                          "notes above name them)",
                          t->rank, b->index + 1);
        if (st == YKD_OK && b->count > 0) {
            st = train_batch(t, b, &r, err);
            if (st != YKD_OK)
                st = step_failed(c, b, st, err);
        }
        if (st == YKD_OK && b->count > 0)
            batch_event(c, &r);
        ykd_loader_release(t->loader, b);
        if (st == YKD_OK && t->dist)
            st = agree_to_stop(t, err);
    }
    return st;
}

static bool val_progress(size_t done, size_t total, void *user)
{
    run_ctx *c = user;
    ykd_train_event e = {.kind = YKD_TRAIN_VAL_BATCH, .batch = done, .batches = total};
    emit(c, &e); /* a stop asked here takes effect once the epoch is saved */
    return true;
}

/* The epoch's row from its sums and the validation. */
static void make_row(const ykd_trainer *t, const ykd_val_result *v, double epoch_ms,
                     ykd_train_row *row)
{
    const ykd_epoch_sums *s = &t->sums;
    double n = s->batches ? (double)s->batches : NAN;
    memset(row, 0, sizeof *row);
    row->m = (ykd_epoch_metrics){t->epoch + 1, s->box / n, s->cls / n, s->dfl / n, NAN, NAN, NAN,
                                 NAN, NAN, NAN, NAN, t->part_count, {0}, t->part_columns};
    for (int i = 0; i < t->part_count; i++)
        row->m.extra[i] = s->parts[i] / n;
    if (v) {
        row->m.val_box = v->box, row->m.val_cls = v->cls, row->m.val_dfl = v->dfl;
        row->m.precision = v->eval.precision, row->m.recall = v->eval.recall;
        row->m.map50 = v->eval.map50, row->m.map50_95 = v->eval.map50_95;
    }
    memcpy(row->lr, t->last_lr, sizeof row->lr);
    row->fitness = v ? v->fitness : NAN;
    row->images_per_s = s->train_ms > 0 ? s->images / (s->train_ms / 1000.0) : 0.0;
    row->seconds = epoch_ms / 1000.0;
    const ykd_report *r = ykd_dataset_report(t->train_set);
    row->left_out = r->images_skipped + r->lines_skipped + s->load_faults;
}

/* The epoch's state (the commit), then the files that follow from it (run_files.c); best
 * when this epoch is the best so far, or always without validation. */
static ykd_status save_epoch(ykd_trainer *t, const ykd_train_row *row, bool *best,
                             ykd_error *err)
{
    *best = !t->o.val || t->best_epoch == 0 || row->fitness > t->best_fitness;
    if (*best) {
        t->best_fitness = t->o.val ? row->fitness : t->best_fitness;
        t->best_epoch = t->epoch + 1;
    }
    t->epoch++;
    ykd_status st = ykd_trainer_save_state(t, err);
    if (st == YKD_OK)
        st = ykd_run_files_write(t, *best, err);
    return st;
}

static ykd_status finish_epoch(run_ctx *c, ykd_error *err)
{
    ykd_trainer *t = c->t;
    if (t->rank != 0) { /* rank 0 validates and writes the epoch's files */
        t->epoch++;
        return YKD_OK;
    }
    ykd_val_result v;
    bool validated = false, best = false;
    ykd_status st = YKD_OK;
    if (t->o.val) {
        st = ykd_validator_run(t->validator, ykd_ema_model(t->ema), val_progress, c, &v, err);
        validated = st == YKD_OK;
        c->val_s = validated ? v.seconds : c->val_s;
    }
    ykd_train_row row;
    make_row(t, validated ? &v : NULL, ykd_now_ms() - t->sums.start_ms, &row);
    if (validated)
        ykd_val_result_free(&v);
    if (st == YKD_OK)
        st = ykd_trainer_add_row(t, &row, err);
    if (st == YKD_OK)
        st = save_epoch(t, &row, &best, err);
    t->last_epoch_s = row.seconds;
    if (st == YKD_OK && best && t->o.val && t->row_count > 1)
        note(c, "new best fitness: saved best.safetensors");
    if (st == YKD_OK) {
        /* the event names the epoch just finished */
        ykd_train_event e = {.kind = YKD_TRAIN_EPOCH, .epoch = t->epoch - 1,
                             .row = &t->rows[t->row_count - 1]};
        emit(c, &e);
    }
    return st;
}

/* Every fault the datasets' reading found, once, as check-data names them, and their count. */
static void data_notes(run_ctx *c)
{
    ykd_trainer *t = c->t;
    if (t->data_named)
        return;
    t->data_named = true;
    const ykd_report *r[2] = {ykd_dataset_report(t->train_set), ykd_dataset_report(t->val_set)};
    char line[2100];
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < r[s]->fault_count; i++) {
            ykd_fault_format(&r[s]->faults[i], line, sizeof line - 16);
            char message[2200];
            snprintf(message, sizeof message, "warning: %s", line);
            note(c, message);
        }
    if (r[0]->fault_count + r[1]->fault_count == 0)
        return;
    snprintf(line, sizeof line,
             "%s: %zu faults: %zu training and %zu validation images, %zu label lines left out "
             "(--strict stops at the first)",
             t->o.data, r[0]->fault_count + r[1]->fault_count, r[0]->images_skipped,
             r[1]->images_skipped, r[0]->lines_skipped + r[1]->lines_skipped);
    note(c, line);
}

static void start_event(run_ctx *c)
{
    ykd_trainer *t = c->t;
    char message[1024], ranks[160] = "";
    if (t->o.ranks > 1)
        snprintf(ranks, sizeof ranks,
                 " on %d ranks (about %d images each; BN statistics over %s)", t->o.ranks,
                 t->o.batch / t->o.ranks, t->o.sync_bn ? "every rank's images" : "each rank's own");
    snprintf(message, sizeof message,
             "%s %s: %zu training and %zu validation images, %d classes, %lld batches of %d "
             "at %d%s, %s lr0 %g, gradients accumulated over %d batches; epoch %d of %d",
             t->epoch > 0 ? "resuming" : "training", ykd_model_desc_name(ykd_model_get_desc(t->model)),
             ykd_dataset_count(t->train_set), ykd_dataset_count(t->val_set),
             ykd_model_classes(t->model), (long long)t->batches_per_epoch, t->o.batch, t->o.imgsz,
             ranks, ykd_optimizer_kind_name(t->o.optimizer), t->o.lr0,
             ykd_nominal_accumulate(t->o.batch, t->o.nbs), t->epoch + 1, t->o.epochs);
    ykd_train_event e = {.kind = YKD_TRAIN_START, .message = message};
    emit(c, &e);
}

/* With several ranks: how the gradients' all-reduce went, per optimizer step. */
static void overlap_note(run_ctx *c)
{
    const ykd_dist_overlap_stats *o = ykd_dist_overlap(c->t->dist);
    if (!o || o->steps < 1)
        return;
    char message[320];
    double steps = (double)o->steps;
    if (o->overlap)
        snprintf(message, sizeof message,
                 "gradient all-reduce over %d ranks: %zu buckets of at most %zu KiB per step, "
                 "%.2f of them read as the backward made them final and %.2f reduced while it "
                 "still ran (per step)",
                 c->t->dist->ranks, o->buckets, o->bucket_bytes / 1024,
                 (double)o->read_in_backward / steps, (double)o->reduced_in_backward / steps);
    else
        snprintf(message, sizeof message,
                 "gradient all-reduce over %d ranks: %zu buckets of at most %zu KiB per step, "
                 "after the backward (YOLOKD_ALLREDUCE_OVERLAP=0)",
                 c->t->dist->ranks, o->buckets, o->bucket_bytes / 1024);
    note(c, message);
}

ykd_status ykd_trainer_run(ykd_trainer *t, ykd_train_callback cb, void *user, ykd_error *err)
{
    run_ctx c = {t, cb, user, 0.0};
    t->stopped = false;
    if (t->repaired) {
        char message[256];
        snprintf(message, sizeof message,
                 "the files of epoch %d were unfinished (the run was stopped while writing "
                 "them): written again from the state",
                 t->epoch);
        note(&c, message);
        t->repaired = false;
    }
    if (t->epoch < t->o.epochs) {
        data_notes(&c);
        start_event(&c);
    }
    ykd_status st = YKD_OK;
    while (st == YKD_OK && t->epoch < t->o.epochs && !t->stopped) {
        st = run_epoch(&c, err);
        if (st == YKD_OK && !t->stopped)
            st = finish_epoch(&c, err);
        if (st == YKD_OK && t->dist) /* a stop asked during rank 0's validation */
            st = agree_to_stop(t, err);
    }
    if (st == YKD_OK && t->dist)
        overlap_note(&c);
    if (st == YKD_OK)
        ykd_run_remove_temps(t);
    return st;
}

const ykd_train_options *ykd_trainer_options(const ykd_trainer *t)
{
    return &t->o;
}

ykd_model *ykd_trainer_model(const ykd_trainer *t)
{
    return t->model;
}

ykd_model *ykd_trainer_ema_model(const ykd_trainer *t)
{
    return ykd_ema_model(t->ema);
}

int ykd_trainer_epoch(const ykd_trainer *t)
{
    return t->epoch;
}

int64_t ykd_trainer_batches_per_epoch(const ykd_trainer *t)
{
    return t->batches_per_epoch;
}

const ykd_dataset *ykd_trainer_train_set(const ykd_trainer *t)
{
    return t->train_set;
}

const ykd_optimizer *ykd_trainer_optimizer(const ykd_trainer *t)
{
    return t->optimizer;
}

bool ykd_trainer_stopped(const ykd_trainer *t)
{
    return t->stopped;
}

const ykd_train_row *ykd_trainer_rows(const ykd_trainer *t, size_t *count)
{
    *count = t->row_count;
    return t->rows;
}

double ykd_trainer_best_fitness(const ykd_trainer *t)
{
    return t->best_fitness;
}
