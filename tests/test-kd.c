/* Distillation config and context: the JSON format and its faults with JSON paths, the weight
 * schedule; then, with a YOLOv8n student and a YOLOv8s teacher on 64 x 64 images, the
 * adapters (names, shapes, initialisation), every loss of one compute against the float64
 * references built from the downloaded tensors (values, the student's gradients added to the
 * detection loss's, the adapters' gradients), the list the model's backward takes, and the
 * refusals (shapes, devices, missing tensors) that leave every gradient as it was. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "op_check.h"
#include "ref/ref.h"
#include "yolokd/kd.h"

/* ---- the config ------------------------------------------------------------------------------ */

static void test_config_defaults(ykd_test *t)
{
    ykd_kd_config c;
    ykd_error err;
    if (!CHECK_OK(t, ykd_kd_config_load(NULL, &c, &err), err))
        return;
    CHECK(t, c.loss[YKD_KD_LOGIT].enabled && c.loss[YKD_KD_LD].enabled);
    CHECK(t, !c.loss[YKD_KD_CWD].enabled && !c.loss[YKD_KD_PKD].enabled &&
                 !c.loss[YKD_KD_IMITATION].enabled);
    CHECK(t, c.loss[YKD_KD_LOGIT].temperature == 1.0f && c.loss[YKD_KD_LD].temperature == 10.0f &&
                 c.loss[YKD_KD_CWD].temperature == 4.0f);
    CHECK(t, c.loss[YKD_KD_LOGIT].weight == 1.0f && c.loss[YKD_KD_LD].weight == 1.0f &&
                 c.loss[YKD_KD_IMITATION].masked);
    CHECK(t, c.pair_count == 3 && strcmp(c.pairs[0].student, "p3") == 0 &&
                 strcmp(c.pairs[2].teacher, "p5") == 0);
    CHECK(t, c.schedule == YKD_KD_SCHEDULE_CONSTANT);
    CHECK(t, ykd_kd_schedule_factor(&c, 7.0, 10) == 1.0);
    CHECK(t, strcmp(ykd_kd_loss_name(YKD_KD_IMITATION), "imitation") == 0);
    CHECK_STATUS(t, ykd_kd_config_load("/nonexistent/kd.json", &c, &err), YKD_ERR_NOT_FOUND, err);
    CHECK_CONTAINS(t, err.message, "/nonexistent/kd.json");
}

static const char full_config[] =
    "{\"losses\": {\"logit\": {\"weight\": 0.7, \"temperature\": 2},\n"
    "              \"ld\": {\"weight\": 1.3},\n"
    "              \"cwd\": {\"weight\": 0.9, \"temperature\": 4},\n"
    "              \"pkd\": {\"weight\": 0.6},\n"
    "              \"imitation\": {\"weight\": 1.1, \"mask\": \"assigned\"}},\n"
    " \"features\": [{\"student\": \"p3\", \"teacher\": \"p3\"},\n"
    "              {\"student\": \"p4\", \"teacher\": \"p4\"},\n"
    "              {\"student\": \"p5\", \"teacher\": \"p5\"}],\n"
    " \"schedule\": {\"type\": \"cosine\", \"final\": 0.1}}\n";

static void test_config_parse(ykd_test *t)
{
    ykd_kd_config c;
    ykd_error err;
    if (!CHECK_OK(t, ykd_kd_config_parse(full_config, strlen(full_config), "kd.json", &c, &err),
                  err))
        return;
    for (int k = 0; k < YKD_KD_LOSS_COUNT; k++)
        CHECKF(t, c.loss[k].enabled, "loss %d enabled", k);
    CHECK(t, c.loss[YKD_KD_LOGIT].weight == 0.7f && c.loss[YKD_KD_LOGIT].temperature == 2.0f);
    CHECK(t, c.loss[YKD_KD_LD].weight == 1.3f && c.loss[YKD_KD_LD].temperature == 10.0f);
    CHECK(t, c.loss[YKD_KD_PKD].weight == 0.6f && c.loss[YKD_KD_IMITATION].masked);
    CHECK(t, c.schedule == YKD_KD_SCHEDULE_COSINE && c.final_fraction == 0.1f);
    /* cosine: 1 at the start, final at the end and after, halfway between at the middle */
    const double pi = 3.14159265358979323846;
    CHECK(t, fabs(ykd_kd_schedule_factor(&c, 0.0, 10) - 1.0) < 1e-12);
    CHECK(t, fabs(ykd_kd_schedule_factor(&c, 5.0, 10) - 0.55) < 1e-7);
    CHECK(t, fabs(ykd_kd_schedule_factor(&c, 10.0, 10) - 0.1) < 1e-7);
    CHECK(t, fabs(ykd_kd_schedule_factor(&c, 12.0, 10) - 0.1) < 1e-7);
    CHECK(t, fabs(ykd_kd_schedule_factor(&c, 2.5, 10) -
                  (0.1 + 0.9 * (1 + cos(pi / 4)) / 2)) < 1e-7);
    /* a file naming only some losses enables only those, the rest of their fields defaulted */
    const char *some = "{\"losses\": {\"pkd\": {}, \"imitation\": {\"mask\": \"all\"}}}";
    if (CHECK_OK(t, ykd_kd_config_parse(some, strlen(some), "kd.json", &c, &err), err)) {
        CHECK(t, !c.loss[YKD_KD_LD].enabled && !c.loss[YKD_KD_CWD].enabled);
        CHECK(t, c.loss[YKD_KD_PKD].enabled && c.loss[YKD_KD_PKD].weight == 1.0f);
        CHECK(t, c.loss[YKD_KD_IMITATION].enabled && !c.loss[YKD_KD_IMITATION].masked);
        CHECK(t, c.pair_count == 3);
    }
}

static void test_config_faults(ykd_test *t)
{
    static const struct {
        const char *json, *message;
    } faults[] = {
        {"{\"losses\": {\"fitnet\": {}}}",
         "kd.json: $.losses: unknown key \"fitnet\" (known: logit, ld, cwd, pkd, imitation)"},
        {"{\"losses\": {\"ld\": {\"weight\": \"1\"}}}",
         "kd.json: $.losses.ld.weight: expected a number, got a string"},
        {"{\"losses\": {\"cwd\": {\"weight\": -1}}}",
         "kd.json: $.losses.cwd.weight: -1 is negative"},
        {"{\"losses\": {\"logit\": {\"temperature\": 0}}}",
         "$.losses.logit.temperature: 0 is not above 0"},
        {"{\"losses\": {\"pkd\": {\"temperature\": 2}}}",
         "$.losses.pkd: unknown key \"temperature\" (known: weight)"},
        {"{\"losses\": {\"imitation\": {\"mask\": \"near\"}}}",
         "$.losses.imitation.mask: expected \"assigned\" or \"all\", got \"near\""},
        {"{\"losses\": []}", "$.losses: expected an object, got an array"},
        {"{\"losses\": {\"ld\": 1}}", "$.losses.ld: expected an object, got a number"},
        {"{\"features\": [{\"student\": \"p3\", \"teacher\": \"p33\"}]}",
         "$.features[0].teacher: \"p33\" names no model tensor"},
        {"{\"features\": [{\"student\": \"p3\", \"teacher\": \"p3\"}, {\"student\": \"neck\", "
         "\"teacher\": \"p4\"}]}",
         "$.features[1].student: \"neck\" names no model tensor"},
        {"{\"features\": [{\"student\": \"p3\"}]}", "$.features[0].teacher: missing"},
        {"{\"features\": [{\"student\": \"p3\", \"teacher\": 3}]}",
         "$.features[0].teacher: expected a tensor name, got a number"},
        {"{\"features\": [{\"student\": \"p3\", \"teacher\": \"p3\"}, {\"student\": \"p3\", "
         "\"teacher\": \"p4\"}]}",
         "$.features[1]: student tensor p3 is paired already, at $.features[0]"},
        {"{\"features\": {}}", "$.features: expected an array"},
        {"{\"features\": [{\"student\": \"p3\", \"teacher\": \"p3\"}]}",
         "$.features: feature pairs given, but no feature loss is on (name cwd, pkd or "
         "imitation in $.losses)"},
        {"{\"losses\": {\"logit\": {}, \"ld\": {}}, \"features\": [{\"student\": \"p4\", "
         "\"teacher\": \"p4\"}]}",
         "$.features: feature pairs given, but no feature loss is on"},
        {"{\"losses\": {\"cwd\": {}}, \"features\": []}",
         "$.features: no pairs; name at least one, or leave it out for the neck outputs"},
        {"{\"schedule\": {\"type\": \"step\"}}",
         "$.schedule.type: expected \"constant\" or \"cosine\", got \"step\""},
        {"{\"schedule\": {\"type\": \"cosine\", \"final\": 1.5}}",
         "$.schedule.final: 1.5 is over 1"},
        {"{\"scedule\": {}}", "$: unknown key \"scedule\" (known: losses, features, schedule)"},
        {"{\"losses\": {\"ld\": {}, \"ld\": {}}}", "$.losses: \"ld\" is given twice"},
        {"[1, 2]", "$: expected an object, got an array"},
        {"{\n\"losses\": {\n\"ld\": {,}}}", "kd.json:3: not valid JSON"},
    };
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        ykd_kd_config c;
        ykd_error err;
        CHECK_STATUS(t, ykd_kd_config_parse(faults[i].json, strlen(faults[i].json), "kd.json", &c,
                                            &err),
                     YKD_ERR_FORMAT, err);
        CHECK_CONTAINS(t, err.message, faults[i].message);
    }
}

/* ---- a student, a teacher, a batch -------------------------------------------------------- */

enum { NC = 3, IMG = 64, BATCH = 2, LEVELS = 3, MAX_BOXES = 3 };

typedef struct fixture {
    ykd_model_desc *sdesc, *tdesc;
    ykd_model *student, *teacher;
    ykd_tensor images;
    ykd_yolo_loss *loss;
    ykd_tensor head_grad[LEVELS];
    ykd_model_grad base[LEVELS];
    char base_names[LEVELS][16];
    ykd_kd_shape shapes[16];
    size_t shape_count;
    ykd_kd_tensor teacher_tensors[16];
    ykd_tensor teacher_values[16];
} fixture;

static void fixture_free(fixture *f)
{
    for (int l = 0; l < LEVELS; l++)
        ykd_tensor_free(&f->head_grad[l]);
    ykd_yolo_loss_free(f->loss);
    ykd_tensor_free(&f->images);
    ykd_model_free(f->student);
    ykd_model_free(f->teacher);
    ykd_model_desc_free(f->sdesc);
    ykd_model_desc_free(f->tdesc);
}

/* Labels: three boxes per image, classes 0..2, well inside. */
static void make_labels(float *labels, int *counts)
{
    static const float boxes[MAX_BOXES][5] = {
        {0, 0.3f, 0.35f, 0.4f, 0.5f}, {1, 0.5f, 0.5f, 0.95f, 0.9f}, {2, 0.5f, 0.5f, 0.2f, 0.25f}};
    for (int b = 0; b < BATCH; b++) {
        counts[b] = MAX_BOXES;
        memcpy(labels + (size_t)b * MAX_BOXES * 5, boxes, sizeof boxes);
        labels[(size_t)b * MAX_BOXES * 5 + 1] += 0.05f * (float)b;
    }
}

/* The detection loss's gradients into head_grad (the base gradients KD adds to). */
static bool detection_loss(ykd_test *t, fixture *f)
{
    ykd_error err;
    ykd_tensor box[LEVELS], cls[LEVELS], dbox[LEVELS], dcls[LEVELS];
    ykd_yolo_level levels[LEVELS], grads[LEVELS];
    for (int l = 0; l < LEVELS; l++) {
        ykd_tensor head;
        snprintf(f->base_names[l], sizeof f->base_names[l], "head%d", 3 + l);
        if (!CHECK_OK(t, ykd_model_output(f->student, f->base_names[l], &head, &err), err) ||
            !CHECK_OK(t,
                      ykd_tensor_alloc(t->device, head.n, head.c, head.h, head.w,
                                       &f->head_grad[l], &err),
                      err))
            return false;
        box[l] = ykd_tensor_channels(&head, 0, 64), cls[l] = ykd_tensor_channels(&head, 64, NC);
        dbox[l] = ykd_tensor_channels(&f->head_grad[l], 0, 64);
        dcls[l] = ykd_tensor_channels(&f->head_grad[l], 64, NC);
        levels[l] = (ykd_yolo_level){&box[l], &cls[l], 8 << l};
        grads[l] = (ykd_yolo_level){&dbox[l], &dcls[l], 8 << l};
        f->base[l] = (ykd_model_grad){f->base_names[l], &f->head_grad[l]};
    }
    float labels[BATCH * MAX_BOXES * 5];
    int counts[BATCH];
    make_labels(labels, counts);
    ykd_yolo_targets targets = {labels, counts, MAX_BOXES};
    ykd_yolo_loss_value v;
    return CHECK_OK(t, ykd_yolo_loss_init(t->device, NC, NULL, &f->loss, &err), err) &&
           CHECK_OK(t,
                    ykd_yolo_loss_compute(f->loss, levels, LEVELS, &targets, grads, false, &v,
                                          &err),
                    err) &&
           CHECKF(t, v.positives > 4, "only %zu positives", v.positives);
}

/* Student `student_scale`, teacher `teacher_scale` with teacher_nc classes, one batch of
 * random images through both (student training, teacher inference), the detection loss. */
static bool fixture_init(ykd_test *t, fixture *f, const char *student_scale,
                         const char *teacher_scale, int teacher_nc)
{
    memset(f, 0, sizeof *f);
    ykd_error err;
    float *pixels = ykd_test_random_floats((size_t)BATCH * 3 * IMG * IMG, 42, 0.0f, 1.0f);
    bool ok = CHECK_OK(t, ykd_model_desc_builtin(student_scale, NC, &f->sdesc, &err), err) &&
              CHECK_OK(t, ykd_model_desc_builtin(teacher_scale, teacher_nc, &f->tdesc, &err),
                       err) &&
              CHECK_OK(t, ykd_model_create(t->device, f->sdesc, 1, &f->student, &err), err) &&
              CHECK_OK(t, ykd_model_create(t->device, f->tdesc, 2, &f->teacher, &err), err) &&
              ykd_test_upload(t, pixels, BATCH, 3, IMG, IMG, &f->images) &&
              CHECK_OK(t, ykd_model_forward(f->student, &f->images, YKD_MODEL_TRAINING, &err),
                       err) &&
              CHECK_OK(t, ykd_model_forward(f->teacher, &f->images, YKD_MODEL_INFERENCE, &err),
                       err) &&
              CHECK_OK(t, ykd_kd_model_shapes(f->teacher, f->shapes, 16, &f->shape_count, &err),
                       err) &&
              CHECK(t, f->shape_count == 12);
    free(pixels);
    for (size_t i = 0; ok && i < f->shape_count; i++) {
        f->teacher_tensors[i] = (ykd_kd_tensor){f->shapes[i].name, &f->teacher_values[i]};
        ok = CHECK_OK(t, ykd_model_output(f->teacher, f->shapes[i].name, &f->teacher_values[i],
                                          &err),
                      err);
    }
    return ok && detection_loss(t, f);
}

static ykd_kd_batch batch_of(fixture *f, double epoch, int epochs, bool with_base)
{
    return (ykd_kd_batch){f->teacher_tensors, f->shape_count, f->loss, epoch, epochs,
                          with_base ? f->base : NULL, with_base ? LEVELS : 0, NULL};
}

/* A tensor downloaded as float64 (packed). */
static double *download_d(ykd_test *t, const ykd_tensor *x)
{
    float *f = ykd_test_download(t, x);
    double *d = f ? ykd_test_to_double(f, ykd_tensor_numel(x)) : NULL;
    free(f);
    return d;
}

static double *output_d(ykd_test *t, const ykd_model *m, const char *name, ref_shape *shape)
{
    ykd_tensor x;
    ykd_error err;
    if (!CHECK_OK(t, ykd_model_output(m, name, &x, &err), err))
        return NULL;
    *shape = (ref_shape){x.n, x.c, x.h, x.w};
    return download_d(t, &x);
}

static const ykd_model_grad *find_grad(const ykd_model_grad *grads, size_t count,
                                       const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(grads[i].name, name) == 0)
            return &grads[i];
    return NULL;
}

/* ---- the adapters ------------------------------------------------------------------------ */

/* LD and a feature loss on the default pairs (the feature loss is the adapters' reason to
 * exist). */
static bool ld_cwd_config(ykd_test *t, ykd_kd_config *config)
{
    static const char json[] = "{\"losses\": {\"ld\": {}, \"cwd\": {}}}";
    ykd_error err;
    return CHECK_OK(t, ykd_kd_config_parse(json, strlen(json), "kd.json", config, &err), err);
}

static void test_adapters(ykd_test *t)
{
    fixture f;
    ykd_kd *a = NULL, *b = NULL, *c = NULL;
    ykd_kd_config config;
    ykd_error err;
    if (fixture_init(t, &f, "n", "s", NC) && ld_cwd_config(t, &config) &&
        CHECK_OK(t, ykd_kd_create(&config, f.student, f.shapes, f.shape_count, 7, &a, &err), err) &&
        CHECK_OK(t, ykd_kd_create(&config, f.student, f.shapes, f.shape_count, 7, &b, &err), err) &&
        CHECK_OK(t, ykd_kd_create(&config, f.student, f.shapes, f.shape_count, 8, &c, &err), err) &&
        CHECK(t, ykd_kd_param_count(a) == 6)) {
        /* n's neck has 64, 128, 256 channels, s's twice as many */
        static const char *const names[] = {"kd.adapter.p3.weight", "kd.adapter.p3.bias",
                                            "kd.adapter.p4.weight", "kd.adapter.p4.bias",
                                            "kd.adapter.p5.weight", "kd.adapter.p5.bias"};
        for (size_t i = 0; i < 6; i++) {
            const ykd_model_param *p = ykd_kd_param_at(a, i);
            int cs = 64 << (i / 2), ct = 2 * cs;
            CHECKF(t, strcmp(p->name, names[i]) == 0, "param %zu is %s", i, p->name);
            bool weight = i % 2 == 0;
            CHECK(t, p->kind == (weight ? YKD_PARAM_CONV_WEIGHT : YKD_PARAM_CONV_BIAS));
            CHECK(t, p->ndim == (weight ? 4 : 1) && p->shape[0] == ct);
            CHECK(t, weight ? p->value.n == ct && p->value.c == cs : p->value.c == ct);
            float *v = ykd_test_download(t, &p->value), *g = ykd_test_download(t, &p->grad);
            float *same = ykd_test_download(t, &ykd_kd_param_at(b, i)->value);
            float *other = ykd_test_download(t, &ykd_kd_param_at(c, i)->value);
            size_t n = ykd_tensor_numel(&p->value);
            double bound = 1.0 / sqrt((double)cs), biggest = 0.0;
            bool zero = true, equal = true, differ = false;
            for (size_t k = 0; v && g && same && other && k < n; k++) {
                biggest = fmax(biggest, fabs(v[k]));
                zero = zero && g[k] == 0.0f;
                equal = equal && v[k] == same[k];
                differ = differ || v[k] != other[k];
            }
            /* Kaiming-uniform: within the bound, and spread (not all tiny) */
            CHECKF(t, biggest <= bound && biggest > 0.8 * bound, "%s: largest %g, bound %g",
                   p->name, biggest, bound);
            CHECKF(t, zero && equal && differ, "%s: zero grad %d, same seed %d, other seed %d",
                   p->name, zero, equal, differ);
            free(v), free(g), free(same), free(other);
        }
        /* teacher tensors needed: LD's box per level, the pairs' teacher features */
        CHECK(t, ykd_kd_teacher_name_count(a) == 6);
        CHECK(t, strcmp(ykd_kd_teacher_name(a, 0), "box3") == 0 &&
                     strcmp(ykd_kd_teacher_name(a, 3), "p3") == 0);
    }
    ykd_kd_free(a), ykd_kd_free(b), ykd_kd_free(c);
    fixture_free(&f);
}

/* Teacher and student of one scale: no adapter. */
static void test_no_adapter(ykd_test *t)
{
    fixture f;
    ykd_kd *kd = NULL;
    ykd_kd_config config;
    ykd_error err;
    if (fixture_init(t, &f, "n", "n", NC) && ld_cwd_config(t, &config) &&
        CHECK_OK(t, ykd_kd_create(&config, f.student, f.shapes, f.shape_count, 7, &kd, &err), err))
        CHECK(t, ykd_kd_param_count(kd) == 0 && ykd_kd_param_at(kd, 0) == NULL);
    ykd_kd_free(kd);
    fixture_free(&f);
}

/* ---- one compute against the references ------------------------------------------------------ */

/* What the references give for one level and pair, from the downloaded tensors. */
typedef struct expected {
    double loss[YKD_KD_LOSS_COUNT];
    double *head[LEVELS]; /* the base gradient plus KD's */
    double *neck[LEVELS];
    double *dw[LEVELS], *db[LEVELS];
    ref_shape head_shape[LEVELS], neck_shape[LEVELS];
} expected;

static void expected_free(expected *e)
{
    for (int l = 0; l < LEVELS; l++)
        free(e->head[l]), free(e->neck[l]), free(e->dw[l]), free(e->db[l]);
}

/* Per level: the assignment's weights (scores where assigned) and mask; S over the batch. */
static bool assignment_of(ykd_test *t, const fixture *f, double *w[LEVELS], double *m[LEVELS],
                          double *assigned, double *score_sum)
{
    size_t anchors = ykd_yolo_loss_anchor_count(f->loss);
    int *gt = malloc(anchors * sizeof *gt);
    float *score = malloc(anchors * sizeof *score);
    ykd_error err;
    *score_sum = 0.0;
    for (int l = 0; l < LEVELS; l++) {
        size_t hw = (size_t)(IMG >> (3 + l)) * (IMG >> (3 + l));
        w[l] = calloc(BATCH * hw, sizeof(double)), m[l] = calloc(BATCH * hw, sizeof(double));
        assigned[l] = 0.0;
    }
    bool ok = true;
    for (int b = 0; ok && b < BATCH; b++) {
        ok = CHECK_OK(t, ykd_yolo_loss_assignment(f->loss, b, gt, score, &err), err);
        for (int l = 0, first = 0; ok && l < LEVELS; l++) {
            size_t hw = (size_t)(IMG >> (3 + l)) * (IMG >> (3 + l));
            for (size_t p = 0; p < hw; p++) {
                bool on = gt[first + p] >= 0;
                w[l][b * hw + p] = on ? score[first + p] : 0.0;
                m[l][b * hw + p] = on;
                assigned[l] += on;
                *score_sum += on ? score[first + p] : 0.0;
            }
            first += (int)hw;
        }
    }
    free(gt), free(score);
    return ok;
}

/* Adds scale * src to dst over n values. */
static void add_scaled(double *dst, const double *src, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += scale * src[i];
}

/* The feature losses of level l's pair through its adapter: values, and the gradients of
 * N * sum w_k L_k for the neck and the adapter. */
static bool expect_pair(ykd_test *t, const fixture *f, const ykd_kd *kd, int l,
                        const ykd_kd_config *c, const double *w, const double *mask,
                        double assigned, expected *e)
{
    char name[16];
    snprintf(name, sizeof name, "p%d", 3 + l);
    ref_shape ss, ts;
    double *s = output_d(t, f->student, name, &ss), *te = output_d(t, f->teacher, name, &ts);
    double *aw = download_d(t, &ykd_kd_param_at(kd, 2 * (size_t)l)->value);
    double *ab = download_d(t, &ykd_kd_param_at(kd, 2 * (size_t)l + 1)->value);
    bool ok = s && te && aw && ab;
    size_t ny = ref_numel(ts);
    double *y = malloc(ny * sizeof *y), *dy = calloc(ny, sizeof *dy);
    double *part = malloc(ny * sizeof *part);
    ref_conv conv = {ss.n, ss.c, ss.h, ss.w, ts.c, 1, 1, 0, 1};
    if (ok) {
        ref_conv2d_forward(&conv, s, aw, ab, 0, y);
        e->loss[YKD_KD_CWD] += ref_kd_cwd(ts, y, te, c->loss[YKD_KD_CWD].temperature, part);
        add_scaled(dy, part, ny, BATCH * w[YKD_KD_CWD]);
        e->loss[YKD_KD_PKD] += ref_kd_pkd(ts, y, te, YKD_KD_PKD_EPS, part);
        add_scaled(dy, part, ny, BATCH * w[YKD_KD_PKD]);
        e->loss[YKD_KD_IMITATION] +=
            ref_kd_mse(ts, y, te, mask, ts.c * fmax(assigned, 1.0), part);
        add_scaled(dy, part, ny, BATCH * w[YKD_KD_IMITATION]);
        e->neck_shape[l] = ss;
        e->neck[l] = malloc(ref_numel(ss) * sizeof(double));
        e->dw[l] = malloc((size_t)ts.c * ss.c * sizeof(double));
        e->db[l] = malloc((size_t)ts.c * sizeof(double));
        ref_conv2d_backward_input(&conv, dy, aw, e->neck[l]);
        ref_conv2d_backward_weights(&conv, s, dy, e->dw[l], e->db[l]);
    }
    free(s), free(te), free(aw), free(ab), free(y), free(dy), free(part);
    return ok;
}

/* Logit KD and LD of level l added to the downloaded base gradient. */
static bool expect_head(ykd_test *t, const fixture *f, int l, const ykd_kd_config *c,
                        const double *w, const double *weights, double norm, expected *e)
{
    char cls_name[16], box_name[16];
    snprintf(cls_name, sizeof cls_name, "cls%d", 3 + l);
    snprintf(box_name, sizeof box_name, "box%d", 3 + l);
    ref_shape cs, bs, unused;
    double *cls_s = output_d(t, f->student, cls_name, &cs);
    double *cls_t = output_d(t, f->teacher, cls_name, &unused);
    double *box_s = output_d(t, f->student, box_name, &bs);
    double *box_t = output_d(t, f->teacher, box_name, &unused);
    e->head[l] = download_d(t, &f->head_grad[l]);
    e->head_shape[l] = (ref_shape){cs.n, 64 + NC, cs.h, cs.w};
    bool ok = cls_s && cls_t && box_s && box_t && e->head[l];
    double *dcls = malloc(ref_numel(cs) * sizeof *dcls);
    double *dbox = malloc(ref_numel(bs) * sizeof *dbox);
    if (ok) {
        e->loss[YKD_KD_LOGIT] += ref_kd_logit(cs, cls_s, cls_t, c->loss[YKD_KD_LOGIT].temperature,
                                              norm, dcls);
        e->loss[YKD_KD_LD] += ref_kd_ld(bs, box_s, box_t, weights,
                                        c->loss[YKD_KD_LD].temperature, norm, dbox);
        size_t hw = (size_t)cs.h * cs.w;
        for (int b = 0; b < BATCH; b++) {
            double *img = e->head[l] + (size_t)b * (64 + NC) * hw;
            add_scaled(img, dbox + (size_t)b * 64 * hw, 64 * hw, BATCH * w[YKD_KD_LD]);
            add_scaled(img + 64 * hw, dcls + (size_t)b * NC * hw, NC * hw,
                       BATCH * w[YKD_KD_LOGIT]);
        }
    }
    free(cls_s), free(cls_t), free(box_s), free(box_t), free(dcls), free(dbox);
    return ok;
}

/* Everything the references say of one compute (before it runs: the base gradients as they
 * are now). */
static bool expect_all(ykd_test *t, const fixture *f, const ykd_kd *kd, const ykd_kd_config *c,
                       const double *w, expected *e)
{
    double *weights[LEVELS], *masks[LEVELS], assigned[LEVELS], score_sum;
    memset(e, 0, sizeof *e);
    bool ok = assignment_of(t, f, weights, masks, assigned, &score_sum);
    for (int l = 0; ok && l < LEVELS; l++)
        ok = expect_head(t, f, l, c, w, weights[l], fmax(score_sum, 1.0), e) &&
             expect_pair(t, f, kd, l, c, w, masks[l], assigned[l], e);
    for (int l = 0; l < LEVELS; l++)
        free(weights[l]), free(masks[l]);
    return ok;
}

/* The adapter's weight and bias gradients compared as one vector: where no anchor of the
 * level is assigned, the imitation term is absent and CWD's and PKD's gradients sum to zero
 * over each channel, so the bias gradient is 0 but for float rounding. */
static void check_adapter_grads(ykd_test *t, const ykd_kd *kd, int l, const expected *e)
{
    const ykd_tensor *dw = &ykd_kd_param_at(kd, 2 * (size_t)l)->grad;
    const ykd_tensor *db = &ykd_kd_param_at(kd, 2 * (size_t)l + 1)->grad;
    size_t nw = ykd_tensor_numel(dw), nb = ykd_tensor_numel(db);
    double *got_w = download_d(t, dw), *got_b = download_d(t, db);
    double *got = malloc((nw + nb) * sizeof *got), *want = malloc((nw + nb) * sizeof *want);
    if (got_w && got_b && got && want) {
        memcpy(got, got_w, nw * sizeof *got), memcpy(got + nw, got_b, nb * sizeof *got);
        memcpy(want, e->dw[l], nw * sizeof *want), memcpy(want + nw, e->db[l], nb * sizeof *want);
        ykd_test_expect_close(t, got, want, nw + nb, 1e-9, "adapter weight and bias gradients");
    }
    free(got_w), free(got_b), free(got), free(want);
}

static void check_against(ykd_test *t, const fixture *f, const ykd_kd *kd,
                          const ykd_kd_values *v, const expected *e)
{
    for (int k = 0; k < YKD_KD_LOSS_COUNT; k++)
        CHECKF(t, fabs(v->loss[k] - e->loss[k]) <= 1e-4 * fabs(e->loss[k]) && e->loss[k] > 0,
               "%s: %.9g, reference %.9g", ykd_kd_loss_name((ykd_kd_loss_kind)k), v->loss[k],
               e->loss[k]);
    const ykd_model_grad *grads;
    size_t count;
    ykd_kd_grads(kd, &grads, &count);
    CHECKF(t, count == 2 * LEVELS, "%zu gradients", count);
    for (int l = 0; l < LEVELS; l++) {
        char name[16], what[64];
        snprintf(name, sizeof name, "head%d", 3 + l);
        const ykd_model_grad *g = find_grad(grads, count, name);
        CHECKF(t, g && g->grad == &f->head_grad[l], "%s is not the base gradient", name);
        snprintf(what, sizeof what, "%s: detection + logit KD + LD", name);
        if (g)
            ykd_test_expect_tensor(t, g->grad, e->head[l], 1e-10, what);
        snprintf(name, sizeof name, "p%d", 3 + l);
        g = find_grad(grads, count, name);
        snprintf(what, sizeof what, "%s: CWD + PKD + imitation through the adapter", name);
        if (CHECKF(t, g != NULL, "no gradient for %s", name))
            ykd_test_expect_tensor(t, g->grad, e->neck[l], 1e-9, what);
        check_adapter_grads(t, kd, l, e);
    }
}

/* The fixture (n student, s teacher) and a context of every loss (full_config), seed 3. */
static bool full_setup(ykd_test *t, fixture *f, ykd_kd_config *c, ykd_kd **kd)
{
    ykd_error err;
    *kd = NULL;
    return fixture_init(t, f, "n", "s", NC) &&
           CHECK_OK(t, ykd_kd_config_parse(full_config, strlen(full_config), "kd.json", c, &err),
                    err) &&
           CHECK_OK(t, ykd_kd_create(c, f->student, f->shapes, f->shape_count, 3, kd, &err), err);
}

static void test_compute_against_reference(ykd_test *t)
{
    fixture f;
    ykd_kd *kd = NULL;
    ykd_kd_config c;
    ykd_error err;
    expected e;
    memset(&e, 0, sizeof e);
    if (!full_setup(t, &f, &c, &kd)) {
        ykd_kd_free(kd);
        fixture_free(&f);
        return;
    }
    double factor = ykd_kd_schedule_factor(&c, 3.0, 10), w[YKD_KD_LOSS_COUNT];
    for (int k = 0; k < YKD_KD_LOSS_COUNT; k++)
        w[k] = c.loss[k].weight * factor;
    ykd_kd_batch batch = batch_of(&f, 3.0, 10, true);
    ykd_kd_values v;
    if (expect_all(t, &f, kd, &c, w, &e) &&
        CHECK_OK(t, ykd_kd_compute(kd, &batch, &v, &err), err)) {
        check_against(t, &f, kd, &v, &e);
        double total = 0.0;
        for (int k = 0; k < YKD_KD_LOSS_COUNT; k++) {
            CHECKF(t, fabs(v.weight[k] - w[k]) < 1e-6, "weight %d: %g, expected %g", k,
                   v.weight[k], w[k]);
            total += v.weight[k] * v.loss[k];
        }
        CHECK(t, fabs(v.total - total) < 1e-12 * total && v.positives > 4 && v.score_sum > 0);
        /* the list is what the model's backward takes */
        const ykd_model_grad *grads;
        size_t count;
        ykd_kd_grads(kd, &grads, &count);
        CHECK_OK(t, ykd_model_backward(f.student, grads, count, NULL, &err), err);
    }
    expected_free(&e);
    ykd_kd_free(kd);
    fixture_free(&f);
}

/* Adapter gradients add up over computes until zeroed; without base gradients the context's
 * own head tensors are handed out (the class part alone when only logit KD runs). */
static void test_accumulation_and_own_grads(ykd_test *t)
{
    fixture f;
    ykd_kd *kd = NULL, *logit = NULL;
    ykd_kd_config c, only_logit;
    ykd_error err;
    const char *json = "{\"losses\": {\"logit\": {\"weight\": 2}}}";
    ykd_kd_values v;
    if (full_setup(t, &f, &c, &kd) &&
        CHECK_OK(t, ykd_kd_config_parse(json, strlen(json), "kd.json", &only_logit, &err), err) &&
        CHECK_OK(t, ykd_kd_create(&only_logit, f.student, f.shapes, f.shape_count, 3, &logit,
                                  &err),
                 err)) {
        ykd_kd_batch batch = batch_of(&f, 0.0, 1, false);
        const ykd_tensor *dw = &ykd_kd_param_at(kd, 0)->grad;
        double *once = NULL;
        if (CHECK_OK(t, ykd_kd_compute(kd, &batch, &v, &err), err))
            once = download_d(t, dw);
        if (once && CHECK_OK(t, ykd_kd_compute(kd, &batch, &v, &err), err)) {
            for (size_t i = 0; i < ykd_tensor_numel(dw); i++)
                once[i] *= 2.0;
            ykd_test_expect_tensor(t, dw, once, 1e-12, "two computes add their gradients");
        }
        const ykd_model_grad *grads;
        size_t count;
        ykd_kd_grads(kd, &grads, &count);
        CHECK(t, count == 2 * LEVELS && find_grad(grads, count, "head4") &&
                     find_grad(grads, count, "p5"));
        CHECK(t, find_grad(grads, count, "head4")->grad->c == 64 + NC);
        if (CHECK_OK(t, ykd_kd_zero_grad(kd, &err), err))
            for (size_t i = 0; i < ykd_tensor_numel(dw); i++)
                once[i] = 0.0;
        float *zeroed = ykd_test_download(t, dw);
        CHECK(t, zeroed && zeroed[0] == 0.0f && zeroed[ykd_tensor_numel(dw) - 1] == 0.0f);
        free(zeroed);
        free(once);
        if (CHECK_OK(t, ykd_kd_compute(logit, &batch, &v, &err), err)) {
            ykd_kd_grads(logit, &grads, &count);
            CHECK(t, count == LEVELS && strcmp(grads[0].name, "cls3") == 0 &&
                         grads[0].grad->c == NC);
            CHECK(t, v.loss[YKD_KD_LOGIT] > 0 && v.loss[YKD_KD_LD] == 0 &&
                         v.weight[YKD_KD_LD] == 0);
            CHECK_OK(t, ykd_model_backward(f.student, grads, count, NULL, &err), err);
        }
    }
    ykd_kd_free(kd), ykd_kd_free(logit);
    fixture_free(&f);
}

/* ---- data parallelism ---------------------------------------------------------------------- */

/* Two ranks holding the same images: the counts the feature losses need come out doubled. */
static ykd_status twice_over(void *user, double *values, size_t count, ykd_error *err)
{
    (void)err;
    *(int *)user += 1;
    for (size_t i = 0; i < count; i++)
        values[i] *= 2.0;
    return YKD_OK;
}

/* One feature loss with ranks (2 of them with the same images, the trainer's seed_scale 1.5 and
 * value_share 0.4) against the same context alone: its normaliser covers both ranks' images,
 * so the loss is this rank's half of the global one, given over the share (x 0.5 / 0.4); the
 * adapters' gradients are this rank's half of one process's with the doubled batch times the 2
 * ranks that average them (x 2, either normaliser), the student's the same over the trainer's
 * seed_scale (x 2 / 1.5). */
static void check_ranks(ykd_test *t, fixture *f, const char *json)
{
    ykd_kd_config c;
    ykd_kd *alone = NULL, *ranked = NULL;
    ykd_error err;
    int sums = 0;
    ykd_loss_ranks ranks = {2, 1.5, 0.4, twice_over, &sums};
    ykd_kd_values va, vb;
    ykd_kd_batch a = batch_of(f, 0.0, 1, false), b = a;
    b.ranks = &ranks;
    double *adapter = NULL, *student = NULL;
    const ykd_model_grad *grads;
    size_t count;
    if (CHECK_OK(t, ykd_kd_config_parse(json, strlen(json), "kd.json", &c, &err), err) &&
        CHECK_OK(t, ykd_kd_create(&c, f->student, f->shapes, f->shape_count, 3, &alone, &err),
                 err) &&
        CHECK_OK(t, ykd_kd_create(&c, f->student, f->shapes, f->shape_count, 3, &ranked, &err),
                 err) &&
        CHECK(t, ykd_kd_param_count(alone) > 0) &&
        CHECK_OK(t, ykd_kd_compute(alone, &a, &va, &err), err)) {
        adapter = download_d(t, &ykd_kd_param_at(alone, 0)->grad);
        ykd_kd_grads(alone, &grads, &count);
        student = count > 0 ? download_d(t, grads[0].grad) : NULL;
    }
    if (adapter && student && CHECK_OK(t, ykd_kd_compute(ranked, &b, &vb, &err), err)) {
        CHECKF(t, sums == 1, "%s: the counts were added over the ranks %d times", json, sums);
        int k = c.loss[YKD_KD_CWD].enabled ? YKD_KD_CWD : YKD_KD_IMITATION;
        CHECKF(t, fabs(vb.loss[k] - va.loss[k] * 0.5 / 0.4) <= 1e-9 * va.loss[k],
               "%s: the loss with ranks %.9g, alone %.9g", json, vb.loss[k], va.loss[k]);
        const ykd_tensor *dw = &ykd_kd_param_at(ranked, 0)->grad;
        for (size_t i = 0; i < ykd_tensor_numel(dw); i++)
            adapter[i] *= 2.0;
        ykd_test_expect_tensor(t, dw, adapter, 1e-10, "the adapter's gradient over two ranks");
        ykd_kd_grads(ranked, &grads, &count);
        for (size_t i = 0; count > 0 && i < ykd_tensor_numel(grads[0].grad); i++)
            student[i] *= 2.0 / 1.5;
        if (CHECK(t, count > 0))
            ykd_test_expect_tensor(t, grads[0].grad, student, 1e-10,
                                   "the student's gradient over two ranks");
    }
    free(adapter);
    free(student);
    ykd_kd_free(alone);
    ykd_kd_free(ranked);
}

static void test_ranks(ykd_test *t)
{
    fixture f;
    if (fixture_init(t, &f, "n", "s", NC)) {
        check_ranks(t, &f, "{\"losses\": {\"cwd\": {\"weight\": 0.8}}}");
        check_ranks(t, &f, "{\"losses\": {\"imitation\": {\"weight\": 1.2, \"mask\": \"all\"}}}");
        check_ranks(t, &f,
                    "{\"losses\": {\"imitation\": {\"weight\": 1.2, \"mask\": \"assigned\"}}}");
    }
    fixture_free(&f);
}

/* ---- refusals ------------------------------------------------------------------------------ */

static void test_create_refusals(ykd_test *t)
{
    fixture f, other;
    ykd_kd *kd = NULL;
    ykd_kd_config c;
    ykd_error err;
    bool ok = fixture_init(t, &f, "n", "s", NC);
    /* a pair across strides: refused with both shapes, no resizing */
    const char *across = "{\"losses\": {\"cwd\": {}}, \"features\": [{\"student\": \"p3\", "
                         "\"teacher\": \"p4\"}]}";
    if (ok && CHECK_OK(t, ykd_kd_config_parse(across, strlen(across), "kd.json", &c, &err), err)) {
        CHECK_STATUS(t, ykd_kd_create(&c, f.student, f.shapes, f.shape_count, 1, &kd, &err),
                     YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message,
                       "kd: $.features[0]: student p3 is [N, 64, H/8, W/8] but teacher p4 is "
                       "[N, 256, H/16, W/16]");
    }
    const char *p6 = "{\"losses\": {\"pkd\": {}}, \"features\": [{\"student\": \"p6\", "
                     "\"teacher\": \"p3\"}]}";
    if (ok && CHECK_OK(t, ykd_kd_config_parse(p6, strlen(p6), "kd.json", &c, &err), err)) {
        CHECK_STATUS(t, ykd_kd_create(&c, f.student, f.shapes, f.shape_count, 1, &kd, &err),
                     YKD_ERR_NOT_FOUND, err);
        CHECK_CONTAINS(t, err.message, "kd: $.features[0].student: the model has no tensor named "
                                       "'p6'");
    }
    /* the teacher lacks a tensor a loss needs */
    const char *ld = "{\"losses\": {\"ld\": {}}}";
    if (ok && CHECK_OK(t, ykd_kd_config_parse(ld, strlen(ld), "kd.json", &c, &err), err)) {
        CHECK_STATUS(t, ykd_kd_create(&c, f.student, f.shapes, 4, 1, &kd, &err),
                     YKD_ERR_NOT_FOUND, err);
        CHECK_CONTAINS(t, err.message, "kd: $.losses.ld: the teacher has no tensor 'box4'");
    }
    fixture_free(&f);
    /* a teacher of other classes cannot teach the class logits */
    const char *logit = "{\"losses\": {\"logit\": {}}}";
    if (fixture_init(t, &other, "n", "n", 5) &&
        CHECK_OK(t, ykd_kd_config_parse(logit, strlen(logit), "kd.json", &c, &err), err)) {
        CHECK_STATUS(t,
                     ykd_kd_create(&c, other.student, other.shapes, other.shape_count, 1, &kd,
                                   &err),
                     YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "kd: $.losses.logit: the teacher's cls3 has 5 channels at "
                                       "stride 8, the student's 3 at stride 8 (teacher and "
                                       "student must share classes)");
    }
    CHECK(t, kd == NULL);
    ykd_kd_free(kd);
    fixture_free(&other);
}

/* Checks that the base gradients still hold before (nothing written by a refused compute). */
static void expect_unchanged(ykd_test *t, const fixture *f, double *const *before)
{
    for (int l = 0; l < LEVELS; l++)
        if (before[l])
            ykd_test_expect_tensor(t, &f->head_grad[l], before[l], 0.0, "a refused compute's base");
}

static void test_compute_refusals(ykd_test *t)
{
    fixture f;
    ykd_kd *kd = NULL;
    ykd_kd_config c;
    ykd_error err;
    ykd_kd_values v;
    double *before[LEVELS] = {NULL};
    ykd_tensor wrong = {0}, far = {0};
    ykd_device *second = NULL;
    if (!full_setup(t, &f, &c, &kd))
        goto done;
    for (int l = 0; l < LEVELS; l++)
        before[l] = download_d(t, &f.head_grad[l]);
    ykd_kd_batch batch = batch_of(&f, 0.0, 1, true);
    /* a teacher tensor missing */
    batch.teacher_count = 5;
    CHECK_STATUS(t, ykd_kd_compute(kd, &batch, &v, &err), YKD_ERR_NOT_FOUND, err);
    CHECK_CONTAINS(t, err.message, "kd: the batch has no teacher tensor");
    batch.teacher_count = f.shape_count;
    /* a teacher tensor of another shape: both shapes named */
    const ykd_tensor *p4 = f.teacher_tensors[4].tensor;
    if (CHECK(t, strcmp(f.shapes[4].name, "p4") == 0) &&
        CHECK_OK(t, ykd_tensor_alloc(t->device, BATCH, 256, 2, 2, &wrong, &err), err)) {
        f.teacher_tensors[4].tensor = &wrong;
        CHECK_STATUS(t, ykd_kd_compute(kd, &batch, &v, &err), YKD_ERR_SHAPE, err);
        CHECK_CONTAINS(t, err.message, "kd: teacher tensor 'p4' is [2, 256, 2, 2] but the "
                                       "student's p4 is [2, 128, 4, 4] (expected [2, 256, 4, 4])");
    }
    /* on another device (another context) */
    second = ykd_test_reopen(t, NULL);
    if (second && CHECK_OK(t, ykd_tensor_alloc(second, BATCH, 256, 4, 4, &far, &err), err)) {
        f.teacher_tensors[4].tensor = &far;
        CHECK_STATUS(t, ykd_kd_compute(kd, &batch, &v, &err), YKD_ERR_INVALID_ARGUMENT, err);
        CHECK_CONTAINS(t, err.message, "kd: teacher tensor 'p4' is on device");
        CHECK_CONTAINS(t, err.message, "copy it to the student's first");
    }
    f.teacher_tensors[4].tensor = p4;
    /* no assignment for losses that need one */
    batch.assignment = NULL;
    CHECK_STATUS(t, ykd_kd_compute(kd, &batch, &v, &err), YKD_ERR_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(t, err.message, "need the student's assignment");
    expect_unchanged(t, &f, before);
done:
    for (int l = 0; l < LEVELS; l++)
        free(before[l]);
    ykd_tensor_free(&wrong);
    ykd_tensor_free(&far);
    ykd_device_close(second);
    ykd_kd_free(kd);
    fixture_free(&f);
}

/* yolokd bench kd runs a tiny case and prints a row per loss; bad options are usage errors. */
static void test_bench_command(ykd_test *t)
{
    run_result r = run_cli("bench", "kd", "--imgsz", "64", "--batch", "2", "--nc", "3",
                           "--runs", "1", NULL);
    CHECKF(t, r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_CONTAINS(t, r.out, "student n, teacher s, 3 classes, 64 x 64, batch 2");
    CHECK_CONTAINS(t, r.out, "\ncwd ");
    CHECK_CONTAINS(t, r.out, "kd_cwd");
    CHECK_CONTAINS(t, r.out, "\nall five ");
    free_result(&r);
    r = run_cli("bench", "kd", "--teacher", "q", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "--teacher takes a scale: n, s, m, l or x");
    free_result(&r);
    r = run_cli("bench", "kd", "--imgsz", "100", NULL);
    CHECK(t, r.code == 2);
    CHECK_CONTAINS(t, r.err, "--imgsz must be a multiple of 32");
    free_result(&r);
}

static const ykd_test_case cases[] = {
    {"kd config: defaults, a missing file", test_config_defaults, YKD_TEST_HOST},
    {"kd config: every field, the cosine schedule", test_config_parse, YKD_TEST_HOST},
    {"kd config: faults refused with their JSON path", test_config_faults, YKD_TEST_HOST},
    {"kd context: adapters named, shaped, drawn from the seed", test_adapters,
     YKD_TEST_EACH_DEVICE},
    {"kd context: equal channels need no adapter", test_no_adapter, YKD_TEST_EACH_DEVICE},
    {"kd context: one compute of five losses against the references",
     test_compute_against_reference, YKD_TEST_EACH_DEVICE},
    {"kd context: adapter gradients accumulate; own gradients when no base",
     test_accumulation_and_own_grads, YKD_TEST_EACH_DEVICE},
    {"kd context: feature losses over data-parallel ranks", test_ranks, YKD_TEST_EACH_DEVICE},
    {"kd context: bad pairs, missing tensors and other classes refused", test_create_refusals,
     YKD_TEST_EACH_DEVICE},
    {"kd context: a bad batch is refused with nothing written", test_compute_refusals,
     YKD_TEST_EACH_DEVICE},
    {"bench kd: a tiny run", test_bench_command, YKD_TEST_HOST},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
