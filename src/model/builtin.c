/* The built-in descriptions and the names users give on the command line.
 *
 * YOLOv8 and YOLO11 as published (ultralytics/cfg/models/v8/yolov8.yaml and
 * ultralytics/cfg/models/11/yolo11.yaml) in JSON: the architecture is a fact; the text is
 * ours. `yolokd info n --desc` prints a scale's resolved description, a
 * starting point for a file of one's own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "model/model_internal.h"
#include "model/weights.h"

const char ykd_builtin_yolov8_json[] =
    "{\n"
    "  \"name\": \"yolov8\",\n"
    "  \"nc\": 80,\n"
    "  \"scales\": {\n"
    "    \"n\": [0.33, 0.25, 1024],\n"
    "    \"s\": [0.33, 0.50, 1024],\n"
    "    \"m\": [0.67, 0.75, 768],\n"
    "    \"l\": [1.00, 1.00, 512],\n"
    "    \"x\": [1.00, 1.25, 512]\n"
    "  },\n"
    "  \"backbone\": [\n"
    "    [-1, 1, \"Conv\", [64, 3, 2]],\n"
    "    [-1, 1, \"Conv\", [128, 3, 2]],\n"
    "    [-1, 3, \"C2f\", [128, true]],\n"
    "    [-1, 1, \"Conv\", [256, 3, 2]],\n"
    "    [-1, 6, \"C2f\", [256, true]],\n"
    "    [-1, 1, \"Conv\", [512, 3, 2]],\n"
    "    [-1, 6, \"C2f\", [512, true]],\n"
    "    [-1, 1, \"Conv\", [1024, 3, 2]],\n"
    "    [-1, 3, \"C2f\", [1024, true]],\n"
    "    [-1, 1, \"SPPF\", [1024, 5]]\n"
    "  ],\n"
    "  \"head\": [\n"
    "    [-1, 1, \"nn.Upsample\", [null, 2, \"nearest\"]],\n"
    "    [[-1, 6], 1, \"Concat\", [1]],\n"
    "    [-1, 3, \"C2f\", [512]],\n"
    "    [-1, 1, \"nn.Upsample\", [null, 2, \"nearest\"]],\n"
    "    [[-1, 4], 1, \"Concat\", [1]],\n"
    "    [-1, 3, \"C2f\", [256]],\n"
    "    [-1, 1, \"Conv\", [256, 3, 2]],\n"
    "    [[-1, 12], 1, \"Concat\", [1]],\n"
    "    [-1, 3, \"C2f\", [512]],\n"
    "    [-1, 1, \"Conv\", [512, 3, 2]],\n"
    "    [[-1, 9], 1, \"Concat\", [1]],\n"
    "    [-1, 3, \"C2f\", [1024]],\n"
    "    [[15, 18, 21], 1, \"Detect\", [\"nc\"]]\n"
    "  ]\n"
    "}\n";

const char ykd_builtin_yolo11_json[] =
    "{\n"
    "  \"name\": \"yolo11\",\n"
    "  \"nc\": 80,\n"
    "  \"scales\": {\n"
    "    \"n\": [0.50, 0.25, 1024],\n"
    "    \"s\": [0.50, 0.50, 1024],\n"
    "    \"m\": [0.50, 1.00, 512],\n"
    "    \"l\": [1.00, 1.00, 512],\n"
    "    \"x\": [1.00, 1.50, 512]\n"
    "  },\n"
    "  \"backbone\": [\n"
    "    [-1, 1, \"Conv\", [64, 3, 2]],\n"
    "    [-1, 1, \"Conv\", [128, 3, 2]],\n"
    "    [-1, 2, \"C3k2\", [256, false, 0.25]],\n"
    "    [-1, 1, \"Conv\", [256, 3, 2]],\n"
    "    [-1, 2, \"C3k2\", [512, false, 0.25]],\n"
    "    [-1, 1, \"Conv\", [512, 3, 2]],\n"
    "    [-1, 2, \"C3k2\", [512, true]],\n"
    "    [-1, 1, \"Conv\", [1024, 3, 2]],\n"
    "    [-1, 2, \"C3k2\", [1024, true]],\n"
    "    [-1, 1, \"SPPF\", [1024, 5]],\n"
    "    [-1, 2, \"C2PSA\", [1024]]\n"
    "  ],\n"
    "  \"head\": [\n"
    "    [-1, 1, \"nn.Upsample\", [null, 2, \"nearest\"]],\n"
    "    [[-1, 6], 1, \"Concat\", [1]],\n"
    "    [-1, 2, \"C3k2\", [512, false]],\n"
    "    [-1, 1, \"nn.Upsample\", [null, 2, \"nearest\"]],\n"
    "    [[-1, 4], 1, \"Concat\", [1]],\n"
    "    [-1, 2, \"C3k2\", [256, false]],\n"
    "    [-1, 1, \"Conv\", [256, 3, 2]],\n"
    "    [[-1, 13], 1, \"Concat\", [1]],\n"
    "    [-1, 2, \"C3k2\", [512, false]],\n"
    "    [-1, 1, \"Conv\", [512, 3, 2]],\n"
    "    [[-1, 10], 1, \"Concat\", [1]],\n"
    "    [-1, 2, \"C3k2\", [1024, true]],\n"
    "    [[16, 19, 22], 1, \"Detect\", [\"nc\"]]\n"
    "  ]\n"
    "}\n";

const char *const ykd_builtin_names[YKD_BUILTIN_COUNT] = {
    "yolov8n", "yolov8s", "yolov8m", "yolov8l", "yolov8x",
    "yolo11n", "yolo11s", "yolo11m", "yolo11l", "yolo11x"};

/* A built-in's family (its description) and scale: "n" and "yolov8n" are YOLOv8n, "yolo11n"
 * YOLO11n; false when name is none of them. */
static bool builtin_family(const char *name, const char **json, const char **scale,
                           const char **family)
{
    static const char *const scales[] = {"n", "s", "m", "l", "x"};
    *json = ykd_builtin_yolov8_json, *family = "yolov8";
    const char *s = name;
    if (strncmp(name, "yolov8", 6) == 0) {
        s = name + 6;
    } else if (strncmp(name, "yolo11", 6) == 0) {
        s = name + 6;
        *json = ykd_builtin_yolo11_json, *family = "yolo11";
    }
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++)
        if (strcmp(s, scales[i]) == 0) {
            *scale = scales[i];
            return true;
        }
    return false;
}

ykd_status ykd_model_desc_builtin(const char *name, int nc, ykd_model_desc **desc,
                                  ykd_error *err)
{
    *desc = NULL;
    const char *json = NULL, *scale = NULL, *family = NULL;
    if (!name || !builtin_family(name, &json, &scale, &family))
        return ykd_fail(err, YKD_ERR_NOT_FOUND,
                        "no built-in model '%s' (built in: n, s, m, l, x for YOLOv8, also "
                        "yolov8n..yolov8x, and yolo11n..yolo11x)",
                        name ? name : "");
    char source[32];
    snprintf(source, sizeof source, "built-in %s%s", family, scale);
    ykd_model_desc_options o = {scale, nc};
    return ykd_model_desc_parse(json, strlen(json), source, &o, desc, err);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum { DESC_FILE_MAX = 16 << 20 };

ykd_status ykd_model_desc_load(const char *spec, const ykd_model_desc_options *options,
                               ykd_model_desc **desc, ykd_error *err)
{
    *desc = NULL;
    if (!spec || !*spec)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "no model named");
    const char *json = NULL, *scale = NULL, *family = NULL;
    if (builtin_family(spec, &json, &scale, &family))
        return ykd_model_desc_builtin(spec, options ? options->nc : 0, desc, err);
    if (ends_with(spec, ".safetensors"))
        return ykd_weights_read_desc(spec, desc, err);
    void *text = NULL;
    size_t size = 0;
    ykd_status st = ykd_file_read_all(spec, DESC_FILE_MAX, &text, &size, err);
    if (st == YKD_ERR_NOT_FOUND)
        ykd_error_append(err, " (a model is a built-in (n, s, m, l, x, yolov8n..yolov8x, "
                              "yolo11n..yolo11x), a .json description or a .safetensors "
                              "file)");
    if (st == YKD_OK)
        st = ykd_model_desc_parse(text, size, spec, options, desc, err);
    free(text);
    return st;
}
