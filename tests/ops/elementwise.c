/* add, axpy and scale in the op table: OP_STRIDED (a strided, b packed, or the reverse),
 * OP_IN_PLACE (the output is a). Plus their refusals. */
#include <stdio.h>

#include "ops.h"
#include "yolokd/ops.h"

enum { A, B, Y };
static const char *const slot_names[OP_SLOTS] = {"a", "b", "y"};

static const float alpha = -0.75f;

bool op_elementwise_setup(op_io *io)
{
    io->slot_names = slot_names;
    ref_shape s = io->c->shape;
    bool strided = io->c->flags & OP_STRIDED, in_place = io->c->flags & OP_IN_PLACE;
    op_describe(io, s, "");
    op_in(io, A, s, -3, 3, strided);
    op_in(io, B, s, -3, 3, !strided);
    if (in_place)
        op_out_alias(io, Y, A, OP_FORWARD);
    else if (io->entry->forward == op_axpy_forward) /* y is b: y += alpha * a */
        op_out_alias(io, Y, B, OP_FORWARD);
    else
        op_out(io, Y, s, strided, OP_FORWARD);
    return op_setup_ok(io);
}

static size_t count(const op_io *io)
{
    return ref_numel(io->shape[A]);
}

void op_add_reference(op_io *io, op_phase phase)
{
    (void)phase;
    ref_add(count(io), io->ref[A], io->ref[B], io->expect[Y]);
}

void op_axpy_reference(op_io *io, op_phase phase)
{
    (void)phase;
    bool in_place = io->c->flags & OP_IN_PLACE;
    ref_axpy(count(io), alpha, io->host[A], in_place ? io->host[A] : io->host[B], io->expect[Y]);
}

void op_scale_reference(op_io *io, op_phase phase)
{
    (void)phase;
    ref_scale(count(io), alpha, io->ref[A], io->expect[Y]);
}

ykd_status op_add_forward(op_io *io, ykd_error *err)
{
    return ykd_add_forward(io->dev[A], io->dev[B], io->dev[Y], err);
}

ykd_status op_axpy_forward(op_io *io, ykd_error *err)
{
    return ykd_tensor_axpy(alpha, io->dev[A], io->dev[Y], err);
}

ykd_status op_scale_forward(op_io *io, ykd_error *err)
{
    return ykd_tensor_scale(io->dev[A], alpha, io->dev[Y], err);
}

void op_elementwise_refusals(ykd_test *t)
{
    ykd_guarded a, b;
    ykd_error err;
    if (!ykd_test_guarded_alloc(t, 2, 3, 4, 5, &a) || !ykd_test_guarded_alloc(t, 1, 3, 4, 5, &b))
        return;
    CHECK_STATUS(t, ykd_add_forward(&a.tensor, &b.tensor, &a.tensor, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_add_forward: b has shape [1, 3, 4, 5] but a has shape "
                                   "[2, 3, 4, 5]");
    CHECK_STATUS(t, ykd_tensor_axpy(1.0f, &a.tensor, &b.tensor, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_tensor_axpy: y has shape [1, 3, 4, 5]");
    ykd_tensor empty = b.tensor;
    empty.h = 0;
    CHECK_STATUS(t, ykd_tensor_scale(&b.tensor, 2.0f, &empty, &err), YKD_ERR_SHAPE, err);
    CHECK_CONTAINS(t, err.message, "ykd_tensor_scale: y has the empty shape [1, 3, 0, 5]");
    ykd_tensor beyond = b.tensor;
    beyond.n = 9;
    CHECK_STATUS(t, ykd_tensor_scale(&beyond, 2.0f, &beyond, &err), YKD_ERR_SHAPE, err);
    ykd_test_expect_all_poison(t, &a.tensor, "refused output");
    ykd_test_expect_all_poison(t, &b.tensor, "refused output");
    ykd_test_guarded_free(&a);
    ykd_test_guarded_free(&b);
}
