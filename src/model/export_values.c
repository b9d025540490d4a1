/* Where each channel range of the graph's storages lives in the ONNX graph being built (see
 * export_internal.h): writes replace ranges, reads gather them with Slice and Concat. */
#include <stdlib.h>
#include <string.h>

#include "model/export_internal.h"

static void add_piece(ykd_exporter *x, ykd_export_piece piece)
{
    if (piece.c <= 0)
        return;
    if (x->piece_count == x->piece_cap) {
        size_t cap = x->piece_cap ? 2 * x->piece_cap : 256;
        ykd_export_piece *p = realloc(x->pieces, cap * sizeof *p);
        if (!p) {
            x->b->failed = true;
            return;
        }
        x->pieces = p;
        x->piece_cap = cap;
    }
    x->pieces[x->piece_count++] = piece;
}

void ykd_export_write(ykd_exporter *x, int value, const char *tensor)
{
    int start;
    int storage = ykd_graph_root(x->g, value, &start);
    int end = start + x->g->values[value].c;
    /* cut what the write covers out of the pieces it overlaps; keep what sticks out */
    size_t count = x->piece_count;
    for (size_t i = 0; i < count; i++) {
        ykd_export_piece p = x->pieces[i];
        if (p.storage != storage || p.start + p.c <= start || p.start >= end)
            continue;
        x->pieces[i].c = 0;
        if (p.start < start)
            add_piece(x, (ykd_export_piece){storage, p.start, start - p.start, p.tensor,
                                            p.offset, p.tensor_c});
        if (p.start + p.c > end)
            add_piece(x, (ykd_export_piece){storage, end, p.start + p.c - end, p.tensor,
                                            p.offset + (end - p.start), p.tensor_c});
    }
    /* drop the emptied pieces */
    size_t kept = 0;
    for (size_t i = 0; i < x->piece_count; i++)
        if (x->pieces[i].c > 0)
            x->pieces[kept++] = x->pieces[i];
    x->piece_count = kept;
    add_piece(x, (ykd_export_piece){storage, start, end - start, tensor, 0, end - start});
}

const char *ykd_export_slice(ykd_exporter *x, const char *tensor, int axis, int64_t start,
                             int64_t end)
{
    int64_t axes = axis;
    const char *in[4] = {tensor, ykd_onnx_const_ints(x->b, &start, 1),
                         ykd_onnx_const_ints(x->b, &end, 1), ykd_onnx_const_ints(x->b, &axes, 1)};
    return ykd_onnx_op(x->b, "Slice", in, 4, NULL, NULL);
}

/* The piece of storage holding channel ch, or NULL. */
static const ykd_export_piece *piece_at(const ykd_exporter *x, int storage, int ch)
{
    for (size_t i = 0; i < x->piece_count; i++) {
        const ykd_export_piece *p = &x->pieces[i];
        if (p->storage == storage && p->start <= ch && ch < p->start + p->c)
            return p;
    }
    return NULL;
}

const char *ykd_export_read(ykd_exporter *x, int value)
{
    return ykd_export_read_range(x, value, 0, x->g->values[value].c);
}

const char *ykd_export_read_range(ykd_exporter *x, int value, int first, int count)
{
    int start;
    int storage = ykd_graph_root(x->g, value, &start);
    start += first;
    int end = start + count;
    const char **parts = ykd_onnx_alloc(x->b, (size_t)(end - start) * sizeof *parts);
    if (!parts)
        return NULL;
    size_t n = 0;
    for (int ch = start; ch < end;) {
        const ykd_export_piece *p = piece_at(x, storage, ch);
        if (!p)
            return NULL;
        int from = p->offset + (ch - p->start);
        int upto = p->offset + ((p->start + p->c < end ? p->start + p->c : end) - p->start);
        parts[n++] = from == 0 && upto == p->tensor_c
                             ? p->tensor
                             : ykd_export_slice(x, p->tensor, 1, from, upto);
        ch += upto - from;
    }
    if (n == 1)
        return parts[0];
    Onnx__NodeProto *node;
    const char *cat = ykd_onnx_op(x->b, "Concat", parts, n, NULL, &node);
    ykd_onnx_attr_int(x->b, node, "axis", 1);
    return cat;
}
