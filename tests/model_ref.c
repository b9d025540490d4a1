/* The float64 model reference: Ultralytics' modules over the op references. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "model_ref.h"
#include "ref/ref.h"

typedef struct mref {
    const ykd_model *model;
    const double *params;
    bool training;
} mref;

size_t mref_numel(const mref_tensor *t)
{
    return (size_t)t->n * t->c * t->h * t->w;
}

static mref_tensor make(int n, int c, int h, int w)
{
    mref_tensor t = {n, c, h, w, calloc((size_t)n * c * h * w, sizeof(double))};
    return t;
}

void mref_tensor_free(mref_tensor *t)
{
    free(t->d);
    t->d = NULL;
}

static mref_tensor copy(const mref_tensor *x)
{
    mref_tensor y = make(x->n, x->c, x->h, x->w);
    memcpy(y.d, x->d, mref_numel(x) * sizeof *y.d);
    return y;
}

static const double *param(const mref *r, const char *prefix, const char *suffix)
{
    char name[160];
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    const ykd_model_param *p = ykd_model_param_find(r->model, name);
    if (!p) {
        fprintf(stderr, "model reference: no parameter %s\n", name);
        abort();
    }
    return r->params + p->value.offset;
}

static int out_channels(const mref *r, const char *weight)
{
    return ykd_model_param_find(r->model, weight)->shape[0];
}

/* Ultralytics' Conv(g, act): conv (no bias, padding k/2, g groups) + BatchNorm2d(eps 1e-3)
 * + SiLU when act. */
static mref_tensor conv_full(const mref *r, const char *prefix, const mref_tensor *x, int k,
                             int s, int groups, bool act)
{
    char weight[160];
    snprintf(weight, sizeof weight, "%s.conv.weight", prefix);
    ref_conv c = {x->n, x->c, x->h, x->w, out_channels(r, weight), k, s, k / 2, groups};
    mref_tensor z = make(x->n, c.cout, ref_conv_out(x->h, k, s, k / 2),
                         ref_conv_out(x->w, k, s, k / 2));
    ref_conv2d_forward(&c, x->d, param(r, prefix, ".conv.weight"), NULL, 0, z.d);
    mref_tensor b = make(z.n, z.c, z.h, z.w);
    ref_shape shape = {z.n, z.c, z.h, z.w};
    if (r->training) {
        double *stats = malloc(3 * (size_t)z.c * sizeof *stats);
        ref_batchnorm_forward_train(shape, z.d, param(r, prefix, ".bn.weight"),
                                    param(r, prefix, ".bn.bias"), 1e-3, b.d, stats,
                                    stats + z.c, stats + 2 * z.c);
        free(stats);
    } else {
        ref_batchnorm_forward_infer(shape, z.d, param(r, prefix, ".bn.weight"),
                                    param(r, prefix, ".bn.bias"),
                                    param(r, prefix, ".bn.running_mean"),
                                    param(r, prefix, ".bn.running_var"), 1e-3, b.d);
    }
    if (!act) {
        mref_tensor_free(&z);
        return b;
    }
    ref_silu_forward(mref_numel(&b), b.d, z.d);
    mref_tensor_free(&b);
    return z;
}

/* Conv(c1, c2, k, s): one group, SiLU. */
static mref_tensor conv_block(const mref *r, const char *prefix, const mref_tensor *x, int k,
                              int s)
{
    return conv_full(r, prefix, x, k, s, 1, true);
}

/* nn.Conv2d(k = 1) with a bias. */
static mref_tensor plain_conv(const mref *r, const char *prefix, const mref_tensor *x)
{
    char weight[160];
    snprintf(weight, sizeof weight, "%s.weight", prefix);
    ref_conv c = {x->n, x->c, x->h, x->w, out_channels(r, weight), 1, 1, 0, 1};
    mref_tensor y = make(x->n, c.cout, x->h, x->w);
    ref_conv2d_forward(&c, x->d, param(r, prefix, ".weight"), param(r, prefix, ".bias"), 0,
                       y.d);
    return y;
}

static mref_tensor concat(const mref_tensor *const *parts, int count)
{
    int channels[64], total = 0;
    const double *data[64];
    for (int i = 0; i < count; i++) {
        channels[i] = parts[i]->c;
        data[i] = parts[i]->d;
        total += parts[i]->c;
    }
    mref_tensor y = make(parts[0]->n, total, parts[0]->h, parts[0]->w);
    ref_concat(y.n, (size_t)y.h * y.w, count, channels, data, y.d);
    return y;
}

/* Channels [first, first + count) of x. */
static mref_tensor chunk(const mref_tensor *x, int first, int count)
{
    mref_tensor y = make(x->n, count, x->h, x->w);
    size_t plane = (size_t)x->h * x->w;
    for (int n = 0; n < x->n; n++)
        memcpy(y.d + (size_t)n * count * plane, x->d + ((size_t)n * x->c + first) * plane,
               (size_t)count * plane * sizeof *y.d);
    return y;
}

/* Bottleneck, k = 3 both: cv2(cv1(x)), plus x with a shortcut. */
static mref_tensor bottleneck(const mref *r, const char *prefix, const mref_tensor *x,
                              bool shortcut)
{
    char name[160];
    snprintf(name, sizeof name, "%s.cv1", prefix);
    mref_tensor h = conv_block(r, name, x, 3, 1);
    snprintf(name, sizeof name, "%s.cv2", prefix);
    mref_tensor y = conv_block(r, name, &h, 3, 1);
    mref_tensor_free(&h);
    if (shortcut)
        ref_add(mref_numel(&y), y.d, x->d, y.d);
    return y;
}

/* C3k(c, c, n = 2): cv3(cat(m(cv1(x)), cv2(x))), m two bottlenecks with shortcuts. */
static mref_tensor c3k(const mref *r, const char *prefix, const mref_tensor *x)
{
    char name[160];
    snprintf(name, sizeof name, "%s.cv1", prefix);
    mref_tensor u = conv_block(r, name, x, 1, 1);
    for (int b = 0; b < 2; b++) {
        snprintf(name, sizeof name, "%s.m.%d", prefix, b);
        mref_tensor next = bottleneck(r, name, &u, true);
        mref_tensor_free(&u);
        u = next;
    }
    snprintf(name, sizeof name, "%s.cv2", prefix);
    mref_tensor side = conv_block(r, name, x, 1, 1);
    const mref_tensor *list[2] = {&u, &side};
    mref_tensor cat = concat(list, 2);
    mref_tensor_free(&u);
    mref_tensor_free(&side);
    snprintf(name, sizeof name, "%s.cv3", prefix);
    mref_tensor y = conv_block(r, name, &cat, 1, 1);
    mref_tensor_free(&cat);
    return y;
}

/* The inner module m_j of C2f and C3k2 (model.<index>.m.<j> is its prefix). */
typedef mref_tensor (*inner_module)(const mref *r, const ykd_layer_desc *l, const char *prefix,
                                    const mref_tensor *x);

/* C2f's Bottleneck(k = 3, 3, e = 1.0), with the layer's shortcut. */
static mref_tensor c2f_inner(const mref *r, const ykd_layer_desc *l, const char *prefix,
                             const mref_tensor *x)
{
    return bottleneck(r, prefix, x, l->shortcut);
}

/* C3k2's C3k, or a Bottleneck (e = 0.5, with a shortcut). */
static mref_tensor c3k2_inner(const mref *r, const ykd_layer_desc *l, const char *prefix,
                              const mref_tensor *x)
{
    return l->c3k ? c3k(r, prefix, x) : bottleneck(r, prefix, x, true);
}

/* C2f and C3k2: y = cv1(x).chunk(2); y += [m(y[-1]) for m]; cv2(cat(y)). */
static mref_tensor split_chain(const mref *r, int index, const ykd_layer_desc *l,
                               const mref_tensor *x, inner_module inner)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", index);
    mref_tensor y = conv_block(r, prefix, x, 1, 1);
    int c = y.c / 2, n = l->repeats;
    mref_tensor *parts = calloc((size_t)n + 2, sizeof *parts);
    parts[0] = chunk(&y, 0, c);
    parts[1] = chunk(&y, c, c);
    mref_tensor_free(&y);
    for (int j = 0; j < n; j++) {
        snprintf(prefix, sizeof prefix, "model.%d.m.%d", index, j);
        parts[j + 2] = inner(r, l, prefix, &parts[j + 1]);
    }
    const mref_tensor **list = calloc((size_t)n + 2, sizeof *list);
    for (int j = 0; j < n + 2; j++)
        list[j] = &parts[j];
    mref_tensor cat = concat(list, n + 2);
    for (int j = 0; j < n + 2; j++)
        mref_tensor_free(&parts[j]);
    free(list);
    free(parts);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", index);
    mref_tensor out = conv_block(r, prefix, &cat, 1, 1);
    mref_tensor_free(&cat);
    return out;
}

/* Attention: proj(attention(qkv(x)) + pe(v)), v each head's last head_dim channels of qkv. */
static mref_tensor attention(const mref *r, const char *prefix, const ykd_layer_desc *l,
                             const mref_tensor *x)
{
    char name[160];
    snprintf(name, sizeof name, "%.100s.qkv", prefix);
    mref_tensor qkv = conv_full(r, name, x, 1, 1, 1, false);
    int p = x->h * x->w, per = 2 * l->key_dim + l->head_dim;
    mref_tensor y = make(x->n, x->c, x->h, x->w), v = make(x->n, x->c, x->h, x->w);
    ref_attention_forward(x->n, p, l->heads, l->key_dim, l->head_dim,
                          1.0 / sqrt((double)l->key_dim), qkv.d, y.d);
    for (int n = 0; n < x->n; n++)
        for (int h = 0; h < l->heads; h++)
            memcpy(v.d + ((size_t)n * x->c + (size_t)h * l->head_dim) * p,
                   qkv.d + ((size_t)n * qkv.c + (size_t)h * per + 2 * l->key_dim) * p,
                   (size_t)l->head_dim * p * sizeof *v.d);
    snprintf(name, sizeof name, "%.100s.pe", prefix);
    mref_tensor pe = conv_full(r, name, &v, 3, 1, x->c, false);
    ref_add(mref_numel(&y), y.d, pe.d, y.d);
    snprintf(name, sizeof name, "%.100s.proj", prefix);
    mref_tensor out = conv_full(r, name, &y, 1, 1, 1, false);
    mref_tensor_free(&qkv);
    mref_tensor_free(&v);
    mref_tensor_free(&pe);
    mref_tensor_free(&y);
    return out;
}

/* PSABlock: x = x + attn(x); x + ffn(x), ffn = Conv(c, 2c, 1), Conv(2c, c, 1, act=False). */
static mref_tensor psa_block(const mref *r, const char *prefix, const ykd_layer_desc *l,
                             const mref_tensor *x)
{
    char name[160];
    snprintf(name, sizeof name, "%s.attn", prefix);
    mref_tensor a = attention(r, name, l, x);
    ref_add(mref_numel(&a), a.d, x->d, a.d);
    snprintf(name, sizeof name, "%s.ffn.0", prefix);
    mref_tensor h = conv_block(r, name, &a, 1, 1);
    snprintf(name, sizeof name, "%s.ffn.1", prefix);
    mref_tensor y = conv_full(r, name, &h, 1, 1, 1, false);
    ref_add(mref_numel(&y), y.d, a.d, y.d);
    mref_tensor_free(&a);
    mref_tensor_free(&h);
    return y;
}

/* C2PSA: a, b = cv1(x).split((c, c)); cv2(cat(a, m(b))). */
static mref_tensor c2psa(const mref *r, int index, const ykd_layer_desc *l, const mref_tensor *x)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", index);
    mref_tensor y = conv_block(r, prefix, x, 1, 1);
    int c = y.c / 2;
    mref_tensor a = chunk(&y, 0, c), b = chunk(&y, c, c);
    mref_tensor_free(&y);
    for (int j = 0; j < l->repeats; j++) {
        snprintf(prefix, sizeof prefix, "model.%d.m.%d", index, j);
        mref_tensor next = psa_block(r, prefix, l, &b);
        mref_tensor_free(&b);
        b = next;
    }
    const mref_tensor *list[2] = {&a, &b};
    mref_tensor cat = concat(list, 2);
    mref_tensor_free(&a);
    mref_tensor_free(&b);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", index);
    mref_tensor out = conv_block(r, prefix, &cat, 1, 1);
    mref_tensor_free(&cat);
    return out;
}

/* SPPF: y = [cv1(x)]; three times y += [maxpool(y[-1])]; cv2(cat(y)). */
static mref_tensor sppf(const mref *r, int index, const ykd_layer_desc *l, const mref_tensor *x)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", index);
    mref_tensor y[4];
    y[0] = conv_block(r, prefix, x, 1, 1);
    for (int i = 1; i < 4; i++) {
        y[i] = make(y[0].n, y[0].c, y[0].h, y[0].w);
        ref_shape s = {y[0].n, y[0].c, y[0].h, y[0].w};
        ref_maxpool_forward(s, y[i - 1].d, l->k, 1, l->k / 2, y[i].d);
    }
    const mref_tensor *list[4] = {&y[0], &y[1], &y[2], &y[3]};
    mref_tensor cat = concat(list, 4);
    for (int i = 0; i < 4; i++)
        mref_tensor_free(&y[i]);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", index);
    mref_tensor out = conv_block(r, prefix, &cat, 1, 1);
    mref_tensor_free(&cat);
    return out;
}

/* One stage of YOLO11's class branch: DWConv(c, c, 3) (prefix.0), Conv(c, c3, 1) (prefix.1). */
static mref_tensor dw_pair(const mref *r, const char *prefix, const mref_tensor *x)
{
    char name[160];
    snprintf(name, sizeof name, "%s.0", prefix);
    mref_tensor dw = conv_full(r, name, x, 3, 1, x->c, true);
    snprintf(name, sizeof name, "%s.1", prefix);
    mref_tensor y = conv_block(r, name, &dw, 1, 1);
    mref_tensor_free(&dw);
    return y;
}

/* One Detect level: cat(cv2[l](x), cv3[l](x)); cv3 of YOLO11 (legacy off) is DWConv + Conv
 * pairs. */
static mref_tensor detect_level(const mref *r, int index, const ykd_layer_desc *l, int level,
                                const mref_tensor *x)
{
    mref_tensor branch[2];
    const char *names[2] = {"cv2", "cv3"};
    for (int b = 0; b < 2; b++) {
        char prefix[64];
        bool pairs = b == 1 && !l->legacy;
        snprintf(prefix, sizeof prefix, "model.%d.%s.%d.0", index, names[b], level);
        mref_tensor t1 = pairs ? dw_pair(r, prefix, x) : conv_block(r, prefix, x, 3, 1);
        snprintf(prefix, sizeof prefix, "model.%d.%s.%d.1", index, names[b], level);
        mref_tensor t2 = pairs ? dw_pair(r, prefix, &t1) : conv_block(r, prefix, &t1, 3, 1);
        snprintf(prefix, sizeof prefix, "model.%d.%s.%d.2", index, names[b], level);
        branch[b] = plain_conv(r, prefix, &t2);
        mref_tensor_free(&t1);
        mref_tensor_free(&t2);
    }
    const mref_tensor *list[2] = {&branch[0], &branch[1]};
    mref_tensor head = concat(list, 2);
    mref_tensor_free(&branch[0]);
    mref_tensor_free(&branch[1]);
    return head;
}

static mref_tensor run_layer(const mref *r, int i, const ykd_layer_desc *l,
                             const mref_tensor *const *in)
{
    char prefix[32];
    switch (l->module) {
    case YKD_MODULE_CONV:
        snprintf(prefix, sizeof prefix, "model.%d", i);
        return conv_block(r, prefix, in[0], l->k, l->s);
    case YKD_MODULE_DWCONV:
        snprintf(prefix, sizeof prefix, "model.%d", i);
        return conv_full(r, prefix, in[0], l->k, l->s, l->groups, true);
    case YKD_MODULE_C2F:
        return split_chain(r, i, l, in[0], c2f_inner);
    case YKD_MODULE_C3K2:
        return split_chain(r, i, l, in[0], c3k2_inner);
    case YKD_MODULE_C2PSA:
        return c2psa(r, i, l, in[0]);
    case YKD_MODULE_SPPF:
        return sppf(r, i, l, in[0]);
    case YKD_MODULE_UPSAMPLE: {
        mref_tensor y = make(in[0]->n, in[0]->c, 2 * in[0]->h, 2 * in[0]->w);
        ref_shape s = {in[0]->n, in[0]->c, in[0]->h, in[0]->w};
        ref_upsample2x_forward(s, in[0]->d, y.d);
        return y;
    }
    case YKD_MODULE_CONCAT:
        return concat(in, l->from_count);
    case YKD_MODULE_DETECT:
        break;
    }
    mref_tensor none = {0, 0, 0, 0, NULL};
    return none;
}

void mref_forward(const ykd_model *model, const double *params, bool training,
                  const mref_tensor *images, mref_outputs *out)
{
    const ykd_model_desc *desc = ykd_model_get_desc(model);
    mref r = {model, params, training};
    mref_tensor *y = calloc((size_t)desc->layer_count, sizeof *y);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < desc->layer_count; i++) {
        const ykd_layer_desc *l = &desc->layers[i];
        const mref_tensor *in[YKD_LAYER_MAX_FROM];
        for (int f = 0; f < l->from_count; f++)
            in[f] = l->from[f] < 0 ? images : &y[l->from[f]];
        if (l->module != YKD_MODULE_DETECT) {
            y[i] = run_layer(&r, i, l, in);
            continue;
        }
        out->levels = l->from_count;
        for (int lv = 0; lv < l->from_count; lv++) {
            out->neck[lv] = copy(in[lv]);
            out->head[lv] = detect_level(&r, i, l, lv, in[lv]);
        }
    }
    for (int i = 0; i < desc->layer_count; i++)
        mref_tensor_free(&y[i]);
    free(y);
}

void mref_outputs_free(mref_outputs *out)
{
    for (int lv = 0; lv < out->levels; lv++) {
        mref_tensor_free(&out->neck[lv]);
        mref_tensor_free(&out->head[lv]);
    }
}
