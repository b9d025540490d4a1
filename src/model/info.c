/* What a description amounts to without a device: the layer table, parameter counts, GFLOPs. */
#include <stdio.h>
#include <string.h>

#include "model/model_internal.h"

const char *ykd_param_kind_name(ykd_param_kind kind)
{
    static const char *const names[] = {"conv weight", "BN weight",  "BN bias",
                                        "conv bias",   "BN mean",    "BN variance",
                                        "fixed"};
    return (unsigned)kind < YKD_PARAM_KIND_COUNT ? names[kind] : "unknown";
}

bool ykd_param_kind_trained(ykd_param_kind kind)
{
    return kind <= YKD_PARAM_CONV_BIAS;
}

/* Ultralytics counts model.parameters(): the trained tensors and the DFL projection. */
static bool counted(ykd_param_kind kind)
{
    return ykd_param_kind_trained(kind) || kind == YKD_PARAM_FIXED;
}

/* Multiply-adds of a node for one image of imgsz x imgsz: a convolution's, and the
 * attention's two products per head (q^T k and v P^T over the P positions). */
static double node_macs(const ykd_graph *g, const ykd_gnode *n, int imgsz)
{
    double side = (double)imgsz / g->values[n->out].stride;
    if (n->kind == YKD_NODE_ATTENTION) {
        double positions = side * side;
        return (double)n->heads * positions * positions * (n->key_dim + n->head_dim);
    }
    if (n->kind != YKD_NODE_CONV)
        return 0.0;
    return (double)g->params[n->weight].numel * side * side;
}

/* Ultralytics' own args column: the resolved constructor arguments. */
static void format_args(const ykd_model_desc *desc, const ykd_layer_desc *l, char *buf,
                        size_t size)
{
    switch (l->module) {
    case YKD_MODULE_CONV:
    case YKD_MODULE_DWCONV:
        snprintf(buf, size, "[%d, %d, %d, %d]", l->cin, l->cout, l->k, l->s);
        break;
    case YKD_MODULE_C3K2:
        snprintf(buf, size, "[%d, %d, %d, %s, %g]", l->cin, l->cout, l->repeats,
                 l->c3k ? "True" : "False", l->e);
        break;
    case YKD_MODULE_C2PSA:
        snprintf(buf, size, "[%d, %d, %d]", l->cin, l->cout, l->repeats);
        break;
    case YKD_MODULE_C2F:
        snprintf(buf, size, "[%d, %d, %d%s]", l->cin, l->cout, l->repeats,
                 l->shortcut ? ", True" : "");
        break;
    case YKD_MODULE_SPPF:
        snprintf(buf, size, "[%d, %d, %d]", l->cin, l->cout, l->k);
        break;
    case YKD_MODULE_UPSAMPLE:
        snprintf(buf, size, "[None, 2, 'nearest']");
        break;
    case YKD_MODULE_CONCAT:
        snprintf(buf, size, "[1]");
        break;
    case YKD_MODULE_DETECT: {
        size_t used = (size_t)snprintf(buf, size, "[%d, [", desc->nc);
        for (int i = 0; i < l->from_count && used < size; i++)
            used += (size_t)snprintf(buf + used, size - used, "%s%d", i ? ", " : "",
                                     desc->layers[l->from[i]].cout);
        if (used < size)
            snprintf(buf + used, size - used, "]]");
        break;
    }
    }
}

void ykd_model_desc_layer(const ykd_model_desc *desc, int index, int imgsz,
                          ykd_model_layer_info *info)
{
    const ykd_layer_desc *l = &desc->layers[index];
    const ykd_graph *g = desc->graph;
    memset(info, 0, sizeof *info);
    info->index = index;
    snprintf(info->from, sizeof info->from, "%s", l->from_text);
    info->repeats = l->repeats;
    snprintf(info->module, sizeof info->module, "%s", ykd_module_name(l->module));
    format_args(desc, l, info->args, sizeof info->args);
    info->channels = l->cout;
    info->stride = l->stride;
    for (int i = 0; i < g->param_count; i++)
        if (g->params[i].layer == index && counted(g->params[i].kind))
            info->params += g->params[i].numel;
    for (int i = 0; i < g->node_count; i++)
        if (g->nodes[i].layer == index)
            info->macs += node_macs(g, &g->nodes[i], imgsz);
}

size_t ykd_model_desc_param_count(const ykd_model_desc *desc)
{
    size_t total = 0;
    for (int i = 0; i < desc->graph->param_count; i++)
        if (counted(desc->graph->params[i].kind))
            total += desc->graph->params[i].numel;
    return total;
}

double ykd_model_desc_gflops(const ykd_model_desc *desc, int imgsz)
{
    double macs = 0.0;
    for (int i = 0; i < desc->graph->node_count; i++)
        macs += node_macs(desc->graph, &desc->graph->nodes[i], imgsz);
    return 2.0 * macs / 1e9;
}
