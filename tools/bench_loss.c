/* yolokd bench loss: the YOLOv8 detection loss, forward and backward in one call, on head
 * outputs of the shapes a model gives at each input size and batch (strides 8, 16, 32), with
 * random logits and random boxes. Wall time per call (it waits for the device: it returns the
 * loss), the median of several, and where the device time goes per kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "core/error_internal.h"
#include "device/device_internal.h"
#include "yolokd/eval.h"
#include "yolokd/loss.h"
#include "yolokd/ops.h"

enum { LEVELS = 3, MAX_SIZES = 8, MAX_RUNS = 64 };

typedef struct loss_bench_args {
    int sizes[MAX_SIZES], size_count;
    int batches[MAX_SIZES], batch_count;
    int nc, boxes, runs;
} loss_bench_args;

static void print_help(FILE *f)
{
    fprintf(f, "usage: yolokd [--device D] bench loss [--imgsz S,S..] [--batch B,B..] [--nc N]\n"
               "                                    [--boxes K] [--runs R]\n"
               "\n"
               "Times the detection loss (assignment, losses and gradients, one call) on random\n"
               "head outputs; prints the median milliseconds per call and the kernels' share,\n"
               "and the validation post-processing of the same outputs (decode, threshold\n"
               "0.001, NMS; most pairs over the threshold, as with an untrained model).\n"
               "\n"
               "  --imgsz LIST   input sizes (default 320,640)\n"
               "  --batch LIST   batch sizes (default 8,16)\n"
               "  --nc N         classes (default 80)\n"
               "  --boxes K      boxes per image (default 8, about COCO's mean)\n"
               "  --runs R       timed calls per shape after one warm-up (default 10; fewer\n"
               "                 where they pass 30 s, the first always timed)\n");
}

/* "320,640" into out; false when malformed. */
static bool parse_list(const char *text, int min, int max, int *out, int *count)
{
    *count = 0;
    while (*text && *count < MAX_SIZES) {
        char *end;
        long v = strtol(text, &end, 10);
        if (end == text || v < min || v > max || (*end && *end != ','))
            return false;
        out[(*count)++] = (int)v;
        text = *end ? end + 1 : end;
    }
    return *count > 0 && !*text;
}

/* Returns -1 when the arguments are fine, else the exit code. */
static int parse_args(int argc, char **argv, ykd_cli_io *io, loss_bench_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false;
        long long v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(io->out);
            return YKD_EXIT_OK;
        } else if (ykd_cli_option_value(argc, argv, &i, "--imgsz", &value, &missing)) {
            if (missing || !parse_list(value, 32, 4096, a->sizes, &a->size_count))
                return ykd_cli_usage_error(io, "bench loss", "--imgsz takes sizes like 320,640");
        } else if (ykd_cli_option_value(argc, argv, &i, "--batch", &value, &missing)) {
            if (missing || !parse_list(value, 1, 256, a->batches, &a->batch_count))
                return ykd_cli_usage_error(io, "bench loss", "--batch takes sizes like 8,16");
        } else if (ykd_cli_option_value(argc, argv, &i, "--nc", &value, &missing)) {
            if (missing || !ykd_cli_parse_int(io, "bench loss", "--nc", value, 1, 1000, &v))
                return YKD_EXIT_USAGE;
            a->nc = (int)v;
        } else if (ykd_cli_option_value(argc, argv, &i, "--boxes", &value, &missing)) {
            if (missing || !ykd_cli_parse_int(io, "bench loss", "--boxes", value, 0, 500, &v))
                return YKD_EXIT_USAGE;
            a->boxes = (int)v;
        } else if (ykd_cli_option_value(argc, argv, &i, "--runs", &value, &missing)) {
            if (missing || !ykd_cli_parse_int(io, "bench loss", "--runs", value, 1, MAX_RUNS, &v))
                return YKD_EXIT_USAGE;
            a->runs = (int)v;
        } else {
            return ykd_cli_usage_error(io, "bench loss", "unknown argument '%s'", argv[i]);
        }
    }
    return -1;
}

/* Head outputs and gradients per level as one [N, 64 + nc, H, W] tensor each, logits random
 * (class logits low, as early in training). */
typedef struct loss_inputs {
    ykd_tensor head[LEVELS], grad[LEVELS], box[LEVELS], cls[LEVELS], dbox[LEVELS], dcls[LEVELS];
    ykd_yolo_level levels[LEVELS], grads[LEVELS];
    float *labels;
    int *counts;
} loss_inputs;

static void free_inputs(loss_inputs *in)
{
    for (int l = 0; l < LEVELS; l++) {
        ykd_tensor_free(&in->head[l]);
        ykd_tensor_free(&in->grad[l]);
    }
    free(in->labels);
    free(in->counts);
}

static ykd_status make_inputs(ykd_device *dev, int size, int batch, const loss_bench_args *a,
                              loss_inputs *in, ykd_error *err)
{
    memset(in, 0, sizeof *in);
    uint64_t rng = (uint64_t)size * 1000 + (uint64_t)batch;
    ykd_status st = YKD_OK;
    for (int l = 0; st == YKD_OK && l < LEVELS; l++) {
        int s = 8 << l, hw = size / s, ch = YKD_YOLO_BOX_CHANNELS + a->nc;
        size_t count = (size_t)batch * ch * hw * hw;
        float *host = malloc(count * sizeof *host);
        if (!host)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        for (size_t i = 0; i < count; i++) {
            bool is_cls = (i / ((size_t)hw * hw)) % ch >= YKD_YOLO_BOX_CHANNELS;
            host[i] = is_cls ? ykd_bench_uniform(&rng, -7.0f, -2.0f)
                             : ykd_bench_uniform(&rng, -3.0f, 3.0f);
        }
        st = ykd_tensor_alloc(dev, batch, ch, hw, hw, &in->head[l], err);
        if (st == YKD_OK)
            st = ykd_tensor_write(&in->head[l], host, err);
        if (st == YKD_OK)
            st = ykd_tensor_alloc(dev, batch, ch, hw, hw, &in->grad[l], err);
        free(host);
        if (st != YKD_OK)
            break;
        in->box[l] = ykd_tensor_channels(&in->head[l], 0, YKD_YOLO_BOX_CHANNELS);
        in->cls[l] = ykd_tensor_channels(&in->head[l], YKD_YOLO_BOX_CHANNELS, a->nc);
        in->dbox[l] = ykd_tensor_channels(&in->grad[l], 0, YKD_YOLO_BOX_CHANNELS);
        in->dcls[l] = ykd_tensor_channels(&in->grad[l], YKD_YOLO_BOX_CHANNELS, a->nc);
        in->levels[l] = (ykd_yolo_level){&in->box[l], &in->cls[l], s};
        in->grads[l] = (ykd_yolo_level){&in->dbox[l], &in->dcls[l], s};
    }
    size_t rows = (size_t)batch * (a->boxes ? a->boxes : 1);
    in->labels = calloc(rows * 5, sizeof(float));
    in->counts = calloc((size_t)batch, sizeof(int));
    if (st == YKD_OK && (!in->labels || !in->counts))
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t r = 0; st == YKD_OK && r < (size_t)batch * a->boxes; r++) {
        float *row = in->labels + r * 5;
        row[0] = (float)(int)ykd_bench_uniform(&rng, 0.0f, (float)a->nc - 0.01f);
        row[3] = ykd_bench_uniform(&rng, 0.03f, 0.6f);
        row[4] = ykd_bench_uniform(&rng, 0.03f, 0.6f);
        row[1] = ykd_bench_uniform(&rng, row[3] / 2, 1 - row[3] / 2);
        row[2] = ykd_bench_uniform(&rng, row[4] / 2, 1 - row[4] / 2);
    }
    for (int b = 0; st == YKD_OK && b < batch; b++)
        in->counts[b] = a->boxes;
    return st;
}

/* Median wall milliseconds of the validation post-processing of the same head outputs:
 * ykd_detector_run at conf 0.001, where random logits put most (anchor, class) pairs over the
 * threshold, as an untrained model does: the worst case. */
static ykd_status time_detect(ykd_device *dev, const loss_inputs *in, int batch, int nc, int runs,
                              double *ms, ykd_error *err)
{
    ykd_detector *det = NULL;
    ykd_detect_options o;
    ykd_detect_options_default(&o);
    ykd_detections *out = calloc((size_t)batch, sizeof *out);
    double times[MAX_RUNS], started = ykd_now_ms();
    ykd_status st = out ? ykd_detector_init(dev, nc, &det, err)
                        : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    int r = -1; /* r = -1: the warm-up */
    for (; st == YKD_OK && r < runs && ykd_bench_run_more(r, started); r++) {
        double t0 = ykd_now_ms();
        st = ykd_detector_run(det, in->levels, LEVELS, &o, NULL, out, err);
        if (r >= 0)
            times[r] = ykd_now_ms() - t0;
        ykd_detections_free(out, (size_t)batch);
    }
    *ms = st == YKD_OK ? ykd_bench_median(times, r) : 0.0;
    ykd_detector_free(det);
    free(out);
    return st;
}

/* One shape: a warm-up call, then the timed ones with the per-kernel profile; then the
 * detection post-processing. */
static int run_shape(ykd_device *dev, ykd_yolo_loss *loss, int size, int batch,
                     const loss_bench_args *a, ykd_cli_io *io)
{
    loss_inputs in;
    ykd_error err = {0};
    ykd_yolo_targets targets = {NULL, NULL, (size_t)a->boxes};
    ykd_yolo_loss_value v;
    double times[MAX_RUNS], detect_ms = 0.0, started = ykd_now_ms();
    int runs = 0;
    ykd_status st = make_inputs(dev, size, batch, a, &in, &err);
    targets.labels = in.labels, targets.box_counts = in.counts;
    if (st == YKD_OK)
        st = ykd_yolo_loss_compute(loss, in.levels, LEVELS, &targets, in.grads, false, &v, &err);
    bool alongside = true;
    if (st == YKD_OK)
        st = ykd_bench_profile_alongside(dev, &alongside, &err);
    if (st == YKD_OK && alongside)
        st = ykd_device_profile(dev, true, &err);
    for (; st == YKD_OK && runs < a->runs && ykd_bench_run_more(runs, started); runs++) {
        double t0 = ykd_now_ms();
        st = ykd_yolo_loss_compute(loss, in.levels, LEVELS, &targets, in.grads, false, &v, &err);
        times[runs] = ykd_now_ms() - t0;
    }
    int profiled = alongside ? runs : 1;
    if (st == YKD_OK && !alongside) /* timed by the host clock: a call of its own */
        st = ykd_device_profile(dev, true, &err);
    if (st == YKD_OK && !alongside)
        st = ykd_yolo_loss_compute(loss, in.levels, LEVELS, &targets, in.grads, false, &v, &err);
    ykd_kernel_time kernels[16];
    size_t kernel_count = ykd_device_profile_take(dev, kernels, 16);
    ykd_device_profile(dev, false, NULL);
    if (st == YKD_OK)
        st = time_detect(dev, &in, batch, a->nc, runs, &detect_ms, &err);
    free_inputs(&in);
    if (st != YKD_OK) {
        fprintf(io->err, "yolokd bench loss: %s\n", err.message);
        return YKD_EXIT_FAILURE;
    }
    fprintf(io->out, "%5d %5d %5d %9zu %9.2f %9.2f %9.2f  ", size, batch, a->nc, v.positives,
            ykd_bench_median(times, runs), ykd_bench_median(times, runs) / batch, detect_ms);
    for (size_t k = 0; k < kernel_count; k++)
        fprintf(io->out, "%s%s %.2f", k ? ", " : "", kernels[k].name, kernels[k].ms / profiled);
    if (runs < a->runs)
        fprintf(io->out, " (%d timed calls: %.0f s passed)", runs,
                YKD_BENCH_LOOP_LIMIT_MS / 1000);
    fprintf(io->out, "\n");
    return YKD_EXIT_OK;
}

int ykd_bench_loss(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    loss_bench_args a = {{320, 640}, 2, {8, 16}, 2, 80, 8, 10};
    int code = parse_args(argc, argv, io, &a);
    if (code >= 0)
        return code;
    ykd_device *dev = NULL;
    code = ykd_cli_open_device(globals, io, "bench loss", &dev);
    if (code != YKD_EXIT_OK)
        return code;
    ykd_yolo_loss *loss = NULL;
    ykd_error err = {0};
    if (ykd_yolo_loss_init(dev, a.nc, NULL, &loss, &err) != YKD_OK) {
        fprintf(io->err, "yolokd bench loss: %s\n", err.message);
        ykd_device_close(dev);
        return YKD_EXIT_FAILURE;
    }
    fprintf(io->out, "device: %s; %d boxes per image; median of %d calls (ms, wall)\n",
            ykd_device_get_info(dev)->name, a.boxes, a.runs);
    fprintf(io->out, "imgsz batch    nc positives   ms/call  ms/image detect ms  loss: device ms "
                     "per kernel\n");
    for (int s = 0; s < a.size_count && code == YKD_EXIT_OK; s++)
        for (int b = 0; b < a.batch_count && code == YKD_EXIT_OK; b++)
            code = run_shape(dev, loss, a.sizes[s], a.batches[b], &a, io);
    ykd_yolo_loss_free(loss);
    ykd_device_close(dev);
    return code;
}
