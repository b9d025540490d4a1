/* The loader (same batches for any number of workers, every image once per epoch, resume,
 * clean close mid-epoch, load-time faults), the synthetic dataset (determinism, atomic
 * writes, labels that agree with the pixels) and the drawing helpers. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_run.h"
#include "core/fs.h"
#include "core/sha256.h"
#include "data_fixtures.h"
#include "harness.h"
#include "yolokd/data.h"

enum { EPOCH_BATCHES_MAX = 16 };

static bool small_synth(ykd_test *t, const char *out, int train, int size, uint64_t seed)
{
    ykd_synth_options o;
    ykd_synth_options_default(&o);
    o.train_images = train;
    o.val_images = 3;
    o.image_size = size;
    o.classes = 4;
    o.seed = seed;
    ykd_error err;
    return CHECK_OK(t, ykd_synth_write(out, &o, &err), err);
}

/* A synthetic train split of `train` 64x64 images in a fresh folder (*dir), opened. */
static ykd_dataset *open_synth(ykd_test *t, char dir[4096], int train, uint64_t seed)
{
    char root[4096];
    ykd_dataset *ds = NULL;
    ykd_error err;
    if (!ykd_test_mkdtemp(t, dir, 4096))
        return NULL;
    if (small_synth(t, fx_path(root, "%s/d", dir), train, 64, seed))
        CHECK_OK(t, ykd_dataset_open(root, YKD_SPLIT_TRAIN, NULL, &ds, &err), err);
    if (!ds)
        ykd_test_rmtree(dir);
    return ds;
}

static void loader_options(ykd_loader_options *o, int workers)
{
    ykd_loader_options_default(o);
    o->image_size = 64;
    o->batch_size = 8;
    o->workers = workers;
    o->seed = 7;
}

/* A digest of everything in a batch. */
static void batch_digest(const ykd_batch *b, char hex[65])
{
    ykd_sha256 h;
    uint8_t d[YKD_SHA256_SIZE];
    ykd_sha256_init(&h);
    ykd_sha256_update(&h, &b->count, sizeof b->count);
    ykd_sha256_update(&h, b->images, b->count * 3 * (size_t)b->size * b->size * sizeof(float));
    ykd_sha256_update(&h, b->labels, b->count * b->max_boxes * 5 * sizeof(float));
    ykd_sha256_update(&h, b->box_counts, b->count * sizeof(int));
    ykd_sha256_update(&h, b->sources, b->count * sizeof(size_t));
    ykd_sha256_final(&h, d);
    ykd_sha256_hex(d, hex);
}

typedef struct epoch_record {
    size_t batches;
    char digest[EPOCH_BATCHES_MAX][65];
    size_t seen[64]; /* times each dataset image was a batch's source */
    bool layout_ok;
} epoch_record;

/* Checks the padded label layout: rows past the count are zero, the rest in range. */
static bool labels_well_formed(const ykd_batch *b, size_t classes)
{
    for (size_t i = 0; i < b->count; i++)
        for (size_t r = 0; r < b->max_boxes; r++) {
            const float *row = b->labels + (i * b->max_boxes + r) * 5;
            bool used = r < (size_t)b->box_counts[i];
            for (int k = 0; k < 5; k++) {
                if (!used && row[k] != 0)
                    return false;
                if (used && (row[k] < 0 || (k > 0 && row[k] > 1)))
                    return false;
            }
            if (used && (row[0] != (float)(int)row[0] || row[0] >= (float)classes))
                return false;
        }
    return true;
}

static void record_epoch(ykd_test *t, ykd_loader *l, int epoch, size_t position, epoch_record *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->layout_ok = true;
    ykd_error err;
    CHECK_OK(t, ykd_loader_start_epoch_at(l, epoch, position, &err), err);
    for (;;) {
        ykd_batch *b = NULL;
        if (!CHECK_OK(t, ykd_loader_next(l, &b, &err), err) || !b)
            break;
        CHECK(t, b->epoch == epoch && b->index == position + rec->batches);
        if (rec->batches < EPOCH_BATCHES_MAX)
            batch_digest(b, rec->digest[rec->batches]);
        rec->batches++;
        for (size_t i = 0; i < b->count; i++)
            if (b->sources[i] < 64)
                rec->seen[b->sources[i]]++;
        rec->layout_ok &= labels_well_formed(b, 4);
        ykd_loader_release(l, b);
    }
}

static void test_loader_same_batches_for_any_workers(ykd_test *t)
{
    char dir[4096];
    ykd_error err;
    ykd_dataset *ds = open_synth(t, dir, 37, 3);
    if (!ds)
        return;
    static const struct {
        int workers, cache_mb;
    } runs[] = {{0, 1024}, {1, 0}, {3, 1024}, {3, 0}};
    epoch_record first[2], rec;
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        ykd_loader_options o;
        loader_options(&o, runs[r].workers);
        o.cache_mb = runs[r].cache_mb;
        ykd_loader *l = NULL;
        if (!CHECK_OK(t, ykd_loader_open(ds, &o, &l, &err), err))
            continue;
        CHECK(t, ykd_loader_batches_per_epoch(l) == 5);
        CHECK(t, ykd_loader_max_boxes(l) == 4 * ykd_dataset_max_boxes(ds));
        for (int epoch = 0; epoch < 2; epoch++) {
            epoch_record *e = r == 0 ? &first[epoch] : &rec;
            record_epoch(t, l, epoch, 0, e);
            CHECK(t, e->batches == 5 && e->layout_ok);
            int wrong = 0;
            for (int i = 0; i < 37; i++)
                wrong += e->seen[i] != 1;
            CHECKF(t, wrong == 0, "%d images not seen exactly once in epoch %d", wrong, epoch);
            if (r > 0)
                for (size_t b = 0; b < 5; b++)
                    CHECKF(t, strcmp(rec.digest[b], first[epoch].digest[b]) == 0,
                           "workers %d cache %d: epoch %d batch %zu differs", runs[r].workers,
                           runs[r].cache_mb, epoch, b);
        }
        ykd_loader_close(l);
    }
    /* another epoch, another order */
    CHECK(t, strcmp(first[0].digest[0], first[1].digest[0]) != 0);
    ykd_dataset_close(ds);
    ykd_test_rmtree(dir);
}

/* (seed, epoch, position) is the whole state: starting at a position gives the same batches
 * as getting there, and the close_mosaic epochs build samples without mosaic. */
static void test_loader_resume_and_close_mosaic(ykd_test *t)
{
    char dir[4096];
    ykd_error err;
    ykd_dataset *ds = open_synth(t, dir, 20, 4);
    if (!ds)
        return;
    ykd_loader_options o;
    loader_options(&o, 2);
    o.epochs = 3;
    o.close_mosaic = 1;
    ykd_loader *l = NULL;
    if (CHECK_OK(t, ykd_loader_open(ds, &o, &l, &err), err)) {
        epoch_record full, tail;
        record_epoch(t, l, 1, 0, &full);
        record_epoch(t, l, 1, 2, &tail);
        CHECK(t, full.batches == 3 && tail.batches == 1);
        CHECK(t, strcmp(full.digest[2], tail.digest[0]) == 0);
        /* sample 0 of epochs 0 (mosaic) and 2 (closed) against a direct build */
        for (int epoch = 0; epoch <= 2; epoch += 2) {
            ykd_batch *b = NULL;
            CHECK_OK(t, ykd_loader_start_epoch(l, epoch, &err), err);
            if (!CHECK_OK(t, ykd_loader_next(l, &b, &err), err) || !b)
                continue;
            ykd_image img;
            ykd_box *boxes = NULL;
            size_t n = 0;
            CHECK_OK(t,
                     ykd_sample_build(ds, b->sources[0], 64, true, epoch == 0, &o.aug,
                                      ykd_sample_seed(7, (uint64_t)epoch, 0), &img, &boxes, &n,
                                      &err),
                     err);
            int wrong = 0;
            for (int p = 0; p < 64 * 64; p++)
                for (int c = 0; c < 3; c++)
                    wrong += b->images[c * 64 * 64 + p] != img.pixels[p * 3 + c] / 255.0f;
            CHECKF(t, wrong == 0, "epoch %d: %d values differ from the direct build", epoch, wrong);
            CHECK(t, (size_t)b->box_counts[0] == n);
            for (size_t i = 0; i < n && (size_t)b->box_counts[0] == n; i++)
                CHECK(t, b->labels[i * 5] == (float)boxes[i].cls &&
                             b->labels[i * 5 + 1] == boxes[i].cx &&
                             b->labels[i * 5 + 4] == boxes[i].h);
            free(boxes);
            ykd_image_free(&img);
            ykd_loader_release(l, b);
        }
        ykd_loader_close(l);
    }
    ykd_dataset_close(ds);
    ykd_test_rmtree(dir);
}

static void test_loader_close_mid_epoch_and_misuse(ykd_test *t)
{
    char dir[4096];
    ykd_error err;
    ykd_dataset *ds = open_synth(t, dir, 30, 5);
    if (!ds)
        return;
    ykd_loader_options o;
    loader_options(&o, 3);
    o.batch_size = 2;
    o.queue_depth = 4;
    ykd_loader *l = NULL;
    ykd_batch *b = NULL, *held[2] = {NULL, NULL};
    if (CHECK_OK(t, ykd_loader_open(ds, &o, &l, &err), err)) {
        CHECK_STATUS(t, ykd_loader_next(l, &b, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "no epoch started");
        CHECK_OK(t, ykd_loader_start_epoch(l, 0, &err), err);
        CHECK_OK(t, ykd_loader_next(l, &held[0], &err), err);
        /* a new epoch while a batch is held and workers are busy: the held one stays valid */
        CHECK_OK(t, ykd_loader_start_epoch(l, 1, &err), err);
        CHECK_OK(t, ykd_loader_next(l, &b, &err), err);
        CHECK(t, held[0] && held[0]->epoch == 0 && b && b->epoch == 1 && b->index == 0);
        ykd_loader_release(l, b);
        CHECK_OK(t, ykd_loader_next(l, &held[1], &err), err);
        /* closed with two batches held and the workers filling the queue */
        ykd_loader_close(l);
    }
    /* holding every slot is refused, not a hang */
    o.workers = 1;
    o.queue_depth = 2;
    if (CHECK_OK(t, ykd_loader_open(ds, &o, &l, &err), err)) {
        CHECK_OK(t, ykd_loader_start_epoch(l, 0, &err), err);
        CHECK_OK(t, ykd_loader_next(l, &held[0], &err), err);
        CHECK_OK(t, ykd_loader_next(l, &held[1], &err), err);
        CHECK_STATUS(t, ykd_loader_next(l, &b, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "release batches first");
        ykd_loader_release(l, held[0]);
        CHECK_OK(t, ykd_loader_next(l, &b, &err), err);
        CHECK(t, b && b->index == 2);
        ykd_loader_close(l);
    }
    o.batch_size = 0;
    CHECK_STATUS(t, ykd_loader_open(ds, &o, &l, &err), YKD_ERR_INVALID_ARGUMENT, err);
    ykd_dataset_close(ds);
    ykd_test_rmtree(dir);
}

/* An image whose header is fine but whose pixels are cut off passes the open's header check;
 * the loader leaves it out of its batch and says so, or stops when strict. */
static void test_loader_decode_fault_at_load_time(ykd_test *t)
{
    char root[4096], path[4096];
    static const char *const names[] = {"x"};
    if (!ykd_test_mkdtemp(t, root, sizeof root) || !fx_dataset(t, root, names, 1))
        return;
    for (int i = 0; i < 3; i++) {
        char stem[8];
        snprintf(stem, sizeof stem, "%d", i);
        fx_sample(t, root, "train", stem, 32, 24, (uint8_t)(50 * i), "0 0.5 0.5 0.5 0.5\n");
    }
    size_t size = 0;
    uint8_t *png = fx_png_solid(t, 64, 64, 9, 9, 9, &size);
    fx_write(t, fx_path(path, "%s/images/train/3-cut.png", root), png, size / 2);
    free(png);
    ykd_dataset *ds = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_dataset_open(root, YKD_SPLIT_TRAIN, NULL, &ds, &err), err))
        return;
    CHECK(t, ykd_dataset_count(ds) == 4);
    ykd_loader_options o;
    loader_options(&o, 1);
    o.augment = false;
    o.shuffle = false;
    ykd_loader *l = NULL;
    ykd_batch *b = NULL;
    if (CHECK_OK(t, ykd_loader_open(ds, &o, &l, &err), err)) {
        CHECK_OK(t, ykd_loader_start_epoch(l, 0, &err), err);
        if (CHECK_OK(t, ykd_loader_next(l, &b, &err), err) && CHECK(t, b != NULL)) {
            CHECK(t, b->count == 3 && b->sources[0] == 0 && b->sources[2] == 2);
            CHECK(t, b->fault_count == 1 && b->faults[0].kind == YKD_FAULT_IMAGE_CORRUPT &&
                         b->faults[0].image_skipped);
            if (b->fault_count == 1) {
                CHECK_CONTAINS(t, b->faults[0].file, "3-cut.png");
                CHECK_CONTAINS(t, b->faults[0].message, "file is truncated");
            }
            /* unaugmented: the letterboxed image, 32x24 into 64 (pad 8 rows at the top) */
            CHECK(t, b->images[0] == 114 / 255.0f && b->images[8 * 64] == 0.0f);
            CHECK(t, b->images[64 * 64 * 3 + 8 * 64] == 50 / 255.0f);
            ykd_loader_release(l, b);
        }
        ykd_loader_close(l);
    }
    o.strict = true;
    if (CHECK_OK(t, ykd_loader_open(ds, &o, &l, &err), err)) {
        CHECK_OK(t, ykd_loader_start_epoch(l, 0, &err), err);
        CHECK_STATUS(t, ykd_loader_next(l, &b, &err), YKD_ERR_FORMAT, err);
        CHECK_CONTAINS(t, err.message, "3-cut.png: corrupt PNG: file is truncated");
        ykd_loader_close(l);
    }
    ykd_dataset_close(ds);
    ykd_test_rmtree(root);
}

/* Compares every image and label file of two synthetic datasets; *differing counts the
 * files that are not byte-identical. false when a file is missing. */
static bool same_files(const char *a, const char *b, int train, int *differing)
{
    *differing = 0;
    const char *splits[2] = {"train", "val"};
    char pa[4096], pb[4096];
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < (s ? 3 : train); i++)
            for (int k = 0; k < 2; k++) {
                const char *kind = k ? "labels" : "images", *ext = k ? "txt" : "png";
                void *da = NULL, *db = NULL;
                size_t na = 0, nb = 0;
                ykd_error err;
                fx_path(pa, "%s/%s/%s/%06d.%s", a, kind, splits[s], i, ext);
                fx_path(pb, "%s/%s/%s/%06d.%s", b, kind, splits[s], i, ext);
                if (ykd_file_read_all(pa, 1 << 24, &da, &na, &err) != YKD_OK ||
                    ykd_file_read_all(pb, 1 << 24, &db, &nb, &err) != YKD_OK) {
                    free(da);
                    free(db);
                    return false;
                }
                *differing += na != nb || memcmp(da, db, na) != 0;
                free(da);
                free(db);
            }
    return true;
}

static int count_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

static void test_synth_deterministic_and_atomic(ykd_test *t)
{
    char dir[4096], a[4096], b[4096], c[4096], path[4096];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    fx_path(a, "%s/a", dir);
    fx_path(b, "%s/b", dir);
    fx_path(c, "%s/c", dir);
    CHECK(t, mkdir(b, 0700) == 0); /* an empty folder may be the destination */
    int differing = -1;
    if (small_synth(t, a, 6, 96, 11) && small_synth(t, b, 6, 96, 11) &&
        CHECK(t, same_files(a, b, 6, &differing)))
        CHECKF(t, differing == 0, "%d files differ between two runs with one seed", differing);
    if (small_synth(t, c, 6, 96, 12) && CHECK(t, same_files(a, c, 6, &differing)))
        CHECKF(t, differing >= 12, "only %d of 18 files differ with another seed", differing);
    void *json = NULL;
    size_t size = 0;
    ykd_error err;
    if (CHECK_OK(t, ykd_file_read_all(fx_path(path, "%s/data.json", a), 4096, &json, &size, &err),
                 err))
        CHECK_CONTAINS(t, (char *)json,
                       "\"names\":\t[\"circle\", \"square\", \"triangle\", \"star\"]");
    free(json);
    /* an existing dataset is never overwritten, and nothing is left beside it */
    CHECK_STATUS(t, ykd_synth_write(a, &(ykd_synth_options){6, 3, 96, 4, 11}, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "already exists");
    CHECK(t, count_entries(dir) == 3);
    /* a destination under a file cannot be made: refused, nothing created anywhere */
    CHECK_STATUS(t,
                 ykd_synth_write(fx_path(path, "%s/a/data.json/x", dir),
                                 &(ykd_synth_options){6, 3, 96, 4, 11}, &err),
                 YKD_ERR_IO, err);
    CHECK(t, count_entries(dir) == 3 && count_entries(a) == 3);
    CHECK_STATUS(t, ykd_synth_write(c, &(ykd_synth_options){6, 3, 96, 9, 11}, &err),
                 YKD_ERR_INVALID_ARGUMENT, err);
    ykd_test_rmtree(dir);
}

/* The labels agree with the pixels: each labelled shape's pixels lie inside its box, show
 * its colour (give or take the noise), and at least half of it is visible. */
static void test_synth_labels_agree_with_pixels(ykd_test *t)
{
    ykd_synth_options o;
    ykd_synth_options_default(&o);
    o.image_size = 128;
    o.classes = 8;
    size_t objects_seen = 0, small = 0, large = 0;
    int classes_seen = 0;
    for (int index = 0; index < 24; index++) {
        ykd_image img;
        ykd_synth_object *objs = NULL;
        size_t n = 0;
        uint16_t *owner = NULL;
        ykd_error err;
        if (!CHECK_OK(t, ykd_synth_render(&o, 0, index, &img, &objs, &n, &owner, &err), err))
            continue;
        for (size_t k = 0; k < n; k++) {
            const ykd_synth_object *ob = &objs[k];
            float x1 = (ob->box.cx - ob->box.w / 2) * 128, x2 = (ob->box.cx + ob->box.w / 2) * 128;
            float y1 = (ob->box.cy - ob->box.h / 2) * 128, y2 = (ob->box.cy + ob->box.h / 2) * 128;
            int owned = 0, outside = 0, off_colour = 0;
            for (int y = 0; y < 128; y++)
                for (int x = 0; x < 128; x++) {
                    if (owner[y * 128 + x] != k + 1)
                        continue;
                    owned++;
                    outside += x + 0.5f < x1 || x + 0.5f > x2 || y + 0.5f < y1 || y + 0.5f > y2;
                    const uint8_t *p = img.pixels + (y * 128 + x) * 3;
                    for (int c = 0; c < 3; c++)
                        off_colour += abs(p[c] - ob->color[c]) > 14;
                }
            CHECKF(t, owned == ob->visible_pixels && outside == 0 && off_colour == 0,
                   "image %d object %zu: %d owned (%d reported), %d outside the box, %d off "
                   "colour",
                   index, k, owned, ob->visible_pixels, outside, off_colour);
            CHECKF(t, 2 * ob->visible_pixels >= ob->full_pixels && ob->full_pixels >= 12,
                   "image %d object %zu: %d of %d pixels visible", index, k, ob->visible_pixels,
                   ob->full_pixels);
            CHECKF(t, owned >= 0.1 * (x2 - x1) * (y2 - y1), "image %d object %zu: box mostly empty",
                   index, k);
            classes_seen |= 1 << ob->box.cls;
            small += ob->box.w * 128 < 12;
            large += ob->box.w > 0.4f;
        }
        objects_seen += n;
        free(objs);
        free(owner);
        ykd_image_free(&img);
    }
    /* the dataset's spread: many objects, every class, tiny ones and big ones */
    CHECK(t, objects_seen >= 60 && classes_seen == 0xff && small >= 5 && large >= 3);
}

static void test_synth_passes_check_data_and_cli(ykd_test *t)
{
    char dir[4096], out[4096];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    fx_path(out, "%s/shapes", dir);
    run_result r = run_cli("synth", "--out", out, "--images", "12", "--val", "4", "--imgsz", "64",
                           "--classes", "3", "--seed", "9", NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out,
                   "12 train + 4 val images of 64x64, 3 classes (circle, square, "
                   "triangle), seed 9");
    free_result(&r);
    r = run_cli("check-data", "--data", out, "--strict", NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "train: 12 images, 0 skipped");
    CHECK_CONTAINS(t, r.out, "0 label lines skipped, 0 boxes clipped");
    CHECK_CONTAINS(t, r.out, "ok: no faults");
    free_result(&r);
    r = run_cli("bench", "loader", "--data", out, "--imgsz", "64", "--batch", "4", "--workers", "2",
                NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "(train, 12 images), imgsz 64, batch 4, workers 2, augment on");
    CHECK_CONTAINS(t, r.out, "epoch 0: 12 images in ");
    free_result(&r);
    r = run_cli("synth", "--out", out, "--images", "12", NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "already exists");
    free_result(&r);
    static const char *const bad[][3] = {
        {"--classes", "9", "--classes needs a whole number from 1 to 8"},
        {"--imgsz", "big", "--imgsz needs a whole number"},
        {"--frob", "1", "unknown argument '--frob'"}};
    for (int i = 0; i < 3; i++) {
        r = run_cli("synth", "--out", out, bad[i][0], bad[i][1], NULL);
        CHECK(t, r.code == 2);
        CHECK_CONTAINS(t, r.err, bad[i][2]);
        free_result(&r);
    }
    r = run_cli("synth", NULL);
    CHECK(t, r.code == 2);
    free_result(&r);
    r = run_cli("bench", "teapot", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "unknown benchmark 'teapot'");
    free_result(&r);
    r = run_cli("bench", "loader", NULL);
    CHECK(t, r.code == 2);
    free_result(&r);
    ykd_test_rmtree(dir);
}

static bool pixel_is(const ykd_image *img, int x, int y, const uint8_t rgb[3])
{
    const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * 3;
    return p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2];
}

static void test_draw(ykd_test *t)
{
    const uint8_t ink[3] = {255, 0, 0}, black[3] = {0, 0, 0};
    ykd_image img;
    ykd_error err;
    CHECK_OK(t, ykd_image_init(&img, 12, 10, 0, &err), err);
    ykd_draw_rect(&img, 2, 1, 9, 8, 2, ink);
    int wrong = 0;
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 12; x++) {
            bool in = x >= 2 && x <= 9 && y >= 1 && y <= 8;
            bool edge = in && (x < 4 || x > 7 || y < 3 || y > 6);
            wrong += !pixel_is(&img, x, y, edge ? ink : black);
        }
    CHECKF(t, wrong == 0, "%d pixels wrong in a 2-pixel outline", wrong);
    /* text: each '#' of the glyph is a scale x scale block */
    memset(img.pixels, 0, 12 * 10 * 3);
    const char *g = ykd_font_glyph('7');
    CHECK(t, g && strlen(g) == 35);
    /* every letter in both cases, lower case drawn apart from upper case */
    int same = 0, missing = 0;
    for (char c = 'a'; c <= 'z'; c++) {
        const char *lower = ykd_font_glyph(c), *upper = ykd_font_glyph((char)(c - 'a' + 'A'));
        missing += !lower || !upper || strlen(lower) != 35;
        same += lower && upper && strcmp(lower, upper) == 0;
    }
    CHECKF(t, missing == 0 && same == 0, "%d letters missing, %d lower = upper", missing, same);
    CHECK(t, ykd_font_glyph('\x01') == NULL);
    CHECK(t, ykd_draw_text(&img, 1, 1, "7", 1, ink) == 6);
    wrong = 0;
    for (int r = 0; r < 7 && g; r++)
        for (int k = 0; k < 5; k++)
            wrong += pixel_is(&img, 1 + k, 1 + r, ink) != (g[r * 5 + k] == '#');
    CHECK(t, wrong == 0);
    ykd_image_free(&img);
    /* a detection: class colour on the box, a tag above it, written as a PNG */
    CHECK_OK(t, ykd_image_init(&img, 100, 80, 200, &err), err);
    ykd_detection det = {20, 30, 70, 60, 0.87f, 1};
    const char *names[] = {"circle", "square"};
    ykd_draw_detections(&img, &det, 1, names, 2);
    uint8_t color[3];
    ykd_draw_class_color(1, color);
    CHECK(t, pixel_is(&img, 20, 45, color) && pixel_is(&img, 70, 45, color));
    CHECK(t, pixel_is(&img, 45, 30, color) && pixel_is(&img, 45, 60, color));
    CHECK(t, pixel_is(&img, 45, 45, (const uint8_t[3]){200, 200, 200}));
    CHECK(t, pixel_is(&img, 20, 21, color)); /* the tag, 9 rows above the box */
    char dir[4096], path[4096];
    ykd_image back;
    if (ykd_test_mkdtemp(t, dir, sizeof dir)) {
        CHECK_OK(t, ykd_png_write(fx_path(path, "%s/det.png", dir), &img, &err), err);
        if (CHECK_OK(t, ykd_image_read(path, 0, &back, &err), err)) {
            CHECK(t, memcmp(back.pixels, img.pixels, 100 * 80 * 3) == 0);
            ykd_image_free(&back);
        }
        ykd_test_rmtree(dir);
    }
    ykd_image_free(&img);
}

static const ykd_test_case cases[] = {
    {"loader: same batches for 0, 1 and 3 workers, each image once",
     test_loader_same_batches_for_any_workers, YKD_TEST_HOST},
    {"loader: resume at a position, close_mosaic", test_loader_resume_and_close_mosaic,
     YKD_TEST_HOST},
    {"loader: close mid-epoch, misuse", test_loader_close_mid_epoch_and_misuse, YKD_TEST_HOST},
    {"loader: decode fault at load time, skip and strict", test_loader_decode_fault_at_load_time,
     YKD_TEST_HOST},
    {"synth: deterministic, atomic", test_synth_deterministic_and_atomic, YKD_TEST_HOST},
    {"synth: labels agree with pixels", test_synth_labels_agree_with_pixels, YKD_TEST_HOST},
    {"synth: CLI, check-data clean, bench loader", test_synth_passes_check_data_and_cli,
     YKD_TEST_HOST},
    {"draw: outline, text, detections", test_draw, YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
