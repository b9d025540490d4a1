/* Concatenation along channels in the op table: case p = {parts, channels of each...}, the
 * shape's n, h, w; the forward concatenates the parts, the backward splits the whole (dy)
 * into the parts' gradients: ykd_split_forward, or ykd_concat_backward adding to values
 * there (OP_ACCUMULATE) or overwriting (the entry "concat backward"). OP_STRIDED: the whole,
 * and every other part, strided. Plus the float64 backward against finite differences and the
 * refusals. */
#include <stdio.h>

#include "ops.h"
#include "yolokd/ops.h"

enum { MAX_PARTS = 9, Y = 0, DY = 1, PART = 2, GRAD = PART + MAX_PARTS };

static int part_count(const op_io *io)
{
    return io->c->p[0];
}

static const int *part_channels(const op_io *io)
{
    return io->c->p + 1;
}

static bool is_backward_only(const op_io *io)
{
    return io->entry->forward == NULL;
}

bool op_concat_setup(op_io *io)
{
    const op_case *c = io->c;
    int count = part_count(io), total = 0;
    bool strided = c->flags & OP_STRIDED, accumulate = c->flags & OP_ACCUMULATE;
    for (int k = 0; k < count; k++)
        total += part_channels(io)[k];
    ref_shape whole = {c->shape.n, total, c->shape.h, c->shape.w};
    snprintf(io->what, sizeof io->what, "%s of %d [%d, %d, %d, %d]%s%s", io->entry->name,
             count, whole.n, whole.c, whole.h, whole.w, strided ? " strided" : "",
             accumulate ? " accumulating" : "");
    if (!CHECKF(io->t, count >= 1 && count <= MAX_PARTS, "%s: %d parts", io->what, count))
        return false;
    for (int k = 0; k < count; k++) {
        ref_shape ps = {whole.n, part_channels(io)[k], whole.h, whole.w};
        /* every other part strided, so both kinds meet in one launch */
        bool part_strided = strided == (k % 2 == 0);
        if (is_backward_only(io)) /* overwriting gradients that held the parts' values */
            part_strided = k % 3 == 0;
        op_in(io, PART + k, ps, -1, 1, part_strided);
        if (accumulate || is_backward_only(io)) {
            io->shape[GRAD + k] = ps;
            io->host[GRAD + k] = io->host[PART + k];
            io->ref[GRAD + k] = io->ref[PART + k];
            op_upload(io, GRAD + k, is_backward_only(io) ? part_strided : !part_strided);
            op_out_alias(io, GRAD + k, GRAD + k, OP_BACKWARD);
        } else {
            op_out(io, GRAD + k, ps, !part_strided, OP_BACKWARD);
        }
    }
    if (!is_backward_only(io))
        op_out(io, Y, whole, strided, OP_FORWARD);
    op_in(io, DY, whole, -1, 1, is_backward_only(io) || !strided);
    return op_setup_ok(io);
}

void op_concat_reference(op_io *io, op_phase phase)
{
    ref_shape s = io->shape[DY];
    size_t plane = (size_t)s.h * s.w;
    int count = part_count(io);
    const double *parts[MAX_PARTS] = {0};
    double *grads[MAX_PARTS] = {0};
    for (int k = 0; k < count; k++) {
        parts[k] = io->ref[PART + k];
        grads[k] = io->expect[GRAD + k];
    }
    if (phase == OP_FORWARD) {
        ref_concat(s.n, plane, count, part_channels(io), parts, io->expect[Y]);
        return;
    }
    ref_split(s.n, plane, count, part_channels(io), io->ref[DY], grads);
    for (int k = 0; io->c->flags & OP_ACCUMULATE && k < count; k++)
        op_add_initial(io, GRAD + k);
}

ykd_status op_concat_forward(op_io *io, ykd_error *err)
{
    const ykd_tensor *parts[MAX_PARTS];
    for (int k = 0; k < part_count(io); k++)
        parts[k] = io->dev[PART + k];
    return ykd_concat_forward(parts, part_count(io), io->dev[Y], err);
}

ykd_status op_concat_backward(op_io *io, ykd_error *err)
{
    const ykd_tensor *grads[MAX_PARTS];
    for (int k = 0; k < part_count(io); k++)
        grads[k] = io->dev[GRAD + k];
    if (io->c->flags & OP_ACCUMULATE || is_backward_only(io))
        return ykd_concat_backward(io->dev[DY], io->c->flags & OP_ACCUMULATE, grads,
                                   part_count(io), err);
    return ykd_split_forward(io->dev[DY], grads, part_count(io), err);
}

/* loss = sum(dy * concat(parts)) as a function of all parts laid end to end: SPPF's four
 * parts of 4 channels, 2 images of 2x3 planes. */
static const int fd_channels[] = {4, 4, 4, 4};
enum { FD_PARTS = 4, FD_N = 2 * 16 * 6 };

static void fd_forward(void *ctx, const double *x, double *y)
{
    (void)ctx;
    const double *parts[FD_PARTS];
    for (int k = 0; k < FD_PARTS; k++)
        parts[k] = x + (size_t)k * 2 * 4 * 6;
    ref_concat(2, 6, FD_PARTS, fd_channels, parts, y);
}

void op_concat_reference_gradient(ykd_test *t, const op_entry *e)
{
    (void)e;
    ykd_test_mem m = {0};
    double *x, *dy, *numeric = ykd_test_doubles(&m, FD_N), *analytic = ykd_test_doubles(&m, FD_N);
    double *parts[FD_PARTS];
    ykd_test_inputs(&m, FD_N, 1, -1, 1, &x);
    ykd_test_inputs(&m, FD_N, 2, -1, 1, &dy);
    for (int k = 0; k < FD_PARTS; k++)
        parts[k] = analytic + (size_t)k * 2 * 4 * 6;
    ref_split(2, 6, FD_PARTS, fd_channels, dy, parts);
    ykd_test_numeric_gradient(fd_forward, NULL, x, FD_N, dy, FD_N, 1e-3, numeric);
    ykd_test_expect_close(t, analytic, numeric, FD_N, 1e-20, "concat backward");
    ykd_test_mem_free(&m);
}

void op_concat_refusals(ykd_test *t)
{
    ykd_test_mem m = {0};
    const ykd_tensor *a = ykd_test_out(t, &m, 2, 3, 4, 5, false);
    const ykd_tensor *b = ykd_test_out(t, &m, 2, 4, 4, 5, false);
    const ykd_tensor *y = ykd_test_out(t, &m, 2, 8, 4, 5, false);
    const ykd_tensor *other = ykd_test_out(t, &m, 1, 5, 4, 5, false);
    ykd_error err;
    if (a && b && y && other) {
        const ykd_tensor *two[] = {a, b}, *mixed[] = {a, other};
        CHECK_STATUS(t, ykd_concat_forward(two, 2, y, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "ykd_concat_forward: the 2 xs hold 7 channels in all, "
                                       "but y [2, 8, 4, 5] has 8");
        CHECK_STATUS(t, ykd_concat_forward(mixed, 2, y, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "xs[1] has shape [1, 5, 4, 5], expected [2, 5, 4, 5]");
        CHECK_STATUS(t, ykd_concat_forward(two, 0, y, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_STATUS(t, ykd_split_forward(y, NULL, 2, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_STATUS(t, ykd_concat_backward(y, false, mixed, 2, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "ykd_concat_backward: dxs[1]");
        ykd_test_expect_all_poison(t, y, "refused output");
        ykd_test_expect_all_poison(t, a, "refused output");
    }
    ykd_test_mem_free(&m);
}
