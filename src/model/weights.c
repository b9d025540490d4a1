/* Model weights as safetensors: the Ultralytics state_dict (names, shapes, BN running
 * statistics and num_batches_tracked) plus the description and class names in __metadata__.
 * A file without our metadata (a state_dict exported from Ultralytics) is matched against the
 * built-in YOLOv8 and YOLO11 scales by its tensor names and shapes. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "model/model_internal.h"
#include "model/safetensors.h"
#include "model/weights.h"

static const char META_MODEL[] = "yolokd.model";
static const char META_NAMES[] = "names";
static const char BATCHES[] = "num_batches_tracked";

/* "model.0.bn.num_batches_tracked" for the BN whose running_var is param p. */
static bool batches_name(const ykd_gparam *p, char *buf, size_t size)
{
    const char *suffix = ".running_var";
    size_t n = strlen(p->name), m = strlen(suffix);
    if (p->kind != YKD_PARAM_BN_VAR || n < m)
        return false;
    snprintf(buf, size, "%.*s.%s", (int)(n - m), p->name, BATCHES);
    return true;
}

static bool is_batches_tensor(const char *name)
{
    size_t n = strlen(name), m = strlen(BATCHES);
    return n > m && strcmp(name + n - m, BATCHES) == 0 && name[n - m - 1] == '.';
}

static void shape_text(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "",
                                 (long long)shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static bool same_shape(const ykd_gparam *p, const ykd_st_tensor *t)
{
    if (p->ndim != t->ndim)
        return false;
    for (int d = 0; d < p->ndim; d++)
        if (t->shape[d] != p->shape[d])
            return false;
    return true;
}

/* The first difference between a file's tensors and a graph's parameters; NULL-free text in
 * why, or an empty string when they match. */
static int compare_tensors(const ykd_graph *g, const ykd_safetensors *st, const char *model,
                           char *why, size_t size)
{
    int differences = 0;
    why[0] = '\0';
    for (int i = 0; i < g->param_count; i++) {
        const ykd_gparam *p = &g->params[i];
        const ykd_st_tensor *t = ykd_st_find(st, p->name);
        char a[96] = "", b[96];
        int64_t shape[4] = {p->shape[0], p->shape[1], p->shape[2], p->shape[3]};
        shape_text(shape, p->ndim, b, sizeof b);
        if (t && same_shape(p, t))
            continue;
        if (t)
            shape_text(t->shape, t->ndim, a, sizeof a);
        if (!differences++ && t)
            snprintf(why, size, "tensor %s has shape %s in the file but %s in %s", p->name, a, b,
                     model);
        else if (differences == 1)
            snprintf(why, size, "tensor %s of %s (shape %s) is missing from the file", p->name,
                     model, b);
    }
    for (int i = 0; i < st->count; i++) {
        const char *name = st->tensors[i].name;
        bool known = is_batches_tensor(name);
        for (int j = 0; j < g->param_count && !known; j++)
            known = strcmp(g->params[j].name, name) == 0;
        if (!known && !differences++)
            snprintf(why, size, "tensor %s is not part of %s", name, model);
    }
    return differences;
}

/* nc from the class branch's last conv of level 0 ("model.22.cv3.0.2.weight"). */
static int classes_in(const ykd_safetensors *st)
{
    const char *suffix = ".cv3.0.2.weight";
    for (int i = 0; i < st->count; i++) {
        const ykd_st_tensor *t = &st->tensors[i];
        size_t n = strlen(t->name), m = strlen(suffix);
        if (n > m && strcmp(t->name + n - m, suffix) == 0 && t->ndim == 4 && t->shape[0] >= 1 &&
            t->shape[0] <= YKD_MODEL_MAX_CLASSES)
            return (int)t->shape[0];
    }
    return 0;
}

static ykd_status match_builtin(const ykd_safetensors *st, ykd_model_desc **desc,
                                ykd_error *err)
{
    int nc = classes_in(st), best = -1;
    char closest[512] = "", why[400];
    if (nc == 0)
        return ykd_fail(err, YKD_ERR_FORMAT,
                        "%s: no model description in __metadata__ (\"%s\") and no Detect head "
                        "tensor (such as model.22.cv3.0.2.weight) to recognise the model by",
                        st->path, META_MODEL);
    for (size_t i = 0; i < YKD_BUILTIN_COUNT; i++) {
        ykd_model_desc *d = NULL;
        ykd_status status = ykd_model_desc_builtin(ykd_builtin_names[i], nc, &d, err);
        if (status != YKD_OK)
            return status;
        int differences = compare_tensors(d->graph, st, d->name, why, sizeof why);
        if (differences == 0) {
            *desc = d;
            return YKD_OK;
        }
        if (best < 0 || differences < best) {
            best = differences;
            snprintf(closest, sizeof closest, "%s", why);
        }
        ykd_model_desc_free(d);
    }
    return ykd_fail(err, YKD_ERR_FORMAT,
                    "%s: no model description in __metadata__ (\"%s\"), and the tensors match "
                    "no built-in YOLOv8 or YOLO11 scale with %d classes (closest: %s)",
                    st->path, META_MODEL, nc, closest);
}

static ykd_status desc_of(const ykd_safetensors *st, ykd_model_desc **desc, ykd_error *err)
{
    *desc = NULL;
    const char *json = ykd_st_metadata(st, META_MODEL);
    if (!json)
        return match_builtin(st, desc, err);
    char source[600];
    snprintf(source, sizeof source, "%.500s: __metadata__ \"%s\"", st->path, META_MODEL);
    return ykd_model_desc_parse(json, strlen(json), source, NULL, desc, err);
}

ykd_status ykd_weights_read_desc(const char *path, ykd_model_desc **desc, ykd_error *err)
{
    ykd_safetensors st;
    ykd_status status = ykd_st_open(path, &st, err);
    if (status != YKD_OK)
        return status;
    status = desc_of(&st, desc, err);
    ykd_st_close(&st);
    return status;
}

/* The class names of __metadata__ "names": a JSON list, or an object from index to name. */
static ykd_status load_names(ykd_model *m, const ykd_safetensors *st, ykd_error *err)
{
    const char *text = ykd_st_metadata(st, META_NAMES);
    if (!text)
        return YKD_OK;
    cJSON *names = cJSON_Parse(text);
    int count = cJSON_GetArraySize(names);
    const char **list = calloc((size_t)(count ? count : 1), sizeof *list);
    ykd_status status = YKD_OK;
    if ((!cJSON_IsArray(names) && !cJSON_IsObject(names)) || count != m->graph->nc)
        status = ykd_fail(err, YKD_ERR_FORMAT,
                          "%s: __metadata__ \"names\" should list the %d class names", st->path,
                          m->graph->nc);
    int i = 0;
    for (const cJSON *c = names ? names->child : NULL; c && status == YKD_OK; c = c->next, i++) {
        if (!cJSON_IsString(c))
            status = ykd_fail(err, YKD_ERR_FORMAT, "%s: class name %d is not a string",
                              st->path, i);
        else
            list[i] = c->valuestring;
    }
    if (status == YKD_OK && !list)
        status = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of memory", st->path);
    if (status == YKD_OK)
        status = ykd_model_set_class_names(m, list, count, err);
    free(list);
    cJSON_Delete(names);
    return status;
}

/* Every model tensor, widened into host memory; no extra tensor in the file. */
static ykd_status read_params(const ykd_model *m, const ykd_safetensors *st, float *host,
                              int64_t *batches, ykd_error *err)
{
    const ykd_graph *g = m->graph;
    for (int i = 0; i < g->param_count; i++) {
        const ykd_gparam *p = &g->params[i];
        const ykd_st_tensor *t = ykd_st_find(st, p->name);
        if (!t)
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: tensor %s is missing (model %s)",
                            st->path, p->name, m->desc->name);
        if (!same_shape(p, t)) {
            char a[96], b[96];
            int64_t shape[4] = {p->shape[0], p->shape[1], p->shape[2], p->shape[3]};
            shape_text(t->shape, t->ndim, a, sizeof a);
            shape_text(shape, p->ndim, b, sizeof b);
            return ykd_fail(err, YKD_ERR_SHAPE, "%s: tensor %s has shape %s; model %s needs %s",
                            st->path, p->name, a, m->desc->name, b);
        }
        ykd_status status = ykd_st_read_f32(st, t, host + p->offset, err);
        if (status != YKD_OK)
            return status;
    }
    for (int i = 0; i < st->count; i++) {
        const ykd_st_tensor *t = &st->tensors[i];
        if (is_batches_tensor(t->name)) {
            int64_t value = 0;
            ykd_status status = ykd_st_read_i64(st, t, &value, err);
            if (status != YKD_OK)
                return status;
            if (value > *batches)
                *batches = value;
        } else if (!ykd_model_param_find(m, t->name)) {
            return ykd_fail(err, YKD_ERR_FORMAT, "%s: tensor %s is not part of model %s",
                            st->path, t->name, m->desc->name);
        }
    }
    return YKD_OK;
}

static ykd_status load_from(ykd_model *m, const ykd_safetensors *st, ykd_error *err)
{
    float *host = calloc(m->graph->param_floats, sizeof *host);
    if (!host)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of memory", st->path);
    int64_t batches = 0;
    ykd_status status = read_params(m, st, host, &batches, err);
    if (status == YKD_OK)
        status = load_names(m, st, err);
    if (status == YKD_OK)
        status = ykd_buffer_write(m->params, 0, host, m->graph->param_floats * sizeof *host,
                                  err);
    free(host);
    if (status == YKD_OK) {
        m->batches_tracked = batches;
        m->folded_valid = false;
    }
    return status;
}

ykd_status ykd_model_load_weights(ykd_model *model, const char *path, ykd_error *err)
{
    ykd_safetensors st;
    ykd_status status = ykd_st_open(path, &st, err);
    if (status != YKD_OK)
        return status;
    status = load_from(model, &st, err);
    ykd_st_close(&st);
    return status;
}

ykd_status ykd_model_load(ykd_device *device, const char *path, ykd_model **model,
                          ykd_error *err)
{
    *model = NULL;
    ykd_safetensors st;
    ykd_status status = ykd_st_open(path, &st, err);
    if (status != YKD_OK)
        return status;
    ykd_model_desc *desc = NULL;
    status = desc_of(&st, &desc, err);
    if (status == YKD_OK)
        status = ykd_model_create(device, desc, 0, model, err);
    if (status == YKD_OK)
        status = load_from(*model, &st, err);
    if (status != YKD_OK) {
        ykd_model_free(*model);
        *model = NULL;
    }
    ykd_model_desc_free(desc);
    ykd_st_close(&st);
    return status;
}

/* The names as a JSON list, or NULL when the model has none. */
static char *names_json(const ykd_model *m)
{
    if (m->name_count == 0)
        return NULL;
    cJSON *list = cJSON_CreateStringArray((const char *const *)m->names, m->name_count);
    char *text = list ? cJSON_PrintUnformatted(list) : NULL;
    cJSON_Delete(list);
    return text;
}

ykd_status ykd_model_save(const ykd_model *model, const char *path, ykd_error *err)
{
    const ykd_graph *g = model->graph;
    float *host = malloc(g->param_floats * sizeof *host);
    ykd_st_entry *entries = calloc((size_t)g->param_count * 2, sizeof *entries);
    char (*batch_names)[128] = calloc((size_t)g->param_count, sizeof *batch_names);
    char *names = names_json(model);
    ykd_status status = YKD_OK;
    if (!host || !entries || !batch_names || (model->name_count && !names))
        status = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "writing %s: out of memory", path);
    if (status == YKD_OK)
        status = ykd_buffer_read(model->params, 0, host, g->param_floats * sizeof *host, err);
    int count = 0;
    for (int i = 0; i < g->param_count && status == YKD_OK; i++) {
        const ykd_gparam *p = &g->params[i];
        ykd_st_entry *e = &entries[count++];
        *e = (ykd_st_entry){p->name, YKD_ST_F32, p->ndim, {0}, host + p->offset};
        for (int d = 0; d < p->ndim; d++)
            e->shape[d] = p->shape[d];
        /* Ultralytics keeps num_batches_tracked after running_var: an int64 scalar */
        if (batches_name(p, batch_names[i], sizeof batch_names[i]))
            entries[count++] = (ykd_st_entry){batch_names[i], YKD_ST_I64, 0, {0},
                                              &model->batches_tracked};
    }
    const char *keys[] = {"format", META_MODEL, META_NAMES};
    const char *values[] = {"pt", model->desc->json, names};
    if (status == YKD_OK)
        status = ykd_st_write(path, entries, count, keys, values, names ? 3 : 2, err);
    cJSON_free(names);
    free(host);
    free(entries);
    free(batch_names);
    return status;
}
