/* The model layer's shared structures: the validated description, the host graph it expands
 * into (nodes over values over storages, and the parameter table), the memory plan, and the
 * model on its device. */
#ifndef YKD_MODEL_INTERNAL_H
#define YKD_MODEL_INTERNAL_H

#include "yolokd/model.h"
#include "yolokd/ops.h"

/* ---- description -------------------------------------------------------------------------- */

typedef enum ykd_module {
    YKD_MODULE_CONV,
    YKD_MODULE_C2F,
    YKD_MODULE_SPPF,
    YKD_MODULE_UPSAMPLE,
    YKD_MODULE_CONCAT,
    YKD_MODULE_DETECT,
    YKD_MODULE_DWCONV, /* Conv with gcd(c1, c2) groups */
    YKD_MODULE_C3K2,   /* YOLO11's C2f with Bottleneck(e = 0.5) or C3k blocks */
    YKD_MODULE_C2PSA   /* YOLO11's CSP block of position-sensitive attention blocks */
} ykd_module;

enum { YKD_LAYER_MAX_FROM = YKD_MODEL_MAX_LEVELS, YKD_MODEL_MAX_LAYERS = 512 };

typedef struct ykd_layer_desc {
    ykd_module module;
    int from[YKD_LAYER_MAX_FROM]; /* absolute layer indices; -1 is the input image */
    int from_count;
    char from_text[64];
    int repeats;   /* after the depth multiple (C2f, C3k2, C2PSA), else 1 */
    int c2;        /* output channels after the width multiple and cap (Conv, C2f, SPPF) */
    int k, s;      /* Conv kernel and stride; SPPF pool kernel in k */
    int groups;    /* DWConv: gcd(cin, c2); else 1 */
    bool shortcut; /* C2f residual adds */
    bool c3k;      /* C3k2: C3k blocks (given, or forced by the m, l and x scales) */
    double e;      /* C3k2, C2PSA: the expansion (hidden channels int(c2 * e)) */
    int hidden;    /* C3k2, C2PSA: int(c2 * e) */
    int heads, key_dim, head_dim; /* C2PSA's attention */
    bool legacy;   /* Detect: YOLOv8's class branch (3x3 convs); false after a C3k2, as
                    * Ultralytics decides: YOLO11's DWConv + 1x1 pairs */
    int cin;       /* input channels (the sum for Concat; the first level's for Detect) */
    int cout;      /* output channels (Detect: 64 + nc) */
    int stride;    /* output stride relative to the input (Detect: its largest) */
} ykd_layer_desc;

struct ykd_model_desc {
    char *json;        /* the resolved description, what weight files carry */
    char name[64];
    int nc, ch;
    double depth, width;
    int max_channels;  /* 0: no cap */
    ykd_layer_desc *layers;
    int layer_count;
    int max_stride;
    struct ykd_graph *graph;
};

/* make_divisible(min(c, cap) * width, 8) as Ultralytics scales channels. */
int ykd_desc_scale_channels(const ykd_model_desc *desc, int c);

/* The module's name as descriptions spell it. */
const char *ykd_module_name(ykd_module module);

/* The embedded YOLOv8 and YOLO11 descriptions (every scale). */
extern const char ykd_builtin_yolov8_json[];
extern const char ykd_builtin_yolo11_json[];

/* Every built-in model by its full name ("yolov8n" .. "yolo11x"). */
enum { YKD_BUILTIN_COUNT = 10 };
extern const char *const ykd_builtin_names[YKD_BUILTIN_COUNT];

/* ---- graph ---------------------------------------------------------------------------------- */

typedef enum ykd_node_kind {
    YKD_NODE_CONV,     /* conv + BN + SiLU (bn), or conv + bias (plain) */
    YKD_NODE_ADD,      /* out += in, in place (the bottleneck's residual) */
    YKD_NODE_MAXPOOL,  /* k x k, stride 1, padding k / 2 */
    YKD_NODE_UPSAMPLE, /* nearest, x2 */
    YKD_NODE_COPY,     /* out = in (a concat input that cannot be written in place) */
    YKD_NODE_ATTENTION /* out = multi-head attention over positions of in (q, k, v per head) */
} ykd_node_kind;

/* A tensor of the graph: channels [offset, offset + c) of a storage. */
typedef struct ykd_gvalue {
    int storage;
    int offset;
    int c;
    int stride;
} ykd_gvalue;

/* Memory for one or more values. A storage placed inside another (a concat input written
 * straight into its channel slice) has a parent; the root owns the memory. */
typedef struct ykd_gstorage {
    int c;
    int stride;
    int parent;            /* -1 for a root */
    int offset_in_parent;
    bool head;             /* a Detect output: its gradient comes from the caller */
} ykd_gstorage;

typedef struct ykd_gnode {
    ykd_node_kind kind;
    int layer;
    int in, out;       /* values; ADD adds in to out */
    int k, s, p;       /* CONV and MAXPOOL geometry */
    int groups;        /* CONV: 1, or the groups of a grouped (depthwise) convolution */
    bool bn;           /* CONV: + BN (+ SiLU when act); else a plain conv with a bias */
    bool act;          /* CONV with BN: SiLU after it (Ultralytics' Conv(act=False) has none) */
    int heads, key_dim, head_dim; /* ATTENTION */
    int weight, bias;  /* parameter indices (bias -1 for BN convs) */
    int bn_param;      /* the BN weight's index; bias, mean and var follow it */
    size_t fold_offset; /* floats into the folded-weights buffer (BN convs) */
} ykd_gnode;

typedef struct ykd_gparam {
    char name[96];
    ykd_param_kind kind;
    int ndim;
    int shape[4];
    int dims[4];       /* as a tensor: [cout, cin, k, k] or [1, C, 1, 1] */
    size_t numel;
    size_t offset;     /* floats into the parameter buffer */
    int layer;
} ykd_gparam;

typedef struct ykd_graph {
    ykd_gnode *nodes;
    int node_count, node_cap;
    ykd_gvalue *values;
    int value_count, value_cap;
    ykd_gstorage *storages;
    int storage_count, storage_cap;
    ykd_gparam *params;
    int param_count, param_cap;
    int input_value;
    int levels;
    int level_stride[YKD_MODEL_MAX_LEVELS];
    int level_neck[YKD_MODEL_MAX_LEVELS]; /* the value Detect reads */
    int level_head[YKD_MODEL_MAX_LEVELS]; /* the [64 + nc] value; box and cls are its slices */
    int nc;
    size_t kind_first[YKD_PARAM_KIND_COUNT], kind_count[YKD_PARAM_KIND_COUNT];
    size_t param_floats;   /* the parameter buffer */
    size_t trained_floats; /* the gradient buffer: the trained kinds come first */
    size_t folded_floats;
    bool failed;           /* an allocation failed while building */
} ykd_graph;

/* Expands a validated description into nodes and parameters. */
ykd_status ykd_graph_build(const ykd_model_desc *desc, ykd_graph **graph, ykd_error *err);
void ykd_graph_free(ykd_graph *graph);

/* The root storage of a value and the value's first channel in it. */
int ykd_graph_root(const ykd_graph *g, int value, int *channel);

/* ---- memory plan ---------------------------------------------------------------------------- */

/* One tensor the plan places: bytes, alive from step start to step end inclusive (forward of
 * node k is step k, its backward step 2F-1-k), and where it went. */
typedef struct ykd_plan_block {
    size_t floats;
    int start, end;
    int arena;
    size_t offset; /* floats into the arena */
} ykd_plan_block;

typedef struct ykd_plan {
    ykd_model_mode mode;
    int n, h, w;
    ykd_plan_block *blocks;
    int block_count;
    int *act_block;   /* per storage (roots only): its activation block, -1 for none */
    int *grad_block;  /* per storage (roots only): its gradient block, -1 for none */
    int *grad_birth;  /* per storage: the node whose backward first touches its gradient */
    bool *grad_fill;  /* per storage: zero it at birth (else its first contributor writes) */
    int *tmp_block;   /* per node, 5 slots: z, b, mean, invstd, dz (BN convs in training);
                       * an attention node's probabilities in z */
    bool *needs_backward; /* per node */
    bool *writes_grad;    /* per node: its contribution to its input's gradient overwrites */
    size_t arena_floats[64];
    int arena_count;
    size_t unshared_floats;
} ykd_plan;

enum { YKD_TMP_Z, YKD_TMP_MEAN, YKD_TMP_INVSTD, YKD_TMP_DZ, YKD_TMP_COUNT };

/* Plans (mode, n, h, w); arena_limit_floats 0: one arena without a cap. */
ykd_status ykd_plan_make(const ykd_graph *g, ykd_model_mode mode, int n, int h, int w,
                         size_t arena_limit_floats, ykd_plan *plan, ykd_error *err);
void ykd_plan_free(ykd_plan *plan);

/* The plan's figures for ykd_model_memory. */
void ykd_plan_memory(const ykd_graph *g, const ykd_plan *plan, ykd_model_memory *memory);

/* ---- the model on a device ------------------------------------------------------------------ */

struct ykd_model {
    ykd_model_desc *desc;
    ykd_graph *graph;   /* desc->graph */
    ykd_device *device;
    ykd_buffer *params, *grads, *folded;
    ykd_model_param *table;
    bool folded_valid;
    /* per node, NULL until its first inference forward: the folded weights rearranged by the
     * convolution's path, emptied whenever they are folded again */
    ykd_conv2d_cache **conv_caches;
    /* per node, NULL until its first training forward: what the convolution's forward keeps
     * for its weight gradient */
    ykd_conv2d_saved **conv_saved;
    int64_t batches_tracked;
    const ykd_bn_sync *bn_sync; /* NULL: BN statistics of this process's batch */
    char **names;
    int name_count;
    /* the current plan and its arenas */
    bool planned;
    ykd_plan plan;
    ykd_buffer *arenas[64];
    /* the trained parameters in the order the backward finalises their gradients, and who is
     * told as it does (ykd_model_set_grad_final) */
    size_t *grad_order;
    size_t grad_order_count;
    size_t *grad_final_after; /* per node: how many of them are final once its backward is queued */
    ykd_grad_final_fn grad_final;
    void *grad_final_user;
    /* the last forward */
    bool forward_done;
    ykd_model_mode mode;
    ykd_tensor input;
};

/* A value's tensor in the current plan's arenas (activations) or gradients. */
ykd_tensor ykd_model_value_tensor(const ykd_model *m, int value);
ykd_tensor ykd_model_grad_tensor(const ykd_model *m, int value);
ykd_tensor ykd_model_tmp_tensor(const ykd_model *m, int node, int slot);

/* The trained parameters of node k (at most 3: weight, then bias or BN weight and bias), in the
 * order its backward is told they are final; returns how many. */
int ykd_model_node_params(const ykd_model *m, int k, size_t params[3]);

/* Fills m->grad_order (at creation). */
ykd_status ykd_model_build_grad_order(ykd_model *m, ykd_error *err);

/* Allocates the (zeroed) gradient buffer if the model has none yet. */
ykd_status ykd_model_ensure_grads(ykd_model *m, ykd_error *err);

/* Makes sure the plan for (mode, n, h, w) is current and its arenas allocated. */
ykd_status ykd_model_prepare(ykd_model *m, ykd_model_mode mode, int n, int h, int w,
                             ykd_error *err);

/* The BN parameters of a BN conv node as the ops take them; bn points into the struct, so it
 * must not be copied once filled. */
typedef struct ykd_bn_tensors {
    ykd_tensor gamma, beta, mean, var;
    ykd_batchnorm bn;
} ykd_bn_tensors;

void ykd_model_bn(const ykd_model *m, const ykd_gnode *node, ykd_bn_tensors *bn);

/* Brings the folded inference weights up to date (once after each parameter change). */
ykd_status ykd_model_fold(ykd_model *m, ykd_error *err);

/* An attention node's shape for the ops: scale key_dim^-0.5 as YOLO11's. */
void ykd_model_attention(const ykd_gnode *node, ykd_attention *a);

/* The folded weights and bias of a BN conv node (valid once folded). */
void ykd_model_folded(const ykd_model *m, const ykd_gnode *node, ykd_tensor *w,
                      ykd_tensor *bias);

/* "model.2.m.0.cv1" for a conv node, "layer 9 max pool" for others: what errors name. */
void ykd_model_node_name(const ykd_model *m, int node, char *buf, size_t size);

/* The named tensors: "p3" (neck), "box3", "cls3", "head3" for the level of stride 8. */
typedef enum ykd_named_kind {
    YKD_NAMED_NECK,
    YKD_NAMED_BOX,
    YKD_NAMED_CLS,
    YKD_NAMED_HEAD
} ykd_named_kind;

ykd_status ykd_model_parse_name(const ykd_model *m, const char *name, ykd_named_kind *kind,
                                int *level, ykd_error *err);

/* A named tensor in the current plan's arenas. */
ykd_tensor ykd_model_named_tensor(const ykd_model *m, ykd_named_kind kind, int level);

#endif
