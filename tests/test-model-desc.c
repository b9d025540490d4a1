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

/* The built-in text with the first occurrence of from replaced by to. */
static char *edited(const char *from, const char *to)
{
    const char *text = ykd_builtin_yolov8_json, *at = strstr(text, from);
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
    {"\"nc\": 80", "\"nc\": \"80\"", "n", "model.json: $.nc: expected a whole number, got a string"},
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

static void test_description_faults(ykd_test *t)
{
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        const fault_case *c = &faults[i];
        char *text = edited(c->from, c->to);
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
