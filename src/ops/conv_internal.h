/* Shared by the convolution files: the geometry, scratch passes, and the two ways of feeding
 * the GEMMs (im2col columns in conv_columns.c, shifted windows of padded planes in
 * conv_windows.c). */
#ifndef YKD_CONV_INTERNAL_H
#define YKD_CONV_INTERNAL_H

#include "ops/gemm.h"

/* Work-items per group for the row kernels (im2col, col2im, padding): PoCL runs a group's
 * work-items as one loop, so grouping the short rows amortises its per-group cost (on the v8n
 * shapes, 1 -> 16 cut im2col's time by a third; 64 was slower again). */
enum { YKD_CONV_ROW_GROUP = 16 };

/* The row kernels' group along axis 1: YKD_CONV_ROW_GROUP, or less where the kernel or the
 * device allows less. */
size_t ykd_conv_row_group(const ykd_device *device, const ykd_kernel *kernel);

extern const char *const ykd_conv_sources[];

/* The geometry of one convolution, seen as the forward pass it computes. */
typedef struct ykd_conv_shape {
    int n, cin, h, w; /* input */
    int cout, k;      /* weights [cout, cin, k, k] */
    int stride, pad;
    int groups;       /* >= 1; above 1 the weights are [cout, cin / groups, k, k] */
    int ho, wo;       /* output */
    size_t ckk, hwo;  /* GEMM sizes: cin * k * k, ho * wo */
    bool direct;      /* 1x1, stride 1, no padding: the input is the GEMM operand itself */
} ykd_conv_shape;

/* ---- what a training forward keeps for its weight gradient (conv_saved.c) ----------------- */

/* The saved object's buffer of at least `floats`, for a forward to fill (what it held is no
 * longer offered until ykd_conv_saved_made). */
ykd_status ykd_conv_saved_buffer(ykd_conv2d_saved *saved, ykd_device *device, size_t floats,
                                 ykd_buffer **buffer, ykd_error *err);
/* The buffer now holds x padded for s, every image, channels last. */
void ykd_conv_saved_made(ykd_conv2d_saved *saved, const ykd_tensor *x, const ykd_conv_shape *s);
/* That copy, if the buffer holds it for this x and s and no weight gradient has taken it since
 * the forward made it (after this call none has); else NULL. */
const ykd_buffer *ykd_conv_saved_take(ykd_conv2d_saved *saved, const ykd_tensor *x,
                                      const ykd_conv_shape *s);

/* ---- the forward pass's cache of rearranged weights (conv_cache.c) ------------------------ */

typedef enum ykd_conv_cached_kind {
    YKD_CONV_CACHED_TAPS,     /* the pixel-row GEMM's rows of taps */
    YKD_CONV_CACHED_WINOGRAD, /* Winograd F(4x4, 3x3)'s U */
    YKD_CONV_CACHED_WINOGRAD5, /* Winograd F(5x5, 3x3)'s U */
    YKD_CONV_CACHED_WINOGRAD_T,  /* F(4x4, 3x3)'s U transposed (products with tiles as rows) */
    YKD_CONV_CACHED_WINOGRAD5_T, /* F(5x5, 3x3)'s U transposed */
    YKD_CONV_CACHED_KINDS
} ykd_conv_cached_kind;

/* The cache's buffer of `floats` for kind made from the weights at w_offset of w: *ready
 * tells whether it holds them already (else the caller fills it, then calls
 * ykd_conv_cache_ready); one made from other weights is replaced. */
ykd_status ykd_conv_cache_slot(ykd_conv2d_cache *cache, ykd_device *device, const ykd_buffer *w,
                               size_t w_offset, ykd_conv_cached_kind kind, size_t floats,
                               ykd_buffer **buffer, bool *ready, ykd_error *err);
void ykd_conv_cache_ready(ykd_conv2d_cache *cache, ykd_conv_cached_kind kind);
/* Frees every slot but kind's (-1: all): what the paths measured and not chosen made. */
void ykd_conv_cache_keep_only(ykd_conv2d_cache *cache, int kind);

/* Fills ho, wo, ckk, hwo and direct from the rest. */
void ykd_conv_derive(ykd_conv_shape *s);

/* How many images' worth of scratch (floats_per_image each) one pass takes. */
int ykd_conv_images_per_pass(ykd_device *device, size_t floats_per_image, int n);

ykd_gemm_operand ykd_conv_operand(const ykd_buffer *buffer, size_t offset, size_t ld,
                                  size_t batch_stride, size_t kbatch_stride);
ykd_gemm_operand ykd_conv_tensor_operand(const ykd_tensor *t, int first_image, size_t ld);

/* Whether a weight gradient of cout x columns is too small to keep every compute unit busy
 * as one GEMM over all images (then per-image products are summed with ykd_conv_sum_parts). */
bool ykd_conv_split_over_images(const ykd_device *device, int cout, size_t columns);

/* out (+)= the sum of count consecutive blocks of size floats at parts_offset in parts. */
ykd_status ykd_conv_sum_parts(ykd_device *device, const ykd_buffer *parts, size_t parts_offset,
                              int count, size_t size, const ykd_tensor *out, bool accumulate,
                              ykd_error *err);

/* One pass of a weight gradient over count images, g's a and b set by the caller: one GEMM
 * into dw (adding when add), or, split, per-image products into the scratch at parts_offset
 * summed into dw afterwards. */
ykd_status ykd_conv_weight_grad_pass(ykd_device *device, ykd_gemm *g, const ykd_conv_shape *s,
                                     int count, bool split, const ykd_buffer *scratch,
                                     size_t parts_offset, const ykd_tensor *dw, bool add,
                                     ykd_error *err);

/* Copies count images (from src's first image) of c planes h x w into the scratch at
 * dst_offset as planes hp x wp, placed top and left from the padded corner, zeros around
 * (conv_windows.c). */
ykd_status ykd_conv_pad_images(ykd_device *device, const ykd_tensor *src, int first, int count,
                               int c, int h, int w, int top, int left, int hp, int wp,
                               ykd_buffer *scratch, size_t dst_offset, ykd_error *err);

/* ---- im2col columns (conv_columns.c): any geometry, any GEMM implementation --------------- */

/* Scratch floats ykd_conv_forward_columns needs after its caller's reserved ones. */
size_t ykd_conv_columns_forward_floats(ykd_device *device, const ykd_conv_shape *s);

/* y = act(conv(x, w) + bias) + beta * y, w a buffer range [cout, ckk] (the caller's weights or
 * flipped ones in the scratch). The columns go after `reserved` floats of the scratch, which
 * must already hold reserved + ykd_conv_columns_forward_floats floats when reserved > 0. */
ykd_status ykd_conv_forward_columns(ykd_device *device, const ykd_tensor *x, const ykd_buffer *w,
                                    size_t w_offset, const ykd_conv_shape *s,
                                    const ykd_tensor *bias, ykd_activation activation,
                                    float beta, const ykd_tensor *y, size_t reserved,
                                    ykd_error *err);

/* dx (+)= the input gradient by dcol = W^T dy and col2im (strided convolutions). */
ykd_status ykd_conv_input_grad_columns(ykd_device *device, const ykd_tensor *dy,
                                       const ykd_tensor *w, const ykd_conv_shape *s,
                                       bool accumulate, const ykd_tensor *dx, ykd_error *err);

/* dw (+)= the weight gradient as dy x col^T. */
ykd_status ykd_conv_weight_grad_columns(ykd_device *device, const ykd_tensor *x,
                                        const ykd_tensor *dy, const ykd_conv_shape *s,
                                        bool accumulate, const ykd_tensor *dw, ykd_error *err);

/* ---- pixel rows of a channels-last copy (conv_rows.c): any geometry, our GEMM kernels ----- */

/* Copies count images of x (from its image first) into the scratch at dst_offset, padded by
 * s->pad (s->cin channels of s->h x s->w) and channels last. */
ykd_status ykd_conv_pad_channels_last(ykd_device *device, const ykd_tensor *x, int first,
                                      int count, const ykd_conv_shape *s, ykd_buffer *scratch,
                                      size_t dst_offset, ykd_error *err);

/* As ykd_conv_weight_grad_columns, reading each pixel's patch as rows of a padded
 * channels-last copy of x: the one a forward kept in saved (see ykd_conv2d_saved), else one
 * made here. saved may be NULL. */
ykd_status ykd_conv_weight_grad_rows(ykd_device *device, const ykd_tensor *x,
                                     const ykd_tensor *dy, ykd_conv2d_saved *saved,
                                     const ykd_conv_shape *s, bool accumulate,
                                     const ykd_tensor *dw, ykd_error *err);

/* Whether the forward pass by pixel rows applies: the device's GEMMs are ours (any geometry). */
bool ykd_conv_rows_forward_apply(ykd_device *device, const ykd_conv_shape *s);

size_t ykd_conv_rows_forward_floats(ykd_device *device, const ykd_conv_shape *s);

/* As ykd_conv_forward_columns, as y^T = patches x W^T with the output channels along the
 * vectors, the patches read as rows of a padded channels-last copy of x. flipped: w holds
 * [s->cin, s->cout, k, k], the weights of the convolution whose input gradient this is, read
 * flipped and transposed (see ykd_conv_forward_flipped_any). saved: NULL, or where to keep
 * the copy of every image for the weight gradient. */
ykd_status ykd_conv_forward_rows(ykd_device *device, const ykd_tensor *x, const ykd_buffer *w,
                                 size_t w_offset, bool flipped, ykd_conv2d_cache *cache,
                                 ykd_conv2d_saved *saved, const ykd_conv_shape *s,
                                 const ykd_tensor *bias, ykd_activation activation, float beta,
                                 const ykd_tensor *y, size_t reserved, ykd_error *err);

/* Whether the input gradient by phases applies: strides 2 up to the kernel's size, no groups,
 * the device's GEMMs ours (conv_phases.c). */
bool ykd_conv_phases_apply(ykd_device *device, const ykd_conv_shape *s);

/* dx (+)= the input gradient of a strided convolution, a pixel-row product per phase of dx. */
ykd_status ykd_conv_input_grad_phases(ykd_device *device, const ykd_tensor *dy,
                                      const ykd_tensor *w, const ykd_conv_shape *s,
                                      bool accumulate, const ykd_tensor *dx, ykd_error *err);

/* ---- Winograd F(4x4, 3x3) and F(5x5, 3x3) (conv_winograd.c): stride-1 3x3, any GEMM ------ */

bool ykd_conv_winograd_apply(const ykd_conv_shape *s);

/* tile: the output tile's side, 4 or 5 (the forward; the weight gradient takes 4). */
size_t ykd_conv_winograd_forward_floats(ykd_device *device, const ykd_conv_shape *s, int tile);

/* The cache slot the forward of s at tile fills (U's layout depends on the shape). */
ykd_conv_cached_kind ykd_conv_winograd_cached_kind(ykd_device *device, const ykd_conv_shape *s,
                                                   int tile);

/* As ykd_conv_forward_columns, by Winograd F(tile x tile, 3x3)'s transforms and (tile + 2)^2
 * GEMMs over the channels; the weights' transform kept in cache (when not NULL) from call to
 * call. With `flipped` (no cache), w holds the weights of the convolution whose input
 * gradient this is, [s->cin][s->cout][3][3], and the transform flips and transposes them. */
ykd_status ykd_conv_forward_winograd(ykd_device *device, const ykd_tensor *x,
                                     const ykd_buffer *w, size_t w_offset, bool flipped,
                                     ykd_conv2d_cache *cache, const ykd_conv_shape *s, int tile,
                                     const ykd_tensor *bias, ykd_activation activation,
                                     float beta, const ykd_tensor *y, size_t reserved,
                                     ykd_error *err);

/* dw (+)= the weight gradient by the transforms of x (as the forward's) and of dy (A dY A^T),
 * 36 GEMMs over the tiles and G^T dU G. */
ykd_status ykd_conv_weight_grad_winograd(ykd_device *device, const ykd_tensor *x,
                                         const ykd_tensor *dy, const ykd_conv_shape *s,
                                         bool accumulate, const ykd_tensor *dw, ykd_error *err);

/* ---- the paths, chosen per shape by measurement (conv_choose.c) ---------------------------- */

typedef enum ykd_conv_forward_path {
    YKD_CONV_FWD_CHOOSE = 0, /* measure (tests force one of the others) */
    YKD_CONV_FWD_COLUMNS,    /* im2col columns, or the input itself for 1x1 */
    YKD_CONV_FWD_WINDOWS,    /* windows of padded planes (stride 1, k > 1, our GEMMs) */
    YKD_CONV_FWD_WINOGRAD,   /* Winograd F(4x4, 3x3) (stride 1, 3x3) */
    YKD_CONV_FWD_ROWS,       /* pixel rows of a channels-last copy, transposed (our GEMMs) */
    YKD_CONV_FWD_WINOGRAD5,  /* Winograd F(5x5, 3x3) (stride 1, 3x3) */
    YKD_CONV_FWD_COUNT
} ykd_conv_forward_path;

/* y = act(conv(x, w) + bias) + beta * y by the path chosen for the shape, as
 * ykd_conv_weight_grad_any chooses; w a buffer range [cout, ckk], `reserved` floats at the
 * front of the scratch the caller's (see ykd_conv_forward_columns); cache and saved NULL or
 * the caller's (see ykd_conv2d_params). */
ykd_status ykd_conv_forward_any(ykd_device *device, const ykd_tensor *x, const ykd_buffer *w,
                                size_t w_offset, ykd_conv2d_cache *cache,
                                ykd_conv2d_saved *saved, const ykd_conv_shape *s,
                                const ykd_tensor *bias, ykd_activation activation, float beta,
                                const ykd_tensor *y, size_t reserved, ykd_error *err);

/* dx = beta * dx + the forward pass of t over dy with the weights w of the convolution whose
 * input gradient it is (stride 1), flipped and transposed: [t.cin, t.cout, k, k] read as
 * [t.cout, t.cin, k, k] reversed in both kernel axes. The rows path reads w so in one pass;
 * the others take ykd_conv_flip_weights's copy at the scratch's front. */
ykd_status ykd_conv_forward_flipped_any(ykd_device *device, const ykd_tensor *dy,
                                        const ykd_tensor *w, const ykd_conv_shape *t,
                                        float beta, const ykd_tensor *dx, ykd_error *err);

/* The weights w [cout, cin, k, k] flipped and transposed, [cin, cout, k, k] reversed in both
 * kernel axes, at the front of scratch. */
ykd_status ykd_conv_flip_weights(ykd_device *device, const ykd_tensor *w,
                                 const ykd_buffer *scratch, ykd_error *err);

/* Scratch floats (after reserved ones) that any forward path of s may take: a caller that
 * keeps data in the reserved part sizes the scratch with this, so no path reallocates it. */
size_t ykd_conv_forward_floats(ykd_device *device, const ykd_conv_shape *s);

typedef enum ykd_conv_weight_grad_path {
    YKD_CONV_WGRAD_CHOOSE = 0, /* measure (tests force one of the others) */
    YKD_CONV_WGRAD_COLUMNS,    /* im2col columns, or the input itself for 1x1 */
    YKD_CONV_WGRAD_WINDOWS,    /* windows of padded planes (stride 1, k > 1) */
    YKD_CONV_WGRAD_ROWS,       /* pixel rows of a channels-last copy */
    YKD_CONV_WGRAD_WINOGRAD,   /* Winograd F(4x4, 3x3) (stride 1, 3x3) */
    YKD_CONV_WGRAD_COUNT
} ykd_conv_weight_grad_path;

typedef enum ykd_conv_strided_grad_path {
    YKD_CONV_SGRAD_CHOOSE = 0, /* measure (tests force one of the others) */
    YKD_CONV_SGRAD_COLUMNS,    /* W^T dy into columns, then col2im */
    YKD_CONV_SGRAD_PHASES,     /* a pixel-row product per phase of dx (our GEMMs) */
    YKD_CONV_SGRAD_COUNT
} ykd_conv_strided_grad_path;

/* dx (+)= the input gradient of a strided convolution by the path chosen for its shape, as
 * ykd_conv_weight_grad_any chooses. */
ykd_status ykd_conv_strided_input_grad_any(ykd_device *device, const ykd_tensor *dy,
                                           const ykd_tensor *w, const ykd_conv_shape *s,
                                           bool accumulate, const ykd_tensor *dx,
                                           ykd_error *err);

/* Whether the device's GEMMs are ours (the policy says so, or the calibration found them at
 * least as fast as CLBlast): the paths that read B through a row table need them. */
bool ykd_conv_tiled_gemms(ykd_device *device);

/* dw (+)= the weight gradient of a convolution without groups, by the path chosen for its
 * shape: the one a test forces where it applies; else the one measured fastest on this
 * device the first time the shape was seen (remembered in the tuning file, so the choice,
 * and with it the float rounding, stays the same for the device). */
ykd_status ykd_conv_weight_grad_any(ykd_device *device, const ykd_tensor *x,
                                    const ykd_tensor *dy, ykd_conv2d_saved *saved,
                                    const ykd_conv_shape *s, bool accumulate,
                                    const ykd_tensor *dw, ykd_error *err);

/* ---- shifted windows of padded planes (conv_windows.c): our GEMM kernels ------------------ */

/* Whether the geometry suits windows (stride 1, a kernel larger than 1x1) and the device's
 * GEMMs are ours (the only ones that read through a row table): the weight gradient's. */
bool ykd_conv_windows_apply(ykd_device *device, const ykd_conv_shape *s);

/* The same for the forward pass, which takes any stride up to the kernel's size (windows of
 * phase planes where the stride exceeds 1). */
bool ykd_conv_windows_forward_apply(ykd_device *device, const ykd_conv_shape *s);

size_t ykd_conv_windows_forward_floats(ykd_device *device, const ykd_conv_shape *s);

/* As ykd_conv_forward_columns, reading windows of zero-padded copies of x. */
ykd_status ykd_conv_forward_windows(ykd_device *device, const ykd_tensor *x, const ykd_buffer *w,
                                    size_t w_offset, const ykd_conv_shape *s,
                                    const ykd_tensor *bias, ykd_activation activation,
                                    float beta, const ykd_tensor *y, size_t reserved,
                                    ykd_error *err);

/* As ykd_conv_weight_grad_columns, reading windows of zero-padded copies of x. */
ykd_status ykd_conv_weight_grad_windows(ykd_device *device, const ykd_tensor *x,
                                        const ykd_tensor *dy, const ykd_conv_shape *s,
                                        bool accumulate, const ykd_tensor *dw, ykd_error *err);

/* ---- grouped and depthwise convolutions (conv_grouped.c): groups > 1, direct kernels ------ */

/* y = act(conv(x, w) + bias) (bias may be NULL). */
ykd_status ykd_conv_grouped_forward(ykd_device *device, const ykd_tensor *x,
                                    const ykd_tensor *w, const ykd_tensor *bias,
                                    const ykd_conv_shape *s, ykd_activation activation,
                                    const ykd_tensor *y, ykd_error *err);

/* dx (+)= the input gradient. */
ykd_status ykd_conv_grouped_input_grad(ykd_device *device, const ykd_tensor *dy,
                                       const ykd_tensor *w, const ykd_conv_shape *s,
                                       bool accumulate, const ykd_tensor *dx, ykd_error *err);

/* dw (+)= the weight gradient. */
ykd_status ykd_conv_grouped_weight_grad(ykd_device *device, const ykd_tensor *x,
                                        const ykd_tensor *dy, const ykd_conv_shape *s,
                                        bool accumulate, const ykd_tensor *dw, ykd_error *err);

#endif
