/* yolokd info: a model's layers, output shapes, parameters and GFLOPs; its planned activation
 * memory; and, with --measure, the device memory a forward really holds. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/units.h"
#include "yolokd/model.h"
#include "yolokd/ops.h"

static void print_info_help(FILE *f)
{
    fprintf(f,
            "usage: yolokd [--device SPEC] info MODEL|WEIGHTS [--nc N] [--imgsz S] [--batch B]\n"
            "                                   [--memory] [--measure] [--desc]\n"
            "\n"
            "Prints the model's layers (index, inputs, repeats, module, resolved arguments,\n"
            "output shape, parameters), the total parameters as Ultralytics counts them, and\n"
            "GFLOPs at SxS. MODEL is a built-in model (YOLOv8: n, s, m, l, x or yolov8n..x;\n"
            "YOLO11: yolo11n..yolo11x), a JSON description, or a .safetensors weights file (its\n"
            "own description, or the built-in model whose tensors it holds).\n"
            "\n"
            "  --nc N      classes (default: the description's; built-ins 80)\n"
            "  --imgsz S   image side, a multiple of the model's stride (default 640)\n"
            "  --batch B   batch for --memory and --measure (default 1)\n"
            "  --memory    the planned device memory of a forward, inference and training\n"
            "  --measure   run both forwards on the device and report the memory held\n"
            "  --desc      print the resolved description (JSON) instead of the table\n");
}

typedef struct info_args {
    const char *model;
    long long nc, imgsz, batch;
    bool memory, measure, desc;
} info_args;

static int parse_info_args(int argc, char **argv, ykd_cli_io *io, info_args *a)
{
    struct {
        const char *name;
        long long min, max, *value;
    } ints[] = {{"--nc", 1, YKD_MODEL_MAX_CLASSES, &a->nc},
                {"--imgsz", 32, 8192, &a->imgsz},
                {"--batch", 1, 4096, &a->batch}};
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false, matched = false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_info_help(io->out);
            return YKD_EXIT_OK;
        }
        bool *flag = strcmp(argv[i], "--memory") == 0    ? &a->memory
                     : strcmp(argv[i], "--measure") == 0 ? &a->measure
                     : strcmp(argv[i], "--desc") == 0    ? &a->desc
                                                         : NULL;
        if (flag) {
            *flag = true;
            continue;
        }
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !matched; k++) {
            if (!ykd_cli_option_value(argc, argv, &i, ints[k].name, &value, &missing))
                continue;
            matched = true;
            if (missing)
                return ykd_cli_usage_error(io, "info", "%s needs a number", ints[k].name);
            if (!ykd_cli_parse_int(io, "info", ints[k].name, value, ints[k].min, ints[k].max,
                                   ints[k].value))
                return YKD_EXIT_USAGE;
        }
        if (matched)
            continue;
        if (argv[i][0] == '-' || a->model)
            return ykd_cli_usage_error(io, "info", "unknown argument '%s'", argv[i]);
        a->model = argv[i];
    }
    if (!a->model)
        return ykd_cli_usage_error(io, "info", "name a model: n, s, m, l, x, yolo11n..yolo11x, "
                                               "a .json description or a .safetensors file");
    return -1;
}

/* 3157200 -> "3,157,200" */
static void with_commas(unsigned long long v, char *buf, size_t size)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", v), out = 0;
    for (int i = 0; i < n && out + 2 < (int)size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
}

static void print_table(FILE *out, const ykd_model_desc *d, int imgsz)
{
    fprintf(out, "%-3s %-13s %2s  %-9s %-27s %-16s %12s\n", "#", "from", "n", "module", "args",
            "output", "params");
    int count = ykd_model_desc_layer_count(d);
    for (int i = 0; i < count; i++) {
        ykd_model_layer_info l;
        ykd_model_desc_layer(d, i, imgsz, &l);
        char shape[48], params[32];
        if (strcmp(l.module, "Detect") == 0) {
            /* one row of channels per cell of every level, as Ultralytics' output */
            long cells = 0;
            for (int s = l.stride; s >= 8 && cells >= 0; s /= 2)
                cells += (long)(imgsz / s) * (imgsz / s);
            snprintf(shape, sizeof shape, "[%d, %ld]", l.channels, cells);
        } else {
            snprintf(shape, sizeof shape, "[%d, %d, %d]", l.channels, imgsz / l.stride,
                     imgsz / l.stride);
        }
        with_commas(l.params, params, sizeof params);
        fprintf(out, "%-3d %-13s %2d  %-9s %-27s %-16s %12s\n", l.index, l.from, l.repeats,
                l.module, l.args, shape, params);
    }
    char total[32];
    with_commas(ykd_model_desc_param_count(d), total, sizeof total);
    fprintf(out, "%s: %d layers, %s parameters, %.1f GFLOPs at %dx%d\n", ykd_model_desc_name(d),
            count, total, ykd_model_desc_gflops(d, imgsz), imgsz, imgsz);
}

static int print_memory(ykd_cli_io *io, const ykd_model_desc *d, int batch, int imgsz)
{
    static const char *const modes[] = {"inference", "training"};
    for (int mode = 0; mode < 2; mode++) {
        ykd_model_memory m;
        ykd_error err = {0};
        if (ykd_model_desc_plan_memory(d, (ykd_model_mode)mode, batch, imgsz, imgsz, 0, &m,
                                       &err) != YKD_OK) {
            fprintf(io->err, "yolokd info: %s\n", err.message);
            return YKD_EXIT_FAILURE;
        }
        char total[32], act[32], unshared[32], params[32];
        ykd_format_bytes(m.total_bytes, total, sizeof total);
        ykd_format_bytes(m.activation_bytes, act, sizeof act);
        ykd_format_bytes(m.unshared_bytes, unshared, sizeof unshared);
        ykd_format_bytes(m.params_bytes + m.grads_bytes + m.folded_bytes, params, sizeof params);
        fprintf(io->out,
                "planned %-9s peak, batch %d at %dx%d: %s (activations %s for %d tensors, %s "
                "without reuse; parameters%s %s)\n",
                modes[mode], batch, imgsz, imgsz, total, act, m.tensors, unshared,
                mode ? " and gradients" : " and folded weights", params);
    }
    return YKD_EXIT_OK;
}

/* Runs a forward in each mode on random images and reports the device memory held after it
 * (the arenas are allocated whole, so that is the peak, plus the ops' scratch). */
static int measure(ykd_cli_globals *globals, ykd_cli_io *io, const ykd_model_desc *d, int batch,
                   int imgsz)
{
    ykd_device *device = NULL;
    int code = ykd_cli_open_device(globals, io, "info", &device);
    if (code != YKD_EXIT_OK)
        return code;
    ykd_error err = {0};
    ykd_model *model = NULL;
    ykd_tensor images = {0};
    ykd_status st = ykd_model_create(device, d, 0, &model, &err);
    if (st == YKD_OK)
        st = ykd_tensor_alloc(device, batch, ykd_model_desc_input_channels(d), imgsz, imgsz,
                              &images, &err);
    if (st == YKD_OK)
        st = ykd_tensor_fill(&images, 0.5f, &err);
    static const char *const modes[] = {"inference", "training"};
    for (int mode = 0; mode < 2 && st == YKD_OK; mode++) {
        st = ykd_model_forward(model, &images, (ykd_model_mode)mode, &err);
        if (st == YKD_OK)
            st = ykd_device_finish(device, &err);
        char held[32];
        ykd_format_bytes(ykd_device_memory_in_use(device), held, sizeof held);
        if (st == YKD_OK)
            fprintf(io->out, "measured %-9s forward, batch %d at %dx%d: %s held on %s\n",
                    modes[mode], batch, imgsz, imgsz, held, ykd_device_get_info(device)->name);
    }
    if (st != YKD_OK)
        fprintf(io->err, "yolokd info: %s\n", err.message);
    ykd_tensor_free(&images);
    ykd_model_free(model);
    ykd_device_close(device);
    return st == YKD_OK ? YKD_EXIT_OK : YKD_EXIT_FAILURE;
}

int ykd_cmd_info(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    info_args a = {NULL, 0, 640, 1, false, false, false};
    int code = parse_info_args(argc, argv, io, &a);
    if (code >= 0)
        return code;
    ykd_model_desc_options o = {NULL, (int)a.nc};
    ykd_model_desc *d = NULL;
    ykd_error err = {0};
    if (ykd_model_desc_load(a.model, &o, &d, &err) != YKD_OK) {
        fprintf(io->err, "yolokd info: %s\n", err.message);
        return YKD_EXIT_FAILURE;
    }
    int stride = ykd_model_desc_max_stride(d);
    if (a.imgsz % stride) {
        ykd_model_desc_free(d);
        return ykd_cli_usage_error(io, "info", "--imgsz %lld is not a multiple of the model's "
                                               "stride %d",
                                   a.imgsz, stride);
    }
    code = YKD_EXIT_OK;
    if (a.desc)
        fprintf(io->out, "%s\n", ykd_model_desc_json(d));
    else
        print_table(io->out, d, (int)a.imgsz);
    if (a.memory)
        code = print_memory(io, d, (int)a.batch, (int)a.imgsz);
    if (code == YKD_EXIT_OK && a.measure)
        code = measure(globals, io, d, (int)a.batch, (int)a.imgsz);
    ykd_model_desc_free(d);
    return code;
}
