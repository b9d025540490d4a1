/* yolokd bench loader: how many images per second the loader delivers (decode, augment,
 * convert to float NCHW) with nothing consuming them, for the whole of each epoch. */
#include <string.h>
#include <time.h>

#include "bench.h"
#include "yolokd/data.h"

static void print_bench_loader_help(FILE *f)
{
    fprintf(f, "usage: yolokd bench loader --data DIR [--imgsz S] [--batch B] [--workers N]\n"
               "                           [--epochs E] [--split train|val] [--no-augment]\n"
               "                           [--no-mosaic]\n"
               "\n"
               "Times the loader over whole epochs of a dataset's split and prints images/s:\n"
               "over the epoch, and in steady state (after the first batch).\n"
               "\n"
               "  --imgsz S      model input size (default 640)\n"
               "  --batch B      batch size (default 16)\n"
               "  --workers N    loader threads (default 2)\n"
               "  --epochs E     epochs to time (default 1)\n"
               "  --split NAME   train (default) or val\n"
               "  --no-augment   letterbox only, as for validation\n"
               "  --no-mosaic    augment without mosaic (as in the close_mosaic epochs)\n");
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

typedef struct bench_args {
    const char *data;
    ykd_split split;
    long long epochs;
    ykd_loader_options loader;
} bench_args;

static int parse_int_arg(ykd_cli_io *io, int argc, char **argv, int *i, const char *name,
                         long long min, long long max, long long *out, bool *matched)
{
    const char *value = NULL;
    bool missing = false;
    *matched = ykd_cli_option_value(argc, argv, i, name, &value, &missing);
    if (!*matched)
        return -1;
    if (missing)
        return ykd_cli_usage_error(io, "bench loader", "%s needs a number", name);
    return ykd_cli_parse_int(io, "bench loader", name, value, min, max, out) ? -1 : YKD_EXIT_USAGE;
}

/* Returns -1 when the arguments are fine, else the exit code. */
static int parse_bench_args(int argc, char **argv, ykd_cli_io *io, bench_args *a)
{
    long long size = 640, batch = 16, workers = 2;
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false, matched = false;
        int code = -1;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_bench_loader_help(io->out);
            return YKD_EXIT_OK;
        } else if (strcmp(argv[i], "--no-augment") == 0) {
            a->loader.augment = false;
        } else if (strcmp(argv[i], "--no-mosaic") == 0) {
            a->loader.aug.mosaic = 0;
        } else if (ykd_cli_option_value(argc, argv, &i, "--data", &value, &missing)) {
            if (missing)
                return ykd_cli_usage_error(io, "bench loader", "--data needs a folder");
            a->data = value;
        } else if (ykd_cli_option_value(argc, argv, &i, "--split", &value, &missing)) {
            if (missing || (strcmp(value, "train") != 0 && strcmp(value, "val") != 0))
                return ykd_cli_usage_error(io, "bench loader", "--split is train or val");
            a->split = strcmp(value, "val") == 0 ? YKD_SPLIT_VAL : YKD_SPLIT_TRAIN;
        } else if ((code = parse_int_arg(io, argc, argv, &i, "--imgsz", 32, 4096, &size,
                                         &matched)) >= 0 ||
                   matched) {
        } else if ((code = parse_int_arg(io, argc, argv, &i, "--batch", 1, 1024, &batch,
                                         &matched)) >= 0 ||
                   matched) {
        } else if ((code = parse_int_arg(io, argc, argv, &i, "--workers", 0, 256, &workers,
                                         &matched)) >= 0 ||
                   matched) {
        } else if ((code = parse_int_arg(io, argc, argv, &i, "--epochs", 1, 1000, &a->epochs,
                                         &matched)) >= 0 ||
                   matched) {
        } else {
            return ykd_cli_usage_error(io, "bench loader", "unknown argument '%s'", argv[i]);
        }
        if (code >= 0)
            return code;
    }
    if (!a->data)
        return ykd_cli_usage_error(io, "bench loader", "--data DIR is required");
    a->loader.image_size = (int)size;
    a->loader.batch_size = (int)batch;
    a->loader.workers = (int)workers;
    return -1;
}

/* Runs one epoch; returns the images delivered, or -1 on error (printed). */
static long run_epoch(ykd_loader *loader, int epoch, ykd_cli_io *io, double *first_batch_s)
{
    ykd_error err = {0};
    double t0 = now_seconds();
    if (ykd_loader_start_epoch(loader, epoch, &err) != YKD_OK) {
        fprintf(io->err, "yolokd bench loader: %s\n", err.message);
        return -1;
    }
    long images = 0;
    for (;;) {
        ykd_batch *batch = NULL;
        if (ykd_loader_next(loader, &batch, &err) != YKD_OK) {
            fprintf(io->err, "yolokd bench loader: %s\n", err.message);
            return -1;
        }
        if (!batch)
            break;
        if (images == 0)
            *first_batch_s = now_seconds() - t0;
        images += (long)batch->count;
        ykd_loader_release(loader, batch);
    }
    return images;
}

int ykd_bench_loader(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    (void)globals;
    bench_args a = {NULL, YKD_SPLIT_TRAIN, 1, {0}};
    ykd_loader_options_default(&a.loader);
    int code = parse_bench_args(argc, argv, io, &a);
    if (code >= 0)
        return code;
    ykd_error err = {0};
    ykd_dataset *ds = NULL;
    ykd_loader *loader = NULL;
    double t0 = now_seconds();
    if (ykd_dataset_open(a.data, a.split, NULL, &ds, &err) != YKD_OK ||
        ykd_loader_open(ds, &a.loader, &loader, &err) != YKD_OK) {
        fprintf(io->err, "yolokd bench loader: %s\n", err.message);
        ykd_dataset_close(ds);
        return YKD_EXIT_FAILURE;
    }
    fprintf(io->out,
            "loader: %s (%s, %zu images), imgsz %d, batch %d, workers %d, augment %s, "
            "mosaic %s\nopen: %.2f s\n",
            a.data, ykd_split_name(a.split), ykd_dataset_count(ds), a.loader.image_size,
            a.loader.batch_size, a.loader.workers, a.loader.augment ? "on" : "off",
            a.loader.augment && a.loader.aug.mosaic > 0 ? "on" : "off", now_seconds() - t0);
    code = YKD_EXIT_OK;
    for (int e = 0; e < (int)a.epochs; e++) {
        double first = 0, start = now_seconds();
        long images = run_epoch(loader, e, io, &first);
        double seconds = now_seconds() - start;
        if (images < 0) {
            code = YKD_EXIT_FAILURE;
            break;
        }
        double steady = seconds > first ? (images - a.loader.batch_size) / (seconds - first) : 0;
        fprintf(io->out,
                "epoch %d: %ld images in %.2f s = %.1f images/s; first batch after %.2f s, "
                "then %.1f images/s\n",
                e, images, seconds, images / seconds, first, steady);
    }
    ykd_loader_close(loader);
    ykd_dataset_close(ds);
    return code;
}
