/* The layer graph: a validated description expanded into primitive nodes (conv + BN + SiLU,
 * plain conv, residual add, max pool, upsample, copy) over values, and the parameter table in
 * Ultralytics' state_dict order.
 *
 * Values are channel ranges of storages, so the blocks need no copies: C2f's cv1 writes the
 * first 2c channels of one storage whose halves are the chunks, each bottleneck writes the next
 * c channels, and cv2 reads the whole; SPPF's pools write consecutive slices the same way; a
 * Concat's inputs are placed inside its storage when they are whole tensors of their own; a
 * Detect level's box and class convs write the two slices of one [64 + nc] tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "model/model_internal.h"

/* Grows an array of count elements to hold one more; false when out of memory. */
static bool grow(void **items, int *cap, int count, size_t size)
{
    if (count < *cap)
        return true;
    int next = *cap ? *cap * 2 : 64;
    void *p = realloc(*items, (size_t)next * size);
    if (!p)
        return false;
    *items = p;
    *cap = next;
    return true;
}

static int add_storage(ykd_graph *g, int c, int stride)
{
    if (!grow((void **)&g->storages, &g->storage_cap, g->storage_count, sizeof *g->storages)) {
        g->failed = true;
        return 0;
    }
    g->storages[g->storage_count] = (ykd_gstorage){c, stride, -1, 0, false};
    return g->storage_count++;
}

static int add_value(ykd_graph *g, int storage, int offset, int c, int stride)
{
    if (!grow((void **)&g->values, &g->value_cap, g->value_count, sizeof *g->values)) {
        g->failed = true;
        return 0;
    }
    g->values[g->value_count] = (ykd_gvalue){storage, offset, c, stride};
    return g->value_count++;
}

/* A value over a storage of its own. */
static int new_tensor(ykd_graph *g, int c, int stride)
{
    return add_value(g, add_storage(g, c, stride), 0, c, stride);
}

/* Channels [offset, offset + c) of value v, sharing its storage. */
static int view(ykd_graph *g, int v, int offset, int c)
{
    ykd_gvalue base = g->values[v];
    return add_value(g, base.storage, base.offset + offset, c, base.stride);
}

static int add_param(ykd_graph *g, int layer, const char *name, ykd_param_kind kind, int ndim,
                     int d0, int d1, int d2, int d3)
{
    if (!grow((void **)&g->params, &g->param_cap, g->param_count, sizeof *g->params)) {
        g->failed = true;
        return 0;
    }
    ykd_gparam *p = &g->params[g->param_count];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = kind;
    p->layer = layer;
    p->ndim = ndim;
    if (ndim == 4) {
        int s[4] = {d0, d1, d2, d3};
        memcpy(p->shape, s, sizeof s);
        memcpy(p->dims, s, sizeof s);
    } else {
        p->shape[0] = d0;
        p->dims[0] = 1, p->dims[1] = d0, p->dims[2] = 1, p->dims[3] = 1;
    }
    p->numel = (size_t)p->dims[0] * p->dims[1] * p->dims[2] * p->dims[3];
    return g->param_count++;
}

/* A convolution's parameters, declared in state_dict order before its node exists. */
typedef struct conv_spec {
    int weight, bias, bn;
    int cin, cout, k, s;
    int groups;
    bool act;
} conv_spec;

/* Ultralytics' Conv(c1, c2, k, s, g, act): prefix.conv.weight [c2, c1 / g, k, k] (no bias)
 * and prefix.bn.{weight,bias,running_*}. */
static conv_spec declare_conv_full(ykd_graph *g, int layer, const char *prefix, int cin,
                                   int cout, int k, int s, int groups, bool act)
{
    static const char *const bn_names[] = {"weight", "bias", "running_mean", "running_var"};
    static const ykd_param_kind bn_kinds[] = {YKD_PARAM_BN_WEIGHT, YKD_PARAM_BN_BIAS,
                                              YKD_PARAM_BN_MEAN, YKD_PARAM_BN_VAR};
    char name[96];
    conv_spec c = {0, -1, 0, cin, cout, k, s, groups, act};
    snprintf(name, sizeof name, "%.80s.conv.weight", prefix);
    c.weight = add_param(g, layer, name, YKD_PARAM_CONV_WEIGHT, 4, cout, cin / groups, k, k);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%.70s.bn.%s", prefix, bn_names[i]);
        int index = add_param(g, layer, name, bn_kinds[i], 1, cout, 0, 0, 0);
        if (i == 0)
            c.bn = index;
    }
    return c;
}

/* Conv(c1, c2, k, s): one group, SiLU. */
static conv_spec declare_conv(ykd_graph *g, int layer, const char *prefix, int cin, int cout,
                              int k, int s)
{
    return declare_conv_full(g, layer, prefix, cin, cout, k, s, 1, true);
}

/* A plain nn.Conv2d with a bias: prefix.weight, prefix.bias. */
static conv_spec declare_plain(ykd_graph *g, int layer, const char *prefix, int cin, int cout)
{
    char name[96];
    conv_spec c = {0, 0, -1, cin, cout, 1, 1, 1, false};
    snprintf(name, sizeof name, "%.80s.weight", prefix);
    c.weight = add_param(g, layer, name, YKD_PARAM_CONV_WEIGHT, 4, cout, cin, 1, 1);
    snprintf(name, sizeof name, "%.80s.bias", prefix);
    c.bias = add_param(g, layer, name, YKD_PARAM_CONV_BIAS, 1, cout, 0, 0, 0);
    return c;
}

static int add_node(ykd_graph *g, ykd_gnode node)
{
    if (!grow((void **)&g->nodes, &g->node_cap, g->node_count, sizeof *g->nodes)) {
        g->failed = true;
        return 0;
    }
    g->nodes[g->node_count] = node;
    return g->node_count++;
}

static void emit_conv(ykd_graph *g, int layer, const conv_spec *c, int in, int out)
{
    ykd_gnode n = {.kind = YKD_NODE_CONV, .layer = layer, .in = in, .out = out, .k = c->k,
                   .s = c->s, .p = c->k / 2, .groups = c->groups, .bn = c->bn >= 0,
                   .act = c->act, .weight = c->weight, .bias = c->bias, .bn_param = c->bn};
    if (n.bn) {
        n.fold_offset = g->folded_floats;
        size_t weights = (size_t)c->cout * (c->cin / c->groups) * c->k * c->k;
        g->folded_floats += (weights + 15) / 16 * 16 + ((size_t)c->cout + 15) / 16 * 16;
    }
    add_node(g, n);
}

static void emit_simple(ykd_graph *g, ykd_node_kind kind, int layer, int in, int out, int k)
{
    add_node(g, (ykd_gnode){.kind = kind, .layer = layer, .in = in, .out = out, .k = k, .s = 1,
                            .p = k / 2, .groups = 1, .weight = -1, .bias = -1,
                            .bn_param = -1});
}

static int build_conv(ykd_graph *g, int index, const ykd_layer_desc *l, int in)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "model.%d", index);
    conv_spec c = declare_conv_full(g, index, prefix, l->cin, l->cout, l->k, l->s, l->groups,
                                    true);
    int out = new_tensor(g, l->cout, g->values[in].stride * l->s);
    emit_conv(g, index, &c, in, out);
    return out;
}

/* C2f: cv1 (1x1 to 2c) split in two chunks, n bottlenecks each on the last chunk (3x3, 3x3,
 * + the chunk when shortcut), cv2 (1x1) over all 2 + n chunks. */
static int build_c2f(ykd_graph *g, int index, const ykd_layer_desc *l, int in)
{
    int c = l->cout / 2, n = l->repeats, stride = g->values[in].stride;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", index);
    conv_spec cv1 = declare_conv(g, index, prefix, l->cin, 2 * c, 1, 1);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", index);
    conv_spec cv2 = declare_conv(g, index, prefix, (2 + n) * c, l->cout, 1, 1);
    conv_spec *m = calloc((size_t)n * 2, sizeof *m);
    if (!m) {
        g->failed = true;
        return in;
    }
    for (int j = 0; j < n; j++) {
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.cv1", index, j);
        m[2 * j] = declare_conv(g, index, prefix, c, c, 3, 1);
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.cv2", index, j);
        m[2 * j + 1] = declare_conv(g, index, prefix, c, c, 3, 1);
    }
    int cat = new_tensor(g, (2 + n) * c, stride);
    emit_conv(g, index, &cv1, in, view(g, cat, 0, 2 * c));
    int last = view(g, cat, c, c);
    for (int j = 0; j < n; j++) {
        int hidden = new_tensor(g, c, stride), next = view(g, cat, (2 + j) * c, c);
        emit_conv(g, index, &m[2 * j], last, hidden);
        emit_conv(g, index, &m[2 * j + 1], hidden, next);
        if (l->shortcut)
            emit_simple(g, YKD_NODE_ADD, index, last, next, 1);
        last = next;
    }
    free(m);
    int out = new_tensor(g, l->cout, stride);
    emit_conv(g, index, &cv2, cat, out);
    return out;
}

/* SPPF: cv1 (1x1 to c/2), three chained max pools, cv2 (1x1) over the four. */
static int build_sppf(ykd_graph *g, int index, const ykd_layer_desc *l, int in)
{
    int c = l->cin / 2, stride = g->values[in].stride;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", index);
    conv_spec cv1 = declare_conv(g, index, prefix, l->cin, c, 1, 1);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", index);
    conv_spec cv2 = declare_conv(g, index, prefix, 4 * c, l->cout, 1, 1);
    int cat = new_tensor(g, 4 * c, stride);
    int prev = view(g, cat, 0, c);
    emit_conv(g, index, &cv1, in, prev);
    for (int i = 1; i < 4; i++) {
        int next = view(g, cat, i * c, c);
        emit_simple(g, YKD_NODE_MAXPOOL, index, prev, next, l->k);
        prev = next;
    }
    int out = new_tensor(g, l->cout, stride);
    emit_conv(g, index, &cv2, cat, out);
    return out;
}

/* One residual block on `in` (c channels) written into `out`: cv1 (3x3, c -> hidden), cv2
 * (3x3, hidden -> c), + in: Ultralytics' Bottleneck(c, c, shortcut=True, e) with
 * hidden = int(c * e). The specs were declared in state_dict order beforehand. */
static void emit_bottleneck(ykd_graph *g, int index, const conv_spec *cv1, const conv_spec *cv2,
                            int in, int out)
{
    int hidden = new_tensor(g, cv1->cout, g->values[in].stride);
    emit_conv(g, index, cv1, in, hidden);
    emit_conv(g, index, cv2, hidden, out);
    emit_simple(g, YKD_NODE_ADD, index, in, out, 1);
}

/* C3k(c, c, n = 2, e = 0.5): cv1 and cv2 (1x1, c -> c_), cv3 (1x1, 2c_ -> c) with
 * c_ = int(c / 2), and two bottlenecks (3x3, 3x3, e = 1) after cv1:
 * cv3(cat(m(cv1(x)), cv2(x))). Specs: cv1, cv2, cv3, m.0.cv1, m.0.cv2, m.1.cv1, m.1.cv2. */
enum { C3K_SPECS = 7, C3K_BLOCKS = 2 };

static void declare_c3k(ykd_graph *g, int index, const char *prefix, int c, conv_spec *spec)
{
    static const char *const names[C3K_SPECS] = {"cv1",     "cv2",     "cv3",    "m.0.cv1",
                                                 "m.0.cv2", "m.1.cv1", "m.1.cv2"};
    int c_ = c / 2;
    for (int i = 0; i < C3K_SPECS; i++) {
        char name[96];
        snprintf(name, sizeof name, "%.60s.%s", prefix, names[i]);
        int cin = i < 2 ? c : i == 2 ? 2 * c_ : c_, cout = i == 2 ? c : c_;
        spec[i] = declare_conv(g, index, name, cin, cout, i < 3 ? 1 : 3, 1);
    }
}

static void emit_c3k(ykd_graph *g, int index, const conv_spec *spec, int in, int out)
{
    int c_ = spec[0].cout, stride = g->values[in].stride;
    int cat = new_tensor(g, 2 * c_, stride);
    int u = new_tensor(g, c_, stride);
    emit_conv(g, index, &spec[0], in, u);
    emit_conv(g, index, &spec[1], in, view(g, cat, c_, c_));
    for (int b = 0; b < C3K_BLOCKS; b++) {
        int next = b == C3K_BLOCKS - 1 ? view(g, cat, 0, c_) : new_tensor(g, c_, stride);
        emit_bottleneck(g, index, &spec[3 + 2 * b], &spec[4 + 2 * b], u, next);
        u = next;
    }
    emit_conv(g, index, &spec[2], cat, out);
}

/* C3k2: C2f's layout (cv1 to 2c split in chunks, each block on the last chunk, cv2 over all
 * 2 + n) with c = int(c2 * e) and blocks Bottleneck(c, c, e = 0.5) or, with c3k, C3k. */
static int build_c3k2(ykd_graph *g, int index, const ykd_layer_desc *l, int in)
{
    int c = l->hidden, n = l->repeats, stride = g->values[in].stride;
    int per = l->c3k ? C3K_SPECS : 2;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", index);
    conv_spec cv1 = declare_conv(g, index, prefix, l->cin, 2 * c, 1, 1);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", index);
    conv_spec cv2 = declare_conv(g, index, prefix, (2 + n) * c, l->cout, 1, 1);
    conv_spec *m = calloc((size_t)n * per, sizeof *m);
    if (!m) {
        g->failed = true;
        return in;
    }
    for (int j = 0; j < n; j++) {
        snprintf(prefix, sizeof prefix, "model.%d.m.%d", index, j);
        if (l->c3k) {
            declare_c3k(g, index, prefix, c, &m[j * per]);
            continue;
        }
        char name[96];
        snprintf(name, sizeof name, "%s.cv1", prefix);
        m[j * per] = declare_conv(g, index, name, c, c / 2, 3, 1);
        snprintf(name, sizeof name, "%s.cv2", prefix);
        m[j * per + 1] = declare_conv(g, index, name, c / 2, c, 3, 1);
    }
    int cat = new_tensor(g, (2 + n) * c, stride);
    emit_conv(g, index, &cv1, in, view(g, cat, 0, 2 * c));
    int last = view(g, cat, c, c);
    for (int j = 0; j < n; j++) {
        int next = view(g, cat, (2 + j) * c, c);
        if (l->c3k)
            emit_c3k(g, index, &m[j * per], last, next);
        else
            emit_bottleneck(g, index, &m[j * per], &m[j * per + 1], last, next);
        last = next;
    }
    free(m);
    int out = new_tensor(g, l->cout, stride);
    emit_conv(g, index, &cv2, cat, out);
    return out;
}

/* PSABlock(c): x += attn(x); x += ffn(x). Attention: qkv (1x1, no act) to heads * (2 kd +
 * hd) channels, multi-head attention over positions, + pe (3x3 depthwise, no act) of v (each
 * head's v, gathered), proj (1x1, no act); ffn: 1x1 to 2c (SiLU), 1x1 back (no act).
 * Specs: attn.qkv, attn.proj, attn.pe, ffn.0, ffn.1. */
enum { PSA_SPECS = 5 };

static void declare_psa(ykd_graph *g, int index, const char *prefix, const ykd_layer_desc *l,
                        conv_spec *spec)
{
    int c = l->hidden, qkv = c + 2 * l->heads * l->key_dim;
    static const char *const names[PSA_SPECS] = {"attn.qkv", "attn.proj", "attn.pe", "ffn.0",
                                                 "ffn.1"};
    int cin[PSA_SPECS] = {c, c, c, c, 2 * c}, cout[PSA_SPECS] = {qkv, c, c, 2 * c, c};
    for (int i = 0; i < PSA_SPECS; i++) {
        char name[96];
        snprintf(name, sizeof name, "%.60s.%s", prefix, names[i]);
        spec[i] = declare_conv_full(g, index, name, cin[i], cout[i], i == 2 ? 3 : 1, 1,
                                    i == 2 ? c : 1, i == 3);
    }
}

static void emit_psa(ykd_graph *g, int index, const ykd_layer_desc *l, const conv_spec *spec,
                     int x, int out)
{
    int c = l->hidden, stride = g->values[x].stride, per = 2 * l->key_dim + l->head_dim;
    int qkv = new_tensor(g, spec[0].cout, stride);
    emit_conv(g, index, &spec[0], x, qkv);
    int attn = new_tensor(g, c, stride);
    add_node(g, (ykd_gnode){.kind = YKD_NODE_ATTENTION, .layer = index, .in = qkv, .out = attn,
                            .groups = 1, .heads = l->heads, .key_dim = l->key_dim,
                            .head_dim = l->head_dim, .weight = -1, .bias = -1,
                            .bn_param = -1});
    int v = new_tensor(g, c, stride);
    for (int h = 0; h < l->heads; h++)
        emit_simple(g, YKD_NODE_COPY, index,
                    view(g, qkv, h * per + 2 * l->key_dim, l->head_dim),
                    view(g, v, h * l->head_dim, l->head_dim), 1);
    int pe = new_tensor(g, c, stride);
    emit_conv(g, index, &spec[2], v, pe);
    emit_simple(g, YKD_NODE_ADD, index, pe, attn, 1);
    int proj = new_tensor(g, c, stride);
    emit_conv(g, index, &spec[1], attn, proj);
    emit_simple(g, YKD_NODE_ADD, index, x, proj, 1);
    int hidden = new_tensor(g, 2 * c, stride);
    emit_conv(g, index, &spec[3], proj, hidden);
    emit_conv(g, index, &spec[4], hidden, out);
    emit_simple(g, YKD_NODE_ADD, index, proj, out, 1);
}

/* C2PSA: cv1 (1x1 to 2c) split in a and b, b through n PSA blocks, cv2 (1x1) over cat(a, b).
 * cv1 writes a tensor of its own (the blocks' input must outlive the last block, which writes
 * the second half of the concatenation); a is copied into the first half. */
static int build_c2psa(ykd_graph *g, int index, const ykd_layer_desc *l, int in)
{
    int c = l->hidden, n = l->repeats, stride = g->values[in].stride;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", index);
    conv_spec cv1 = declare_conv(g, index, prefix, l->cin, 2 * c, 1, 1);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", index);
    conv_spec cv2 = declare_conv(g, index, prefix, 2 * c, l->cout, 1, 1);
    conv_spec *m = calloc((size_t)n * PSA_SPECS, sizeof *m);
    if (!m) {
        g->failed = true;
        return in;
    }
    for (int j = 0; j < n; j++) {
        snprintf(prefix, sizeof prefix, "model.%d.m.%d", index, j);
        declare_psa(g, index, prefix, l, &m[j * PSA_SPECS]);
    }
    int split = new_tensor(g, 2 * c, stride), cat = new_tensor(g, 2 * c, stride);
    emit_conv(g, index, &cv1, in, split);
    emit_simple(g, YKD_NODE_COPY, index, view(g, split, 0, c), view(g, cat, 0, c), 1);
    int x = view(g, split, c, c);
    for (int j = 0; j < n; j++) {
        int out = j == n - 1 ? view(g, cat, c, c) : new_tensor(g, c, stride);
        emit_psa(g, index, l, &m[j * PSA_SPECS], x, out);
        x = out;
    }
    free(m);
    int out = new_tensor(g, l->cout, stride);
    emit_conv(g, index, &cv2, cat, out);
    return out;
}

/* Moves a whole tensor of its own into channels [offset, ...) of storage; false when it is
 * not one (a view, the input, or already placed elsewhere). */
static bool place(ykd_graph *g, int v, int storage, int offset)
{
    const ykd_gvalue *val = &g->values[v];
    ykd_gstorage *s = &g->storages[val->storage];
    if (v == g->input_value || val->offset != 0 || val->c != s->c || s->parent >= 0 || s->head)
        return false;
    s->parent = storage;
    s->offset_in_parent = offset;
    return true;
}

static int build_concat(ykd_graph *g, int index, const ykd_layer_desc *l, const int *inputs)
{
    int stride = g->values[inputs[0]].stride;
    int cat = new_tensor(g, l->cout, stride), offset = 0;
    for (int i = 0; i < l->from_count; i++) {
        int v = inputs[i], c = g->values[v].c;
        if (!place(g, v, g->values[cat].storage, offset))
            emit_simple(g, YKD_NODE_COPY, index, v, view(g, cat, offset, c), 1);
        offset += c;
    }
    return cat;
}

/* A Detect branch's three stages at one level (the last a plain conv with a bias). YOLOv8's
 * (and legacy) branches are Conv 3x3, Conv 3x3; YOLO11's class branch is pairs of DWConv 3x3
 * and Conv 1x1, named prefix.0.0, prefix.0.1, prefix.1.0, prefix.1.1. */
typedef struct detect_branch {
    conv_spec stage[2][2]; /* [stage][0] the first (or only) conv, [stage][1] a pair's 1x1 */
    bool pairs;
    conv_spec last;
} detect_branch;

static void declare_branch(ykd_graph *g, int index, const char *prefix, int cin, int width,
                           int outs, bool pairs, detect_branch *b)
{
    char name[96];
    b->pairs = pairs;
    for (int s = 0; s < 2; s++) {
        int from = s == 0 ? cin : width;
        if (!pairs) {
            snprintf(name, sizeof name, "%s.%d", prefix, s);
            b->stage[s][0] = declare_conv(g, index, name, from, width, 3, 1);
            continue;
        }
        snprintf(name, sizeof name, "%s.%d.0", prefix, s);
        b->stage[s][0] = declare_conv_full(g, index, name, from, from, 3, 1, from, true);
        snprintf(name, sizeof name, "%s.%d.1", prefix, s);
        b->stage[s][1] = declare_conv(g, index, name, from, width, 1, 1);
    }
    snprintf(name, sizeof name, "%s.2", prefix);
    b->last = declare_plain(g, index, name, width, outs);
}

static void emit_branch(ykd_graph *g, int index, const detect_branch *b, int in, int out)
{
    int stride = g->values[in].stride, x = in;
    for (int s = 0; s < 2; s++) {
        if (b->pairs) {
            int dw = new_tensor(g, b->stage[s][0].cout, stride);
            emit_conv(g, index, &b->stage[s][0], x, dw);
            x = dw;
        }
        const conv_spec *c = &b->stage[s][b->pairs ? 1 : 0];
        int y = new_tensor(g, c->cout, stride);
        emit_conv(g, index, c, x, y);
        x = y;
    }
    emit_conv(g, index, &b->last, x, out);
}

/* Detect: per level, box convs (cv2 to 64) and class convs (cv3 to nc) writing the two slices
 * of one tensor; then the fixed DFL projection. */
static void build_detect(ykd_graph *g, int index, const ykd_layer_desc *l, const int *inputs,
                         int nc)
{
    int c0 = g->values[inputs[0]].c, box = 4 * YKD_MODEL_REG_MAX;
    int c2 = c0 / 4 > box ? c0 / 4 : box;
    if (c2 < 16)
        c2 = 16;
    int c3 = c0 > (nc < 100 ? nc : 100) ? c0 : (nc < 100 ? nc : 100);
    detect_branch branches[2][YKD_MODEL_MAX_LEVELS];
    const char *names[2] = {"cv2", "cv3"};
    int width[2] = {c2, c3}, outs[2] = {box, nc};
    for (int b = 0; b < 2; b++)
        for (int lv = 0; lv < l->from_count; lv++) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "model.%d.%s.%d", index, names[b], lv);
            declare_branch(g, index, prefix, g->values[inputs[lv]].c, width[b], outs[b],
                           b == 1 && !l->legacy, &branches[b][lv]);
        }
    char name[64];
    snprintf(name, sizeof name, "model.%d.dfl.conv.weight", index);
    add_param(g, index, name, YKD_PARAM_FIXED, 4, 1, YKD_MODEL_REG_MAX, 1, 1);
    g->levels = l->from_count;
    for (int lv = 0; lv < l->from_count; lv++) {
        int in = inputs[lv], stride = g->values[in].stride;
        int head = new_tensor(g, box + nc, stride);
        g->storages[g->values[head].storage].head = true;
        g->level_stride[lv] = stride;
        g->level_neck[lv] = in;
        g->level_head[lv] = head;
        for (int b = 0; b < 2; b++)
            emit_branch(g, index, &branches[b][lv], in, view(g, head, b ? box : 0, outs[b]));
    }
}

/* Offsets grouped by kind, each tensor aligned to 16 floats (64 bytes) for the kernels. */
static void assign_offsets(ykd_graph *g)
{
    size_t cursor = 0;
    for (int kind = 0; kind < YKD_PARAM_KIND_COUNT; kind++) {
        g->kind_first[kind] = cursor;
        for (int i = 0; i < g->param_count; i++) {
            if ((int)g->params[i].kind != kind)
                continue;
            g->params[i].offset = cursor;
            cursor += (g->params[i].numel + 15) / 16 * 16;
        }
        g->kind_count[kind] = cursor - g->kind_first[kind];
        if (kind == YKD_PARAM_CONV_BIAS)
            g->trained_floats = cursor;
    }
    g->param_floats = cursor;
}

int ykd_graph_root(const ykd_graph *g, int value, int *channel)
{
    int s = g->values[value].storage, ch = g->values[value].offset;
    while (g->storages[s].parent >= 0) {
        ch += g->storages[s].offset_in_parent;
        s = g->storages[s].parent;
    }
    if (channel)
        *channel = ch;
    return s;
}

ykd_status ykd_graph_build(const ykd_model_desc *desc, ykd_graph **graph, ykd_error *err)
{
    *graph = NULL;
    ykd_graph *g = calloc(1, sizeof *g);
    int *outs = calloc((size_t)desc->layer_count, sizeof *outs);
    if (!g || !outs) {
        free(g);
        free(outs);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "building the graph: out of memory");
    }
    g->nc = desc->nc;
    g->input_value = new_tensor(g, desc->ch, 1);
    for (int i = 0; i < desc->layer_count && !g->failed; i++) {
        const ykd_layer_desc *l = &desc->layers[i];
        int inputs[YKD_LAYER_MAX_FROM];
        for (int f = 0; f < l->from_count; f++)
            inputs[f] = l->from[f] < 0 ? g->input_value : outs[l->from[f]];
        switch (l->module) {
        case YKD_MODULE_CONV:
        case YKD_MODULE_DWCONV:
            outs[i] = build_conv(g, i, l, inputs[0]);
            break;
        case YKD_MODULE_C3K2:
            outs[i] = build_c3k2(g, i, l, inputs[0]);
            break;
        case YKD_MODULE_C2PSA:
            outs[i] = build_c2psa(g, i, l, inputs[0]);
            break;
        case YKD_MODULE_C2F:
            outs[i] = build_c2f(g, i, l, inputs[0]);
            break;
        case YKD_MODULE_SPPF:
            outs[i] = build_sppf(g, i, l, inputs[0]);
            break;
        case YKD_MODULE_UPSAMPLE:
            outs[i] = new_tensor(g, l->cout, g->values[inputs[0]].stride / 2);
            emit_simple(g, YKD_NODE_UPSAMPLE, i, inputs[0], outs[i], 1);
            break;
        case YKD_MODULE_CONCAT:
            outs[i] = build_concat(g, i, l, inputs);
            break;
        case YKD_MODULE_DETECT:
            build_detect(g, i, l, inputs, desc->nc);
            outs[i] = -1;
            break;
        }
    }
    free(outs);
    if (g->failed) {
        ykd_graph_free(g);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "building the graph: out of memory");
    }
    assign_offsets(g);
    *graph = g;
    return YKD_OK;
}

void ykd_graph_free(ykd_graph *graph)
{
    if (!graph)
        return;
    free(graph->nodes);
    free(graph->values);
    free(graph->storages);
    free(graph->params);
    free(graph);
}
