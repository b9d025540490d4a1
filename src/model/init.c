/* Initial parameters as YOLOv8 and YOLO11 (PyTorch defaults plus Ultralytics' head priors),
 * drawn on the host in state_dict order from one seeded generator and written in one
 * transfer. */
#include <math.h>
#include <stdlib.h>

#include "core/error_internal.h"
#include "core/rng.h"
#include "model/model_internal.h"

/* PyTorch's Conv2d default: kaiming_uniform_(a = sqrt(5)) for weights, which is
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for biases. */
static void uniform_fill(float *out, size_t n, size_t fan_in, ykd_rng *rng)
{
    double bound = 1.0 / sqrt((double)fan_in);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)ykd_rng_uniform(rng, -bound, bound);
}

static void constant_fill(float *out, size_t n, float value)
{
    for (size_t i = 0; i < n; i++)
        out[i] = value;
}

/* Ultralytics' Detect.bias_init: box logits start at 1.0; class logits at the prior of about 5
 * objects per 640x640 image spread over the level's cells. */
static void head_priors(const ykd_graph *g, float *host)
{
    for (int k = 0; k < g->node_count; k++) {
        const ykd_gnode *n = &g->nodes[k];
        int channel = 0;
        int root = ykd_graph_root(g, n->out, &channel);
        if (n->kind != YKD_NODE_CONV || n->bn || !g->storages[root].head)
            continue;
        const ykd_gparam *bias = &g->params[n->bias];
        double cells = 640.0 / g->values[n->out].stride;
        float prior = channel == 0 ? 1.0f : (float)log(5.0 / g->nc / (cells * cells));
        constant_fill(host + bias->offset, bias->numel, prior);
    }
}

ykd_status ykd_model_init_params(ykd_model *model, uint64_t seed, ykd_error *err)
{
    const ykd_graph *g = model->graph;
    float *host = calloc(g->param_floats, sizeof *host);
    if (!host)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "initialising parameters: out of memory");
    ykd_rng rng;
    ykd_rng_seed(&rng, seed);
    for (int i = 0; i < g->param_count; i++) {
        const ykd_gparam *p = &g->params[i];
        float *out = host + p->offset;
        switch (p->kind) {
        case YKD_PARAM_CONV_WEIGHT:
            uniform_fill(out, p->numel, (size_t)p->dims[1] * p->dims[2] * p->dims[3], &rng);
            break;
        case YKD_PARAM_CONV_BIAS: { /* declared right after its weight */
            const ykd_gparam *w = &g->params[i - 1];
            uniform_fill(out, p->numel, (size_t)w->dims[1] * w->dims[2] * w->dims[3], &rng);
            break;
        }
        case YKD_PARAM_BN_WEIGHT:
        case YKD_PARAM_BN_VAR:
            constant_fill(out, p->numel, 1.0f);
            break;
        case YKD_PARAM_BN_BIAS:
        case YKD_PARAM_BN_MEAN:
            break;
        case YKD_PARAM_FIXED: /* the DFL projection: bin i is distance i */
            for (size_t j = 0; j < p->numel; j++)
                out[j] = (float)j;
            break;
        case YKD_PARAM_KIND_COUNT:
            break;
        }
    }
    head_priors(g, host);
    ykd_status st = ykd_buffer_write(model->params, 0, host, g->param_floats * sizeof *host,
                                     err);
    free(host);
    if (st == YKD_OK && model->grads)
        st = ykd_model_zero_grad(model, err);
    model->folded_valid = false;
    model->batches_tracked = 0;
    return st;
}
