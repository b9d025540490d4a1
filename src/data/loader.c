/* The batch loader: worker threads build whole batches into a fixed ring of slots; the
 * consumer takes them in batch order. Batch k of an epoch is a pure function of (seed, epoch,
 * k): its images are order[k*B ...] of the epoch's permutation and each sample's seed comes
 * from ykd_sample_seed(seed, epoch, position), so the number of workers and their timing
 * change nothing but speed. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "data/report.h"
#include "core/rng.h"
#include "data/sample_internal.h"
#include "yolokd/data.h"

typedef enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HELD } slot_state;

typedef struct loader_slot {
    slot_state state;
    uint64_t generation; /* the epoch start it belongs to */
    ykd_batch batch;
    ykd_report faults; /* owns batch.faults */
    ykd_status status; /* YKD_OK, or why the batch could not be built */
    ykd_error error;
} loader_slot;

struct ykd_loader {
    const ykd_dataset *ds;
    ykd_image_cache *cache; /* NULL when the images do not fit in cache_mb */
    ykd_loader_options o;
    size_t n, batches, max_boxes;
    size_t capacity; /* images a batch of this shard holds at most */
    size_t *order;
    int epoch;
    uint64_t generation;
    bool epoch_active, stopping;
    size_t next_claim, next_deliver;
    loader_slot *slots;
    int depth;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, ready_cv;
    pthread_t *threads;
    int thread_count;
    float to_unit[256];
};

void ykd_loader_options_default(ykd_loader_options *o)
{
    o->image_size = 640;
    o->batch_size = 16;
    o->workers = 2;
    o->queue_depth = 0;
    o->seed = 0;
    o->shuffle = true;
    o->drop_last = false;
    o->augment = true;
    ykd_augment_options_default(&o->aug);
    o->epochs = 0;
    o->close_mosaic = 10;
    o->strict = false;
    o->cache_mb = 1024;
    o->shard = 0;
    o->shards = 1;
}

static bool mosaic_on(const ykd_loader *l, int epoch)
{
    if (!l->o.augment || l->o.aug.mosaic <= 0)
        return false;
    return !(l->o.epochs > 0 && epoch >= l->o.epochs - l->o.close_mosaic);
}

/* The epoch's order: a Fisher-Yates shuffle seeded by (seed, epoch), or identity. */
static void make_order(ykd_loader *l, int epoch)
{
    for (size_t i = 0; i < l->n; i++)
        l->order[i] = i;
    if (!l->o.shuffle)
        return;
    ykd_rng rng;
    ykd_rng_seed(&rng, ykd_sample_seed(l->o.seed, (uint64_t)epoch, UINT64_MAX));
    for (size_t i = l->n; i > 1; i--) {
        size_t j = (size_t)ykd_rng_below(&rng, i);
        size_t t = l->order[i - 1];
        l->order[i - 1] = l->order[j];
        l->order[j] = t;
    }
}

/* Copies one sample into the batch's tensors at row `at`. */
static void store_sample(ykd_loader *l, ykd_batch *b, size_t at, const ykd_image *img,
                         const ykd_box *boxes, size_t count)
{
    size_t plane = (size_t)b->size * b->size;
    float *dst = b->images + at * 3 * plane;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++)
            dst[c * plane + p] = l->to_unit[img->pixels[p * 3 + c]];
    if (count > b->max_boxes)
        count = b->max_boxes; /* cannot happen: max_boxes bounds a mosaic of four images */
    float *rows = b->labels + at * b->max_boxes * 5;
    for (size_t i = 0; i < count; i++) {
        rows[i * 5 + 0] = (float)boxes[i].cls;
        rows[i * 5 + 1] = boxes[i].cx;
        rows[i * 5 + 2] = boxes[i].cy;
        rows[i * 5 + 3] = boxes[i].w;
        rows[i * 5 + 4] = boxes[i].h;
    }
    b->box_counts[at] = (int)count;
}

/* A sample that failed: recorded in the batch, or (strict, or out of memory) the batch's
 * error. Returns false when the batch must stop. */
static bool sample_failed(ykd_loader *l, loader_slot *s, size_t index, ykd_status st,
                          const ykd_error *err)
{
    if (l->o.strict || st == YKD_ERR_OUT_OF_MEMORY) {
        s->status = st;
        s->error = *err;
        return false;
    }
    const char *path = ykd_dataset_image_path(l->ds, index);
    if (ykd_report_add(&s->faults, ykd_fault_kind_of_image(st), path, 0, true,
                       "sample left out of batch %zu: %s", s->batch.index,
                       err->message) != YKD_OK) {
        s->status = ykd_fail(&s->error, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return false;
    }
    return true;
}

static bool cancelled(ykd_loader *l, uint64_t generation)
{
    pthread_mutex_lock(&l->mu);
    bool stop = l->stopping || l->generation != generation;
    pthread_mutex_unlock(&l->mu);
    return stop;
}

/* Builds batch k of the current epoch into s (called without the lock). */
static void build_batch(ykd_loader *l, loader_slot *s, int epoch, size_t k)
{
    ykd_batch *b = &s->batch;
    size_t global_first = k * (size_t)l->o.batch_size, global = l->n - global_first;
    if (global > (size_t)l->o.batch_size)
        global = (size_t)l->o.batch_size;
    size_t shard = (size_t)l->o.shard, shards = (size_t)l->o.shards;
    size_t first = global_first + global * shard / shards;
    size_t want = global_first + global * (shard + 1) / shards - first;
    b->epoch = epoch;
    b->index = k;
    b->count = 0;
    s->status = YKD_OK;
    ykd_report_clear_faults(&s->faults);
    memset(b->labels, 0, sizeof(float) * 5 * b->max_boxes * l->capacity);
    bool mosaic = mosaic_on(l, epoch);
    for (size_t j = 0; j < want; j++) {
        if (cancelled(l, s->generation))
            break;
        size_t pos = first + j, index = l->order[pos];
        ykd_image img;
        ykd_box *boxes = NULL;
        size_t count = 0;
        ykd_error err;
        uint64_t seed = ykd_sample_seed(l->o.seed, (uint64_t)epoch, pos);
        ykd_status st =
            ykd_sample_build_cached(l->ds, l->cache, index, l->o.image_size, l->o.augment, mosaic,
                                    &l->o.aug, seed, &img, &boxes, &count, &err);
        if (st != YKD_OK) {
            if (!sample_failed(l, s, index, st, &err))
                break;
            continue;
        }
        store_sample(l, b, b->count, &img, boxes, count);
        b->sources[b->count++] = index;
        ykd_image_free(&img);
        free(boxes);
    }
    b->faults = s->faults.faults;
    b->fault_count = s->faults.fault_count;
}

static loader_slot *free_slot(ykd_loader *l)
{
    for (int i = 0; i < l->depth; i++)
        if (l->slots[i].state == SLOT_FREE)
            return &l->slots[i];
    return NULL;
}

static void *worker_main(void *arg)
{
    ykd_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        loader_slot *s = NULL;
        while (!l->stopping &&
               !(l->epoch_active && l->next_claim < l->batches && (s = free_slot(l))))
            pthread_cond_wait(&l->work_cv, &l->mu);
        if (l->stopping)
            break;
        size_t k = l->next_claim++;
        int epoch = l->epoch;
        s->state = SLOT_FILLING;
        s->generation = l->generation;
        pthread_mutex_unlock(&l->mu);
        build_batch(l, s, epoch, k);
        pthread_mutex_lock(&l->mu);
        s->state = SLOT_READY;
        pthread_cond_broadcast(&l->ready_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static ykd_status check_options(const ykd_loader_options *o, ykd_error *err)
{
    if (o->image_size < 8 || o->image_size > 8192)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "loader: image size %d is not in 8..8192",
                        o->image_size);
    if (o->batch_size < 1 || o->batch_size > 65536)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "loader: batch size %d", o->batch_size);
    if (o->workers < 0 || o->workers > 256)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "loader: %d workers", o->workers);
    if (o->cache_mb < 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "loader: cache of %d MiB", o->cache_mb);
    if (o->queue_depth < 0 || o->queue_depth > 1024)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "loader: queue depth %d", o->queue_depth);
    if (o->shards < 1 || o->shard < 0 || o->shard >= o->shards || o->shards > o->batch_size)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "loader: shard %d of %d of a batch of %d (each of the shards needs an "
                        "image of every batch)",
                        o->shard, o->shards, o->batch_size);
    return YKD_OK;
}

static ykd_status alloc_slot(ykd_loader *l, loader_slot *s, ykd_error *err)
{
    size_t b = l->capacity, side = (size_t)l->o.image_size;
    s->batch.size = l->o.image_size;
    s->batch.max_boxes = l->max_boxes;
    s->batch.images = malloc(b * 3 * side * side * sizeof(float));
    s->batch.labels = malloc(b * l->max_boxes * 5 * sizeof(float));
    s->batch.box_counts = calloc(b, sizeof(int));
    s->batch.sources = calloc(b, sizeof(size_t));
    if (!s->batch.images || !s->batch.labels || !s->batch.box_counts || !s->batch.sources)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                        "loader: out of host memory for a batch of %zu images of %zux%zu", b, side,
                        side);
    return ykd_report_init(&s->faults, 0, err);
}

static ykd_status start_threads(ykd_loader *l, ykd_error *err)
{
    if (l->o.workers == 0)
        return YKD_OK;
    l->threads = calloc((size_t)l->o.workers, sizeof *l->threads);
    if (!l->threads)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < l->o.workers; i++) {
        if (pthread_create(&l->threads[i], NULL, worker_main, l) != 0)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "loader: cannot start worker thread %d", i);
        l->thread_count++;
    }
    return YKD_OK;
}

ykd_status ykd_loader_open(const ykd_dataset *ds, const ykd_loader_options *options,
                           ykd_loader **loader, ykd_error *err)
{
    *loader = NULL;
    ykd_loader_options o;
    if (options)
        o = *options;
    else
        ykd_loader_options_default(&o);
    ykd_status st = check_options(&o, err);
    if (st != YKD_OK)
        return st;
    if (ykd_dataset_count(ds) == 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "loader: the dataset has no usable images");
    ykd_loader *l = calloc(1, sizeof *l);
    if (!l)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    l->ds = ds;
    l->o = o;
    l->n = ykd_dataset_count(ds);
    size_t rest = l->n % (size_t)o.batch_size;
    l->batches = l->n / (size_t)o.batch_size +
                 (!o.drop_last && rest >= (size_t)o.shards ? 1 : 0);
    l->capacity = ((size_t)o.batch_size + (size_t)o.shards - 1) / (size_t)o.shards;
    size_t per_image = ykd_dataset_max_boxes(ds);
    l->max_boxes = (o.augment && o.aug.mosaic > 0 ? 4 : 1) * (per_image ? per_image : 1);
    l->depth = o.queue_depth ? o.queue_depth : o.workers + 1;
    if (l->depth < 2)
        l->depth = 2;
    for (int i = 0; i < 256; i++)
        l->to_unit[i] = (float)i / 255.0f;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->ready_cv, NULL);
    l->order = malloc(l->n * sizeof *l->order);
    l->slots = calloc((size_t)l->depth, sizeof *l->slots);
    if (!l->order || !l->slots)
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; st == YKD_OK && i < l->depth; i++)
        st = alloc_slot(l, &l->slots[i], err);
    double cache_bytes = (double)l->n * o.image_size * o.image_size * 3;
    if (st == YKD_OK && o.cache_mb > 0 && cache_bytes <= (double)o.cache_mb * (1 << 20))
        st = ykd_image_cache_init(&l->cache, l->n, o.image_size, err);
    if (st == YKD_OK)
        st = start_threads(l, err);
    if (st != YKD_OK) {
        ykd_loader_close(l);
        return st;
    }
    *loader = l;
    return YKD_OK;
}

ykd_status ykd_loader_start_epoch_at(ykd_loader *l, int epoch, size_t position, ykd_error *err)
{
    if (epoch < 0 || position > l->batches)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "loader: epoch %d position %zu (an epoch has %zu batches)", epoch, position,
                        l->batches);
    pthread_mutex_lock(&l->mu);
    l->generation++;
    l->epoch_active = false;
    /* batches being built for the old epoch finish (they stop early) before the order
     * changes under them */
    for (;;) {
        bool filling = false;
        for (int i = 0; i < l->depth; i++)
            filling |= l->slots[i].state == SLOT_FILLING;
        if (!filling)
            break;
        pthread_cond_wait(&l->ready_cv, &l->mu);
    }
    for (int i = 0; i < l->depth; i++)
        if (l->slots[i].state == SLOT_READY)
            l->slots[i].state = SLOT_FREE;
    make_order(l, epoch);
    l->epoch = epoch;
    l->next_claim = l->next_deliver = position;
    l->epoch_active = true;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    return YKD_OK;
}

ykd_status ykd_loader_start_epoch(ykd_loader *l, int epoch, ykd_error *err)
{
    return ykd_loader_start_epoch_at(l, epoch, 0, err);
}

static loader_slot *ready_slot(ykd_loader *l, size_t k)
{
    for (int i = 0; i < l->depth; i++) {
        loader_slot *s = &l->slots[i];
        if (s->state == SLOT_READY && s->generation == l->generation && s->batch.index == k)
            return s;
    }
    return NULL;
}

/* Nothing can be built while the consumer holds every slot. */
static bool all_held(const ykd_loader *l)
{
    for (int i = 0; i < l->depth; i++)
        if (l->slots[i].state != SLOT_HELD)
            return false;
    return true;
}

/* With no workers, the consumer builds the batch itself. */
static loader_slot *build_here(ykd_loader *l)
{
    loader_slot *s = free_slot(l);
    if (!s)
        return NULL;
    s->generation = l->generation;
    build_batch(l, s, l->epoch, l->next_claim++);
    return s;
}

ykd_status ykd_loader_next(ykd_loader *l, ykd_batch **batch, ykd_error *err)
{
    *batch = NULL;
    pthread_mutex_lock(&l->mu);
    ykd_status st = YKD_OK;
    loader_slot *s = NULL;
    if (!l->epoch_active) {
        st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "loader: no epoch started");
    } else if (l->next_deliver < l->batches && l->o.workers == 0) {
        pthread_mutex_unlock(&l->mu); /* build_batch takes the lock to check cancellation */
        s = build_here(l);
        pthread_mutex_lock(&l->mu);
        if (!s)
            st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                          "loader: every batch slot is held; release batches first");
    } else if (l->next_deliver < l->batches) {
        while (!(s = ready_slot(l, l->next_deliver)) && !all_held(l))
            pthread_cond_wait(&l->ready_cv, &l->mu);
        if (!s)
            st = ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                          "loader: every batch slot is held; release batches first");
    }
    if (s) {
        l->next_deliver++;
        s->state = SLOT_HELD;
        if (s->status != YKD_OK) {
            st = ykd_fail(err, s->status, "%s", s->error.message);
            s->state = SLOT_FREE;
            pthread_cond_broadcast(&l->work_cv);
        } else {
            *batch = &s->batch;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return st;
}

void ykd_loader_release(ykd_loader *l, ykd_batch *batch)
{
    if (!batch)
        return;
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->depth; i++)
        if (&l->slots[i].batch == batch && l->slots[i].state == SLOT_HELD) {
            l->slots[i].state = SLOT_FREE;
            pthread_cond_broadcast(&l->work_cv);
        }
    pthread_mutex_unlock(&l->mu);
}

size_t ykd_loader_batches_per_epoch(const ykd_loader *l)
{
    return l->batches;
}

size_t ykd_loader_max_boxes(const ykd_loader *l)
{
    return l->max_boxes;
}

void ykd_loader_close(ykd_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->thread_count; i++)
        pthread_join(l->threads[i], NULL);
    for (int i = 0; l->slots && i < l->depth; i++) {
        ykd_batch *b = &l->slots[i].batch;
        free(b->images);
        free(b->labels);
        free(b->box_counts);
        free(b->sources);
        ykd_report_free(&l->slots[i].faults);
    }
    free(l->slots);
    ykd_image_cache_free(l->cache);
    free(l->threads);
    free(l->order);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->ready_cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
