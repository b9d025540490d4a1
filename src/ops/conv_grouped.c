/* Grouped and depthwise convolutions (cl/conv_grouped.cl): forward, input gradient, weight
 * gradient, computed directly rather than as GEMMs (see the kernel file). The checks and the
 * bias gradient are conv.c's, shared with ordinary convolutions. */
#include "core/error_internal.h"
#include "ops/conv_internal.h"

static const char source[] = "cl/conv_grouped.cl";

/* Every kernel's trailing geometry arguments, in GEOMETRY_ARGS order. */
static void geometry_args(ykd_op_args *a, const ykd_conv_shape *s)
{
    int values[] = {s->cin, s->h, s->w, s->cout, s->k, s->stride, s->pad, s->groups, s->ho,
                    s->wo};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        ykd_op_args_int(a, values[i]);
}

ykd_status ykd_conv_grouped_forward(ykd_device *device, const ykd_tensor *x,
                                    const ykd_tensor *w, const ykd_tensor *bias,
                                    const ykd_conv_shape *s, ykd_activation activation,
                                    const ykd_tensor *y, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_op_kernel(device, source, "grouped_conv_forward", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, x);
    ykd_op_args_tensor(&a, w);
    ykd_op_args_tensor(&a, bias ? bias : w); /* unread without a bias */
    ykd_op_args_int(&a, bias != NULL);
    ykd_op_args_int(&a, (int)activation); /* cl/shared.cl's ACT_* codes */
    ykd_op_args_tensor(&a, y);
    geometry_args(&a, s);
    return ykd_op_run_spatial(device, kernel, &a, s->wo, s->ho, s->n, s->cout, err);
}

ykd_status ykd_conv_grouped_input_grad(ykd_device *device, const ykd_tensor *dy,
                                       const ykd_tensor *w, const ykd_conv_shape *s,
                                       bool accumulate, const ykd_tensor *dx, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_op_kernel(device, source, "grouped_conv_input_grad", &kernel, err);
    if (st != YKD_OK)
        return st;
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, dy);
    ykd_op_args_tensor(&a, w);
    ykd_op_args_uint(&a, accumulate);
    ykd_op_args_tensor(&a, dx);
    geometry_args(&a, s);
    return ykd_op_run_spatial(device, kernel, &a, s->w, s->h, s->n, s->cin, err);
}

/* Work-items per filter: enough to share a long sum over images and positions, no more than
 * the positions there are. Each keeps TAP_CHUNK partial sums in local memory. */
enum { WEIGHT_GROUP_WANT = 64, TAP_CHUNK = 9 /* as cl/conv_grouped.cl's */ };

ykd_status ykd_conv_grouped_weight_grad(ykd_device *device, const ykd_tensor *x,
                                        const ykd_tensor *dy, const ykd_conv_shape *s,
                                        bool accumulate, const ykd_tensor *dw, ykd_error *err)
{
    ykd_kernel *kernel = NULL;
    ykd_status st = ykd_op_kernel(device, source, "grouped_conv_weight_grad", &kernel, err);
    if (st != YKD_OK)
        return st;
    size_t want = WEIGHT_GROUP_WANT;
    size_t positions = (size_t)s->n * s->hwo;
    while (want > 1 && want / 2 >= positions)
        want /= 2;
    size_t group = ykd_op_group_size(device, kernel, want, TAP_CHUNK * sizeof(float));
    size_t filters = (size_t)s->cout * (s->cin / s->groups);
    ykd_op_args a = {.count = 0};
    ykd_op_args_tensor(&a, x);
    ykd_op_args_tensor(&a, dy);
    ykd_op_args_uint(&a, accumulate);
    ykd_op_args_tensor(&a, dw);
    ykd_op_args_int(&a, s->n);
    geometry_args(&a, s);
    ykd_op_args_local(&a, group * TAP_CHUNK * sizeof(float));
    size_t global[1] = {filters * group}, local[1] = {group};
    return ykd_op_run(device, kernel, &a, 1, global, local, err);
}
