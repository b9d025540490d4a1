/* YOLO models: a JSON description, the layer graph on a device, parameters, safetensors.
 *
 * A description (ykd_model_desc) is the published YOLOv8 layout as JSON: layers wired by index
 * ([from, repeats, module, args], as Ultralytics' YAML), depth/width multiples and a channel
 * cap, the number of classes. It is host-only: layer shapes, parameter counts and GFLOPs need
 * no device. A model (ykd_model) is a description built on one device: parameters in one
 * buffer, a graph of convolutions, residual adds, pools, upsamples and channel concats that runs
 * forward and backward with activation memory planned ahead (arenas reused as tensors die).
 *
 * Parameter names follow the Ultralytics YOLOv8 state_dict ("model.0.conv.weight",
 * "model.2.m.0.cv1.bn.running_mean", "model.22.cv2.0.2.bias", "model.22.dfl.conv.weight"), so
 * a state_dict exported with the safetensors Python package loads as is. */
#ifndef YOLOKD_MODEL_H
#define YOLOKD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yolokd/device.h"
#include "yolokd/status.h"
#include "yolokd/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- descriptions (host only) ------------------------------------------------------------- */

typedef struct ykd_model_desc ykd_model_desc;

enum {
    YKD_MODEL_MAX_CLASSES = 4096,
    YKD_MODEL_REG_MAX = 16, /* DFL bins per box side */
    YKD_MODEL_MAX_LEVELS = 8
};

typedef struct ykd_model_desc_options {
    const char *scale; /* a key of the description's "scales" (n, s, m, l, x); NULL: its "scale" */
    int nc;            /* classes; 0 keeps the description's "nc" */
} ykd_model_desc_options;

/* Parses a description from JSON text. source names it in errors ("model.json: $.head[3].from:
 * refers to layer 14, later than this layer (13)"). options may be NULL. */
ykd_status ykd_model_desc_parse(const char *json, size_t length, const char *source,
                                const ykd_model_desc_options *options, ykd_model_desc **desc,
                                ykd_error *err);

/* A built-in description: "n", "s", "m", "l" or "x" (also "yolov8n" ...). nc 0 means 80. */
ykd_status ykd_model_desc_builtin(const char *name, int nc, ykd_model_desc **desc,
                                  ykd_error *err);

/* What a user names on the command line: a built-in scale, a .json description, or a
 * .safetensors file (its embedded description, else the built-in scale its tensors match).
 * options may be NULL; options->nc overrides the classes of a description (not of weights). */
ykd_status ykd_model_desc_load(const char *spec, const ykd_model_desc_options *options,
                               ykd_model_desc **desc, ykd_error *err);

void ykd_model_desc_free(ykd_model_desc *desc);

/* The resolved description as JSON text (explicit multiples, the chosen nc), what weight files
 * carry; parsing it gives the same model. Owned by desc. */
const char *ykd_model_desc_json(const ykd_model_desc *desc);

/* "yolov8n", or the file's "name", or "model". */
const char *ykd_model_desc_name(const ykd_model_desc *desc);

int ykd_model_desc_classes(const ykd_model_desc *desc);
int ykd_model_desc_input_channels(const ykd_model_desc *desc);
int ykd_model_desc_max_stride(const ykd_model_desc *desc);

/* One row of the layer table (`yolokd info`). */
typedef struct ykd_model_layer_info {
    int index;
    char from[64];    /* "-1", "[-1, 6]" as written */
    int repeats;      /* after the depth multiple */
    char module[16];  /* "Conv", "C2f", "SPPF", "Upsample", "Concat", "Detect" */
    char args[96];    /* the resolved arguments, e.g. "[32, 3, 2]" */
    int channels;     /* output channels (Detect: 64 + nc per level) */
    int stride;       /* output stride relative to the input (Detect: the largest) */
    size_t params;    /* trainable parameters of the layer (BN weight and bias included) */
    double macs;      /* multiply-adds of its convolutions for one image at the size asked */
} ykd_model_layer_info;

int ykd_model_desc_layer_count(const ykd_model_desc *desc);
/* The row of layer index at an imgsz x imgsz input. */
void ykd_model_desc_layer(const ykd_model_desc *desc, int index, int imgsz,
                          ykd_model_layer_info *info);

/* Trainable parameters as Ultralytics counts them (conv weights and biases, BN weights and
 * biases, the fixed DFL projection; no running statistics). */
size_t ykd_model_desc_param_count(const ykd_model_desc *desc);

/* GFLOPs of one imgsz x imgsz image: twice the multiply-adds of every convolution. */
double ykd_model_desc_gflops(const ykd_model_desc *desc, int imgsz);

/* ---- parameters ----------------------------------------------------------------------------- */

/* What a tensor of the state_dict is, so the optimizer decays conv weights only and EMA also
 * averages BN statistics. The model stores parameters grouped by kind, in this order. */
typedef enum ykd_param_kind {
    YKD_PARAM_CONV_WEIGHT = 0, /* trained, weight decay */
    YKD_PARAM_BN_WEIGHT = 1,   /* trained */
    YKD_PARAM_BN_BIAS = 2,     /* trained */
    YKD_PARAM_CONV_BIAS = 3,   /* trained (the head's last 1x1 convolutions) */
    YKD_PARAM_BN_MEAN = 4,     /* running statistic, not trained */
    YKD_PARAM_BN_VAR = 5,      /* running statistic, not trained */
    YKD_PARAM_FIXED = 6,       /* the DFL projection 0..15, never changes */
    YKD_PARAM_KIND_COUNT = 7
} ykd_param_kind;

/* "conv weight", "BN weight", ... */
const char *ykd_param_kind_name(ykd_param_kind kind);
bool ykd_param_kind_trained(ykd_param_kind kind);

typedef struct ykd_model_param {
    const char *name;  /* "model.0.conv.weight" */
    ykd_param_kind kind;
    int ndim;          /* as in the state_dict: 4 for conv weights, 1 for vectors */
    int shape[4];
    ykd_tensor value;  /* [cout, cin, k, k] or [1, C, 1, 1], a view of the parameter buffer */
    ykd_tensor grad;   /* the same view of the gradient buffer; buffer NULL for kinds not
                          trained, and for all until the gradient buffer exists */
} ykd_model_param;

/* ---- models on a device --------------------------------------------------------------------- */

typedef struct ykd_model ykd_model;

typedef enum ykd_model_mode {
    YKD_MODEL_INFERENCE = 0, /* BN running statistics folded into the convs; no backward */
    YKD_MODEL_TRAINING = 1   /* BN batch statistics (running ones updated); keeps what backward
                                needs */
} ykd_model_mode;

/* Builds the description on the device, parameters initialised as YOLOv8 does with seed (see
 * ykd_model_init_params). desc is copied. */
ykd_status ykd_model_create(ykd_device *device, const ykd_model_desc *desc, uint64_t seed,
                            ykd_model **model, ykd_error *err);
void ykd_model_free(ykd_model *model);

const ykd_model_desc *ykd_model_get_desc(const ykd_model *model);
ykd_device *ykd_model_device(const ykd_model *model);

/* Conv weights Kaiming-uniform as PyTorch's default (bound 1/sqrt(fan_in)), conv biases
 * likewise; BN weight 1, bias 0, running mean 0, variance 1; then the head's priors: box bias
 * 1.0, class bias log(5 / nc / (640 / stride)^2); the DFL projection 0..15. Deterministic in
 * seed. Zeroes the gradients, if the model has them yet. */
ykd_status ykd_model_init_params(ykd_model *model, uint64_t seed, ykd_error *err);

/* The state_dict in Ultralytics order (num_batches_tracked excepted: see the batch counter). */
size_t ykd_model_param_count(const ykd_model *model);
const ykd_model_param *ykd_model_param_at(const ykd_model *model, size_t index);
const ykd_model_param *ykd_model_param_find(const ykd_model *model, const char *name);

/* The buffers holding every parameter (grouped by kind, see ykd_model_kind_range) and the
 * gradients of the trained ones (same offsets), for optimizers that step whole ranges. A model
 * gets its gradient buffer (zeroed) at its first training-mode forward or ykd_model_zero_grad:
 * until then ykd_model_grad_buffer is NULL and the table's grad views have no buffer, so a
 * model used only for inference (a teacher) holds no gradients. */
ykd_buffer *ykd_model_param_buffer(const ykd_model *model);
ykd_buffer *ykd_model_grad_buffer(const ykd_model *model);

/* [*first, *first + *count) floats of the parameter buffer hold the tensors of kind. */
void ykd_model_kind_range(const ykd_model *model, ykd_param_kind kind, size_t *first,
                          size_t *count);

/* Sets every gradient to zero (backward accumulates into them), creating the buffer if need be. */
ykd_status ykd_model_zero_grad(ykd_model *model, ykd_error *err);

/* Tells the model its parameters changed outside it (an optimizer step, an EMA update, a
 * direct write), so the folded inference weights are rebuilt before the next inference. */
void ykd_model_params_changed(ykd_model *model);

/* Synchronised BN (yolokd/ops.h): with sync, every training-mode forward and backward takes
 * its BN statistics over every data-parallel rank's batch; NULL (the default): this batch's.
 * sync must outlive its use. */
typedef struct ykd_bn_sync ykd_bn_sync;
void ykd_model_set_bn_sync(ykd_model *model, const ykd_bn_sync *sync);

/* Training-mode forwards run so far (Ultralytics' num_batches_tracked; saved and loaded). */
int64_t ykd_model_batches_tracked(const ykd_model *model);
/* Sets that counter: a trainer restoring a run, an EMA copy taking its source's count. */
void ykd_model_set_batches_tracked(ykd_model *model, int64_t count);

/* Class names (optional, carried in weight files); NULL when unknown. */
const char *ykd_model_class_name(const ykd_model *model, int index);
ykd_status ykd_model_set_class_names(ykd_model *model, const char *const *names, int count,
                                     ykd_error *err);

/* ---- forward, named tensors, backward --------------------------------------------------------- */

/* Runs the graph on images [N, ch, H, W] (H and W multiples of the largest stride) on the
 * model's device. Activations live in arenas planned for (mode, N, H, W): inference frees each
 * tensor's memory for reuse after its last reader; training keeps what backward needs. In
 * training mode images must stay unchanged until ykd_model_backward has run. */
ykd_status ykd_model_forward(ykd_model *model, const ykd_tensor *images, ykd_model_mode mode,
                             ykd_error *err);

/* Detect's levels: how many, and each one's stride (8, 16, 32 for YOLOv8). */
int ykd_model_level_count(const ykd_model *model);
int ykd_model_level_stride(const ykd_model *model, int level);
int ykd_model_classes(const ykd_model *model);

/* The named tensors of the last forward, valid until the next forward or backward:
 *   "p3", "p4", "p5"        the neck outputs, Detect's inputs (named p<log2 stride>)
 *   "box3", "box4", "box5"  raw box-distribution logits [N, 64, H, W] (4 sides x 16 bins)
 *   "cls3", "cls4", "cls5"  raw class logits [N, nc, H, W] (before the sigmoid)
 *   "head3", ...            both of a level as one tensor [N, 64 + nc, H, W] (box first)
 * box and cls are channel views of head. Unknown names fail with YKD_ERR_NOT_FOUND. */
ykd_status ykd_model_output(const ykd_model *model, const char *name, ykd_tensor *tensor,
                            ykd_error *err);

/* The channels and the stride (input pixels per cell) of a named tensor, without a forward:
 * at an H x W input it is [N, channels, H / stride, W / stride]. */
ykd_status ykd_model_output_info(const ykd_model *model, const char *name, int *channels,
                                 int *stride, ykd_error *err);

/* A gradient of the loss with respect to a named tensor, as the caller holds it. */
typedef struct ykd_model_grad {
    const char *name;       /* any name ykd_model_output knows */
    const ykd_tensor *grad; /* the shape of that tensor, on the model's device */
} ykd_model_grad;

/* After a training-mode forward: accumulates the gradient of every trained parameter, given
 * the gradients of named tensors (head levels not named count as zero; a neck gradient adds to
 * what flows back from the head). input_grad, when not NULL, receives the gradient with
 * respect to the images (written, not accumulated). The caller's tensors are only read. */
ykd_status ykd_model_backward(ykd_model *model, const ykd_model_grad *grads, size_t count,
                              const ykd_tensor *input_grad, ykd_error *err);

/* Told, during ykd_model_backward, that the gradient of trained parameter `param` (an index of
 * ykd_model_param_at) is final: every command that writes it is queued on the model's device,
 * so a read queued now sees its final value (a data-parallel trainer starts reducing it while
 * the rest of the backward runs). Called once per trained parameter and backward, in
 * ykd_model_grad_order's order; a failure it returns ends the backward. NULL: nobody. */
typedef ykd_status (*ykd_grad_final_fn)(void *user, size_t param, ykd_error *err);
void ykd_model_set_grad_final(ykd_model *model, ykd_grad_final_fn fn, void *user);

/* The trained parameters in the order the backward finalises their gradients (the head's
 * first, the stem's last): *order (the model's, valid while it lives) and the count. */
size_t ykd_model_grad_order(const ykd_model *model, const size_t **order);

/* The floats [*first, *first + *count) of the parameter (and gradient) buffer that parameter
 * index occupies, its alignment padding included: consecutive parameters of a kind abut. */
void ykd_model_param_span(const ykd_model *model, size_t index, size_t *first, size_t *count);

/* ---- memory -------------------------------------------------------------------------------- */

typedef struct ykd_model_memory {
    uint64_t params_bytes;      /* every parameter and running statistic */
    uint64_t grads_bytes;       /* gradients (training) */
    uint64_t folded_bytes;      /* conv weights with BN folded in (inference) */
    uint64_t activation_bytes;  /* the planned arenas: activations, temporaries, gradients */
    uint64_t total_bytes;       /* the sum: the planned peak of a forward (+ backward) */
    int arenas;                 /* how many buffers the activations were split into */
    int tensors;                /* how many tensors the plan placed */
    uint64_t unshared_bytes;    /* what they would take without reuse */
} ykd_model_memory;

/* The plan for (mode, n, h, w), from the description alone (no device): arena_limit caps one
 * arena (0: no cap). The device's kernels' own scratch (im2col columns) is not included. */
ykd_status ykd_model_desc_plan_memory(const ykd_model_desc *desc, ykd_model_mode mode, int n,
                                      int h, int w, uint64_t arena_limit,
                                      ykd_model_memory *memory, ykd_error *err);

/* The same for a model on its device (arenas capped by the device's largest allocation). */
ykd_status ykd_model_plan_memory(const ykd_model *model, ykd_model_mode mode, int n, int h,
                                 int w, ykd_model_memory *memory, ykd_error *err);

/* ---- weights files (safetensors) -------------------------------------------------------------- */

/* Writes every parameter as F32 (num_batches_tracked as I64), the description and the class
 * names in __metadata__, to a temporary file renamed over path. */
ykd_status ykd_model_save(const ykd_model *model, const char *path, ykd_error *err);

/* Creates the model a weights file describes (its embedded description, else the built-in
 * scale its tensors match, as a state_dict exported from Ultralytics) and loads it. */
ykd_status ykd_model_load(ykd_device *device, const char *path, ykd_model **model,
                          ykd_error *err);

/* Loads a file's tensors into an existing model. Every tensor of the model must be present
 * with its shape, and no other (num_batches_tracked optional); F32, F16 and BF16 are read. */
ykd_status ykd_model_load_weights(ykd_model *model, const char *path, ykd_error *err);

#ifdef __cplusplus
}
#endif

#endif
