/* Concatenation along channels, its backward, and split (cl/concat.cl). */
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

static const char source[] = "cl/concat.cl";

/* Checks the whole and its parts: 1 <= count, every part on the whole's device with its N, H
 * and W, and the parts' channels adding up to the whole's. */
static ykd_status check_parts(const char *op, const char *whole_name, const ykd_tensor *whole,
                              const char *part_name, const ykd_tensor *const *parts, int count,
                              ykd_error *err)
{
    if (count < 1 || !parts)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "%s: %d %s given, need at least one",
                        op, count, part_name);
    ykd_status st = ykd_tensor_check(whole, op, whole_name, err);
    int channels = 0;
    for (int i = 0; i < count && st == YKD_OK; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s[%d]", part_name, i);
        const ykd_tensor *pair[] = {whole, parts[i]};
        const char *names[] = {whole_name, name};
        st = ykd_op_check_operands(op, pair, names, 2, err);
        if (st == YKD_OK)
            st = ykd_op_expect_shape(op, name, parts[i], whole->n, parts[i]->c, whole->h,
                                     whole->w, err);
        channels += st == YKD_OK ? parts[i]->c : 0;
    }
    if (st == YKD_OK && channels != whole->c) {
        char shape[96];
        ykd_tensor_shape_str(whole, shape, sizeof shape);
        return ykd_fail(err, YKD_ERR_SHAPE, "%s: the %d %s hold %d channels in all, but %s %s "
                        "has %d", op, count, part_name, channels, whole_name, shape, whole->c);
    }
    return st;
}

/* Copies each part to its place in the whole (to_whole), or each place to its part, adding
 * when accumulate: one launch per part. */
static ykd_status run(const ykd_tensor *whole, const ykd_tensor *const *parts, int count,
                      bool to_whole, bool accumulate, ykd_error *err)
{
    ykd_device *dev = ykd_tensor_device(whole);
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_op_kernel(dev, source, "concat_copy", &kernel, err);
    size_t first = 0;
    for (int k = 0; k < count && st == YKD_OK; k++) {
        size_t image = ykd_tensor_image_size(parts[k]);
        ykd_op_args a = {.count = 0};
        ykd_op_args_tensor(&a, to_whole ? parts[k] : whole);
        ykd_op_args_uint(&a, to_whole ? 0 : first);
        ykd_op_args_tensor(&a, to_whole ? whole : parts[k]);
        ykd_op_args_uint(&a, to_whole ? first : 0);
        ykd_op_args_uint(&a, accumulate);
        ykd_op_args_uint(&a, image);
        st = ykd_op_run_elements(dev, kernel, &a, parts[k], err);
        first += image;
    }
    return st;
}

ykd_status ykd_concat_forward(const ykd_tensor *const *xs, int count, const ykd_tensor *y,
                              ykd_error *err)
{
    static const char op[] = "ykd_concat_forward";
    ykd_status st = check_parts(op, "y", y, "xs", xs, count, err);
    return st == YKD_OK ? run(y, xs, count, true, false, err) : st;
}

ykd_status ykd_concat_backward(const ykd_tensor *dy, bool accumulate,
                               const ykd_tensor *const *dxs, int count, ykd_error *err)
{
    static const char op[] = "ykd_concat_backward";
    ykd_status st = check_parts(op, "dy", dy, "dxs", dxs, count, err);
    return st == YKD_OK ? run(dy, dxs, count, false, accumulate, err) : st;
}

ykd_status ykd_split_forward(const ykd_tensor *x, const ykd_tensor *const *ys, int count,
                             ykd_error *err)
{
    static const char op[] = "ykd_split_forward";
    ykd_status st = check_parts(op, "x", x, "ys", ys, count, err);
    return st == YKD_OK ? run(x, ys, count, false, false, err) : st;
}
