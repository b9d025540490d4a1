/* Data-parallel training under mpirun (two ranks, oversubscribed, on PoCL's CPU device) against
 * one process: with --sync-bn the same losses and weights as one process with the whole batch;
 * without it, each rank's BN statistics are its own images', and the first step's loss is the
 * one computed here from the two halves, each normalised by its own statistics; a rank killed
 * mid-run ends the run, with an error, within a bounded time. Skipped, with the reason, in a
 * build without MPI. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/comm.h"
#include "harness.h"
#include "train/head_views.h"
#include "train_fixtures.h"
#include "yolokd/data.h"
#include "yolokd/kd_loss.h"
#include "yolokd/loss.h"
#include "yolokd/model.h"

#ifndef YKD_TEST_YOLOKD
#error "tests/meson.build defines YKD_TEST_YOLOKD, the yolokd binary's path"
#endif

/* The tests' runs: the tiny model on 8 synthetic images of 64 pixels, a global batch of 8 (one
 * step per epoch), PoCL's CPU device, fixed GEMM kernels so every process computes alike. */
typedef tx_world mpi_world;

/* Whether the suite can run here: MPI built in and mpirun on the PATH. */
static bool mpi_ready(ykd_test *t)
{
    if (!ykd_comm_library()) {
        ykd_test_skip(t, "yolokd is built without MPI (meson found no MPI, or -Dmpi=disabled): "
                         "nothing to run under mpirun");
        return false;
    }
    return CHECKF(t, system("command -v mpirun > /dev/null 2>&1") == 0,
                  "yolokd is built with %s but mpirun is not on the PATH (Debian: openmpi-bin)",
                  ykd_comm_library());
}

static bool world_make(ykd_test *t, mpi_world *w)
{
    if (!tx_world_make_with(t, w, 2))
        return false;
    /* the same kernels in every process: GEMM choices are measured per process otherwise */
    setenv("YOLOKD_GEMM", "tiled", 1);
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1); /* containers lack CMA */
    return true;
}

/* Runs argv (NULL-terminated) with stdout and stderr into log; *status is its wait status.
 * Returns false (the process group killed) when it is still running after timeout_s. The
 * child's pid is *pid while it runs, for a test that kills a rank. */
static bool run_logged(ykd_test *t, char *const *argv, const char *log, int timeout_s,
                       int *status, void (*meanwhile)(ykd_test *t, pid_t pid, void *user),
                       void *user)
{
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    if (!CHECK(t, pid > 0))
        return false;
    if (meanwhile)
        meanwhile(t, pid, user);
    for (int waited_ms = 0; waited_ms < timeout_s * 1000; waited_ms += 50) {
        if (waitpid(pid, status, WNOHANG) == pid)
            return true;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, status, 0);
    return CHECKF(t, false, "%s still ran after %d s (killed; its output: %s)", argv[0],
                  timeout_s, log);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    size_t got = text ? fread(text, 1, (size_t)size, f) : 0;
    fclose(f);
    if (text)
        text[got] = '\0';
    return text;
}

/* "mpirun --oversubscribe [--allow-run-as-root] -np np" into argv; returns the count. */
static int mpirun_words(char **argv, char *np)
{
    int n = 0;
    argv[n++] = "mpirun";
    if (geteuid() == 0) /* as CI runs */
        argv[n++] = "--allow-run-as-root";
    argv[n++] = "--oversubscribe";
    argv[n++] = "-np";
    argv[n++] = np;
    return n;
}

/* What a run adds to the common command: environment variables for its ranks (NAME=VALUE)
 * and arguments, each list NULL-terminated (or NULL). */
typedef struct run_extras {
    const char *const *env;
    const char *const *args;
    const char *batch; /* NULL: 8 */
} run_extras;

/* `yolokd train` of the tiny model into w/run (with a teacher file, `yolokd distill` of the
 * tiny student): with ranks > 0 under mpirun -np ranks. */
static bool run_command_with(ykd_test *t, const mpi_world *w, int ranks, const char *run,
                             const char *epochs, bool sync_bn, const char *teacher,
                             const run_extras *extras)
{
    char out[4300], log[4400], np[16];
    snprintf(out, sizeof out, "%s/%s", w->dir, run);
    snprintf(log, sizeof log, "%s/%s.log", w->dir, run);
    snprintf(np, sizeof np, "%d", ranks);
    char *argv[64];
    int n = 0;
    if (ranks > 0) {
        n = mpirun_words(argv, np);
        argv[n++] = "-x";
        argv[n++] = "YOLOKD_CHECK_SYNC=1"; /* every step's parameters hashed on every rank */
        for (const char *const *e = extras ? extras->env : NULL; e && *e; e++) {
            argv[n++] = "-x";
            argv[n++] = (char *)*e;
        }
    }
    char *args[] = {YKD_TEST_YOLOKD, "--device", "pocl", teacher ? "distill" : "train",
                    teacher ? "--student" : "--model", (char *)w->model,
                    "--data", (char *)w->data, "--out", out, "--epochs", (char *)epochs,
                    "--batch", extras && extras->batch ? (char *)extras->batch : "8", "--nbs", "8", "--imgsz", "64", "--workers", "1", "--seed",
                    "7", "--close-mosaic", "1", "--no-val"};
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
        argv[n++] = args[i];
    if (sync_bn)
        argv[n++] = "--sync-bn";
    if (teacher) {
        argv[n++] = "--teacher";
        argv[n++] = (char *)teacher;
    }
    for (const char *const *a = extras ? extras->args : NULL; a && *a && n < 62; a++)
        argv[n++] = (char *)*a;
    argv[n] = NULL;
    int status = 0;
    bool ok = run_logged(t, argv, log, 300, &status, NULL, NULL);
    char *text = read_text(log);
    ok = ok && CHECKF(t, WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "%s ended with status %d: %s", run, status, text ? text : "(no output)");
    int summaries = 0;
    for (const char *p = text; p && (p = strstr(p, "epochs done")) != NULL; p++)
        summaries++;
    if (ok) /* rank 0 alone reports */
        ok = CHECKF(t, summaries == 1, "%s: %d summary lines: %s", run, summaries, text);
    free(text);
    return ok;
}

static bool run_command(ykd_test *t, const mpi_world *w, int ranks, const char *run,
                        const char *epochs, bool sync_bn, const char *teacher)
{
    return run_command_with(t, w, ranks, run, epochs, sync_bn, teacher, NULL);
}

static bool train_run(ykd_test *t, const mpi_world *w, int ranks, const char *run,
                      const char *epochs, bool sync_bn)
{
    return run_command(t, w, ranks, run, epochs, sync_bn, NULL);
}

/* The last row's training losses (box, cls, dfl) of a run's metrics.csv. */
static bool last_losses(ykd_test *t, const mpi_world *w, const char *run, double loss[3])
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s/metrics.csv", w->dir, run);
    char *text = read_text(path);
    if (!CHECKF(t, text != NULL, "cannot read %s", path))
        return false;
    char *last = text;
    for (char *p = text; *p; p++)
        if (*p == '\n' && p[1])
            last = p + 1;
    int epoch = 0;
    bool ok = CHECKF(t, sscanf(last, "%d,%lf,%lf,%lf", &epoch, &loss[0], &loss[1], &loss[2]) == 4,
                     "%s: no losses in its last row '%s'", path, last);
    free(text);
    return ok;
}

/* Every float tensor of a safetensors file, by name (cJSON object of arrays). */
static cJSON *read_weights(ykd_test *t, const char *path)
{
    unsigned char *data = NULL;
    size_t size = 0;
    if (!tx_read_file(t, path, &data, &size))
        return NULL;
    uint64_t n = 0;
    for (int i = 7; i >= 0 && size >= 8; i--)
        n = n << 8 | data[i];
    cJSON *header = size >= 8 + n ? cJSON_ParseWithLength((const char *)data + 8, n) : NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON *item = NULL;
    cJSON_ArrayForEach(item, header)
    {
        cJSON *dtype = cJSON_GetObjectItem(item, "dtype");
        cJSON *offsets = cJSON_GetObjectItem(item, "data_offsets");
        if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "F32") != 0 || !offsets)
            continue;
        size_t a = (size_t)cJSON_GetArrayItem(offsets, 0)->valuedouble;
        size_t b = (size_t)cJSON_GetArrayItem(offsets, 1)->valuedouble;
        cJSON *values = cJSON_AddArrayToObject(out, item->string);
        for (size_t at = a; at + 4 <= b && 8 + n + b <= size; at += 4) {
            float v;
            memcpy(&v, data + 8 + n + at, 4);
            cJSON_AddItemToArray(values, cJSON_CreateNumber(v));
        }
    }
    cJSON_Delete(header);
    free(data);
    CHECKF(t, cJSON_GetArraySize(out) > 100, "%s: %d float tensors", path,
           cJSON_GetArraySize(out));
    return out;
}

/* The largest |a - b| / (1e-3 + |a|) over two runs' last.safetensors, and where. */
static double weights_difference(ykd_test *t, const mpi_world *w, const char *run_a,
                                 const char *run_b, char *where, size_t where_size)
{
    char pa[4400], pb[4400];
    snprintf(pa, sizeof pa, "%s/%s/last.safetensors", w->dir, run_a);
    snprintf(pb, sizeof pb, "%s/%s/last.safetensors", w->dir, run_b);
    cJSON *a = read_weights(t, pa), *b = read_weights(t, pb);
    double worst = a && b ? 0.0 : INFINITY;
    cJSON *ta = NULL;
    cJSON_ArrayForEach(ta, a)
    {
        cJSON *tb = cJSON_GetObjectItem(b, ta->string);
        int count = cJSON_GetArraySize(ta);
        if (!tb || cJSON_GetArraySize(tb) != count) {
            worst = INFINITY;
            snprintf(where, where_size, "%s (missing or reshaped)", ta->string);
            continue;
        }
        /* both lists walked in step: cJSON_GetArrayItem(i) walks from the head each time,
         * which made this loop over a model's weights take seconds */
        const cJSON *xa = ta->child, *xb = tb->child;
        for (int i = 0; i < count; i++, xa = xa->next, xb = xb->next) {
            double x = xa->valuedouble, y = xb->valuedouble;
            double d = fabs(x - y) / (1e-3 + fabs(x));
            if (d > worst) {
                worst = d;
                snprintf(where, where_size, "%s[%d]: %.9g against %.9g", ta->string, i, x, y);
            }
        }
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return worst;
}

static bool losses_close(const double a[3], const double b[3], double tolerance)
{
    for (int i = 0; i < 3; i++)
        if (!(fabs(a[i] - b[i]) <= tolerance * fabs(b[i])))
            return false;
    return true;
}

/* Runs "one" (one process) and "two" (two ranks) ended alike: their last losses (one, two)
 * and their weights within 1e-4 relative. */
static void expect_alike(ykd_test *t, const mpi_world *w, const double one[3],
                         const double two[3], const char *epoch, const char *weights)
{
    CHECKF(t, losses_close(two, one, 1e-4),
           "%s's losses: two ranks box %.6g cls %.6g dfl %.6g, one process %.6g %.6g %.6g", epoch,
           two[0], two[1], two[2], one[0], one[1], one[2]);
    char where[512] = "";
    double d = weights_difference(t, w, "one", "two", where, sizeof where);
    CHECKF(t, d <= 1e-4, "%s differ by %g (relative) at %s", weights, d, where);
}

/* Three steps (an epoch is one global batch of 8): two ranks of 4 images with --sync-bn give
 * the losses and the weights of one process with the batch of 8, to float rounding (the
 * all-reduce and the split sums round differently: 1e-6 relative is measured, 1e-4 allowed). */
static void test_sync_bn_equals_one_process(ykd_test *t)
{
    mpi_world w;
    if (!mpi_ready(t) || !world_make(t, &w))
        return;
    double one[3], two[3];
    if (train_run(t, &w, 0, "one", "3", true) && train_run(t, &w, 2, "two", "3", true) &&
        last_losses(t, &w, "one", one) && last_losses(t, &w, "two", two)) {
        expect_alike(t, &w, one, two, "epoch 3", "the weights");
    }
    ykd_test_rmtree(w.dir);
}

/* The first step's loss over two halves of the batch of 8, each forwarded alone (its own BN
 * statistics), normalised together: the raw sums and target scores added, as the ranks do. */
static bool halves_loss(ykd_test *t, const mpi_world *w, double loss[3])
{
    ykd_error err;
    ykd_device *device = NULL;
    ykd_dataset *set = NULL;
    ykd_model_desc *desc = NULL;
    ykd_model *model = NULL;
    ykd_yolo_loss *yl = NULL;
    bool ok = CHECK_OK(t, ykd_device_open("pocl", NULL, &device, &err), err) &&
              CHECK_OK(t, ykd_dataset_open(w->data, YKD_SPLIT_TRAIN, NULL, &set, &err), err);
    ykd_model_desc_options mo = {NULL, 2};
    ok = ok && CHECK_OK(t, ykd_model_desc_load(w->model, &mo, &desc, &err), err) &&
         CHECK_OK(t, ykd_model_create(device, desc, 7, &model, &err), err) &&
         CHECK_OK(t, ykd_yolo_loss_init(device, 2, NULL, &yl, &err), err);
    double sums[5] = {0}; /* raw box, cls, dfl; target scores; images */
    ykd_yolo_loss_value v = {0};
    for (int r = 0; r < 2 && ok; r++) {
        ykd_loader_options lo;
        ykd_loader_options_default(&lo);
        lo.image_size = 64, lo.batch_size = 8, lo.workers = 0, lo.seed = 7, lo.epochs = 1;
        lo.close_mosaic = 1, lo.cache_mb = 16, lo.shard = r, lo.shards = 2;
        ykd_loader *loader = NULL;
        ykd_batch *b = NULL;
        ykd_tensor images = {0};
        ykd_head_views views;
        ok = CHECK_OK(t, ykd_loader_open(set, &lo, &loader, &err), err) &&
             CHECK_OK(t, ykd_loader_start_epoch(loader, 0, &err), err) &&
             CHECK_OK(t, ykd_loader_next(loader, &b, &err), err) && CHECK(t, b && b->count == 4) &&
             CHECK_OK(t, ykd_tensor_alloc(device, 4, 3, 64, 64, &images, &err), err) &&
             CHECK_OK(t, ykd_tensor_write(&images, b->images, &err), err) &&
             CHECK_OK(t, ykd_model_forward(model, &images, YKD_MODEL_TRAINING, &err), err) &&
             CHECK_OK(t, ykd_head_views_get(model, &views, &err), err);
        ykd_yolo_targets targets = {ok ? b->labels : NULL, ok ? b->box_counts : NULL,
                                    ok ? b->max_boxes : 0};
        ok = ok && CHECK_OK(t, ykd_yolo_loss_compute(yl, views.levels, views.count, &targets,
                                                     NULL, false, &v, &err),
                            err);
        double s = fmax(v.target_score_sum, 1.0);
        sums[0] += v.box_raw * s, sums[1] += v.cls_raw * s, sums[2] += v.dfl_raw * s;
        sums[3] += v.target_score_sum;
        ykd_tensor_free(&images);
        ykd_loader_release(loader, b);
        ykd_loader_close(loader);
    }
    ykd_yolo_loss_options g;
    ykd_yolo_loss_options_default(&g);
    double s = fmax(sums[3], 1.0);
    loss[0] = sums[0] / s * g.box_gain, loss[1] = sums[1] / s * g.cls_gain;
    loss[2] = sums[2] / s * g.dfl_gain;
    ykd_yolo_loss_free(yl);
    ykd_model_free(model);
    ykd_model_desc_free(desc);
    ykd_dataset_close(set);
    ykd_device_close(device);
    return ok;
}

/* Without --sync-bn each rank normalises with its own 4 images' BN statistics: the first
 * step's loss is the two halves' (computed here), which differs from the whole batch's (one
 * process) by far more than the rounding the --sync-bn test allows; the parameters and running
 * statistics still agree on every rank after every step (YOLOKD_CHECK_SYNC), and after three
 * steps the weights differ from the one process's. */
static void test_per_rank_bn_statistics(ykd_test *t)
{
    mpi_world w;
    if (!mpi_ready(t) || !world_make(t, &w))
        return;
    double one[3], two[3], halves[3];
    char where[512] = "";
    if (train_run(t, &w, 0, "one", "1", false) && train_run(t, &w, 2, "two", "1", false) &&
        last_losses(t, &w, "one", one) && last_losses(t, &w, "two", two) &&
        halves_loss(t, &w, halves)) {
        CHECKF(t, losses_close(two, halves, 1e-4),
               "the first step's losses: two ranks box %.6g cls %.6g dfl %.6g, the halves "
               "normalised alone %.6g %.6g %.6g",
               two[0], two[1], two[2], halves[0], halves[1], halves[2]);
        CHECKF(t, !losses_close(two, one, 1e-3),
               "the first step's losses of two ranks without --sync-bn (%.6g %.6g %.6g) are "
               "the whole batch's (%.6g %.6g %.6g)",
               two[0], two[1], two[2], one[0], one[1], one[2]);
    }
    if (train_run(t, &w, 0, "one3", "3", false) && train_run(t, &w, 2, "two3", "3", false)) {
        double d = weights_difference(t, &w, "one3", "two3", where, sizeof where);
        CHECKF(t, d > 1e-3, "after three steps the weights differ by only %g (%s)", d, where);
    }
    ykd_test_rmtree(w.dir);
}

/* Distillation (logit KD and LD from a teacher trained here for one step): two ranks with
 * --sync-bn, each running the teacher on its own images, give one process's detection losses
 * and student weights (which the KD gradients move) after two steps. */
static void test_distill_equals_one_process(ykd_test *t)
{
    mpi_world w;
    if (!mpi_ready(t) || !world_make(t, &w))
        return;
    char teacher[4300];
    snprintf(teacher, sizeof teacher, "%s/teacher/last.safetensors", w.dir);
    double one[3], two[3];
    if (train_run(t, &w, 0, "teacher", "1", false) &&
        run_command(t, &w, 0, "one", "2", true, teacher) &&
        run_command(t, &w, 2, "two", "2", true, teacher) && last_losses(t, &w, "one", one) &&
        last_losses(t, &w, "two", two)) {
        expect_alike(t, &w, one, two, "epoch 2", "the student's weights");
    }
    ykd_test_rmtree(w.dir);
}

/* The figures of a run's all-reduce note (rank 0's log): buckets per step, and per step those
 * read as the backward made them final and those reduced while it still ran (-1: none said). */
static bool overlap_figures(ykd_test *t, const mpi_world *w, const char *run, double figures[3])
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.log", w->dir, run);
    char *text = read_text(path);
    const char *note = text ? strstr(text, "gradient all-reduce over 2 ranks: ") : NULL;
    figures[0] = figures[1] = figures[2] = -1.0;
    bool ok = CHECKF(t, note != NULL, "%s: no all-reduce note in %s", run,
                     text ? text : "(no log)");
    if (ok) {
        const char *tail = strstr(note, "KiB per step, ");
        ok = CHECKF(t, sscanf(note, "gradient all-reduce over 2 ranks: %lf", &figures[0]) == 1,
                    "%s: unreadable note %.200s", run, note);
        if (ok && tail && strncmp(tail, "KiB per step, after", 19) != 0)
            ok = CHECKF(t, sscanf(tail, "KiB per step, %lf of them read as the backward made "
                                        "them final and %lf",
                                  &figures[1], &figures[2]) == 2,
                        "%s: unreadable note %.200s", run, note);
    }
    free(text);
    return ok;
}

/* The all-reduce overlapping the backward: with 8 KiB buckets (the tiny model's gradients make
 * several), every bucket is read from the device as soon as the backward has queued the
 * kernels that finish it, and with --sync-bn (whose exchange at every BN layer waits for the
 * device, so earlier buckets are read by then) some are reduced while the device still runs
 * the backward; turned off (YOLOKD_ALLREDUCE_OVERLAP=0) the same buckets are reduced after it,
 * and the weights after three steps are bit for bit the same; both are one process's, to the
 * tolerance of the test above. */
static void test_allreduce_overlaps_backward(ykd_test *t)
{
    mpi_world w;
    if (!mpi_ready(t) || !world_make(t, &w))
        return;
    /* one GEMM configuration: no path measured, so equal runs compute alike bit for bit */
    setenv("YOLOKD_GEMM", "tiled-8x1", 1);
    static const char *const on_env[] = {"YOLOKD_ALLREDUCE_BUCKET_KB=8", NULL};
    static const char *const off_env[] = {"YOLOKD_ALLREDUCE_BUCKET_KB=8",
                                          "YOLOKD_ALLREDUCE_OVERLAP=0", NULL};
    run_extras on = {on_env, NULL, NULL}, off = {off_env, NULL, NULL};
    double one[3], two[3], fig_on[3], fig_off[3];
    char where[512] = "";
    if (train_run(t, &w, 0, "one", "3", true) &&
        run_command_with(t, &w, 2, "two", "3", true, NULL, &on) &&
        run_command_with(t, &w, 2, "off", "3", true, NULL, &off) &&
        overlap_figures(t, &w, "two", fig_on) && overlap_figures(t, &w, "off", fig_off) &&
        last_losses(t, &w, "one", one) && last_losses(t, &w, "two", two)) {
        CHECKF(t, fig_on[0] >= 3 && fig_on[0] == fig_off[0],
               "buckets per step: %g with the overlap, %g without (at least 3 expected)",
               fig_on[0], fig_off[0]);
        CHECKF(t, fig_on[1] == fig_on[0],
               "%g buckets per step were read during the backward, of %g", fig_on[1],
               fig_on[0]);
        CHECKF(t, fig_on[2] >= 1.0,
               "only %g buckets per step were reduced while the backward ran", fig_on[2]);
        CHECKF(t, fig_off[1] < 0, "without the overlap the note still gives figures (%g)",
               fig_off[1]);
        double d = weights_difference(t, &w, "two", "off", where, sizeof where);
        CHECKF(t, d == 0.0, "the weights with and without the overlap differ by %g at %s", d,
               where);
        expect_alike(t, &w, one, two, "epoch 3", "the weights");
    }
    ykd_test_rmtree(w.dir);
}

/* Column `name` of a run's metrics.csv, in its last row. */
static bool last_column(ykd_test *t, const mpi_world *w, const char *run, const char *name,
                        double *value)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s/metrics.csv", w->dir, run);
    char *text = read_text(path);
    if (!CHECKF(t, text != NULL, "cannot read %s", path))
        return false;
    int column = -1, at = 0;
    for (char *p = text; *p && *p != '\n' && column < 0; at++) {
        size_t len = strcspn(p, ",\n");
        if (len == strlen(name) && strncmp(p, name, len) == 0)
            column = at;
        p += len + (p[len] == ',');
    }
    char *last = text;
    for (char *p = text; *p; p++)
        if (*p == '\n' && p[1])
            last = p + 1;
    for (int i = 0; i < column && last; i++)
        last = strchr(last, ',') ? strchr(last, ',') + 1 : NULL;
    bool ok = CHECKF(t, column >= 0 && last && sscanf(last, "%lf", value) == 1,
                     "%s: no column %s in its last row", path, name);
    free(text);
    return ok;
}

static bool write_file(ykd_test *t, const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    bool ok = CHECK(t, f != NULL) && fputs(text, f) >= 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    return ok;
}

/* The description of a teacher twice as wide as the tiny student (so the feature pairs go
 * through adapters), written into the world. */
static bool write_wide_teacher_model(ykd_test *t, const mpi_world *w, char *path, size_t size)
{
    snprintf(path, size, "%s/wide.json", w->dir);
    char *json = strdup(tx_tiny_model_json), *at = json ? strstr(json, "0.0625") : NULL;
    bool ok = CHECK(t, at != NULL);
    if (ok)
        memcpy(at, "0.125 ", 6);
    ok = ok && write_file(t, path, json);
    free(json);
    return ok;
}

/* The feature KD losses over ranks: with a teacher twice as wide (the pairs through adapters,
 * whose gradients the ranks average), batches of 5 (the 8 images make batches of 5 and 3,
 * which two ranks split 3 + 2 and 2 + 1) accumulated into one optimizer step per epoch, and
 * --sync-bn: CWD and imitation (masked to the assigned anchors, and everywhere) on two ranks
 * give one process's losses, KD loss and student weights after two steps, to the tolerance of
 * the tests above. Their normalisers (the images, the assigned anchors) are added over the
 * ranks; the adapters' gradients come out as one process's. */
static void test_feature_kd_equals_one_process(ykd_test *t)
{
    static const char *const configs[][3] = {
        {"cwd", "train/kd_cwd_loss", "{\"losses\": {\"cwd\": {\"weight\": 4}}}"},
        {"imitation", "train/kd_imitation_loss",
         "{\"losses\": {\"imitation\": {\"weight\": 4, \"mask\": \"assigned\"}}}"},
        {"imitation-all", "train/kd_imitation_loss",
         "{\"losses\": {\"imitation\": {\"weight\": 4, \"mask\": \"all\"}}}"},
    };
    mpi_world w;
    if (!mpi_ready(t) || !world_make(t, &w))
        return;
    char wide[4300], teacher[4300], config[4300], out[4400];
    snprintf(teacher, sizeof teacher, "%s/teacher/last.safetensors", w.dir);
    const char *teacher_args[] = {"--model", wide, NULL};
    run_extras teacher_run = {NULL, teacher_args, NULL};
    bool ok = write_wide_teacher_model(t, &w, wide, sizeof wide);
    /* the teacher trained alone, its --model the wide one (the later --model wins) */
    ok = ok && run_command_with(t, &w, 0, "teacher", "1", false, NULL, &teacher_run);
    for (size_t c = 0; c < sizeof configs / sizeof configs[0] && ok; c++) {
        snprintf(config, sizeof config, "%s/%s.json", w.dir, configs[c][0]);
        const char *kd_args[] = {"--kd", config, NULL};
        run_extras kd = {NULL, kd_args, "5"};
        double one[3], two[3], kd_one = 0.0, kd_two = 0.0;
        ok = write_file(t, config, configs[c][2]) &&
             run_command_with(t, &w, 0, "one", "2", true, teacher, &kd) &&
             run_command_with(t, &w, 2, "two", "2", true, teacher, &kd) &&
             last_losses(t, &w, "one", one) && last_losses(t, &w, "two", two) &&
             last_column(t, &w, "one", configs[c][1], &kd_one) &&
             last_column(t, &w, "two", configs[c][1], &kd_two);
        if (ok) {
            CHECKF(t, kd_one > 0.0 && fabs(kd_two - kd_one) <= 1e-4 * kd_one,
                   "%s: the KD loss of two ranks %.8g, of one process %.8g", configs[c][0],
                   kd_two, kd_one);
            snprintf(out, sizeof out, "%s: epoch 2", configs[c][0]);
            expect_alike(t, &w, one, two, out, configs[c][0]);
        }
        snprintf(out, sizeof out, "%s/one", w.dir);
        ykd_test_rmtree(out);
        snprintf(out, sizeof out, "%s/two", w.dir);
        ykd_test_rmtree(out);
    }
    ykd_test_rmtree(w.dir);
}

/* PKD of the first step of a batch of 8 (the student as created with seed 7, in training mode,
 * its BN statistics over the 8 images as --sync-bn makes them on two ranks; the teacher in
 * inference mode) summed over the feature pairs: over the whole batch (*whole) and as two
 * ranks of 4 compute it, each standardising its own 4 images (*halves: their mean). */
static bool pkd_whole_and_halves(ykd_test *t, const mpi_world *w, const char *teacher_path,
                                 double *whole, double *halves)
{
    ykd_error err;
    ykd_device *device = NULL;
    ykd_dataset *set = NULL;
    ykd_model_desc *desc = NULL;
    ykd_model *student = NULL, *teacher = NULL;
    ykd_loader *loader = NULL;
    ykd_batch *b = NULL;
    ykd_tensor images = {0};
    *whole = *halves = 0.0;
    ykd_model_desc_options mo = {NULL, 2};
    ykd_loader_options lo;
    ykd_loader_options_default(&lo);
    lo.image_size = 64, lo.batch_size = 8, lo.workers = 0, lo.seed = 7, lo.epochs = 1;
    lo.close_mosaic = 1, lo.cache_mb = 16;
    bool ok = CHECK_OK(t, ykd_device_open("pocl", NULL, &device, &err), err) &&
              CHECK_OK(t, ykd_dataset_open(w->data, YKD_SPLIT_TRAIN, NULL, &set, &err), err) &&
              CHECK_OK(t, ykd_model_desc_load(w->model, &mo, &desc, &err), err) &&
              CHECK_OK(t, ykd_model_create(device, desc, 7, &student, &err), err) &&
              CHECK_OK(t, ykd_model_load(device, teacher_path, &teacher, &err), err) &&
              CHECK_OK(t, ykd_loader_open(set, &lo, &loader, &err), err) &&
              CHECK_OK(t, ykd_loader_start_epoch(loader, 0, &err), err) &&
              CHECK_OK(t, ykd_loader_next(loader, &b, &err), err) && CHECK(t, b && b->count == 8) &&
              CHECK_OK(t, ykd_tensor_alloc(device, 8, 3, 64, 64, &images, &err), err) &&
              CHECK_OK(t, ykd_tensor_write(&images, b->images, &err), err) &&
              CHECK_OK(t, ykd_model_forward(student, &images, YKD_MODEL_TRAINING, &err), err) &&
              CHECK_OK(t, ykd_model_forward(teacher, &images, YKD_MODEL_INFERENCE, &err), err);
    for (int l = 0; ok && l < ykd_model_level_count(student); l++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", (int)lround(log2(ykd_model_level_stride(student, l))));
        ykd_tensor s, tt;
        double loss = 0.0;
        ok = CHECK_OK(t, ykd_model_output(student, name, &s, &err), err) &&
             CHECK_OK(t, ykd_model_output(teacher, name, &tt, &err), err) &&
             CHECK_OK(t, ykd_kd_pkd_loss(&s, &tt, NULL, &loss, &err), err);
        *whole += loss;
        for (int r = 0; r < 2 && ok; r++) {
            ykd_tensor sr = ykd_tensor_images(&s, 4 * r, 4), tr = ykd_tensor_images(&tt, 4 * r, 4);
            ok = CHECK_OK(t, ykd_kd_pkd_loss(&sr, &tr, NULL, &loss, &err), err);
            *halves += loss / 2;
        }
    }
    ykd_tensor_free(&images);
    if (loader)
        ykd_loader_release(loader, b);
    ykd_loader_close(loader);
    ykd_model_free(student);
    ykd_model_free(teacher);
    ykd_model_desc_free(desc);
    ykd_dataset_close(set);
    ykd_device_close(device);
    return ok;
}

/* PKD standardises each feature map per channel over the batch's images and positions, and
 * on K ranks over each rank's images alone (as BN without --sync-bn: not exchanged): the
 * first step's PKD loss of two ranks of 4 (with --sync-bn, so the features themselves are one
 * process's) is the mean of the two halves' PKD, computed here, which differs from the whole
 * batch's (by 0.4% with the teacher trained 40 steps; after one step its features are so
 * unlike the student's that PKD is about 1 whichever images standardise them); its normaliser
 * is the global batch's, so that mean is all the difference. */
static void test_pkd_standardises_per_rank(ykd_test *t)
{
    mpi_world w;
    if (!mpi_ready(t) || !world_make(t, &w))
        return;
    char teacher[4300], config[4300];
    snprintf(teacher, sizeof teacher, "%s/teacher/last.safetensors", w.dir);
    snprintf(config, sizeof config, "%s/pkd.json", w.dir);
    const char *kd_args[] = {"--kd", config, NULL};
    run_extras kd = {NULL, kd_args, NULL};
    double kd_one = 0.0, kd_two = 0.0, whole = 0.0, halves = 0.0;
    if (write_file(t, config, "{\"losses\": {\"pkd\": {\"weight\": 4}}}") &&
        train_run(t, &w, 0, "teacher", "40", false) &&
        run_command_with(t, &w, 0, "one", "1", true, teacher, &kd) &&
        run_command_with(t, &w, 2, "two", "1", true, teacher, &kd) &&
        last_column(t, &w, "one", "train/kd_pkd_loss", &kd_one) &&
        last_column(t, &w, "two", "train/kd_pkd_loss", &kd_two) &&
        pkd_whole_and_halves(t, &w, teacher, &whole, &halves)) {
        double measured = kd_two / kd_one, expected = halves / whole;
        CHECKF(t, kd_one > 0.0 && fabs(measured - expected) <= 1e-4 * expected,
               "PKD of two ranks over one process's: %.8g; the halves' over the whole batch's "
               "%.8g (%.8g over %.8g)",
               measured, expected, halves, whole);
        CHECKF(t, fabs(expected - 1.0) > 1e-3,
               "the halves' PKD (%.8g) is the whole batch's (%.8g): nothing to tell apart",
               halves, whole);
    }
    ykd_test_rmtree(w.dir);
}

/* The ranks mpirun started: its children running yolokd. */
static int rank_pids(pid_t parent, pid_t *pids, int cap)
{
    int n = 0;
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc && n < cap && (e = readdir(proc)) != NULL) {
        int pid = atoi(e->d_name);
        if (pid <= 0)
            continue;
        char path[300], stat[512];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t got = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[got] = '\0';
        const char *close = strrchr(stat, ')');
        int ppid = 0;
        if (strstr(stat, "(yolokd)") && close && sscanf(close + 2, "%*c %d", &ppid) == 1 &&
            ppid == parent)
            pids[n++] = pid;
    }
    if (proc)
        closedir(proc);
    return n;
}

typedef struct kill_plan {
    char run[4300];
    pid_t killed;
} kill_plan;

/* Once both ranks train (the run's first epoch is written), rank 1 (the last started) dies. */
static void kill_a_rank(ykd_test *t, pid_t mpirun, void *user)
{
    kill_plan *k = user;
    char state[4400];
    snprintf(state, sizeof state, "%s/last.state.safetensors", k->run);
    pid_t pids[4];
    for (int i = 0; i < 1200 && !k->killed; i++) {
        struct stat sb;
        if (stat(state, &sb) == 0 && rank_pids(mpirun, pids, 4) == 2) {
            k->killed = pids[1] > pids[0] ? pids[1] : pids[0];
            kill(k->killed, SIGKILL);
            break;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECKF(t, k->killed > 0, "the two ranks never both ran a first epoch");
}

/* A rank killed mid-run: mpirun ends every rank and fails, saying so, within 60 s. */
static void test_killed_rank_ends_the_run(ykd_test *t)
{
    mpi_world w;
    if (!mpi_ready(t) || !world_make(t, &w))
        return;
    kill_plan k = {.killed = 0};
    snprintf(k.run, sizeof k.run, "%s/long", w.dir);
    char log[4400];
    snprintf(log, sizeof log, "%s/long.log", w.dir);
    char *argv[32], np[] = "2";
    int n = mpirun_words(argv, np);
    char *args[] = {YKD_TEST_YOLOKD, "--device", "pocl", "train", "--model", w.model, "--data",
                    w.data, "--out", k.run, "--epochs", "100000", "--batch", "8", "--imgsz",
                    "64", "--workers", "1", "--no-val", NULL};
    memcpy(argv + n, args, sizeof args);
    int status = 0;
    time_t start = time(NULL);
    bool ended = run_logged(t, argv, log, 120, &status, kill_a_rank, &k);
    char *text = read_text(log);
    if (ended && k.killed > 0) {
        CHECKF(t, time(NULL) - start < 90, "the run took %lld s to end after the kill",
               (long long)(time(NULL) - start));
        CHECKF(t, !(WIFEXITED(status) && WEXITSTATUS(status) == 0),
               "mpirun succeeded though rank pid %d was killed: %s", (int)k.killed,
               text ? text : "");
        CHECKF(t, text && (strstr(text, "signal 9") || strstr(text, "Killed")),
               "mpirun did not name the killed rank: %s", text ? text : "");
    }
    free(text);
    ykd_test_rmtree(w.dir);
}

static const ykd_test_case cases[] = {
    {"mpi: two ranks with --sync-bn = one process with the whole batch (losses, weights)",
     test_sync_bn_equals_one_process, YKD_TEST_HOST},
    {"mpi: without --sync-bn, each rank's BN statistics (the halves' loss)",
     test_per_rank_bn_statistics, YKD_TEST_HOST},
    {"mpi: distillation on two ranks with --sync-bn = one process", test_distill_equals_one_process,
     YKD_TEST_HOST},
    {"mpi: distillation's CWD and imitation on two ranks (unequal parts, adapters) = one process",
     test_feature_kd_equals_one_process, YKD_TEST_HOST},
    {"mpi: distillation's PKD on two ranks standardises each rank's images (the halves' PKD)",
     test_pkd_standardises_per_rank, YKD_TEST_HOST},
    {"mpi: the all-reduce overlaps the backward, bit-identical to after it",
     test_allreduce_overlaps_backward, YKD_TEST_HOST},
    {"mpi: a killed rank ends the run with an error", test_killed_rank_ends_the_run,
     YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
