/* Tensors: allocation, channel and image views, checks, strided transfers, fill and copy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "yolokd/ops.h"
#include "yolokd/tensor.h"

static void test_views_address_the_right_elements(ykd_test *t)
{
    /* x [2, 5, 3, 4] with x[i] = i; the view of channels 1..3 holds, per image, the packed
     * run starting at channel 1 */
    ykd_tensor x;
    ykd_error err;
    if (!CHECK_OK(t, ykd_tensor_alloc(t->device, 2, 5, 3, 4, &x, &err), err))
        return;
    enum { TOTAL = 2 * 5 * 3 * 4, IMAGE = 5 * 3 * 4, PLANE = 3 * 4 };
    float data[TOTAL], got[TOTAL];
    for (int i = 0; i < TOTAL; i++)
        data[i] = (float)i;
    CHECK_OK(t, ykd_tensor_write(&x, data, &err), err);
    ykd_tensor mid = ykd_tensor_channels(&x, 1, 3);
    CHECK(t, !ykd_tensor_is_packed(&mid) && ykd_tensor_numel(&mid) == 2 * 3 * PLANE);
    CHECK_OK(t, ykd_tensor_read(&mid, got, &err), err);
    bool ok = true;
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 3 * PLANE; i++)
            ok = ok && got[n * 3 * PLANE + i] == data[n * IMAGE + PLANE + i];
    CHECK(t, ok);
    ykd_tensor second = ykd_tensor_images(&x, 1, 1);
    CHECK_OK(t, ykd_tensor_read(&second, got, &err), err);
    CHECK(t, memcmp(got, data + IMAGE, IMAGE * sizeof(float)) == 0);

    /* fill a strided view: only its elements change */
    CHECK_OK(t, ykd_tensor_fill(&mid, -1.0f, &err), err);
    CHECK_OK(t, ykd_tensor_read(&x, got, &err), err);
    ok = true;
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < IMAGE; i++) {
            bool inside = i >= PLANE && i < 4 * PLANE;
            ok = ok && got[n * IMAGE + i] == (inside ? -1.0f : data[n * IMAGE + i]);
        }
    CHECK(t, ok);
    ykd_tensor_free(&x);
    CHECK(t, x.buffer == NULL);
}

static void test_copy_between_views_and_devices(ykd_test *t)
{
    ykd_tensor a, b, c;
    ykd_error err;
    ykd_device *other = ykd_test_reopen(t, NULL);
    if (!other)
        return;
    enum { N = 3, C = 4, HW = 5 };
    float data[N * C * HW], got[N * 2 * HW];
    for (int i = 0; i < N * C * HW; i++)
        data[i] = (float)(i * 7 % 31);
    if (CHECK_OK(t, ykd_tensor_alloc(t->device, N, C, 1, HW, &a, &err), err) &&
        CHECK_OK(t, ykd_tensor_alloc(t->device, N, 2, 1, HW, &b, &err), err) &&
        CHECK_OK(t, ykd_tensor_alloc(other, N, 2, 1, HW, &c, &err), err)) {
        CHECK_OK(t, ykd_tensor_write(&a, data, &err), err);
        ykd_tensor tail = ykd_tensor_channels(&a, 2, 2);
        CHECK_OK(t, ykd_tensor_copy(&b, &tail, &err), err);
        CHECK_OK(t, ykd_tensor_copy(&c, &b, &err), err);
        CHECK_OK(t, ykd_tensor_read(&c, got, &err), err);
        bool ok = true;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < 2 * HW; i++)
                ok = ok && got[n * 2 * HW + i] == data[n * C * HW + 2 * HW + i];
        CHECK(t, ok);
        CHECK_STATUS(t, ykd_tensor_copy(&a, &b, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "[3, 4, 1, 5]");
        CHECK_CONTAINS(t, err.message, "[3, 2, 1, 5]");
    }
    ykd_tensor_free(&a);
    ykd_tensor_free(&b);
    ykd_tensor_free(&c);
    ykd_device_close(other);
}

static void test_bad_tensors_are_refused(ykd_test *t)
{
    ykd_tensor x, bad;
    ykd_error err;
    CHECK_STATUS(t, ykd_tensor_alloc(t->device, 0, 3, 4, 4, &x, &err), YKD_ERR_SHAPE, err);
    CHECK(t, x.buffer == NULL);
    if (!CHECK_OK(t, ykd_tensor_alloc(t->device, 2, 3, 4, 4, &x, &err), err))
        return;
    CHECK_OK(t, ykd_tensor_check(&x, "op", "x", &err), err);
    bad = ykd_tensor_channels(&x, 2, 2); /* channels 2..3 of 3: past the end */
    bad.n = 2;
    CHECK_STATUS(t, ykd_tensor_check(&bad, "op", "x", &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "op: x [2, 2, 4, 4]");
    bad = x;
    bad.batch_stride = 10;
    CHECK_STATUS(t, ykd_tensor_check(&bad, "op", "x", &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "batch stride of 10");
    bad = x;
    bad.w = 0;
    CHECK_STATUS(t, ykd_tensor_check(&bad, "op", "x", &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "empty shape");
    bad = x;
    bad.buffer = NULL;
    CHECK_STATUS(t, ykd_tensor_check(&bad, "op", "x", &err), YKD_ERR_INVALID_ARGUMENT, err);
    float host[1];
    bad = x;
    bad.n = 3;
    CHECK_STATUS(t, ykd_tensor_read(&bad, host, &err), YKD_ERR_SHAPE, err);
    ykd_tensor_free(&x);
}

static const ykd_test_case cases[] = {
    {"tensor: views address the right elements", test_views_address_the_right_elements,
     YKD_TEST_EACH_DEVICE},
    {"tensor: copy between views and devices", test_copy_between_views_and_devices,
     YKD_TEST_EACH_DEVICE},
    {"tensor: bad tensors are refused", test_bad_tensors_are_refused, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
