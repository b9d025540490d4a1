/* Every device op of the op table (tests/op_table.c) on every OpenCL device present, against
 * its float64 reference; each float64 backward against finite differences; then the ops'
 * plain tests: values worked by hand, determinism, the tuner's memory, refusals. */
#include <stdio.h>
#include <stdlib.h>

#include "ops/ops.h"

enum { MAX_ENTRIES = 128 };

/* The harness's case names, one per entry (and one per finite-difference check and per run
 * under small work-groups). */
static char device_names[MAX_ENTRIES][200], host_names[MAX_ENTRIES][200];
static char small_names[MAX_ENTRIES][200], vector_names[MAX_ENTRIES][200];

static size_t entry_of(const char *case_name)
{
    for (size_t i = 0; i < op_table_size; i++)
        if (case_name == device_names[i] || case_name == host_names[i] ||
            case_name == small_names[i] || case_name == vector_names[i])
            return i;
    return op_table_size;
}

static void run_entry(ykd_test *t)
{
    size_t i = entry_of(t->name);
    if (CHECK(t, i < op_table_size))
        op_run_entry(t, op_table[i]);
}

static void run_entry_in_small_groups(ykd_test *t)
{
    ykd_test_with_small_groups(t, run_entry);
}

static void run_entry_in_vector_widths(ykd_test *t)
{
    ykd_test_with_vector_widths(t, run_entry);
}

static void run_reference_gradient(ykd_test *t)
{
    size_t i = entry_of(t->name);
    if (CHECK(t, i < op_table_size))
        op_table[i]->reference_gradient(t, op_table[i]);
}

static const ykd_test_case plain[] = {
    {"axpy_f32, axpby_f32: in place", op_axpy_f32_in_place, YKD_TEST_EACH_DEVICE},
    {"fill_f32, axpy_f32, axpby_f32: bad operands are refused", op_basic_refusals,
     YKD_TEST_EACH_DEVICE},
    {"add, axpy, scale: bad operands are refused", op_elementwise_refusals,
     YKD_TEST_EACH_DEVICE},
    {"activations: bad operands are refused", op_activation_refusals, YKD_TEST_EACH_DEVICE},
    {"batchnorm: deterministic", op_batchnorm_deterministic, YKD_TEST_EACH_DEVICE},
    {"batchnorm: bad operands are refused", op_batchnorm_refusals, YKD_TEST_EACH_DEVICE},
    {"maxpool: bad windows and shapes are refused", op_maxpool_refusals, YKD_TEST_EACH_DEVICE},
    {"upsample2x: bad shapes are refused", op_upsample2x_refusals, YKD_TEST_EACH_DEVICE},
    {"concat: bad parts are refused", op_concat_refusals, YKD_TEST_EACH_DEVICE},
    {"reduce, softmax: bad axes and shapes are refused", op_reduce_refusals,
     YKD_TEST_EACH_DEVICE},
    {"optim: the first step, by hand", op_optim_first_step_by_hand, YKD_TEST_EACH_DEVICE},
    {"optim: bad settings and tensors are refused", op_optim_refusals, YKD_TEST_EACH_DEVICE},
    {"gemm: bad descriptions are refused", op_gemm_refusals, YKD_TEST_EACH_DEVICE},
    {"sum of squares against the reference, the same twice", op_sum_squares,
     YKD_TEST_EACH_DEVICE},
    {"batchnorm: synchronised over two ranks = the whole batch", op_batchnorm_sync_two_ranks,
     YKD_TEST_EACH_DEVICE},
    {"gemm: the tuner remembers its choice", op_gemm_tuner_remembers, YKD_TEST_EACH_DEVICE},
    {"gemm: a backend that keeps losing is dropped", op_gemm_losing_backend_is_dropped,
     YKD_TEST_EACH_DEVICE},
    {"gemm: the calibration is remembered", op_gemm_calibration_is_remembered,
     YKD_TEST_EACH_DEVICE},
    {"conv2d: paths measured per shape", op_conv_paths_measured, YKD_TEST_EACH_DEVICE},
    {"conv2d: channel views as input and output", op_conv_views, YKD_TEST_EACH_DEVICE},
    {"conv2d: fused conv + BN + SiLU inference", op_conv_fused_bn_silu, YKD_TEST_EACH_DEVICE},
    {"conv2d: a weights cache on every forward path", op_conv_weights_cache,
     YKD_TEST_EACH_DEVICE},
    {"conv2d: a forward's copy read by its weight gradient", op_conv_saved_copy,
     YKD_TEST_EACH_DEVICE},
    {"conv2d: Winograd reads an input alone in its buffer", op_conv_winograd_whole_buffer,
     YKD_TEST_EACH_DEVICE},
    {"conv2d: bad operands are refused", op_conv_refusals, YKD_TEST_EACH_DEVICE},
    {"conv2d: bad groups are refused", op_conv_grouped_refusals, YKD_TEST_EACH_DEVICE},
    {"matmul: bad products are refused", op_matmul_refusals, YKD_TEST_EACH_DEVICE},
    {"attention: bad arguments are refused", op_attention_refusals, YKD_TEST_EACH_DEVICE},
    {"kd reference: logit KD by hand", op_kd_hand_logit, YKD_TEST_HOST},
    {"kd reference: LD and CWD by hand", op_kd_hand_ld_cwd, YKD_TEST_HOST},
    {"kd reference: PKD and masked MSE by hand", op_kd_hand_pkd_mse, YKD_TEST_HOST},
    {"kd losses: the same inputs give the same bits", op_kd_deterministic, YKD_TEST_EACH_DEVICE},
    {"kd losses: LD and CWD with teacher and student far apart", op_kd_far_apart,
     YKD_TEST_EACH_DEVICE},
    {"kd losses: bad shapes and parameters refused, nothing written", op_kd_refusals,
     YKD_TEST_EACH_DEVICE},
    {"kd losses: a teacher on another device refused", op_kd_other_device,
     YKD_TEST_EACH_DEVICE},
    {"kd losses: NaN inputs give an error", op_kd_not_finite, YKD_TEST_EACH_DEVICE},
};
enum { PLAIN = sizeof plain / sizeof plain[0] };

int main(int argc, char **argv)
{
    static ykd_test_case cases[4 * MAX_ENTRIES + PLAIN];
    size_t count = 0;
    if (op_table_size > MAX_ENTRIES) {
        printf("FAIL  the op table has %zu entries, over %d: raise MAX_ENTRIES\n", op_table_size,
               MAX_ENTRIES);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    for (size_t i = 0; i < op_table_size; i++) {
        const op_entry *e = op_table[i];
        const char *what = !e->forward  ? ""
                           : e->backward ? ", forward and backward"
                                         : ", forward";
        snprintf(device_names[i], sizeof device_names[i], "%s: %zu cases%s against float64",
                 e->name, e->case_count, what);
        cases[count++] = (ykd_test_case){device_names[i], run_entry, YKD_TEST_EACH_DEVICE};
        if (e->reference_gradient) {
            snprintf(host_names[i], sizeof host_names[i],
                     "%s: float64 backward against finite differences", e->name);
            cases[count++] = (ykd_test_case){host_names[i], run_reference_gradient, YKD_TEST_HOST};
        }
        if (e->small_groups) {
            snprintf(small_names[i], sizeof small_names[i],
                     "%s: work-groups of 1, 4 and 16 against float64", e->name);
            cases[count++] =
                (ykd_test_case){small_names[i], run_entry_in_small_groups, YKD_TEST_EACH_DEVICE};
        }
        if (e->vector_widths) {
            snprintf(vector_names[i], sizeof vector_names[i],
                     "%s: vectors of 1, 2, 4, 8 and 16 floats against float64", e->name);
            cases[count++] = (ykd_test_case){vector_names[i], run_entry_in_vector_widths,
                                             YKD_TEST_EACH_DEVICE};
        }
    }
    for (size_t i = 0; i < PLAIN; i++)
        cases[count++] = plain[i];
    return ykd_test_main(cases, count, argc, argv);
}
