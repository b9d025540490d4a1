/* ONNX export: the ONNX checker accepts every exported file, and ONNX Runtime (CPU) running it
 * gives what yolokd's own forward and decode give, to 1e-4 of the output's scale (boxes: their
 * largest magnitude; probabilities: 1; raw heads: their largest magnitude), with a static and
 * a dynamic batch, square and non-square inputs, the decoded and the raw outputs, random
 * inputs and dataset images, YOLOv8 and YOLO11 (its grouped convolutions and attention); after
 * NMS the detections are the same. Refusals write nothing.
 *
 * onnx and onnxruntime are test-time references from PyPI (tools/onnx-venv puts them in a
 * venv; $YOLOKD_PYTHON names another Python). Without them the tests that need them say
 * SKIPPED with the reason, or fail when $YOLOKD_REQUIRE_ONNX is set (CI). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/export_bench.h"
#include "cli_run.h"
#include "core/fs.h"
#include "harness.h"
#include "train_fixtures.h"
#include "yolokd/eval.h"
#include "yolokd/export.h"
#include "yolokd/model.h"

#ifndef YKD_TEST_SOURCE_DIR
#error "meson passes the tests' source folder (onnx_run.py lives there)"
#endif

/* ---- ONNX Runtime through tests/onnx_run.py ---------------------------------------------- */

/* Whether the Python with onnx and onnxruntime is there; marks the test skipped (or failed
 * when CI requires it) when not. */
static bool onnx_runtime_ready(ykd_test *t)
{
    static int ready = -1;
    static char why[512];
    if (ready < 0) {
        char python[1024], command[2400];
        ykd_export_python(python, sizeof python);
        snprintf(command, sizeof command, "'%s' '%s/onnx_run.py' --probe >/dev/null 2>&1",
                 python, YKD_TEST_SOURCE_DIR);
        ready = system(command) == 0;
        snprintf(why, sizeof why,
                 "%.300s cannot import onnx, onnxruntime and numpy (run tools/onnx-venv, or set "
                 "YOLOKD_PYTHON)",
                 python);
    }
    if (!ready) {
        if (getenv("YOLOKD_REQUIRE_ONNX"))
            CHECKF(t, false, "%s", why);
        else
            ykd_test_skip(t, "%s", why);
    }
    return ready == 1;
}

static bool write_floats(ykd_test *t, const char *path, const float *x, size_t count)
{
    const void *parts[1] = {x};
    size_t sizes[1] = {count * sizeof *x};
    ykd_error err;
    return CHECK_OK(t, ykd_file_write_atomic(path, parts, sizes, 1, &err), err);
}

/* Runs model on input [n, c, h, w] in ONNX Runtime after the checker; the outputs land in
 * dir/ort.<name>.bin and the summary (shapes, metadata) is returned (cJSON_Delete it). */
static cJSON *ort_run(ykd_test *t, const char *dir, const char *model, const float *input, int n,
                      int c, int h, int w)
{
    char input_path[4200], out[4200], command[16000], python[1024];
    snprintf(input_path, sizeof input_path, "%s/input.bin", dir);
    snprintf(out, sizeof out, "%s/ort", dir);
    if (!write_floats(t, input_path, input, (size_t)n * c * h * w))
        return NULL;
    ykd_export_python(python, sizeof python);
    snprintf(command, sizeof command,
             "'%s' '%s/onnx_run.py' '%s' '%s' %d %d %d %d '%s' >'%s.log' 2>&1", python,
             YKD_TEST_SOURCE_DIR, model, input_path, n, c, h, w, out, out);
    int status = system(command);
    char log[4300], json[4300];
    snprintf(log, sizeof log, "%s.log", out);
    snprintf(json, sizeof json, "%s.json", out);
    void *text = NULL;
    size_t size = 0;
    ykd_error err;
    if (status != 0) {
        ykd_file_read_all(log, 1 << 20, &text, &size, &err);
        const char *s = text ? (const char *)text : "";
        size_t len = size > 700 ? 700 : size;
        CHECKF(t, false, "onnx checker or ONNX Runtime refused %s: %.*s", model, (int)len,
               size > 700 ? s + size - 700 : s);
        free(text);
        return NULL;
    }
    if (!CHECK_OK(t, ykd_file_read_all(json, 1 << 20, &text, &size, &err), err))
        return NULL;
    cJSON *summary = cJSON_ParseWithLength(text, size);
    free(text);
    CHECK(t, summary != NULL);
    return summary;
}

/* ONNX Runtime's output name, expected to hold count floats (malloc'd). */
static float *ort_output(ykd_test *t, const char *dir, const char *name, size_t count)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/ort.%s.bin", dir, name);
    void *data = NULL;
    size_t size = 0;
    ykd_error err;
    if (!CHECK_OK(t, ykd_file_read_all(path, (size_t)1 << 30, &data, &size, &err), err))
        return NULL;
    if (!CHECKF(t, size == count * sizeof(float), "%s: %zu bytes, expected %zu floats", path,
                size, count)) {
        free(data);
        return NULL;
    }
    return data;
}

static const char *meta(const cJSON *summary, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(summary, "metadata"), key);
    return cJSON_IsString(v) ? v->valuestring : "(missing)";
}

/* The shape of output index i (or the input when i < 0) as text, e.g. "[2, 6, 80]". */
static void shape_of(const cJSON *summary, int i, char *buf, size_t size)
{
    const cJSON *io = i < 0 ? cJSON_GetObjectItemCaseSensitive(summary, "input")
                            : cJSON_GetArrayItem(
                                  cJSON_GetObjectItemCaseSensitive(summary, "outputs"), i);
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(io, "shape");
    size_t used = (size_t)snprintf(buf, size, "[");
    int k = 0;
    for (const cJSON *d = dims ? dims->child : NULL; d && used < size; d = d->next, k++) {
        if (cJSON_IsNumber(d))
            used += (size_t)snprintf(buf + used, size - used, "%s%d", k ? ", " : "",
                                     d->valueint);
        else
            used += (size_t)snprintf(buf + used, size - used, "%s%s", k ? ", " : "",
                                     cJSON_IsString(d) ? d->valuestring : "?");
    }
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* ---- yolokd's side ------------------------------------------------------------------------ */

/* A model of description json (or a built-in scale) with random BN statistics and affine
 * parameters, so that folding them into the convolutions matters; spread: the class branch's
 * last conv too, weights and biases in [-2, 2], so that class probabilities spread over (0, 1)
 * and no two anchors tie, and an attention's qkv weights in [-1, 1], so that its softmax is far
 * from uniform (at the initial scale each position attends to all nearly alike, which would
 * hide a transposed or mis-scaled product). */
static ykd_model *make_model(ykd_test *t, const char *json, const char *scale, int nc,
                             uint64_t seed, bool spread)
{
    ykd_model_desc *desc = NULL;
    ykd_model *m = NULL;
    ykd_error err;
    bool ok = json ? CHECK_OK(t, ykd_model_desc_parse(json, strlen(json), "tiny.json", NULL,
                                                      &desc, &err),
                              err)
                   : CHECK_OK(t, ykd_model_desc_builtin(scale, nc, &desc, &err), err);
    ok = ok && CHECK_OK(t, ykd_model_create(t->device, desc, seed, &m, &err), err);
    ykd_model_desc_free(desc);
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, seed);
    for (size_t i = 0; ok && i < ykd_model_param_count(m); i++) {
        const ykd_model_param *p = ykd_model_param_at(m, i);
        float lo = p->kind == YKD_PARAM_BN_WEIGHT ? 0.5f : p->kind == YKD_PARAM_BN_VAR ? 0.3f
                                                                                       : -0.3f;
        float hi = p->kind == YKD_PARAM_BN_WEIGHT ? 1.5f : p->kind == YKD_PARAM_BN_VAR ? 2.0f
                                                                                       : 0.3f;
        /* the class branch's last conv ("model.22.cv3.0.2.weight") */
        size_t len = strlen(p->name);
        bool class_conv = strstr(p->name, ".cv3.") &&
                          ((len > 9 && strcmp(p->name + len - 9, ".2.weight") == 0) ||
                           (len > 7 && strcmp(p->name + len - 7, ".2.bias") == 0));
        bool qkv = strstr(p->name, ".attn.qkv.conv.weight") != NULL;
        if (class_conv)
            lo = -2.0f, hi = 2.0f;
        if (qkv)
            lo = -3.0f, hi = 3.0f;
        if (p->kind != YKD_PARAM_BN_WEIGHT && p->kind != YKD_PARAM_BN_BIAS &&
            p->kind != YKD_PARAM_BN_MEAN && p->kind != YKD_PARAM_BN_VAR &&
            !(spread && (class_conv || qkv)))
            continue;
        size_t count = ykd_tensor_numel(&p->value);
        float *v = malloc(count * sizeof *v);
        ok = CHECK(t, v != NULL);
        for (size_t k = 0; ok && k < count; k++)
            v[k] = ykd_test_rng_uniform(&rng, lo, hi);
        ok = ok && CHECK_OK(t, ykd_tensor_write(&p->value, v, &err), err);
        free(v);
    }
    if (ok)
        ykd_model_params_changed(m);
    if (!ok) {
        ykd_model_free(m);
        return NULL;
    }
    return m;
}

static float *random_images(int n, int c, int h, int w, uint64_t seed)
{
    size_t count = (size_t)n * c * h * w;
    float *x = malloc(count * sizeof *x);
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, seed);
    for (size_t i = 0; x && i < count; i++)
        x[i] = ykd_test_rng_uniform(&rng, 0.0f, 1.0f);
    return x;
}

/* yolokd's inference forward on host images [n, c, h, w]. */
static bool forward(ykd_test *t, ykd_model *m, const float *images, int n, int h, int w)
{
    ykd_tensor x = {0};
    ykd_error err;
    int c = ykd_model_desc_input_channels(ykd_model_get_desc(m));
    bool ok = CHECK_OK(t, ykd_tensor_alloc(t->device, n, c, h, w, &x, &err), err) &&
              CHECK_OK(t, ykd_tensor_write(&x, images, &err), err) &&
              CHECK_OK(t, ykd_model_forward(m, &x, YKD_MODEL_INFERENCE, &err), err);
    ykd_tensor_free(&x);
    return ok;
}

/* The Detect levels of the last forward, as the detector takes them. */
typedef struct head_levels {
    int count;
    ykd_tensor box[YKD_MODEL_MAX_LEVELS], cls[YKD_MODEL_MAX_LEVELS];
    ykd_yolo_level levels[YKD_MODEL_MAX_LEVELS];
} head_levels;

static int level_digit(int stride)
{
    int shift = 0;
    while ((1 << shift) < stride)
        shift++;
    return shift;
}

static bool get_levels(ykd_test *t, const ykd_model *m, head_levels *h)
{
    ykd_error err;
    h->count = ykd_model_level_count(m);
    for (int l = 0; l < h->count; l++) {
        char box[16], cls[16];
        int stride = ykd_model_level_stride(m, l);
        snprintf(box, sizeof box, "box%d", level_digit(stride));
        snprintf(cls, sizeof cls, "cls%d", level_digit(stride));
        if (!CHECK_OK(t, ykd_model_output(m, box, &h->box[l], &err), err) ||
            !CHECK_OK(t, ykd_model_output(m, cls, &h->cls[l], &err), err))
            return false;
        h->levels[l] = (ykd_yolo_level){&h->box[l], &h->cls[l], stride};
    }
    return true;
}

static size_t anchor_count(const ykd_model *m, int h, int w)
{
    size_t anchors = 0;
    for (int l = 0; l < ykd_model_level_count(m); l++) {
        int s = ykd_model_level_stride(m, l);
        anchors += (size_t)(h / s) * (w / s);
    }
    return anchors;
}

/* yolokd's forward and decode of images, in the export layout (malloc'd). */
static float *yolokd_decoded(ykd_test *t, ykd_model *m, const float *images, int n, int h, int w)
{
    size_t count = (size_t)n * (4 + ykd_model_classes(m)) * anchor_count(m, h, w);
    float *out = malloc(count * sizeof *out);
    ykd_detector *d = NULL;
    head_levels lv;
    ykd_error err;
    bool ok = CHECK(t, out != NULL) && forward(t, m, images, n, h, w) && get_levels(t, m, &lv) &&
              CHECK_OK(t, ykd_detector_init(t->device, ykd_model_classes(m), &d, &err), err) &&
              CHECK_OK(t, ykd_detector_decode(d, lv.levels, lv.count, out, count, &err), err);
    ykd_detector_free(d);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* |got - want| <= 1e-4 of the scale, box rows against the boxes' largest magnitude, class
 * rows against 1 (they are probabilities). */
static void compare_decoded(ykd_test *t, const float *got, const float *want, int n, int nc,
                            size_t anchors, const char *what)
{
    size_t rows = 4 + (size_t)nc;
    double box_scale = 0, worst_box = 0, worst_cls = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < 4 * anchors; k++)
            box_scale = fmax(box_scale, fabs(want[i * rows * anchors + k]));
    for (int i = 0; i < n; i++)
        for (size_t r = 0; r < rows; r++)
            for (size_t a = 0; a < anchors; a++) {
                size_t k = (i * rows + r) * anchors + a;
                double d = fabs((double)got[k] - want[k]);
                double *worst = r < 4 ? &worst_box : &worst_cls;
                *worst = isnan(d) ? INFINITY : fmax(*worst, d);
            }
    CHECKF(t, box_scale > 1 && worst_box <= 1e-4 * box_scale,
           "%s: boxes differ by up to %g (scale %g)", what, worst_box, box_scale);
    CHECKF(t, worst_cls <= 1e-4, "%s: class probabilities differ by up to %g", what, worst_cls);
}

/* Runs the exported path in ONNX Runtime on images [n, 3, h, w] and compares its output0 with
 * yolokd's forward and decode of m; the run's summary (shapes, metadata) for further checks,
 * NULL when something failed (already reported). */
static cJSON *check_decoded(ykd_test *t, ykd_model *m, const char *dir, const char *path,
                            const float *images, int n, int h, int w, const char *what)
{
    int nc = ykd_model_classes(m);
    size_t anchors = anchor_count(m, h, w);
    cJSON *summary = ort_run(t, dir, path, images, n, 3, h, w);
    float *want = summary ? yolokd_decoded(t, m, images, n, h, w) : NULL;
    float *got = want ? ort_output(t, dir, "output0", (size_t)n * (4 + nc) * anchors) : NULL;
    if (got) {
        compare_decoded(t, got, want, n, nc, anchors, what);
    } else {
        cJSON_Delete(summary);
        summary = NULL;
    }
    free(want);
    free(got);
    return summary;
}

/* The same on random images in [0, 1] of this seed. */
static cJSON *check_decoded_random(ykd_test *t, ykd_model *m, const char *dir, const char *path,
                                   int n, int h, int w, uint64_t seed, const char *what)
{
    float *images = random_images(n, 3, h, w, seed);
    cJSON *summary = CHECK(t, images != NULL)
                         ? check_decoded(t, m, dir, path, images, n, h, w, what)
                         : NULL;
    free(images);
    return summary;
}

/* ---- the tests ------------------------------------------------------------------------------ */

static const char *const tiny_names[2] = {"circle", "it's \\ a \"square\""};

/* m exported with options o as dir/model.onnx (path), dir a new temporary folder ("" when none
 * was made, which ykd_test_rmtree passes over); false (a failed check) when it could not be. */
static bool export_to_temp(ykd_test *t, ykd_model *m, const ykd_export_options *o, char *dir,
                           char *path)
{
    ykd_error err;
    dir[0] = '\0';
    if (!m || !ykd_test_mkdtemp(t, dir, 4096))
        return false;
    snprintf(path, 4200, "%s/model.onnx", dir);
    return CHECK_OK(t, ykd_export_onnx(m, o, path, &err), err);
}

/* m exported with a static batch of 2 at h x w (decoded) into a folder of its own, which
 * holds the file alone afterwards (no temporary left), then check_decoded_random. */
static cJSON *check_static(ykd_test *t, ykd_model *m, int h, int w, int opset, uint64_t seed,
                           const char *what)
{
    char dir[4096], path[4200];
    cJSON *summary = NULL;
    ykd_export_options o;
    ykd_export_options_default(&o);
    o.height = h, o.width = w, o.batch = 2, o.opset = opset;
    if (export_to_temp(t, m, &o, dir, path)) {
        CHECKF(t, ykd_test_count_files(dir) == 1, "%d files: a temporary file left behind?",
               ykd_test_count_files(dir));
        summary = check_decoded_random(t, m, dir, path, 2, h, w, seed, what);
    }
    ykd_test_rmtree(dir);
    return summary;
}

/* Static batch 2, square input, opset 17, decoded: the checker, ONNX Runtime against yolokd,
 * the layout and the metadata. */
static void test_decoded_static(ykd_test *t)
{
    if (!onnx_runtime_ready(t))
        return;
    ykd_model *m = make_model(t, tx_tiny_model_json, NULL, 0, 11, false);
    ykd_error err;
    cJSON *summary = m && CHECK_OK(t, ykd_model_set_class_names(m, tiny_names, 2, &err), err)
                         ? check_static(t, m, 64, 64, 17, 3, "static batch 2, 64x64")
                         : NULL;
    if (summary) {
        char shape[128];
        shape_of(summary, 0, shape, sizeof shape);
        CHECKF(t, strcmp(shape, "[2, 6, 80]") == 0, "output0 is %s", shape);
        shape_of(summary, -1, shape, sizeof shape);
        CHECKF(t, strcmp(shape, "[2, 3, 64, 64]") == 0, "images is %s", shape);
        CHECK(t, strcmp(meta(summary, "names"),
                        "{0: 'circle', 1: 'it\\'s \\\\ a \"square\"'}") == 0);
        CHECK(t, strcmp(meta(summary, "stride"), "16") == 0);
        CHECK(t, strcmp(meta(summary, "strides"), "[8, 16]") == 0);
        CHECK(t, strcmp(meta(summary, "imgsz"), "[64, 64]") == 0);
        CHECK(t, strcmp(meta(summary, "batch"), "2") == 0);
        CHECK(t, strcmp(meta(summary, "dynamic"), "False") == 0);
        CHECK(t, strcmp(meta(summary, "task"), "detect") == 0);
        CHECK(t, strcmp(meta(summary, "output"), "decoded") == 0);
        CHECK(t, strcmp(meta(summary, "yolokd_version"), ykd_version()) == 0);
        CHECK(t, cJSON_GetObjectItemCaseSensitive(summary, "opset")->valueint == 17);
    }
    cJSON_Delete(summary);
    ykd_model_free(m);
}

/* The built-in model name (6 classes) saved to a weights file and exported by the command with
 * a dynamic batch and a non-square input 64x96 at opset: ONNX Runtime = yolokd at batches 3
 * and 1. */
static void check_dynamic_command(ykd_test *t, const char *name, uint64_t seed, bool spread,
                                  int opset)
{
    if (!onnx_runtime_ready(t))
        return;
    char dir[4096], weights[4200], path[4200], spec[16], opset_text[16], printed[128];
    ykd_error err;
    ykd_model *m = make_model(t, NULL, name, 6, seed, spread);
    if (!m || !ykd_test_mkdtemp(t, dir, sizeof dir)) {
        ykd_model_free(m);
        return;
    }
    snprintf(weights, sizeof weights, "%s/student.safetensors", dir);
    snprintf(path, sizeof path, "%s/student.onnx", dir);
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    snprintf(opset_text, sizeof opset_text, "%d", opset);
    snprintf(printed, sizeof printed,
             "input [batch, 3, 64, 96], opset %d, decoded output, 6 classes", opset);
    bool ok = CHECK_OK(t, ykd_model_save(m, weights, &err), err);
    run_result r = run_cli("export", "--weights", weights, "--imgsz", "64,96", "--dynamic",
                           "--opset", opset_text, "--out", path, "--device", spec, NULL);
    ok = ok && CHECKF(t, r.code == 0, "export exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, printed);
    free_result(&r);
    const int batches[2] = {3, 1};
    for (int b = 0; ok && b < 2; b++) {
        char what[64], shape[128];
        snprintf(what, sizeof what, "dynamic batch at %d, 64x96", batches[b]);
        cJSON *summary = check_decoded_random(t, m, dir, path, batches[b], 64, 96,
                                              20 + (uint64_t)batches[b], what);
        if (summary) {
            shape_of(summary, -1, shape, sizeof shape);
            CHECKF(t, strcmp(shape, "[batch, 3, 64, 96]") == 0, "images is %s", shape);
            CHECK(t, strcmp(meta(summary, "batch"), "1") == 0);
            CHECK(t, strcmp(meta(summary, "dynamic"), "True") == 0);
            CHECK(t, strcmp(meta(summary, "imgsz"), "[64, 96]") == 0);
            CHECK(t, strcmp(meta(summary, "names"), "{0: 'class0', 1: 'class1', 2: 'class2', "
                                                    "3: 'class3', 4: 'class4', 5: 'class5'}") ==
                         0);
        }
        ok = summary != NULL;
        cJSON_Delete(summary);
    }
    ykd_model_free(m);
    ykd_test_rmtree(dir);
}

/* The demo student's architecture (YOLOv8n, 6 classes) through the command. */
static void test_dynamic_nonsquare(ykd_test *t)
{
    check_dynamic_command(t, "n", 5, false, 17);
}

/* YOLO11's modules where the attention sees the image: at stride 8, over 8x12 positions of a
 * 64x96 input, in 2 heads (a C2PSA of 256 channels has 128 hidden channels, one head per 64),
 * with a depthwise DWConv in the backbone and YOLO11's class branch (a C3k2 came first). In
 * yolo11n the attention runs at stride 32 on features that hardly differ from one position to
 * the next, so there its softmax is nearly uniform and would hide a wrong product. */
static const char attention_model_json[] =
    "{\"name\": \"attention-tiny\", \"nc\": 3, \"width_multiple\": 1.0, \"depth_multiple\": 1.0,\n"
    " \"backbone\": [[-1, 1, \"Conv\", [16, 3, 2]],\n"
    "              [-1, 1, \"DWConv\", [16, 3, 2]],\n"
    "              [-1, 1, \"Conv\", [256, 3, 2]],\n"
    "              [-1, 1, \"C2PSA\", [256]],\n"
    "              [-1, 1, \"Conv\", [32, 3, 2]],\n"
    "              [-1, 1, \"C3k2\", [32, false, 0.25]]],\n"
    " \"head\": [[[3, 5], 1, \"Detect\", [\"nc\"]]]}\n";

/* That model, static batch 2, 64x96, decoded, at opset 11 (whose Softmax flattens the axes from
 * its axis on) and 17. */
static void test_attention_static(ykd_test *t)
{
    if (!onnx_runtime_ready(t))
        return;
    ykd_model *m = make_model(t, attention_model_json, NULL, 0, 10, true);
    cJSON_Delete(check_static(t, m, 64, 96, 11, 41, "attention, opset 11, batch 2, 64x96"));
    cJSON_Delete(check_static(t, m, 64, 96, 17, 41, "attention, opset 17, batch 2, 64x96"));
    ykd_model_free(m);
}

/* YOLO11n (6 classes) through the command at opset 11: its grouped convolutions (the class
 * branch's and the attention's positional encoding) and C2PSA's attention, whose reshapes
 * must hold for any batch. */
static void test_yolo11_dynamic(ykd_test *t)
{
    check_dynamic_command(t, "yolo11n", 8, true, 11);
}

/* YOLO11n (3 classes) with a static batch of 2 and a non-square 96x128 input (C2PSA attends
 * over 3x4 positions), opset 17, decoded. */
static void test_yolo11_static(ykd_test *t)
{
    if (!onnx_runtime_ready(t))
        return;
    ykd_model *m = make_model(t, NULL, "yolo11n", 3, 9, true);
    cJSON *summary = check_static(t, m, 96, 128, 17, 31, "yolo11n, batch 2, 96x128");
    if (summary) {
        char shape[128];
        shape_of(summary, 0, shape, sizeof shape);
        CHECKF(t, strcmp(shape, "[2, 7, 252]") == 0, "output0 is %s", shape);
        CHECK(t, strcmp(meta(summary, "model"), "yolo11n") == 0);
        CHECK(t, strcmp(meta(summary, "strides"), "[8, 16, 32]") == 0);
    }
    cJSON_Delete(summary);
    ykd_model_free(m);
}

/* --raw at opset 11 and a non-square input: each level's head tensor against
 * ykd_model_output's, to 1e-4 of its largest magnitude. */
static void test_raw_levels(ykd_test *t)
{
    if (!onnx_runtime_ready(t))
        return;
    char dir[4096], path[4200];
    ykd_model *m = make_model(t, tx_tiny_model_json, NULL, 0, 12, false);
    float *images = random_images(1, 3, 96, 64, 4);
    cJSON *summary = NULL;
    ykd_error err;
    ykd_export_options o;
    ykd_export_options_default(&o);
    o.height = 96, o.width = 64, o.opset = 11, o.raw = true;
    if (!export_to_temp(t, m, &o, dir, path) ||
        !(summary = ort_run(t, dir, path, images, 1, 3, 96, 64)) ||
        !forward(t, m, images, 1, 96, 64))
        goto done;
    CHECK(t, strcmp(meta(summary, "output"), "raw") == 0);
    CHECK(t, cJSON_GetObjectItemCaseSensitive(summary, "opset")->valueint == 11);
    for (int l = 0; l < ykd_model_level_count(m); l++) {
        char name[16];
        snprintf(name, sizeof name, "head%d", level_digit(ykd_model_level_stride(m, l)));
        ykd_tensor head;
        if (!CHECK_OK(t, ykd_model_output(m, name, &head, &err), err))
            break;
        size_t count = ykd_tensor_numel(&head);
        float *want = malloc(count * sizeof *want), *got = ort_output(t, dir, name, count);
        if (want && got && CHECK_OK(t, ykd_tensor_read(&head, want, &err), err)) {
            double scale = 0, worst = 0;
            for (size_t i = 0; i < count; i++) {
                scale = fmax(scale, fabs(want[i]));
                worst = fmax(worst, fabs((double)got[i] - want[i]));
            }
            CHECKF(t, scale > 0 && worst <= 1e-4 * scale, "%s differs by up to %g (scale %g)",
                   name, worst, scale);
        }
        free(want);
        free(got);
    }
done:
    cJSON_Delete(summary);
    free(images);
    ykd_model_free(m);
    ykd_test_rmtree(dir);
}

/* The dataset's validation images, letterboxed to size, as [count, 3, size, size]. */
static float *dataset_images(ykd_test *t, const char *root, int size, int *count)
{
    ykd_dataset *ds = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_dataset_open(root, YKD_SPLIT_VAL, NULL, &ds, &err), err))
        return NULL;
    *count = (int)ykd_dataset_count(ds);
    size_t plane = (size_t)size * size;
    float *x = malloc((size_t)*count * 3 * plane * sizeof *x);
    bool ok = CHECK(t, x != NULL && *count > 0);
    for (int i = 0; ok && i < *count; i++) {
        ykd_image img = {0};
        ykd_box *boxes = NULL;
        size_t boxes_count = 0;
        ok = CHECK_OK(t, ykd_sample_build(ds, (size_t)i, size, false, false, NULL, 0, &img,
                                          &boxes, &boxes_count, &err),
                      err);
        for (int c = 0; ok && c < 3; c++)
            for (size_t p = 0; p < plane; p++)
                x[((size_t)i * 3 + c) * plane + p] = img.pixels[p * 3 + c] / 255.0f;
        free(boxes);
        ykd_image_free(&img);
    }
    ykd_dataset_close(ds);
    if (!ok) {
        free(x);
        return NULL;
    }
    return x;
}

/* One image's candidates from an export-layout output, as the detector takes them from its
 * own decode (each anchor's best class, over conf), then yolokd's NMS. */
static bool nms_of_output(ykd_test *t, const float *out, int nc, size_t anchors,
                          const ykd_detect_options *o, ykd_detections *dets)
{
    ykd_detection *c = malloc(anchors * sizeof *c);
    size_t count = 0;
    ykd_error err;
    if (!CHECK(t, c != NULL))
        return false;
    for (size_t a = 0; a < anchors; a++) {
        int best = 0;
        for (int k = 1; k < nc; k++)
            if (out[(4 + (size_t)k) * anchors + a] > out[(4 + (size_t)best) * anchors + a])
                best = k;
        float score = out[(4 + (size_t)best) * anchors + a];
        float cx = out[a], cy = out[anchors + a], w = out[2 * anchors + a],
              h = out[3 * anchors + a];
        if (score > o->conf)
            c[count++] = (ykd_detection){cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score,
                                         best};
    }
    bool ok = CHECK_OK(t, ykd_nms(c, count, o, &dets->items, &dets->count, &err), err);
    free(c);
    return ok;
}

/* m exported with a batch of n images of 64x64: ONNX Runtime's output through yolokd's NMS
 * (as `yolokd detect` runs it) gives the detections yolokd's own detector gives. */
static void compare_detections(ykd_test *t, ykd_model *m, const char *dir, const float *images,
                               int n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/nms.onnx", dir);
    int nc = ykd_model_classes(m);
    size_t anchors = anchor_count(m, 64, 64), rows = 4 + (size_t)nc;
    ykd_export_options eo;
    ykd_export_options_default(&eo);
    eo.height = eo.width = 64, eo.batch = n;
    ykd_detect_options o;
    ykd_detect_options_default(&o);
    o.conf = 0.25f, o.multi_label = false;
    ykd_detections yk[8] = {{0}}, ort[8] = {{0}};
    ykd_detector *d = NULL;
    head_levels lv;
    ykd_error err;
    cJSON *summary = NULL;
    float *got = NULL;
    bool ok = CHECK(t, n <= 8) && CHECK_OK(t, ykd_export_onnx(m, &eo, path, &err), err) &&
              (summary = ort_run(t, dir, path, images, n, 3, 64, 64)) != NULL &&
              (got = ort_output(t, dir, "output0", (size_t)n * rows * anchors)) != NULL &&
              forward(t, m, images, n, 64, 64) && get_levels(t, m, &lv) &&
              CHECK_OK(t, ykd_detector_init(t->device, nc, &d, &err), err) &&
              CHECK_OK(t, ykd_detector_run(d, lv.levels, lv.count, &o, NULL, yk, &err), err);
    size_t total = 0;
    for (int i = 0; ok && i < n; i++) {
        ok = nms_of_output(t, got + (size_t)i * rows * anchors, nc, anchors, &o, &ort[i]);
        ok = ok && CHECKF(t, ort[i].count == yk[i].count,
                          "image %d: %zu detections from ONNX Runtime, %zu from yolokd", i,
                          ort[i].count, yk[i].count);
        total += yk[i].count;
        for (size_t k = 0; ok && k < yk[i].count; k++) {
            const ykd_detection *a = &ort[i].items[k], *b = &yk[i].items[k];
            double dx = fmax(fmax(fabs(a->x1 - b->x1), fabs(a->y1 - b->y1)),
                             fmax(fabs(a->x2 - b->x2), fabs(a->y2 - b->y2)));
            ok = CHECKF(t, a->cls == b->cls && fabs(a->score - b->score) <= 1e-4 &&
                               dx <= 64 * 1e-4,
                        "image %d detection %zu: class %d score %g vs class %d score %g, boxes "
                        "%g apart",
                        i, k, a->cls, a->score, b->cls, b->score, dx);
        }
    }
    CHECKF(t, !ok || total >= (size_t)n, "only %zu detections on %d images: nothing compared",
           total, n);
    ykd_detections_free(yk, 8);
    ykd_detections_free(ort, 8);
    ykd_detector_free(d);
    cJSON_Delete(summary);
    free(got);
}

/* The dataset's validation images: a tiny model trained for an epoch and exported by the
 * command matches yolokd's output. After NMS ONNX Runtime's detections are yolokd's, for a
 * model whose head biases spread the scores (the one-epoch model's scores all lie within 1e-6
 * of each other, so their order is rounding's, in any two implementations). */
static void test_dataset_detections(ykd_test *t)
{
    if (!onnx_runtime_ready(t))
        return;
    tx_world w;
    if (!tx_world_make(t, &w))
        return;
    char spec[16], run[4200], weights[4300], path[4300], batch[16];
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    snprintf(run, sizeof run, "%s/run", w.dir);
    snprintf(weights, sizeof weights, "%s/best.safetensors", run);
    snprintf(path, sizeof path, "%s/best.onnx", run);
    int n = 0;
    float *images = dataset_images(t, w.data, 64, &n);
    ykd_model *m = NULL;
    cJSON *summary = NULL;
    ykd_error err;
    run_result r = run_cli("train", "--model", w.model, "--data", w.data, "--out", run,
                           "--epochs", "1", "--batch", "4", "--imgsz", "64", "--workers", "1",
                           "--device", spec, NULL);
    bool ok = images && CHECKF(t, r.code == 0, "train: %s", r.err);
    free_result(&r);
    snprintf(batch, sizeof batch, "%d", n);
    r = run_cli("export", "--weights", weights, "--imgsz", "64", "--batch", batch, "--device",
                spec, NULL);
    ok = ok && CHECKF(t, r.code == 0, "export: %s", r.err);
    CHECK_CONTAINS(t, r.out, path);
    free_result(&r);
    ok = ok && CHECK_OK(t, ykd_model_load(t->device, weights, &m, &err), err);
    ok = ok && (summary = check_decoded(t, m, w.dir, path, images, n, 64, 64,
                                        "trained model, dataset images")) != NULL;
    if (ok)
        CHECK(t, strcmp(meta(summary, "names"), "{0: 'circle', 1: 'square'}") == 0);
    ykd_model_free(m);
    /* random images: the synthetic ones' flat backgrounds give many anchors the same score,
     * whose order is rounding's */
    m = ok ? make_model(t, tx_tiny_model_json, NULL, 0, 7, true) : NULL;
    float *noise = random_images(n, 3, 64, 64, 99);
    if (m && noise)
        compare_detections(t, m, w.dir, noise, n);
    free(noise);
    cJSON_Delete(summary);
    free(images);
    ykd_model_free(m);
    tx_world_free(&w);
}

/* The README's ONNX Runtime example (the first python block of its Export section), run as
 * written beside a student.onnx and an image.png of the dataset: it prints boxes of the
 * dataset's classes. */
static void test_readme_example(ykd_test *t)
{
    if (!onnx_runtime_ready(t))
        return;
    char readme[4200], example[4300], onnx[4300], image[4300], command[16000], python[1024];
    snprintf(readme, sizeof readme, "%s/../README.md", YKD_TEST_SOURCE_DIR);
    void *text = NULL;
    size_t size = 0;
    ykd_error err;
    tx_world w;
    if (!CHECK_OK(t, ykd_file_read_all(readme, 1 << 24, &text, &size, &err), err))
        return;
    char *doc = text, *section = strstr(doc, "\n## Export\n");
    char *start = section ? strstr(section, "```python\n") : NULL;
    char *end = start ? strstr(start + 10, "\n```\n") : NULL;
    if (!CHECKF(t, end != NULL, "README.md has no python block under ## Export") ||
        !tx_world_make(t, &w)) {
        free(text);
        return;
    }
    snprintf(example, sizeof example, "%s/example.py", w.dir);
    snprintf(onnx, sizeof onnx, "%s/student.onnx", w.dir);
    snprintf(image, sizeof image, "%s/image.png", w.dir);
    start += 10;
    const void *parts[1] = {start};
    size_t sizes[1] = {(size_t)(end - start) + 1};
    ykd_model *m = make_model(t, tx_tiny_model_json, NULL, 0, 7, true);
    ykd_dataset *ds = NULL;
    ykd_image img = {0};
    ykd_export_options o;
    ykd_export_options_default(&o);
    o.height = o.width = 64;
    bool ok = m && CHECK_OK(t, ykd_file_write_atomic(example, parts, sizes, 1, &err), err) &&
              CHECK_OK(t, ykd_model_set_class_names(m, tiny_names, 2, &err), err) &&
              CHECK_OK(t, ykd_export_onnx(m, &o, onnx, &err), err) &&
              CHECK_OK(t, ykd_dataset_open(w.data, YKD_SPLIT_VAL, NULL, &ds, &err), err) &&
              CHECK_OK(t, ykd_dataset_load_image(ds, 0, &img, &err), err) &&
              CHECK_OK(t, ykd_png_write(image, &img, &err), err);
    free(text);
    text = NULL;
    if (ok) {
        ykd_export_python(python, sizeof python);
        snprintf(command, sizeof command, "cd '%s' && '%s' example.py >out.txt 2>&1", w.dir,
                 python);
        int status = system(command);
        snprintf(example, sizeof example, "%s/out.txt", w.dir);
        ok = CHECK_OK(t, ykd_file_read_all(example, 1 << 20, &text, &size, &err), err);
        const char *out = ok ? text : "";
        CHECKF(t, status == 0, "the README's example failed: %.800s", out);
        CHECKF(t, strstr(out, "circle ") || strstr(out, "it's \\ a \"square\" "),
               "the README's example printed no box: %.800s", out);
    }
    free(text);
    ykd_image_free(&img);
    ykd_dataset_close(ds);
    ykd_model_free(m);
    tx_world_free(&w);
}

/* A weights file that does not load: the loader's own error, and nothing written. Bad
 * options: refused, nothing written. Needs no ONNX Runtime. */
static void test_refusals(ykd_test *t)
{
    char dir[4096], weights[4200], path[4200], spec[16];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    snprintf(weights, sizeof weights, "%s/broken.safetensors", dir);
    snprintf(path, sizeof path, "%s/broken.onnx", dir);
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    static const char header[] = "\x40\x00\x00\x00\x00\x00\x00\x00{\"a\": {\"dtype\": \"F32\"";
    const void *parts[1] = {header};
    size_t sizes[1] = {sizeof header - 1};
    ykd_error err, load_err;
    ykd_model *m = NULL;
    CHECK_OK(t, ykd_file_write_atomic(weights, parts, sizes, 1, &err), err);
    CHECK(t, ykd_model_load(t->device, weights, &m, &load_err) != YKD_OK);
    run_result r = run_cli("export", "--weights", weights, "--device", spec, NULL);
    CHECKF(t, r.code == 1, "exit %d", r.code);
    CHECK_CONTAINS(t, r.err, load_err.message);
    CHECKF(t, ykd_test_count_files(dir) == 1, "%d files after a refused export",
           ykd_test_count_files(dir));
    free_result(&r);

    /* a missing file, a size off the stride, an opset out of range, two batches */
    snprintf(weights, sizeof weights, "%s/missing.safetensors", dir);
    r = run_cli("export", "--weights", weights, "--out", path, "--device", spec, NULL);
    CHECKF(t, r.code == 1 && strstr(r.err, "missing.safetensors"), "exit %d: %s", r.code, r.err);
    free_result(&r);
    r = run_cli("export", "--weights", weights, "--opset", "9", NULL);
    CHECKF(t, r.code == 2 && strstr(r.err, "--opset"), "exit %d: %s", r.code, r.err);
    free_result(&r);
    r = run_cli("export", "--weights", weights, "--batch", "2", "--dynamic", NULL);
    CHECKF(t, r.code == 2 && strstr(r.err, "--dynamic"), "exit %d: %s", r.code, r.err);
    free_result(&r);
    r = run_cli("export", "--weights", weights, "--out", weights, NULL);
    CHECKF(t, r.code == 2 && strstr(r.err, "weights file itself"), "exit %d: %s", r.code, r.err);
    free_result(&r);
    r = run_cli("export", "--weights", weights, "--imgsz", "64x64", NULL);
    CHECKF(t, r.code == 2 && strstr(r.err, "--imgsz"), "exit %d: %s", r.code, r.err);
    free_result(&r);
    m = make_model(t, tx_tiny_model_json, NULL, 0, 1, false);
    ykd_export_options o;
    ykd_export_options_default(&o);
    o.height = 72;
    if (m) {
        CHECK_STATUS(t, ykd_export_onnx(m, &o, path, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "multiple of the model's stride 16");
        o.height = 64, o.opset = 18;
        CHECK_STATUS(t, ykd_export_onnx(m, &o, path, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "opset 18");
        char nowhere[4300];
        snprintf(nowhere, sizeof nowhere, "%s/no-such-folder/x.onnx", dir);
        o.opset = YKD_ONNX_OPSET_DEFAULT;
        CHECK(t, ykd_export_onnx(m, &o, nowhere, &err) == YKD_ERR_IO);
        CHECK_CONTAINS(t, err.message, "no-such-folder");
    }
    CHECKF(t, ykd_test_count_files(dir) == 1, "%d files after refused exports",
           ykd_test_count_files(dir));
    ykd_model_free(m);
    ykd_test_rmtree(dir);
}

/* --bench prints both timings, measured in the run. */
static void test_bench(ykd_test *t)
{
    if (!onnx_runtime_ready(t))
        return;
    char dir[4096], weights[4200], path[4200], spec[16];
    ykd_model *m = make_model(t, tx_tiny_model_json, NULL, 0, 2, false);
    ykd_error err;
    if (!m || !ykd_test_mkdtemp(t, dir, sizeof dir)) {
        ykd_model_free(m);
        return;
    }
    snprintf(weights, sizeof weights, "%s/tiny.safetensors", dir);
    snprintf(path, sizeof path, "%s/tiny.onnx", dir);
    snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
    if (CHECK_OK(t, ykd_model_save(m, weights, &err), err)) {
        run_result r = run_cli("export", "--weights", weights, "--imgsz", "64", "--bench",
                               "--runs", "3", "--device", spec, NULL);
        CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
        CHECK_CONTAINS(t, r.out, "measured now in this run");
        CHECK_CONTAINS(t, r.out, "yolokd forward ");
        CHECK_CONTAINS(t, r.out, "ONNX Runtime    ");
        CHECK_CONTAINS(t, r.out, "CPU execution provider");
        struct stat sb;
        CHECK(t, stat(path, &sb) == 0 && sb.st_size > 0);
        free_result(&r);
    }
    ykd_model_free(m);
    ykd_test_rmtree(dir);
}

static void test_help(ykd_test *t)
{
    run_result r = run_cli("--help", NULL);
    CHECK_CONTAINS(t, r.out, "export");
    free_result(&r);
    r = run_cli("export", "--help", NULL);
    CHECKF(t, r.code == 0, "exit %d", r.code);
    CHECK_CONTAINS(t, r.out, "--dynamic");
    CHECK_CONTAINS(t, r.out, "[N, 4 + nc, anchors]");
    free_result(&r);
}

int main(int argc, char **argv)
{
    static const ykd_test_case cases[] = {
        {"export help", test_help, YKD_TEST_HOST},
        {"export refusals write nothing", test_refusals, YKD_TEST_EACH_DEVICE},
        {"export decoded, static batch: checker, ONNX Runtime = yolokd", test_decoded_static,
         YKD_TEST_EACH_DEVICE},
        {"export decoded, dynamic batch, non-square, yolov8n: ONNX Runtime = yolokd",
         test_dynamic_nonsquare, YKD_TEST_EACH_DEVICE},
        {"export yolo11n decoded, static batch, non-square: ONNX Runtime = yolokd",
         test_yolo11_static, YKD_TEST_EACH_DEVICE},
        {"export yolo11n decoded, dynamic batch, opset 11: ONNX Runtime = yolokd",
         test_yolo11_dynamic, YKD_TEST_EACH_DEVICE},
        {"export YOLO11 attention at stride 8, opsets 11 and 17: ONNX Runtime = yolokd",
         test_attention_static, YKD_TEST_EACH_DEVICE},
        {"export raw levels, opset 11: ONNX Runtime = yolokd", test_raw_levels,
         YKD_TEST_EACH_DEVICE},
        {"export trained model on dataset images: outputs and NMS detections = yolokd",
         test_dataset_detections, YKD_TEST_EACH_DEVICE},
        {"export --bench times ONNX Runtime beside yolokd", test_bench, YKD_TEST_EACH_DEVICE},
        {"export: the README's ONNX Runtime example runs as written", test_readme_example,
         YKD_TEST_EACH_DEVICE},
    };
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
