/* The forward pass: each node's ops in graph order, in the arenas of the current plan.
 *
 * Training runs conv, then BN with batch statistics (updating the running ones) and SiLU as
 * one op, keeping the conv's output and the statistics for the backward. Inference runs one
 * fused op per block: the convolution with BN folded into its weights and bias and SiLU in its
 * epilogue; the folded weights are computed once and kept until the parameters change (and
 * with them each convolution's cache of them in its path's layout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "model/model_internal.h"

void ykd_model_node_name(const ykd_model *m, int k, char *buf, size_t size)
{
    const ykd_gnode *n = &m->graph->nodes[k];
    static const char *const kinds[] = {"conv",        "residual add", "max pool",
                                        "upsample",    "copy",         "attention"};
    if (n->kind == YKD_NODE_CONV) {
        /* "model.2.m.0.cv1.conv.weight" -> "model.2.m.0.cv1" */
        const char *name = m->graph->params[n->weight].name;
        size_t len = strlen(name);
        size_t cut = n->bn ? strlen(".conv.weight") : strlen(".weight");
        snprintf(buf, size, "%.*s", (int)(len > cut ? len - cut : len), name);
    } else {
        snprintf(buf, size, "layer %d %s", n->layer, kinds[n->kind]);
    }
}

static ykd_status fold_all(ykd_model *m, ykd_error *err)
{
    const ykd_graph *g = m->graph;
    ykd_status st = YKD_OK;
    for (int k = 0; m->conv_caches && k < g->node_count; k++)
        ykd_conv2d_cache_clear(m->conv_caches[k]); /* they hold the old folded weights */
    if (!m->folded)
        st = ykd_buffer_alloc(m->device, (g->folded_floats ? g->folded_floats : 1) *
                                             sizeof(float),
                              &m->folded, err);
    for (int k = 0; k < g->node_count && st == YKD_OK; k++) {
        const ykd_gnode *n = &g->nodes[k];
        if (n->kind != YKD_NODE_CONV || !n->bn)
            continue;
        ykd_tensor w_out, b_out;
        ykd_model_folded(m, n, &w_out, &b_out);
        ykd_bn_tensors bn;
        ykd_model_bn(m, n, &bn);
        st = ykd_batchnorm_fold(&m->table[n->weight].value, NULL, &bn.bn, &w_out, &b_out, err);
    }
    m->folded_valid = st == YKD_OK;
    return st;
}

ykd_status ykd_model_fold(ykd_model *m, ykd_error *err)
{
    return m->folded_valid ? YKD_OK : fold_all(m, err);
}

void ykd_model_folded(const ykd_model *m, const ykd_gnode *n, ykd_tensor *w, ykd_tensor *bias)
{
    const int *d = m->graph->params[n->weight].dims;
    size_t weights = (size_t)d[0] * d[1] * d[2] * d[3];
    *w = ykd_tensor_view(m->folded, n->fold_offset, d[0], d[1], d[2], d[3]);
    *bias = ykd_tensor_view(m->folded, n->fold_offset + (weights + 15) / 16 * 16, 1, d[0], 1, 1);
}

/* Node k's cache of its folded weights as its convolution's path reads them (made on first
 * use; the folded weights change only in fold_all, which empties the caches). */
static ykd_status conv_cache_of(ykd_model *m, int k, ykd_conv2d_cache **cache, ykd_error *err)
{
    if (!m->conv_caches) {
        m->conv_caches = calloc((size_t)m->graph->node_count, sizeof *m->conv_caches);
        if (!m->conv_caches)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "model: out of host memory");
    }
    ykd_status st = m->conv_caches[k] ? YKD_OK : ykd_conv2d_cache_new(&m->conv_caches[k], err);
    *cache = m->conv_caches[k];
    return st;
}

/* Node k's saved object, which its training forward fills and its weight gradient reads
 * (made on first use). */
static ykd_status conv_saved_of(ykd_model *m, int k, ykd_conv2d_saved **saved, ykd_error *err)
{
    if (!m->conv_saved) {
        m->conv_saved = calloc((size_t)m->graph->node_count, sizeof *m->conv_saved);
        if (!m->conv_saved)
            return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "model: out of host memory");
    }
    ykd_status st = m->conv_saved[k] ? YKD_OK : ykd_conv2d_saved_new(&m->conv_saved[k], err);
    *saved = m->conv_saved[k];
    return st;
}

static ykd_status conv_forward(ykd_model *m, int k, const ykd_tensor *x, const ykd_tensor *y,
                               ykd_error *err)
{
    const ykd_gnode *n = &m->graph->nodes[k];
    ykd_conv2d_params cp = {.stride = n->s, .padding = n->p, .groups = n->groups};
    const ykd_tensor *w = &m->table[n->weight].value;
    ykd_activation act = n->act ? YKD_ACTIVATION_SILU : YKD_ACTIVATION_NONE;
    ykd_status st =
        m->mode == YKD_MODEL_TRAINING ? conv_saved_of(m, k, &cp.saved, err) : YKD_OK;
    if (st != YKD_OK)
        return st;
    if (!n->bn)
        return ykd_conv2d_forward(x, w, &m->table[n->bias].value, &cp, YKD_ACTIVATION_NONE, y,
                                  err);
    if (m->mode == YKD_MODEL_INFERENCE) {
        ykd_tensor wf, bf;
        ykd_model_folded(m, n, &wf, &bf);
        st = conv_cache_of(m, k, &cp.cache, err);
        return st == YKD_OK ? ykd_conv2d_forward(x, &wf, &bf, &cp, act, y, err) : st;
    }
    ykd_tensor z = ykd_model_tmp_tensor(m, k, YKD_TMP_Z);
    ykd_tensor mean = ykd_model_tmp_tensor(m, k, YKD_TMP_MEAN);
    ykd_tensor invstd = ykd_model_tmp_tensor(m, k, YKD_TMP_INVSTD);
    ykd_bn_tensors bn;
    ykd_model_bn(m, n, &bn);
    st = ykd_conv2d_forward(x, w, NULL, &cp, YKD_ACTIVATION_NONE, &z, err);
    /* BN and SiLU as one op: SiLU's input is recomputed in the backward, not kept */
    if (st == YKD_OK && n->act)
        st = ykd_batchnorm_silu_forward_train_sync(&z, &bn.bn, m->bn_sync, y, &mean, &invstd,
                                                   err);
    else if (st == YKD_OK)
        st = ykd_batchnorm_forward_train_sync(&z, &bn.bn, m->bn_sync, y, &mean, &invstd, err);
    return st;
}

static ykd_status node_forward(ykd_model *m, int k, ykd_error *err)
{
    const ykd_gnode *n = &m->graph->nodes[k];
    ykd_tensor x = ykd_model_value_tensor(m, n->in), y = ykd_model_value_tensor(m, n->out);
    switch (n->kind) {
    case YKD_NODE_CONV:
        return conv_forward(m, k, &x, &y, err);
    case YKD_NODE_ADD:
        return ykd_add_forward(&y, &x, &y, err);
    case YKD_NODE_MAXPOOL:
        return ykd_maxpool_forward(&x, n->k, 1, n->p, &y, err);
    case YKD_NODE_UPSAMPLE:
        return ykd_upsample2x_forward(&x, &y, err);
    case YKD_NODE_COPY:
        return ykd_tensor_copy(&y, &x, err);
    case YKD_NODE_ATTENTION: {
        ykd_attention a;
        ykd_model_attention(n, &a);
        ykd_tensor probs = ykd_model_tmp_tensor(m, k, YKD_TMP_Z);
        return ykd_attention_forward(&x, &a, &probs, &y, err);
    }
    }
    return YKD_OK;
}

static ykd_status check_images(const ykd_model *m, const ykd_tensor *images, ykd_error *err)
{
    ykd_status st = ykd_tensor_check(images, "model forward", "images", err);
    if (st != YKD_OK)
        return st;
    char shape[96];
    ykd_tensor_shape_str(images, shape, sizeof shape);
    int stride = m->desc->max_stride;
    if (ykd_tensor_device(images) != m->device)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "model forward: the images are on another device than the model");
    if (images->c != m->desc->ch)
        return ykd_fail(err, YKD_ERR_SHAPE, "model forward: images %s; the model takes %d "
                                            "channels",
                        shape, m->desc->ch);
    if (images->h % stride || images->w % stride)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "model forward: images %s; height and width must be multiples of %d",
                        shape, stride);
    return YKD_OK;
}

ykd_status ykd_model_forward(ykd_model *model, const ykd_tensor *images, ykd_model_mode mode,
                             ykd_error *err)
{
    model->forward_done = false;
    ykd_status st = check_images(model, images, err);
    if (st == YKD_OK)
        st = ykd_model_prepare(model, mode, images->n, images->h, images->w, err);
    if (st == YKD_OK && mode == YKD_MODEL_INFERENCE)
        st = ykd_model_fold(model, err);
    if (st == YKD_OK && mode == YKD_MODEL_TRAINING)
        st = ykd_model_ensure_grads(model, err);
    if (st != YKD_OK)
        return st;
    model->mode = mode;
    model->input = *images;
    for (int k = 0; k < model->graph->node_count && st == YKD_OK; k++) {
        st = node_forward(model, k, err);
        if (st != YKD_OK) {
            char name[128];
            ykd_model_node_name(model, k, name, sizeof name);
            ykd_error_prefix(err, "forward of %s", name);
        }
    }
    if (mode == YKD_MODEL_TRAINING) {
        /* the running statistics moved */
        model->folded_valid = false;
        model->batches_tracked++;
    }
    model->forward_done = st == YKD_OK;
    return st;
}
