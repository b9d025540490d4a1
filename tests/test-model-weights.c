/* Weights files: safetensors crafted byte by byte here (tensors out of order, F16 and BF16
 * data, a header of our own making) read and widened exactly; every corruption refused with
 * the file and tensor named; a model saved and reloaded bit for bit; an Ultralytics-style
 * state_dict (no metadata, F16, num_batches_tracked) loaded as a model with no other step;
 * missing, extra, misshapen and mistyped tensors refused, the model left as it was. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/safetensors.h"
#include "yolokd/model.h"

/* Writes [8-byte length][header][data] as the format lays it out. */
static bool craft(ykd_test *t, const char *path, const char *header, const void *data,
                  size_t data_size)
{
    FILE *f = fopen(path, "wb");
    if (!CHECKF(t, f != NULL, "cannot create %s", path))
        return false;
    unsigned long long n = strlen(header);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    bool ok = fwrite(len, 1, 8, f) == 8 && fwrite(header, 1, n, f) == n &&
              (data_size == 0 || fwrite(data, 1, data_size, f) == data_size);
    return CHECK(t, fclose(f) == 0 && ok);
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

/* Listed c, w, b; laid out b, c, w. F16 covers a subnormal, the largest finite value and -0. */
static void test_foreign_file(ykd_test *t)
{
    char dir[512], path[600];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    snprintf(path, sizeof path, "%s/foreign.safetensors", dir);
    static const unsigned halves[6] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000};
    static const float half_values[6] = {1.0f, -2.0f, 0.5f, 65504.0f, 5.9604644775390625e-8f,
                                         -0.0f};
    unsigned char data[4 + 4 + 12];
    put16(data, 0x3F80); /* b: BF16 1.0, -3.5 */
    put16(data + 2, 0xC060);
    float c = 0.1f;
    memcpy(data + 4, &c, 4);
    for (int i = 0; i < 6; i++)
        put16(data + 8 + 2 * i, halves[i]);
    const char *header =
        "{\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
        "\"__metadata__\":{\"format\":\"pt\"},"
        "\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[8,20]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}   ";
    ykd_safetensors st;
    ykd_error err;
    if (craft(t, path, header, data, sizeof data) &&
        CHECK_OK(t, ykd_st_open(path, &st, &err), err)) {
        CHECK(t, st.count == 3 && strcmp(ykd_st_metadata(&st, "format"), "pt") == 0);
        const ykd_st_tensor *w = ykd_st_find(&st, "w"), *b = ykd_st_find(&st, "b");
        const ykd_st_tensor *cc = ykd_st_find(&st, "c");
        float out[6];
        if (CHECK(t, w && b && cc && w->ndim == 2 && w->shape[1] == 3) &&
            CHECK_OK(t, ykd_st_read_f32(&st, w, out, &err), err))
            for (int i = 0; i < 6; i++)
                CHECKF(t, memcmp(&out[i], &half_values[i], 4) == 0, "F16 %04x read as %g",
                       halves[i], out[i]);
        if (b && CHECK_OK(t, ykd_st_read_f32(&st, b, out, &err), err))
            CHECK(t, out[0] == 1.0f && out[1] == -3.5f);
        if (cc && CHECK_OK(t, ykd_st_read_f32(&st, cc, out, &err), err))
            CHECK(t, out[0] == 0.1f);
        ykd_st_close(&st);
    }
    ykd_test_rmtree(dir);
}

typedef struct corruption {
    const char *header; /* NULL: the raw bytes "abc" */
    size_t data_size;
    const char *message;
} corruption;

static const corruption corruptions[] = {
    {NULL, 0, "truncated: 3 bytes, less than the 8-byte header length"},
    {"[1, 2]", 0, "not a safetensors file"},
    {"{\"a\": ", 0, "the header is not a JSON object"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
     "tensor a: data_offsets [0, 8] hold 8 bytes, but a F32 tensor of 3 elements takes 12"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
     "tensor a: data_offsets [0, 16] run past the end of the data (8 bytes)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "tensor b (bytes 4 to 12) overlaps tensor a"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
     20, "tensor b starts at byte 12, leaving a gap after a"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12,
     "4 bytes of data follow the last tensor (a)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, "tensor a is listed twice"},
    {"{\"a\":{\"dtype\":\"F13\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "tensor a: missing or unknown dtype F13"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
     "tensor a: shape[0] is not a size"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"x\"}}", 4,
     "tensor a: data_offsets is not [begin, end]"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
     "tensor a: data_offsets [4, 0]"},
    {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ value \"k\" is not a string"},
};

static void test_corruptions(ykd_test *t)
{
    char dir[512], path[600];
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    unsigned char zeros[64] = {0};
    for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++) {
        const corruption *c = &corruptions[i];
        snprintf(path, sizeof path, "%s/bad%zu.safetensors", dir, i);
        if (c->header) {
            if (!craft(t, path, c->header, zeros, c->data_size))
                continue;
        } else {
            FILE *f = fopen(path, "wb");
            CHECK(t, f && fwrite("abc", 1, 3, f) == 3 && fclose(f) == 0);
        }
        ykd_safetensors st;
        ykd_error err;
        CHECK_STATUS(t, ykd_st_open(path, &st, &err), YKD_ERR_FORMAT, err);
        CHECK_CONTAINS(t, err.message, c->message);
        CHECK_CONTAINS(t, err.message, path);
    }
    /* a header length beyond the file */
    snprintf(path, sizeof path, "%s/long.safetensors", dir);
    FILE *f = fopen(path, "wb");
    unsigned char bytes[12] = {0xe8, 0x03, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    ykd_safetensors st;
    ykd_error err;
    if (CHECK(t, f && fwrite(bytes, 1, sizeof bytes, f) == sizeof bytes && fclose(f) == 0)) {
        CHECK_STATUS(t, ykd_st_open(path, &st, &err), YKD_ERR_FORMAT, err);
        CHECK_CONTAINS(t, err.message, "the header claims 1000 bytes but the file has 4");
    }
    CHECK_STATUS(t, ykd_st_open("/nonexistent.safetensors", &st, &err), YKD_ERR_NOT_FOUND, err);
    ykd_test_rmtree(dir);
}

static bool read_all(ykd_test *t, const char *path, unsigned char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!CHECKF(t, f != NULL, "cannot open %s", path))
        return false;
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(*size ? *size : 1);
    bool ok = fread(*data, 1, *size, f) == *size;
    fclose(f);
    return CHECK(t, ok);
}

static float *param_snapshot(ykd_test *t, const ykd_model *m, size_t *floats)
{
    ykd_error err;
    *floats = ykd_buffer_size(ykd_model_param_buffer(m)) / sizeof(float);
    float *host = malloc(*floats * sizeof *host);
    CHECK_OK(t, ykd_buffer_read(ykd_model_param_buffer(m), 0, host, *floats * sizeof *host, &err),
             err);
    return host;
}

/* Saved by yolokd, loaded into a model initialised differently: the same bits; saved again:
 * the same file. */
static void test_round_trip(ykd_test *t)
{
    char dir[512], first[600], second[600];
    ykd_model_desc *desc = NULL, *from_file = NULL;
    ykd_model *a = NULL, *b = NULL;
    ykd_error err;
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    snprintf(first, sizeof first, "%s/a.safetensors", dir);
    snprintf(second, sizeof second, "%s/b.safetensors", dir);
    const char *names[2] = {"cat", "dog"};
    if (CHECK_OK(t, ykd_model_desc_builtin("n", 2, &desc, &err), err) &&
        CHECK_OK(t, ykd_model_create(t->device, desc, 1, &a, &err), err) &&
        CHECK_OK(t, ykd_model_create(t->device, desc, 2, &b, &err), err) &&
        CHECK_OK(t, ykd_model_set_class_names(a, names, 2, &err), err) &&
        CHECK_OK(t, ykd_model_save(a, first, &err), err) &&
        CHECK_OK(t, ykd_model_load_weights(b, first, &err), err) &&
        CHECK_OK(t, ykd_model_save(b, second, &err), err)) {
        size_t n = 0;
        float *pa = param_snapshot(t, a, &n), *pb = param_snapshot(t, b, &n);
        CHECK(t, memcmp(pa, pb, n * sizeof *pa) == 0);
        unsigned char *fa = NULL, *fb = NULL;
        size_t sa = 0, sb = 0;
        if (read_all(t, first, &fa, &sa) && read_all(t, second, &fb, &sb))
            CHECK(t, sa == sb && memcmp(fa, fb, sa) == 0);
        /* the data starts 8-byte aligned, as the Python writer aligns it */
        uint64_t header = 0;
        for (int i = 7; fa && i >= 0; i--)
            header = header << 8 | fa[i];
        CHECK(t, header % 8 == 0);
        CHECK(t, strcmp(ykd_model_class_name(b, 1), "dog") == 0);
        if (CHECK_OK(t, ykd_model_desc_load(first, NULL, &from_file, &err), err))
            CHECK(t, strcmp(ykd_model_desc_name(from_file), "yolov8n") == 0 &&
                         ykd_model_desc_classes(from_file) == 2);
        free(pa);
        free(pb);
        free(fa);
        free(fb);
    }
    ykd_model_free(a);
    ykd_model_free(b);
    ykd_model_desc_free(desc);
    ykd_model_desc_free(from_file);
    ykd_test_rmtree(dir);
}

/* An F16 value from 16 random bits: a normal number of moderate size. */
static unsigned random_half(ykd_test_rng *rng, float *value)
{
    uint64_t r = ykd_test_rng_next(rng);
    unsigned sign = (unsigned)(r & 1), exponent = 10 + (unsigned)((r >> 1) % 8);
    unsigned mantissa = (unsigned)((r >> 8) & 0x3ff);
    *value = (sign ? -1.0f : 1.0f) * ldexpf((float)(1024 + mantissa), (int)exponent - 25);
    return sign << 15 | exponent << 10 | mantissa;
}

/* What the safetensors Python package writes for an Ultralytics state_dict in half precision,
 * made here without it: no metadata, tensors listed in reverse, data in another order,
 * num_batches_tracked as int64 scalars. */
static bool craft_state_dict(ykd_test *t, const ykd_model *shape_of, const char *path,
                             float **expected)
{
    size_t count = ykd_model_param_count(shape_of), floats = 0;
    float *want = param_snapshot(t, shape_of, &floats);
    size_t header_size = 128 * (count * 2 + 1), used = 0, data_size = 0;
    char *header = malloc(header_size);
    size_t *begin = calloc(count * 2, sizeof *begin), *bytes = calloc(count * 2, sizeof *bytes);
    ykd_test_rng rng;
    ykd_test_rng_seed(&rng, 42);
    /* data order: odd-indexed tensors first, then even ones */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = (size_t)(1 - pass); i < count; i += 2) {
            const ykd_model_param *p = ykd_model_param_at(shape_of, i);
            bytes[i] = ykd_tensor_numel(&p->value) * 2;
            begin[i] = data_size;
            data_size += bytes[i];
            if (p->kind == YKD_PARAM_BN_VAR) {
                begin[count + i] = data_size;
                data_size += 8;
            }
        }
    unsigned char *data = malloc(data_size);
    used += (size_t)snprintf(header, header_size, "{");
    for (size_t k = count; k-- > 0;) {
        const ykd_model_param *p = ykd_model_param_at(shape_of, k);
        for (size_t j = 0; j < ykd_tensor_numel(&p->value); j++)
            put16(data + begin[k] + 2 * j, random_half(&rng, &want[p->value.offset + j]));
        used += (size_t)snprintf(header + used, header_size - used,
                                 "%s\"%s\":{\"dtype\":\"F16\",\"shape\":[", used > 1 ? "," : "",
                                 p->name);
        for (int d = 0; d < p->ndim; d++)
            used += (size_t)snprintf(header + used, header_size - used, "%s%d", d ? "," : "",
                                     p->shape[d]);
        used += (size_t)snprintf(header + used, header_size - used,
                                 "],\"data_offsets\":[%zu,%zu]}", begin[k], begin[k] + bytes[k]);
        if (p->kind != YKD_PARAM_BN_VAR)
            continue;
        size_t at = begin[count + k], len = strlen(p->name) - strlen("running_var");
        memset(data + at, 0, 8);
        data[at] = 7;
        used += (size_t)snprintf(header + used, header_size - used,
                                 ",\"%.*snum_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],"
                                 "\"data_offsets\":[%zu,%zu]}",
                                 (int)len, p->name, at, at + 8);
    }
    snprintf(header + used, header_size - used, "}");
    bool ok = craft(t, path, header, data, data_size);
    free(header);
    free(data);
    free(begin);
    free(bytes);
    *expected = want;
    return ok;
}

/* A crafted state_dict of built-in `builtin` with nc classes loads as the model `name`. */
static void check_state_dict(ykd_test *t, const char *builtin, int nc, const char *name)
{
    char dir[512], path[600];
    ykd_model_desc *desc = NULL;
    ykd_model *shape_of = NULL, *loaded = NULL;
    ykd_error err;
    float *want = NULL;
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    snprintf(path, sizeof path, "%s/%s-ultralytics.safetensors", dir, name);
    if (CHECK_OK(t, ykd_model_desc_builtin(builtin, nc, &desc, &err), err) &&
        CHECK_OK(t, ykd_model_create(t->device, desc, 3, &shape_of, &err), err) &&
        craft_state_dict(t, shape_of, path, &want) &&
        CHECK_OK(t, ykd_model_load(t->device, path, &loaded, &err), err)) {
        const ykd_model_desc *d = ykd_model_get_desc(loaded);
        CHECKF(t, strcmp(ykd_model_desc_name(d), name) == 0 && ykd_model_classes(loaded) == nc,
               "%s loaded as %s with %d classes", name, ykd_model_desc_name(d),
               ykd_model_classes(loaded));
        CHECK(t, ykd_model_batches_tracked(loaded) == 7);
        CHECK(t, ykd_model_class_name(loaded, 0) == NULL);
        size_t n = 0;
        float *got = param_snapshot(t, loaded, &n);
        CHECK(t, memcmp(got, want, n * sizeof *got) == 0);
        free(got);
    }
    free(want);
    ykd_model_free(loaded);
    ykd_model_free(shape_of);
    ykd_model_desc_free(desc);
    ykd_test_rmtree(dir);
}

static void test_ultralytics_state_dict(ykd_test *t)
{
    check_state_dict(t, "n", 2, "yolov8n");
    check_state_dict(t, "yolo11n", 2, "yolo11n");
    check_state_dict(t, "yolo11m", 5, "yolo11m");
}

/* Files from the library's writer with one thing wrong; loading leaves the model unchanged. */
static void test_model_mismatches(ykd_test *t)
{
    char dir[512], path[600];
    ykd_model_desc *desc = NULL;
    ykd_model *m = NULL, *none = NULL;
    ykd_error err;
    if (!ykd_test_mkdtemp(t, dir, sizeof dir))
        return;
    if (!CHECK_OK(t, ykd_model_desc_builtin("n", 2, &desc, &err), err) ||
        !CHECK_OK(t, ykd_model_create(t->device, desc, 4, &m, &err), err)) {
        ykd_model_desc_free(desc);
        ykd_test_rmtree(dir);
        return;
    }
    size_t floats = 0, count = ykd_model_param_count(m);
    float *before = param_snapshot(t, m, &floats);
    ykd_st_entry *entries = calloc(count + 1, sizeof *entries);
    static const char *const expected[] = {
        "tensor model.22.cv3.1.2.bias is missing (model yolov8n)",
        "tensor model.23.extra is not part of model yolov8n",
        "tensor model.0.conv.weight has shape [16, 3, 3, 1]; model yolov8n needs [16, 3, 3, 3]",
        "tensor model.0.bn.bias has dtype I64; F32, F16 or BF16 was expected",
        "no model description in __metadata__ (\"yolokd.model\"), and the tensors match no "
        "built-in YOLOv8 or YOLO11 scale with 2 classes (closest: tensor model.0.conv.weight has "
        "shape [16, 3, 3, 1] in the file but [16, 3, 3, 3] in yolov8n)"};
    int64_t big[64] = {0};
    for (int c = 0; c < 5; c++) {
        int used = 0;
        for (size_t i = 0; i < count; i++) {
            const ykd_model_param *p = ykd_model_param_at(m, i);
            if (c == 0 && strcmp(p->name, "model.22.cv3.1.2.bias") == 0)
                continue;
            ykd_st_entry *e = &entries[used++];
            *e = (ykd_st_entry){p->name, YKD_ST_F32, p->ndim, {0}, before + p->value.offset};
            for (int d = 0; d < p->ndim; d++)
                e->shape[d] = p->shape[d];
            if ((c == 2 || c == 4) && strcmp(p->name, "model.0.conv.weight") == 0)
                e->shape[3] = 1;
            if (c == 3 && strcmp(p->name, "model.0.bn.bias") == 0)
                e->dtype = YKD_ST_I64, e->data = big;
        }
        if (c == 1)
            entries[used++] = (ykd_st_entry){"model.23.extra", YKD_ST_F32, 1, {2}, before};
        snprintf(path, sizeof path, "%s/bad%d.safetensors", dir, c);
        const char *key[] = {"yolokd.model"}, *value[] = {ykd_model_desc_json(desc)};
        if (!CHECK_OK(t, ykd_st_write(path, entries, used, key, value, c == 4 ? 0 : 1, &err),
                      err))
            continue;
        ykd_status st = c == 4 ? ykd_model_load(t->device, path, &none, &err)
                               : ykd_model_load_weights(m, path, &err);
        CHECKF(t, st != YKD_OK && none == NULL, "case %d loaded", c);
        CHECK_CONTAINS(t, err.message, expected[c]);
        CHECK_CONTAINS(t, err.message, path);
    }
    float *after = param_snapshot(t, m, &floats);
    CHECK(t, memcmp(before, after, floats * sizeof *after) == 0);
    free(before);
    free(after);
    free(entries);
    ykd_model_free(m);
    ykd_model_desc_free(desc);
    ykd_test_rmtree(dir);
}

static const ykd_test_case cases[] = {
    {"safetensors: a foreign file, out of order, F16 and BF16", test_foreign_file,
     YKD_TEST_HOST},
    {"safetensors: every corruption refused, tensor named", test_corruptions, YKD_TEST_HOST},
    {"weights: saved, reloaded and saved again bit for bit", test_round_trip,
     YKD_TEST_EACH_DEVICE},
    {"weights: an Ultralytics state_dict (F16, no metadata) loads as yolov8n, yolo11n, yolo11m",
     test_ultralytics_state_dict, YKD_TEST_EACH_DEVICE},
    {"weights: missing, extra, misshapen, mistyped tensors refused", test_model_mismatches,
     YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
