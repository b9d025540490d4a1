/* yolokd bench ops: every op, forward and backward, on the layer shapes of YOLOv8 models, on
 * each device asked for; GFLOP/s (or GB/s) per op and pass, beside CLBlast's SGEMM and the
 * device's buffer copy measured in the same run.
 *
 * Each measurement: one warm-up call (compiles kernels, tunes GEMMs), then calls until
 * --min-time has passed and at least three ran; the median, timed on the device between two
 * markers (OpenCL events). */
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

/* Device milliseconds of one call, between two markers. */
static ykd_status time_call(ykd_device *device, const bench_case *c, double *ms, ykd_error *err)
{
    cl_event before = NULL, after = NULL;
    ykd_status st = ykd_device_marker(device, &before, err);
    if (st == YKD_OK)
        st = c->run(c->ctx, err);
    if (st == YKD_OK)
        st = ykd_device_marker(device, &after, err);
    if (st == YKD_OK) {
        *ms = ykd_event_span_ms(before, after);
        if (*ms < 0)
            st = ykd_fail(err, YKD_ERR_OPENCL, "no profiling information for %s %s", c->op,
                          c->pass);
    }
    if (before)
        clReleaseEvent(before);
    if (after)
        clReleaseEvent(after);
    return st;
}

/* The median device time of one call; kernels (when not NULL) receives the time per kernel
 * of an average call, from the device's profile. */
static ykd_status measure(bench_run *r, const bench_case *c, double *ms, ykd_kernel_time *kernels,
                          size_t *kernel_count, ykd_error *err)
{
    double warm = 0, times[MAX_RUNS], total = 0;
    ykd_status st = time_call(r->device, c, &warm, err); /* compiles, tunes */
    if (st == YKD_OK && kernels)
        st = ykd_device_profile(r->device, true, err);
    int runs = 0;
    while (st == YKD_OK && runs < MAX_RUNS && (runs < 3 || total < r->options->min_time_ms)) {
        st = time_call(r->device, c, &times[runs], err);
        total += times[runs++];
    }
    if (kernels) {
        *kernel_count = ykd_device_profile_take(r->device, kernels, YKD_BENCH_MAX_KERNELS);
        for (size_t i = 0; i < *kernel_count && runs > 0; i++)
            kernels[i].ms /= runs;
        ykd_device_profile(r->device, false, NULL);
    }
    if (st == YKD_OK)
        *ms = median(times, runs);
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

static void record(bench_run *r, const bench_case *c, double ms, const ykd_kernel_time *kernels,
                   size_t kernel_count)
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
                           .op = c->op, .pass = c->pass};
    }
    if (row) {
        row->layers++;
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

/* Measures and records each case; a failure stops the device's run. */
ykd_status ykd_bench_cases(bench_run *r, const bench_case *cases, int count, ykd_error *err)
{
    for (int i = 0; i < count; i++) {
        if (!op_selected(r->options, cases[i].op))
            continue;
        double ms = 0;
        ykd_kernel_time kernels[YKD_BENCH_MAX_KERNELS];
        size_t kernel_count = 0;
        ykd_status st = measure(r, &cases[i], &ms, kernels, &kernel_count, err);
        if (st != YKD_OK) {
            ykd_error_prefix(err, "%s %s of %s", cases[i].op, cases[i].pass, r->layer->name);
            return st;
        }
        record(r, &cases[i], ms, kernels, kernel_count);
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
    if (st == YKD_OK)
        st = measure(r, &sgemm, &ms, NULL, NULL, err);
    if (st == YKD_OK) {
        *gflops = sgemm.flops / ms * 1e-6;
        st = measure(r, &copy, &ms, NULL, NULL, err);
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
    for (size_t i = 0; i < count && st == YKD_OK; i++) {
        const yolo_layer *l = &layers[i];
        r->layer = l;
        if (l->kind == YOLO_CONV) {
            st = bench_conv(r, err);
            parameters += (size_t)l->cout * l->cin * l->k * l->k + 2 * (size_t)l->cout;
        }
        if (st == YKD_OK)
            st = ykd_bench_other_ops(r, err);
    }
    if (st == YKD_OK)
        st = ykd_bench_optimizers(r, parameters, err);
    return st;
}

/* "    where: gemm 71%, im2col 25%, ...": each kernel's share of the row's device time. */
static void print_kernel_shares(FILE *out, const bench_row *x)
{
    double total = 0;
    for (int k = 0; k < x->kernel_count; k++)
        total += x->kernels[k].ms;
    if (x->kernel_count < 2 || total <= 0)
        return;
    fprintf(out, "  %38s", "kernels:");
    for (int k = 0; k < x->kernel_count; k++)
        fprintf(out, " %s %.0f%%%s", x->kernels[k].name, 100 * x->kernels[k].ms / total,
                k + 1 < x->kernel_count ? "," : "\n");
}

static void print_rows(const bench_run *r, double sgemm, double copy)
{
    fprintf(r->out, "  %-5s %-5s %-5s %-9s %-12s %6s %10s %9s %8s %9s %8s\n", "model", "imgsz", "batch",
           "op", "pass", "layers", "time ms", "GFLOP/s", "GB/s", "x SGEMM", "x copy");
    for (int i = 0; i < r->row_count; i++) {
        const bench_row *x = &r->rows[i];
        double gflops = x->flops / x->ms * 1e-6, gbps = x->bytes / x->ms * 1e-6;
        fprintf(r->out, "  %-5c %-5d %-5d %-9s %-12s %6d %10.2f", x->model, x->imgsz, x->batch, x->op,
               x->pass, x->layers, x->ms);
        if (x->flops > 0)
            fprintf(r->out, " %9.1f %8s %8.2fx %8s\n", gflops, "-", gflops / sgemm, "-");
        else
            fprintf(r->out, " %9s %8.1f %9s %7.2fx\n", "-", gbps, "-", gbps / copy);
        print_kernel_shares(r->out, x);
    }
}

static cJSON *rows_json(const bench_run *r, double sgemm, double copy)
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
        cJSON_AddNumberToObject(o, "ms", x->ms);
        if (x->flops > 0) {
            cJSON_AddNumberToObject(o, "gflops", x->flops / x->ms * 1e-6);
            cJSON_AddNumberToObject(o, "vs_sgemm", x->flops / x->ms * 1e-6 / sgemm);
        } else {
            cJSON_AddNumberToObject(o, "gbps", x->bytes / x->ms * 1e-6);
            cJSON_AddNumberToObject(o, "vs_copy", x->bytes / x->ms * 1e-6 / copy);
        }
        cJSON *kernels = cJSON_AddObjectToObject(o, "kernel_ms");
        for (int k = 0; k < x->kernel_count; k++)
            cJSON_AddNumberToObject(kernels, x->kernels[k].name, x->kernels[k].ms);
        cJSON_AddItemToArray(list, o);
    }
    return list;
}

static ykd_status bench_device(const bench_options *o, const char *spec, cJSON *json_devices,
                               FILE *out, ykd_error *err)
{
    bench_run *r = calloc(1, sizeof *r);
    if (!r)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "bench: out of host memory");
    r->options = o;
    r->out = out;
    ykd_status st = ykd_device_open(spec, NULL, &r->device, err);
    if (st != YKD_OK) {
        free(r);
        return st;
    }
    const ykd_device_info *info = ykd_device_get_info(r->device);
    if (!o->json)
        fprintf(r->out, "device %d: %s (%s)\n", info->index, info->name, info->platform_name);
    double sgemm = 0, copy = 0, start = ykd_now_ms();
    st = bench_references(r, 1024, &sgemm, &copy, err);
    if (st == YKD_OK && !o->json) {
        fprintf(r->out, "  CLBlast SGEMM 1024^3: %.1f GFLOP/s; buffer copy: %.1f GB/s\n", sgemm, copy);
        fflush(r->out);
    }
    if (o->json && o->per_layer)
        r->layer_json = cJSON_CreateArray();
    for (const char *m = o->models; *m && st == YKD_OK; m++)
        for (int i = 0; i < o->imgsz_count && st == YKD_OK; i++)
            for (int b = 0; b < o->batch_count && st == YKD_OK; b++) {
                r->model = *m;
                r->imgsz = o->imgsz[i];
                r->batch = o->batch[b];
                st = bench_model(r, err);
            }
    if (st == YKD_OK && !o->json) {
        print_rows(r, sgemm, copy);
        fprintf(r->out, "  (%.0f s including compilation and GEMM tuning)\n\n",
               (ykd_now_ms() - start) / 1000);
    }
    if (st == YKD_OK && o->json) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "index", info->index);
        cJSON_AddStringToObject(d, "name", info->name);
        cJSON_AddStringToObject(d, "platform", info->platform_name);
        cJSON_AddNumberToObject(d, "sgemm_gflops", sgemm);
        cJSON_AddNumberToObject(d, "copy_gbps", copy);
        cJSON_AddItemToObject(d, "results", rows_json(r, sgemm, copy));
        if (r->layer_json)
            cJSON_AddItemToObject(d, "layers", r->layer_json);
        r->layer_json = NULL;
        cJSON_AddItemToArray(json_devices, d);
    }
    cJSON_Delete(r->layer_json);
    ykd_device_close(r->device);
    free(r);
    return st;
}

/* ---- the command line ------------------------------------------------------------------ */

static void print_help(FILE *f)
{
    fprintf(f,
            "usage: yolokd bench ops [--devices all|SPEC,SPEC...] [--models n,s] [--imgsz 320,640]\n"
            "                        [--batch 8,16] [--ops conv2d,...] [--min-time SECONDS]\n"
            "                        [--layers] [--json]\n"
            "\n"
            "Times every op, forward and backward, on the layer shapes of YOLOv8 models, and\n"
            "prints per model configuration, op and pass the total time over the layers and\n"
            "GFLOP/s (compute-bound ops) or GB/s (memory-bound ops), with their ratio to\n"
            "CLBlast's SGEMM (1024^3) and to the buffer-copy bandwidth measured in the same run.\n"
            "Each figure is the median of at least three calls after a warm-up call, timed on\n"
            "the device with OpenCL events.\n"
            "\n"
            "  --devices   'all', or device specs separated by commas (default: the --device\n"
            "              given before 'bench', else the default device)\n"
            "  --models    YOLOv8 scales among n, s, m, l, x (default n,s)\n"
            "  --imgsz     image sizes (default 320,640)\n"
            "  --batch     batch sizes (default 8,16)\n"
            "  --ops       only these ops (conv2d, batchnorm, silu, maxpool, upsample, concat,\n"
            "              softmax, sgd, adamw)\n"
            "  --min-time  seconds of timed calls per measurement at least (default 0.05)\n"
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
    *o = (bench_options){.min_time_ms = 50};
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
    cJSON *root = options.json ? cJSON_CreateObject() : NULL;
    cJSON *devices = root ? cJSON_AddArrayToObject(root, "devices") : NULL;
    code = 0;
    for (int i = 0; i < options.device_count; i++) {
        ykd_error err = {0};
        ykd_status st = bench_device(&options, options.devices[i], devices, out, &err);
        if (st != YKD_OK) {
            fprintf(errf, "yolokd bench ops: %s\n", err.message);
            code = st == YKD_ERR_NOT_FOUND || st == YKD_ERR_AMBIGUOUS ? 2 : 1;
            break;
        }
    }
    if (root && code == 0) {
        char *text = cJSON_Print(root);
        if (text)
            fprintf(out, "%s\n", text);
        cJSON_free(text);
    }
    cJSON_Delete(root);
    return code;
}
