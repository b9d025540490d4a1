/* What the ops keep per device: a scratch buffer for im2col columns, the GEMM policy and the
 * tuner's table. Created on first use, freed when the device closes. */
#ifndef YKD_OPS_STATE_H
#define YKD_OPS_STATE_H

#include "ops/gemm.h"

typedef struct ykd_gemm_choice {
    char signature[128];
    ykd_gemm_config config;
    double ms;
} ykd_gemm_choice;

/* An algorithm chosen by measurement for an op's shape (a convolution's weight gradient,
 * say): the signature starts with the op's tag ("conv-wgrad ..."), the name is the op's. */
typedef struct ykd_algo_choice {
    char signature[128];
    char name[32];
    double ms;
} ykd_algo_choice;

typedef enum ykd_gemm_policy_kind {
    YKD_GEMM_POLICY_AUTO = 0,   /* measure every candidate */
    YKD_GEMM_POLICY_TILED = 1,  /* measure our tile shapes only */
    YKD_GEMM_POLICY_FIXED = 2   /* always the one configuration */
} ykd_gemm_policy_kind;

typedef struct ykd_ops_state {
    ykd_buffer *scratch;
    ykd_gemm_policy_kind policy;
    ykd_gemm_config fixed;    /* the configuration of YKD_GEMM_POLICY_FIXED */
    ykd_gemm_choice *choices; /* the tuner's table */
    size_t choice_count;
    char tuning_path[4300];   /* empty when the cache is off */
    unsigned tunings;         /* shapes measured since the device opened */
    unsigned tunings_cut;     /* of those, chosen before every candidate ran (time bound) */
    unsigned backend_losses[2]; /* shapes in a row each backend lost by over 3x */
    bool backend_dropped[2];    /* no longer measured on this device */
    bool windows_decided;       /* the calibration below has run (or was read back) */
    bool windows;               /* our GEMMs beat CLBlast: stride-1 convs use windows */
    double calibration_ratio;   /* CLBlast's time over ours in the calibration (0: unknown) */
    size_t column_budget;     /* bytes of im2col columns per pass; 0: the device's default */
    bool columns_only;        /* tests: convolutions always through im2col columns */
    int conv_weight_grad;     /* tests: a forced ykd_conv_weight_grad_path; 0: measured */
    int conv_forward;         /* tests: a forced ykd_conv_forward_path; 0: measured */
    int conv_strided_grad;    /* tests: a forced ykd_conv_strided_grad_path; 0: measured */
    bool conv_measure_fixed;  /* tests: measure the paths under a fixed GEMM configuration too */
    ykd_algo_choice *algo_choices; /* op algorithms chosen so far, kept in the tuning file */
    size_t algo_choice_count;
    bool used_clblast;
} ykd_ops_state;

/* The device's ops state, created on first use (reading $YOLOKD_GEMM and the tuning file). */
ykd_status ykd_ops_state_get(ykd_device *device, ykd_ops_state **state, ykd_error *err);

/* A scratch buffer of at least bytes, kept between calls (grown when too small). Valid until
 * the next call on this device; commands already queued on the old buffer are unaffected. */
ykd_status ykd_ops_scratch(ykd_device *device, size_t bytes, ykd_buffer **buffer,
                           ykd_error *err);

/* After measuring a shape: best_of[backend] is each backend's fastest time (negative when not
 * measured), best the overall fastest. A backend more than 3x slower is charged a loss; enough
 * losses in a row drop it from later measurements on the device. */
void ykd_gemm_score_backends(ykd_ops_state *state, const double best_of[2], double best);

/* Decides once per device, by timing our GEMM kernels against CLBlast on a product shaped
 * like a mid-network 3x3 convolution, whether convolutions may read windows of padded copies
 * (which only our kernels can); the decision is kept in the tuning file, so it never changes
 * within or between runs on the device (a mid-run switch would change the float rounding). */
void ykd_gemm_calibrate(ykd_device *device, ykd_ops_state *state);

/* Remembers an op algorithm chosen for signature (kept in the tuning file beside the GEMM
 * choices); false when out of host memory, which only costs a later re-measurement. */
bool ykd_ops_algo_remember(ykd_device *device, ykd_ops_state *state, const char *signature,
                           const char *name, double ms);

/* The remembered algorithm's name for signature, or NULL. */
const char *ykd_ops_algo_lookup(const ykd_ops_state *state, const char *signature);

/* Sets the GEMM policy from a YOLOKD_GEMM value: "auto", "tiled", or one configuration name
 * ("clblast", "tiled-6x2"). */
ykd_status ykd_ops_set_gemm_policy(ykd_device *device, const char *value, ykd_error *err);

#endif
