/* Activation memory planning.
 *
 * Every tensor a pass needs becomes a block with a lifetime in steps: the forward of node k is
 * step k, its backward step 2F-1-k (F nodes). Inference keeps an activation from its first
 * writer to its last reader (the named outputs to the end of the forward). Training also keeps
 * what backward reads (a conv's or pool's input, BN's input and statistics until that node's
 * backward; SiLU's input is recomputed from them) and adds the gradients: a storage's gradient
 * lives from its first contribution (the backward of its last reader) to the backward of its
 * first writer.
 *
 * Blocks are then packed, largest first, each at the lowest offset of an arena where no block
 * alive at the same time sits; arenas are capped by the device's largest allocation. Ops run
 * in order on one queue, so a block may reuse memory as soon as the previous owner's last
 * reader has been queued. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "model/model_internal.h"

enum { ALIGN_FLOATS = 64 }; /* 256 bytes */

typedef struct planner {
    const ykd_graph *g;
    ykd_plan *plan;
    int F;
    int *start, *end;     /* per root storage: activation lifetime */
    int *first_contrib;   /* per root storage: the last node (in forward order) contributing */
    bool *grad_has;       /* per root storage: a gradient flows into it */
    bool *external;       /* per root storage: holds a neck output (may take a caller gradient) */
    int block_cap;
} planner;

static int bwd(const planner *p, int k)
{
    return 2 * p->F - 1 - k;
}

static int root(const planner *p, int value)
{
    return ykd_graph_root(p->g, value, NULL);
}

static int add_block(planner *p, size_t floats, int start, int end)
{
    ykd_plan *plan = p->plan;
    if (plan->block_count == p->block_cap) {
        int cap = p->block_cap ? p->block_cap * 2 : 256;
        ykd_plan_block *b = realloc(plan->blocks, (size_t)cap * sizeof *b);
        if (!b)
            return -1;
        plan->blocks = b;
        p->block_cap = cap;
    }
    plan->blocks[plan->block_count] = (ykd_plan_block){floats, start, end, -1, 0};
    return plan->block_count++;
}

static size_t storage_floats(const planner *p, int s)
{
    const ykd_gstorage *st = &p->g->storages[s];
    const ykd_plan *plan = p->plan;
    return (size_t)plan->n * st->c * (size_t)(plan->h / st->stride) * (plan->w / st->stride);
}

/* Does the backward of node n read its input? (A conv's weight gradient, a pool's argmax.) */
static bool backward_reads_input(const ykd_gnode *n)
{
    return n->kind == YKD_NODE_CONV || n->kind == YKD_NODE_MAXPOOL ||
           n->kind == YKD_NODE_ATTENTION;
}

/* Which nodes have a gradient to pass back: those whose output has one, from the head (the
 * caller's gradients) and the neck outputs (which may also take the caller's) backwards. */
static void find_backward(planner *p)
{
    const ykd_graph *g = p->g;
    for (int lv = 0; lv < g->levels; lv++) {
        p->grad_has[root(p, g->level_neck[lv])] = true;
        p->external[root(p, g->level_neck[lv])] = true;
    }
    int input_root = root(p, g->input_value);
    for (int k = p->F - 1; k >= 0; k--) {
        const ykd_gnode *n = &g->nodes[k];
        int r = root(p, n->out);
        bool needs = g->storages[r].head || p->grad_has[r];
        p->plan->needs_backward[k] = needs;
        int ri = root(p, n->in);
        if (!needs || ri == input_root)
            continue;
        p->grad_has[ri] = true;
        if (p->first_contrib[ri] < 0)
            p->first_contrib[ri] = k;
    }
}

static void activation_lifetimes(planner *p)
{
    const ykd_graph *g = p->g;
    bool training = p->plan->mode == YKD_MODEL_TRAINING;
    for (int k = 0; k < p->F; k++) {
        const ykd_gnode *n = &g->nodes[k];
        int ro = root(p, n->out), ri = root(p, n->in);
        if (p->start[ro] > k)
            p->start[ro] = k;
        if (p->end[ro] < k)
            p->end[ro] = k;
        if (p->end[ri] < k)
            p->end[ri] = k;
        if (training && p->plan->needs_backward[k] && backward_reads_input(n) &&
            p->end[ri] < bwd(p, k))
            p->end[ri] = bwd(p, k);
    }
    for (int lv = 0; lv < g->levels; lv++) {
        int named[2] = {root(p, g->level_neck[lv]), root(p, g->level_head[lv])};
        for (int i = 0; i < 2; i++)
            if (p->end[named[i]] < p->F - 1)
                p->end[named[i]] = p->F - 1;
    }
}

static bool add_activations(planner *p)
{
    int input_root = root(p, p->g->input_value);
    for (int s = 0; s < p->g->storage_count; s++) {
        p->plan->act_block[s] = -1;
        if (p->g->storages[s].parent >= 0 || s == input_root || p->start[s] == INT_MAX)
            continue;
        p->plan->act_block[s] = add_block(p, storage_floats(p, s), p->start[s], p->end[s]);
        if (p->plan->act_block[s] < 0)
            return false;
    }
    return true;
}

/* Gradient storages; the first contributor overwrites when its input covers the whole
 * storage and no caller gradient is added there, else the storage is zeroed at birth. */
static bool add_gradients(planner *p)
{
    const ykd_graph *g = p->g;
    ykd_plan *plan = p->plan;
    int input_root = root(p, g->input_value);
    for (int s = 0; s < g->storage_count; s++) {
        plan->grad_block[s] = -1;
        plan->grad_birth[s] = -1;
        if (g->storages[s].parent >= 0 || s == input_root || g->storages[s].head ||
            !p->grad_has[s] || p->start[s] == INT_MAX)
            continue;
        int k = p->first_contrib[s];
        int birth = k >= 0 ? bwd(p, k) : p->F;
        plan->grad_birth[s] = k >= 0 ? k : p->F - 1;
        int channel = 0;
        bool whole = k >= 0 && ykd_graph_root(g, g->nodes[k].in, &channel) == s &&
                     channel == 0 && g->values[g->nodes[k].in].c == g->storages[s].c;
        plan->grad_fill[s] = !whole || p->external[s];
        if (!plan->grad_fill[s])
            plan->writes_grad[k] = true;
        plan->grad_block[s] = add_block(p, storage_floats(p, s), birth, bwd(p, p->start[s]));
        if (plan->grad_block[s] < 0)
            return false;
    }
    return true;
}

/* An attention node's probabilities, heads x P x P per image (P positions): kept until its
 * backward in training, during its forward in inference. */
static bool add_attention_probs(planner *p, int k, int *slots)
{
    const ykd_gnode *n = &p->g->nodes[k];
    const ykd_plan *plan = p->plan;
    int stride = p->g->values[n->out].stride;
    size_t positions = (size_t)(plan->h / stride) * (plan->w / stride);
    bool back = plan->mode == YKD_MODEL_TRAINING && plan->needs_backward[k];
    slots[YKD_TMP_Z] = add_block(p, (size_t)plan->n * n->heads * positions * positions, k,
                                 back ? bwd(p, k) : k);
    return slots[YKD_TMP_Z] >= 0;
}

/* z (conv output), the batch mean and 1/std of each BN conv until its backward, and dz (BN's
 * input gradient) during it. */
static bool add_temporaries(planner *p)
{
    const ykd_graph *g = p->g;
    ykd_plan *plan = p->plan;
    for (int k = 0; k < p->F; k++) {
        int *slots = &plan->tmp_block[k * YKD_TMP_COUNT];
        for (int i = 0; i < YKD_TMP_COUNT; i++)
            slots[i] = -1;
        const ykd_gnode *n = &g->nodes[k];
        if (n->kind == YKD_NODE_ATTENTION) {
            if (!add_attention_probs(p, k, slots))
                return false;
            continue;
        }
        if (plan->mode != YKD_MODEL_TRAINING || n->kind != YKD_NODE_CONV || !n->bn)
            continue;
        size_t cout = (size_t)g->params[n->weight].dims[0];
        size_t floats = (size_t)plan->n * cout * (plan->h / g->values[n->out].stride) *
                        (size_t)(plan->w / g->values[n->out].stride);
        bool back = plan->needs_backward[k];
        int end = back ? bwd(p, k) : k;
        slots[YKD_TMP_Z] = add_block(p, floats, k, end);
        slots[YKD_TMP_MEAN] = add_block(p, cout, k, end);
        slots[YKD_TMP_INVSTD] = add_block(p, cout, k, end);
        if (back)
            slots[YKD_TMP_DZ] = add_block(p, floats, bwd(p, k), bwd(p, k));
        for (int i = 0; i < YKD_TMP_COUNT; i++)
            if (slots[i] == -1 && (i != YKD_TMP_DZ || back))
                return false;
    }
    return true;
}

/* Blocks in packing order (largest first), and the occupied ranges of an arena. */
typedef struct order_item {
    size_t floats;
    int start, index;
} order_item;

typedef struct range {
    size_t offset, floats;
} range;

static int compare_order(const void *a, const void *b)
{
    const order_item *x = a, *y = b;
    if (x->floats != y->floats)
        return x->floats > y->floats ? -1 : 1;
    return x->start != y->start ? x->start - y->start : x->index - y->index;
}

static int compare_ranges(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static size_t align_up(size_t x)
{
    return (x + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* The lowest offset in arena a where block b fits among the placed blocks alive with it. */
static size_t lowest_gap(const ykd_plan *plan, const order_item *placed, int placed_count,
                         int a, const ykd_plan_block *b, range *scratch)
{
    int count = 0;
    for (int i = 0; i < placed_count; i++) {
        const ykd_plan_block *o = &plan->blocks[placed[i].index];
        if (o->arena == a && o->start <= b->end && b->start <= o->end)
            scratch[count++] = (range){o->offset, o->floats};
    }
    qsort(scratch, (size_t)count, sizeof *scratch, compare_ranges);
    size_t candidate = 0;
    for (int i = 0; i < count; i++) {
        if (candidate + b->floats <= scratch[i].offset)
            break;
        size_t after = align_up(scratch[i].offset + scratch[i].floats);
        if (after > candidate)
            candidate = after;
    }
    return candidate;
}

/* Places block b in the first arena with room under limit, opening a new one if need be. */
static ykd_status place_block(ykd_plan *plan, const order_item *order, int i, size_t limit,
                              range *scratch, ykd_error *err)
{
    ykd_plan_block *b = &plan->blocks[order[i].index];
    enum { MAX_ARENAS = sizeof plan->arena_floats / sizeof plan->arena_floats[0] };
    if (limit && b->floats > limit)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                        "planning memory: one tensor of %zu bytes exceeds the device's largest "
                        "allocation (%zu bytes); use a smaller batch or image",
                        b->floats * sizeof(float), limit * sizeof(float));
    for (int a = 0; b->arena < 0; a++) {
        if (a == plan->arena_count) {
            if (a == MAX_ARENAS)
                return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                                "planning memory: more than %d arenas needed", a);
            plan->arena_floats[plan->arena_count++] = 0;
        }
        size_t offset = lowest_gap(plan, order, i, a, b, scratch);
        if (limit && offset + b->floats > limit)
            continue;
        b->arena = a;
        b->offset = offset;
        if (plan->arena_floats[a] < align_up(offset + b->floats))
            plan->arena_floats[a] = align_up(offset + b->floats);
    }
    return YKD_OK;
}

static ykd_status pack(ykd_plan *plan, size_t limit, ykd_error *err)
{
    int n = plan->block_count;
    order_item *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    range *scratch = malloc((size_t)(n ? n : 1) * sizeof *scratch);
    ykd_status st = order && scratch ? YKD_OK
                                     : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                                                "planning memory: out of host memory");
    for (int i = 0; i < n && st == YKD_OK; i++)
        order[i] = (order_item){plan->blocks[i].floats, plan->blocks[i].start, i};
    if (st == YKD_OK)
        qsort(order, (size_t)n, sizeof *order, compare_order);
    for (int i = 0; i < n && st == YKD_OK; i++) {
        plan->unshared_floats += align_up(order[i].floats);
        st = place_block(plan, order, i, limit, scratch, err);
    }
    free(order);
    free(scratch);
    return st;
}

ykd_status ykd_plan_make(const ykd_graph *g, ykd_model_mode mode, int n, int h, int w,
                         size_t arena_limit_floats, ykd_plan *plan, ykd_error *err)
{
    memset(plan, 0, sizeof *plan);
    plan->mode = mode, plan->n = n, plan->h = h, plan->w = w;
    int S = g->storage_count, F = g->node_count;
    planner p = {g, plan, F, NULL, NULL, NULL, NULL, NULL, 0};
    p.start = malloc((size_t)S * sizeof *p.start);
    p.end = malloc((size_t)S * sizeof *p.end);
    p.first_contrib = malloc((size_t)S * sizeof *p.first_contrib);
    p.grad_has = calloc((size_t)S, sizeof *p.grad_has);
    p.external = calloc((size_t)S, sizeof *p.external);
    plan->act_block = malloc((size_t)S * sizeof *plan->act_block);
    plan->grad_block = malloc((size_t)S * sizeof *plan->grad_block);
    plan->grad_birth = malloc((size_t)S * sizeof *plan->grad_birth);
    plan->grad_fill = calloc((size_t)S, sizeof *plan->grad_fill);
    plan->tmp_block = malloc((size_t)F * YKD_TMP_COUNT * sizeof *plan->tmp_block);
    plan->needs_backward = calloc((size_t)F, sizeof *plan->needs_backward);
    plan->writes_grad = calloc((size_t)F, sizeof *plan->writes_grad);
    bool ok = p.start && p.end && p.first_contrib && p.grad_has && p.external &&
              plan->act_block && plan->grad_block && plan->grad_birth && plan->grad_fill &&
              plan->tmp_block && plan->needs_backward && plan->writes_grad;
    for (int s = 0; ok && s < S; s++) {
        p.start[s] = INT_MAX;
        p.end[s] = -1;
        p.first_contrib[s] = -1;
    }
    if (ok && mode == YKD_MODEL_TRAINING)
        find_backward(&p);
    if (ok) {
        activation_lifetimes(&p);
        ok = add_activations(&p);
    }
    for (int s = 0; ok && s < S; s++)
        plan->grad_block[s] = plan->grad_birth[s] = -1;
    if (ok && mode == YKD_MODEL_TRAINING)
        ok = add_gradients(&p);
    if (ok)
        ok = add_temporaries(&p);
    ykd_status st = ok ? pack(plan, arena_limit_floats, err)
                       : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "planning memory: out of memory");
    free(p.start);
    free(p.end);
    free(p.first_contrib);
    free(p.grad_has);
    free(p.external);
    if (st != YKD_OK)
        ykd_plan_free(plan);
    return st;
}

void ykd_plan_free(ykd_plan *plan)
{
    free(plan->blocks);
    free(plan->act_block);
    free(plan->grad_block);
    free(plan->grad_birth);
    free(plan->grad_fill);
    free(plan->tmp_block);
    free(plan->needs_backward);
    free(plan->writes_grad);
    memset(plan, 0, sizeof *plan);
}

void ykd_plan_memory(const ykd_graph *g, const ykd_plan *plan, ykd_model_memory *memory)
{
    memset(memory, 0, sizeof *memory);
    bool training = plan->mode == YKD_MODEL_TRAINING;
    memory->params_bytes = g->param_floats * sizeof(float);
    memory->grads_bytes = training ? g->trained_floats * sizeof(float) : 0;
    memory->folded_bytes = training ? 0 : g->folded_floats * sizeof(float);
    for (int a = 0; a < plan->arena_count; a++)
        memory->activation_bytes += plan->arena_floats[a] * sizeof(float);
    memory->total_bytes = memory->params_bytes + memory->grads_bytes + memory->folded_bytes +
                          memory->activation_bytes;
    memory->arenas = plan->arena_count;
    memory->tensors = plan->block_count;
    memory->unshared_bytes = plan->unshared_floats * sizeof(float);
}

ykd_status ykd_model_desc_plan_memory(const ykd_model_desc *desc, ykd_model_mode mode, int n,
                                      int h, int w, uint64_t arena_limit,
                                      ykd_model_memory *memory, ykd_error *err)
{
    if (n < 1 || h < 1 || w < 1 || h % desc->max_stride || w % desc->max_stride)
        return ykd_fail(err, YKD_ERR_SHAPE,
                        "planning memory: batch %d at %dx%d; sizes must be positive multiples "
                        "of the model's stride %d",
                        n, h, w, desc->max_stride);
    ykd_plan plan;
    ykd_status st = ykd_plan_make(desc->graph, mode, n, h, w,
                                  (size_t)(arena_limit / sizeof(float)), &plan, err);
    if (st != YKD_OK)
        return st;
    ykd_plan_memory(desc->graph, &plan, memory);
    ykd_plan_free(&plan);
    return YKD_OK;
}
