/* The backward pass: nodes in reverse order, gradients in the plan's gradient storages.
 *
 * A storage's gradient is born at the backward of its last reader: zeroed then, unless that
 * reader covers it whole and simply writes it; the caller's neck gradients are added at birth.
 * The head's last convolutions read the caller's gradients directly. A BN conv turns its output
 * gradient into the SiLU input's gradient in place (nothing else reads it later), then BN's
 * input gradient into a temporary, then the weight and input gradients. Parameter gradients
 * always accumulate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "model/model_internal.h"

typedef struct given {
    ykd_tensor head[YKD_MODEL_MAX_LEVELS][2]; /* box, cls */
    bool has_head[YKD_MODEL_MAX_LEVELS][2];
    ykd_tensor neck[YKD_MODEL_MAX_LEVELS];
    bool has_neck[YKD_MODEL_MAX_LEVELS];
    const ykd_tensor *input;
} given;

static ykd_status take_grad(const ykd_model *m, const ykd_model_grad *g, given *in,
                            ykd_error *err)
{
    ykd_named_kind kind;
    int lv = 0;
    ykd_status st = ykd_model_parse_name(m, g->name, &kind, &lv, err);
    if (st == YKD_OK)
        st = ykd_tensor_check(g->grad, "model backward", g->name, err);
    if (st != YKD_OK)
        return st;
    ykd_tensor expected = ykd_model_named_tensor(m, kind, lv);
    if (!ykd_tensor_same_shape(g->grad, &expected) || ykd_tensor_device(g->grad) != m->device) {
        char got[96], want[96];
        ykd_tensor_shape_str(g->grad, got, sizeof got);
        ykd_tensor_shape_str(&expected, want, sizeof want);
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "model backward: the gradient of '%s' is %s%s; the tensor is %s",
                        g->name, got,
                        ykd_tensor_device(g->grad) != m->device ? " on another device" : "",
                        want);
    }
    int box = 4 * YKD_MODEL_REG_MAX;
    bool twice = false;
    if (kind == YKD_NAMED_NECK) {
        twice = in->has_neck[lv];
        in->neck[lv] = *g->grad;
        in->has_neck[lv] = true;
    }
    for (int b = 0; b < 2; b++) {
        bool mine = kind == YKD_NAMED_HEAD || (int)kind == (b ? YKD_NAMED_CLS : YKD_NAMED_BOX);
        if (!mine || kind == YKD_NAMED_NECK)
            continue;
        twice = twice || in->has_head[lv][b];
        in->has_head[lv][b] = true;
        in->head[lv][b] = kind == YKD_NAMED_HEAD
                              ? ykd_tensor_channels(g->grad, b ? box : 0, b ? m->graph->nc : box)
                              : *g->grad;
    }
    if (twice)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "model backward: a gradient for '%s' overlaps one given before", g->name);
    return YKD_OK;
}

static ykd_status take_input_grad(const ykd_model *m, const ykd_tensor *input_grad,
                                  ykd_error *err)
{
    ykd_status st = ykd_tensor_check(input_grad, "model backward", "input gradient", err);
    if (st == YKD_OK && (!ykd_tensor_same_shape(input_grad, &m->input) ||
                         ykd_tensor_device(input_grad) != m->device))
        st = ykd_fail(err, YKD_ERR_SHAPE,
                      "model backward: the input gradient must have the images' shape, on the "
                      "model's device");
    return st == YKD_OK ? ykd_tensor_fill(input_grad, 0.0f, err) : st;
}

/* The whole gradient storage of root s. */
static ykd_tensor root_grad(const ykd_model *m, int s)
{
    const ykd_plan_block *b = &m->plan.blocks[m->plan.grad_block[s]];
    const ykd_gstorage *st = &m->graph->storages[s];
    return ykd_tensor_view(m->arenas[b->arena], b->offset, m->plan.n, st->c,
                           m->plan.h / st->stride, m->plan.w / st->stride);
}

/* Gradient storages born at node k: zeroed (unless written whole), the caller's neck
 * gradients added. */
static ykd_status births(const ykd_model *m, int k, const given *in, ykd_error *err)
{
    const ykd_graph *g = m->graph;
    ykd_status st = YKD_OK;
    for (int s = 0; s < g->storage_count && st == YKD_OK; s++) {
        if (m->plan.grad_birth[s] != k || m->plan.grad_block[s] < 0)
            continue;
        ykd_tensor whole = root_grad(m, s);
        if (m->plan.grad_fill[s])
            st = ykd_tensor_fill(&whole, 0.0f, err);
        for (int lv = 0; lv < g->levels && st == YKD_OK; lv++) {
            if (!in->has_neck[lv] || ykd_graph_root(g, g->level_neck[lv], NULL) != s)
                continue;
            ykd_tensor target = ykd_model_grad_tensor(m, g->level_neck[lv]);
            st = ykd_tensor_axpy(1.0f, &in->neck[lv], &target, err);
        }
    }
    return st;
}

/* Where node k's input gradient goes: false when nowhere (the images, not asked for). */
static bool input_target(const ykd_model *m, int k, const given *in, ykd_tensor *dx,
                         bool *accumulate)
{
    const ykd_graph *g = m->graph;
    int channel = 0, root = ykd_graph_root(g, g->nodes[k].in, &channel);
    if (root == ykd_graph_root(g, g->input_value, NULL)) {
        if (!in->input)
            return false;
        *dx = ykd_tensor_channels(in->input, channel, g->values[g->nodes[k].in].c);
        *accumulate = true;
        return true;
    }
    *dx = ykd_model_grad_tensor(m, g->nodes[k].in);
    *accumulate = !m->plan.writes_grad[k];
    return true;
}

static ykd_status conv_backward(ykd_model *m, int k, const ykd_tensor *dy, const given *in,
                                ykd_error *err)
{
    const ykd_gnode *n = &m->graph->nodes[k];
    ykd_conv2d_params cp = {.stride = n->s, .padding = n->p, .groups = n->groups,
                            .saved = m->conv_saved ? m->conv_saved[k] : NULL};
    const ykd_model_param *w = &m->table[n->weight];
    ykd_tensor x = ykd_model_value_tensor(m, n->in), dz;
    const ykd_tensor *g = dy;
    ykd_status st = YKD_OK;
    if (n->bn) {
        ykd_tensor z = ykd_model_tmp_tensor(m, k, YKD_TMP_Z);
        ykd_tensor mean = ykd_model_tmp_tensor(m, k, YKD_TMP_MEAN);
        ykd_tensor invstd = ykd_model_tmp_tensor(m, k, YKD_TMP_INVSTD);
        dz = ykd_model_tmp_tensor(m, k, YKD_TMP_DZ);
        ykd_bn_tensors bn;
        ykd_model_bn(m, n, &bn);
        const ykd_tensor *dgamma = &m->table[n->bn_param].grad;
        const ykd_tensor *dbeta = &m->table[n->bn_param + 1].grad;
        if (n->act)
            st = ykd_batchnorm_silu_backward_sync(&z, dy, &bn.bn, m->bn_sync, &mean, &invstd,
                                                  true, &dz, dgamma, dbeta, err);
        else
            st = ykd_batchnorm_backward_sync(&z, dy, &bn.bn, m->bn_sync, &mean, &invstd, true,
                                             &dz, dgamma, dbeta, err);
        g = &dz;
    }
    if (st == YKD_OK)
        st = ykd_conv2d_backward_weights(&x, g, &cp, true, &w->grad,
                                         n->bn ? NULL : &m->table[n->bias].grad, err);
    ykd_tensor dx;
    bool accumulate = true;
    if (st == YKD_OK && input_target(m, k, in, &dx, &accumulate))
        st = ykd_conv2d_backward_input(g, &w->value, &cp, accumulate, &dx, err);
    return st;
}

static ykd_status node_backward(ykd_model *m, int k, const ykd_tensor *dy, const given *in,
                                ykd_error *err)
{
    const ykd_gnode *n = &m->graph->nodes[k];
    if (n->kind == YKD_NODE_CONV)
        return conv_backward(m, k, dy, in, err);
    ykd_tensor dx;
    bool accumulate = true;
    if (!input_target(m, k, in, &dx, &accumulate))
        return YKD_OK;
    switch (n->kind) {
    case YKD_NODE_ADD:
    case YKD_NODE_COPY:
        return accumulate ? ykd_tensor_axpy(1.0f, dy, &dx, err) : ykd_tensor_copy(&dx, dy, err);
    case YKD_NODE_MAXPOOL: {
        ykd_tensor x = ykd_model_value_tensor(m, n->in);
        return ykd_maxpool_backward(&x, dy, n->k, 1, n->p, accumulate, &dx, err);
    }
    case YKD_NODE_UPSAMPLE:
        return ykd_upsample2x_backward(dy, accumulate, &dx, err);
    case YKD_NODE_ATTENTION: {
        ykd_attention a;
        ykd_model_attention(n, &a);
        ykd_tensor qkv = ykd_model_value_tensor(m, n->in);
        ykd_tensor probs = ykd_model_tmp_tensor(m, k, YKD_TMP_Z);
        return ykd_attention_backward(&qkv, &probs, dy, &a, accumulate, &dx, err);
    }
    case YKD_NODE_CONV:
        break;
    }
    return YKD_OK;
}

/* The gradient flowing into node k's output: a gradient storage, or for the head's last
 * convs the caller's tensor (false when the caller gave none: a zero gradient). */
static bool output_grad(const ykd_model *m, int k, const given *in, ykd_tensor *dy)
{
    const ykd_graph *g = m->graph;
    int channel = 0, root = ykd_graph_root(g, g->nodes[k].out, &channel);
    if (!g->storages[root].head) {
        *dy = ykd_model_grad_tensor(m, g->nodes[k].out);
        return true;
    }
    for (int lv = 0; lv < g->levels; lv++) {
        if (ykd_graph_root(g, g->level_head[lv], NULL) != root)
            continue;
        int b = channel == 0 ? 0 : 1;
        *dy = in->head[lv][b];
        return in->has_head[lv][b];
    }
    return false;
}

int ykd_model_node_params(const ykd_model *m, int k, size_t params[3])
{
    const ykd_gnode *n = &m->graph->nodes[k];
    int count = 0;
    if (n->kind != YKD_NODE_CONV)
        return 0;
    params[count++] = (size_t)n->weight;
    if (n->bias >= 0)
        params[count++] = (size_t)n->bias;
    if (n->bn) {
        params[count++] = (size_t)n->bn_param;     /* BN weight */
        params[count++] = (size_t)n->bn_param + 1; /* BN bias */
    }
    return count;
}

ykd_status ykd_model_build_grad_order(ykd_model *m, ykd_error *err)
{
    const ykd_graph *g = m->graph;
    m->grad_order = calloc((size_t)g->param_count + 1, sizeof *m->grad_order);
    m->grad_final_after = calloc((size_t)g->node_count + 1, sizeof *m->grad_final_after);
    bool *seen = calloc((size_t)g->param_count + 1, sizeof *seen);
    if (!m->grad_order || !m->grad_final_after || !seen) {
        free(seen);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "creating the model: out of memory");
    }
    size_t count = 0, params[3];
    for (int k = g->node_count - 1; k >= 0; k--) {
        int n = ykd_model_node_params(m, k, params);
        for (int i = 0; i < n; i++)
            if (!seen[params[i]]) {
                seen[params[i]] = true;
                m->grad_order[count++] = params[i];
            }
        m->grad_final_after[k] = count;
    }
    /* any trained parameter no node owns last (none in the built-in graphs) */
    for (int i = 0; i < g->param_count; i++)
        if (ykd_param_kind_trained(g->params[i].kind) && !seen[i])
            m->grad_order[count++] = (size_t)i;
    m->grad_order_count = count;
    free(seen);
    return YKD_OK;
}

void ykd_model_set_grad_final(ykd_model *model, ykd_grad_final_fn fn, void *user)
{
    model->grad_final = fn;
    model->grad_final_user = user;
}

size_t ykd_model_grad_order(const ykd_model *model, const size_t **order)
{
    *order = model->grad_order;
    return model->grad_order_count;
}

/* Tells the watcher that grad_order[*told..upto) are final. */
static ykd_status tell_final(ykd_model *m, size_t upto, size_t *told, ykd_error *err)
{
    ykd_status st = YKD_OK;
    for (; *told < upto && st == YKD_OK; (*told)++)
        st = m->grad_final(m->grad_final_user, m->grad_order[*told], err);
    return st;
}

static ykd_status run_backward(ykd_model *m, const given *in, ykd_error *err)
{
    ykd_status st = YKD_OK;
    size_t told = 0;
    for (int k = m->graph->node_count - 1; k >= 0 && st == YKD_OK; k--) {
        if (m->grad_final && k < m->graph->node_count - 1) /* node k + 1's, now queued */
            st = tell_final(m, m->grad_final_after[k + 1], &told, err);
        if (st != YKD_OK)
            break;
        st = births(m, k, in, err);
        if (st != YKD_OK || !m->plan.needs_backward[k])
            continue;
        ykd_tensor dy;
        if (output_grad(m, k, in, &dy)) {
            st = node_backward(m, k, &dy, in, err);
        } else if (m->plan.writes_grad[k]) {
            /* its input's gradient was to be written here first: make it zero instead */
            ykd_tensor whole = root_grad(m, ykd_graph_root(m->graph, m->graph->nodes[k].in, NULL));
            st = ykd_tensor_fill(&whole, 0.0f, err);
        }
        if (st != YKD_OK) {
            char name[128];
            ykd_model_node_name(m, k, name, sizeof name);
            ykd_error_prefix(err, "backward of %s", name);
        }
    }
    if (st == YKD_OK && m->grad_final)
        st = tell_final(m, m->grad_order_count, &told, err);
    return st;
}

ykd_status ykd_model_backward(ykd_model *model, const ykd_model_grad *grads, size_t count,
                              const ykd_tensor *input_grad, ykd_error *err)
{
    if (!model->forward_done || model->mode != YKD_MODEL_TRAINING)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "model backward: needs a training-mode forward just before it");
    given in;
    memset(&in, 0, sizeof in);
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < count && st == YKD_OK; i++)
        st = take_grad(model, &grads[i], &in, err);
    if (st == YKD_OK && input_grad) {
        st = take_input_grad(model, input_grad, err);
        in.input = input_grad;
    }
    if (st == YKD_OK)
        st = run_backward(model, &in, err);
    /* the activations are no longer what the forward left: gradients reuse their memory */
    model->forward_done = false;
    return st;
}
