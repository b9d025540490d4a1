/* A model on its device: parameter and gradient buffers, the parameter table, the current
 * memory plan with its arenas, and the tensors of values, gradients and temporaries in them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "model/model_internal.h"

/* Arenas stay under 4 GiB so every element is reachable with the kernels' 32-bit indices. */
static const uint64_t ARENA_CAP_BYTES = (uint64_t)1 << 32;

static ykd_tensor param_view(ykd_buffer *buffer, const ykd_gparam *p)
{
    return ykd_tensor_view(buffer, p->offset, p->dims[0], p->dims[1], p->dims[2], p->dims[3]);
}

static ykd_status build_table(ykd_model *m, ykd_error *err)
{
    const ykd_graph *g = m->graph;
    m->table = calloc((size_t)g->param_count, sizeof *m->table);
    if (!m->table)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "creating the model: out of memory");
    for (int i = 0; i < g->param_count; i++) {
        const ykd_gparam *p = &g->params[i];
        ykd_model_param *t = &m->table[i];
        t->name = p->name;
        t->kind = p->kind;
        t->ndim = p->ndim;
        memcpy(t->shape, p->shape, sizeof t->shape);
        t->value = param_view(m->params, p);
    }
    return YKD_OK;
}

/* The gradient buffer is made on first need (a training forward, zero_grad), so a model used
 * only for inference, such as a teacher, holds none. */
ykd_status ykd_model_ensure_grads(ykd_model *m, ykd_error *err)
{
    if (m->grads)
        return YKD_OK;
    const ykd_graph *g = m->graph;
    ykd_status st = ykd_buffer_alloc(m->device, g->trained_floats * sizeof(float), &m->grads,
                                     err);
    if (st == YKD_OK)
        st = ykd_fill_f32(m->grads, 0, g->trained_floats, 0.0f, err);
    if (st != YKD_OK) {
        ykd_buffer_free(m->grads);
        m->grads = NULL;
        return st;
    }
    for (int i = 0; i < g->param_count; i++)
        if (ykd_param_kind_trained(g->params[i].kind))
            m->table[i].grad = param_view(m->grads, &g->params[i]);
    return YKD_OK;
}

ykd_status ykd_model_create(ykd_device *device, const ykd_model_desc *desc, uint64_t seed,
                            ykd_model **model, ykd_error *err)
{
    *model = NULL;
    ykd_model *m = calloc(1, sizeof *m);
    if (!m)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "creating the model: out of memory");
    m->device = device;
    /* a deep copy through the resolved JSON, which parses to the same description */
    const char *json = ykd_model_desc_json(desc);
    ykd_status st = ykd_model_desc_parse(json, strlen(json), ykd_model_desc_name(desc), NULL,
                                         &m->desc, err);
    if (st == YKD_OK) {
        m->graph = m->desc->graph;
        st = ykd_buffer_alloc(device, m->graph->param_floats * sizeof(float), &m->params, err);
    }
    if (st == YKD_OK)
        st = build_table(m, err);
    if (st == YKD_OK)
        st = ykd_model_build_grad_order(m, err);
    if (st == YKD_OK)
        st = ykd_model_init_params(m, seed, err);
    if (st != YKD_OK) {
        ykd_error_prefix(err, "creating model %s", ykd_model_desc_name(desc));
        ykd_model_free(m);
        return st;
    }
    *model = m;
    return YKD_OK;
}

static void free_arenas(ykd_model *m)
{
    for (int a = 0; a < 64; a++) {
        ykd_buffer_free(m->arenas[a]);
        m->arenas[a] = NULL;
    }
    if (m->planned)
        ykd_plan_free(&m->plan);
    m->planned = false;
    m->forward_done = false;
}

void ykd_model_free(ykd_model *model)
{
    if (!model)
        return;
    free_arenas(model);
    ykd_buffer_free(model->params);
    ykd_buffer_free(model->grads);
    ykd_buffer_free(model->folded);
    for (int k = 0; model->conv_caches && k < model->graph->node_count; k++)
        ykd_conv2d_cache_free(model->conv_caches[k]);
    free(model->conv_caches);
    for (int k = 0; model->conv_saved && k < model->graph->node_count; k++)
        ykd_conv2d_saved_free(model->conv_saved[k]);
    free(model->conv_saved);
    for (int i = 0; i < model->name_count; i++)
        free(model->names[i]);
    free(model->names);
    free(model->table);
    free(model->grad_order);
    free(model->grad_final_after);
    ykd_model_desc_free(model->desc);
    free(model);
}

const ykd_model_desc *ykd_model_get_desc(const ykd_model *model)
{
    return model->desc;
}

ykd_device *ykd_model_device(const ykd_model *model)
{
    return model->device;
}

size_t ykd_model_param_count(const ykd_model *model)
{
    return (size_t)model->graph->param_count;
}

const ykd_model_param *ykd_model_param_at(const ykd_model *model, size_t index)
{
    return index < (size_t)model->graph->param_count ? &model->table[index] : NULL;
}

const ykd_model_param *ykd_model_param_find(const ykd_model *model, const char *name)
{
    for (int i = 0; i < model->graph->param_count; i++)
        if (strcmp(model->table[i].name, name) == 0)
            return &model->table[i];
    return NULL;
}

ykd_buffer *ykd_model_param_buffer(const ykd_model *model)
{
    return model->params;
}

ykd_buffer *ykd_model_grad_buffer(const ykd_model *model)
{
    return model->grads;
}

void ykd_model_param_span(const ykd_model *model, size_t index, size_t *first, size_t *count)
{
    const ykd_gparam *p = &model->graph->params[index];
    *first = p->offset;
    *count = (p->numel + 15) / 16 * 16; /* as assign_offsets aligns them */
}

void ykd_model_kind_range(const ykd_model *model, ykd_param_kind kind, size_t *first,
                          size_t *count)
{
    *first = model->graph->kind_first[kind];
    *count = model->graph->kind_count[kind];
}

ykd_status ykd_model_zero_grad(ykd_model *model, ykd_error *err)
{
    if (!model->grads)
        return ykd_model_ensure_grads(model, err);
    return ykd_fill_f32(model->grads, 0, model->graph->trained_floats, 0.0f, err);
}

void ykd_model_params_changed(ykd_model *model)
{
    model->folded_valid = false;
}

int64_t ykd_model_batches_tracked(const ykd_model *model)
{
    return model->batches_tracked;
}

void ykd_model_set_batches_tracked(ykd_model *model, int64_t count)
{
    model->batches_tracked = count;
}

void ykd_model_set_bn_sync(ykd_model *model, const ykd_bn_sync *sync)
{
    model->bn_sync = sync;
}

const char *ykd_model_class_name(const ykd_model *model, int index)
{
    return index >= 0 && index < model->name_count ? model->names[index] : NULL;
}

ykd_status ykd_model_set_class_names(ykd_model *model, const char *const *names, int count,
                                     ykd_error *err)
{
    if (count != 0 && count != model->graph->nc)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "%d class names for a model of %d classes", count, model->graph->nc);
    char **copy = count ? calloc((size_t)count, sizeof *copy) : NULL;
    for (int i = 0; copy && i < count; i++) {
        copy[i] = strdup(names[i] ? names[i] : "");
        if (!copy[i]) {
            for (int j = 0; j < i; j++)
                free(copy[j]);
            free(copy);
            copy = NULL;
        }
    }
    if (count && !copy)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "setting class names: out of memory");
    for (int i = 0; i < model->name_count; i++)
        free(model->names[i]);
    free(model->names);
    model->names = copy;
    model->name_count = count;
    return YKD_OK;
}

int ykd_model_level_count(const ykd_model *model)
{
    return model->graph->levels;
}

int ykd_model_level_stride(const ykd_model *model, int level)
{
    return level >= 0 && level < model->graph->levels ? model->graph->level_stride[level] : 0;
}

int ykd_model_classes(const ykd_model *model)
{
    return model->graph->nc;
}

ykd_status ykd_model_prepare(ykd_model *m, ykd_model_mode mode, int n, int h, int w,
                             ykd_error *err)
{
    if (m->planned && m->plan.mode == mode && m->plan.n == n && m->plan.h == h &&
        m->plan.w == w)
        return YKD_OK;
    free_arenas(m);
    uint64_t limit = ykd_device_get_info(m->device)->max_alloc_bytes;
    if (limit == 0 || limit > ARENA_CAP_BYTES)
        limit = ARENA_CAP_BYTES;
    ykd_status st = ykd_plan_make(m->graph, mode, n, h, w, (size_t)(limit / sizeof(float)),
                                  &m->plan, err);
    if (st != YKD_OK)
        return st;
    m->planned = true;
    for (int a = 0; a < m->plan.arena_count && st == YKD_OK; a++)
        st = ykd_buffer_alloc(m->device, m->plan.arena_floats[a] * sizeof(float),
                              &m->arenas[a], err);
    if (st != YKD_OK) {
        ykd_error_prefix(err, "activation memory for a batch of %d at %dx%d (%s)", n, h, w,
                         mode == YKD_MODEL_TRAINING ? "training" : "inference");
        free_arenas(m);
    }
    return st;
}

ykd_status ykd_model_plan_memory(const ykd_model *model, ykd_model_mode mode, int n, int h,
                                 int w, ykd_model_memory *memory, ykd_error *err)
{
    uint64_t limit = ykd_device_get_info(model->device)->max_alloc_bytes;
    if (limit == 0 || limit > ARENA_CAP_BYTES)
        limit = ARENA_CAP_BYTES;
    return ykd_model_desc_plan_memory(model->desc, mode, n, h, w, limit, memory, err);
}

/* A root storage's block as a tensor [n, c, h/stride, w/stride]; channels [channel, +c). */
static ykd_tensor block_tensor(const ykd_model *m, int block, int storage, int channel, int c)
{
    const ykd_plan *plan = &m->plan;
    const ykd_plan_block *b = &plan->blocks[block];
    const ykd_gstorage *s = &m->graph->storages[storage];
    ykd_tensor whole = ykd_tensor_view(m->arenas[b->arena], b->offset, plan->n, s->c,
                                       plan->h / s->stride, plan->w / s->stride);
    return ykd_tensor_channels(&whole, channel, c);
}

ykd_tensor ykd_model_value_tensor(const ykd_model *m, int value)
{
    int channel = 0, root = ykd_graph_root(m->graph, value, &channel);
    int input_root = ykd_graph_root(m->graph, m->graph->input_value, NULL);
    if (root == input_root)
        return ykd_tensor_channels(&m->input, channel, m->graph->values[value].c);
    return block_tensor(m, m->plan.act_block[root], root, channel, m->graph->values[value].c);
}

ykd_tensor ykd_model_grad_tensor(const ykd_model *m, int value)
{
    int channel = 0, root = ykd_graph_root(m->graph, value, &channel);
    return block_tensor(m, m->plan.grad_block[root], root, channel, m->graph->values[value].c);
}

ykd_tensor ykd_model_tmp_tensor(const ykd_model *m, int node, int slot)
{
    const ykd_gnode *n = &m->graph->nodes[node];
    const ykd_plan_block *b = &m->plan.blocks[m->plan.tmp_block[node * YKD_TMP_COUNT + slot]];
    if (n->kind == YKD_NODE_ATTENTION) {
        /* the probabilities [N, heads * P, 1, P] over the P positions */
        int stride = m->graph->values[n->out].stride;
        int positions = (m->plan.h / stride) * (m->plan.w / stride);
        return ykd_tensor_view(m->arenas[b->arena], b->offset, m->plan.n,
                               n->heads * positions, 1, positions);
    }
    int cout = m->graph->params[n->weight].dims[0];
    if (slot == YKD_TMP_MEAN || slot == YKD_TMP_INVSTD)
        return ykd_tensor_view(m->arenas[b->arena], b->offset, 1, cout, 1, 1);
    int stride = m->graph->values[n->out].stride;
    return ykd_tensor_view(m->arenas[b->arena], b->offset, m->plan.n, cout, m->plan.h / stride,
                           m->plan.w / stride);
}

void ykd_model_attention(const ykd_gnode *node, ykd_attention *a)
{
    *a = (ykd_attention){node->heads, node->key_dim, node->head_dim,
                         (float)(1.0 / sqrt((double)node->key_dim))};
}

void ykd_model_bn(const ykd_model *m, const ykd_gnode *node, ykd_bn_tensors *bn)
{
    bn->gamma = m->table[node->bn_param].value;
    bn->beta = m->table[node->bn_param + 1].value;
    bn->mean = m->table[node->bn_param + 2].value;
    bn->var = m->table[node->bn_param + 3].value;
    /* Ultralytics' BatchNorm2d settings for YOLOv8 and YOLO11 */
    bn->bn = (ykd_batchnorm){&bn->gamma, &bn->beta, &bn->mean, &bn->var, 0.03f, 1e-3f};
}
