/* fill_f32, axpy_f32 and axpby_f32 (on buffer ranges) in the op table: the case's shape
 * [1, 1, 1, n] is the range, inside a guarded buffer. Plus axpy and axpby in place and the
 * refusals. */
#include <stdio.h>

#include "ops.h"
#include "yolokd/ops.h"

enum { X, Y };
static const char *const slot_names[OP_SLOTS] = {"x", "y"};

static size_t count(const op_io *io)
{
    return ref_numel(io->c->shape);
}

static float fill_value(const op_io *io)
{
    return (float)count(io) * 0.25f - 3.0f;
}

bool op_fill_setup(op_io *io)
{
    io->slot_names = slot_names;
    snprintf(io->what, sizeof io->what, "fill_f32 n=%zu", count(io));
    op_out(io, Y, io->c->shape, false, OP_FORWARD);
    return op_setup_ok(io);
}

void op_fill_reference(op_io *io, op_phase phase)
{
    (void)phase;
    for (size_t i = 0; i < count(io); i++)
        io->expect[Y][i] = fill_value(io);
}

ykd_status op_fill_forward(op_io *io, ykd_error *err)
{
    return ykd_fill_f32(io->dev[Y]->buffer, io->dev[Y]->offset, count(io), fill_value(io), err);
}

/* alpha and beta from the case's seed, in [-1.5, 1.5) */
static float axpy_alpha(const op_io *io)
{
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, io->seed);
    return ykd_test_rng_uniform(&rng, -1.5f, 1.5f);
}

static float axpby_beta(const op_io *io)
{
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, io->seed);
    ykd_test_rng_uniform(&rng, -1.5f, 1.5f); /* alpha's */
    return ykd_test_rng_uniform(&rng, -1.5f, 1.5f);
}

static bool pair_setup(op_io *io, const char *name)
{
    io->slot_names = slot_names;
    snprintf(io->what, sizeof io->what, "%s n=%zu", name, count(io));
    op_in(io, X, io->c->shape, -2, 2, false);
    op_out_from(io, Y, io->c->shape, -2, 2, false, OP_FORWARD);
    return op_setup_ok(io);
}

bool op_axpy_f32_setup(op_io *io)
{
    return pair_setup(io, "axpy_f32");
}

void op_axpy_f32_reference(op_io *io, op_phase phase)
{
    (void)phase;
    ref_axpy(count(io), axpy_alpha(io), io->host[X], io->host[Y], io->expect[Y]);
}

ykd_status op_axpy_f32_forward(op_io *io, ykd_error *err)
{
    const ykd_tensor *x = io->dev[X], *y = io->dev[Y];
    return ykd_axpy_f32(count(io), axpy_alpha(io), x->buffer, x->offset, y->buffer, y->offset,
                        err);
}

bool op_axpby_f32_setup(op_io *io)
{
    return pair_setup(io, "axpby_f32");
}

void op_axpby_f32_reference(op_io *io, op_phase phase)
{
    (void)phase;
    ref_axpby(count(io), axpy_alpha(io), io->host[X], axpby_beta(io), io->host[Y],
              io->expect[Y]);
}

ykd_status op_axpby_f32_forward(op_io *io, ykd_error *err)
{
    const ykd_tensor *x = io->dev[X], *y = io->dev[Y];
    return ykd_axpby_f32(count(io), axpy_alpha(io), x->buffer, x->offset, axpby_beta(io),
                         y->buffer, y->offset, err);
}

/* x and y the same range: y = (1 + alpha) y; axpby: y = (alpha + beta) y */
void op_axpy_f32_in_place(ykd_test *t)
{
    float data[5] = {1, 2, 3, 4, 5}, back[5];
    ykd_buffer *buf = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_buffer_alloc(t->device, sizeof data, &buf, &err), err))
        return;
    CHECK_OK(t, ykd_buffer_write(buf, 0, data, sizeof data, &err), err);
    CHECK_OK(t, ykd_axpy_f32(5, 0.5f, buf, 0, buf, 0, &err), err);
    CHECK_OK(t, ykd_buffer_read(buf, 0, back, sizeof back, &err), err);
    for (int i = 0; i < 5; i++)
        CHECKF(t, back[i] == 1.5f * data[i], "element %d: %g", i, back[i]);
    CHECK_OK(t, ykd_axpby_f32(5, 0.5f, buf, 0, 0.25f, buf, 0, &err), err);
    CHECK_OK(t, ykd_buffer_read(buf, 0, back, sizeof back, &err), err);
    for (int i = 0; i < 5; i++)
        CHECKF(t, back[i] == 0.75f * 1.5f * data[i], "axpby element %d: %g", i, back[i]);
    ykd_buffer_free(buf);
}

void op_basic_refusals(ykd_test *t)
{
    ykd_buffer *a = NULL, *b = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_buffer_alloc(t->device, 10 * sizeof(float), &a, &err), err))
        return;
    CHECK_STATUS(t, ykd_fill_f32(a, 5, 6, 1.0f, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "fill_f32: x elements 5..11 lie outside its 10");
    CHECK_STATUS(t, ykd_axpy_f32(11, 1.0f, a, 0, a, 0, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_STATUS(t, ykd_axpy_f32(4, 1.0f, a, 0, a, 2, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "overlap");
    CHECK_STATUS(t, ykd_axpby_f32(11, 1.0f, a, 0, 0.5f, a, 0, &err), YKD_ERR_INVALID_ARGUMENT,
                 err);
    CHECK_CONTAINS(t, err.message, "axpby_f32: x elements 0..11 lie outside its 10");
    CHECK_STATUS(t, ykd_axpby_f32(4, 1.0f, a, 2, 0.5f, a, 0, &err), YKD_ERR_INVALID_ARGUMENT,
                 err);
    CHECK_CONTAINS(t, err.message, "axpby_f32: x and y overlap partly");
    CHECK_OK(t, ykd_fill_f32(a, 10, 0, 1.0f, &err), err);

    ykd_device *other = ykd_test_reopen(t, NULL);
    if (other) {
        if (CHECK_OK(t, ykd_buffer_alloc(other, 10 * sizeof(float), &b, &err), err)) {
            CHECK_STATUS(t, ykd_axpy_f32(10, 1.0f, a, 0, b, 0, &err), YKD_ERR_INVALID_ARGUMENT,
                         err);
            CHECK_CONTAINS(t, err.message, "copy one first");
            CHECK_STATUS(t, ykd_axpby_f32(10, 1.0f, a, 0, 0.5f, b, 0, &err),
                         YKD_ERR_INVALID_ARGUMENT, err);
            CHECK_CONTAINS(t, err.message, "axpby_f32: x is on device");
        }
        ykd_buffer_free(b);
        ykd_device_close(other);
    }
    ykd_buffer_free(a);
}
