/* Building an ONNX graph with protobuf-c's generated messages: every message, string and
 * array comes from one arena freed at once, and a failed allocation only sets a flag that the
 * caller checks before serializing, so the emitting code reads as a list of ops. */
#ifndef YKD_ONNX_BUILDER_H
#define YKD_ONNX_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnx.pb-c.h"
#include "yolokd/status.h"

typedef struct ykd_onnx {
    Onnx__GraphProto graph;
    size_t node_cap, init_cap, input_cap, output_cap;
    void **allocs;
    size_t alloc_count, alloc_cap;
    int next_name;
    bool failed; /* an allocation failed: the graph is incomplete */
} ykd_onnx;

void ykd_onnx_init(ykd_onnx *b, const char *graph_name);
/* Frees everything the builder allocated (the messages included). */
void ykd_onnx_free(ykd_onnx *b);

/* Zeroed arena memory; NULL (and b->failed) when out of memory. */
void *ykd_onnx_alloc(ykd_onnx *b, size_t size);
/* An arena copy of a printf-formatted string ("" on failure). */
char *ykd_onnx_str(ykd_onnx *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends node op_type reading inputs; its single output gets a fresh name (returned), or
 * output_name when not NULL. The node is returned through *node for attributes (may be NULL). */
const char *ykd_onnx_op(ykd_onnx *b, const char *op_type, const char *const *inputs,
                        size_t input_count, const char *output_name, Onnx__NodeProto **node);
/* One-input and two-input shorthands. */
const char *ykd_onnx_op1(ykd_onnx *b, const char *op_type, const char *x);
const char *ykd_onnx_op2(ykd_onnx *b, const char *op_type, const char *x, const char *y);

void ykd_onnx_attr_int(ykd_onnx *b, Onnx__NodeProto *node, const char *name, int64_t value);
void ykd_onnx_attr_ints(ykd_onnx *b, Onnx__NodeProto *node, const char *name,
                        const int64_t *values, size_t count);
void ykd_onnx_attr_float(ykd_onnx *b, Onnx__NodeProto *node, const char *name, float value);
void ykd_onnx_attr_string(ykd_onnx *b, Onnx__NodeProto *node, const char *name,
                          const char *value);

/* Initializers (constant tensors), copied; return their names (fresh when name is NULL). */
const char *ykd_onnx_const_floats(ykd_onnx *b, const char *name, const int64_t *dims,
                                  size_t ndim, const float *values);
const char *ykd_onnx_const_int64s(ykd_onnx *b, const char *name, const int64_t *dims,
                                  size_t ndim, const int64_t *values);
/* A 1-D int64 constant of count values. */
const char *ykd_onnx_const_ints(ykd_onnx *b, const int64_t *values, size_t count);

/* A float graph input or output with this shape; a dimension < 0 is symbolic, named
 * dim_param (e.g. "batch"). */
void ykd_onnx_input(ykd_onnx *b, const char *name, const int64_t *dims, size_t ndim,
                    const char *dim_param);
void ykd_onnx_output(ykd_onnx *b, const char *name, const int64_t *dims, size_t ndim,
                     const char *dim_param);

#endif
