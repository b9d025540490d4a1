/* yolokd selftest: the whole path on one device (spec, device, cached program, kernel,
 * buffers, result), with how long getting the kernels took. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "yolokd/device.h"
#include "yolokd/ops.h"

enum { SELFTEST_ELEMENTS = 1 << 20 };

static void print_selftest_help(FILE *f)
{
    fprintf(f, "usage: yolokd [--device SPEC] selftest\n"
               "\n"
               "Opens the device, gets the kernels (from the cache or by compiling them), runs\n"
               "fill and axpy on %d floats and checks every result on the host. Reports how\n"
               "the kernels were obtained and how long it took. Exit status 1 on a wrong\n"
               "result.\n",
               SELFTEST_ELEMENTS);
}

/* y = 0.5 everywhere, then y += 2 * x with x[i] = i mod 1000: every y[i] is exact in float. */
static ykd_status run_ops(ykd_device *dev, float *result, ykd_error *err)
{
    size_t n = SELFTEST_ELEMENTS, bytes = n * sizeof(float);
    float *x = malloc(bytes);
    ykd_buffer *xb = NULL, *yb = NULL;
    ykd_status st = x ? YKD_OK : YKD_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; x && i < n; i++)
        x[i] = (float)(i % 1000);
    if (st == YKD_OK)
        st = ykd_buffer_alloc(dev, bytes, &xb, err);
    if (st == YKD_OK)
        st = ykd_buffer_alloc(dev, bytes, &yb, err);
    if (st == YKD_OK)
        st = ykd_buffer_write(xb, 0, x, bytes, err);
    if (st == YKD_OK)
        st = ykd_fill_f32(yb, 0, n, 0.5f, err);
    if (st == YKD_OK)
        st = ykd_axpy_f32(n, 2.0f, xb, 0, yb, 0, err);
    if (st == YKD_OK)
        st = ykd_buffer_read(yb, 0, result, bytes, err);
    ykd_buffer_free(xb);
    ykd_buffer_free(yb);
    free(x);
    return st;
}

static size_t count_wrong(const float *y, size_t n)
{
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        if (y[i] != 0.5f + 2.0f * (float)(i % 1000))
            wrong++;
    return wrong;
}

static void print_kernel_origin(FILE *out, ykd_device *dev)
{
    ykd_program_cache_stats stats;
    ykd_device_cache_stats(dev, &stats);
    const char *dir = ykd_device_cache_dir(dev);
    if (stats.loaded_from_cache > 0 && stats.built_from_source == 0)
        fprintf(out, "kernels: loaded from the cache in %.1f ms (%s)\n", stats.build_ms, dir);
    else
        fprintf(out, "kernels: compiled from source in %.1f ms%s%s%s\n", stats.build_ms,
                dir ? (stats.written ? ", cached in " : ", could not be cached in ") : "",
                dir ? dir : " (cache off)", stats.rejected_entries ? " (a bad entry replaced)" : "");
}

int ykd_cmd_selftest(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_selftest_help(io->out);
            return YKD_EXIT_OK;
        } else if (ykd_cli_option_value(argc, argv, &i, "--device", &value, &missing)) {
            if (missing)
                return ykd_cli_usage_error(io, "selftest", "--device needs a device spec");
            globals->device = value;
        } else {
            return ykd_cli_usage_error(io, "selftest", "unknown argument '%s'", argv[i]);
        }
    }
    ykd_device *dev = NULL;
    int code = ykd_cli_open_device(globals, io, "selftest", &dev);
    if (code != YKD_EXIT_OK)
        return code;
    ykd_error err = {0};
    const ykd_device_info *info = ykd_device_get_info(dev);
    fprintf(io->out, "device %d: %s (%s)\n", info->index, info->name, info->platform_name);
    float *y = malloc(SELFTEST_ELEMENTS * sizeof(float));
    ykd_status st = y ? run_ops(dev, y, &err) : YKD_ERR_OUT_OF_MEMORY;
    if (st != YKD_OK) {
        fprintf(io->err, "yolokd selftest: %s\n",
                y ? err.message : "out of host memory for the result");
        code = YKD_EXIT_FAILURE;
    } else {
        print_kernel_origin(io->out, dev);
        size_t wrong = count_wrong(y, SELFTEST_ELEMENTS);
        fprintf(io->out, "fill + axpy on %d floats: %s", SELFTEST_ELEMENTS,
                wrong ? "WRONG" : "ok\n");
        if (wrong) {
            fprintf(io->out, " (%zu of %d elements differ)\n", wrong, SELFTEST_ELEMENTS);
            code = YKD_EXIT_FAILURE;
        }
    }
    free(y);
    ykd_device_close(dev);
    return code;
}
