/* Operations on device data. Every op queues its work on the device of its operands and
 * returns; a read of the result (ykd_buffer_read) waits for it. */
#ifndef YOLOKD_OPS_H
#define YOLOKD_OPS_H

#include <stddef.h>

#include "yolokd/device.h"
#include "yolokd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x[offset .. offset + n) = value, on float32 elements. */
ykd_status ykd_fill_f32(ykd_buffer *x, size_t offset, size_t n, float value, ykd_error *err);

/* y[y_offset + i] += alpha * x[x_offset + i] for i < n, on float32 elements. x and y must
 * live on the same device; in one buffer their ranges must be disjoint or the same. */
ykd_status ykd_axpy_f32(size_t n, float alpha, const ykd_buffer *x, size_t x_offset,
                        ykd_buffer *y, size_t y_offset, ykd_error *err);

#ifdef __cplusplus
}
#endif

#endif
