/* The gradient all-reduce of a data-parallel step (see dist.h), overlapping the backward.
 *
 * The trained parameters are cut into buckets in the order the backward makes their gradients
 * final (the head's first): the model tells us each one as it queues the last kernel writing it
 * (ykd_model_set_grad_final). A bucket whose every gradient is final is read from the device
 * without waiting (the read is queued behind those kernels), and once read its all-reduce
 * starts (MPI_Iallreduce) while the device runs the rest of the backward. The ranks start the
 * reductions in bucket order, as a collective must be. A bucket is its parameters' spans,
 * sorted and merged into segments of the gradient buffer, packed one after the other on the
 * host: the same buckets, reduced the same way, with the overlap on or off (the result is
 * bit-identical; YOLOKD_ALLREDUCE_OVERLAP=0 turns the overlap off, every bucket then starting
 * after the backward). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/comm.h"
#include "core/error_internal.h"
#include "train/dist.h"

/* A bucket's default size: 4 MiB of floats, as the reads and reductions pipeline well. */
enum { DEFAULT_BUCKET_KB = 4096 };

typedef struct span {
    size_t first, count; /* floats of the gradient buffer */
} span;

typedef enum bucket_state { WAITING, READING, REDUCING } bucket_state;

typedef struct bucket {
    size_t params, final;        /* its trained parameters, and how many are final so far */
    size_t seg_first, seg_count; /* its segments, in grads->segs */
    size_t host_first, floats;   /* where they lie packed in grads->host */
    bucket_state state;
} bucket;

struct ykd_dist_grads {
    const ykd_model *model;
    size_t *bucket_of;  /* per parameter index: its bucket, SIZE_MAX when not trained */
    bucket *buckets;
    size_t bucket_count;
    span *segs;
    ykd_read **reads; /* per segment, while its bucket is READING */
    size_t seg_count;
    float *host;
    size_t floats;
    size_t next_reduce; /* the next bucket whose all-reduce starts (they start in order) */
    bool watching;      /* the backward tells us as gradients become final */
    ykd_dist_overlap_stats stats;
};

/* The bucket size and the overlap from the environment; a value not understood is refused. */
static ykd_status read_env(size_t *bucket_kb, bool *overlap, ykd_error *err)
{
    const char *kb = getenv("YOLOKD_ALLREDUCE_BUCKET_KB");
    const char *on = getenv("YOLOKD_ALLREDUCE_OVERLAP");
    char *end = NULL;
    unsigned long long n = kb && *kb ? strtoull(kb, &end, 10) : DEFAULT_BUCKET_KB;
    if (kb && *kb && (*end != '\0' || n < 1 || n > (1ull << 21) || *kb == '-'))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "YOLOKD_ALLREDUCE_BUCKET_KB is '%s': a whole number of KiB, 1 to %llu",
                        kb, 1ull << 21);
    if (on && *on && strcmp(on, "0") != 0 && strcmp(on, "1") != 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "YOLOKD_ALLREDUCE_OVERLAP is '%s': 1 (the default) or 0", on);
    *bucket_kb = (size_t)n;
    *overlap = !(on && strcmp(on, "0") == 0);
    return YKD_OK;
}

static int compare_spans(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Bucket b of the parameters order[from, to): their spans sorted and merged into segments. */
static void close_bucket(ykd_dist_grads *g, const size_t *order, size_t from, size_t to,
                         span *scratch)
{
    bucket *b = &g->buckets[g->bucket_count];
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        ykd_model_param_span(g->model, order[i], &scratch[n].first, &scratch[n].count);
        g->bucket_of[order[i]] = g->bucket_count;
        n++;
    }
    qsort(scratch, n, sizeof *scratch, compare_spans);
    *b = (bucket){.params = to - from, .seg_first = g->seg_count, .host_first = g->floats};
    for (size_t i = 0; i < n; i++) {
        span *last = b->seg_count ? &g->segs[g->seg_count - 1] : NULL;
        if (last && last->first + last->count == scratch[i].first)
            last->count += scratch[i].count;
        else
            g->segs[g->seg_count++] = scratch[i], b->seg_count++;
        b->floats += scratch[i].count;
    }
    g->floats += b->floats;
    g->bucket_count++;
}

/* The buckets of the model's trained parameters, in the backward's order, of at most cap
 * floats each (a larger parameter is a bucket of its own). */
static ykd_status make_buckets(ykd_dist_grads *g, size_t cap, ykd_error *err)
{
    const size_t *order = NULL;
    size_t count = ykd_model_grad_order(g->model, &order);
    size_t params = ykd_model_param_count(g->model);
    g->bucket_of = malloc((params ? params : 1) * sizeof *g->bucket_of);
    g->buckets = calloc(count ? count : 1, sizeof *g->buckets);
    g->segs = calloc(count ? count : 1, sizeof *g->segs);
    g->reads = calloc(count ? count : 1, sizeof *g->reads);
    span *scratch = calloc(count ? count : 1, sizeof *scratch);
    if (!g->bucket_of || !g->buckets || !g->segs || !g->reads || !scratch) {
        free(scratch);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory for the "
                                                     "gradient buckets");
    }
    for (size_t i = 0; i < params; i++)
        g->bucket_of[i] = SIZE_MAX;
    size_t from = 0, floats = 0;
    for (size_t i = 0; i < count; i++) {
        size_t first = 0, n = 0;
        ykd_model_param_span(g->model, order[i], &first, &n);
        if (i > from && floats + n > cap) {
            close_bucket(g, order, from, i, scratch);
            from = i, floats = 0;
        }
        floats += n;
    }
    if (count > from)
        close_bucket(g, order, from, count, scratch);
    free(scratch);
    g->host = malloc((g->floats ? g->floats : 1) * sizeof *g->host);
    if (!g->host)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                        "train: out of host memory for %zu gradients", g->floats);
    g->stats.buckets = g->bucket_count;
    g->stats.bucket_bytes = cap * sizeof(float);
    return YKD_OK;
}

ykd_status ykd_dist_grads_open(const ykd_model *model, ykd_dist_grads **out, ykd_error *err)
{
    *out = NULL;
    ykd_dist_grads *g = calloc(1, sizeof *g);
    if (!g)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
    g->model = model;
    size_t kb = DEFAULT_BUCKET_KB;
    ykd_status st = read_env(&kb, &g->stats.overlap, err);
    if (st == YKD_OK)
        st = make_buckets(g, kb * 1024 / sizeof(float), err);
    if (st != YKD_OK) {
        ykd_dist_grads_close(g);
        return st;
    }
    *out = g;
    return YKD_OK;
}

/* Waits for and releases every read still out (a failed step's). */
static void finish_reads(ykd_dist_grads *g)
{
    for (size_t i = 0; i < g->seg_count; i++) {
        ykd_read_finish(g->reads[i], NULL);
        g->reads[i] = NULL;
    }
}

void ykd_dist_grads_close(ykd_dist_grads *g)
{
    if (!g)
        return;
    finish_reads(g);
    free(g->bucket_of);
    free(g->buckets);
    free(g->segs);
    free(g->reads);
    free(g->host);
    free(g);
}

const ykd_dist_overlap_stats *ykd_dist_grads_stats(const ykd_dist_grads *g)
{
    return &g->stats;
}

/* Queues the reads of bucket b's segments. */
static ykd_status start_reads(ykd_dist_grads *g, bucket *b, ykd_error *err)
{
    ykd_buffer *grads = ykd_model_grad_buffer(g->model);
    float *to = g->host + b->host_first;
    ykd_status st = YKD_OK;
    for (size_t i = b->seg_first; i < b->seg_first + b->seg_count && st == YKD_OK; i++) {
        const span *s = &g->segs[i];
        st = ykd_buffer_read_start(grads, s->first * sizeof(float), to, s->count * sizeof(float),
                                   &g->reads[i], err);
        to += s->count;
    }
    b->state = READING;
    if (g->watching)
        g->stats.read_in_backward++;
    return st;
}

/* Whether bucket b's reads are all done (released when so); blocking waits for them. */
static ykd_status reads_done(ykd_dist_grads *g, const bucket *b, bool blocking, bool *done,
                             ykd_error *err)
{
    ykd_status st = YKD_OK;
    *done = true;
    for (size_t i = b->seg_first; i < b->seg_first + b->seg_count && st == YKD_OK; i++) {
        bool this_done = true;
        if (!blocking && g->reads[i])
            st = ykd_read_poll(g->reads[i], &this_done, err);
        *done = *done && this_done;
    }
    for (size_t i = b->seg_first; i < b->seg_first + b->seg_count && st == YKD_OK && *done; i++) {
        st = ykd_read_finish(g->reads[i], err);
        g->reads[i] = NULL;
    }
    return st;
}

/* Whether the device still runs the backward: the last bucket, read after every backward
 * kernel, is not read yet. */
static bool backward_running(ykd_dist_grads *g)
{
    const bucket *last = &g->buckets[g->bucket_count - 1];
    if (last->state == WAITING)
        return true;
    bool done = true;
    for (size_t i = last->seg_first; i < last->seg_first + last->seg_count && done; i++)
        if (g->reads[i] && ykd_read_poll(g->reads[i], &done, NULL) != YKD_OK)
            done = true;
    return !done;
}

/* Starts the all-reduce of every bucket, in order, whose reads are done; *moved says whether
 * any did. */
static ykd_status advance(ykd_dist_grads *g, bool blocking, bool *moved, ykd_error *err)
{
    ykd_status st = YKD_OK;
    *moved = false;
    while (g->next_reduce < g->bucket_count && st == YKD_OK) {
        bucket *b = &g->buckets[g->next_reduce];
        bool done = false;
        if (b->state != READING)
            break;
        st = reads_done(g, b, blocking, &done, err);
        if (st != YKD_OK || !done)
            break;
        if (g->stats.overlap && backward_running(g))
            g->stats.reduced_in_backward++;
        st = ykd_comm_allreduce_sum_start(g->host + b->host_first, b->floats, err);
        b->state = REDUCING;
        g->next_reduce++;
        *moved = true;
        blocking = false; /* one wait at most: then the started reduction is progressed */
    }
    int pending = 0;
    if (st == YKD_OK)
        st = ykd_comm_progress(&pending, err);
    return st;
}

static ykd_status on_final(void *user, size_t param, ykd_error *err)
{
    ykd_dist_grads *g = user;
    size_t index = param < ykd_model_param_count(g->model) ? g->bucket_of[param] : SIZE_MAX;
    if (index == SIZE_MAX)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "train: the backward reported parameter %zu final, which no gradient "
                        "bucket holds",
                        param);
    bucket *b = &g->buckets[index];
    ykd_status st = YKD_OK;
    if (++b->final == b->params)
        st = start_reads(g, b, err);
    bool moved = false;
    return st == YKD_OK ? advance(g, false, &moved, err) : st;
}

ykd_status ykd_dist_grads_begin(ykd_dist_grads *g, ykd_model *model, ykd_error *err)
{
    if (!ykd_model_grad_buffer(model))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "train: no gradients to average");
    for (size_t i = 0; i < g->bucket_count; i++)
        g->buckets[i].final = 0, g->buckets[i].state = WAITING;
    g->next_reduce = 0;
    g->watching = g->stats.overlap;
    g->stats.steps++;
    if (g->watching)
        ykd_model_set_grad_final(model, on_final, g);
    return YKD_OK;
}

void ykd_dist_grads_backward_done(ykd_dist_grads *g, ykd_model *model, bool failed)
{
    ykd_model_set_grad_final(model, NULL, NULL);
    g->watching = false;
    if (failed)
        finish_reads(g);
}

/* Sleeps a little while neither the device nor MPI has moved. */
static void pause_briefly(void)
{
    struct timespec ts = {0, 50 * 1000};
    nanosleep(&ts, NULL);
}

ykd_status ykd_dist_grads_reduce(ykd_dist_grads *g, int ranks, ykd_error *err)
{
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < g->bucket_count && st == YKD_OK; i++)
        if (g->buckets[i].state == WAITING) /* without the overlap: every bucket, now */
            st = start_reads(g, &g->buckets[i], err);
    while (st == YKD_OK && g->next_reduce < g->bucket_count) {
        bool moved = false;
        int pending = 0;
        st = ykd_comm_progress(&pending, err);
        /* nothing to progress: wait for the next bucket's read outright */
        if (st == YKD_OK)
            st = advance(g, pending == 0, &moved, err);
        if (st == YKD_OK && !moved)
            pause_briefly();
    }
    ykd_status waited = ykd_comm_wait(err); /* every bucket started is waited for */
    st = st == YKD_OK ? waited : st;
    if (st != YKD_OK) {
        finish_reads(g);
        return st;
    }
    float inv = 1.0f / (float)ranks;
    for (size_t i = 0; i < g->floats; i++)
        g->host[i] *= inv;
    ykd_buffer *grads = ykd_model_grad_buffer(g->model);
    const float *from = g->host;
    for (size_t i = 0; i < g->seg_count && st == YKD_OK; i++) {
        st = ykd_buffer_write(grads, g->segs[i].first * sizeof(float), from,
                              g->segs[i].count * sizeof(float), err);
        from += g->segs[i].count;
    }
    return st;
}
