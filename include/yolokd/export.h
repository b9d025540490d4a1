/* Export of a model to ONNX, for the deployment tool-chains that start from it (ONNX Runtime,
 * TensorRT, OpenVINO, NCNN, converters to TFLite and CoreML).
 *
 * The graph is the model's inference graph, YOLOv8's or YOLO11's: BN folded into the
 * convolutions (the weights the model's own inference forward uses; grouped ones with Conv's
 * group attribute), SiLU as Sigmoid and Mul, max pools, nearest upsamples, channel slices and
 * concats, and YOLO11's attention as Reshape, Slice, Transpose, MatMul, Mul and Softmax. By default the head's decode is inside the graph so that the
 * one output "output0" has Ultralytics' export layout [N, 4 + nc, anchors]: per anchor (level
 * by level, row-major) the box as cx, cy, w, h in input pixels (the DFL softmax expectation of
 * each side, then dist2bbox), then the nc class probabilities (sigmoid). With raw set the
 * outputs are instead the per-level head tensors "head3", "head4", "head5" ([N, 64 + nc, H/s,
 * W/s]: 64 DFL logits, then nc class logits), as ykd_model_output names them.
 *
 * The input is "images" [N, ch, H, W], RGB in [0, 1] as yolokd's loader gives it (letterboxed
 * with grey 114/255). metadata_props carry what a runtime needs: "names" ({0: 'person', ...},
 * a Python dict literal as Ultralytics writes it), "stride" (the largest), "strides", "imgsz"
 * ([H, W]), "batch" (1 when dynamic), "dynamic" (True or False), "channels", "task"
 * ("detect"), "output" ("decoded" or "raw"), "model" (the description's name) and
 * "yolokd_version". */
#ifndef YOLOKD_EXPORT_H
#define YOLOKD_EXPORT_H

#include <stdbool.h>

#include "yolokd/model.h"
#include "yolokd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    YKD_ONNX_OPSET_MIN = 11,     /* Resize with its roi input, Slice with inputs */
    YKD_ONNX_OPSET_MAX = 17,     /* what the bundled onnx.proto (IR version 8) describes */
    YKD_ONNX_OPSET_DEFAULT = 17
};

typedef struct ykd_export_options {
    int height, width; /* the input size: multiples of the model's largest stride */
    int batch;         /* a fixed batch (>= 1), or 0 for a dynamic one ("batch") */
    int opset;         /* the default ONNX opset version (YKD_ONNX_OPSET_MIN..MAX) */
    bool raw;          /* the per-level head outputs instead of the decoded one */
} ykd_export_options;

/* 640 x 640, batch 1, YKD_ONNX_OPSET_DEFAULT, decoded. */
void ykd_export_options_default(ykd_export_options *options);

/* Writes model as ONNX to a temporary file renamed over path. The model's folded inference
 * weights are brought up to date (a device step) and read back. Bad options (a size that is
 * not a multiple of the stride, an opset out of range) are refused and nothing is written. */
ykd_status ykd_export_onnx(ykd_model *model, const ykd_export_options *options, const char *path,
                           ykd_error *err);

#ifdef __cplusplus
}
#endif

#endif
