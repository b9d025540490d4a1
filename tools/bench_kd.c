/* yolokd bench kd: what each distillation loss costs next to a training step. A student and a
 * teacher (built-in scales, random weights) see one batch of random images (the student in
 * training mode, the teacher in inference mode); the detection loss runs on random boxes and
 * its gradients are the base KD adds to. Then, per loss, a context with that loss alone (and
 * one with all five) computes it with its gradients, median wall time of several calls (each
 * waits for the device: it returns the values); last, the student's training step (forward,
 * detection loss, backward) on the same batch, for scale. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "core/error_internal.h"
#include "device/device_internal.h"
#include "yolokd/kd.h"

enum { LEVELS = 3, MAX_RUNS = 64, BOXES = 8 };

typedef struct kd_bench_args {
    int imgsz, batch, nc, runs;
    const char *student, *teacher;
} kd_bench_args;

static void print_help(FILE *f)
{
    fprintf(f, "usage: yolokd [--device D] bench kd [--imgsz S] [--batch B] [--nc N]\n"
               "                                  [--student n] [--teacher s] [--runs R]\n"
               "\n"
               "Times each distillation loss (logit KD, LD, CWD, PKD, imitation through the\n"
               "adapters; then all five) with its gradients, for a built-in student and teacher\n"
               "at one input size, and the student's training step for comparison.\n"
               "\n"
               "  --imgsz S      input size (default 320)\n"
               "  --batch B      images per batch (default 8)\n"
               "  --nc N         classes (default 80)\n"
               "  --student X    student scale (default n)\n"
               "  --teacher X    teacher scale (default s)\n"
               "  --runs R       timed calls per loss after one warm-up (default 5; fewer where\n"
               "                 they pass 30 s, the first always timed)\n");
}

static bool is_scale(const char *s)
{
    return s && strlen(s) == 1 && strchr("nsmlx", s[0]);
}

/* Returns -1 when the arguments are fine, else the exit code. */
static int parse_args(int argc, char **argv, ykd_cli_io *io, kd_bench_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false;
        long long v;
        struct {
            const char *name;
            int *out, min, max;
        } ints[] = {{"--imgsz", &a->imgsz, 32, 4096}, {"--batch", &a->batch, 1, 256},
                    {"--nc", &a->nc, 1, 1000}, {"--runs", &a->runs, 1, MAX_RUNS}};
        bool taken = false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(io->out);
            return YKD_EXIT_OK;
        }
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !taken; k++)
            if (ykd_cli_option_value(argc, argv, &i, ints[k].name, &value, &missing)) {
                if (missing || !ykd_cli_parse_int(io, "bench kd", ints[k].name, value,
                                                  ints[k].min, ints[k].max, &v))
                    return YKD_EXIT_USAGE;
                *ints[k].out = (int)v;
                taken = true;
            }
        if (taken)
            continue;
        const char **scale = NULL;
        if (ykd_cli_option_value(argc, argv, &i, "--student", &value, &missing))
            scale = &a->student;
        else if (ykd_cli_option_value(argc, argv, &i, "--teacher", &value, &missing))
            scale = &a->teacher;
        else
            return ykd_cli_usage_error(io, "bench kd", "unknown argument '%s'", argv[i]);
        if (missing || !is_scale(value))
            return ykd_cli_usage_error(io, "bench kd", "%s takes a scale: n, s, m, l or x",
                                       argv[i - (missing ? 0 : 1)]);
        *scale = value;
    }
    if (a->imgsz % 32 != 0)
        return ykd_cli_usage_error(io, "bench kd", "--imgsz must be a multiple of 32");
    return -1;
}

/* Everything one run holds. */
typedef struct kd_bench {
    ykd_device *dev;
    ykd_model_desc *sdesc, *tdesc;
    ykd_model *student, *teacher;
    ykd_tensor images, head_grad[LEVELS];
    ykd_yolo_loss *loss;
    float labels[256 * BOXES * 5];
    int counts[256];
    ykd_kd_shape shapes[16];
    size_t shape_count;
    ykd_kd_tensor teacher_tensors[16];
    ykd_tensor teacher_values[16];
    ykd_model_grad base[LEVELS];
    char names[LEVELS][16];
} kd_bench;

static void bench_free(kd_bench *b)
{
    for (int l = 0; l < LEVELS; l++)
        ykd_tensor_free(&b->head_grad[l]);
    ykd_tensor_free(&b->images);
    ykd_yolo_loss_free(b->loss);
    ykd_model_free(b->student);
    ykd_model_free(b->teacher);
    ykd_model_desc_free(b->sdesc);
    ykd_model_desc_free(b->tdesc);
}

static ykd_status make_models(kd_bench *b, const kd_bench_args *a, ykd_error *err)
{
    size_t pixels = (size_t)a->batch * 3 * a->imgsz * a->imgsz;
    float *host = malloc(pixels * sizeof *host);
    if (!host)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    uint64_t rng = 7;
    for (size_t i = 0; i < pixels; i++)
        host[i] = ykd_bench_uniform(&rng, 0.0f, 1.0f);
    ykd_status st = ykd_model_desc_builtin(a->student, a->nc, &b->sdesc, err);
    if (st == YKD_OK)
        st = ykd_model_desc_builtin(a->teacher, a->nc, &b->tdesc, err);
    if (st == YKD_OK)
        st = ykd_model_create(b->dev, b->sdesc, 1, &b->student, err);
    if (st == YKD_OK)
        st = ykd_model_create(b->dev, b->tdesc, 2, &b->teacher, err);
    if (st == YKD_OK)
        st = ykd_tensor_alloc(b->dev, a->batch, 3, a->imgsz, a->imgsz, &b->images, err);
    if (st == YKD_OK)
        st = ykd_tensor_write(&b->images, host, err);
    free(host);
    return st;
}

/* The teacher's forward and its tensors, the student's forward. */
static ykd_status forwards(kd_bench *b, ykd_error *err)
{
    ykd_status st = ykd_model_forward(b->teacher, &b->images, YKD_MODEL_INFERENCE, err);
    if (st == YKD_OK)
        st = ykd_kd_model_shapes(b->teacher, b->shapes, 16, &b->shape_count, err);
    for (size_t i = 0; st == YKD_OK && i < b->shape_count; i++) {
        b->teacher_tensors[i] = (ykd_kd_tensor){b->shapes[i].name, &b->teacher_values[i]};
        st = ykd_model_output(b->teacher, b->shapes[i].name, &b->teacher_values[i], err);
    }
    return st == YKD_OK ? ykd_model_forward(b->student, &b->images, YKD_MODEL_TRAINING, err) : st;
}

/* The detection loss on random boxes, its gradients into head_grad. */
static ykd_status detection_loss(kd_bench *b, const kd_bench_args *a, ykd_error *err)
{
    ykd_tensor box[LEVELS], cls[LEVELS], dbox[LEVELS], dcls[LEVELS];
    ykd_yolo_level levels[LEVELS], grads[LEVELS];
    ykd_status st = b->loss ? YKD_OK : ykd_yolo_loss_init(b->dev, a->nc, NULL, &b->loss, err);
    for (int l = 0; l < LEVELS && st == YKD_OK; l++) {
        ykd_tensor head;
        snprintf(b->names[l], sizeof b->names[l], "head%d", 3 + l);
        st = ykd_model_output(b->student, b->names[l], &head, err);
        if (st == YKD_OK && !b->head_grad[l].buffer)
            st = ykd_tensor_alloc(b->dev, head.n, head.c, head.h, head.w, &b->head_grad[l], err);
        box[l] = ykd_tensor_channels(&head, 0, 64), cls[l] = ykd_tensor_channels(&head, 64, a->nc);
        dbox[l] = ykd_tensor_channels(&b->head_grad[l], 0, 64);
        dcls[l] = ykd_tensor_channels(&b->head_grad[l], 64, a->nc);
        levels[l] = (ykd_yolo_level){&box[l], &cls[l], 8 << l};
        grads[l] = (ykd_yolo_level){&dbox[l], &dcls[l], 8 << l};
        b->base[l] = (ykd_model_grad){b->names[l], &b->head_grad[l]};
    }
    uint64_t rng = 11;
    for (int i = 0; i < a->batch * BOXES; i++) {
        float *row = b->labels + (size_t)i * 5;
        row[0] = (float)(int)ykd_bench_uniform(&rng, 0.0f, (float)a->nc - 0.01f);
        row[3] = ykd_bench_uniform(&rng, 0.05f, 0.6f);
        row[4] = ykd_bench_uniform(&rng, 0.05f, 0.6f);
        row[1] = ykd_bench_uniform(&rng, row[3] / 2, 1 - row[3] / 2);
        row[2] = ykd_bench_uniform(&rng, row[4] / 2, 1 - row[4] / 2);
    }
    for (int i = 0; i < a->batch; i++)
        b->counts[i] = BOXES;
    ykd_yolo_targets targets = {b->labels, b->counts, BOXES};
    ykd_yolo_loss_value v;
    return st == YKD_OK ? ykd_yolo_loss_compute(b->loss, levels, LEVELS, &targets, grads, false,
                                                &v, err)
                        : st;
}

/* "kd_cwd 12.3, gemm_nt 4.5": the device milliseconds per call of the kernels that took the
 * most, from the profile of `runs` calls. */
static void describe_kernels(ykd_device *dev, int runs, char *out, size_t size)
{
    ykd_kernel_time k[32];
    size_t count = ykd_device_profile_take(dev, k, 32), used = 0;
    out[0] = '\0';
    for (int shown = 0; shown < 4 && count > 0; shown++) {
        size_t top = 0;
        for (size_t i = 1; i < count; i++)
            top = k[i].ms > k[top].ms ? i : top;
        used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%s %.2f",
                                 shown ? ", " : "", k[top].name, k[top].ms / runs);
        k[top] = k[--count];
    }
}

/* Median milliseconds of a compute with config c (after a warm-up); *loss its value; kernels
 * the device time of its main kernels. */
static ykd_status time_config(kd_bench *b, const ykd_kd_config *c, int runs, double *ms,
                              double *loss, char *kernels, size_t size, ykd_error *err)
{
    ykd_kd *kd = NULL;
    ykd_kd_batch batch = {b->teacher_tensors, b->shape_count, b->loss, 0.0, 1, b->base, LEVELS,
                          NULL};
    ykd_kd_values v;
    double times[MAX_RUNS], started = ykd_now_ms();
    ykd_status st = ykd_kd_create(c, b->student, b->shapes, b->shape_count, 1, &kd, err);
    bool alongside = true;
    if (st == YKD_OK)
        st = ykd_bench_profile_alongside(b->dev, &alongside, err);
    int r = -1;
    for (; st == YKD_OK && r < runs && ykd_bench_run_more(r, started); r++) {
        if (r == 0 && alongside)
            st = ykd_device_profile(b->dev, true, err);
        double t0 = ykd_now_ms();
        if (st == YKD_OK)
            st = ykd_kd_compute(kd, &batch, &v, err);
        if (r >= 0)
            times[r] = ykd_now_ms() - t0;
    }
    int timed = r;
    if (st == YKD_OK && !alongside) /* timed by the host clock: a call of its own */
        st = ykd_device_profile(b->dev, true, err);
    if (st == YKD_OK && !alongside)
        st = ykd_kd_compute(kd, &batch, &v, err);
    describe_kernels(b->dev, alongside && timed > 0 ? timed : 1, kernels, size);
    ykd_device_profile(b->dev, false, NULL);
    *ms = st == YKD_OK ? ykd_bench_median(times, timed) : 0.0;
    *loss = st == YKD_OK ? v.total : 0.0;
    ykd_kd_free(kd);
    return st;
}

/* Median milliseconds of the student's training step: forward, detection loss, backward. */
static ykd_status time_step(kd_bench *b, const kd_bench_args *a, int runs, double *ms,
                            ykd_error *err)
{
    double times[MAX_RUNS], started = ykd_now_ms();
    ykd_status st = YKD_OK;
    int r = -1;
    for (; st == YKD_OK && r < runs && ykd_bench_run_more(r, started); r++) {
        double t0 = ykd_now_ms();
        st = ykd_model_forward(b->student, &b->images, YKD_MODEL_TRAINING, err);
        if (st == YKD_OK)
            st = detection_loss(b, a, err);
        if (st == YKD_OK)
            st = ykd_model_backward(b->student, b->base, LEVELS, NULL, err);
        float probe;
        if (st == YKD_OK) /* wait for the backward */
            st = ykd_buffer_read(ykd_model_grad_buffer(b->student), 0, &probe, sizeof probe, err);
        if (r >= 0)
            times[r] = ykd_now_ms() - t0;
    }
    *ms = st == YKD_OK ? ykd_bench_median(times, r) : 0.0;
    return st;
}

/* One row per loss alone, then all five; then the step. */
static ykd_status run_rows(kd_bench *b, const kd_bench_args *a, ykd_cli_io *io, ykd_error *err)
{
    double step_ms = 0.0, ms[YKD_KD_LOSS_COUNT + 1], loss[YKD_KD_LOSS_COUNT + 1];
    char kernels[YKD_KD_LOSS_COUNT + 1][160];
    ykd_status st = YKD_OK;
    for (int k = 0; k <= YKD_KD_LOSS_COUNT && st == YKD_OK; k++) {
        ykd_kd_config c;
        ykd_kd_config_default(&c);
        for (int j = 0; j < YKD_KD_LOSS_COUNT; j++)
            c.loss[j].enabled = k == YKD_KD_LOSS_COUNT || j == k;
        st = time_config(b, &c, a->runs, &ms[k], &loss[k], kernels[k], sizeof kernels[k], err);
    }
    if (st == YKD_OK)
        st = time_step(b, a, a->runs < 3 ? a->runs : 3, &step_ms, err);
    if (st != YKD_OK)
        return st;
    fprintf(io->out, "student training step (forward, detection loss, backward): %.1f ms\n",
            step_ms);
    fprintf(io->out, "loss        ms/call  of a step  weighted value  device ms per call\n");
    for (int k = 0; k <= YKD_KD_LOSS_COUNT; k++)
        fprintf(io->out, "%-10s %8.2f %9.1f%% %15.6g  %s\n",
                k < YKD_KD_LOSS_COUNT ? ykd_kd_loss_name((ykd_kd_loss_kind)k) : "all five",
                ms[k], 100.0 * ms[k] / step_ms, loss[k], kernels[k]);
    return YKD_OK;
}

int ykd_bench_kd(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    kd_bench_args a = {320, 8, 80, 5, "n", "s"};
    int code = parse_args(argc, argv, io, &a);
    if (code >= 0)
        return code;
    kd_bench b;
    memset(&b, 0, sizeof b);
    code = ykd_cli_open_device(globals, io, "bench kd", &b.dev);
    if (code != YKD_EXIT_OK)
        return code;
    fprintf(io->out, "device: %s; student %s, teacher %s, %d classes, %d x %d, batch %d; "
                     "median of %d calls (ms, wall)\n",
            ykd_device_get_info(b.dev)->name, a.student, a.teacher, a.nc, a.imgsz, a.imgsz,
            a.batch, a.runs);
    ykd_error err = {0};
    ykd_status st = make_models(&b, &a, &err);
    if (st == YKD_OK)
        st = forwards(&b, &err);
    if (st == YKD_OK)
        st = detection_loss(&b, &a, &err);
    if (st == YKD_OK)
        st = run_rows(&b, &a, io, &err);
    if (st != YKD_OK)
        fprintf(io->err, "yolokd bench kd: %s\n", err.message);
    bench_free(&b);
    ykd_device_close(b.dev);
    return st == YKD_OK ? YKD_EXIT_OK : YKD_EXIT_FAILURE;
}
