/* Writing the synthetic dataset: everything goes into a hidden temporary folder beside the
 * destination, which is renamed into place only when complete. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "data/dataset_folder.h"
#include "data/synth_internal.h"
#include "yolokd/data.h"

/* "class cx cy w h" lines. */
static char *label_text(const ykd_synth_object *objects, size_t count)
{
    char *text = malloc(count * 64 + 1);
    if (!text)
        return NULL;
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        const ykd_box *b = &objects[i].box;
        used += (size_t)snprintf(text + used, 64, "%d %.6f %.6f %.6f %.6f\n", b->cls, (double)b->cx,
                                 (double)b->cy, (double)b->w, (double)b->h);
    }
    return text;
}

static ykd_status write_sample(const char *tmp, const ykd_synth_options *o, int split, int index,
                               ykd_error *err)
{
    const char *name = split ? "val" : "train";
    ykd_image img;
    ykd_synth_object *objects = NULL;
    size_t count = 0;
    ykd_status st = ykd_synth_render(o, split, index, &img, &objects, &count, NULL, err);
    if (st != YKD_OK)
        return st;
    char path[YKD_DATASET_PATH_SIZE + 64];
    snprintf(path, sizeof path, "%s/images/%s/%06d.png", tmp, name, index);
    st = ykd_png_write(path, &img, err);
    char *text = st == YKD_OK ? label_text(objects, count) : NULL;
    if (st == YKD_OK && !text)
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "synth: out of host memory");
    snprintf(path, sizeof path, "%s/labels/%s/%06d.txt", tmp, name, index);
    if (st == YKD_OK)
        st = ykd_write_text(path, text, err);
    free(text);
    free(objects);
    ykd_image_free(&img);
    return st;
}

static ykd_status write_config(const char *tmp, const ykd_synth_options *o, ykd_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *names = cJSON_AddArrayToObject(root, "names");
    for (int c = 0; c < o->classes; c++)
        cJSON_AddItemToArray(names, cJSON_CreateString(ykd_synth_class_name(c)));
    cJSON_AddNumberToObject(root, "nc", o->classes);
    cJSON_AddStringToObject(root, "train", "images/train");
    cJSON_AddStringToObject(root, "val", "images/val");
    cJSON *made = cJSON_AddObjectToObject(root, "synth");
    cJSON_AddNumberToObject(made, "seed", (double)o->seed);
    cJSON_AddNumberToObject(made, "image_size", o->image_size);
    cJSON_AddNumberToObject(made, "train_images", o->train_images);
    cJSON_AddNumberToObject(made, "val_images", o->val_images);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "synth: out of host memory");
    char path[YKD_DATASET_PATH_SIZE + 64], *with_newline = malloc(strlen(text) + 2);
    ykd_status st = YKD_ERR_OUT_OF_MEMORY;
    if (with_newline) {
        snprintf(path, sizeof path, "%s/data.json", tmp);
        sprintf(with_newline, "%s\n", text);
        st = ykd_write_text(path, with_newline, err);
    } else {
        ykd_fail(err, st, "synth: out of host memory");
    }
    free(with_newline);
    cJSON_free(text);
    return st;
}

ykd_status ykd_synth_write(const char *out, const ykd_synth_options *o, ykd_error *err)
{
    ykd_status st = ykd_synth_check_options(o, true, err);
    char tmp[YKD_DATASET_PATH_SIZE];
    if (st == YKD_OK)
        st = ykd_dataset_folder_begin("synth", out, tmp, err);
    if (st != YKD_OK)
        return st;
    for (int i = 0; st == YKD_OK && i < o->train_images; i++)
        st = write_sample(tmp, o, 0, i, err);
    for (int i = 0; st == YKD_OK && i < o->val_images; i++)
        st = write_sample(tmp, o, 1, i, err);
    if (st == YKD_OK)
        st = write_config(tmp, o, err);
    return ykd_dataset_folder_end("synth", tmp, out, st, err);
}
