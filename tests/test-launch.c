/* The launch machinery's faults come back as errors, never an abort: arguments the builder
 * cannot set, work-groups a kernel does not allow, operands missing where an op would read
 * them. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "ops/ops_internal.h"
#include "yolokd/ops.h"

static bool get_silu(ykd_test *t, ykd_device *dev, ykd_kernel **kernel)
{
    ykd_error err;
    return CHECK_OK(t, ykd_op_kernel(dev, "cl/activation.cl", "silu_forward", kernel, &err), err);
}

/* Runs silu_forward with a's arguments over 64 work-items and expects the refusal. */
static void expect_fault(ykd_test *t, ykd_kernel *kernel, const ykd_op_args *a,
                         const char *needle)
{
    ykd_error err = {0};
    size_t global = 64;
    CHECK_STATUS(t, ykd_op_run(t->device, kernel, a, 1, &global, NULL, &err),
                 YKD_ERR_UNSUPPORTED, err);
    CHECK_CONTAINS(t, err.message, "silu_forward");
    CHECK_CONTAINS(t, err.message, needle);
}

static void test_argument_faults(ykd_test *t)
{
    ykd_kernel *kernel = NULL;
    if (!get_silu(t, t->device, &kernel))
        return;
    ykd_op_args a = {0};
    for (int i = 0; i <= YKD_OP_MAX_ARGS; i++)
        ykd_op_args_int(&a, i);
    CHECK(t, a.count == YKD_OP_MAX_ARGS);
    expect_fault(t, kernel, &a, "more than 64 arguments");

    ykd_op_args locals = {0};
    for (int i = 0; i <= YKD_OP_MAX_ARGS; i++)
        ykd_op_args_local(&locals, 16);
    expect_fault(t, kernel, &locals, "more than 64 arguments");

    ykd_op_args wide = {0};
    ykd_op_args_mem(&wide, NULL);
    ykd_op_args_uint(&wide, (size_t)UINT32_MAX + 1);
    expect_fault(t, kernel, &wide, "argument 1 is 4294967296, over the 32 bits");
    ykd_error err = {0};
    CHECK_STATUS(t, ykd_op_run_1d(t->device, kernel, &wide, 64, &err), YKD_ERR_UNSUPPORTED, err);
    CHECK_CONTAINS(t, err.message, "silu_forward");
}

/* On a device capped at 4 work-items per group, a launch asking for 8 is refused by name. */
static void test_work_group_over_the_limit(ykd_test *t)
{
    ykd_device_options options = {.max_work_group_size = 4};
    ykd_device *dev = ykd_test_reopen(t, &options);
    ykd_kernel *kernel = NULL;
    if (!dev || !get_silu(t, dev, &kernel)) {
        ykd_device_close(dev);
        return;
    }
    CHECK(t, kernel->work_group_size <= 4);
    ykd_tensor x = {0};
    ykd_error err = {0};
    if (CHECK_OK(t, ykd_tensor_alloc(dev, 1, 1, 1, 64, &x, &err), err)) {
        ykd_op_args a = {0};
        ykd_op_args_tensor(&a, &x);
        ykd_op_args_tensor(&a, &x);
        ykd_op_args_uint(&a, 64);
        size_t global[2] = {64, 1}, local[2] = {8, 1};
        CHECK_STATUS(t, ykd_op_run(dev, kernel, &a, 2, global, local, &err), YKD_ERR_UNSUPPORTED,
                     err);
        CHECK_CONTAINS(t, err.message, "kernel silu_forward: a work-group of 8 work-items along "
                                       "axis 0");
        local[0] = 2, local[1] = 4; /* each axis within the cap, not their product */
        CHECK_STATUS(t, ykd_op_run(dev, kernel, &a, 2, global, local, &err), YKD_ERR_UNSUPPORTED,
                     err);
        CHECK_CONTAINS(t, err.message, "kernel silu_forward: work-groups of 8 work-items");
        local[0] = 4, local[1] = 1;
        CHECK_OK(t, ykd_op_run(dev, kernel, &a, 2, global, local, &err), err);
        CHECK_OK(t, ykd_device_finish(dev, &err), err);
        ykd_tensor_free(&x);
    }
    ykd_device_close(dev);
}

/* Every operand of max-pooling missing in turn: a refusal that names it (the backward read the
 * input's size after its own check had failed). */
static void test_pool_missing_operands(ykd_test *t)
{
    ykd_tensor x = {0}, y = {0};
    ykd_error err = {0};
    if (!CHECK_OK(t, ykd_tensor_alloc(t->device, 1, 2, 8, 8, &x, &err), err) ||
        !CHECK_OK(t, ykd_tensor_alloc(t->device, 1, 2, 4, 4, &y, &err), err)) {
        ykd_tensor_free(&x);
        return;
    }
    const ykd_tensor *operands[3] = {&x, &y, &x};
    static const char *const names[3] = {"x has no buffer", "dy has no buffer", "dx has no buffer"};
    for (int missing = 0; missing < 3; missing++) {
        const ykd_tensor *o[3] = {operands[0], operands[1], operands[2]};
        o[missing] = NULL;
        CHECK_STATUS(t, ykd_maxpool_backward(o[0], o[1], 2, 2, 0, false, o[2], &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, names[missing]);
    }
    CHECK_STATUS(t, ykd_maxpool_forward(NULL, 2, 2, 0, &y, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_maxpool_forward(&x, 2, 2, 0, NULL, &err), YKD_ERR_INVALID_ARGUMENT, err);
    ykd_tensor_free(&x);
    ykd_tensor_free(&y);
}

/* The device's preferred vector width is one the kernels build for; a chosen width of 1..16
 * floats, a power of two, replaces it and reaches the kernels' build options; others are
 * refused naming the device. */
static void test_vector_widths(ykd_test *t)
{
    unsigned own = ykd_device_get_info(t->device)->vector_floats;
    CHECKF(t, own >= 1 && own <= 16 && (own & (own - 1)) == 0, "a vector width of %u", own);
    static const unsigned bad[] = {3, 32, 12};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char spec[16];
        snprintf(spec, sizeof spec, "%d", ykd_device_get_info(t->device)->index);
        ykd_device_options options = {.vector_floats = bad[i]};
        ykd_device *dev = NULL;
        ykd_error err = {0};
        CHECK_STATUS(t, ykd_device_open(spec, &options, &dev, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK(t, dev == NULL);
        CHECK_CONTAINS(t, err.message, ykd_device_get_info(t->device)->name);
        CHECK_CONTAINS(t, err.message, "1, 2, 4, 8 or 16");
    }
    ykd_device_options two = {.vector_floats = 2};
    ykd_device *dev = ykd_test_reopen(t, &two);
    ykd_kernel *kernel = NULL;
    if (dev && get_silu(t, dev, &kernel)) {
        CHECK(t, ykd_device_get_info(dev)->vector_floats == 2);
        cl_program program = NULL;
        char options[1024] = "";
        CHECK(t, clGetKernelInfo(kernel->kernel, CL_KERNEL_PROGRAM, sizeof program, &program,
                                 NULL) == CL_SUCCESS);
        CHECK(t, program && clGetProgramBuildInfo(program, dev->id, CL_PROGRAM_BUILD_OPTIONS,
                                                  sizeof options, options, NULL) == CL_SUCCESS);
        if (options[0]) /* rusticl reported none (PoCL does) */
            CHECK_CONTAINS(t, options, "-DVECTOR_FLOATS=2");
    }
    ykd_device_close(dev);
}

static const ykd_test_case cases[] = {
    {"device options: vector widths of 1..16 floats taken, others refused by name",
     test_vector_widths, YKD_TEST_EACH_DEVICE},
    {"launch: arguments past the last slot or over 32 bits are errors naming the kernel",
     test_argument_faults, YKD_TEST_EACH_DEVICE},
    {"launch: a work-group over the kernel's limit is refused by name",
     test_work_group_over_the_limit, YKD_TEST_EACH_DEVICE},
    {"maxpool: a missing operand is refused, never read", test_pool_missing_operands,
     YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
