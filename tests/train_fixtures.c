/* Fixtures for the training tests (train_fixtures.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_state.h"
#include "core/sha256.h"
#include "train/checkpoint.h"
#include "train_fixtures.h"

const char tx_tiny_model_json[] =
    "{\"name\": \"tiny\", \"nc\": 2, \"width_multiple\": 0.0625, \"depth_multiple\": 0.33,\n"
    " \"backbone\": [[-1, 1, \"Conv\", [64, 3, 2]],\n"
    "              [-1, 1, \"Conv\", [128, 3, 2]],\n"
    "              [-1, 1, \"C2f\", [128, true]],\n"
    "              [-1, 1, \"Conv\", [256, 3, 2]],\n"
    "              [-1, 1, \"C2f\", [256, true]],\n"
    "              [-1, 1, \"Conv\", [512, 3, 2]],\n"
    "              [-1, 1, \"SPPF\", [512, 5]]],\n"
    " \"head\": [[-1, 1, \"nn.Upsample\", [null, 2, \"nearest\"]],\n"
    "          [[-1, 4], 1, \"Concat\", [1]],\n"
    "          [-1, 1, \"C2f\", [256]],\n"
    "          [[9, 6], 1, \"Detect\", [\"nc\"]]]}\n";

bool tx_world_make(ykd_test *t, tx_world *w)
{
    return tx_world_make_with(t, w, 4);
}

bool tx_world_make_with(ykd_test *t, tx_world *w, int val_images)
{
    if (!ykd_test_mkdtemp(t, w->dir, sizeof w->dir))
        return false;
    snprintf(w->model, sizeof w->model, "%s/tiny.json", w->dir);
    snprintf(w->data, sizeof w->data, "%s/data", w->dir);
    FILE *f = fopen(w->model, "w");
    bool ok = CHECK(t, f != NULL) && fputs(tx_tiny_model_json, f) >= 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    ykd_synth_options o;
    ykd_synth_options_default(&o);
    o.train_images = 8, o.val_images = val_images, o.image_size = 64, o.classes = 2, o.seed = 5;
    ykd_error err;
    return ok && CHECK_OK(t, ykd_synth_write(w->data, &o, &err), err);
}

void tx_world_free(tx_world *w)
{
    ykd_test_rmtree(w->dir);
}

void tx_options(const tx_world *w, const char *name, char *out, ykd_train_options *o)
{
    ykd_train_options_default(o);
    snprintf(out, 4096, "%s/%s", w->dir, name);
    o->model = w->model, o->data = w->data, o->out = out;
    o->epochs = 2, o->batch = 4, o->imgsz = 64, o->workers = 1, o->seed = 7;
    o->close_mosaic = 1, o->cache_mb = 16;
}

bool tx_fix_gemm(ykd_test *t, ykd_device *device)
{
    ykd_error err;
    return CHECK_OK(t, ykd_ops_set_gemm_policy(device, ykd_test_fixed_gemm(device), &err), err);
}

void tx_unfix_gemm(ykd_device *device)
{
    ykd_ops_set_gemm_policy(device, "auto", NULL);
}

bool tx_read_file(ykd_test *t, const char *path, unsigned char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!CHECKF(t, f != NULL, "cannot open %s", path))
        return false;
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(*size ? *size : 1);
    bool ok = *data && fread(*data, 1, *size, f) == *size;
    fclose(f);
    return CHECKF(t, ok, "cannot read %s", path);
}

bool tx_copy_file(ykd_test *t, const char *from, const char *to)
{
    unsigned char *bytes = NULL;
    size_t size = 0;
    FILE *f = NULL;
    bool ok = tx_read_file(t, from, &bytes, &size) && (f = fopen(to, "wb")) != NULL &&
              fwrite(bytes, 1, size, f) == size;
    if (f)
        ok = fclose(f) == 0 && ok;
    free(bytes);
    return CHECKF(t, ok, "cannot copy %s to %s", from, to);
}

bool tx_same_files(ykd_test *t, const char *a, const char *b)
{
    unsigned char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool same = tx_read_file(t, a, &x, &nx) && tx_read_file(t, b, &y, &ny) && nx == ny &&
                memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

double tx_state_progress(ykd_test *t, const char *run, const char *key)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/last.state.safetensors", run);
    ykd_state_file f;
    ykd_error err;
    if (!CHECK_OK(t, ykd_state_open(path, &f, &err), err))
        return NAN;
    cJSON *o = cJSON_Parse(ykd_state_meta(&f, "progress"));
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    double v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    cJSON_Delete(o);
    ykd_state_close(&f);
    return v;
}

bool tx_state_digest(ykd_test *t, const char *run, char *hex)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/last.state.safetensors", run);
    ykd_state_file f;
    ykd_error err;
    if (!CHECK_OK(t, ykd_state_open(path, &f, &err), err))
        return false;
    /* the tensor data alone: the file's own checksum covers the options and history too */
    ykd_sha256 h;
    ykd_sha256_init(&h);
    ykd_sha256_update(&h, f.st.file + f.st.data_start, f.st.size - f.st.data_start);
    uint8_t digest[YKD_SHA256_SIZE];
    ykd_sha256_final(&h, digest);
    ykd_sha256_hex(digest, hex);
    ykd_state_close(&f);
    return true;
}
