/* The layers of the published YOLOv8 detectors (n, s, m, l, x) as plain shapes, for the
 * benchmarks: every convolution with its input size, and the pooling, upsampling and concat
 * steps between them. */
#ifndef YKD_YOLO_LAYERS_H
#define YKD_YOLO_LAYERS_H

#include <stddef.h>

typedef enum yolo_layer_kind {
    YOLO_CONV,     /* conv (+ BN + SiLU unless plain): cin -> cout, k x k, stride */
    YOLO_MAXPOOL,  /* k 5, stride 1, padding 2 (SPPF) */
    YOLO_UPSAMPLE, /* nearest x2 */
    YOLO_CONCAT    /* cin channels in, at h x w */
} yolo_layer_kind;

typedef struct yolo_layer {
    yolo_layer_kind kind;
    char name[48]; /* the Ultralytics module path, e.g. "model.2.m.0.cv1" */
    int cin, cout, k, stride;
    int h, w;      /* input size */
    int plain;     /* a conv without BN and SiLU (the head's last 1x1 convs) */
} yolo_layer;

/* Fills up to max layers of YOLOv8<scale> ('n', 's', 'm', 'l', 'x') at imgsz with nc classes;
 * returns the count, or 0 for an unknown scale. */
size_t yolo_layers(char scale, int imgsz, int nc, yolo_layer *layers, size_t max);

#endif
