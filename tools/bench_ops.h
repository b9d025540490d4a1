/* The op benchmark's shared types: options, timed cases, result rows. */
#ifndef YKD_BENCH_OPS_H
#define YKD_BENCH_OPS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "yolo_layers.h"
#include "yolokd/device.h"

enum { YKD_BENCH_MAX_LIST = 16, YKD_BENCH_MAX_ROWS = 512 };

typedef struct bench_options {
    char devices[YKD_BENCH_MAX_LIST][64];
    int device_count;
    char models[YKD_BENCH_MAX_LIST];
    int imgsz[YKD_BENCH_MAX_LIST], imgsz_count;
    int batch[YKD_BENCH_MAX_LIST], batch_count;
    char ops[256]; /* comma list of op names, empty for all */
    double min_time_ms;
    double max_time_ms; /* per device: no measurement starts after this */
    bool json, per_layer;
} bench_options;

/* One timed call of an op, on tensors a family set up for one layer. */
typedef struct bench_case {
    const char *op, *pass;
    double flops; /* arithmetic per call; 0 for memory-bound ops */
    double bytes; /* memory traffic per call (reads + writes) */
    ykd_status (*run)(void *ctx, ykd_error *err);
    void *ctx;
} bench_case;

/* Totals over the layers of one model configuration for one op and pass. */
enum { YKD_BENCH_MAX_KERNELS = 8 };

typedef struct bench_row {
    char model;
    int imgsz, batch;
    const char *op, *pass;
    int layers;
    int fewest_runs; /* timed calls behind the row's least-measured layer */
    bool partial;    /* --max-time stopped the configuration before its last layer */
    double ms, flops, bytes;
    /* device time per call by kernel, summed over the layers: where the time goes */
    struct {
        const char *name;
        double ms;
    } kernels[YKD_BENCH_MAX_KERNELS];
    int kernel_count;
} bench_row;

typedef struct bench_run {
    const bench_options *options;
    FILE *out;
    ykd_device *device;
    char device_name[300];
    bool events;          /* the device is timed by its events, else by the host clock */
    double start_ms;      /* when the device's run began */
    bool stopped;         /* --max-time passed */
    char stopped_at[160]; /* where */
    double sgemm_gflops, copy_gbps;
    bench_row rows[YKD_BENCH_MAX_ROWS];
    int row_count;
    cJSON *layer_json; /* per-layer records when --layers and --json */
    char model;
    int imgsz, batch;
    const yolo_layer *layer;
} bench_run;

/* Measures each case (skipping ops not selected) and adds it to the run's rows. */
ykd_status ykd_bench_cases(bench_run *run, const bench_case *cases, int count, ykd_error *err);

/* The benchmarks of the ops other than convolution on run->layer: batch norm and SiLU after a
 * convolution, pooling, upsampling, concat, the DFL softmax. */
ykd_status ykd_bench_other_ops(bench_run *run, ykd_error *err);

/* SGD and AdamW steps over `parameters` floats. */
ykd_status ykd_bench_optimizers(bench_run *run, size_t parameters, ykd_error *err);

#endif
