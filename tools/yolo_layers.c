/* YOLOv8's layer list from the published description (ultralytics/cfg/models/v8/yolov8.yaml):
 * channel widths scaled by the width multiple and capped, block repeats by the depth
 * multiple, C2f/SPPF/Detect expanded into their convolutions. */
#include <math.h>
#include <stdio.h>

#include "yolo_layers.h"

typedef struct scale_spec {
    char name;
    double depth, width;
    int max_channels;
} scale_spec;

static const scale_spec scales[] = {
    {'n', 0.33, 0.25, 1024}, {'s', 0.33, 0.50, 1024}, {'m', 0.67, 0.75, 768},
    {'l', 1.00, 1.00, 512},  {'x', 1.00, 1.25, 512},
};

typedef struct builder {
    yolo_layer *layers;
    size_t count, max;
    const scale_spec *scale;
} builder;

static int channels(const builder *b, int c)
{
    int capped = c < b->scale->max_channels ? c : b->scale->max_channels;
    return (int)ceil(capped * b->scale->width / 8.0) * 8;
}

static int repeats(const builder *b, int n)
{
    int r = (int)lround(n * b->scale->depth);
    return r < 1 ? 1 : r;
}

static void add(builder *b, yolo_layer_kind kind, const char *name, int cin, int cout, int k,
                int stride, int h, int w, int plain)
{
    if (b->count >= b->max)
        return;
    yolo_layer *l = &b->layers[b->count++];
    *l = (yolo_layer){kind, "", cin, cout, k, stride, h, w, plain};
    snprintf(l->name, sizeof l->name, "%s", name);
}

static int conv(builder *b, const char *name, int cin, int cout, int k, int stride, int *h,
                int *w)
{
    add(b, YOLO_CONV, name, cin, cout, k, stride, *h, *w, 0);
    *h = (*h + 2 * (k / 2) - k) / stride + 1;
    *w = (*w + 2 * (k / 2) - k) / stride + 1;
    return cout;
}

/* C2f: cv1 1x1 to 2c, n bottlenecks of two 3x3 convs on c, cv2 1x1 from (2 + n)c. */
static int c2f(builder *b, int index, int cin, int cout, int n, int h, int w)
{
    char name[48];
    int c = cout / 2;
    snprintf(name, sizeof name, "model.%d.cv1", index);
    conv(b, name, cin, 2 * c, 1, 1, &h, &w);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "model.%d.m.%d.cv1", index, i);
        conv(b, name, c, c, 3, 1, &h, &w);
        snprintf(name, sizeof name, "model.%d.m.%d.cv2", index, i);
        conv(b, name, c, c, 3, 1, &h, &w);
    }
    snprintf(name, sizeof name, "model.%d.cv2", index);
    add(b, YOLO_CONCAT, name, (2 + n) * c, (2 + n) * c, 0, 1, h, w, 0);
    return conv(b, name, (2 + n) * c, cout, 1, 1, &h, &w);
}

static int sppf(builder *b, int index, int cin, int cout, int h, int w)
{
    char name[48];
    int c = cin / 2;
    snprintf(name, sizeof name, "model.%d.cv1", index);
    conv(b, name, cin, c, 1, 1, &h, &w);
    snprintf(name, sizeof name, "model.%d.m", index);
    for (int i = 0; i < 3; i++)
        add(b, YOLO_MAXPOOL, name, c, c, 5, 1, h, w, 0);
    add(b, YOLO_CONCAT, name, 4 * c, 4 * c, 0, 1, h, w, 0);
    snprintf(name, sizeof name, "model.%d.cv2", index);
    return conv(b, name, 4 * c, cout, 1, 1, &h, &w);
}

/* Detect: per level two 3x3 convs and a plain 1x1 for boxes (4 * 16 DFL bins) and classes. */
static void detect(builder *b, int index, const int ch[3], const int size[3], int nc)
{
    int c2 = ch[0] / 4 > 64 ? ch[0] / 4 : 64;
    int c3 = ch[0] > (nc < 100 ? nc : 100) ? ch[0] : (nc < 100 ? nc : 100);
    char name[48];
    for (int level = 0; level < 3; level++) {
        int branch_c[2] = {c2, c3}, outputs[2] = {64, nc};
        const char *branch[2] = {"cv2", "cv3"};
        for (int br = 0; br < 2; br++) {
            int h = size[level], w = size[level];
            snprintf(name, sizeof name, "model.%d.%s.%d.0", index, branch[br], level);
            conv(b, name, ch[level], branch_c[br], 3, 1, &h, &w);
            snprintf(name, sizeof name, "model.%d.%s.%d.1", index, branch[br], level);
            conv(b, name, branch_c[br], branch_c[br], 3, 1, &h, &w);
            snprintf(name, sizeof name, "model.%d.%s.%d.2", index, branch[br], level);
            add(b, YOLO_CONV, name, branch_c[br], outputs[br], 1, 1, h, w, 1);
        }
    }
}

size_t yolo_layers(char scale, int imgsz, int nc, yolo_layer *layers, size_t max)
{
    builder b = {layers, 0, max, NULL};
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++)
        if (scales[i].name == scale)
            b.scale = &scales[i];
    if (!b.scale)
        return 0;
    int h = imgsz, w = imgsz;
    int c0 = conv(&b, "model.0", 3, channels(&b, 64), 3, 2, &h, &w);
    int c1 = conv(&b, "model.1", c0, channels(&b, 128), 3, 2, &h, &w);
    int c2 = c2f(&b, 2, c1, channels(&b, 128), repeats(&b, 3), h, w);
    int c3 = conv(&b, "model.3", c2, channels(&b, 256), 3, 2, &h, &w);
    int p3 = imgsz / 8;
    int c4 = c2f(&b, 4, c3, channels(&b, 256), repeats(&b, 6), h, w);
    int c5 = conv(&b, "model.5", c4, channels(&b, 512), 3, 2, &h, &w);
    int p4 = imgsz / 16;
    int c6 = c2f(&b, 6, c5, channels(&b, 512), repeats(&b, 6), h, w);
    int c7 = conv(&b, "model.7", c6, channels(&b, 1024), 3, 2, &h, &w);
    int p5 = imgsz / 32;
    int c8 = c2f(&b, 8, c7, channels(&b, 1024), repeats(&b, 3), h, w);
    int c9 = sppf(&b, 9, c8, channels(&b, 1024), p5, p5);
    add(&b, YOLO_UPSAMPLE, "model.10", c9, c9, 0, 1, p5, p5, 0);
    add(&b, YOLO_CONCAT, "model.11", c9 + c6, c9 + c6, 0, 1, p4, p4, 0);
    int c12 = c2f(&b, 12, c9 + c6, channels(&b, 512), repeats(&b, 3), p4, p4);
    add(&b, YOLO_UPSAMPLE, "model.13", c12, c12, 0, 1, p4, p4, 0);
    add(&b, YOLO_CONCAT, "model.14", c12 + c4, c12 + c4, 0, 1, p3, p3, 0);
    int c15 = c2f(&b, 15, c12 + c4, channels(&b, 256), repeats(&b, 3), p3, p3);
    h = w = p3;
    int c16 = conv(&b, "model.16", c15, channels(&b, 256), 3, 2, &h, &w);
    add(&b, YOLO_CONCAT, "model.17", c16 + c12, c16 + c12, 0, 1, p4, p4, 0);
    int c18 = c2f(&b, 18, c16 + c12, channels(&b, 512), repeats(&b, 3), p4, p4);
    h = w = p4;
    int c19 = conv(&b, "model.19", c18, channels(&b, 512), 3, 2, &h, &w);
    add(&b, YOLO_CONCAT, "model.20", c19 + c9, c19 + c9, 0, 1, p5, p5, 0);
    int c21 = c2f(&b, 21, c19 + c9, channels(&b, 1024), repeats(&b, 3), p5, p5);
    int ch[3] = {c15, c18, c21}, size[3] = {p3, p4, p5};
    detect(&b, 22, ch, size, nc);
    return b.count;
}
