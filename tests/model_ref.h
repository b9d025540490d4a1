/* A float64 reference of a YOLOv8 or YOLO11 model for the tests, built from the tests/ref/ op
 * references and written module by module from the published definitions (Conv, DWConv, C2f,
 * C3k2 with Bottleneck or C3k, C2PSA with PSABlock and Attention, SPPF, Upsample, Concat,
 * Detect with either class branch), reading the description's layers and looking parameters
 * up by their Ultralytics names. It shares no code with the library's graph, so it checks the
 * wiring (chunks, residuals, concat order, level order) as well as the arithmetic. */
#ifndef YKD_TEST_MODEL_REF_H
#define YKD_TEST_MODEL_REF_H

#include <stdbool.h>

#include "yolokd/model.h"

typedef struct mref_tensor {
    int n, c, h, w;
    double *d;
} mref_tensor;

typedef struct mref_outputs {
    int levels;
    mref_tensor neck[YKD_MODEL_MAX_LEVELS]; /* Detect's inputs */
    mref_tensor head[YKD_MODEL_MAX_LEVELS]; /* box logits then class logits */
} mref_outputs;

/* The forward pass of model's description with the parameters in params (float64, laid out as
 * the model's parameter buffer). training: BN with batch statistics; else running ones. */
void mref_forward(const ykd_model *model, const double *params, bool training,
                  const mref_tensor *images, mref_outputs *out);

void mref_outputs_free(mref_outputs *out);
void mref_tensor_free(mref_tensor *t);
size_t mref_numel(const mref_tensor *t);

#endif
