/* Model weights in safetensors files: what the model layer's loaders share. */
#ifndef YKD_MODEL_WEIGHTS_H
#define YKD_MODEL_WEIGHTS_H

#include "yolokd/model.h"

/* The description a weights file carries in its __metadata__ ("yolokd.model"), else the
 * built-in YOLOv8 scale whose tensor names and shapes it matches (a state_dict exported from
 * Ultralytics). */
ykd_status ykd_weights_read_desc(const char *path, ykd_model_desc **desc, ykd_error *err);

#endif
