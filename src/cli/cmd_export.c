/* yolokd export: a weights file to ONNX (see include/yolokd/export.h); with --bench, ONNX
 * Runtime's CPU time for the exported model beside yolokd's forward, measured in one run. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/export_bench.h"
#include "yolokd/export.h"
#include "yolokd/model.h"

static void print_export_help(FILE *f)
{
    fprintf(f,
            "usage: yolokd export --weights W [--imgsz S | --imgsz H,W] [--batch B | --dynamic]\n"
            "                     [--opset N] [--raw] [--out F] [--bench] [--runs R]\n"
            "\n"
            "Writes the model of weights file W as ONNX: BN folded into the convolutions, and\n"
            "the head decoded inside the graph, so the output 'output0' is [N, 4 + nc, anchors]\n"
            "(cx, cy, w, h in input pixels, then the class probabilities), Ultralytics' export\n"
            "layout. The input 'images' is [N, 3, H, W], RGB in [0, 1], letterboxed.\n"
            "\n"
            "  --weights W  a .safetensors weights file\n"
            "  --imgsz S    the input size: S (square) or H,W; multiples of the stride\n"
            "               (default 640)\n"
            "  --batch B    a fixed batch (default 1)\n"
            "  --dynamic    a dynamic batch instead\n"
            "  --opset N    the ONNX opset, %d to %d (default %d)\n"
            "  --raw        output the per-level head tensors head3, head4, head5\n"
            "               ([N, 64 + nc, H/s, W/s]: DFL logits, then class logits) instead\n"
            "  --out F      the ONNX file (default: W with .onnx for its extension)\n"
            "  --bench      then time yolokd's forward on the device and ONNX Runtime on the\n"
            "               CPU on the exported model, in this run (needs Python with\n"
            "               onnxruntime and numpy: $YOLOKD_PYTHON, else the test venv\n"
            "               ~/.cache/yolokd/onnx-venv, else python3)\n"
            "  --runs R     timed runs of each for --bench (default 20)\n",
            YKD_ONNX_OPSET_MIN, YKD_ONNX_OPSET_MAX, YKD_ONNX_OPSET_DEFAULT);
}

typedef struct export_args {
    const char *weights, *out, *imgsz;
    long long batch, opset, runs;
    bool dynamic, raw, bench;
} export_args;

/* "640" or "480,640" (height, width). */
static bool parse_size(const char *text, int *h, int *w)
{
    char *end;
    long a = strtol(text, &end, 10), b = a;
    if (end == text)
        return false;
    if (*end == ',') {
        const char *second = end + 1;
        b = strtol(second, &end, 10);
        if (end == second)
            return false;
    }
    if (*end || a < 32 || b < 32 || a > 8192 || b > 8192)
        return false;
    *h = (int)a;
    *w = (int)b;
    return true;
}

/* "runs/x/best.safetensors" -> "runs/x/best.onnx" */
static char *default_out(const char *weights)
{
    const char *slash = strrchr(weights, '/'), *dot = strrchr(weights, '.');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - weights) : strlen(weights);
    char *out = malloc(stem + 6);
    if (out)
        snprintf(out, stem + 6, "%.*s.onnx", (int)stem, weights);
    return out;
}

static int parse_export_args(int argc, char **argv, ykd_cli_globals *g, ykd_cli_io *io,
                             export_args *a, ykd_export_options *o)
{
    const ykd_cli_opt opts[] = {
        {"--weights", YKD_OPT_STRING, &a->weights, 0, 0},
        {"--out", YKD_OPT_STRING, &a->out, 0, 0},
        {"--imgsz", YKD_OPT_STRING, &a->imgsz, 0, 0},
        {"--device", YKD_OPT_STRING, &g->device, 0, 0},
        {"--batch", YKD_OPT_INT, &a->batch, 1, 4096},
        {"--opset", YKD_OPT_INT, &a->opset, YKD_ONNX_OPSET_MIN, YKD_ONNX_OPSET_MAX},
        {"--runs", YKD_OPT_INT, &a->runs, 1, 100000},
        {"--dynamic", YKD_OPT_FLAG, &a->dynamic, 0, 0},
        {"--raw", YKD_OPT_FLAG, &a->raw, 0, 0},
        {"--bench", YKD_OPT_FLAG, &a->bench, 0, 0},
    };
    int code = ykd_cli_parse_options(argc, argv, io, "export", opts, sizeof opts / sizeof opts[0],
                                     print_export_help);
    if (code >= 0)
        return code;
    if (!a->weights)
        return ykd_cli_usage_error(io, "export", "--weights is required");
    if (a->dynamic && a->batch)
        return ykd_cli_usage_error(io, "export", "--batch and --dynamic exclude each other");
    if (a->imgsz && !parse_size(a->imgsz, &o->height, &o->width))
        return ykd_cli_usage_error(io, "export",
                                   "--imgsz '%s': give S or H,W, whole numbers 32 to 8192",
                                   a->imgsz);
    if (a->out && strcmp(a->out, a->weights) == 0)
        return ykd_cli_usage_error(io, "export", "--out names the weights file itself");
    o->batch = a->dynamic ? 0 : a->batch ? (int)a->batch : 1;
    if (a->opset)
        o->opset = (int)a->opset;
    o->raw = a->raw;
    return -1;
}

int ykd_cmd_export(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    export_args a = {0};
    ykd_export_options o;
    ykd_export_options_default(&o);
    int code = parse_export_args(argc, argv, globals, io, &a, &o);
    if (code >= 0)
        return code;
    char *out = a.out ? NULL : default_out(a.weights);
    const char *path = a.out ? a.out : out;
    if (!path) {
        fprintf(io->err, "yolokd export: out of host memory\n");
        return YKD_EXIT_FAILURE;
    }
    ykd_device *device = NULL;
    code = ykd_cli_open_device(globals, io, "export", &device);
    if (code != YKD_EXIT_OK) {
        free(out);
        return code;
    }
    ykd_error err = {0};
    ykd_model *model = NULL;
    ykd_status st = ykd_model_load(device, a.weights, &model, &err);
    if (st == YKD_OK)
        st = ykd_export_onnx(model, &o, path, &err);
    if (st == YKD_OK) {
        char batch[32];
        snprintf(batch, sizeof batch, "%d", o.batch);
        fprintf(io->out, "%s: %s, input [%s, %d, %d, %d], opset %d, %s output, %d classes\n",
                path, ykd_model_desc_name(ykd_model_get_desc(model)),
                o.batch ? batch : "batch", ykd_model_desc_input_channels(ykd_model_get_desc(model)),
                o.height, o.width, o.opset, o.raw ? "raw per-level" : "decoded",
                ykd_model_classes(model));
    }
    if (st == YKD_OK && a.bench)
        st = ykd_export_bench(model, path, &o, a.runs ? (int)a.runs : 20, io, &err);
    if (st != YKD_OK)
        fprintf(io->err, "yolokd export: %s\n", err.message);
    ykd_model_free(model);
    ykd_device_close(device);
    free(out);
    return st == YKD_OK ? YKD_EXIT_OK : YKD_EXIT_FAILURE;
}
