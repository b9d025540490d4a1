/* The ONNX exporter's shared state: the builder, the model, host copies of its weights, and
 * where each channel range of each graph storage currently lives in the ONNX graph.
 *
 * The model's graph writes values into channel ranges of shared storages (C2f's chunks, SPPF's
 * pools, concat inputs placed in their concat, in-place residual adds). ONNX tensors are
 * immutable, so the exporter replays the graph: each write records that channels [start,
 * start + c) of a root storage are now channels [offset, offset + c) of an ONNX tensor, and each
 * read gathers the pieces back (Slice where a piece is part of a tensor, Concat where the range
 * spans several). A new node kind is one case in export_onnx.c: read its inputs, emit its ops,
 * write its output. */
#ifndef YKD_EXPORT_INTERNAL_H
#define YKD_EXPORT_INTERNAL_H

#include "model/model_internal.h"
#include "model/onnx_builder.h"
#include "yolokd/export.h"

typedef struct ykd_export_piece {
    int storage;        /* a root storage */
    int start, c;       /* its channels [start, start + c) */
    const char *tensor; /* live in this ONNX tensor */
    int offset;         /* from this channel of it */
    int tensor_c;       /* which has this many channels */
} ykd_export_piece;

typedef struct ykd_exporter {
    ykd_onnx *b;
    const ykd_model *model;
    const ykd_graph *g;
    const ykd_export_options *options;
    float *params; /* the parameter buffer, on the host */
    float *folded; /* the folded inference weights, on the host */
    ykd_export_piece *pieces;
    size_t piece_count, piece_cap;
} ykd_exporter;

/* The ONNX tensor holding value v's channels (emitting Slice and Concat as needed); NULL when
 * some channel of it was never written (an internal error the caller reports). */
const char *ykd_export_read(ykd_exporter *x, int value);

/* Channels [first, first + count) of value v, likewise. */
const char *ykd_export_read_range(ykd_exporter *x, int value, int first, int count);

/* Records that value v's channels are now tensor (which has exactly v's channel count). */
void ykd_export_write(ykd_exporter *x, int value, const char *tensor);

/* Channels [offset, offset + count) of a tensor, on axis 1. */
const char *ykd_export_slice(ykd_exporter *x, const char *tensor, int axis, int64_t start,
                             int64_t end);

/* An attention node's output [N, heads * head_dim, H, W] from its qkv tensor. */
const char *ykd_export_attention(ykd_exporter *x, const ykd_gnode *n, const char *qkv);

/* The graph outputs after the last node: the decoded [N, 4 + nc, anchors] "output0", or the
 * raw per-level heads. Returns false when a head was never written. */
bool ykd_export_head(ykd_exporter *x);

#endif
