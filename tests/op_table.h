/* The op table (as ggml's test-backend-ops): every device op is one entry naming its shape
 * cases, its tolerances, the functions that run it on the device (forward and, where it exists,
 * backward) and its float64 reference. test-ops runs every entry x every case x every device
 * present, on random inputs from a generator seeded by the entry and the case, with outputs in
 * poisoned, guarded tensors. Adding an op: its setup/reference/forward/backward in
 * tests/ops/<family>.c (declared in tests/ops/ops.h) and one entry in tests/op_table.c. */
#ifndef YKD_TEST_OP_TABLE_H
#define YKD_TEST_OP_TABLE_H

#include "op_check.h"
#include "ref/ref.h"

/* What a case asks for besides its shape; each entry says which it reads. */
enum op_flag {
    OP_STRIDED = 1 << 0,    /* operands are channel views of larger tensors (as the op says) */
    OP_ACCUMULATE = 1 << 1, /* gradients add to values already there */
    OP_IN_PLACE = 1 << 2,   /* the output is the input */
    OP_TIES = 1 << 3,       /* inputs on a coarse grid, so that values repeat */
    OP_MASKED = 1 << 4,     /* with a mask (or weights) */
    OP_SILU = 1 << 5,       /* with the SiLU epilogue */
    OP_BIAS = 1 << 6        /* with a bias */
};

/* One shape case: a tensor shape, the op's integer and real parameters (what each means is the
 * entry's, see its setup), and flags. */
typedef struct op_case {
    ref_shape shape;
    int p[10];
    double f[6];
    unsigned flags;
} op_case;

/* Bounds on the normalised MSE against float64 of the forward's and the backward's outputs,
 * and the relative error of a scalar loss. */
typedef struct op_tolerance {
    double forward, backward, loss;
} op_tolerance;

typedef enum op_phase { OP_FORWARD, OP_BACKWARD } op_phase;

enum { OP_SLOTS = 24 };

typedef struct op_entry op_entry;

/* One case being run: host values, their float64 copies and device tensors by slot (each
 * entry numbers its operands), and the outputs to compare with the expected values. */
typedef struct op_io {
    ykd_test *t;
    const op_entry *entry;
    const op_case *c;
    uint64_t seed;
    ykd_test_mem mem;
    ref_shape shape[OP_SLOTS];
    float *host[OP_SLOTS];          /* inputs' values (initial values of accumulated outputs) */
    double *ref[OP_SLOTS];          /* the same in float64 */
    const ykd_tensor *dev[OP_SLOTS];
    double *expect[OP_SLOTS];       /* outputs: the float64 values expected */
    const float *got[OP_SLOTS];     /* outputs the device gives on the host (op_out_host) */
    bool checked[OP_SLOTS];
    op_phase phase[OP_SLOTS];
    const char *const *slot_names;  /* NULL, or each slot's name for messages */
    bool has_loss;                  /* forward gives a scalar loss */
    double loss, expected_loss;
    int failures_at_start;
    char what[192];                 /* the case, for messages */
    void *scratch;                  /* an entry's own, freed with the case (malloc'd) */
} op_io;

struct op_entry {
    const char *name;
    const op_case *cases;
    size_t case_count;
    op_tolerance tol;
    /* Host inputs, device operands and the outputs to check (op_in, op_out, ...); false after
     * a failed check. Also writes io->what. */
    bool (*setup)(op_io *io);
    /* The float64 values of the phase's outputs into io->expect (and io->expected_loss).
     * The backward's is called after the device forward, so it may read the device's y. */
    void (*reference)(op_io *io, op_phase phase);
    ykd_status (*forward)(op_io *io, ykd_error *err);  /* NULL: the op is a backward only */
    ykd_status (*backward)(op_io *io, ykd_error *err); /* NULL: none */
    /* NULL, or a host check of the float64 backward against finite differences. */
    void (*reference_gradient)(ykd_test *t, const op_entry *e);
    /* Runs the cases on the device presented as a GPU (the launchers' GPU work split). */
    bool as_gpu;
    /* Runs the cases once more on the device reopened with work-groups capped at 1, 4 and 16
     * (ykd_test_with_small_groups): for kernels built for the size the device allows. */
    bool small_groups;
    /* Also run with kernels built for vectors of 1, 2, 4, 8 and 16 floats
     * (ykd_test_with_vector_widths): for kernels whose work-items take a floatv. */
    bool vector_widths;
    const void *variant; /* an entry's own setting (a GEMM policy) */
};

/* The table (tests/op_table.c). */
extern const op_entry *const op_table[];
extern const size_t op_table_size;

/* The table's entry of that name; NULL when none. */
const op_entry *op_find_entry(const char *name);

/* Runs every case of e on t->device. */
void op_run_entry(ykd_test *t, const op_entry *e);

/* Runs case i of e on t->device. */
void op_run_case(ykd_test *t, const op_entry *e, size_t i);

/* ---- for setups ------------------------------------------------------------------------- */

/* Random host values uniform in [lo, hi) for slot (and their float64 copies); seeded by the
 * case's seed and the slot. */
float *op_values(op_io *io, int slot, ref_shape s, float lo, float hi);

/* Device copy of slot's host values, a guarded tensor (strided: a channel view). */
const ykd_tensor *op_upload(op_io *io, int slot, bool strided);

/* op_values then op_upload. */
const ykd_tensor *op_in(op_io *io, int slot, ref_shape s, float lo, float hi, bool strided);

/* An output compared in phase: a poisoned guarded tensor, its expected values zeroed. */
const ykd_tensor *op_out(op_io *io, int slot, ref_shape s, bool strided, op_phase phase);

/* An output that starts from random values (accumulation): host/ref hold them. */
const ykd_tensor *op_out_from(op_io *io, int slot, ref_shape s, float lo, float hi,
                              bool strided, op_phase phase);

/* An output that is the tensor of slot `in` (in place), compared in phase. */
const ykd_tensor *op_out_alias(op_io *io, int slot, int in, op_phase phase);

/* An output the forward reads back itself into io->got[slot] (packed as s). */
void op_out_host(op_io *io, int slot, ref_shape s, op_phase phase);

/* Compares slot's tensor with its expected values (bound: the entry's for the phase). */
bool op_compare(op_io *io, int slot);

/* The device's values of slot as float64 (kept with the case); NULL after a failed check. */
double *op_download(op_io *io, int slot);

/* expect[slot] += ref[slot]: the initial values of an accumulated output. */
void op_add_initial(op_io *io, int slot);

/* io->what = the entry's name, shape s and the case's flags in words (strided, in place,
 * accumulating), then extra (may be ""). */
void op_describe(op_io *io, ref_shape s, const char *extra);

/* True when no check has failed since the case began (every operand was made). */
bool op_setup_ok(const op_io *io);

#define OP_SHAPE(n, c, h, w) ((ref_shape){(n), (c), (h), (w)})

#endif
