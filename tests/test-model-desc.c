/* Model descriptions without a device: the published parameter counts and GFLOPs of every
 * built-in scale, the graph's convolutions against tools/yolo_layers.c's plain enumeration,
 * every kind of description fault refused with its JSON path, the resolved JSON round trip,
 * a hand-written description, and `yolokd info`. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "harness.h"
#include "model/model_internal.h"
#include "yolo_layers.h"
#include "yolokd/model.h"

typedef struct published {
    const char *scale;
    size_t params;
    double gflops;
} published;

/* Ultralytics' model table (YOLOv8 detection, COCO, 640). */
static const published table[] = {{"n", 3157200, 8.7},    {"s", 11166560, 28.6},
                                  {"m", 25902640, 78.9},  {"l", 43691520, 165.2},
                                  {"x", 68229648, 257.8}};

static void test_published_counts(ykd_test *t)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        ykd_model_desc *d = NULL;
        ykd_error err;
        if (!CHECK_OK(t, ykd_model_desc_builtin(table[i].scale, 80, &d, &err), err))
            continue;
        size_t params = ykd_model_desc_param_count(d);
        double gflops = ykd_model_desc_gflops(d, 640);
        CHECKF(t, params == table[i].params, "yolov8%s: %zu parameters, published %zu",
               table[i].scale, params, table[i].params);
        CHECKF(t, fabs(gflops - table[i].gflops) <= 0.03 * table[i].gflops,
               "yolov8%s: %.2f GFLOPs, published %.1f", table[i].scale, gflops,
               table[i].gflops);
        CHECK(t, ykd_model_desc_max_stride(d) == 32 && ykd_model_desc_classes(d) == 80);
        ykd_model_desc_free(d);
    }
}

/* Our conv nodes in execution order against tools/yolo_layers.c's, which lists YOLOv8's
 * convolutions plainly: names, channels, kernel, stride and input size. */
static void test_against_yolo_layers(ykd_test *t)
{
    static const char scales[] = "nsmlx";
    for (int s = 0; s < 5; s++) {
        yolo_layer layers[512];
        size_t count = yolo_layers(scales[s], 640, 80, layers, 512);
        char name[2] = {scales[s], 0};
        ykd_model_desc *d = NULL;
        ykd_error err;
        if (!CHECK_OK(t, ykd_model_desc_builtin(name, 80, &d, &err), err))
            continue;
        const ykd_graph *g = d->graph;
        size_t j = 0, mismatches = 0;
        for (int k = 0; k < g->node_count; k++) {
            const ykd_gnode *n = &g->nodes[k];
            if (n->kind != YKD_NODE_CONV)
                continue;
            while (j < count && layers[j].kind != YOLO_CONV)
                j++;
            if (!CHECKF(t, j < count, "yolov8%c: more convolutions than yolo_layers lists",
                        scales[s]))
                break;
            const yolo_layer *l = &layers[j++];
            const ykd_gparam *w = &g->params[n->weight];
            size_t len = strlen(l->name);
            bool same = strncmp(w->name, l->name, len) == 0 && w->name[len] == '.' &&
                        w->dims[0] == l->cout && w->dims[1] == l->cin && w->dims[2] == l->k &&
                        n->s == l->stride && 640 / g->values[n->in].stride == l->h &&
                        n->bn == !l->plain;
            if (!same && mismatches++ < 3)
                CHECKF(t, false, "yolov8%c conv %d: %s [%d, %d, %d] stride %d differs from %s",
                       scales[s], k, w->name, w->dims[0], w->dims[1], w->dims[2], n->s,
                       l->name);
        }
        while (j < count && layers[j].kind != YOLO_CONV)
            j++;
        CHECKF(t, j == count, "yolov8%c: yolo_layers lists more convolutions", scales[s]);
        ykd_model_desc_free(d);
    }
}

/* Ultralytics' yolo11.yaml summaries (detection, COCO, 640): within 3% of the GFLOPs (ours
 * count the convolutions and the attention's products). */
static const published table11[] = {{"yolo11n", 2624080, 6.6},  {"yolo11s", 9458752, 21.7},
                                    {"yolo11m", 20114688, 68.5}, {"yolo11l", 25372160, 87.6},
                                    {"yolo11x", 56966176, 196.0}};

static void test_published_counts_yolo11(ykd_test *t)
{
    for (size_t i = 0; i < sizeof table11 / sizeof table11[0]; i++) {
        ykd_model_desc *d = NULL;
        ykd_error err;
        if (!CHECK_OK(t, ykd_model_desc_builtin(table11[i].scale, 80, &d, &err), err))
            continue;
        size_t params = ykd_model_desc_param_count(d);
        double gflops = ykd_model_desc_gflops(d, 640);
        CHECKF(t, params == table11[i].params, "%s: %zu parameters, published %zu",
               table11[i].scale, params, table11[i].params);
        CHECKF(t, fabs(gflops - table11[i].gflops) <= 0.03 * table11[i].gflops,
               "%s: %.2f GFLOPs, published %.1f", table11[i].scale, gflops, table11[i].gflops);
        CHECK(t, strcmp(ykd_model_desc_name(d), table11[i].scale) == 0);
        /* m, l and x force C3k blocks into every C3k2; n and s keep the file's choice */
        bool forced = strchr("mlx", table11[i].scale[6]) != NULL;
        CHECKF(t, d->layers[2].c3k == forced && d->layers[6].c3k,
               "%s: layer 2 C3k %d, layer 6 C3k %d", table11[i].scale, d->layers[2].c3k,
               d->layers[6].c3k);
        static const int heads[] = {2, 4, 4, 4, 6}; /* one per 64 of C2PSA's hidden channels */
        CHECK(t, !d->layers[23].legacy && d->layers[10].heads == heads[i]);
        ykd_model_desc_free(d);
    }
}

/* Names and shapes of YOLO11's new modules as in Ultralytics' state_dict. */
static void test_yolo11_names(ykd_test *t)
{
    static const struct {
        const char *name;
        int shape[4];
    } expected[] = {
        {"model.10.m.0.attn.qkv.conv.weight", {256, 128, 1, 1}},
        {"model.10.m.0.attn.pe.conv.weight", {128, 1, 3, 3}},
        {"model.10.m.0.attn.proj.conv.weight", {128, 128, 1, 1}},
        {"model.10.m.0.ffn.0.conv.weight", {256, 128, 1, 1}},
        {"model.10.m.0.ffn.1.bn.running_var", {128, 0, 0, 0}},
        {"model.23.cv3.0.0.0.conv.weight", {64, 1, 3, 3}},
        {"model.23.cv3.0.0.1.conv.weight", {80, 64, 1, 1}},
        {"model.23.cv3.2.1.0.conv.weight", {80, 1, 3, 3}},
        {"model.23.cv3.2.2.bias", {80, 0, 0, 0}},
        {"model.2.m.0.cv1.conv.weight", {8, 16, 3, 3}},
        {"model.6.m.0.cv3.conv.weight", {64, 64, 1, 1}},
        {"model.6.m.0.m.1.cv2.conv.weight", {32, 32, 3, 3}},
        {"model.23.dfl.conv.weight", {1, 16, 1, 1}},
    };
    ykd_model_desc *d = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_model_desc_builtin("yolo11n", 80, &d, &err), err))
        return;
    const ykd_graph *g = d->graph;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const ykd_gparam *found = NULL;
        for (int j = 0; j < g->param_count && !found; j++)
            if (strcmp(g->params[j].name, expected[i].name) == 0)
                found = &g->params[j];
        if (!CHECKF(t, found != NULL, "yolo11n has no %s", expected[i].name))
            continue;
        bool same = true;
        for (int k = 0; k < found->ndim; k++)
            same = same && found->shape[k] == expected[i].shape[k];
        CHECKF(t, same, "%s: [%d, %d, %d, %d]", expected[i].name, found->shape[0],
               found->shape[1], found->shape[2], found->shape[3]);
    }
    ykd_model_desc_free(d);
}

/* text with the first occurrence of from replaced by to. */
static char *edited_text(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    if (!at)
        return NULL;
    size_t size = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(size);
    snprintf(out, size, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}


typedef struct fault_case {
    const char *from, *to;
    const char *scale;
    const char *message;
} fault_case;

/* One case per kind of fault; each message must name the JSON path. */
static const fault_case faults[] = {
    /* syntax */
    {"\"nc\": 80,", "\"nc\": 80,,", "n", "model.json: not valid JSON (at line 3"},
    /* wrong JSON types */
    {"\"nc\": 80", "\"nc\": \"80\"", "n",
     "model.json: $.nc: expected a whole number, got a string"},
    {"[-1, 3, \"C2f\", [128, true]]", "[-1, \"3\", \"C2f\", [128, true]]", "n",
     "$.backbone[2].repeats: expected a whole number, got a string"},
    {"[-1, 1, \"Conv\", [64, 3, 2]]", "{\"from\": -1, \"repeats\": 1, \"module\": \"Conv\"}", "n",
     "$.backbone[0]: missing \"args\""},
    {"[-1, 3, \"C2f\", [128, true]]", "[-1, 3, \"C2f\", [128, 1]]", "n",
     "$.backbone[2].args[1]: expected true or false, got a number"},
    {"\"backbone\": [", "\"backbone\": {\"x\": [", "n", "not valid JSON"},
    {"  \"head\": [", "  \"hed\": [", "n", "$.hed: unknown key"},
    {"  \"head\": [", "  \"other\": 1, \"head\": [", "n", "$.other: unknown key"},
    /* unknown block */
    {"\"C2f\", [128, true]", "\"C3\", [128, true]", "n",
     "$.backbone[2].module: unknown module \"C3\""},
    /* wrong arity */
    {"\"Conv\", [64, 3, 2]", "\"Conv\", [64, 3, 2, 1]", "n",
     "$.backbone[0].args: Conv takes 1 to 3 arguments (c2, k, s), got 4"},
    {"[-1, 1, \"Conv\", [64, 3, 2]]", "[-1, 1, \"Conv\"]", "n",
     "$.backbone[0]: a layer is [from, repeats, module, args]; got 3 entries"},
    {"[[-1, 6], 1, \"Concat\", [1]]", "[[-1, 6], 1, \"Concat\", [2]]", "n",
     "$.head[1].args[0]: only concatenation along channels"},
    {"[-1, 1, \"Conv\", [64, 3, 2]]", "[-1, 2, \"Conv\", [64, 3, 2]]", "n",
     "$.backbone[0].repeats: Conv does not repeat (repeats must be 1, got 2)"},
    {"\"Conv\", [64, 3, 2]", "\"Conv\", [64, 4, 2]", "n",
     "$.backbone[0].args[1]: kernel size 4 must be odd"},
    /* references to later layers (or itself) */
    {"[[-1, 4], 1, \"Concat\", [1]]", "[[-1, 15], 1, \"Concat\", [1]]", "n",
     "$.head[4].from[1]: refers to layer 15, later than this layer (14)"},
    {"[[-1, 12], 1, \"Concat\", [1]]", "[[-1, 17], 1, \"Concat\", [1]]", "n",
     "$.head[7].from[1]: refers to this layer itself (17)"},
    {"[[15, 18, 21], 1, \"Detect\"", "[[15, 18, 23], 1, \"Detect\"", "n",
     "$.head[12].from[2]: refers to layer 23, later than this layer (22)"},
    {"[-1, 1, \"Conv\", [128, 3, 2]]", "[-3, 1, \"Conv\", [128, 3, 2]]", "n",
     "$.backbone[1].from: -3 reaches before the first layer"},
    /* channels and resolutions that do not line up */
    {"[[-1, 6], 1, \"Concat\", [1]]", "[[-1, 4], 1, \"Concat\", [1]]", "n",
     "$.head[1].from: Concat inputs do not line up: layer 10 is at stride 16"},
    {"[[15, 18, 21], 1, \"Detect\"", "[[18, 15, 21], 1, \"Detect\"", "n",
     "$.head[12].from: Detect levels must go from fine to coarse"},
    {"[[-1, 6], 1, \"Concat\", [1]]", "[[-1, 22], 1, \"Concat\", [1]]", "n",
     "refers to layer 22, later than this layer (11)"},
    {"[[15, 18, 21], 1, \"Detect\", [\"nc\"]]",
     "[[15, 18, 21], 1, \"Detect\", [\"nc\"]], [-2, 1, \"Conv\", [64, 3, 1]]", "n",
     "$.head[12].module: Detect must be the last layer (this is layer 22 of 24)"},
    {"[-1, 1, \"SPPF\", [1024, 5]]", "[[4, 6], 1, \"Detect\", [\"nc\"]]", "n",
     "$.head[0].from: reads layer 9, a Detect head, whose output is not a tensor"},
    {"[[15, 18, 21], 1, \"Detect\", [\"nc\"]]", "[-1, 1, \"Conv\", [64, 3, 1]]", "n",
     "$.head: the last layer must be a Detect head"},
    {"[-1, 1, \"nn.Upsample\", [null, 2, \"nearest\"]]",
     "[-1, 1, \"nn.Upsample\", [null, 2, \"bilinear\"]]", "n",
     "$.head[0].args[2]: only \"nearest\" upsampling is supported"},
    {"\"Detect\", [\"nc\"]", "\"Detect\", [20]", "n",
     "$.head[12].args[0]: Detect has 20 classes but $.nc is 80"},
    /* scales */
    {"\"nc\": 80,", "\"nc\": 80,", NULL, "$.scales: several scales are listed; choose one"},
    {"\"nc\": 80,", "\"nc\": 80,", "q", "$.scales: has no scale \"q\""},
    {"\"n\": [0.33, 0.25, 1024]", "\"n\": [0.33, -1, 1024]", "n",
     "$.scales.n[1]: -1 is out of range"},
};

/* The same for YOLO11's modules, on its built-in text at scale n (layer 10, C2PSA, reads 256
 * channels). */
static const fault_case faults11[] = {
    {"[-1, 2, \"C2PSA\", [1024]]", "[-1, 2, \"C2PSA\", [512]]", "n",
     "$.backbone[10].from: C2PSA keeps its channels: it reads 256 and c2 is 128"},
    {"[-1, 2, \"C2PSA\", [1024]]", "[-1, 2, \"C2PSA\", [1024, 0.2]]", "n",
     "$.backbone[10].from: C2PSA's 51 hidden channels make no attention head"},
    {"[-1, 2, \"C2PSA\", [1024]]", "[-1, 2, \"C2PSA\", [1024, \"half\"]]", "n",
     "$.backbone[10].args[1]: expected an expansion ratio, got a string"},
    {"[-1, 2, \"C2PSA\", [1024]]", "[-1, 2, \"C2PSA\", [1024, 0.5, 8]]", "n",
     "$.backbone[10].args: C2PSA takes 1 to 2 arguments (c2, e), got 3"},
    {"[256, false, 0.25]", "[256, 1, 0.25]", "n",
     "$.backbone[2].args[1]: expected true or false, got a number"},
    {"[256, false, 0.25]", "[256, false, 0.25, 1, true]", "n",
     "$.backbone[2].args: C3k2 takes 1 to 3 arguments (c2, c3k, e), got 5"},
    {"[256, false, 0.25]", "[256, false, 1.5]", "n",
     "$.backbone[2].args[2]: expansion 1.5 is out of range"},
    {"[256, false, 0.25]", "[256, false, 0.01]", "n",
     "$.backbone[2].from: C3k2 with 64 output channels and expansion 0.01 has 0 hidden "
     "channels"},
    {"[-1, 1, \"Conv\", [64, 3, 2]]", "[-1, 1, \"DWConv\", [64, 4, 2]]", "n",
     "$.backbone[0].args[1]: kernel size 4 must be odd"},
    {"[-1, 1, \"Conv\", [64, 3, 2]]", "[-1, 1, \"DWConv\", []]", "n",
     "$.backbone[0].args: DWConv takes 1 to 3 arguments (c2, k, s), got 0"},
    {"[-1, 1, \"SPPF\", [1024, 5]]", "[-1, 2, \"SPPF\", [1024, 5]]", "n",
     "$.backbone[9].repeats: SPPF does not repeat"},
};

static void check_faults(ykd_test *t, const char *source, const fault_case *faults,
                         size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const fault_case *c = &faults[i];
        char *text = edited_text(source, c->from, c->to);
        if (!CHECKF(t, text != NULL, "case %zu: '%s' is not in the built-in text", i, c->from))
            continue;
        ykd_model_desc *d = NULL;
        ykd_error err;
        ykd_model_desc_options o = {c->scale, 0};
        ykd_status st = ykd_model_desc_parse(text, strlen(text), "model.json", &o, &d, &err);
        CHECKF(t, st == YKD_ERR_FORMAT && d == NULL, "case %zu: status %s", i,
               ykd_status_name(st));
        if (st != YKD_OK)
            CHECK_CONTAINS(t, err.message, c->message);
        ykd_model_desc_free(d);
        free(text);
    }
}

static void test_description_faults(ykd_test *t)
{
    check_faults(t, ykd_builtin_yolov8_json, faults, sizeof faults / sizeof faults[0]);
    check_faults(t, ykd_builtin_yolo11_json, faults11, sizeof faults11 / sizeof faults11[0]);
    ykd_model_desc *d = NULL;
    ykd_error err;
    CHECK_STATUS(t, ykd_model_desc_builtin("q", 80, &d, &err), YKD_ERR_NOT_FOUND, err);
    CHECK_CONTAINS(t, err.message, "built in: n, s, m, l, x");
    CHECK_STATUS(t, ykd_model_desc_load("/nonexistent/model.json", NULL, &d, &err),
                 YKD_ERR_NOT_FOUND, err);
    CHECK_CONTAINS(t, err.message, "a .json description or a .safetensors file");
}

/* The resolved JSON parses to the same model; --nc changes only the head. */
static void test_resolved_round_trip(ykd_test *t)
{
    ykd_model_desc *a = NULL, *b = NULL, *c = NULL;
    ykd_error err;
    if (CHECK_OK(t, ykd_model_desc_builtin("yolov8s", 5, &a, &err), err)) {
        const char *json = ykd_model_desc_json(a);
        if (CHECK_OK(t, ykd_model_desc_parse(json, strlen(json), "resolved", NULL, &b, &err),
                     err)) {
            CHECK(t, strcmp(ykd_model_desc_json(a), ykd_model_desc_json(b)) == 0);
            CHECK(t, strcmp(ykd_model_desc_name(b), "yolov8s") == 0);
            CHECK(t, ykd_model_desc_param_count(a) == ykd_model_desc_param_count(b));
        }
        ykd_model_desc_options o = {NULL, 80};
        if (CHECK_OK(t, ykd_model_desc_parse(json, strlen(json), "resolved", &o, &c, &err),
                     err))
            CHECK(t, ykd_model_desc_param_count(c) == 11166560);
        cJSON *root = cJSON_Parse(json);
        CHECK(t, cJSON_GetNumberValue(cJSON_GetObjectItem(root, "width_multiple")) == 0.5);
        CHECK(t, cJSON_GetObjectItem(root, "scales") == NULL);
        cJSON_Delete(root);
    }
    ykd_model_desc_free(a);
    ykd_model_desc_free(b);
    ykd_model_desc_free(c);
    /* yolo11m's forced C3k blocks survive without the scale that forced them */
    a = b = NULL;
    if (CHECK_OK(t, ykd_model_desc_builtin("yolo11m", 80, &a, &err), err)) {
        const char *json = ykd_model_desc_json(a);
        if (CHECK_OK(t, ykd_model_desc_parse(json, strlen(json), "resolved", NULL, &b, &err),
                     err)) {
            CHECK(t, strcmp(ykd_model_desc_json(a), ykd_model_desc_json(b)) == 0);
            CHECK(t, ykd_model_desc_param_count(b) == 20114688 && b->layers[2].c3k);
        }
    }
    ykd_model_desc_free(a);
    ykd_model_desc_free(b);
}

/* A small model of one's own: object layers, explicit multiples, two levels, a plain Conv
 * between concat inputs, a concat that must copy (the same layer twice). */
static void test_custom_description(ykd_test *t)
{
    static const char json[] =
        "{\"name\": \"tiny\", \"nc\": 2, \"width_multiple\": 0.25, \"depth_multiple\": 0.5,"
        " \"backbone\": ["
        "  {\"from\": -1, \"repeats\": 1, \"module\": \"Conv\", \"args\": [32, 3, 2]},"
        "  [-1, 1, \"Conv\", [64, 3, 2]],"
        "  [-1, 2, \"C2f\", [64, true]],"
        "  [-1, 1, \"Conv\", [128, 3, 2]],"
        "  [-1, 1, \"SPPF\", [128, 3]]],"
        " \"head\": ["
        "  [-1, 1, \"nn.Upsample\", [null, 2, \"nearest\"]],"
        "  [[-1, 2, 2], 1, \"Concat\", [1]],"
        "  [-1, 1, \"C2f\", [64]],"
        "  [[7, 4], 1, \"Detect\", [\"nc\"]]]}";
    ykd_model_desc *d = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_model_desc_parse(json, strlen(json), "tiny.json", NULL, &d, &err), err))
        return;
    CHECK(t, strcmp(ykd_model_desc_name(d), "tiny") == 0);
    CHECK(t, ykd_model_desc_layer_count(d) == 9 && ykd_model_desc_max_stride(d) == 8);
    ykd_model_layer_info l;
    ykd_model_desc_layer(d, 2, 64, &l);
    CHECKF(t, l.repeats == 1 && l.channels == 16 && strcmp(l.args, "[16, 16, 1, True]") == 0,
           "C2f row: repeats %d, channels %d, args %s", l.repeats, l.channels, l.args);
    ykd_model_desc_layer(d, 6, 64, &l);
    CHECK(t, l.channels == 64 && l.stride == 4 && strcmp(l.from, "[-1, 2, 2]") == 0);
    /* the second read of layer 2 cannot be placed in the concat: one copy node */
    int copies = 0;
    for (int k = 0; k < d->graph->node_count; k++)
        copies += d->graph->nodes[k].kind == YKD_NODE_COPY;
    CHECK(t, copies == 1 && d->graph->levels == 2);
    ykd_model_desc_free(d);
}

/* YOLO11's modules in a description of one's own: DWConv takes gcd(c1, c2) groups; a C3k2
 * turns Detect's class branch into depthwise pairs; repeats scale C3k2 and C2PSA. */
static void test_custom_yolo11(ykd_test *t)
{
    static const char json[] =
        "{\"nc\": 3, \"depth_multiple\": 0.5,"
        " \"backbone\": ["
        "  [-1, 1, \"Conv\", [24, 3, 2]],"
        "  [-1, 1, \"DWConv\", [40, 3, 2]],"
        "  [-1, 2, \"C3k2\", [64, true, 0.5]],"
        "  [-1, 1, \"Conv\", [128, 3, 2]],"
        "  [-1, 3, \"C2PSA\", [128]]],"
        " \"head\": [[[2, 4], 1, \"Detect\", [\"nc\"]]]}";
    ykd_model_desc *d = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_model_desc_parse(json, strlen(json), "own.json", NULL, &d, &err), err))
        return;
    CHECK(t, d->layers[1].groups == 8 && d->layers[2].repeats == 1 && d->layers[4].repeats == 2);
    CHECK(t, d->layers[4].heads == 1 && d->layers[4].head_dim == 64 && d->layers[4].key_dim == 32);
    ykd_model_layer_info l;
    ykd_model_desc_layer(d, 2, 64, &l);
    CHECKF(t, strcmp(l.args, "[40, 64, 1, True, 0.5]") == 0, "C3k2 row: %s", l.args);
    int depthwise = 0, attention = 0;
    for (int k = 0; k < d->graph->node_count; k++) {
        const ykd_gnode *n = &d->graph->nodes[k];
        depthwise += n->kind == YKD_NODE_CONV && n->groups > 1;
        attention += n->kind == YKD_NODE_ATTENTION;
    }
    /* DWConv, 2 pe convs, 2 levels x 2 class-branch depthwise convs */
    CHECKF(t, depthwise == 7 && attention == 2, "%d depthwise convs, %d attention nodes",
           depthwise, attention);
    const ykd_gparam *w = NULL;
    for (int j = 0; j < d->graph->param_count && !w; j++)
        if (strcmp(d->graph->params[j].name, "model.1.conv.weight") == 0)
            w = &d->graph->params[j];
    CHECK(t, w && w->shape[0] == 40 && w->shape[1] == 3);
    ykd_model_desc_free(d);
}

static void test_info_command(ykd_test *t)
{
    static const struct {
        const char *scale, *params, *gflops;
    } rows[] = {{"n", "3,157,200 parameters", "8.7 GFLOPs at 640x640"},
                {"s", "11,166,560 parameters", "28.6 GFLOPs"},
                {"m", "25,902,640 parameters", "78.9 GFLOPs"}};
    for (int i = 0; i < 3; i++) {
        run_result r = run_cli("info", rows[i].scale, "--nc", "80", NULL);
        CHECK(t, r.code == 0);
        CHECK_CONTAINS(t, r.out, rows[i].params);
        CHECK_CONTAINS(t, r.out, rows[i].gflops);
        free_result(&r);
    }
    static const struct {
        const char *model, *params, *gflops;
    } rows11[] = {{"yolo11n", "2,624,080 parameters", "6.5 GFLOPs at 640x640"},
                  {"yolo11s", "9,458,752 parameters", "21.6 GFLOPs"},
                  {"yolo11m", "20,114,688 parameters", "68.1 GFLOPs"}};
    for (int i = 0; i < 3; i++) {
        run_result r = run_cli("info", rows11[i].model, "--nc", "80", "--imgsz", "640", NULL);
        CHECK(t, r.code == 0);
        CHECK_CONTAINS(t, r.out, rows11[i].params);
        CHECK_CONTAINS(t, r.out, rows11[i].gflops);
        if (i == 0) {
            CHECK_CONTAINS(t, r.out, "10  -1             1  C2PSA     [256, 256, 1]");
            CHECK_CONTAINS(t, r.out, "2   -1             1  C3k2      [32, 64, 1, False, 0.25]");
            CHECK_CONTAINS(t, r.out, "23  [16, 19, 22]   1  Detect    [80, [64, 128, 256]]");
        }
        free_result(&r);
    }
    run_result r = run_cli("info", "n", "--imgsz", "320", "--memory", "--batch", "4", NULL);
    CHECK(t, r.code == 0);
    CHECK_CONTAINS(t, r.out, "22  [15, 18, 21]   1  Detect    [80, [64, 128, 256]]");
    CHECK_CONTAINS(t, r.out, "[144, 2100]");
    CHECK_CONTAINS(t, r.out, "2.2 GFLOPs at 320x320");
    CHECK_CONTAINS(t, r.out, "planned inference peak, batch 4 at 320x320");
    CHECK_CONTAINS(t, r.out, "planned training  peak");
    free_result(&r);
    r = run_cli("info", "s", "--desc", NULL);
    cJSON *root = cJSON_Parse(r.out);
    CHECK(t, r.code == 0 && cJSON_IsObject(root));
    cJSON_Delete(root);
    free_result(&r);
    r = run_cli("info", "n", "--imgsz", "100", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "not a multiple of the model's stride 32");
    free_result(&r);
    r = run_cli("info", "yolov9", NULL);
    CHECK(t, r.code == 1);
    CHECK_CONTAINS(t, r.err, "cannot open 'yolov9'");
    free_result(&r);
    r = run_cli("info", NULL);
    CHECK(t, r.code == 2);
    free_result(&r);
}

static const ykd_test_case cases[] = {
    {"model desc: n/s/m/l/x parameters and GFLOPs as published", test_published_counts,
     YKD_TEST_HOST},
    {"model desc: convolutions as tools/yolo_layers.c lists them", test_against_yolo_layers,
     YKD_TEST_HOST},
    {"model desc: YOLO11 n/s/m/l/x parameters and GFLOPs as published",
     test_published_counts_yolo11, YKD_TEST_HOST},
    {"model desc: YOLO11's state_dict names and shapes", test_yolo11_names, YKD_TEST_HOST},
    {"model desc: YOLO11's modules in a description of one's own", test_custom_yolo11,
     YKD_TEST_HOST},
    {"model desc: every kind of fault refused with its JSON path", test_description_faults,
     YKD_TEST_HOST},
    {"model desc: the resolved JSON parses to the same model", test_resolved_round_trip,
     YKD_TEST_HOST},
    {"model desc: a description of one's own", test_custom_description, YKD_TEST_HOST},
    {"model desc: yolokd info", test_info_command, YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
