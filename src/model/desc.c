/* Model descriptions: JSON text -> a validated ykd_model_desc.
 *
 * The layout is the published YOLOv8 YAML in JSON: "backbone" and "head" list layers
 * [from, repeats, module, args] (or objects with those keys), numbered across both lists;
 * "scales" maps a scale name to [depth, width, max_channels]. Channels and repeats are scaled
 * as Ultralytics' parse_model does, so parameter names and shapes match its state_dict. Every
 * fault names the JSON path: "model.json: $.head[3].from: refers to layer 14, later than this
 * layer (13)". */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "model/model_internal.h"

typedef struct parser {
    const char *source;
    ykd_error *err;
    ykd_model_desc *desc;
    bool nc_given; /* the caller chose nc, over the file's */
    char scale[32]; /* the chosen scale's name, "" without one */
    bool seen_c3k2; /* Ultralytics' parse_model turns Detect's legacy off after a C3k2 */
} parser;

static ykd_status fault(const parser *p, const char *path, const char *fmt, ...)
    YKD_PRINTF(3, 4);

static ykd_status fault(const parser *p, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ykd_fail(p->err, YKD_ERR_FORMAT, "%s: %s: %s", p->source, path, msg);
}

static const char *json_type(const cJSON *item)
{
    if (!item)
        return "nothing";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsArray(item))
        return "an array";
    if (cJSON_IsObject(item))
        return "an object";
    if (cJSON_IsBool(item))
        return "a boolean";
    return "null";
}

static bool is_whole(const cJSON *item)
{
    double v = cJSON_GetNumberValue(item);
    return cJSON_IsNumber(item) && v == floor(v) && fabs(v) < 1e9;
}

/* A whole number in [min, max] at path. */
static ykd_status get_int(const parser *p, const cJSON *item, const char *path, int min,
                          int max, int *value)
{
    if (!is_whole(item))
        return fault(p, path, "expected a whole number, got %s", json_type(item));
    double v = cJSON_GetNumberValue(item);
    if (v < min || v > max)
        return fault(p, path, "%g is out of range (%d to %d)", v, min, max);
    *value = (int)v;
    return YKD_OK;
}

static ykd_status get_positive(const parser *p, const cJSON *item, const char *path,
                               double *value)
{
    double v = cJSON_GetNumberValue(item);
    if (!cJSON_IsNumber(item))
        return fault(p, path, "expected a number, got %s", json_type(item));
    if (!(v > 0.0 && v <= 64.0))
        return fault(p, path, "%g is out of range (above 0, at most 64)", v);
    *value = v;
    return YKD_OK;
}

const char *ykd_module_name(ykd_module module)
{
    static const char *const names[] = {"Conv",   "C2f",    "SPPF", "Upsample",
                                        "Concat", "Detect", "DWConv", "C3k2",
                                        "C2PSA"};
    return names[module];
}

static bool module_from_name(const char *name, ykd_module *module)
{
    static const struct {
        const char *name;
        ykd_module module;
    } table[] = {{"Conv", YKD_MODULE_CONV},         {"C2f", YKD_MODULE_C2F},
                 {"SPPF", YKD_MODULE_SPPF},         {"Upsample", YKD_MODULE_UPSAMPLE},
                 {"nn.Upsample", YKD_MODULE_UPSAMPLE}, {"Concat", YKD_MODULE_CONCAT},
                 {"Detect", YKD_MODULE_DETECT},     {"DWConv", YKD_MODULE_DWCONV},
                 {"C3k2", YKD_MODULE_C3K2},         {"C2PSA", YKD_MODULE_C2PSA}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0) {
            *module = table[i].module;
            return true;
        }
    return false;
}

int ykd_desc_scale_channels(const ykd_model_desc *desc, int c)
{
    int capped = desc->max_channels > 0 && c > desc->max_channels ? desc->max_channels : c;
    return (int)ceil(capped * desc->width / 8.0) * 8;
}

/* One layer's four fields, from [from, repeats, module, args] or an object. */
typedef struct layer_fields {
    const cJSON *from, *repeats, *module, *args;
} layer_fields;

static ykd_status layer_fields_get(const parser *p, const cJSON *item, const char *path,
                                   layer_fields *f)
{
    static const char *const keys[] = {"from", "repeats", "module", "args"};
    const cJSON **slots[] = {&f->from, &f->repeats, &f->module, &f->args};
    if (cJSON_IsArray(item)) {
        if (cJSON_GetArraySize(item) != 4)
            return fault(p, path, "a layer is [from, repeats, module, args]; got %d entries",
                         cJSON_GetArraySize(item));
        for (int i = 0; i < 4; i++)
            *slots[i] = cJSON_GetArrayItem(item, i);
        return YKD_OK;
    }
    if (!cJSON_IsObject(item))
        return fault(p, path, "expected a layer ([from, repeats, module, args]), got %s",
                     json_type(item));
    for (const cJSON *c = item->child; c; c = c->next) {
        bool known = false;
        for (int i = 0; i < 4; i++)
            known = known || strcmp(c->string, keys[i]) == 0;
        if (!known)
            return fault(p, path, "unknown key \"%s\" (a layer has from, repeats, module, args)",
                         c->string);
    }
    for (int i = 0; i < 4; i++) {
        *slots[i] = cJSON_GetObjectItemCaseSensitive(item, keys[i]);
        if (!*slots[i])
            return fault(p, path, "missing \"%s\"", keys[i]);
    }
    return YKD_OK;
}

/* from: an index or a list; -1 is the previous layer (the image for layer 0), other
 * negatives count back from this layer, non-negatives are absolute and must be earlier. */
static ykd_status parse_from(const parser *p, const cJSON *from, const char *path, int index,
                             ykd_layer_desc *l)
{
    bool list = cJSON_IsArray(from);
    int count = list ? cJSON_GetArraySize(from) : 1;
    if (!list && !cJSON_IsNumber(from))
        return fault(p, path, "expected a layer index or a list of them, got %s",
                     json_type(from));
    if (count < 1 || count > YKD_LAYER_MAX_FROM)
        return fault(p, path, "lists 1 to %d layers, not %d", YKD_LAYER_MAX_FROM, count);
    size_t used = 0;
    if (list)
        used += (size_t)snprintf(l->from_text, sizeof l->from_text, "[");
    for (int i = 0; i < count; i++) {
        const cJSON *item = list ? cJSON_GetArrayItem(from, i) : from;
        char item_path[300];
        if (list)
            snprintf(item_path, sizeof item_path, "%s[%d]", path, i);
        else
            snprintf(item_path, sizeof item_path, "%s", path);
        int f = 0;
        ykd_status st = get_int(p, item, item_path, -YKD_MODEL_MAX_LAYERS,
                                YKD_MODEL_MAX_LAYERS, &f);
        if (st != YKD_OK)
            return st;
        int absolute = f == -1 ? index - 1 : f < 0 ? index + f : f;
        if (f > index)
            return fault(p, item_path, "refers to layer %d, later than this layer (%d)", f,
                         index);
        if (f == index)
            return fault(p, item_path, "refers to this layer itself (%d)", index);
        if (absolute < -1 || (f < -1 && absolute < 0))
            return fault(p, item_path, "%d reaches before the first layer (this is layer %d)",
                         f, index);
        l->from[i] = absolute;
        if (used < sizeof l->from_text)
            used += (size_t)snprintf(l->from_text + used, sizeof l->from_text - used, "%s%d",
                                     i ? ", " : "", f);
    }
    if (list && used < sizeof l->from_text)
        snprintf(l->from_text + used, sizeof l->from_text - used, "]");
    l->from_count = count;
    return YKD_OK;
}

/* The argument at position i, NULL past the end. */
static const cJSON *arg(const cJSON *args, int i)
{
    return i < cJSON_GetArraySize(args) ? cJSON_GetArrayItem(args, i) : NULL;
}

static ykd_status check_arity(const parser *p, const cJSON *args, const char *path,
                              ykd_module module, int min, int max, const char *names)
{
    if (!cJSON_IsArray(args))
        return fault(p, path, "expected a list of arguments, got %s", json_type(args));
    int n = cJSON_GetArraySize(args);
    if (n < min || n > max)
        return fault(p, path, "%s takes %d to %d arguments (%s), got %d",
                     ykd_module_name(module), min, max, names, n);
    return YKD_OK;
}

static ykd_status odd_kernel(const parser *p, const cJSON *item, const char *path, int *k)
{
    ykd_status st = get_int(p, item, path, 1, 15, k);
    if (st == YKD_OK && *k % 2 == 0)
        return fault(p, path, "kernel size %d must be odd (padding k/2 keeps sizes exact)", *k);
    return st;
}

/* c2 scaled as Ultralytics does; a c2 equal to nc is left alone (its quirk, kept so weights
 * of such models still match). */
static ykd_status out_channels(const parser *p, const cJSON *item, const char *path,
                               ykd_layer_desc *l)
{
    int c2 = 0;
    ykd_status st = get_int(p, item, path, 1, 65536, &c2);
    if (st != YKD_OK)
        return st;
    l->c2 = c2 == p->desc->nc ? c2 : ykd_desc_scale_channels(p->desc, c2);
    return YKD_OK;
}

/* args[0] as the output channels, and args[1], when given, as an odd kernel size into l->k. */
static ykd_status channels_and_kernel(const parser *p, const cJSON *args, const char *path,
                                      ykd_layer_desc *l)
{
    char ap[300];
    snprintf(ap, sizeof ap, "%s[0]", path);
    ykd_status st = out_channels(p, arg(args, 0), ap, l);
    snprintf(ap, sizeof ap, "%s[1]", path);
    if (st == YKD_OK && arg(args, 1))
        st = odd_kernel(p, arg(args, 1), ap, &l->k);
    return st;
}

/* An optional true/false argument at args[i] into *value (default when absent). */
static ykd_status optional_bool(const parser *p, const cJSON *args, const char *path, int i,
                                bool fallback, bool *value)
{
    char ap[300];
    snprintf(ap, sizeof ap, "%s[%d]", path, i);
    const cJSON *item = arg(args, i);
    if (item && !cJSON_IsBool(item))
        return fault(p, ap, "expected true or false, got %s", json_type(item));
    *value = item ? cJSON_IsTrue(item) : fallback;
    return YKD_OK;
}

/* An optional expansion ratio at args[i] in (0, 1] (default 0.5). */
static ykd_status expansion(const parser *p, const cJSON *args, const char *path, int i,
                            double *e)
{
    char ap[300];
    snprintf(ap, sizeof ap, "%s[%d]", path, i);
    const cJSON *item = arg(args, i);
    *e = 0.5;
    if (!item)
        return YKD_OK;
    if (!cJSON_IsNumber(item))
        return fault(p, ap, "expected an expansion ratio, got %s", json_type(item));
    *e = cJSON_GetNumberValue(item);
    if (!(*e > 0.0 && *e <= 1.0))
        return fault(p, ap, "expansion %g is out of range (above 0, at most 1)", *e);
    return YKD_OK;
}

/* Ultralytics forces C3k blocks in C3k2 for the scales named in "mlx". */
static bool scale_forces_c3k(const parser *p)
{
    return p->scale[0] && strstr("mlx", p->scale) != NULL;
}

static ykd_status parse_args(parser *p, const cJSON *args, const char *path,
                             ykd_layer_desc *l)
{
    char ap[300];
    ykd_status st = YKD_OK;
    l->groups = 1;
    switch (l->module) {
    case YKD_MODULE_C3K2:
        st = check_arity(p, args, path, l->module, 1, 3, "c2, c3k, e");
        snprintf(ap, sizeof ap, "%s[0]", path);
        if (st == YKD_OK)
            st = out_channels(p, arg(args, 0), ap, l);
        if (st == YKD_OK)
            st = optional_bool(p, args, path, 1, false, &l->c3k);
        if (st == YKD_OK)
            st = expansion(p, args, path, 2, &l->e);
        l->c3k = l->c3k || scale_forces_c3k(p);
        l->shortcut = true;
        p->seen_c3k2 = true;
        return st;
    case YKD_MODULE_C2PSA:
        st = check_arity(p, args, path, l->module, 1, 2, "c2, e");
        snprintf(ap, sizeof ap, "%s[0]", path);
        if (st == YKD_OK)
            st = out_channels(p, arg(args, 0), ap, l);
        if (st == YKD_OK)
            st = expansion(p, args, path, 1, &l->e);
        return st;
    case YKD_MODULE_CONV:
    case YKD_MODULE_DWCONV:
        st = check_arity(p, args, path, l->module, 1, 3, "c2, k, s");
        l->k = l->s = 1;
        if (st == YKD_OK)
            st = channels_and_kernel(p, args, path, l);
        snprintf(ap, sizeof ap, "%s[2]", path);
        if (st == YKD_OK && arg(args, 2))
            st = get_int(p, arg(args, 2), ap, 1, 8, &l->s);
        return st;
    case YKD_MODULE_C2F:
        st = check_arity(p, args, path, l->module, 1, 2, "c2, shortcut");
        snprintf(ap, sizeof ap, "%s[0]", path);
        if (st == YKD_OK)
            st = out_channels(p, arg(args, 0), ap, l);
        snprintf(ap, sizeof ap, "%s[1]", path);
        if (st == YKD_OK && arg(args, 1) && !cJSON_IsBool(arg(args, 1)))
            return fault(p, ap, "expected true or false, got %s", json_type(arg(args, 1)));
        l->shortcut = st == YKD_OK && cJSON_IsTrue(arg(args, 1));
        return st;
    case YKD_MODULE_SPPF:
        st = check_arity(p, args, path, l->module, 1, 2, "c2, k");
        l->k = 5;
        return st == YKD_OK ? channels_and_kernel(p, args, path, l) : st;
    case YKD_MODULE_UPSAMPLE:
        st = check_arity(p, args, path, l->module, 0, 3, "size None, scale 2, 'nearest'");
        snprintf(ap, sizeof ap, "%s[0]", path);
        if (st == YKD_OK && arg(args, 0) && !cJSON_IsNull(arg(args, 0)))
            return fault(p, ap, "only a scale factor is supported: size must be null");
        snprintf(ap, sizeof ap, "%s[1]", path);
        if (st == YKD_OK && arg(args, 1) && cJSON_GetNumberValue(arg(args, 1)) != 2.0)
            return fault(p, ap, "only a scale factor of 2 is supported");
        snprintf(ap, sizeof ap, "%s[2]", path);
        if (st == YKD_OK && arg(args, 2) &&
            (!cJSON_IsString(arg(args, 2)) || strcmp(arg(args, 2)->valuestring, "nearest")))
            return fault(p, ap, "only \"nearest\" upsampling is supported");
        return st;
    case YKD_MODULE_CONCAT:
        st = check_arity(p, args, path, l->module, 0, 1, "dimension 1");
        snprintf(ap, sizeof ap, "%s[0]", path);
        if (st == YKD_OK && arg(args, 0) && cJSON_GetNumberValue(arg(args, 0)) != 1.0)
            return fault(p, ap, "only concatenation along channels (dimension 1) is supported");
        return st;
    case YKD_MODULE_DETECT:
        st = check_arity(p, args, path, l->module, 0, 1, "nc");
        snprintf(ap, sizeof ap, "%s[0]", path);
        if (st == YKD_OK && arg(args, 0) && !cJSON_IsString(arg(args, 0)) &&
            !cJSON_IsNumber(arg(args, 0)))
            return fault(p, ap, "expected \"nc\" or a class count, got %s",
                         json_type(arg(args, 0)));
        if (st == YKD_OK && cJSON_IsString(arg(args, 0)) &&
            strcmp(arg(args, 0)->valuestring, "nc") != 0)
            return fault(p, ap, "expected \"nc\" or a class count, got \"%s\"",
                         arg(args, 0)->valuestring);
        if (st == YKD_OK && cJSON_IsNumber(arg(args, 0)) && !p->nc_given &&
            cJSON_GetNumberValue(arg(args, 0)) != p->desc->nc)
            return fault(p, ap, "Detect has %g classes but $.nc is %d",
                         cJSON_GetNumberValue(arg(args, 0)), p->desc->nc);
        l->legacy = !p->seen_c3k2;
        return st;
    }
    return st;
}

/* Python's round() (half to even) as Ultralytics applies it to repeats. */
static int scaled_repeats(const ykd_model_desc *desc, int n)
{
    if (n <= 1)
        return n;
    int r = (int)nearbyint(n * desc->depth);
    return r < 1 ? 1 : r;
}

static int gcd(int a, int b)
{
    while (b) {
        int r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* C2PSA(c1, c2, n, e): c1 == c2; c = int(c1 * e) hidden channels in c // 64 heads of
 * head_dim = c // heads channels, key_dim = int(head_dim * 0.5) (Attention's attn_ratio). */
static ykd_status attention_shape(const parser *p, const char *path, int cin, ykd_layer_desc *l)
{
    if (cin != l->c2)
        return fault(p, path, "C2PSA keeps its channels: it reads %d and c2 is %d", cin, l->c2);
    l->cout = l->c2;
    l->hidden = (int)(cin * l->e);
    l->heads = l->hidden / 64;
    if (l->heads < 1)
        return fault(p, path,
                     "C2PSA's %d hidden channels make no attention head (one per 64 channels)",
                     l->hidden);
    if (l->hidden % l->heads)
        return fault(p, path, "C2PSA's %d hidden channels do not split into %d heads",
                     l->hidden, l->heads);
    l->head_dim = l->hidden / l->heads;
    l->key_dim = (int)(l->head_dim * 0.5);
    return YKD_OK;
}

/* Input channels, output channels and stride of layer l from the layers before it. */
static ykd_status infer_shapes(const parser *p, const char *path, int index, ykd_layer_desc *l)
{
    ykd_status st = YKD_OK;
    const ykd_model_desc *d = p->desc;
    int cin[YKD_LAYER_MAX_FROM], stride[YKD_LAYER_MAX_FROM];
    for (int i = 0; i < l->from_count; i++) {
        int f = l->from[i];
        cin[i] = f < 0 ? d->ch : d->layers[f].cout;
        stride[i] = f < 0 ? 1 : d->layers[f].stride;
        if (f >= 0 && d->layers[f].module == YKD_MODULE_DETECT)
            return fault(p, path, "reads layer %d, a Detect head, whose output is not a tensor",
                         f);
    }
    l->cin = cin[0];
    if (l->module != YKD_MODULE_CONCAT && l->module != YKD_MODULE_DETECT && l->from_count != 1)
        return fault(p, path, "%s reads one layer, not %d", ykd_module_name(l->module),
                     l->from_count);
    switch (l->module) {
    case YKD_MODULE_CONV:
        l->cout = l->c2, l->stride = stride[0] * l->s;
        break;
    case YKD_MODULE_DWCONV:
        l->cout = l->c2, l->stride = stride[0] * l->s;
        l->groups = gcd(cin[0], l->c2);
        break;
    case YKD_MODULE_C3K2:
        l->cout = l->c2, l->stride = stride[0];
        l->hidden = (int)(l->c2 * l->e);
        if (l->hidden < 2)
            return fault(p, path,
                         "C3k2 with %d output channels and expansion %g has %d hidden "
                         "channels; its blocks need at least 2",
                         l->c2, l->e, l->hidden);
        break;
    case YKD_MODULE_C2PSA:
        st = attention_shape(p, path, cin[0], l);
        if (st != YKD_OK)
            return st;
        l->stride = stride[0];
        break;
    case YKD_MODULE_C2F:
    case YKD_MODULE_SPPF:
        l->cout = l->c2, l->stride = stride[0];
        if (l->module == YKD_MODULE_SPPF && cin[0] < 2)
            return fault(p, path, "SPPF needs at least 2 input channels, has %d", cin[0]);
        break;
    case YKD_MODULE_UPSAMPLE:
        if (stride[0] < 2)
            return fault(p, path, "upsamples layer %d beyond the input's resolution", l->from[0]);
        l->cout = cin[0], l->stride = stride[0] / 2;
        break;
    case YKD_MODULE_CONCAT:
        l->cout = 0, l->stride = stride[0];
        for (int i = 0; i < l->from_count; i++) {
            if (stride[i] != stride[0])
                return fault(p, path,
                             "Concat inputs do not line up: layer %d is at stride %d (%dx "
                             "smaller than the image), layer %d at stride %d",
                             l->from[0], stride[0], stride[0], l->from[i], stride[i]);
            l->cout += cin[i];
        }
        break;
    case YKD_MODULE_DETECT:
        for (int i = 1; i < l->from_count; i++)
            if (stride[i] <= stride[i - 1])
                return fault(p, path,
                             "Detect levels must go from fine to coarse: layer %d (stride %d) "
                             "follows layer %d (stride %d)",
                             l->from[i], stride[i], l->from[i - 1], stride[i - 1]);
        l->cout = 4 * YKD_MODEL_REG_MAX + d->nc, l->stride = stride[l->from_count - 1];
        break;
    }
    if (l->stride > 1024)
        return fault(p, path, "reaches a stride of %d; at most 1024", l->stride);
    (void)index;
    return YKD_OK;
}

static ykd_status parse_layer(parser *p, const cJSON *item, const char *list, int pos,
                              int index)
{
    char path[200], fp[256];
    snprintf(path, sizeof path, "$.%s[%d]", list, pos);
    layer_fields f;
    ykd_status st = layer_fields_get(p, item, path, &f);
    if (st != YKD_OK)
        return st;
    ykd_layer_desc *l = &p->desc->layers[index];
    memset(l, 0, sizeof *l);
    snprintf(fp, sizeof fp, "%s.module", path);
    if (!cJSON_IsString(f.module))
        return fault(p, fp, "expected a module name, got %s", json_type(f.module));
    if (!module_from_name(f.module->valuestring, &l->module))
        return fault(p, fp,
                     "unknown module \"%s\" (known: Conv, DWConv, C2f, C3k2, C2PSA, SPPF, "
                     "nn.Upsample, Concat, Detect)",
                     f.module->valuestring);
    snprintf(fp, sizeof fp, "%s.from", path);
    st = parse_from(p, f.from, fp, index, l);
    snprintf(fp, sizeof fp, "%s.repeats", path);
    int n = 0;
    if (st == YKD_OK)
        st = get_int(p, f.repeats, fp, 1, 64, &n);
    bool repeats = l->module == YKD_MODULE_C2F || l->module == YKD_MODULE_C3K2 ||
                   l->module == YKD_MODULE_C2PSA;
    if (st == YKD_OK && n != 1 && !repeats)
        return fault(p, fp, "%s does not repeat (repeats must be 1, got %d)",
                     ykd_module_name(l->module), n);
    l->repeats = scaled_repeats(p->desc, n);
    snprintf(fp, sizeof fp, "%s.args", path);
    if (st == YKD_OK)
        st = parse_args(p, f.args, fp, l);
    snprintf(fp, sizeof fp, "%s.from", path);
    if (st == YKD_OK)
        st = infer_shapes(p, fp, index, l);
    return st;
}

static ykd_status parse_layers(parser *p, const cJSON *root)
{
    static const char *const lists[] = {"backbone", "head"};
    const cJSON *arrays[2];
    int total = 0;
    for (int i = 0; i < 2; i++) {
        char path[32];
        snprintf(path, sizeof path, "$.%s", lists[i]);
        arrays[i] = cJSON_GetObjectItemCaseSensitive(root, lists[i]);
        if (!arrays[i])
            return fault(p, path, "missing (the list of layers)");
        if (!cJSON_IsArray(arrays[i]))
            return fault(p, path, "expected a list of layers, got %s", json_type(arrays[i]));
        total += cJSON_GetArraySize(arrays[i]);
    }
    if (total < 1 || total > YKD_MODEL_MAX_LAYERS)
        return fault(p, "$", "has %d layers; 1 to %d are allowed", total, YKD_MODEL_MAX_LAYERS);
    p->desc->layers = calloc((size_t)total, sizeof *p->desc->layers);
    if (!p->desc->layers)
        return ykd_fail(p->err, YKD_ERR_OUT_OF_MEMORY, "%s: out of memory", p->source);
    int index = 0;
    for (int i = 0; i < 2; i++) {
        int pos = 0;
        for (const cJSON *item = arrays[i]->child; item; item = item->next, pos++, index++) {
            ykd_status st = parse_layer(p, item, lists[i], pos, index);
            if (st != YKD_OK)
                return st;
            p->desc->layer_count = index + 1;
        }
    }
    return YKD_OK;
}

/* Exactly one Detect, the last layer. */
static ykd_status check_detect(const parser *p, const cJSON *root)
{
    const ykd_model_desc *d = p->desc;
    int backbone = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "backbone"));
    for (int i = 0; i < d->layer_count; i++) {
        if (d->layers[i].module != YKD_MODULE_DETECT || i == d->layer_count - 1)
            continue;
        char path[64];
        snprintf(path, sizeof path, "$.%s[%d].module", i < backbone ? "backbone" : "head",
                 i < backbone ? i : i - backbone);
        return fault(p, path, "Detect must be the last layer (this is layer %d of %d)", i,
                     d->layer_count);
    }
    if (d->layers[d->layer_count - 1].module != YKD_MODULE_DETECT)
        return fault(p, "$.head", "the last layer must be a Detect head");
    return YKD_OK;
}

static const char *const top_keys[] = {"nc",           "ch",         "name",
                                        "scales",       "scale",      "depth_multiple",
                                        "width_multiple", "max_channels", "backbone",
                                        "head"};

static ykd_status check_keys(const parser *p, const cJSON *root)
{
    for (const cJSON *c = root->child; c; c = c->next) {
        bool known = false;
        for (size_t i = 0; i < sizeof top_keys / sizeof top_keys[0]; i++)
            known = known || strcmp(c->string, top_keys[i]) == 0;
        if (!known) {
            char path[128];
            snprintf(path, sizeof path, "$.%.100s", c->string);
            return fault(p, path,
                         "unknown key (known: nc, ch, name, scales, scale, depth_multiple, "
                         "width_multiple, max_channels, backbone, head)");
        }
    }
    return YKD_OK;
}

/* depth, width and cap from "scales" (the chosen one) or the explicit multiples. */
static ykd_status parse_scale(parser *p, const cJSON *root, const char *wanted)
{
    ykd_model_desc *d = p->desc;
    d->depth = d->width = 1.0;
    d->max_channels = 0;
    const cJSON *scales = cJSON_GetObjectItemCaseSensitive(root, "scales");
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(root, "scale");
    if (!wanted && scale && !cJSON_IsString(scale))
        return fault(p, "$.scale", "expected a scale name, got %s", json_type(scale));
    if (!wanted && scale)
        wanted = scale->valuestring;
    if (scales) {
        if (!cJSON_IsObject(scales) || !scales->child)
            return fault(p, "$.scales", "expected an object of scales, got %s",
                         json_type(scales));
        if (!wanted && scales->child->next)
            return fault(p, "$.scales", "several scales are listed; choose one (\"scale\": \"n\")");
        const cJSON *chosen = wanted ? cJSON_GetObjectItemCaseSensitive(scales, wanted)
                                     : scales->child;
        if (!chosen)
            return fault(p, "$.scales", "has no scale \"%s\"", wanted);
        char path[160];
        snprintf(path, sizeof path, "$.scales.%.100s", chosen->string);
        if (!cJSON_IsArray(chosen) || cJSON_GetArraySize(chosen) != 3)
            return fault(p, path, "expected [depth, width, max_channels]");
        char ip[200];
        snprintf(ip, sizeof ip, "%s[0]", path);
        ykd_status st = get_positive(p, cJSON_GetArrayItem(chosen, 0), ip, &d->depth);
        snprintf(ip, sizeof ip, "%s[1]", path);
        if (st == YKD_OK)
            st = get_positive(p, cJSON_GetArrayItem(chosen, 1), ip, &d->width);
        snprintf(ip, sizeof ip, "%s[2]", path);
        if (st == YKD_OK)
            st = get_int(p, cJSON_GetArrayItem(chosen, 2), ip, 8, 65536, &d->max_channels);
        /* "yolov8" with scale "n" is "yolov8n"; a nameless file's is "model-n" */
        char base[64];
        snprintf(base, sizeof base, "%s", d->name);
        bool named = cJSON_GetObjectItemCaseSensitive(root, "name") != NULL;
        snprintf(d->name, sizeof d->name, "%.40s%s%.20s", base, named ? "" : "-",
                 chosen->string);
        snprintf(p->scale, sizeof p->scale, "%s", chosen->string);
        return st;
    }
    if (wanted)
        return fault(p, "$", "has no \"scales\" to choose \"%s\" from", wanted);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "depth_multiple");
    ykd_status st = item ? get_positive(p, item, "$.depth_multiple", &d->depth) : YKD_OK;
    item = cJSON_GetObjectItemCaseSensitive(root, "width_multiple");
    if (st == YKD_OK && item)
        st = get_positive(p, item, "$.width_multiple", &d->width);
    item = cJSON_GetObjectItemCaseSensitive(root, "max_channels");
    if (st == YKD_OK && item)
        st = get_int(p, item, "$.max_channels", 8, 65536, &d->max_channels);
    return st;
}

static ykd_status parse_header(parser *p, const cJSON *root,
                               const ykd_model_desc_options *options)
{
    ykd_model_desc *d = p->desc;
    if (!cJSON_IsObject(root))
        return fault(p, "$", "expected an object, got %s", json_type(root));
    ykd_status st = check_keys(p, root);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (st == YKD_OK && item && !cJSON_IsString(item))
        return fault(p, "$.name", "expected a string, got %s", json_type(item));
    snprintf(d->name, sizeof d->name, "%s", item ? item->valuestring : "model");
    item = cJSON_GetObjectItemCaseSensitive(root, "nc");
    if (st == YKD_OK && options && options->nc) {
        if (options->nc < 1 || options->nc > YKD_MODEL_MAX_CLASSES)
            return ykd_fail(p->err, YKD_ERR_INVALID_ARGUMENT, "%s: %d classes; 1 to %d allowed",
                            p->source, options->nc, YKD_MODEL_MAX_CLASSES);
        d->nc = options->nc;
        p->nc_given = true;
    } else if (st == YKD_OK && !item) {
        return fault(p, "$.nc", "missing (the number of classes)");
    } else if (st == YKD_OK) {
        st = get_int(p, item, "$.nc", 1, YKD_MODEL_MAX_CLASSES, &d->nc);
    }
    d->ch = 3;
    item = cJSON_GetObjectItemCaseSensitive(root, "ch");
    if (st == YKD_OK && item)
        st = get_int(p, item, "$.ch", 1, 64, &d->ch);
    if (st == YKD_OK)
        st = parse_scale(p, root, options ? options->scale : NULL);
    return st;
}

/* A layer's args item, in either layer form. */
static cJSON *layer_args(cJSON *item)
{
    return cJSON_IsArray(item) ? cJSON_GetArrayItem(item, 3)
                               : cJSON_GetObjectItemCaseSensitive(item, "args");
}

/* C3k blocks forced by the scale become explicit (the resolved description has no scale):
 * args [c2, true, e]. */
static bool bake_c3k(const ykd_model_desc *d, cJSON *root)
{
    static const char *const lists[] = {"backbone", "head"};
    int index = 0;
    for (int i = 0; i < 2; i++)
        for (cJSON *item = cJSON_GetObjectItemCaseSensitive(root, lists[i])->child; item;
             item = item->next, index++) {
            const ykd_layer_desc *l = &d->layers[index];
            cJSON *args = layer_args(item);
            if (l->module != YKD_MODULE_C3K2 || !l->c3k)
                continue;
            cJSON *yes = cJSON_CreateTrue();
            bool ok = yes && (cJSON_GetArraySize(args) >= 2
                                  ? cJSON_ReplaceItemInArray(args, 1, yes)
                                  : cJSON_AddItemToArray(args, yes));
            if (!ok) {
                cJSON_Delete(yes);
                return false;
            }
        }
    return true;
}

/* The description with its choices made explicit, as compact JSON. */
static ykd_status resolve_json(const parser *p, cJSON *root)
{
    ykd_model_desc *d = p->desc;
    if (!bake_c3k(d, root))
        return ykd_fail(p->err, YKD_ERR_OUT_OF_MEMORY, "%s: out of memory", p->source);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "scales");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "scale");
    static const char *const replaced[] = {"name", "nc", "ch", "depth_multiple",
                                           "width_multiple", "max_channels"};
    for (size_t i = 0; i < sizeof replaced / sizeof replaced[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(root, replaced[i]);
    cJSON *backbone = cJSON_DetachItemFromObjectCaseSensitive(root, "backbone");
    cJSON *head = cJSON_DetachItemFromObjectCaseSensitive(root, "head");
    bool ok = cJSON_AddStringToObject(root, "name", d->name) &&
              cJSON_AddNumberToObject(root, "nc", d->nc) &&
              cJSON_AddNumberToObject(root, "ch", d->ch) &&
              cJSON_AddNumberToObject(root, "depth_multiple", d->depth) &&
              cJSON_AddNumberToObject(root, "width_multiple", d->width) &&
              (d->max_channels == 0 ||
               cJSON_AddNumberToObject(root, "max_channels", d->max_channels));
    ok = ok && cJSON_AddItemToObject(root, "backbone", backbone);
    ok = ok && cJSON_AddItemToObject(root, "head", head);
    d->json = ok ? cJSON_PrintUnformatted(root) : NULL;
    if (!d->json)
        return ykd_fail(p->err, YKD_ERR_OUT_OF_MEMORY, "%s: out of memory", p->source);
    return YKD_OK;
}

/* "line L, column C" of the byte at offset in text. */
static void text_position(const char *text, size_t offset, char *buf, size_t size)
{
    int line = 1, column = 1;
    for (size_t i = 0; i < offset; i++) {
        column++;
        if (text[i] == '\n')
            line++, column = 1;
    }
    snprintf(buf, size, "line %d, column %d", line, column);
}

ykd_status ykd_model_desc_parse(const char *json, size_t length, const char *source,
                                const ykd_model_desc_options *options, ykd_model_desc **desc,
                                ykd_error *err)
{
    *desc = NULL;
    parser p = {.source = source ? source : "model description",
                .err = err,
                .desc = calloc(1, sizeof(ykd_model_desc))};
    if (!p.desc)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "%s: out of memory", p.source);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, length, &end, false);
    ykd_status st = YKD_OK;
    if (!root) {
        char where[64];
        size_t offset = end && end >= json ? (size_t)(end - json) : 0;
        text_position(json, offset < length ? offset : length, where, sizeof where);
        st = ykd_fail(err, YKD_ERR_FORMAT, "%s: not valid JSON (at %s)", p.source, where);
    }
    if (st == YKD_OK)
        st = parse_header(&p, root, options);
    if (st == YKD_OK)
        st = parse_layers(&p, root);
    if (st == YKD_OK)
        st = check_detect(&p, root);
    if (st == YKD_OK)
        st = resolve_json(&p, root);
    cJSON_Delete(root);
    if (st == YKD_OK) {
        p.desc->max_stride = p.desc->layers[p.desc->layer_count - 1].stride;
        st = ykd_graph_build(p.desc, &p.desc->graph, err);
    }
    if (st != YKD_OK) {
        ykd_model_desc_free(p.desc);
        return st;
    }
    *desc = p.desc;
    return YKD_OK;
}

void ykd_model_desc_free(ykd_model_desc *desc)
{
    if (!desc)
        return;
    ykd_graph_free(desc->graph);
    cJSON_free(desc->json);
    free(desc->layers);
    free(desc);
}

const char *ykd_model_desc_json(const ykd_model_desc *desc)
{
    return desc->json;
}

const char *ykd_model_desc_name(const ykd_model_desc *desc)
{
    return desc->name;
}

int ykd_model_desc_classes(const ykd_model_desc *desc)
{
    return desc->nc;
}

int ykd_model_desc_input_channels(const ykd_model_desc *desc)
{
    return desc->ch;
}

int ykd_model_desc_max_stride(const ykd_model_desc *desc)
{
    return desc->max_stride;
}

int ykd_model_desc_layer_count(const ykd_model_desc *desc)
{
    return desc->layer_count;
}
