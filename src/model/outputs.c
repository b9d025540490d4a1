/* The named tensors a forward hands out: neck outputs and raw head outputs per level. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "model/model_internal.h"

static const struct {
    const char *prefix;
    ykd_named_kind kind;
} prefixes[] = {{"head", YKD_NAMED_HEAD}, {"box", YKD_NAMED_BOX}, {"cls", YKD_NAMED_CLS},
                {"p", YKD_NAMED_NECK}};

/* The level whose stride is 2^number, or -1. */
static int level_of(const ykd_graph *g, const char *digits)
{
    char *end = NULL;
    long number = strtol(digits, &end, 10);
    if (end == digits || *end || number < 0 || number > 20)
        return -1;
    for (int lv = 0; lv < g->levels; lv++)
        if (g->level_stride[lv] == 1 << number)
            return lv;
    return -1;
}

ykd_status ykd_model_parse_name(const ykd_model *m, const char *name, ykd_named_kind *kind,
                                int *level, ykd_error *err)
{
    const ykd_graph *g = m->graph;
    for (size_t i = 0; name && i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t len = strlen(prefixes[i].prefix);
        if (strncmp(name, prefixes[i].prefix, len) != 0)
            continue;
        *level = level_of(g, name + len);
        *kind = prefixes[i].kind;
        if (*level >= 0)
            return YKD_OK;
        break;
    }
    char known[256] = "";
    size_t used = 0;
    for (int lv = 0; lv < g->levels && used < sizeof known; lv++) {
        int p = 0;
        while ((1 << p) < g->level_stride[lv])
            p++;
        used += (size_t)snprintf(known + used, sizeof known - used, "%sp%d, box%d, cls%d, head%d",
                                 lv ? ", " : "", p, p, p, p);
    }
    return ykd_fail(err, YKD_ERR_NOT_FOUND, "the model has no tensor named '%s' (it has %s)",
                    name ? name : "", known);
}

ykd_tensor ykd_model_named_tensor(const ykd_model *m, ykd_named_kind kind, int level)
{
    const ykd_graph *g = m->graph;
    if (kind == YKD_NAMED_NECK)
        return ykd_model_value_tensor(m, g->level_neck[level]);
    ykd_tensor head = ykd_model_value_tensor(m, g->level_head[level]);
    int box = 4 * YKD_MODEL_REG_MAX;
    if (kind == YKD_NAMED_BOX)
        return ykd_tensor_channels(&head, 0, box);
    if (kind == YKD_NAMED_CLS)
        return ykd_tensor_channels(&head, box, g->nc);
    return head;
}

ykd_status ykd_model_output(const ykd_model *model, const char *name, ykd_tensor *tensor,
                            ykd_error *err)
{
    memset(tensor, 0, sizeof *tensor);
    ykd_named_kind kind;
    int level = 0;
    ykd_status st = ykd_model_parse_name(model, name, &kind, &level, err);
    if (st != YKD_OK)
        return st;
    if (!model->forward_done)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "model output '%s': no forward has run since the last backward or "
                        "change of plan",
                        name);
    *tensor = ykd_model_named_tensor(model, kind, level);
    return YKD_OK;
}

ykd_status ykd_model_output_info(const ykd_model *model, const char *name, int *channels,
                                 int *stride, ykd_error *err)
{
    ykd_named_kind kind;
    int level = 0;
    ykd_status st = ykd_model_parse_name(model, name, &kind, &level, err);
    if (st != YKD_OK)
        return st;
    const ykd_graph *g = model->graph;
    int box = 4 * YKD_MODEL_REG_MAX;
    *stride = g->level_stride[level];
    *channels = kind == YKD_NAMED_NECK  ? g->values[g->level_neck[level]].c
                : kind == YKD_NAMED_BOX ? box
                : kind == YKD_NAMED_CLS ? g->nc
                                        : box + g->nc;
    return YKD_OK;
}
