/* The benchmarks of the ops other than convolution on the layers of a YOLOv8 model: batch norm
 * and SiLU after each convolution, SPPF's max pooling, the neck's upsampling and concats, the
 * DFL softmax on the head's box outputs, and the optimizer steps over all parameters. Each is
 * memory-bound: figures are GB/s of the traffic it cannot avoid (every input read once, every
 * output written once). */
#include <string.h>

#include "bench_ops.h"
#include "yolokd/ops.h"

enum { MAX_TENSORS = 12 };

/* The tensors of one layer's cases, freed together. */
typedef struct other_bench {
    ykd_tensor t[MAX_TENSORS];
    int count;
    ykd_batchnorm bn;
    ykd_sgd sgd;
    ykd_adamw adamw;
    const ykd_tensor *parts[4];
    int part_count;
} other_bench;

static ykd_status add_tensor(ykd_device *d, other_bench *b, int n, int c, int h, int w,
                             float value, ykd_error *err)
{
    ykd_tensor *t = &b->t[b->count];
    ykd_status st = ykd_tensor_alloc(d, n, c, h, w, t, err);
    if (st == YKD_OK)
        st = ykd_tensor_fill(t, value, err);
    if (st == YKD_OK)
        b->count++;
    return st;
}

static void free_all(other_bench *b)
{
    for (int i = 0; i < b->count; i++)
        ykd_tensor_free(&b->t[i]);
    b->count = 0;
}

static double bytes_of(const ykd_tensor *t, double times)
{
    return times * (double)ykd_tensor_numel(t) * sizeof(float);
}

/* ---- batch norm and SiLU after a convolution: t = x, y, dy, dx, mean, invstd, gamma, beta,
 * running mean, running var, dgamma, dbeta */

static ykd_status bn_forward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_batchnorm_forward_train(&b->t[0], &b->bn, &b->t[1], &b->t[4], &b->t[5], err);
}

static ykd_status bn_backward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_batchnorm_backward(&b->t[0], &b->t[2], &b->bn, &b->t[4], &b->t[5], false,
                                  &b->t[3], &b->t[10], &b->t[11], err);
}

static ykd_status silu_forward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_silu_forward(&b->t[0], &b->t[1], err);
}

static ykd_status silu_backward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_silu_backward(&b->t[0], &b->t[2], &b->t[3], err);
}

static ykd_status bench_norm_act(bench_run *r, const yolo_layer *l, ykd_error *err)
{
    int ho = (l->h + 2 * (l->k / 2) - l->k) / l->stride + 1;
    other_bench b = {0};
    ykd_status st = YKD_OK;
    for (int i = 0; i < 4 && st == YKD_OK; i++)
        st = add_tensor(r->device, &b, r->batch, l->cout, ho, ho, 0.5f + 0.1f * i, err);
    for (int i = 0; i < 8 && st == YKD_OK; i++)
        st = add_tensor(r->device, &b, 1, l->cout, 1, 1, 1.0f, err);
    b.bn = (ykd_batchnorm){&b.t[6], &b.t[7], &b.t[8], &b.t[9], 0.03f, 1e-3f};
    const ykd_tensor *x = &b.t[0];
    bench_case cases[] = {
        {"batchnorm", "forward", 0, bytes_of(x, 3), bn_forward, &b},  /* stats, normalise */
        {"batchnorm", "backward", 0, bytes_of(x, 5), bn_backward, &b}, /* sums, then dx */
        {"silu", "forward", 0, bytes_of(x, 2), silu_forward, &b},
        {"silu", "backward", 0, bytes_of(x, 3), silu_backward, &b},
    };
    if (st == YKD_OK)
        st = ykd_bench_cases(r, cases, 4, err);
    free_all(&b);
    return st;
}

/* ---- SPPF's max pooling (k 5, s 1, p 2): t = x, y, dy, dx */

static ykd_status pool_forward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_maxpool_forward(&b->t[0], 5, 1, 2, &b->t[1], err);
}

static ykd_status pool_backward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_maxpool_backward(&b->t[0], &b->t[2], 5, 1, 2, false, &b->t[3], err);
}

static ykd_status bench_pool(bench_run *r, const yolo_layer *l, ykd_error *err)
{
    other_bench b = {0};
    ykd_status st = YKD_OK;
    for (int i = 0; i < 4 && st == YKD_OK; i++)
        st = add_tensor(r->device, &b, r->batch, l->cin, l->h, l->w, 0.1f * (float)i, err);
    bench_case cases[] = {
        {"maxpool", "forward", 0, bytes_of(&b.t[0], 2), pool_forward, &b},
        {"maxpool", "backward", 0, bytes_of(&b.t[0], 3), pool_backward, &b},
    };
    if (st == YKD_OK)
        st = ykd_bench_cases(r, cases, 2, err);
    free_all(&b);
    return st;
}

/* ---- nearest upsampling by 2: t = x, y (2x), dy (2x), dx */

static ykd_status up_forward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_upsample2x_forward(&b->t[0], &b->t[1], err);
}

static ykd_status up_backward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_upsample2x_backward(&b->t[2], false, &b->t[3], err);
}

static ykd_status bench_upsample(bench_run *r, const yolo_layer *l, ykd_error *err)
{
    other_bench b = {0};
    ykd_status st = add_tensor(r->device, &b, r->batch, l->cin, l->h, l->w, 1.0f, err);
    if (st == YKD_OK)
        st = add_tensor(r->device, &b, r->batch, l->cin, 2 * l->h, 2 * l->w, 0.0f, err);
    if (st == YKD_OK)
        st = add_tensor(r->device, &b, r->batch, l->cin, 2 * l->h, 2 * l->w, 1.0f, err);
    if (st == YKD_OK)
        st = add_tensor(r->device, &b, r->batch, l->cin, l->h, l->w, 0.0f, err);
    bench_case cases[] = {
        {"upsample", "forward", 0, bytes_of(&b.t[0], 5), up_forward, &b},
        {"upsample", "backward", 0, bytes_of(&b.t[0], 5), up_backward, &b},
    };
    if (st == YKD_OK)
        st = ykd_bench_cases(r, cases, 2, err);
    free_all(&b);
    return st;
}

/* ---- concat of two halves along channels (the model writes into views instead; this is the
 * copying op): t = a, b, y, da, db */

static ykd_status cat_forward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_concat_forward(b->parts, 2, &b->t[2], err);
}

static ykd_status cat_backward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    const ykd_tensor *grads[2] = {&b->t[3], &b->t[4]};
    return ykd_concat_backward(&b->t[2], false, grads, 2, err);
}

static ykd_status bench_concat(bench_run *r, const yolo_layer *l, ykd_error *err)
{
    other_bench b = {0};
    int half = l->cin / 2;
    ykd_status st = add_tensor(r->device, &b, r->batch, half, l->h, l->w, 1.0f, err);
    if (st == YKD_OK)
        st = add_tensor(r->device, &b, r->batch, l->cin - half, l->h, l->w, 2.0f, err);
    if (st == YKD_OK)
        st = add_tensor(r->device, &b, r->batch, l->cin, l->h, l->w, 0.0f, err);
    if (st == YKD_OK)
        st = add_tensor(r->device, &b, r->batch, half, l->h, l->w, 0.0f, err);
    if (st == YKD_OK)
        st = add_tensor(r->device, &b, r->batch, l->cin - half, l->h, l->w, 0.0f, err);
    b.parts[0] = &b.t[0];
    b.parts[1] = &b.t[1];
    bench_case cases[] = {
        {"concat", "forward", 0, bytes_of(&b.t[2], 2), cat_forward, &b},
        {"concat", "backward", 0, bytes_of(&b.t[2], 2), cat_backward, &b},
    };
    if (st == YKD_OK)
        st = ykd_bench_cases(r, cases, 2, err);
    free_all(&b);
    return st;
}

/* ---- the DFL softmax over the 16 bins of each box side: t = x [4N, 16, H, W], y, dy, dx */

static ykd_status softmax_forward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_softmax_forward(&b->t[0], 1, &b->t[1], err);
}

static ykd_status softmax_backward(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_softmax_backward(&b->t[1], &b->t[2], 1, &b->t[3], err);
}

static ykd_status bench_softmax(bench_run *r, const yolo_layer *l, ykd_error *err)
{
    int ho = (l->h + 2 * (l->k / 2) - l->k) / l->stride + 1;
    other_bench b = {0};
    ykd_status st = YKD_OK;
    for (int i = 0; i < 4 && st == YKD_OK; i++)
        st = add_tensor(r->device, &b, 4 * r->batch, l->cout / 4, ho, ho, 0.1f * (float)i, err);
    bench_case cases[] = {
        {"softmax", "forward", 0, bytes_of(&b.t[0], 2), softmax_forward, &b},
        {"softmax", "backward", 0, bytes_of(&b.t[0], 3), softmax_backward, &b},
    };
    if (st == YKD_OK)
        st = ykd_bench_cases(r, cases, 2, err);
    free_all(&b);
    return st;
}

ykd_status ykd_bench_other_ops(bench_run *r, ykd_error *err)
{
    const yolo_layer *l = r->layer;
    switch (l->kind) {
    case YOLO_CONV:
        if (!l->plain)
            return bench_norm_act(r, l, err);
        /* the head's box branch ends in 64 = 4 x 16 DFL bins */
        return l->cout == 64 ? bench_softmax(r, l, err) : YKD_OK;
    case YOLO_MAXPOOL:
        return bench_pool(r, l, err);
    case YOLO_UPSAMPLE:
        return bench_upsample(r, l, err);
    case YOLO_CONCAT:
        return bench_concat(r, l, err);
    }
    return YKD_OK;
}

/* ---- optimizer steps over one tensor holding every parameter: t = param, grad, m, v */

static ykd_status sgd_step(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_sgd_step(&b->t[0], &b->t[1], &b->t[2], &b->sgd, err);
}

static ykd_status adamw_step(void *ctx, ykd_error *err)
{
    other_bench *b = ctx;
    return ykd_adamw_step(&b->t[0], &b->t[1], &b->t[2], &b->t[3], &b->adamw, err);
}

ykd_status ykd_bench_optimizers(bench_run *r, size_t parameters, ykd_error *err)
{
    other_bench b = {.sgd = {0.01f, 0.937f, true, 5e-4f, 0.0f, 0.0f},
                     .adamw = {0.001f, 0.9f, 0.999f, 1e-8f, 5e-4f, 1}};
    static const yolo_layer all = {YOLO_CONV, "all parameters", 0, 0, 0, 1, 0, 0, 0};
    r->layer = &all;
    ykd_status st = YKD_OK;
    for (int i = 0; i < 4 && st == YKD_OK; i++)
        st = add_tensor(r->device, &b, 1, 1, 1, (int)parameters, 0.01f * (float)i, err);
    bench_case cases[] = {
        /* SGD reads param, grad, buffer and writes param, buffer; AdamW two more */
        {"sgd", "step", 0, bytes_of(&b.t[0], 5), sgd_step, &b},
        {"adamw", "step", 0, bytes_of(&b.t[0], 7), adamw_step, &b},
    };
    if (st == YKD_OK)
        st = ykd_bench_cases(r, cases, 2, err);
    free_all(&b);
    return st;
}
