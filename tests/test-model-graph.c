/* The whole YOLOv8n graph (and YOLO11n's, for the tests named so) on every device against the
 * float64 model reference (tests/model_ref.c): training-mode outputs, parameter gradients
 * checked by central finite differences of the reference loss (sampled parameters, and one
 * random direction over all of them at once), the input gradient, inference with folded BN
 * against BN with running statistics, gradient accumulation and partial head gradients, weights
 * saved and reloaded to identical outputs, the memory planner's invariants, and misuse
 * refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error_internal.h"
#include "harness.h"
#include "model/model_internal.h"
#include "model_ref.h"
#include "train_fixtures.h"
#include "yolokd/model.h"
#include "yolokd/ops.h"

/* Small enough for the float64 reference (a forward is ~90 M multiply-adds), large enough that
 * every BN sees 8 values per channel (P5 is 2x2 at 64x64, batch 2): with 4 (64x32) the batch
 * statistics of P5 amplify float32 rounding to 0.3% in some gradients; at 64x64 and 128x128
 * the device and the finite differences agree to the tolerances below. */
enum { BATCH = 2, HEIGHT = 64, WIDTH = 64, CLASSES = 3 };

/* The sanitizer builds run unoptimised: fewer finite differences there. */
#if defined(__SANITIZE_ADDRESS__)
enum { FD_SAMPLES = 4 };
#else
enum { FD_SAMPLES = 14 };
#endif

typedef struct fixture {
    ykd_model_desc *desc;
    ykd_model *model;
    ykd_tensor images;
    mref_tensor images_ref;
    int levels;
    /* the loss L = sum over levels of <G_head, head> + <G_p3, p3> */
    mref_tensor g_head[YKD_MODEL_MAX_LEVELS], g_neck;
    ykd_tensor g_head_dev[YKD_MODEL_MAX_LEVELS], g_neck_dev;
} fixture;

static void random_doubles(mref_tensor *t, uint64_t seed, double lo, double hi)
{
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, seed);
    for (size_t i = 0; i < mref_numel(t); i++)
        t->d[i] = (double)ykd_test_rng_uniform(&rng, (float)lo, (float)hi);
}

static mref_tensor ref_alloc(int n, int c, int h, int w)
{
    mref_tensor t = {n, c, h, w, calloc((size_t)n * c * h * w, sizeof(double))};
    return t;
}

static bool upload(ykd_test *t, const mref_tensor *src, ykd_tensor *dst)
{
    ykd_error err;
    size_t n = mref_numel(src);
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)src->d[i];
    bool ok = CHECK_OK(t, ykd_tensor_alloc(t->device, src->n, src->c, src->h, src->w, dst, &err),
                       err) &&
              CHECK_OK(t, ykd_tensor_write(dst, f, &err), err);
    free(f);
    return ok;
}

/* The built-in model the fixture builds: YOLOv8n, or YOLO11n while a yolo11 case runs. */
static const char *model_name = "n";

static bool setup(ykd_test *t, fixture *f, uint64_t seed)
{
    ykd_error err;
    memset(f, 0, sizeof *f);
    if (!CHECK_OK(t, ykd_model_desc_builtin(model_name, CLASSES, &f->desc, &err), err) ||
        !CHECK_OK(t, ykd_model_create(t->device, f->desc, seed, &f->model, &err), err))
        return false;
    f->images_ref = ref_alloc(BATCH, 3, HEIGHT, WIDTH);
    random_doubles(&f->images_ref, seed + 1, 0.0, 1.0);
    /* the reference sees exactly the float32 images the device does */
    for (size_t i = 0; i < mref_numel(&f->images_ref); i++)
        f->images_ref.d[i] = (float)f->images_ref.d[i];
    f->levels = ykd_model_level_count(f->model);
    for (int lv = 0; lv < f->levels; lv++) {
        int s = ykd_model_level_stride(f->model, lv);
        f->g_head[lv] = ref_alloc(BATCH, 64 + CLASSES, HEIGHT / s, WIDTH / s);
        random_doubles(&f->g_head[lv], seed + 10 + (uint64_t)lv, -1.0, 1.0);
        if (!upload(t, &f->g_head[lv], &f->g_head_dev[lv]))
            return false;
        for (size_t i = 0; i < mref_numel(&f->g_head[lv]); i++)
            f->g_head[lv].d[i] = (float)f->g_head[lv].d[i];
    }
    const ykd_layer_desc *detect = &f->desc->layers[f->desc->layer_count - 1];
    f->g_neck = ref_alloc(BATCH, f->desc->layers[detect->from[0]].cout, HEIGHT / 8, WIDTH / 8);
    random_doubles(&f->g_neck, seed + 20, -1.0, 1.0);
    for (size_t i = 0; i < mref_numel(&f->g_neck); i++)
        f->g_neck.d[i] = (float)f->g_neck.d[i];
    return upload(t, &f->g_neck, &f->g_neck_dev) && upload(t, &f->images_ref, &f->images);
}

static void teardown(fixture *f)
{
    for (int lv = 0; lv < f->levels; lv++) {
        mref_tensor_free(&f->g_head[lv]);
        ykd_tensor_free(&f->g_head_dev[lv]);
    }
    mref_tensor_free(&f->g_neck);
    ykd_tensor_free(&f->g_neck_dev);
    mref_tensor_free(&f->images_ref);
    ykd_tensor_free(&f->images);
    ykd_model_free(f->model);
    ykd_model_desc_free(f->desc);
}

/* Every parameter as float64, laid out as the parameter buffer. */
static double *read_params(ykd_test *t, const ykd_model *m, float **as_float)
{
    ykd_error err;
    size_t n = ykd_buffer_size(ykd_model_param_buffer(m)) / sizeof(float);
    float *f = malloc(n * sizeof *f);
    double *d = malloc(n * sizeof *d);
    CHECK_OK(t, ykd_buffer_read(ykd_model_param_buffer(m), 0, f, n * sizeof *f, &err), err);
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
    if (as_float)
        *as_float = f;
    else
        free(f);
    return d;
}

static float *read_grads(ykd_test *t, const ykd_model *m)
{
    ykd_error err;
    size_t n = ykd_buffer_size(ykd_model_grad_buffer(m)) / sizeof(float);
    float *g = malloc(n * sizeof *g);
    CHECK_OK(t, ykd_buffer_read(ykd_model_grad_buffer(m), 0, g, n * sizeof *g, &err), err);
    return g;
}

static float *read_output(ykd_test *t, const ykd_model *m, const char *name, size_t *count)
{
    ykd_error err;
    ykd_tensor out;
    if (!CHECK_OK(t, ykd_model_output(m, name, &out, &err), err))
        return NULL;
    *count = ykd_tensor_numel(&out);
    float *host = malloc(*count * sizeof *host);
    CHECK_OK(t, ykd_tensor_read(&out, host, &err), err);
    return host;
}

static double dot(const mref_tensor *a, const mref_tensor *b)
{
    double s = 0.0;
    for (size_t i = 0; i < mref_numel(a); i++)
        s += a->d[i] * b->d[i];
    return s;
}

static double ref_loss(const fixture *f, const double *params)
{
    mref_outputs out;
    mref_forward(f->model, params, true, &f->images_ref, &out);
    double loss = dot(&out.neck[0], &f->g_neck);
    for (int lv = 0; lv < out.levels; lv++)
        loss += dot(&out.head[lv], &f->g_head[lv]);
    mref_outputs_free(&out);
    return loss;
}

static void expect_outputs(ykd_test *t, const fixture *f, const mref_outputs *ref,
                           double max_nmse, const char *mode)
{
    for (int lv = 0; lv < ref->levels; lv++) {
        char name[2][16];
        int p = lv + 3;
        snprintf(name[0], sizeof name[0], "p%d", p);
        snprintf(name[1], sizeof name[1], "head%d", p);
        const mref_tensor *want[2] = {&ref->neck[lv], &ref->head[lv]};
        for (int i = 0; i < 2; i++) {
            size_t count = 0;
            float *got = read_output(t, f->model, name[i], &count);
            if (!got)
                return;
            CHECKF(t, count == mref_numel(want[i]), "%s: %zu elements, reference %zu", name[i],
                   count, mref_numel(want[i]));
            double nmse = ykd_test_nmse(got, want[i]->d, count);
            CHECKF(t, nmse <= max_nmse, "%s %s: NMSE %.3g against the float64 reference", mode,
                   name[i], nmse);
            free(got);
        }
    }
}

static bool device_backward(ykd_test *t, fixture *f, const ykd_tensor *input_grad)
{
    ykd_error err;
    ykd_model_grad grads[YKD_MODEL_MAX_LEVELS + 1];
    static const char *const heads[] = {"head3", "head4", "head5"};
    for (int lv = 0; lv < f->levels; lv++)
        grads[lv] = (ykd_model_grad){heads[lv], &f->g_head_dev[lv]};
    grads[f->levels] = (ykd_model_grad){"p3", &f->g_neck_dev};
    return CHECK_OK(t, ykd_model_forward(f->model, &f->images, YKD_MODEL_TRAINING, &err), err) &&
           CHECK_OK(t, ykd_model_backward(f->model, grads, (size_t)f->levels + 1, input_grad,
                                          &err),
                    err);
}

/* Float32 through ~60 convolutions: the inference outputs (fused conv + BN + SiLU) show NMSE
 * ~1e-13. In training, BN divides by batch statistics of 8 values per channel at P5, which
 * amplifies rounding: NMSE up to 1.4e-9 measured at P5. A wiring or op error gives NMSE near
 * 1, so 1e-7 and 1e-11 catch those with room to spare. */
static const double TRAINING_NMSE = 1e-7, INFERENCE_NMSE = 1e-11;

static void test_training_forward(ykd_test *t)
{
    fixture f;
    if (setup(t, &f, 7)) {
        ykd_error err;
        double *params = read_params(t, f.model, NULL);
        mref_outputs ref;
        mref_forward(f.model, params, true, &f.images_ref, &ref);
        if (CHECK_OK(t, ykd_model_forward(f.model, &f.images, YKD_MODEL_TRAINING, &err), err))
            expect_outputs(t, &f, &ref, TRAINING_NMSE, "training");
        /* box and cls are the two channel ranges of head */
        ykd_tensor head, box, cls;
        CHECK_OK(t, ykd_model_output(f.model, "head4", &head, &err), err);
        CHECK_OK(t, ykd_model_output(f.model, "box4", &box, &err), err);
        CHECK_OK(t, ykd_model_output(f.model, "cls4", &cls, &err), err);
        CHECK(t, box.c == 64 && cls.c == CLASSES && box.buffer == head.buffer &&
                     cls.offset == head.offset + 64 * (size_t)head.h * head.w);
        CHECK(t, ykd_model_batches_tracked(f.model) == 1);
        mref_outputs_free(&ref);
        free(params);
    }
    teardown(&f);
}

/* The parameters to differentiate: every kind, every module, all three levels. */
static const char *const sampled_v8[] = {
    "model.0.conv.weight",       "model.22.cv3.2.2.bias",      "model.9.cv2.conv.weight",
    "model.2.m.0.cv1.conv.weight", "model.22.cv2.1.2.weight",  "model.12.cv2.bn.weight",
    "model.0.bn.weight",         "model.4.m.1.cv2.conv.weight", "model.9.cv1.bn.bias",
    "model.16.conv.weight",      "model.21.m.0.cv2.bn.bias",   "model.22.cv3.0.0.conv.weight",
    "model.6.cv1.conv.weight",   "model.19.bn.weight",
};

/* YOLO11n's: the attention's convs (qkv, the depthwise pe, proj, the ffn), C3k and
 * Bottleneck(e = 0.5) blocks, the class branch's depthwise and 1x1 pairs. */
static const char *const sampled_11[] = {
    "model.10.m.0.attn.qkv.conv.weight", "model.23.cv3.0.0.0.conv.weight",
    "model.10.m.0.attn.pe.conv.weight",  "model.6.m.0.m.1.cv2.conv.weight",
    "model.10.m.0.attn.proj.bn.weight",  "model.2.m.0.cv1.conv.weight",
    "model.10.m.0.ffn.1.conv.weight",    "model.23.cv3.2.1.1.conv.weight",
    "model.6.m.0.cv3.bn.bias",           "model.23.cv3.1.2.bias",
    "model.10.m.0.attn.qkv.bn.weight",   "model.0.conv.weight",
    "model.22.m.0.cv2.conv.weight",      "model.10.cv1.bn.bias",
};

enum { SAMPLED = sizeof sampled_v8 / sizeof sampled_v8[0] };
_Static_assert(sizeof sampled_11 / sizeof sampled_11[0] == SAMPLED, "as many samples each");

/* The device gradient is float32 from a float32 forward: relative rounding ~1e-5 on gradients
 * summed over thousands of terms, more where batch statistics of few values divide. The
 * finite difference is float64 and central with a step of 1e-6: its truncation error (the
 * loss's third derivative is large for early layers: a step of 1e-4 was off by 1.5% on
 * model.0.conv.weight) and its rounding (~1e-12 / 2e-6) are both far below the tolerance.
 * So |device - fd| <= 2e-3 |fd| + 1e-4 rms(the tensor's gradient): a wrong gradient (a missed
 * branch, a wrong index) is off by order one. */
static void check_one(ykd_test *t, const fixture *f, double *params, const float *grads,
                      const char *name, size_t sample)
{
    const ykd_model_param *p = ykd_model_param_find(f->model, name);
    if (!CHECKF(t, p != NULL, "no parameter %s", name))
        return;
    size_t numel = ykd_tensor_numel(&p->value), i = (sample * 7919 + 13) % numel;
    size_t at = p->value.offset + i;
    double rms = 0.0;
    for (size_t j = 0; j < numel; j++)
        rms += (double)grads[p->value.offset + j] * grads[p->value.offset + j];
    rms = sqrt(rms / (double)numel);
    const double h = 1e-6;
    double saved = params[at];
    params[at] = saved + h;
    double up = ref_loss(f, params);
    params[at] = saved - h;
    double down = ref_loss(f, params);
    params[at] = saved;
    double fd = (up - down) / (2 * h), got = grads[at];
    CHECKF(t, fabs(got - fd) <= 2e-3 * fabs(fd) + 1e-4 * rms,
           "d loss / d %s[%zu]: device %.8g, finite difference %.8g (rms of the tensor's "
           "gradient %.3g)",
           name, i, got, fd, rms);
}

/* Along one random direction v over every trained parameter: (L(p + hv) - L(p - hv)) / 2h
 * against the device's <grad, v>: a single number that every gradient contributes to. The
 * step is 1e-7 per float (a step of norm 1.7e-4 over the 3M of them; 1e-5 left a 2%
 * truncation error). */
static void check_direction(ykd_test *t, const fixture *f, const double *params,
                            const float *grads)
{
    size_t trained = ykd_buffer_size(ykd_model_grad_buffer(f->model)) / sizeof(float);
    size_t total = ykd_buffer_size(ykd_model_param_buffer(f->model)) / sizeof(float);
    double *up = malloc(total * sizeof *up), *down = malloc(total * sizeof *down);
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, 99);
    double predicted = 0.0, h = 1e-7;
    for (size_t i = 0; i < total; i++) {
        double v = i < trained ? (ykd_test_rng_next(&rng) & 1 ? 1.0 : -1.0) : 0.0;
        up[i] = params[i] + h * v;
        down[i] = params[i] - h * v;
        predicted += i < trained ? v * grads[i] : 0.0;
    }
    double fd = (ref_loss(f, up) - ref_loss(f, down)) / (2 * h);
    CHECKF(t, fabs(predicted - fd) <= 1e-3 * fabs(fd),
           "directional derivative over all %zu trained floats: device %.10g, finite "
           "difference %.10g",
           trained, predicted, fd);
    free(up);
    free(down);
}

/* The finite-difference checks test the graph's gradients (branches, indices), so they pin
 * the convolution paths (one GEMM configuration: windows or im2col, nothing measured): with the
 * paths measured per shape, Winograd F(4x4, 3x3) may be picked for a shape, and its float32
 * rounding (NMSE ~1e-12 per convolution against 1e-14, checked against float64 in the op
 * table), amplified by the batch statistics of 2 images, put one sampled weight 1.4x past the
 * 1e-4 rms term of check_one's bound. Whether it is picked depends on the timings, so the
 * check would pass or fail by the load of the machine. */
static bool pin_conv_paths(ykd_test *t)
{
    return tx_fix_gemm(t, t->device);
}

static void unpin_conv_paths(ykd_test *t)
{
    tx_unfix_gemm(t->device);
}

static void test_gradients(ykd_test *t)
{
    fixture f;
    if (setup(t, &f, 11) && pin_conv_paths(t) && device_backward(t, &f, NULL)) {
        double *params = read_params(t, f.model, NULL);
        float *grads = read_grads(t, f.model);
        bool v8 = strcmp(model_name, "n") == 0;
        for (size_t s = 0; s < FD_SAMPLES && s < SAMPLED; s++)
            check_one(t, &f, params, grads, v8 ? sampled_v8[s] : sampled_11[s], s);
        check_direction(t, &f, params, grads);
        /* the fixed DFL projection and the running statistics have no gradient */
        char dfl[64];
        snprintf(dfl, sizeof dfl, "model.%d.dfl.conv.weight", f.desc->layer_count - 1);
        CHECK(t, ykd_model_param_find(f.model, dfl)->grad.buffer == NULL);
        CHECK(t, ykd_model_param_find(f.model, "model.0.bn.running_mean")->grad.buffer == NULL);
        free(params);
        free(grads);
    }
    teardown(&f);
    unpin_conv_paths(t);
}

/* The gradient with respect to the images, at a few pixels, by finite differences (the paths
 * pinned as for the parameters). */
static void test_input_gradient(ykd_test *t)
{
    fixture f;
    ykd_error err;
    ykd_tensor dx = {0};
    if (setup(t, &f, 13) && pin_conv_paths(t) &&
        CHECK_OK(t, ykd_tensor_alloc(t->device, BATCH, 3, HEIGHT, WIDTH, &dx, &err), err) &&
        device_backward(t, &f, &dx)) {
        size_t n = mref_numel(&f.images_ref);
        float *got = malloc(n * sizeof *got);
        CHECK_OK(t, ykd_tensor_read(&dx, got, &err), err);
        double *params = read_params(t, f.model, NULL);
        for (int s = 0; s < 3; s++) {
            size_t i = ((size_t)s * 104729 + 17) % n;
            double saved = f.images_ref.d[i], h = 1e-4;
            f.images_ref.d[i] = saved + h;
            double up = ref_loss(&f, params);
            f.images_ref.d[i] = saved - h;
            double down = ref_loss(&f, params);
            f.images_ref.d[i] = saved;
            double fd = (up - down) / (2 * h);
            CHECKF(t, fabs(got[i] - fd) <= 2e-3 * fabs(fd) + 1e-5,
                   "d loss / d image[%zu]: device %.8g, finite difference %.8g", i, got[i], fd);
        }
        free(got);
        free(params);
    }
    ykd_tensor_free(&dx);
    teardown(&f);
    unpin_conv_paths(t);
}

/* Random running statistics written into the model; inference (folded conv + BN + SiLU)
 * against the reference's unfused BN with those statistics. Run once before the change too,
 * so a stale folding cache would show. */
static void test_inference_forward(ykd_test *t)
{
    fixture f;
    ykd_error err;
    if (setup(t, &f, 17) &&
        CHECK_OK(t, ykd_model_forward(f.model, &f.images, YKD_MODEL_INFERENCE, &err), err)) {
        float *host = NULL;
        double *params = read_params(t, f.model, &host);
        ykd_test_rng rng;
        ykd_test_rng_seed(&rng, 5);
        for (size_t i = 0; i < ykd_model_param_count(f.model); i++) {
            const ykd_model_param *p = ykd_model_param_at(f.model, i);
            bool mean = p->kind == YKD_PARAM_BN_MEAN, var = p->kind == YKD_PARAM_BN_VAR;
            for (size_t j = 0; (mean || var) && j < ykd_tensor_numel(&p->value); j++) {
                float v = mean ? ykd_test_rng_uniform(&rng, -0.5f, 0.5f)
                               : ykd_test_rng_uniform(&rng, 0.05f, 2.0f);
                host[p->value.offset + j] = v;
                params[p->value.offset + j] = v;
            }
        }
        size_t bytes = ykd_buffer_size(ykd_model_param_buffer(f.model));
        CHECK_OK(t, ykd_buffer_write(ykd_model_param_buffer(f.model), 0, host, bytes, &err),
                 err);
        ykd_model_params_changed(f.model);
        mref_outputs ref;
        mref_forward(f.model, params, false, &f.images_ref, &ref);
        if (CHECK_OK(t, ykd_model_forward(f.model, &f.images, YKD_MODEL_INFERENCE, &err), err))
            expect_outputs(t, &f, &ref, INFERENCE_NMSE, "inference");
        mref_outputs_free(&ref);
        free(params);
        free(host);
    }
    teardown(&f);
}

/* Gradients accumulate across backward passes (after a first pass in which the GEMM tuner
 * settles on its kernels, the second adds the same values); a head branch given no gradient
 * contributes none. */
static void test_accumulation_and_partial(ykd_test *t)
{
    fixture f;
    ykd_error err;
    if (setup(t, &f, 19) && device_backward(t, &f, NULL) &&
        CHECK_OK(t, ykd_model_zero_grad(f.model, &err), err) && device_backward(t, &f, NULL)) {
        float *once = read_grads(t, f.model);
        device_backward(t, &f, NULL);
        float *twice = read_grads(t, f.model);
        size_t n = ykd_buffer_size(ykd_model_grad_buffer(f.model)) / sizeof(float);
        double *doubled = malloc(n * sizeof *doubled);
        for (size_t i = 0; i < n; i++)
            doubled[i] = 2.0 * once[i];
        /* a GEMM that accumulates starting from the old value rounds differently from 2x;
         * a pass that overwrote instead of adding would give NMSE 0.25 */
        double nmse = ykd_test_nmse(twice, doubled, n);
        CHECKF(t, nmse < 1e-12, "two passes' gradients are not twice one pass's: NMSE %.3g",
               nmse);
        free(doubled);
        /* only cls4: box branches and the other levels' class branches get nothing */
        CHECK_OK(t, ykd_model_zero_grad(f.model, &err), err);
        CHECK_OK(t, ykd_model_forward(f.model, &f.images, YKD_MODEL_TRAINING, &err), err);
        ykd_tensor cls4 = ykd_tensor_channels(&f.g_head_dev[1], 64, CLASSES);
        ykd_model_grad only = {"cls4", &cls4};
        CHECK_OK(t, ykd_model_backward(f.model, &only, 1, NULL, &err), err);
        float *partial = read_grads(t, f.model);
        static const char *const zero[] = {"model.22.cv2.0.2.weight", "model.22.cv2.1.0.conv.weight",
                                           "model.22.cv3.0.2.bias", "model.22.cv3.2.1.bn.weight"};
        static const char *const nonzero[] = {"model.22.cv3.1.2.weight", "model.18.cv2.conv.weight",
                                              "model.0.conv.weight"};
        for (int z = 0; z < 8; z++) {
            const char *name = z < 4 ? zero[z] : z < 7 ? nonzero[z - 4] : NULL;
            if (!name)
                break;
            const ykd_model_param *p = ykd_model_param_find(f.model, name);
            double sum = 0.0;
            for (size_t j = 0; j < ykd_tensor_numel(&p->value); j++)
                sum += fabs(partial[p->value.offset + j]);
            CHECKF(t, z < 4 ? sum == 0.0 : sum > 0.0, "gradient of %s sums to %g with only cls4 "
                                                     "given",
                   name, sum);
        }
        free(once);
        free(twice);
        free(partial);
    }
    teardown(&f);
}

static ykd_status fail_final(void *user, size_t param, ykd_error *err)
{
    (void)user;
    return ykd_fail(err, YKD_ERR_COMM, "the watcher says no at parameter %zu", param);
}

/* What the watcher of ykd_model_set_grad_final saw: each call's parameter, and that
 * parameter's gradient read at the call (a blocking read, behind every kernel queued so far). */
typedef struct final_watch {
    ykd_model *model;
    size_t calls, *params;
    float *seen; /* the gradient buffer's floats as read at each parameter's call */
} final_watch;

static ykd_status on_final(void *user, size_t param, ykd_error *err)
{
    final_watch *w = user;
    const ykd_model_param *p = ykd_model_param_at(w->model, param);
    size_t first = 0, count = 0;
    ykd_model_param_span(w->model, param, &first, &count);
    if (p->value.offset != first || count < ykd_tensor_numel(&p->value))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "the span of %s is off", p->name);
    w->params[w->calls++] = param;
    return ykd_buffer_read(ykd_model_grad_buffer(w->model), first * sizeof(float),
                           w->seen + first, count * sizeof(float), err);
}

/* The backward tells its watcher each trained parameter once, in ykd_model_grad_order's order
 * (the head's first: the order its gradients become final), and at each call the gradient is
 * already what it is after the whole backward (nothing queued later writes it); its spans
 * tile the gradient buffer. A failing watcher ends the backward with its error. */
static void test_grad_final_watcher(ykd_test *t)
{
    fixture f;
    ykd_error err;
    final_watch w = {0};
    if (setup(t, &f, 23) && CHECK_OK(t, ykd_model_zero_grad(f.model, &err), err)) {
        const size_t *order = NULL;
        size_t count = ykd_model_grad_order(f.model, &order), floats = 0, trained = 0;
        size_t n = ykd_buffer_size(ykd_model_grad_buffer(f.model)) / sizeof(float);
        for (size_t i = 0; i < ykd_model_param_count(f.model); i++)
            trained += ykd_param_kind_trained(ykd_model_param_at(f.model, i)->kind);
        for (size_t i = 0; i < count; i++) {
            size_t first = 0, span = 0;
            ykd_model_param_span(f.model, order[i], &first, &span);
            floats += span;
        }
        CHECKF(t, count == trained && floats == n,
               "the order holds %zu parameters of %zu, spanning %zu floats of %zu", count,
               trained, floats, n);
        CHECK(t, count > 0 && strncmp(ykd_model_param_at(f.model, order[0])->name, "model.22.", 9) == 0);
        CHECK(t, count > 0 && strcmp(ykd_model_param_at(f.model, order[count - 1])->name,
                                     "model.0.bn.bias") == 0);
        w.model = f.model;
        w.params = calloc(count + 1, sizeof *w.params);
        w.seen = calloc(n + 1, sizeof *w.seen);
        ykd_model_set_grad_final(f.model, on_final, &w);
        if (CHECK(t, w.params && w.seen) && device_backward(t, &f, NULL)) {
            CHECKF(t, w.calls == count, "%zu calls for %zu parameters", w.calls, count);
            for (size_t i = 0; i < w.calls && i < count; i++)
                CHECKF(t, w.params[i] == order[i], "call %zu: parameter %zu, the order says %zu",
                       i, w.params[i], order[i]);
            float *final = read_grads(t, f.model);
            size_t differ = 0;
            for (size_t i = 0; final && i < n; i++)
                differ += memcmp(&final[i], &w.seen[i], sizeof(float)) != 0;
            CHECKF(t, final && differ == 0,
                   "%zu gradient floats changed after their parameter was called final", differ);
            free(final);
        }
        /* a watcher's failure is the backward's */
        w.calls = 0;
        w.model = NULL;
        ykd_model_set_grad_final(f.model, NULL, NULL);
        CHECK_OK(t, ykd_model_forward(f.model, &f.images, YKD_MODEL_TRAINING, &err), err);
        ykd_model_set_grad_final(f.model, fail_final, NULL);
        ykd_model_grad only = {"head3", &f.g_head_dev[0]};
        CHECK_STATUS(t, ykd_model_backward(f.model, &only, 1, NULL, &err), YKD_ERR_COMM, err);
        CHECK_CONTAINS(t, err.message, "watcher says no");
        ykd_model_set_grad_final(f.model, NULL, NULL);
    }
    free(w.params);
    free(w.seen);
    teardown(&f);
}

static void test_save_and_reload(ykd_test *t)
{
    fixture f;
    ykd_error err;
    char dir[512], path[600];
    ykd_model *loaded = NULL;
    if (setup(t, &f, 23) && ykd_test_mkdtemp(t, dir, sizeof dir) &&
        CHECK_OK(t, ykd_model_forward(f.model, &f.images, YKD_MODEL_TRAINING, &err), err)) {
        const char *names[CLASSES] = {"circle", "square", "star"};
        CHECK_OK(t, ykd_model_set_class_names(f.model, names, CLASSES, &err), err);
        snprintf(path, sizeof path, "%s/n.safetensors", dir);
        CHECK_OK(t, ykd_model_save(f.model, path, &err), err);
        if (CHECK_OK(t, ykd_model_load(t->device, path, &loaded, &err), err)) {
            CHECK(t, ykd_model_batches_tracked(loaded) == 1);
            CHECK(t, strcmp(ykd_model_class_name(loaded, 2), "star") == 0);
            CHECK(t, ykd_model_classes(loaded) == CLASSES);
            ykd_model *models[2] = {f.model, loaded};
            float *out[2][3];
            size_t count[3];
            static const char *const heads[] = {"head3", "head4", "head5"};
            for (int m = 0; m < 2; m++) {
                CHECK_OK(t, ykd_model_forward(models[m], &f.images, YKD_MODEL_INFERENCE, &err),
                         err);
                for (int lv = 0; lv < 3; lv++)
                    out[m][lv] = read_output(t, models[m], heads[lv], &count[lv]);
            }
            for (int lv = 0; lv < 3; lv++) {
                CHECKF(t, out[0][lv] && out[1][lv] &&
                              memcmp(out[0][lv], out[1][lv], count[lv] * sizeof(float)) == 0,
                       "%s differs after saving and reloading", heads[lv]);
                free(out[0][lv]);
                free(out[1][lv]);
            }
        }
        ykd_test_rmtree(dir);
    }
    ykd_model_free(loaded);
    teardown(&f);
}

/* No two tensors alive at the same step share memory; inference needs less than training;
 * reuse happens; and a forward holds on the device what the plan said. */
static bool plan_is_sound(ykd_test *t, const ykd_plan *plan)
{
    size_t clashes = 0;
    for (int i = 0; i < plan->block_count; i++)
        for (int j = i + 1; j < plan->block_count; j++) {
            const ykd_plan_block *a = &plan->blocks[i], *b = &plan->blocks[j];
            bool live = a->start <= b->end && b->start <= a->end;
            bool overlap = a->arena == b->arena && a->offset < b->offset + b->floats &&
                           b->offset < a->offset + a->floats;
            clashes += live && overlap;
        }
    return CHECKF(t, clashes == 0, "%zu pairs of live tensors share memory", clashes);
}

static void test_memory_plan(ykd_test *t)
{
    fixture f;
    ykd_error err;
    if (setup(t, &f, 29)) {
        ykd_model_memory mem[2];
        for (int mode = 0; mode < 2; mode++) {
            ykd_plan plan;
            if (CHECK_OK(t, ykd_plan_make(f.model->graph, (ykd_model_mode)mode, 4, 96, 160, 0,
                                          &plan, &err),
                         err)) {
                plan_is_sound(t, &plan);
                ykd_plan_free(&plan);
            }
            /* capped arenas: several of them, still sound */
            if (CHECK_OK(t, ykd_plan_make(f.model->graph, (ykd_model_mode)mode, 4, 96, 160,
                                          (size_t)1 << 18, &plan, &err),
                         err)) {
                CHECK(t, plan.arena_count > 1);
                plan_is_sound(t, &plan);
                ykd_plan_free(&plan);
            }
            CHECK_OK(t, ykd_model_plan_memory(f.model, (ykd_model_mode)mode, BATCH, HEIGHT, WIDTH,
                                              &mem[mode], &err),
                     err);
            CHECK(t, mem[mode].activation_bytes < mem[mode].unshared_bytes);
        }
        CHECKF(t, mem[0].activation_bytes * 3 < mem[1].activation_bytes,
               "inference activations %llu bytes, training %llu",
               (unsigned long long)mem[0].activation_bytes,
               (unsigned long long)mem[1].activation_bytes);
        /* after each forward the device holds the parameters, gradients, the mode's arenas and
         * (inference) the folded weights, plus the ops' scratch */
        for (int mode = 0; mode < 2; mode++) {
            CHECK_OK(t, ykd_model_forward(f.model, &f.images, (ykd_model_mode)mode, &err), err);
            uint64_t held = 0;
            for (int a = 0; a < f.model->plan.arena_count; a++)
                held += ykd_buffer_size(f.model->arenas[a]);
            CHECK(t, held == mem[mode].activation_bytes);
            /* a model used only for inference holds no gradients */
            CHECK(t, (ykd_model_grad_buffer(f.model) != NULL) == (mode == 1));
        }
    }
    teardown(&f);
}

static void test_misuse(ykd_test *t)
{
    fixture f;
    ykd_error err;
    ykd_tensor odd = {0}, wrong = {0};
    if (setup(t, &f, 31) &&
        CHECK_OK(t, ykd_tensor_alloc(t->device, 1, 3, 48, 32, &odd, &err), err) &&
        CHECK_OK(t, ykd_tensor_alloc(t->device, 1, 2, 64, 64, &wrong, &err), err)) {
        CHECK_STATUS(t, ykd_model_forward(f.model, &odd, YKD_MODEL_INFERENCE, &err),
                     YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "multiples of 32");
        CHECK_STATUS(t, ykd_model_forward(f.model, &wrong, YKD_MODEL_INFERENCE, &err),
                     YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "takes 3 channels");
        CHECK_STATUS(t, ykd_model_backward(f.model, NULL, 0, NULL, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_OK(t, ykd_model_forward(f.model, &f.images, YKD_MODEL_INFERENCE, &err), err);
        CHECK_STATUS(t, ykd_model_backward(f.model, NULL, 0, NULL, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "training-mode forward");
        ykd_tensor out;
        CHECK_STATUS(t, ykd_model_output(f.model, "p6", &out, &err), YKD_ERR_NOT_FOUND, err);
        CHECK_CONTAINS(t, err.message, "p3, box3, cls3, head3");
        CHECK_OK(t, ykd_model_forward(f.model, &f.images, YKD_MODEL_TRAINING, &err), err);
        ykd_model_grad bad = {"head4", &f.g_head_dev[0]};
        CHECK_STATUS(t, ykd_model_backward(f.model, &bad, 1, NULL, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "the gradient of 'head4'");
        CHECK_OK(t, ykd_model_forward(f.model, &f.images, YKD_MODEL_TRAINING, &err), err);
        ykd_tensor box3 = ykd_tensor_channels(&f.g_head_dev[0], 0, 64);
        ykd_model_grad twice[2] = {{"head3", &f.g_head_dev[0]}, {"box3", &box3}};
        CHECK_STATUS(t, ykd_model_backward(f.model, twice, 2, NULL, &err),
                     YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "'box3' overlaps");
    }
    ykd_tensor_free(&odd);
    ykd_tensor_free(&wrong);
    teardown(&f);
}

/* The tests above on YOLO11n: C3k2 (both block kinds), C2PSA's attention, the depthwise
 * class branch. */
#define ON_YOLO11(test)                                                                        \
    static void test##_yolo11(ykd_test *t)                                                     \
    {                                                                                          \
        model_name = "yolo11n";                                                                \
        test(t);                                                                               \
        model_name = "n";                                                                      \
    }
ON_YOLO11(test_training_forward)
ON_YOLO11(test_gradients)
ON_YOLO11(test_input_gradient)
ON_YOLO11(test_inference_forward)
ON_YOLO11(test_save_and_reload)
ON_YOLO11(test_memory_plan)

static const ykd_test_case cases[] = {
    {"yolo11n: training forward equals the float64 reference", test_training_forward_yolo11,
     YKD_TEST_EACH_DEVICE},
    {"yolo11n: parameter gradients match finite differences", test_gradients_yolo11,
     YKD_TEST_EACH_DEVICE},
    {"yolo11n: the input gradient matches finite differences", test_input_gradient_yolo11,
     YKD_TEST_EACH_DEVICE},
    {"yolo11n: inference (folded BN) equals BN with running statistics",
     test_inference_forward_yolo11, YKD_TEST_EACH_DEVICE},
    {"yolo11n: saved weights reload to identical outputs", test_save_and_reload_yolo11,
     YKD_TEST_EACH_DEVICE},
    {"yolo11n: the memory plan reuses memory soundly; inference needs less",
     test_memory_plan_yolo11, YKD_TEST_EACH_DEVICE},
    {"model: training forward equals the float64 reference", test_training_forward,
     YKD_TEST_EACH_DEVICE},
    {"model: parameter gradients match finite differences", test_gradients,
     YKD_TEST_EACH_DEVICE},
    {"model: the input gradient matches finite differences", test_input_gradient,
     YKD_TEST_EACH_DEVICE},
    {"model: inference (folded BN) equals BN with running statistics", test_inference_forward,
     YKD_TEST_EACH_DEVICE},
    {"model: gradients accumulate; missing head gradients count as zero",
     test_accumulation_and_partial, YKD_TEST_EACH_DEVICE},
    {"model: the backward tells its watcher each gradient once final", test_grad_final_watcher,
     YKD_TEST_EACH_DEVICE},
    {"model: saved weights reload to identical outputs", test_save_and_reload,
     YKD_TEST_EACH_DEVICE},
    {"model: the memory plan reuses memory soundly; inference needs less", test_memory_plan,
     YKD_TEST_EACH_DEVICE},
    {"model: misuse is refused with the reason", test_misuse, YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
