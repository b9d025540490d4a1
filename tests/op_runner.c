/* Runs the op table's entries: each case's setup, float64 reference, device forward and
 * backward, the comparisons and the guard bands. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device_internal.h"
#include "op_table.h"

/* A case's seed: the entry's name and the case's index, so a failure replays alone. */
static uint64_t case_seed(const op_entry *e, size_t i)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *s = e->name; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ^ ((uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL);
}

float *op_values(op_io *io, int slot, ref_shape s, float lo, float hi)
{
    io->shape[slot] = s;
    io->host[slot] = ykd_test_inputs(&io->mem, ref_numel(s), io->seed + 7919u * (uint64_t)slot,
                                     lo, hi, &io->ref[slot]);
    return io->host[slot];
}

const ykd_tensor *op_upload(op_io *io, int slot, bool strided)
{
    ref_shape s = io->shape[slot];
    io->dev[slot] = ykd_test_in(io->t, &io->mem, io->host[slot], s.n, s.c, s.h, s.w, strided);
    return io->dev[slot];
}

const ykd_tensor *op_in(op_io *io, int slot, ref_shape s, float lo, float hi, bool strided)
{
    op_values(io, slot, s, lo, hi);
    return op_upload(io, slot, strided);
}

static void expect_slot(op_io *io, int slot, ref_shape s, op_phase phase)
{
    io->shape[slot] = s;
    io->expect[slot] = ykd_test_doubles(&io->mem, ref_numel(s));
    io->checked[slot] = true;
    io->phase[slot] = phase;
}

const ykd_tensor *op_out(op_io *io, int slot, ref_shape s, bool strided, op_phase phase)
{
    expect_slot(io, slot, s, phase);
    io->dev[slot] = ykd_test_out(io->t, &io->mem, s.n, s.c, s.h, s.w, strided);
    return io->dev[slot];
}

const ykd_tensor *op_out_from(op_io *io, int slot, ref_shape s, float lo, float hi,
                              bool strided, op_phase phase)
{
    op_in(io, slot, s, lo, hi, strided);
    expect_slot(io, slot, s, phase);
    return io->dev[slot];
}

const ykd_tensor *op_out_alias(op_io *io, int slot, int in, op_phase phase)
{
    expect_slot(io, slot, io->shape[in], phase);
    io->dev[slot] = io->dev[in];
    return io->dev[slot];
}

void op_out_host(op_io *io, int slot, ref_shape s, op_phase phase)
{
    expect_slot(io, slot, s, phase);
}

static double bound_of(const op_io *io, op_phase phase)
{
    return phase == OP_FORWARD ? io->entry->tol.forward : io->entry->tol.backward;
}

bool op_compare(op_io *io, int slot)
{
    char what[240];
    if (io->slot_names && io->slot_names[slot])
        snprintf(what, sizeof what, "%s, %s", io->what, io->slot_names[slot]);
    else
        snprintf(what, sizeof what, "%s, output %d", io->what, slot);
    if (!io->dev[slot])
        return ykd_test_expect_floats(io->t, io->got[slot], io->expect[slot],
                                      ref_numel(io->shape[slot]), bound_of(io, io->phase[slot]),
                                      what);
    return ykd_test_expect_tensor(io->t, io->dev[slot], io->expect[slot],
                                  bound_of(io, io->phase[slot]), what);
}

double *op_download(op_io *io, int slot)
{
    float *values = ykd_test_download(io->t, io->dev[slot]);
    if (!values)
        return NULL;
    ykd_test_keep(&io->mem, values);
    return ykd_test_keep(&io->mem, ykd_test_to_double(values, ykd_tensor_numel(io->dev[slot])));
}

void op_add_initial(op_io *io, int slot)
{
    for (size_t i = 0; i < ref_numel(io->shape[slot]); i++)
        io->expect[slot][i] += io->ref[slot][i];
}

void op_describe(op_io *io, ref_shape s, const char *extra)
{
    unsigned f = io->c->flags;
    snprintf(io->what, sizeof io->what, "%s [%d, %d, %d, %d]%s%s%s%s", io->entry->name, s.n, s.c,
             s.h, s.w, extra, f & OP_STRIDED ? " strided" : "", f & OP_IN_PLACE ? " in place" : "",
             f & OP_ACCUMULATE ? " accumulating" : "");
}

bool op_setup_ok(const op_io *io)
{
    return io->t->failures == io->failures_at_start;
}

static void compare_phase(op_io *io, op_phase phase)
{
    for (int slot = 0; slot < OP_SLOTS; slot++)
        if (io->checked[slot] && io->phase[slot] == phase && (io->dev[slot] || io->got[slot]))
            op_compare(io, slot);
    if (phase == OP_FORWARD && io->has_loss)
        /* relative, with an absolute floor for losses near 0 */
        CHECKF(io->t,
               fabs(io->loss - io->expected_loss) <=
                   io->entry->tol.loss * fabs(io->expected_loss) + 1e-9,
               "%s: loss %.9g, float64 %.9g", io->what, io->loss, io->expected_loss);
}

static bool run_phase(op_io *io, op_phase phase)
{
    const op_entry *e = io->entry;
    ykd_status (*run)(op_io *, ykd_error *) = phase == OP_FORWARD ? e->forward : e->backward;
    if (!run)
        return true;
    e->reference(io, phase);
    ykd_error err = {0};
    ykd_status st = run(io, &err);
    if (!CHECKF(io->t, st == YKD_OK, "%s: %s %s", io->what,
                phase == OP_FORWARD ? "forward" : "backward", err.message))
        return false;
    compare_phase(io, phase);
    return true;
}

void op_run_case(ykd_test *t, const op_entry *e, size_t i)
{
    op_io *io = calloc(1, sizeof *io);
    if (!CHECK(t, io != NULL))
        return;
    io->t = t;
    io->entry = e;
    io->c = &e->cases[i];
    io->seed = case_seed(e, i);
    io->failures_at_start = t->failures;
    snprintf(io->what, sizeof io->what, "%s case %zu", e->name, i);
    if (e->setup(io) && run_phase(io, OP_FORWARD))
        run_phase(io, OP_BACKWARD);
    ykd_test_mem_guards_intact(t, &io->mem, io->what);
    ykd_test_mem_free(&io->mem);
    free(io->scratch);
    free(io);
}

void op_run_entry(ykd_test *t, const op_entry *e)
{
    ykd_device *own = t->device, *gpu = NULL;
    if (e->as_gpu) {
        /* GPUs' work-items are lanes: kernels built for vectors of one float */
        gpu = ykd_test_reopen(t, &(const ykd_device_options){.vector_floats = 1});
        if (!gpu)
            return;
        gpu->info.type = YKD_DEVICE_TYPE_GPU;
        t->device = gpu;
    }
    for (size_t i = 0; i < e->case_count; i++)
        op_run_case(t, e, i);
    t->device = own;
    ykd_device_close(gpu);
}

const op_entry *op_find_entry(const char *name)
{
    for (size_t i = 0; i < op_table_size; i++)
        if (strcmp(op_table[i]->name, name) == 0)
            return op_table[i];
    return NULL;
}
