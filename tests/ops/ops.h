/* The op table's functions, one family of ops per file in tests/ops/: each op's setup,
 * float64 reference, device forward and backward, its float64 backward against finite
 * differences, and the family's plain tests (hand-worked values, refusals). */
#ifndef YKD_TEST_OPS_H
#define YKD_TEST_OPS_H

#include "op_table.h"
#include "ops/conv_internal.h"
#include "ops/gemm.h"

/* The full set of an op's table functions: op_<name>_{setup, reference, forward, backward}. */
#define OP_FUNCTIONS(name)                                                                     \
    bool op_##name##_setup(op_io *io);                                                         \
    void op_##name##_reference(op_io *io, op_phase phase);                                     \
    ykd_status op_##name##_forward(op_io *io, ykd_error *err);                                 \
    ykd_status op_##name##_backward(op_io *io, ykd_error *err)

#define OP_REFERENCE_GRADIENT(name) void op_##name##_reference_gradient(ykd_test *t, const op_entry *e)

/* basic.c */
OP_FUNCTIONS(fill);
OP_FUNCTIONS(axpy_f32);
OP_FUNCTIONS(axpby_f32);
void op_axpy_f32_in_place(ykd_test *t);
void op_basic_refusals(ykd_test *t);

/* elementwise.c: one setup for the three */
bool op_elementwise_setup(op_io *io);
OP_FUNCTIONS(add);
OP_FUNCTIONS(axpy);
OP_FUNCTIONS(scale);
void op_elementwise_refusals(ykd_test *t);

/* activation.c: one setup for the three */
bool op_activation_setup(op_io *io);
OP_FUNCTIONS(silu);
OP_FUNCTIONS(sigmoid);
OP_FUNCTIONS(leaky_relu);
OP_REFERENCE_GRADIENT(silu);
OP_REFERENCE_GRADIENT(sigmoid);
OP_REFERENCE_GRADIENT(leaky_relu);
void op_activation_refusals(ykd_test *t);

/* batchnorm.c */
OP_FUNCTIONS(batchnorm_train);
OP_FUNCTIONS(batchnorm_backward);
OP_FUNCTIONS(batchnorm_infer);
OP_FUNCTIONS(batchnorm_fold);
OP_REFERENCE_GRADIENT(batchnorm);
void op_batchnorm_sync_two_ranks(ykd_test *t); /* batchnorm_sync.c */
void op_batchnorm_deterministic(ykd_test *t);
void op_batchnorm_refusals(ykd_test *t);

/* pool.c */
OP_FUNCTIONS(maxpool);
OP_REFERENCE_GRADIENT(maxpool);
void op_maxpool_refusals(ykd_test *t);

/* resize.c */
OP_FUNCTIONS(upsample2x);
OP_REFERENCE_GRADIENT(upsample2x);
void op_upsample2x_refusals(ykd_test *t);

/* concat.c */
OP_FUNCTIONS(concat);
OP_REFERENCE_GRADIENT(concat);
void op_concat_refusals(ykd_test *t);

/* reduce.c */
OP_FUNCTIONS(reduce);
OP_FUNCTIONS(softmax);
OP_REFERENCE_GRADIENT(softmax);
void op_sum_squares(ykd_test *t);
void op_reduce_refusals(ykd_test *t);

/* optim.c: one setup and reference for both */
bool op_optim_setup(op_io *io);
void op_optim_reference(op_io *io, op_phase phase);
OP_FUNCTIONS(sgd);
OP_FUNCTIONS(adamw);
void op_optim_first_step_by_hand(ykd_test *t);
void op_optim_refusals(ykd_test *t);

/* gemm.c: the variants every tile shape, CLBlast */
extern const int op_gemm_every_tile;
extern const ykd_gemm_config op_gemm_clblast;
OP_FUNCTIONS(gemm);
void op_gemm_refusals(ykd_test *t);
void op_gemm_tuner_remembers(ykd_test *t);
void op_gemm_losing_backend_is_dropped(ykd_test *t);
void op_gemm_calibration_is_remembered(ykd_test *t);

/* conv.c: the variant is the GEMM policy and the convolution's path */
typedef struct op_conv_variant {
    const char *policy;      /* as YOLOKD_GEMM */
    bool one_image_per_pass; /* a scratch of one image's columns */
    bool columns_only;       /* im2col columns even where windows of padded copies serve */
    ykd_conv_forward_path forward;         /* the forward's path (and so the input gradient's
                                              of stride-1 convolutions); CHOOSE: measured */
    ykd_conv_weight_grad_path weight_grad; /* the weight gradient's; CHOOSE: measured */
    ykd_conv_strided_grad_path strided_grad; /* strided convolutions' input gradient's */
} op_conv_variant;
OP_FUNCTIONS(conv);
OP_REFERENCE_GRADIENT(conv);
void op_conv_views(ykd_test *t);
void op_conv_paths_measured(ykd_test *t);
void op_conv_fused_bn_silu(ykd_test *t);
void op_conv_weights_cache(ykd_test *t);
void op_conv_saved_copy(ykd_test *t);
void op_conv_winograd_whole_buffer(ykd_test *t);
void op_conv_refusals(ykd_test *t);
void op_conv_grouped_refusals(ykd_test *t);

/* attention.c: YOLO11's batched products and attention */
OP_FUNCTIONS(matmul);
OP_FUNCTIONS(attention);
void op_matmul_refusals(ykd_test *t);
void op_attention_refusals(ykd_test *t);

/* kd.c: the variant points to the loss's kind */
enum { OP_KD_LOGIT, OP_KD_LD, OP_KD_CWD, OP_KD_PKD, OP_KD_MSE, OP_KD_IMITATION, OP_KD_KINDS };
extern const int op_kd_kind[OP_KD_KINDS];
OP_FUNCTIONS(kd);
OP_REFERENCE_GRADIENT(kd);
void op_kd_hand_logit(ykd_test *t);
void op_kd_hand_ld_cwd(ykd_test *t);
void op_kd_hand_pkd_mse(ykd_test *t);
void op_kd_deterministic(ykd_test *t);
void op_kd_far_apart(ykd_test *t);
void op_kd_refusals(ykd_test *t);
void op_kd_other_device(ykd_test *t);
void op_kd_not_finite(ykd_test *t);

/* decode.c */
OP_FUNCTIONS(decode);

#endif
