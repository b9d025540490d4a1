/* Training runs of a tiny model on a tiny synthetic dataset: a run stopped mid-epoch and
 * resumed ends bit-identical to an uninterrupted one; the gradient accumulation steps the
 * optimizer when it should, across epochs; a non-finite loss stops the run with its message and
 * leaves the files of the last epoch as they were; a resumed run refuses changed data; and the
 * train, val and detect commands on the tiny model. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "core/fs.h"
#include "harness.h"
#include "train_fixtures.h"
#include "yolokd/train.h"

/* Stops the run after a given batch of a given epoch (0-based epoch, 1-based batch), or at
 * the end of an epoch (batch 0). */
typedef struct stopper {
    int epoch;
    size_t batch;
    int batches_seen, epochs_seen;
} stopper;

static bool stop_at(const ykd_train_event *e, void *user)
{
    stopper *s = user;
    s->batches_seen += e->kind == YKD_TRAIN_BATCH;
    s->epochs_seen += e->kind == YKD_TRAIN_EPOCH;
    if (e->epoch != s->epoch)
        return true;
    if (s->batch == 0)
        return e->kind != YKD_TRAIN_EPOCH;
    return !(e->kind == YKD_TRAIN_BATCH && e->batch == s->batch);
}

/* Opens and runs a trainer; stop may be NULL. */
static bool train(ykd_test *t, const ykd_train_options *o, stopper *stop)
{
    ykd_trainer *tr = NULL;
    ykd_error err;
    bool ok = CHECK_OK(t, ykd_trainer_open(t->device, o, &tr, &err), err) &&
              CHECK_OK(t, ykd_trainer_run(tr, stop ? stop_at : NULL, stop, &err), err);
    ykd_trainer_close(tr);
    return ok;
}

static bool resume(ykd_test *t, const char *run, int expect_epoch)
{
    ykd_trainer *tr = NULL;
    ykd_error err;
    bool ok = CHECK_OK(t, ykd_trainer_resume(t->device, run, -1, &tr, &err), err) &&
              CHECKF(t, ykd_trainer_epoch(tr) == expect_epoch, "resumed at epoch %d",
                     ykd_trainer_epoch(tr)) &&
              CHECK_OK(t, ykd_trainer_run(tr, NULL, NULL, &err), err);
    ykd_trainer_close(tr);
    return ok;
}

/* Copies a validation image and its labels under another name. */
static bool copy_sample(ykd_test *t, const char *data, const char *from, const char *to)
{
    static const char *const kinds[][2] = {{"images", "png"}, {"labels", "txt"}};
    bool ok = true;
    for (int k = 0; k < 2 && ok; k++) {
        char src[4200], dst[4200];
        snprintf(src, sizeof src, "%s/%s/val/%s.%s", data, kinds[k][0], from, kinds[k][1]);
        snprintf(dst, sizeof dst, "%s/%s/val/%s.%s", data, kinds[k][0], to, kinds[k][1]);
        ok = tx_copy_file(t, src, dst);
    }
    return ok;
}

/* Run a trains 2 epochs at once. Run b is stopped after the first batch of its second epoch
 * (as a kill would leave it: the state of epoch 1) and resumed. The final weights (last, best)
 * and the whole state (raw and EMA weights, momentum, accumulated gradients) are the same bits;
 * the weights after one epoch are not (the second epoch did train). */
static void test_resume_is_bit_identical(ykd_test *t)
{
    tx_world w;
    if (!tx_fix_gemm(t, t->device) || !tx_world_make(t, &w))
        return;
    char out_a[4096], out_b[4096], a[4200], b[4200], mid[4200];
    ykd_train_options oa, ob;
    tx_options(&w, "a", out_a, &oa);
    tx_options(&w, "b", out_b, &ob);
    stopper stop = {1, 1, 0, 0};
    if (train(t, &oa, NULL) && train(t, &ob, &stop)) {
        CHECK(t, stop.epochs_seen == 1 && stop.batches_seen == 3);
        CHECK(t, tx_state_progress(t, out_b, "epoch") == 1);
        snprintf(mid, sizeof mid, "%s/epoch1.safetensors", w.dir);
        snprintf(b, sizeof b, "%s/last.safetensors", out_b);
        CHECK(t, rename(b, mid) == 0);
        if (resume(t, out_b, 1)) {
            snprintf(a, sizeof a, "%s/last.safetensors", out_a);
            CHECK(t, tx_same_files(t, a, b));
            CHECK(t, !tx_same_files(t, a, mid));
            snprintf(a, sizeof a, "%s/best.safetensors", out_a);
            snprintf(b, sizeof b, "%s/best.safetensors", out_b);
            CHECK(t, tx_same_files(t, a, b));
            char da[65] = "a", db[65] = "b";
            CHECK(t, tx_state_digest(t, out_a, da) && tx_state_digest(t, out_b, db) &&
                         strcmp(da, db) == 0);
            CHECK(t, tx_state_progress(t, out_b, "epoch") == 2);
        }
    }
    /* the metrics of both epochs are there after the resume */
    unsigned char *csv = NULL;
    size_t size = 0;
    snprintf(b, sizeof b, "%s/metrics.csv", out_b);
    if (tx_read_file(t, b, &csv, &size)) {
        int lines = 0;
        for (size_t i = 0; i < size; i++)
            lines += csv[i] == '\n';
        CHECKF(t, lines == 3, "metrics.csv has %d lines", lines);
    }
    free(csv);
    /* a finished run, and a run whose data changed, are refused */
    ykd_trainer *tr = NULL;
    ykd_error err;
    CHECK_STATUS(t, ykd_trainer_resume(t->device, out_a, -1, &tr, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "finished all its 2 epochs");
    CHECK(t, copy_sample(t, w.data, "000001", "extra"));
    CHECK_STATUS(t, ykd_trainer_resume(t->device, out_b, -1, &tr, &err), YKD_ERR_INVALID_ARGUMENT,
                 err);
    CHECK_CONTAINS(t, err.message, "4 validation images of");
    CHECK_CONTAINS(t, err.message, "which now has 5");
    CHECK_CONTAINS(t, err.message, "a resumed run must see the same data");
    tx_unfix_gemm(t->device);
    tx_world_free(&w);
}

/* batch 4, nbs 16: accumulate 4 with no warm-up; 2 batches an epoch, 3 epochs: iterations 0..5,
 * the optimizer steps at iteration 3 only (3 - (-1) >= 4), the next would be 7; the state keeps
 * the gradients of iterations 4 and 5. With the default warm-up (100 iterations) the
 * accumulation starts at round(1 + 3 ni / 100) = 1: a step every iteration. */
static void test_accumulation(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char out[4096];
    ykd_train_options o;
    tx_options(&w, "acc", out, &o);
    o.epochs = 3, o.nbs = 16, o.warmup_epochs = 0, o.val = false;
    if (train(t, &o, NULL)) {
        CHECK(t, tx_state_progress(t, out, "optimizer_steps") == 1);
        CHECK(t, tx_state_progress(t, out, "last_opt_step") == 3);
        CHECK(t, tx_state_progress(t, out, "ema_updates") == 1);
        CHECK(t, tx_state_progress(t, out, "batches_per_epoch") == 2);
    }
    o.warmup_epochs = 3, o.exist_ok = true;
    if (train(t, &o, NULL)) {
        CHECK(t, tx_state_progress(t, out, "optimizer_steps") == 6);
        CHECK(t, tx_state_progress(t, out, "last_opt_step") == 5);
    }
    /* without exist_ok a folder holding a run is refused */
    o.exist_ok = false;
    ykd_trainer *tr = NULL;
    ykd_error err;
    CHECK_STATUS(t, ykd_trainer_open(t->device, &o, &tr, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "already holds a run");
    tx_world_free(&w);
}

/* One epoch, then NaN in a BN weight of the raw model: the next epoch's first batch stops the
 * run, the message names the epoch, the batch and the three losses, and last is unchanged. */
static void test_nonfinite_loss_stops(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char out[4096], last[4200], copy[4200];
    ykd_train_options o;
    tx_options(&w, "nan", out, &o);
    ykd_trainer *tr = NULL;
    ykd_error err;
    stopper stop = {0, 0, 0, 0};
    if (!CHECK_OK(t, ykd_trainer_open(t->device, &o, &tr, &err), err) ||
        !CHECK_OK(t, ykd_trainer_run(tr, stop_at, &stop, &err), err)) {
        ykd_trainer_close(tr);
        tx_world_free(&w);
        return;
    }
    CHECK(t, ykd_trainer_stopped(tr) && ykd_trainer_epoch(tr) == 1);
    snprintf(last, sizeof last, "%s/last.safetensors", out);
    snprintf(copy, sizeof copy, "%s/epoch1.safetensors", w.dir);
    CHECK(t, tx_copy_file(t, last, copy));
    ykd_model *m = ykd_trainer_model(tr);
    const ykd_model_param *p = ykd_model_param_find(m, "model.0.bn.weight");
    float nan = NAN;
    if (CHECK(t, p != NULL))
        CHECK_OK(t, ykd_buffer_write(p->value.buffer, p->value.offset * sizeof(float), &nan,
                                     sizeof nan, &err),
                 err);
    CHECK_STATUS(t, ykd_trainer_run(tr, NULL, NULL, &err), YKD_ERR_NOT_FINITE, err);
    CHECK_CONTAINS(t, err.message, "epoch 2/2, batch 1/2");
    CHECK_CONTAINS(t, err.message, "the loss is not finite (box nan, cls nan, dfl nan)");
    CHECK_CONTAINS(t, err.message, "still hold epoch 1");
    CHECK(t, tx_same_files(t, last, copy));
    CHECK(t, tx_state_progress(t, out, "epoch") == 1);
    ykd_trainer_close(tr);
    tx_world_free(&w);
}

/* ---- kills ------------------------------------------------------------------------------- */

enum { KILLED = 77 };

/* The files a killed run left in its folder whose name holds ".tmp-". */
static int temp_files(const char *run)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls -a '%s' 2>/dev/null | grep -c '\\.tmp-'", run);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p && fscanf(p, "%d", &n) != 1)
        n = -1;
    if (p)
        pclose(p);
    return n;
}

static int count_lines(ykd_test *t, const char *run, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", run, name);
    unsigned char *data = NULL;
    size_t size = 0;
    int lines = 0;
    if (tx_read_file(t, path, &data, &size))
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n';
    free(data);
    return lines;
}

/* A run killed (or failed) at some write, then resumed, or started again when it had no
 * state yet, ends as the uninterrupted run ref: same weights, same state tensors, every
 * epoch's metrics, curves, and no temporary file left. */
static void check_recovered(ykd_test *t, const char *ref, const char *run, const char *what)
{
    char a[4200], b[4200], da[65] = "a", db[65] = "b";
    static const char *const same[] = {"last.safetensors", "best.safetensors"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", ref, same[i]);
        snprintf(b, sizeof b, "%s/%s", run, same[i]);
        CHECKF(t, tx_same_files(t, a, b), "%s: %s differs from the uninterrupted run's", what,
               same[i]);
    }
    CHECKF(t, tx_state_digest(t, ref, da) && tx_state_digest(t, run, db) && strcmp(da, db) == 0,
           "%s: the state differs from the uninterrupted run's", what);
    CHECKF(t, count_lines(t, run, "metrics.csv") == 3 && count_lines(t, run, "metrics.jsonl") == 2,
           "%s: metrics.csv has %d lines, metrics.jsonl %d", what,
           count_lines(t, run, "metrics.csv"), count_lines(t, run, "metrics.jsonl"));
    snprintf(b, sizeof b, "%s/curves.png", run);
    FILE *f = fopen(b, "rb");
    CHECKF(t, f != NULL, "%s: no curves.png", what);
    if (f)
        fclose(f);
    CHECKF(t, temp_files(run) == 0, "%s: %d temporary files left", what, temp_files(run));
}

/* Continues a run after a kill: resumed from its state, or trained anew without one. */
static bool recover(ykd_test *t, const ykd_train_options *o)
{
    char state[4200];
    snprintf(state, sizeof state, "%s/last.state.safetensors", o->out);
    FILE *f = fopen(state, "rb");
    if (!f)
        return train(t, o, NULL);
    fclose(f);
    ykd_trainer *tr = NULL;
    ykd_error err;
    bool ok = CHECK_OK(t, ykd_trainer_resume(t->device, o->out, -1, &tr, &err), err) &&
              CHECK_OK(t, ykd_trainer_run(tr, NULL, NULL, &err), err);
    ykd_trainer_close(tr);
    return ok;
}

/* The child of a real kill: trains w's run `name` on device `index`, ending the process with
 * _exit(KILLED) at its nth write (argv: --kill-child index dir name n). */
static int kill_child(char **argv)
{
    ykd_test t = {.name = "kill child"};
    ykd_error err;
    if (ykd_device_open(argv[2], NULL, &t.device, &err) != YKD_OK || !tx_fix_gemm(&t, t.device))
        return 2;
    tx_world w;
    snprintf(w.dir, sizeof w.dir, "%s", argv[3]);
    snprintf(w.model, sizeof w.model, "%s/tiny.json", w.dir);
    snprintf(w.data, sizeof w.data, "%s/data", w.dir);
    char out[4096];
    ykd_train_options o;
    tx_options(&w, argv[4], out, &o);
    ykd_fs_inject_fault(out, atoi(argv[5]), KILLED);
    bool ok = train(&t, &o, NULL);
    ykd_device_close(t.device);
    return ok ? 0 : 3;
}

/* A real kill: a child process (this program run anew, so no OpenCL state crosses a fork)
 * ends itself at write n. */
static bool kill_at_write(ykd_test *t, const tx_world *w, const char *name, int n)
{
    char index[16], count[16];
    snprintf(index, sizeof index, "%d", ykd_device_get_info(t->device)->index);
    snprintf(count, sizeof count, "%d", n);
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = {"test-train-run", "--kill-child", index, (char *)w->dir, (char *)name,
                        count, NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int status = 0;
    return CHECK(t, pid > 0 && waitpid(pid, &status, 0) == pid) &&
           CHECKF(t, WIFEXITED(status) && WEXITSTATUS(status) == KILLED,
                  "the child ended with status %d, not killed at write %d", status, n);
}

/* Every atomic write of a 2-epoch run (args.json; per epoch the state, last, best, curves,
 * metrics.csv, metrics.jsonl) fails in turn, leaving its temporary file as a kill would; the
 * run then resumes (or starts again before its first state) and ends bit-identical to an
 * uninterrupted run, with all its metrics and no temporary file. A real kill (a child process
 * ending itself) in the final epoch, after the state and before the other files, too. */
static void test_killed_at_every_write(ykd_test *t)
{
    tx_world w;
    if (!tx_fix_gemm(t, t->device) || !tx_world_make(t, &w))
        return;
    char ref[4096], out[4096], name[32], what[64];
    ykd_train_options o;
    tx_options(&w, "ref", ref, &o);
    int writes = 0;
    bool ok = train(t, &o, NULL);
    for (int n = 1; ok && n < 30; n++) {
        snprintf(name, sizeof name, "fail%d", n);
        tx_options(&w, name, out, &o);
        ykd_fs_inject_fault(out, n, -1);
        ykd_trainer *tr = NULL;
        ykd_error err;
        ykd_status st = ykd_trainer_open(t->device, &o, &tr, &err);
        if (st == YKD_OK)
            st = ykd_trainer_run(tr, NULL, NULL, &err);
        ykd_trainer_close(tr);
        ykd_fs_inject_fault(NULL, 0, -1);
        if (st == YKD_OK)
            break; /* the run has fewer writes */
        writes = n;
        snprintf(what, sizeof what, "failed at write %d", n);
        ok = CHECKF(t, strstr(err.message, "fault injected") != NULL, "%s", err.message) &&
             CHECKF(t, temp_files(out) == 1, "%s: %d temporary files", what, temp_files(out)) &&
             recover(t, &o);
        if (ok)
            check_recovered(t, ref, out, what);
    }
    CHECKF(t, writes >= 12, "only %d writes were failed", writes);
    /* a real kill in the final epoch, its state written: write 9 of 13 (last.safetensors) */
    tx_options(&w, "killed", out, &o);
    if (ok && kill_at_write(t, &w, "killed", 9)) {
        CHECK(t, tx_state_progress(t, out, "epoch") == 2);
        CHECK(t, count_lines(t, out, "metrics.jsonl") == 1 && temp_files(out) == 1);
        ykd_trainer *tr = NULL;
        ykd_error err;
        if (CHECK_OK(t, ykd_trainer_resume(t->device, out, -1, &tr, &err), err)) {
            CHECK(t, ykd_trainer_epoch(tr) == 2);
            CHECK_OK(t, ykd_trainer_run(tr, NULL, NULL, &err), err);
        }
        ykd_trainer_close(tr);
        check_recovered(t, ref, out, "killed after the final state");
        /* complete now: a second resume is refused */
        CHECK_STATUS(t, ykd_trainer_resume(t->device, out, -1, &tr, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "finished all its 2 epochs");
    }
    tx_unfix_gemm(t->device);
    tx_world_free(&w);
}

/* Replaces the first byte `from` after the first `needle` in the file with `to` (same length,
 * so the safetensors header stays valid). */
static bool edit_file(ykd_test *t, const char *path, const char *needle, char from, char to)
{
    unsigned char *data = NULL;
    size_t size = 0;
    if (!tx_read_file(t, path, &data, &size))
        return false;
    size_t n = strlen(needle), at = size;
    for (size_t i = 0; i + n <= size && at == size; i++)
        if (memcmp(data + i, needle, n) == 0)
            at = i + n;
    while (at < size && data[at] != (unsigned char)from)
        at++;
    bool ok = CHECKF(t, at < size, "no '%s' .. '%c' in %s", needle, from, path);
    if (ok) {
        data[at] = (unsigned char)to;
        FILE *f = fopen(path, "wb");
        ok = CHECK(t, f && fwrite(data, 1, size, f) == size);
        if (f)
            ok = CHECK(t, fclose(f) == 0) && ok;
    }
    free(data);
    return ok;
}

/* The options and the progress are inside the state's checksum: editing the epochs, or the
 * counters, is refused naming the file. */
static void test_edited_state_is_refused(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char out[4096], state[4200], copy[4200];
    ykd_train_options o;
    tx_options(&w, "edit", out, &o);
    o.val = false;
    stopper stop = {0, 0, 0, 0};
    snprintf(state, sizeof state, "%s/last.state.safetensors", out);
    snprintf(copy, sizeof copy, "%s/state.copy", w.dir);
    static const struct {
        const char *needle;
        char from, to;
    } edits[] = {{"epochs\\\":", '2', '3'}, {"optimizer_steps\\\":", '2', '1'}};
    if (train(t, &o, &stop) && tx_copy_file(t, state, copy)) {
        for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
            if (!tx_copy_file(t, copy, state) ||
                !edit_file(t, state, edits[i].needle, edits[i].from, edits[i].to))
                continue;
            ykd_trainer *tr = NULL;
            ykd_error err;
            CHECK_STATUS(t, ykd_trainer_resume(t->device, out, -1, &tr, &err), YKD_ERR_FORMAT,
                         err);
            CHECK_CONTAINS(t, err.message, state);
            CHECK_CONTAINS(t, err.message, "the file is damaged or was edited");
            ykd_trainer_close(tr);
        }
        CHECK(t, tx_copy_file(t, copy, state) && resume(t, out, 1)); /* as written: fine */
    }
    tx_world_free(&w);
}

/* ---- what training leaves out ------------------------------------------------------------- */

static bool write_text_file(ykd_test *t, const char *path, const char *text, size_t size)
{
    const void *parts[] = {text};
    ykd_error err;
    return CHECK_OK(t, ykd_file_write_atomic(path, parts, &size, 1, &err), err);
}

/* A corrupt training image and a bad label line: yolokd train names both before its first
 * epoch, as check-data does, and counts them in the epoch's summary; --strict stops at the
 * first. A label file with more boxes than the loss takes (with mosaic, four images' in one)
 * fails at once, naming the image. */
static void test_bad_inputs_named(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char spec[16], run[4096], image[4300], label[4300];
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    snprintf(run, sizeof run, "%s/run", w.dir);
    snprintf(image, sizeof image, "%s/images/train/000003.png", w.data);
    snprintf(label, sizeof label, "%s/labels/train/000005.txt", w.data);
    static const char garbage[] = "not a png at all";
    static const char bad_line[] = "0 0.5 0.5 0.2\n";
    ykd_test_env env = {0};
    ykd_test_setenv(&env, "YOLOKD_GEMM", ykd_test_fixed_gemm(t->device));
    if (write_text_file(t, image, garbage, sizeof garbage - 1) &&
        write_text_file(t, label, bad_line, sizeof bad_line - 1)) {
        run_result r = run_cli("train", "--model", w.model, "--data", w.data, "--out", run,
                               "--epochs", "1", "--batch", "4", "--imgsz", "64", "--workers", "1",
                               "--device", spec, NULL);
        CHECKF(t, r.code == 0, "train exit %d: %s", r.code, r.err);
        const char *named = strstr(r.out, "warning: ");
        const char *first_epoch = strstr(r.out, "   1/1    box");
        CHECKF(t, named && first_epoch && named < first_epoch,
               "the faults are not named before the first epoch:\n%s", r.out);
        CHECK_CONTAINS(t, r.out, "000003.png");
        CHECK_CONTAINS(t, r.out, "000005.txt:1:");
        CHECK_CONTAINS(t, r.out, "2 faults: 1 training and 0 validation images, 1 label lines "
                                 "left out");
        CHECK_CONTAINS(t, r.out, "| 2 inputs left out");
        free_result(&r);
        r = run_cli("train", "--model", w.model, "--data", w.data, "--out", run, "--exist-ok",
                    "--epochs", "1", "--batch", "4", "--imgsz", "64", "--device", spec,
                    "--strict", NULL);
        CHECKF(t, r.code == 1, "train --strict exit %d", r.code);
        CHECK_CONTAINS(t, r.err, "000003.png");
        free_result(&r);
    }
    /* 16385 distinct boxes on one image: four of it in a mosaic are over the loss's 65536, so
     * the data layer leaves the image out (as check-data does), named before the first epoch */
    size_t lines = 16385, size = 0;
    char *text = malloc(lines * 40); /* 32 bytes a line, and the NUL */
    for (size_t i = 0; text && i < lines; i++)
        size += (size_t)sprintf(text + size, "0 %.6f %.6f 0.001 0.001\n",
                                0.01 + 0.98 * (double)(i % 128) / 128.0,
                                0.01 + 0.98 * (double)(i / 128) / 128.0);
    snprintf(label, sizeof label, "%s/labels/train/000006.txt", w.data);
    if (CHECK(t, text != NULL) && write_text_file(t, label, text, size)) {
        run_result r = run_cli("train", "--model", w.model, "--data", w.data, "--out", run,
                               "--exist-ok", "--epochs", "1", "--batch", "4", "--imgsz", "64",
                               "--device", spec, NULL);
        CHECKF(t, r.code == 0, "train exit %d: %s", r.code, r.err);
        const char *named = strstr(r.out, "000006.txt");
        const char *first_epoch = strstr(r.out, "   1/1    box");
        CHECKF(t, named && first_epoch && named < first_epoch,
               "the crowded label file is not named before the first epoch:\n%s", r.out);
        CHECK_CONTAINS(t, r.out, "16385 boxes, over the limit of 16384 per image");
        free_result(&r);
        r = run_cli("train", "--model", w.model, "--data", w.data, "--out", run, "--exist-ok",
                    "--epochs", "1", "--batch", "4", "--imgsz", "64", "--device", spec,
                    "--strict", NULL);
        CHECKF(t, r.code == 1, "train --strict exit %d", r.code);
        free_result(&r);
    }
    free(text);
    ykd_test_restore_env(&env);
    tx_world_free(&w);
}

/* ---- the commands ------------------------------------------------------------------------- */

/* Every line of a detect label file: 6 fields, a class in [0, 2), the rest in [0, 1]. */
static bool label_file_ok(ykd_test *t, const char *path, int *boxes)
{
    unsigned char *text = NULL;
    size_t size = 0;
    if (!tx_read_file(t, path, &text, &size))
        return false;
    text = realloc(text, size + 1);
    text[size] = '\0';
    bool ok = true;
    for (char *save = NULL, *line = strtok_r((char *)text, "\n", &save); line && ok;
         line = strtok_r(NULL, "\n", &save)) {
        int cls;
        float v[5];
        ok = sscanf(line, "%d %f %f %f %f %f", &cls, &v[0], &v[1], &v[2], &v[3], &v[4]) == 6 &&
             cls >= 0 && cls < 2;
        for (int k = 0; k < 5 && ok; k++)
            ok = v[k] >= 0.0f && v[k] <= 1.0f;
        *boxes += ok;
    }
    free(text);
    return CHECKF(t, ok, "bad line in %s", path);
}

static void check_val_output(ykd_test *t, const run_result *r, const char *data)
{
    CHECKF(t, r->code == 0, "val exit %d: %s", r->code, r->err);
    CHECK_CONTAINS(t, r->out, "class   images  instances        P        R    mAP50  mAP50-95");
    ykd_dataset *ds = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_dataset_open(data, YKD_SPLIT_VAL, NULL, &ds, &err), err))
        return;
    size_t boxes = 0, count;
    for (size_t i = 0; i < ykd_dataset_count(ds); i++) {
        ykd_dataset_labels(ds, i, &count);
        boxes += count;
    }
    char all[64];
    snprintf(all, sizeof all, "all %8d %10zu", 4, boxes);
    CHECK_CONTAINS(t, r->out, all);
    CHECK_CONTAINS(t, r->out, "circle");
    ykd_dataset_close(ds);
}

static void check_coco_json(ykd_test *t, const char *path)
{
    unsigned char *text = NULL;
    size_t size = 0;
    if (!tx_read_file(t, path, &text, &size))
        return;
    cJSON *list = cJSON_ParseWithLength((char *)text, size);
    CHECK(t, cJSON_IsArray(list) && cJSON_GetArraySize(list) > 0);
    const cJSON *d = cJSON_GetArrayItem(list, 0);
    CHECK(t, cJSON_GetObjectItem(d, "image_id") && cJSON_GetObjectItem(d, "score") &&
                 cJSON_GetArraySize(cJSON_GetObjectItem(d, "bbox")) == 4);
    cJSON_Delete(list);
    free(text);
}

static void check_detect_output(ykd_test *t, const run_result *r, const char *out)
{
    CHECKF(t, r->code == 0, "detect exit %d: %s", r->code, r->err);
    CHECK(t, ykd_test_count_files(out) == 8); /* 4 PNGs and 4 label files */
    char path[4400];
    int boxes = 0;
    snprintf(path, sizeof path, "%s/000000.txt", out);
    CHECK(t, label_file_ok(t, path, &boxes));
    snprintf(path, sizeof path, "%s/000000.png", out);
    ykd_image img = {0};
    ykd_error err;
    if (CHECK_OK(t, ykd_image_read(path, 0, &img, &err), err))
        CHECK(t, img.width == 64 && img.height == 64);
    ykd_image_free(&img);
    CHECK_CONTAINS(t, r->out, "detections ->");
}

/* train (one epoch), val with --save-json, detect, then the refusals. */
static void test_commands(ykd_test *t)
{
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char spec[16], run[4096], file[4300], out[4300], images[4300];
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    snprintf(run, sizeof run, "%s/run", w.dir);
    ykd_test_env env = {0};
    ykd_test_setenv(&env, "YOLOKD_GEMM", ykd_test_fixed_gemm(t->device));
    run_result r = run_cli("train", "--model", w.model, "--data", w.data, "--out", run, "--epochs",
                           "1", "--batch", "4", "--imgsz", "64", "--workers", "1", "--device",
                           spec, NULL);
    CHECKF(t, r.code == 0, "train exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "training tiny: 8 training and 4 validation images, 2 classes");
    CHECK_CONTAINS(t, r.out, "1 epochs done; best epoch 1");
    free_result(&r);
    static const char *const files[] = {"last.safetensors", "best.safetensors",
                                        "last.state.safetensors", "metrics.csv", "metrics.jsonl",
                                        "curves.png", "args.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(file, sizeof file, "%s/%s", run, files[i]);
        FILE *f = fopen(file, "rb");
        CHECKF(t, f != NULL, "%s is missing", file);
        if (f)
            fclose(f);
    }
    snprintf(file, sizeof file, "%s/best.safetensors", run);
    snprintf(out, sizeof out, "%s/dets.json", run);
    r = run_cli("val", "--weights", file, "--data", w.data, "--imgsz", "64", "--batch", "3",
                "--device", spec, "--save-json", out, NULL);
    check_val_output(t, &r, w.data);
    free_result(&r);
    check_coco_json(t, out);
    snprintf(images, sizeof images, "%s/images/val", w.data);
    snprintf(out, sizeof out, "%s/detect", w.dir);
    r = run_cli("detect", "--weights", file, "--source", images, "--out", out, "--imgsz", "64",
                "--conf", "0.001", "--device", spec, NULL);
    check_detect_output(t, &r, out);
    free_result(&r);
    r = run_cli("val", "--data", w.data, NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "--weights and --data are required");
    free_result(&r);
    r = run_cli("detect", "--weights", file, "--source", "/nonexistent.png", "--out", out,
                "--device", spec, NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "/nonexistent.png does not exist");
    free_result(&r);
    r = run_cli("train", "--resume", run, "--device", spec, NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "finished all its 1 epochs");
    free_result(&r);
    r = run_cli("train", "--model", "n", "--data", w.data, NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "--model, --data and --out are required");
    free_result(&r);
    ykd_test_restore_env(&env);
    tx_world_free(&w);
}

static const ykd_test_case cases[] = {
    {"train: stopped mid-epoch and resumed = uninterrupted, bit for bit",
     test_resume_is_bit_identical, YKD_TEST_EACH_DEVICE},
    {"train: gradient accumulation across epochs", test_accumulation, YKD_TEST_EACH_DEVICE},
    {"train: a non-finite loss stops the run, last intact", test_nonfinite_loss_stops,
     YKD_TEST_EACH_DEVICE},
    {"train: the train, val and detect commands", test_commands, YKD_TEST_EACH_DEVICE},
    {"train: an edited state is refused", test_edited_state_is_refused, YKD_TEST_EACH_DEVICE},
    {"train: bad inputs named before the first epoch, --strict, the box limit",
     test_bad_inputs_named, YKD_TEST_EACH_DEVICE},
    /* its subject is the files (each write failed in turn): some 30 runs, 4 s on PoCL and
     * 280 s on rusticl's llvmpipe, whose launches cost milliseconds; resuming bit for bit is
     * checked on every device above */
    {"train: killed at every write, resumed = uninterrupted, no leftovers",
     test_killed_at_every_write, YKD_TEST_FIRST_DEVICE},
};

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--kill-child") == 0)
        return kill_child(argv);
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
