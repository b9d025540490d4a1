/* yolokd bench ops: every op, forward and backward, on the layer shapes of YOLOv8 models, on
 * each device asked for; GFLOP/s (or GB/s) per op and pass, beside CLBlast's SGEMM and the
 * device's buffer copy measured in the same run.
 *
 * Each measurement: one warm-up call (compiles kernels, tunes GEMMs), then calls until
 * --min-time has passed and at least three ran, or, on a slow device, MEASURE_MS of wall time
 * with at least one; the median, timed on the device between two markers (OpenCL events), or
 * by the host clock around a finished queue where the device's events cannot be trusted
 * (ykd_device_timing_get). Each device's run stops after --max-time, saying what it did not
 * measure; with several devices a table puts their figures side by side. */
#include <cjson/cJSON.h>
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_ops.h"
#include "core/error_internal.h"
#include "device/device_internal.h"
#include "yolokd/ops.h"

enum { MAX_LAYERS = 160, MAX_RUNS = 50 };
static const double MEASURE_MS = 1000.0;

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

/* Milliseconds of one call on the device (ykd_device_timer: events, or the host clock). */
static ykd_status time_call(ykd_device *device, const bench_case *c, double *ms, ykd_error *err)
{
    ykd_device_timer timer;
    ykd_status st = ykd_device_timer_start(device, &timer, err);
    if (st == YKD_OK)
        st = c->run(c->ctx, err);
    if (st == YKD_OK)
        st = ykd_device_timer_stop(device, &timer, ms, err);
    ykd_device_timer_release(&timer);
    if (st != YKD_OK)
        ykd_error_prefix(err, "timing %s %s", c->op, c->pass);
    return st;
}

/* The time per kernel of one call, from the device's profile. Where the events are usable the
 * timed calls themselves are profiled (profiled_runs of them); where the host clock times the
 * launches, which serialises them, one more call is profiled apart from the timed ones. */
static ykd_status profile_kernels(bench_run *r, const bench_case *c, int profiled_runs,
                                  ykd_kernel_time *kernels, size_t *kernel_count,
                                  ykd_error *err)
{
    ykd_status st = YKD_OK;
    if (!r->events) {
        st = ykd_device_profile(r->device, true, err);
        if (st == YKD_OK)
            st = c->run(c->ctx, err);
        profiled_runs = 1;
    }
    *kernel_count = ykd_device_profile_take(r->device, kernels, YKD_BENCH_MAX_KERNELS);
    for (size_t i = 0; i < *kernel_count && profiled_runs > 0; i++)
        kernels[i].ms /= profiled_runs;
    ykd_device_profile(r->device, false, NULL);
    return st;
}

/* The median time of one call; kernels (when not NULL) receives the time per kernel of an
 * average call. *runs_done is the number of timed calls. */
static ykd_status measure(bench_run *r, const bench_case *c, double *ms, int *runs_done,
                          ykd_kernel_time *kernels, size_t *kernel_count, ykd_error *err)
{
    double warm = 0, times[MAX_RUNS], total = 0;
    ykd_status st = time_call(r->device, c, &warm, err); /* compiles, tunes */
    if (st == YKD_OK && kernels && r->events)
        st = ykd_device_profile(r->device, true, err);
    int runs = 0;
    double started = ykd_now_ms();
    while (st == YKD_OK && runs < MAX_RUNS && (runs < 3 || total < r->options->min_time_ms) &&
           (runs == 0 || ykd_now_ms() - started < MEASURE_MS)) {
        st = time_call(r->device, c, &times[runs], err);
        total += times[runs++];
    }
    if (kernels && st == YKD_OK)
        st = profile_kernels(r, c, runs, kernels, kernel_count, err);
    else if (kernels)
        ykd_device_profile(r->device, false, NULL);
    if (st == YKD_OK)
        *ms = median(times, runs);
    *runs_done = runs;
    return st;
}

static void add_kernel_times(bench_row *row, const ykd_kernel_time *kernels, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int k = 0;
        while (k < row->kernel_count && strcmp(row->kernels[k].name, kernels[i].name) != 0)
            k++;
        if (k == row->kernel_count && k < YKD_BENCH_MAX_KERNELS) {
            row->kernels[k].name = kernels[i].name;
            row->kernels[k].ms = 0;
            row->kernel_count++;
        }
        if (k < row->kernel_count)
            row->kernels[k].ms += kernels[i].ms;
    }
}

static bool op_selected(const bench_options *o, const char *op)
{
    if (!o->ops[0])
        return true;
    char list[260];
    snprintf(list, sizeof list, ",%s,", o->ops);
    char needle[64];
    snprintf(needle, sizeof needle, ",%s,", op);
    return strstr(list, needle) != NULL;
}

static void record(bench_run *r, const bench_case *c, double ms, int runs,
                   const ykd_kernel_time *kernels, size_t kernel_count)
{
    bench_row *row = NULL;
    for (int i = 0; i < r->row_count && !row; i++) {
        bench_row *x = &r->rows[i];
        if (x->model == r->model && x->imgsz == r->imgsz && x->batch == r->batch &&
            strcmp(x->op, c->op) == 0 && strcmp(x->pass, c->pass) == 0)
            row = x;
    }
    if (!row && r->row_count < YKD_BENCH_MAX_ROWS) {
        row = &r->rows[r->row_count++];
        *row = (bench_row){.model = r->model, .imgsz = r->imgsz, .batch = r->batch,
                           .op = c->op, .pass = c->pass, .fewest_runs = runs};
    }
    if (row) {
        row->layers++;
        if (runs < row->fewest_runs)
            row->fewest_runs = runs;
        row->ms += ms;
        row->flops += c->flops;
        row->bytes += c->bytes;
        add_kernel_times(row, kernels, kernel_count);
    }
    if (r->layer_json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "layer", r->layer->name);
        cJSON_AddStringToObject(o, "op", c->op);
        cJSON_AddStringToObject(o, "pass", c->pass);
        cJSON_AddNumberToObject(o, "cin", r->layer->cin);
        cJSON_AddNumberToObject(o, "cout", r->layer->cout);
        cJSON_AddNumberToObject(o, "k", r->layer->k);
        cJSON_AddNumberToObject(o, "stride", r->layer->stride);
        cJSON_AddNumberToObject(o, "h", r->layer->h);
        cJSON_AddNumberToObject(o, "ms", ms);
        if (c->flops > 0)
            cJSON_AddNumberToObject(o, "gflops", c->flops / ms * 1e-6);
        else
            cJSON_AddNumberToObject(o, "gbps", c->bytes / ms * 1e-6);
        cJSON_AddItemToArray(r->layer_json, o);
    } else if (r->options->per_layer && !r->options->json) {
        fprintf(r->out, "    %-22s %-8s %-12s %4d->%-4d k%d s%d %4dx%-4d %9.3f ms  %8.1f %s\n",
               r->layer->name, c->op, c->pass, r->layer->cin, r->layer->cout, r->layer->k,
               r->layer->stride, r->layer->h, r->layer->w, ms,
               c->flops > 0 ? c->flops / ms * 1e-6 : c->bytes / ms * 1e-6,
               c->flops > 0 ? "GFLOP/s" : "GB/s");
    }
}

/* Whether the device's --max-time has passed; the first time, notes where the run stopped. */
static bool out_of_time(bench_run *r)
{
    if (!r->stopped && ykd_now_ms() - r->start_ms > r->options->max_time_ms) {
        r->stopped = true;
        if (r->layer)
            snprintf(r->stopped_at, sizeof r->stopped_at, "at %c/%d/%d, layer %s", r->model,
                     r->imgsz, r->batch, r->layer->name);
        else
            snprintf(r->stopped_at, sizeof r->stopped_at, "before %c/%d/%d", r->model,
                     r->imgsz, r->batch);
    }
    return r->stopped;
}

/* Measures and records each case; a failure stops the device's run, and so does --max-time
 * (the rows of the configuration then cover the layers measured, and are marked). */
ykd_status ykd_bench_cases(bench_run *r, const bench_case *cases, int count, ykd_error *err)
{
    for (int i = 0; i < count && !out_of_time(r); i++) {
        if (!op_selected(r->options, cases[i].op))
            continue;
        double ms = 0;
        int runs = 0;
        ykd_kernel_time kernels[YKD_BENCH_MAX_KERNELS];
        size_t kernel_count = 0;
        ykd_status st = measure(r, &cases[i], &ms, &runs, kernels, &kernel_count, err);
        if (st != YKD_OK) {
            ykd_error_prefix(err, "%s %s of %s", cases[i].op, cases[i].pass, r->layer->name);
            return st;
        }
        record(r, &cases[i], ms, runs, kernels, kernel_count);
    }
    return YKD_OK;
}

/* ---- conv2d ---------------------------------------------------------------------------- */

typedef struct conv_bench {
    ykd_tensor x, w, bias, y, dy, dx, dw, db;
    ykd_conv2d_params params;
    bool with_bias;
} conv_bench;

/* As in training: a convolution followed by batch norm has no bias and no activation of its
 * own; the head's plain convolutions have a bias. */
static ykd_status conv_forward(void *ctx, ykd_error *err)
{
    conv_bench *b = ctx;
    return ykd_conv2d_forward(&b->x, &b->w, b->with_bias ? &b->bias : NULL, &b->params,
                              YKD_ACTIVATION_NONE, &b->y, err);
}

static ykd_status conv_input_grad(void *ctx, ykd_error *err)
{
    conv_bench *b = ctx;
    return ykd_conv2d_backward_input(&b->dy, &b->w, &b->params, false, &b->dx, err);
}

static ykd_status conv_weight_grad(void *ctx, ykd_error *err)
{
    conv_bench *b = ctx;
    return ykd_conv2d_backward_weights(&b->x, &b->dy, &b->params, false, &b->dw,
                                       b->with_bias ? &b->db : NULL, err);
}

static void conv_free(conv_bench *b)
{
    ykd_tensor *all[] = {&b->x, &b->w, &b->bias, &b->y, &b->dy, &b->dx, &b->dw, &b->db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ykd_tensor_free(all[i]);
}

/* Allocates t and fills it with a small constant (contents do not change the timing). */
static ykd_status alloc_filled(ykd_device *d, int n, int c, int h, int w, ykd_tensor *t,
                               ykd_error *err)
{
    ykd_status st = ykd_tensor_alloc(d, n, c, h, w, t, err);
    return st == YKD_OK ? ykd_tensor_fill(t, 0.01f, err) : st;
}

static ykd_status bench_conv(bench_run *r, ykd_error *err)
{
    const yolo_layer *l = r->layer;
    int n = r->batch, ho = (l->h + 2 * (l->k / 2) - l->k) / l->stride + 1;
    conv_bench b = {.params = {l->stride, l->k / 2, 1}, .with_bias = l->plain != 0};
    ykd_status st = alloc_filled(r->device, n, l->cin, l->h, l->w, &b.x, err);
    if (st == YKD_OK)
        st = alloc_filled(r->device, l->cout, l->cin, l->k, l->k, &b.w, err);
    if (st == YKD_OK)
        st = alloc_filled(r->device, 1, l->cout, 1, 1, &b.bias, err);
    if (st == YKD_OK)
        st = alloc_filled(r->device, n, l->cout, ho, ho, &b.y, err);
    if (st == YKD_OK)
        st = alloc_filled(r->device, n, l->cout, ho, ho, &b.dy, err);
    if (st == YKD_OK)
        st = alloc_filled(r->device, n, l->cin, l->h, l->w, &b.dx, err);
    if (st == YKD_OK)
        st = alloc_filled(r->device, l->cout, l->cin, l->k, l->k, &b.dw, err);
    if (st == YKD_OK)
        st = alloc_filled(r->device, 1, l->cout, 1, 1, &b.db, err);
    double flops = 2.0 * n * l->cout * (double)ho * ho * l->cin * l->k * l->k;
    bench_case cases[] = {
        {"conv2d", "forward", flops, 0, conv_forward, &b},
        {"conv2d", "input-grad", flops, 0, conv_input_grad, &b},
        {"conv2d", "weight-grad", flops, 0, conv_weight_grad, &b},
    };
    if (st == YKD_OK)
        st = ykd_bench_cases(r, cases, 3, err);
    conv_free(&b);
    return st;
}

/* ---- references: CLBlast SGEMM and buffer copy ----------------------------------------- */

typedef struct sgemm_bench {
    ykd_device *device;
    ykd_buffer *a, *b, *c;
    int size;
} sgemm_bench;

static ykd_status run_sgemm(void *ctx, ykd_error *err)
{
    sgemm_bench *s = ctx;
    size_t n = (size_t)s->size;
    CLBlastStatusCode code = CLBlastSgemm(
        CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, n, n, n, 1.0f,
        s->a->mem, 0, n, s->b->mem, 0, n, 0.0f, s->c->mem, 0, n, &s->device->queue, NULL);
    if (code != CLBlastSuccess)
        return ykd_fail(err, YKD_ERR_OPENCL, "CLBlastSgemm failed with status %d", (int)code);
    return YKD_OK;
}

static ykd_status run_copy(void *ctx, ykd_error *err)
{
    sgemm_bench *s = ctx;
    return ykd_buffer_copy(s->c, 0, s->a, 0, ykd_buffer_size(s->a), err);
}

/* CLBlast SGEMM at size^3 in GFLOP/s and the buffer-copy bandwidth in GB/s. */
static ykd_status bench_references(bench_run *r, int size, double *gflops, double *gbps,
                                   ykd_error *err)
{
    size_t bytes = (size_t)size * size * sizeof(float);
    sgemm_bench s = {r->device, NULL, NULL, NULL, size};
    ykd_status st = ykd_buffer_alloc(r->device, bytes, &s.a, err);
    if (st == YKD_OK)
        st = ykd_buffer_alloc(r->device, bytes, &s.b, err);
    if (st == YKD_OK)
        st = ykd_buffer_alloc(r->device, bytes, &s.c, err);
    float value = 0.01f;
    if (st == YKD_OK)
        st = ykd_buffer_fill(s.a, 0, &value, sizeof value, bytes, err);
    if (st == YKD_OK)
        st = ykd_buffer_fill(s.b, 0, &value, sizeof value, bytes, err);
    bench_case sgemm = {"sgemm", "clblast", 2.0 * size * size * (double)size, 0, run_sgemm, &s};
    bench_case copy = {"copy", "buffer", 0, 2.0 * (double)bytes, run_copy, &s};
    double ms = 0;
    int runs = 0;
    if (st == YKD_OK)
        st = measure(r, &sgemm, &ms, &runs, NULL, NULL, err);
    if (st == YKD_OK) {
        *gflops = sgemm.flops / ms * 1e-6;
        st = measure(r, &copy, &ms, &runs, NULL, NULL, err);
    }
    if (st == YKD_OK)
        *gbps = copy.bytes / ms * 1e-6;
    ykd_buffer_free(s.a);
    ykd_buffer_free(s.b);
    ykd_buffer_free(s.c);
    return st;
}

/* ---- the driver ------------------------------------------------------------------------ */

static ykd_status bench_model(bench_run *r, ykd_error *err)
{
    yolo_layer layers[MAX_LAYERS];
    size_t count = yolo_layers(r->model, r->imgsz, 80, layers, MAX_LAYERS);
    if (count == 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "unknown model scale '%c'", r->model);
    ykd_status st = YKD_OK;
    size_t parameters = 0;
    r->layer = NULL; /* the previous configuration's layers are gone */
    for (size_t i = 0; i < count && st == YKD_OK && !out_of_time(r); i++) {
        const yolo_layer *l = &layers[i];
        r->layer = l;
        if (l->kind == YOLO_CONV) {
            st = bench_conv(r, err);
            parameters += (size_t)l->cout * l->cin * l->k * l->k + 2 * (size_t)l->cout;
        }
        if (st == YKD_OK)
            st = ykd_bench_other_ops(r, err);
    }
    if (st == YKD_OK && !out_of_time(r)) /* over all parameters, so only after all layers */
        st = ykd_bench_optimizers(r, parameters, err);
    return st;
}

/* "kernels: gemm 71%, im2col 25%, ...": each kernel's share of the row's time, largest first,
 * and what the profile did not see (CLBlast's kernels, which yolokd does not launch itself,
 * and the gaps between launches) as "other". */
static void print_kernel_shares(FILE *out, const bench_row *x)
{
    double total = 0;
    for (int k = 0; k < x->kernel_count; k++)
        total += x->kernels[k].ms;
    /* a profile timed by the host clock serialises the launches: it may exceed the row's time */
    double whole = x->ms > total ? x->ms : total, other = whole - total;
    bool show_other = other >= 0.01 * whole;
    if (x->kernel_count + show_other < 2 || whole <= 0)
        return;
    fprintf(out, "  %38s", "kernels:");
    bool shown[YKD_BENCH_MAX_KERNELS] = {false};
    for (int n = 0; n < x->kernel_count; n++) { /* largest first */
        int top = -1;
        for (int k = 0; k < x->kernel_count; k++)
            if (!shown[k] && (top < 0 || x->kernels[k].ms > x->kernels[top].ms))
                top = k;
        shown[top] = true;
        fprintf(out, " %s %.0f%%%s", x->kernels[top].name, 100 * x->kernels[top].ms / whole,
                n + 1 < x->kernel_count || show_other ? "," : "\n");
    }
    if (show_other)
        fprintf(out, " other (CLBlast, gaps) %.0f%%\n", 100 * other / whole);
}

/* A rate with three significant digits below 100 (a slow device's 0.0123 stays readable),
 * whole numbers above. */
static const char *rate_text(double v, char *buf, size_t size)
{
    snprintf(buf, size, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : v >= 1 ? "%.2f" : "%.3g", v);
    return buf;
}

static double row_rate(const bench_row *x)
{
    return (x->flops > 0 ? x->flops : x->bytes) / x->ms * 1e-6;
}

static void print_rows(const bench_run *r)
{
    fprintf(r->out, "  %-5s %-5s %-5s %-9s %-12s %6s %10s %9s %8s %9s %8s\n", "model", "imgsz",
            "batch", "op", "pass", "layers", "time ms", "GFLOP/s", "GB/s", "x SGEMM", "x copy");
    int few = 0;
    for (int i = 0; i < r->row_count; i++) {
        const bench_row *x = &r->rows[i];
        double rate = row_rate(x);
        char text[32];
        few += x->fewest_runs < 3;
        fprintf(r->out, "  %-5c %-5d %-5d %-9s %-12s %5d%s %10.2f", x->model, x->imgsz, x->batch,
                x->op, x->pass, x->layers, x->partial ? "*" : " ", x->ms);
        if (x->flops > 0)
            fprintf(r->out, " %9s %8s %8.2fx %8s\n", rate_text(rate, text, sizeof text), "-",
                    rate / r->sgemm_gflops, "-");
        else
            fprintf(r->out, " %9s %8s %9s %7.2fx\n", "-", rate_text(rate, text, sizeof text), "-",
                    rate / r->copy_gbps);
        print_kernel_shares(r->out, x);
    }
    if (r->stopped)
        fprintf(r->out, "  * --max-time %g s passed %s: rows marked * cover only the layers "
                "measured; later configurations were not measured\n",
                r->options->max_time_ms / 1000, r->stopped_at);
    if (few)
        fprintf(r->out, "  %d rows include layers timed by fewer than 3 calls (a measurement's "
                "timed calls stop after %.0f s)\n", few, MEASURE_MS / 1000);
}

static cJSON *rows_json(const bench_run *r)
{
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; i < r->row_count; i++) {
        const bench_row *x = &r->rows[i];
        cJSON *o = cJSON_CreateObject();
        char model[2] = {x->model, '\0'};
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddNumberToObject(o, "imgsz", x->imgsz);
        cJSON_AddNumberToObject(o, "batch", x->batch);
        cJSON_AddStringToObject(o, "op", x->op);
        cJSON_AddStringToObject(o, "pass", x->pass);
        cJSON_AddNumberToObject(o, "layers", x->layers);
        cJSON_AddBoolToObject(o, "partial", x->partial);
        cJSON_AddNumberToObject(o, "fewest_runs", x->fewest_runs);
        cJSON_AddNumberToObject(o, "ms", x->ms);
        if (x->flops > 0) {
            cJSON_AddNumberToObject(o, "gflops", row_rate(x));
            cJSON_AddNumberToObject(o, "vs_sgemm", row_rate(x) / r->sgemm_gflops);
        } else {
            cJSON_AddNumberToObject(o, "gbps", row_rate(x));
            cJSON_AddNumberToObject(o, "vs_copy", row_rate(x) / r->copy_gbps);
        }
        cJSON *kernels = cJSON_AddObjectToObject(o, "kernel_ms");
        for (int k = 0; k < x->kernel_count; k++)
            cJSON_AddNumberToObject(kernels, x->kernels[k].name, x->kernels[k].ms);
        cJSON_AddItemToArray(list, o);
    }
    return list;
}

static cJSON *device_json(const bench_run *r, const ykd_device_info *info, const char *timing)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "index", info->index);
    cJSON_AddStringToObject(d, "name", info->name);
    cJSON_AddStringToObject(d, "platform", info->platform_name);
    cJSON_AddStringToObject(d, "timing", r->events ? "events" : "host");
    cJSON_AddStringToObject(d, "timing_note", timing);
    cJSON_AddNumberToObject(d, "sgemm_gflops", r->sgemm_gflops);
    cJSON_AddNumberToObject(d, "copy_gbps", r->copy_gbps);
    if (r->stopped)
        cJSON_AddStringToObject(d, "stopped", r->stopped_at);
    cJSON_AddItemToObject(d, "results", rows_json(r));
    return d;
}

/* Marks the rows of the configuration --max-time interrupted. */
static void mark_partial(bench_run *r)
{
    for (int i = 0; r->stopped && r->layer && i < r->row_count; i++) {
        bench_row *x = &r->rows[i];
        x->partial |= x->model == r->model && x->imgsz == r->imgsz && x->batch == r->batch;
    }
}

static ykd_status bench_configurations(bench_run *r, ykd_error *err)
{
    const bench_options *o = r->options;
    ykd_status st = bench_references(r, 1024, &r->sgemm_gflops, &r->copy_gbps, err);
    if (st == YKD_OK && !o->json) {
        char sgemm[32], copy[32];
        fprintf(r->out, "  CLBlast SGEMM 1024^3: %s GFLOP/s; buffer copy: %s GB/s\n",
                rate_text(r->sgemm_gflops, sgemm, sizeof sgemm),
                rate_text(r->copy_gbps, copy, sizeof copy));
        fflush(r->out);
    }
    for (const char *m = o->models; *m && st == YKD_OK && !r->stopped; m++)
        for (int i = 0; i < o->imgsz_count && st == YKD_OK && !r->stopped; i++)
            for (int b = 0; b < o->batch_count && st == YKD_OK && !r->stopped; b++) {
                r->model = *m;
                r->imgsz = o->imgsz[i];
                r->batch = o->batch[b];
                st = bench_model(r, err);
            }
    mark_partial(r);
    return st;
}

static ykd_status bench_device(bench_run *r, const char *spec, cJSON *json_devices,
                               ykd_error *err)
{
    const bench_options *o = r->options;
    ykd_status st = ykd_device_open(spec, NULL, &r->device, err);
    if (st != YKD_OK)
        return st;
    r->start_ms = ykd_now_ms();
    const ykd_device_info *info = ykd_device_get_info(r->device);
    snprintf(r->device_name, sizeof r->device_name, "%d: %s", info->index, info->name);
    if (!o->json)
        fprintf(r->out, "device %d: %s (%s)\n", info->index, info->name, info->platform_name);
    const ykd_device_timing *timing = NULL;
    char how[400] = "";
    st = ykd_device_timing_get(r->device, &timing, err);
    if (st == YKD_OK) {
        r->events = timing->events;
        ykd_device_timing_describe(timing, how, sizeof how);
        if (!o->json)
            fprintf(r->out, "  timing: %s\n", how);
        st = bench_configurations(r, err);
    }
    if (o->json && o->per_layer)
        r->layer_json = cJSON_CreateArray();
    if (st == YKD_OK && !o->json) {
        print_rows(r);
        fprintf(r->out, "  (%.0f s including compilation and GEMM tuning)\n\n",
                (ykd_now_ms() - r->start_ms) / 1000);
    }
    if (st == YKD_OK && o->json) {
        cJSON *d = device_json(r, info, how);
        if (r->layer_json)
            cJSON_AddItemToObject(d, "layers", r->layer_json);
        r->layer_json = NULL;
        cJSON_AddItemToArray(json_devices, d);
    }
    cJSON_Delete(r->layer_json);
    r->layer_json = NULL;
    ykd_device_close(r->device);
    r->device = NULL;
    return st;
}

static const bench_row *find_row(const bench_run *r, const bench_row *like)
{
    for (int i = 0; i < r->row_count; i++) {
        const bench_row *x = &r->rows[i];
        if (x->model == like->model && x->imgsz == like->imgsz && x->batch == like->batch &&
            strcmp(x->op, like->op) == 0 && strcmp(x->pass, like->pass) == 0)
            return x;
    }
    return NULL;
}

static void print_cell(FILE *out, double value, bool partial)
{
    char text[32];
    fprintf(out, " %13s%s", rate_text(value, text, sizeof text), partial ? "*" : " ");
}

/* The devices' figures side by side: the comparison the benchmark exists for. */
static void print_side_by_side(const bench_run *runs, int count, FILE *out)
{
    fprintf(out, "side by side: GFLOP/s (GB/s for copy and the memory-bound ops); * partial\n");
    for (int d = 0; d < count; d++)
        fprintf(out, "  [%d] device %s (timed by %s)\n", d, runs[d].device_name,
                runs[d].events ? "events" : "the host clock");
    fprintf(out, "  %-36s", "");
    for (int d = 0; d < count; d++)
        fprintf(out, " %11s[%d]", "", d);
    fprintf(out, "\n  %-36s", "CLBlast SGEMM 1024^3");
    for (int d = 0; d < count; d++)
        print_cell(out, runs[d].sgemm_gflops, false);
    fprintf(out, "\n  %-36s", "buffer copy");
    for (int d = 0; d < count; d++)
        print_cell(out, runs[d].copy_gbps, false);
    fprintf(out, "\n");
    for (int d = 0; d < count; d++)
        for (int i = 0; i < runs[d].row_count; i++) {
            const bench_row *x = &runs[d].rows[i];
            bool shown = false;
            for (int e = 0; e < d && !shown; e++)
                shown = find_row(&runs[e], x) != NULL;
            if (shown)
                continue;
            char label[64];
            snprintf(label, sizeof label, "%c %d %d %s %s", x->model, x->imgsz, x->batch, x->op,
                     x->pass);
            fprintf(out, "  %-36s", label);
            for (int e = 0; e < count; e++) {
                const bench_row *y = find_row(&runs[e], x);
                if (y)
                    print_cell(out, row_rate(y), y->partial);
                else
                    fprintf(out, " %13s ", "-");
            }
            fprintf(out, "\n");
        }
}

/* ---- the command line ------------------------------------------------------------------ */

static void print_help(FILE *f)
{
    fprintf(f,
            "usage: yolokd bench ops [--devices all|SPEC,SPEC...] [--models n,s] [--imgsz 320,640]\n"
            "                        [--batch 8,16] [--ops conv2d,...] [--min-time SECONDS]\n"
            "                        [--max-time SECONDS] [--layers] [--json]\n"
            "\n"
            "Times every op, forward and backward, on the layer shapes of YOLOv8 models, and\n"
            "prints per model configuration, op and pass the total time over the layers and\n"
            "GFLOP/s (compute-bound ops) or GB/s (memory-bound ops), with their ratio to\n"
            "CLBlast's SGEMM (1024^3) and to the buffer-copy bandwidth measured in the same run.\n"
            "Each figure is the median of at least three calls after a warm-up call (at least\n"
            "one where calls take over a third of a second), timed on the device with OpenCL\n"
            "events, or by the host clock around a finished queue on a device whose events are\n"
            "missing, zero or coarse (a calibration per device decides; the output says which).\n"
            "With several devices, a last table puts their figures side by side.\n"
            "\n"
            "  --devices   'all', or device specs separated by commas (default: the --device\n"
            "              given before 'bench', else the default device)\n"
            "  --models    YOLOv8 scales among n, s, m, l, x (default n,s)\n"
            "  --imgsz     image sizes (default 320,640)\n"
            "  --batch     batch sizes (default 8,16)\n"
            "  --ops       only these ops (conv2d, batchnorm, silu, maxpool, upsample, concat,\n"
            "              softmax, sgd, adamw)\n"
            "  --min-time  seconds of timed calls per measurement at least (default 0.05)\n"
            "  --max-time  seconds per device (default 300): no measurement starts after it;\n"
            "              the rows of an interrupted configuration are marked *\n"
            "  --layers    also print (or put in the JSON) every layer's figure\n"
            "  --json      one JSON object instead of tables\n");
}

/* Splits "a,b,c" into ints; false on a bad number. */
static bool parse_ints(const char *text, int *values, int *count)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    *count = 0;
    for (char *save = NULL, *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (*end || v <= 0 || v > 100000 || *count >= YKD_BENCH_MAX_LIST)
            return false;
        values[(*count)++] = (int)v;
    }
    return *count > 0;
}

static bool parse_models(const char *text, char *models)
{
    int n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == ',')
            continue;
        if (!strchr("nsmlx", *p) || n >= YKD_BENCH_MAX_LIST - 1)
            return false;
        models[n++] = *p;
    }
    models[n] = '\0';
    return n > 0;
}

static bool parse_devices(const char *text, bench_options *o)
{
    o->device_count = 0;
    if (strcmp(text, "all") == 0) {
        ykd_device_info *devices = NULL;
        size_t count = 0;
        ykd_error err;
        if (ykd_device_list(&devices, &count, &err) != YKD_OK)
            return false;
        for (size_t i = 0; i < count && i < YKD_BENCH_MAX_LIST; i++)
            snprintf(o->devices[o->device_count++], 64, "%zu", i);
        ykd_device_list_free(devices);
        return o->device_count > 0;
    }
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", text);
    for (char *save = NULL, *s = strtok_r(copy, ",", &save); s && o->device_count <
         YKD_BENCH_MAX_LIST; s = strtok_r(NULL, ",", &save))
        snprintf(o->devices[o->device_count++], 64, "%s", s);
    return o->device_count > 0;
}

/* Returns -1 when parsing went well, else the exit code. */
static int parse_options(int argc, char **argv, const char *default_device, bench_options *o,
                         FILE *out, FILE *errf)
{
    *o = (bench_options){.min_time_ms = 50, .max_time_ms = 300000};
    snprintf(o->models, sizeof o->models, "ns");
    o->imgsz[0] = 320, o->imgsz[1] = 640, o->imgsz_count = 2;
    o->batch[0] = 8, o->batch[1] = 16, o->batch_count = 2;
    snprintf(o->devices[0], 64, "%s", default_device ? default_device : "");
    o->device_count = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true, takes_value = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help(out);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true, takes_value = false;
        } else if (strcmp(a, "--layers") == 0) {
            o->per_layer = true, takes_value = false;
        } else if (!v) {
            fprintf(errf, "yolokd bench ops: %s needs a value (see --help)\n", a);
            return 2;
        } else if (strcmp(a, "--devices") == 0) {
            ok = parse_devices(v, o);
        } else if (strcmp(a, "--models") == 0) {
            ok = parse_models(v, o->models);
        } else if (strcmp(a, "--imgsz") == 0) {
            ok = parse_ints(v, o->imgsz, &o->imgsz_count);
            for (int k = 0; ok && k < o->imgsz_count; k++)
                ok = o->imgsz[k] % 32 == 0;
        } else if (strcmp(a, "--batch") == 0) {
            ok = parse_ints(v, o->batch, &o->batch_count);
        } else if (strcmp(a, "--ops") == 0) {
            snprintf(o->ops, sizeof o->ops, "%s", v);
        } else if (strcmp(a, "--min-time") == 0) {
            char *end = NULL;
            double s = strtod(v, &end);
            ok = *end == '\0' && s >= 0 && s <= 60;
            o->min_time_ms = s * 1000;
        } else if (strcmp(a, "--max-time") == 0) {
            char *end = NULL;
            double s = strtod(v, &end);
            ok = *end == '\0' && s > 0 && s <= 86400;
            o->max_time_ms = s * 1000;
        } else {
            fprintf(errf, "yolokd bench ops: unknown argument '%s' (see --help)\n", a);
            return 2;
        }
        if (!ok) {
            fprintf(errf, "yolokd bench ops: bad value '%s' for %s (see --help)\n", v, a);
            return 2;
        }
        if (takes_value)
            i++;
    }
    return -1;
}

int ykd_bench_ops(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    FILE *out = io->out, *errf = io->err;
    bench_options options;
    int code = parse_options(argc, argv, globals->device, &options, out, errf);
    if (code >= 0)
        return code;
    bench_run *runs = calloc((size_t)options.device_count, sizeof *runs);
    if (!runs) {
        fprintf(errf, "yolokd bench ops: out of host memory\n");
        return 1;
    }
    cJSON *root = options.json ? cJSON_CreateObject() : NULL;
    cJSON *devices = root ? cJSON_AddArrayToObject(root, "devices") : NULL;
    code = 0;
    int done = 0;
    /* a device that fails is reported and the others still run: the comparison is the point */
    for (int i = 0; i < options.device_count; i++) {
        ykd_error err = {0};
        bench_run *r = &runs[done];
        *r = (bench_run){.options = &options, .out = out};
        ykd_status st = bench_device(r, options.devices[i], devices, &err);
        if (st == YKD_OK) {
            done++;
            continue;
        }
        fprintf(errf, "yolokd bench ops: %s\n", err.message);
        bool usage = st == YKD_ERR_NOT_FOUND || st == YKD_ERR_AMBIGUOUS;
        code = usage || code == 2 ? 2 : 1;
    }
    if (!options.json && done > 1)
        print_side_by_side(runs, done, out);
    if (root && code == 0) {
        char *text = cJSON_Print(root);
        if (text)
            fprintf(out, "%s\n", text);
        cJSON_free(text);
    }
    cJSON_Delete(root);
    free(runs);
    return code;
}
