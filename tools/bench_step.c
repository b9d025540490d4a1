/* yolokd bench step: a whole training step (images to the device, forward, the detection loss
 * and its gradients, backward, SGD step, EMA update) of a YOLOv8 model on pre-made batches (no
 * loader), per device, model and image size. Wall milliseconds per step, the median of several
 * after warm-up steps (the first steps also measure new GEMM shapes for the tuner), the share
 * of each phase, and optionally where the device time goes per kernel; or the inference forward
 * alone (--forward). tools/bench-torch runs PyTorch on the same shapes beside it, in one run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench.h"
#include "core/error_internal.h"
#include "core/rng.h"
#include "device/device_internal.h"
#include "yolokd/ops.h"
#include "train/kd_term.h"
#include "yolokd/train.h"

enum { MAX_ITEMS = 8, MAX_RUNS = 64, BOXES = 8, PROFILE_KERNELS = 40 };

typedef struct step_args {
    const char *devices, *models, *sizes, *teacher, *pairs;
    long long batch, nc, runs, warmup;
    double max_time; /* seconds of steps per configuration before the runs are cut short */
    bool profile, json, forward;
    char pair_list[MAX_ITEMS][2][64]; /* teacher spec, student spec */
    int pair_count;
    char device_list[MAX_ITEMS][64];
    int device_count;
    char model_list[MAX_ITEMS][8];
    int model_count;
    int size_list[MAX_ITEMS], size_count;
} step_args;

static void print_help(FILE *f)
{
    fprintf(f,
            "usage: yolokd bench step [--devices all|SPEC,...] [--models n,s] [--imgsz 160,320]\n"
            "                         [--batch 8] [--nc 10] [--runs 5] [--warmup 2] [--profile]\n"
            "                         [--forward] [--json]\n"
            "\n"
            "Times whole training steps (forward, detection loss, backward, SGD with Nesterov\n"
            "momentum and weight decay, EMA) on random images with 8 random boxes each: the\n"
            "median wall time of --runs steps after --warmup steps, run as training runs them\n"
            "(the device waited for at the end of each step only), images/s, and the median\n"
            "time of each phase over 3 more steps that wait for the device after each phase.\n"
            "The first step on new shapes also runs the GEMM tuner (its choices are cached).\n"
            "tools/bench-torch times PyTorch on the same shapes beside this, in one run.\n"
            "\n"
            "  --devices   'all', or device specs separated by commas (default: --device)\n"
            "  --models    built-in scales or .json descriptions (default n,s)\n"
            "  --imgsz     image sizes (default 160,320)\n"
            "  --batch     images per step (default 8)\n"
            "  --nc        classes (default 10)\n"
            "  --runs      timed steps (default 5)\n"
            "  --warmup    untimed steps first (default 2)\n"
            "  --max-time  seconds per configuration (default 120): after it, no more warm-up\n"
            "              steps, and no timed step after the first; the table says so\n"
            "  --profile   also the device time per kernel (the 12 largest)\n"
            "  --forward   the inference forward instead (BN folded, as a teacher runs):\n"
            "              median wall time from the images' upload to a finished queue\n"
            "  --teacher T distillation steps instead, with teacher T (a scale or a .json):\n"
            "              the teacher's forward, the student's step alone, the student's\n"
            "              step with the default KD losses (teacher on its own thread), the\n"
            "              same without the overlap, and the overlap's gain\n"
            "  --pairs P   TEACHER:STUDENT device specs, comma-separated (default: each of\n"
            "              --devices with itself, as two contexts)\n"
            "  --json      the figures as JSON (one object per row)\n");
}

/* "a,b,c" into items of size bytes each; false when empty or too many. */
static bool split_list(const char *text, char *items, size_t size, int *count)
{
    *count = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= size || *count >= MAX_ITEMS)
            return false;
        snprintf(items + (size_t)*count * size, size, "%.*s", (int)n, p);
        (*count)++;
        p += n + (p[n] == ',');
    }
    return *count > 0;
}

static bool parse_lists(step_args *a)
{
    char sizes[MAX_ITEMS][16];
    bool ok = split_list(a->models, &a->model_list[0][0], sizeof a->model_list[0], &a->model_count)
              && split_list(a->sizes, &sizes[0][0], sizeof sizes[0], &a->size_count);
    for (int i = 0; ok && i < a->size_count; i++) {
        a->size_list[i] = atoi(sizes[i]);
        ok = a->size_list[i] >= 32 && a->size_list[i] % 32 == 0;
    }
    if (!ok)
        return false;
    if (strcmp(a->devices, "all") != 0)
        return split_list(a->devices, &a->device_list[0][0], sizeof a->device_list[0],
                          &a->device_count);
    ykd_device_info *list = NULL;
    size_t count = 0;
    if (ykd_device_list(&list, &count, NULL) != YKD_OK)
        return false;
    for (size_t i = 0; i < count && a->device_count < MAX_ITEMS; i++)
        snprintf(a->device_list[a->device_count++], sizeof a->device_list[0], "%zu", i);
    ykd_device_list_free(list);
    return a->device_count > 0;
}

/* --pairs T:S,...: each pair split at the colon that leaves two valid halves (specs may hold
 * a colon themselves: "gpu:1:gpu:0"); default: every device with itself. */
static bool parse_pairs(step_args *a)
{
    char items[MAX_ITEMS][64];
    int count = 0;
    if (!a->pairs) {
        for (int d = 0; d < a->device_count; d++) {
            snprintf(a->pair_list[d][0], 64, "%s", a->device_list[d]);
            snprintf(a->pair_list[d][1], 64, "%s", a->device_list[d]);
        }
        a->pair_count = a->device_count;
        return a->pair_count > 0;
    }
    if (!split_list(a->pairs, &items[0][0], sizeof items[0], &count))
        return false;
    for (int i = 0; i < count; i++) {
        /* the middle colon: the halves have equal numbers of colons */
        int colons = 0, seen = 0;
        for (const char *c = items[i]; *c; c++)
            colons += *c == ':';
        if (colons % 2 == 0)
            return false;
        char *split = items[i];
        while (*split && (*split != ':' || seen++ != colons / 2))
            split++;
        *split = '\0';
        snprintf(a->pair_list[i][0], 64, "%.63s", items[i]);
        snprintf(a->pair_list[i][1], 64, "%.63s", split + 1);
        if (!a->pair_list[i][0][0] || !a->pair_list[i][1][0])
            return false;
    }
    a->pair_count = count;
    return true;
}

static int parse_args(int argc, char **argv, ykd_cli_globals *g, ykd_cli_io *io, step_args *a)
{
    const ykd_cli_opt opts[] = {
        {"--devices", YKD_OPT_STRING, &a->devices, 0, 0},
        {"--models", YKD_OPT_STRING, &a->models, 0, 0},
        {"--imgsz", YKD_OPT_STRING, &a->sizes, 0, 0},
        {"--batch", YKD_OPT_INT, &a->batch, 1, 256},
        {"--nc", YKD_OPT_INT, &a->nc, 1, 1000},
        {"--runs", YKD_OPT_INT, &a->runs, 1, MAX_RUNS},
        {"--warmup", YKD_OPT_INT, &a->warmup, 0, 100},
        {"--max-time", YKD_OPT_DOUBLE, &a->max_time, 0.001, 86400},
        {"--profile", YKD_OPT_FLAG, &a->profile, 0, 0},
        {"--forward", YKD_OPT_FLAG, &a->forward, 0, 0},
        {"--teacher", YKD_OPT_STRING, &a->teacher, 0, 0},
        {"--pairs", YKD_OPT_STRING, &a->pairs, 0, 0},
        {"--json", YKD_OPT_FLAG, &a->json, 0, 0},
    };
    int code = YKD_CLI_PARSE_OPTIONS(argc, argv, io, "bench step", opts, print_help);
    if (code >= 0)
        return code;
    if (!a->devices)
        a->devices = g->device ? g->device : "auto";
    if (!parse_lists(a))
        return ykd_cli_usage_error(io, "bench step",
                                   "bad list: --models n,s; --imgsz multiples of 32 like "
                                   "160,320; --devices all or specs");
    if (a->forward && a->teacher)
        return ykd_cli_usage_error(io, "bench step",
                                   "--forward times the inference forward alone: not with "
                                   "--teacher");
    if (a->teacher && !parse_pairs(a))
        return ykd_cli_usage_error(io, "bench step",
                                   "bad --pairs: TEACHER:STUDENT device specs separated by "
                                   "commas, like 0:0,gpu:1:gpu:0");
    return -1;
}

/* A batch as the loader makes them: noise images, BOXES random boxes per image. */
static bool make_batch(int batch, int size, int nc, ykd_batch *b)
{
    memset(b, 0, sizeof *b);
    size_t pixels = (size_t)batch * 3 * size * size;
    b->count = (size_t)batch, b->size = size, b->max_boxes = BOXES;
    b->images = malloc(pixels * sizeof *b->images);
    b->labels = calloc((size_t)batch * BOXES * 5, sizeof *b->labels);
    b->box_counts = calloc((size_t)batch, sizeof *b->box_counts);
    if (!b->images || !b->labels || !b->box_counts)
        return false;
    ykd_rng rng; /* the same batch every run */
    ykd_rng_seed(&rng, 12345);
    for (size_t i = 0; i < pixels; i++)
        b->images[i] = (float)ykd_rng_unit(&rng);
    for (int k = 0; k < batch * BOXES; k++) {
        float *row = b->labels + 5 * k;
        row[0] = (float)ykd_rng_below(&rng, (uint64_t)nc);
        row[3] = (float)ykd_rng_uniform(&rng, 0.05, 0.5);
        row[4] = (float)ykd_rng_uniform(&rng, 0.05, 0.5);
        row[1] = (float)ykd_rng_uniform(&rng, row[3] / 2, 1 - row[3] / 2);
        row[2] = (float)ykd_rng_uniform(&rng, row[4] / 2, 1 - row[4] / 2);
    }
    for (int i = 0; i < batch; i++)
        b->box_counts[i] = BOXES;
    return true;
}

static void free_batch(ykd_batch *b)
{
    free(b->images);
    free(b->labels);
    free(b->box_counts);
}

typedef struct step_bench {
    ykd_model *model;
    ykd_yolo_loss *loss;
    ykd_optimizer *optimizer;
    ykd_ema *ema;
    ykd_step *step;
} step_bench;

static void free_bench(step_bench *s)
{
    ykd_step_free(s->step);
    ykd_ema_free(s->ema);
    ykd_optimizer_free(s->optimizer);
    ykd_yolo_loss_free(s->loss);
    ykd_model_free(s->model);
}

static ykd_status make_bench(ykd_device *dev, const char *model, int nc, int batch, int size,
                             step_bench *s, ykd_error *err)
{
    memset(s, 0, sizeof *s);
    ykd_model_desc_options o = {NULL, nc};
    ykd_model_desc *desc = NULL;
    ykd_optimizer_options oo;
    ykd_optimizer_options_default(&oo);
    oo.weight_decay = ykd_nominal_weight_decay(5e-4, batch, 64);
    ykd_status st = ykd_model_desc_load(model, &o, &desc, err);
    if (st == YKD_OK)
        st = ykd_model_create(dev, desc, 0, &s->model, err);
    ykd_model_desc_free(desc);
    if (st == YKD_OK)
        st = ykd_yolo_loss_init(dev, nc, NULL, &s->loss, err);
    if (st == YKD_OK)
        st = ykd_optimizer_init(s->model, &oo, &s->optimizer, err);
    if (st == YKD_OK)
        st = ykd_ema_init(s->model, 0.9999, 2000.0, &s->ema, err);
    ykd_step_parts parts = {s->model, s->loss, s->optimizer, s->ema};
    if (st == YKD_OK)
        st = ykd_step_init(&parts, batch, size, true, &s->step, err);
    return st;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of each phase and of the whole step over the timed runs (count of them). */
typedef struct step_times {
    double total[MAX_RUNS], phase[5][MAX_RUNS];
    int count;
    int phased;   /* steps timed phase by phase, after the timed ones */
    int profiled; /* steps in the kernel profile: the timed ones, or one step apart */
} step_times;

enum { PHASED_STEPS = 3 };

/* The next run of a loop of warm-ups (r < 0) and timed runs, or `runs` to stop: once
 * --max-time has passed, the remaining warm-ups are skipped (at least one ran, for the
 * compiling and tuning) and no timed run follows the first. */
static int next_run(int r, const step_args *a, double started_ms)
{
    bool late = ykd_now_ms() - started_ms > a->max_time * 1000;
    if (late && r < 0)
        return 0;
    if (late && r >= 0)
        return (int)a->runs;
    return r + 1;
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return v[n / 2];
}

/* count steps timed phase by phase (each phase waited for); the step's timing off after. */
static ykd_status time_phases(step_bench *s, const ykd_batch *b, const ykd_schedule_point *p,
                              int count, step_times *t, ykd_error *err)
{
    ykd_status st = YKD_OK;
    ykd_step_result res;
    ykd_step_set_timing(s->step, true);
    for (t->phased = 0; t->phased < count && st == YKD_OK; t->phased++) {
        st = ykd_step_run(s->step, b, p, true, &res, err);
        double phases[5] = {res.upload_ms, res.forward_ms, res.loss_ms, res.backward_ms,
                            res.optimizer_ms};
        for (int k = 0; k < 5; k++)
            t->phase[k][t->phased] = phases[k];
    }
    ykd_step_set_timing(s->step, false);
    return st;
}

static ykd_status time_steps(step_bench *s, const ykd_batch *b, const step_args *a,
                             step_times *t, ykd_error *err)
{
    ykd_schedule_point p = {{0.01, 0.01, 0.01}, 0.937, 1};
    ykd_device *dev = ykd_model_device(s->model);
    bool alongside = true;
    ykd_status st = a->profile ? ykd_bench_profile_alongside(dev, &alongside, err) : YKD_OK;
    bool apart = a->profile && !alongside; /* the profile gets a step of its own */
    double started = ykd_now_ms();
    t->count = t->phased = 0;
    ykd_step_set_timing(s->step, false);
    ykd_step_result res;
    /* the timed steps run as training runs them, the device never waited for inside a step;
     * the phases come from a few steps before them that wait for it after each phase */
    for (int r = -(int)a->warmup; r < a->runs && st == YKD_OK; r = next_run(r, a, started)) {
        if (r == 0)
            st = time_phases(s, b, &p, a->runs < PHASED_STEPS ? a->runs : PHASED_STEPS, t, err);
        if (r == 0 && a->profile && !apart && st == YKD_OK)
            st = ykd_device_profile(dev, true, err);
        double t0 = ykd_now_ms();
        if (st == YKD_OK)
            st = ykd_step_run(s->step, b, &p, true, &res, err);
        if (st == YKD_OK)
            st = ykd_device_finish(dev, err);
        if (r < 0 || st != YKD_OK)
            continue;
        t->total[r] = ykd_now_ms() - t0;
        t->count = r + 1;
    }
    t->profiled = apart ? 1 : t->count;
    if (apart && st == YKD_OK)
        st = ykd_device_profile(dev, true, err);
    if (apart && st == YKD_OK)
        st = ykd_step_run(s->step, b, &p, true, &res, err);
    return st;
}

static void print_profile(ykd_device *dev, int runs, FILE *out)
{
    ykd_kernel_time kernels[256];
    size_t n = ykd_device_profile_take(dev, kernels, 256);
    ykd_device_profile(dev, false, NULL);
    double total = 0.0;
    unsigned launches = 0;
    for (size_t i = 0; i < n; i++) {
        total += kernels[i].ms;
        launches += kernels[i].launches;
    }
    fprintf(out, "      device time per step %.1f ms in %u launches:", total / runs,
            launches / (runs > 0 ? runs : 1));
    for (size_t i = 0; i < n && i < PROFILE_KERNELS; i++)
        fprintf(out, "%s %s %.1f (%.0f%%)", i ? "," : "", kernels[i].name, kernels[i].ms / runs,
                100.0 * kernels[i].ms / (total > 0 ? total : 1));
    fprintf(out, "\n");
}

/* One row of the table, or one JSON object (json not NULL), for `bench step` alone. */
/* A JSON row's common fields: what was timed, and where. */
static cJSON *json_row(const ykd_device *dev, const char *model, int size, const step_args *a)
{
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "device", ykd_device_get_info(dev)->name);
    cJSON_AddStringToObject(row, "model", model);
    cJSON_AddNumberToObject(row, "imgsz", size);
    cJSON_AddNumberToObject(row, "batch", (double)a->batch);
    cJSON_AddNumberToObject(row, "nc", (double)a->nc);
    return row;
}

static void report_step(const ykd_device *dev, const char *model, int size, const step_args *a,
                        step_times *t, FILE *out, cJSON *json)
{
    int n = t->count;
    double ms = median_of(t->total, n), phases[5];
    for (int k = 0; k < 5; k++)
        phases[k] = t->phased > 0 ? median_of(t->phase[k], t->phased) : 0.0;
    if (json) {
        static const char *const names[5] = {"upload_ms", "forward_ms", "loss_ms", "backward_ms",
                                             "optimizer_ms"};
        cJSON *o = json_row(dev, model, size, a);
        cJSON_AddNumberToObject(o, "timed", n);
        cJSON_AddNumberToObject(o, "step_ms", ms);
        cJSON_AddNumberToObject(o, "images_per_s", (double)a->batch * 1000.0 / ms);
        for (int k = 0; k < 5; k++)
            cJSON_AddNumberToObject(o, names[k], phases[k]);
        cJSON_AddItemToArray(json, o);
        return;
    }
    fprintf(out, "%-6s %5d %5lld %9.1f %8.1f %6.1f %7.1f %6.1f %8.1f %6.1f\n", model, size,
            a->batch, ms, (double)a->batch * 1000.0 / ms, phases[0], phases[1], phases[2],
            phases[3], phases[4]);
    if (n < a->runs)
        fprintf(out, "      (%d timed steps of %lld: --max-time %g s passed)\n", n, a->runs,
                a->max_time);
}

static ykd_status bench_one(ykd_device *dev, const char *model, int size, const step_args *a,
                            FILE *out, cJSON *json, ykd_error *err)
{
    step_bench s = {NULL, NULL, NULL, NULL, NULL};
    ykd_batch b;
    step_times t;
    int batch = (int)a->batch, nc = (int)a->nc;
    ykd_status st = make_batch(batch, size, nc, &b)
                        ? make_bench(dev, model, nc, batch, size, &s, err)
                        : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "bench step: out of host memory");
    if (st == YKD_OK)
        st = time_steps(&s, &b, a, &t, err);
    if (st == YKD_OK) {
        report_step(dev, model, size, a, &t, out, json);
        if (a->profile)
            print_profile(dev, t.profiled, out);
    }
    free_batch(&b);
    free_bench(&s);
    return st;
}

/* ---- distillation steps: the teacher on one device, the student on another ---------------- */

/* The teacher's inference forward of the batch on its device: median milliseconds. */
static ykd_status time_teacher(ykd_model *teacher, const ykd_batch *b, const step_args *a,
                               double *ms, ykd_error *err)
{
    ykd_device *dev = ykd_model_device(teacher);
    ykd_tensor images;
    double times[MAX_RUNS], started = ykd_now_ms();
    int timed = 0;
    ykd_status st = ykd_tensor_alloc(dev, (int)b->count, 3, b->size, b->size, &images, err);
    for (int r = -(int)a->warmup; r < a->runs && st == YKD_OK; r = next_run(r, a, started)) {
        double t0 = ykd_now_ms();
        st = ykd_tensor_write(&images, b->images, err);
        if (st == YKD_OK)
            st = ykd_model_forward(teacher, &images, YKD_MODEL_INFERENCE, err);
        if (st == YKD_OK)
            st = ykd_device_finish(dev, err);
        if (r >= 0)
            times[timed++] = ykd_now_ms() - t0;
    }
    ykd_tensor_free(&images);
    if (st == YKD_OK)
        *ms = median_of(times, timed);
    return st;
}

/* One more forward with the kernel profile on, apart from the timed ones (a profile on an
 * unreliable-event device serialises the launches). */
static ykd_status profile_forward(ykd_model *m, const ykd_batch *b, ykd_error *err)
{
    ykd_device *dev = ykd_model_device(m);
    ykd_tensor images;
    ykd_status st = ykd_tensor_alloc(dev, (int)b->count, 3, b->size, b->size, &images, err);
    if (st == YKD_OK)
        st = ykd_tensor_write(&images, b->images, err);
    if (st == YKD_OK)
        st = ykd_device_profile(dev, true, err);
    if (st == YKD_OK)
        st = ykd_model_forward(m, &images, YKD_MODEL_INFERENCE, err);
    if (st == YKD_OK)
        st = ykd_device_finish(dev, err);
    ykd_tensor_free(&images);
    return st;
}

/* --forward: the inference forward of a model alone, as the teacher runs it. */
static ykd_status bench_forward_one(ykd_device *dev, const char *model, int size,
                                    const step_args *a, FILE *out, cJSON *json, ykd_error *err)
{
    ykd_batch b;
    ykd_model_desc_options o = {NULL, (int)a->nc};
    ykd_model_desc *desc = NULL;
    ykd_model *m = NULL;
    double ms = 0.0;
    ykd_status st = make_batch((int)a->batch, size, (int)a->nc, &b)
                        ? ykd_model_desc_load(model, &o, &desc, err)
                        : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "bench step: out of host memory");
    if (st == YKD_OK)
        st = ykd_model_create(dev, desc, 1, &m, err);
    if (st == YKD_OK)
        st = time_teacher(m, &b, a, &ms, err);
    if (st == YKD_OK && a->profile)
        st = profile_forward(m, &b, err);
    double images_per_s = (double)a->batch * 1000.0 / ms;
    if (st == YKD_OK && json) {
        cJSON *row = json_row(dev, model, size, a);
        cJSON_AddNumberToObject(row, "forward_ms", ms);
        cJSON_AddNumberToObject(row, "images_per_s", images_per_s);
        cJSON_AddItemToArray(json, row);
    } else if (st == YKD_OK) {
        fprintf(out, "%-6s %5d %5lld %9.1f %8.1f\n", model, size, a->batch, ms, images_per_s);
    }
    if (st == YKD_OK && a->profile)
        print_profile(dev, 1, out);
    ykd_model_free(m);
    ykd_model_desc_free(desc);
    free_batch(&b);
    return st;
}

/* A student step with the distillation term of a teacher made from spec on tdev (random
 * weights: the time does not depend on them). */
static ykd_status time_distill(ykd_device *tdev, ykd_device *sdev, const char *student,
                               const ykd_batch *b, const step_args *a, bool overlap, double *ms,
                               ykd_error *err)
{
    step_bench s = {NULL, NULL, NULL, NULL, NULL};
    ykd_model_desc_options o = {NULL, (int)a->nc};
    ykd_model_desc *desc = NULL;
    ykd_model *model = NULL;
    ykd_teacher *teacher = NULL;
    ykd_kd_term *term = NULL;
    ykd_kd_config config;
    ykd_kd_config_default(&config);
    step_times t;
    ykd_status st = make_bench(sdev, student, (int)a->nc, (int)a->batch, b->size, &s, err);
    if (st == YKD_OK)
        st = ykd_model_desc_load(a->teacher, &o, &desc, err);
    if (st == YKD_OK)
        st = ykd_model_create(tdev, desc, 1, &model, err);
    if (st == YKD_OK)
        st = ykd_teacher_adopt(model, &teacher, err);
    else
        ykd_model_free(model);
    ykd_kd_term_options ko = {.student = s.model, .teacher = teacher, .config = &config,
                              .optimizer = s.optimizer, .seed = 1, .batch = (int)a->batch,
                              .imgsz = b->size, .background = overlap && tdev != sdev};
    if (st == YKD_OK)
        st = ykd_kd_term_create(&ko, &term, err);
    if (st == YKD_OK) {
        ykd_train_loss_term lt = ykd_kd_term_loss(term);
        st = ykd_step_add_loss_term(s.step, &lt, err);
    }
    if (st == YKD_OK)
        st = time_steps(&s, b, a, &t, err);
    if (st == YKD_OK)
        *ms = median_of(t.total, t.count);
    free_bench(&s);
    ykd_kd_term_free(term);
    ykd_teacher_close(teacher);
    ykd_model_desc_free(desc);
    return st;
}

typedef struct pair_result {
    double teacher_ms, student_ms, distill_ms, serial_ms;
} pair_result;

static ykd_status bench_pair_one(ykd_device *tdev, ykd_device *sdev, const char *student,
                                 int size, const step_args *a, pair_result *r, ykd_error *err)
{
    ykd_batch b;
    step_bench s = {NULL, NULL, NULL, NULL, NULL};
    ykd_model_desc_options o = {NULL, (int)a->nc};
    ykd_model_desc *desc = NULL;
    ykd_model *teacher = NULL;
    step_times t;
    ykd_status st = make_batch((int)a->batch, size, (int)a->nc, &b)
                        ? ykd_model_desc_load(a->teacher, &o, &desc, err)
                        : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "bench step: out of host memory");
    if (st == YKD_OK)
        st = ykd_model_create(tdev, desc, 1, &teacher, err);
    if (st == YKD_OK)
        st = time_teacher(teacher, &b, a, &r->teacher_ms, err);
    ykd_model_free(teacher);
    if (st == YKD_OK)
        st = make_bench(sdev, student, (int)a->nc, (int)a->batch, size, &s, err);
    if (st == YKD_OK)
        st = time_steps(&s, &b, a, &t, err);
    if (st == YKD_OK)
        r->student_ms = median_of(t.total, t.count);
    free_bench(&s);
    if (st == YKD_OK)
        st = time_distill(tdev, sdev, student, &b, a, true, &r->distill_ms, err);
    if (st == YKD_OK)
        st = time_distill(tdev, sdev, student, &b, a, false, &r->serial_ms, err);
    ykd_model_desc_free(desc);
    free_batch(&b);
    return st;
}

static void report_pair(const step_args *a, const char *tspec, const char *sspec,
                        const char *student, int size, const pair_result *r, FILE *out,
                        cJSON *json)
{
    double batch = (double)a->batch;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "teacher_device", tspec);
        cJSON_AddStringToObject(o, "student_device", sspec);
        cJSON_AddStringToObject(o, "teacher", a->teacher);
        cJSON_AddStringToObject(o, "student", student);
        cJSON_AddNumberToObject(o, "imgsz", size);
        cJSON_AddNumberToObject(o, "batch", batch);
        cJSON_AddNumberToObject(o, "teacher_forward_ms", r->teacher_ms);
        cJSON_AddNumberToObject(o, "student_step_ms", r->student_ms);
        cJSON_AddNumberToObject(o, "distill_step_ms", r->distill_ms);
        cJSON_AddNumberToObject(o, "distill_step_serial_ms", r->serial_ms);
        cJSON_AddNumberToObject(o, "overlap_gain", r->serial_ms / r->distill_ms);
        cJSON_AddItemToArray(json, o);
        return;
    }
    fprintf(out, "%-9s %-9s %-4s %-4s %5d %9.1f %7.1f %9.1f %7.1f %9.1f %7.1f %9.1f %6.2fx\n",
            tspec, sspec, a->teacher, student, size, r->teacher_ms, batch * 1000 / r->teacher_ms,
            r->student_ms, batch * 1000 / r->student_ms, r->distill_ms,
            batch * 1000 / r->distill_ms, r->serial_ms, r->serial_ms / r->distill_ms);
}

static int bench_pairs(const step_args *a, ykd_cli_io *io, cJSON *json)
{
    if (!json)
        fprintf(io->out,
                "distillation steps, batch %lld, %lld classes, median of %lld after %lld "
                "(ms, and images/s)\n%-9s %-9s %-4s %-4s %5s %9s %7s %9s %7s %9s %7s %9s %7s\n",
                a->batch, a->nc, a->runs, a->warmup, "teacher", "student", "T", "S", "imgsz",
                "T fwd", "img/s", "S step", "img/s", "KD step", "img/s", "serial", "gain");
    ykd_status st = YKD_OK;
    ykd_error err = {0};
    for (int p = 0; p < a->pair_count && st == YKD_OK; p++) {
        ykd_device *tdev = NULL, *sdev = NULL;
        st = ykd_device_open(a->pair_list[p][0], NULL, &tdev, &err);
        if (st == YKD_OK)
            st = ykd_device_open(a->pair_list[p][1], NULL, &sdev, &err);
        for (int m = 0; m < a->model_count && st == YKD_OK; m++)
            for (int i = 0; i < a->size_count && st == YKD_OK; i++) {
                pair_result r;
                st = bench_pair_one(tdev, sdev, a->model_list[m], a->size_list[i], a, &r, &err);
                if (st == YKD_OK)
                    report_pair(a, a->pair_list[p][0], a->pair_list[p][1], a->model_list[m],
                                a->size_list[i], &r, io->out, json);
            }
        ykd_device_close(sdev);
        ykd_device_close(tdev);
    }
    if (st != YKD_OK)
        fprintf(io->err, "yolokd bench step: %s\n", err.message);
    return st == YKD_OK ? YKD_EXIT_OK : YKD_EXIT_FAILURE;
}

static int bench_device(const char *spec, const step_args *a, ykd_cli_io *io, cJSON *json)
{
    ykd_device *dev = NULL;
    ykd_error err = {0};
    ykd_status st = ykd_device_open(spec, NULL, &dev, &err);
    if (st != YKD_OK) {
        fprintf(io->err, "yolokd bench step: %s\n", err.message);
        return st == YKD_ERR_NOT_FOUND || st == YKD_ERR_AMBIGUOUS ? YKD_EXIT_USAGE
                                                                  : YKD_EXIT_FAILURE;
    }
    if (!json)
        fprintf(io->out, "device: %s; batch %lld, %lld classes, median of %lld %s after %lld\n",
                ykd_device_get_info(dev)->name, a->batch, a->nc, a->runs,
                a->forward ? "inference forwards" : "steps", a->warmup);
    if (!json && a->forward)
        fprintf(io->out, "%-6s %5s %5s %9s %8s\n", "model", "imgsz", "batch", "ms/fwd", "img/s");
    else if (!json)
        fprintf(io->out, "%-6s %5s %5s %9s %8s %6s %7s %6s %8s %6s\n", "model", "imgsz", "batch",
                "ms/step", "img/s", "upload", "forward", "loss", "backward", "optim");
    for (int m = 0; m < a->model_count && st == YKD_OK; m++)
        for (int i = 0; i < a->size_count && st == YKD_OK; i++)
            st = a->forward ? bench_forward_one(dev, a->model_list[m], a->size_list[i], a,
                                                io->out, json, &err)
                            : bench_one(dev, a->model_list[m], a->size_list[i], a, io->out, json,
                                        &err);
    if (st != YKD_OK)
        fprintf(io->err, "yolokd bench step: %s\n", err.message);
    ykd_device_close(dev);
    return st == YKD_OK ? YKD_EXIT_OK : YKD_EXIT_FAILURE;
}

int ykd_bench_step(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    step_args a;
    memset(&a, 0, sizeof a);
    a.models = "n,s", a.sizes = "160,320";
    a.batch = 8, a.nc = 10, a.runs = 5, a.warmup = 2, a.max_time = 120;
    int code = parse_args(argc, argv, globals, io, &a);
    if (code >= 0)
        return code;
    cJSON *json = a.json ? cJSON_CreateArray() : NULL;
    if (a.teacher)
        code = bench_pairs(&a, io, json);
    for (int d = 0; !a.teacher && d < a.device_count && code < 0; d++) {
        int c = bench_device(a.device_list[d], &a, io, json);
        if (c != YKD_EXIT_OK)
            code = c;
    }
    if (code < 0)
        code = YKD_EXIT_OK;
    if (json && code == YKD_EXIT_OK) {
        char *text = cJSON_Print(json);
        fprintf(io->out, "%s\n", text ? text : "[]");
        cJSON_free(text);
    }
    cJSON_Delete(json);
    return code;
}
