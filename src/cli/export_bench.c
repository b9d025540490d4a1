/* yolokd export --bench: the median of timed runs of yolokd's inference forward on the model's
 * device and of ONNX Runtime's CPU execution provider on the exported file, in this one run,
 * on the same random input. ONNX Runtime runs in a Python (onnxruntime and numpy from PyPI: a
 * benchmark-time reference, never a dependency of yolokd itself). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/export_bench.h"
#include "core/error_internal.h"
#include "yolokd/tensor.h"

/* Prints "median min version" in milliseconds; no single quotes (it travels in a shell one). */
static const char ort_script[] =
    "import sys, time\n"
    "import numpy as np, onnxruntime as ort\n"
    "path = sys.argv[1]\n"
    "n, c, h, w, runs = (int(v) for v in sys.argv[2:7])\n"
    "s = ort.InferenceSession(path, providers=[\"CPUExecutionProvider\"])\n"
    "x = np.random.default_rng(0).random((n, c, h, w), dtype=np.float32)\n"
    "feed = {s.get_inputs()[0].name: x}\n"
    "s.run(None, feed)\n"
    "t = []\n"
    "for _ in range(runs):\n"
    "    t0 = time.perf_counter()\n"
    "    s.run(None, feed)\n"
    "    t.append(time.perf_counter() - t0)\n"
    "t.sort()\n"
    "print(\"%.4f %.4f %s\" % (t[len(t) // 2] * 1e3, t[0] * 1e3, ort.__version__))\n";

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void ykd_export_python(char *buf, size_t size)
{
    const char *env = getenv("YOLOKD_PYTHON"), *cache = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env && *env) {
        snprintf(buf, size, "%s", env);
        return;
    }
    if (cache && *cache)
        snprintf(buf, size, "%s/yolokd/onnx-venv/bin/python", cache);
    else
        snprintf(buf, size, "%s/.cache/yolokd/onnx-venv/bin/python", home ? home : "");
    if (access(buf, X_OK) != 0)
        snprintf(buf, size, "python3");
}

/* text in single quotes for sh, each ' written as '\'' */
static void shell_quote(const char *text, char *buf, size_t size)
{
    size_t used = 0;
    if (size < 3)
        return;
    buf[used++] = '\'';
    for (const char *p = text; *p && used + 6 < size; p++) {
        if (*p == '\'') {
            memcpy(buf + used, "'\\''", 4);
            used += 4;
        } else {
            buf[used++] = *p;
        }
    }
    buf[used++] = '\'';
    buf[used] = '\0';
}

/* Median and fastest of runs inference forwards (after one untimed), in milliseconds. */
static ykd_status time_forward(ykd_model *model, const ykd_export_options *o, int batch,
                               int runs, double *median, double *fastest, ykd_error *err)
{
    ykd_device *device = ykd_model_device(model);
    int c = ykd_model_desc_input_channels(ykd_model_get_desc(model));
    ykd_tensor x = {0};
    double *t = calloc((size_t)runs, sizeof *t);
    size_t numel = (size_t)batch * c * o->height * o->width;
    float *host = malloc(numel * sizeof *host);
    ykd_status st = t && host ? ykd_tensor_alloc(device, batch, c, o->height, o->width, &x, err)
                              : ykd_fail(err, YKD_ERR_OUT_OF_MEMORY,
                                         "export --bench: out of host memory");
    uint64_t state = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; st == YKD_OK && i < numel; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        host[i] = (float)(state >> 40) / (float)(1 << 24);
    }
    if (st == YKD_OK)
        st = ykd_tensor_write(&x, host, err);
    for (int r = -1; st == YKD_OK && r < runs; r++) {
        double t0 = now_seconds();
        st = ykd_model_forward(model, &x, YKD_MODEL_INFERENCE, err);
        if (st == YKD_OK)
            st = ykd_device_finish(device, err);
        if (r >= 0)
            t[r] = (now_seconds() - t0) * 1e3;
    }
    if (st == YKD_OK) {
        qsort(t, (size_t)runs, sizeof *t, compare_doubles);
        *median = t[runs / 2];
        *fastest = t[0];
    }
    ykd_tensor_free(&x);
    free(host);
    free(t);
    return st;
}

ykd_status ykd_export_bench(ykd_model *model, const char *onnx_path,
                            const ykd_export_options *o, int runs, ykd_cli_io *io,
                            ykd_error *err)
{
    int batch = o->batch ? o->batch : 1;
    int c = ykd_model_desc_input_channels(ykd_model_get_desc(model));
    double ykd_median = 0, ykd_fastest = 0;
    ykd_status st = time_forward(model, o, batch, runs, &ykd_median, &ykd_fastest, err);
    if (st != YKD_OK)
        return st;
    char python[1024], quoted_python[2100], quoted_path[8300];
    ykd_export_python(python, sizeof python);
    shell_quote(python, quoted_python, sizeof quoted_python);
    shell_quote(onnx_path, quoted_path, sizeof quoted_path);
    size_t size = sizeof ort_script + strlen(quoted_python) + strlen(quoted_path) + 128;
    char *command = malloc(size);
    if (!command)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "export --bench: out of host memory");
    snprintf(command, size, "%s -c '%s' %s %d %d %d %d %d 2>&1", quoted_python, ort_script,
             quoted_path, batch, c, o->height, o->width, runs);
    fflush(NULL);
    FILE *pipe = popen(command, "r");
    free(command);
    char line[512] = "", last[512] = "";
    while (pipe && fgets(line, sizeof line, pipe))
        snprintf(last, sizeof last, "%s", line);
    int status = pipe ? pclose(pipe) : -1;
    double ort_median = 0, ort_fastest = 0;
    char version[64] = "";
    if (status != 0 || sscanf(last, "%lf %lf %63s", &ort_median, &ort_fastest, version) != 3) {
        last[strcspn(last, "\n")] = '\0';
        return ykd_fail(err, YKD_ERR_NOT_FOUND,
                        "export --bench: ONNX Runtime did not run under %s (it needs the "
                        "onnxruntime and numpy packages; tools/onnx-venv sets up a venv with "
                        "them): %s",
                        python, last);
    }
    const ykd_device_info *info = ykd_device_get_info(ykd_model_device(model));
    fprintf(io->out,
            "inference of %s, batch %d at %dx%d, both measured now in this run (median of %d "
            "runs after one warm-up; fastest in parentheses):\n"
            "  yolokd forward  %9.2f ms (%.2f)  on %s (OpenCL)\n"
            "  ONNX Runtime    %9.2f ms (%.2f)  CPU execution provider, onnxruntime %s\n",
            ykd_model_desc_name(ykd_model_get_desc(model)), batch, o->height, o->width, runs,
            ykd_median, ykd_fastest, info ? info->name : "the device", ort_median, ort_fastest,
            version);
    return YKD_OK;
}
