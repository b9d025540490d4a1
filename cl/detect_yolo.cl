/* Detection from a YOLO head's raw outputs: boxes in input pixels and class probabilities, read
 * back for thresholding and NMS on the host (src/train/eval_detect.c). Geometry per level is
 * an int4 (H, W, stride, first anchor), as in cl/loss_yolo.cl. Built after cl/shared.cl (the
 * DFL softmax, the sigmoid), as the loss is. */

/* boxes[n][anchor] = the box of each cell of a level, (x1, y1, x2, y2) in input pixels. */
__kernel void yolo_detect_boxes(__global const float *box, uint box_off, uint box_batch,
                                int4 geom, int anchors, __global float4 *boxes)
{
    int pos = get_global_id(0), n = get_global_id(1);
    uint hw = (uint)(geom.x * geom.y);
    if (pos >= (int)hw)
        return;
    __global const float *z = box + box_off + (size_t)n * box_batch + pos;
    float d[4], prob[DFL_BINS];
    float2 norm;
    for (int j = 0; j < 4; j++)
        d[j] = dfl_side(z + (size_t)j * DFL_BINS * hw, hw, prob, &norm);
    float ax = (float)(pos % geom.y) + 0.5f, ay = (float)(pos / geom.y) + 0.5f;
    boxes[(size_t)n * anchors + geom.w + pos] =
        (float4)(ax - d[0], ay - d[1], ax + d[2], ay + d[3]) * (float)geom.z;
}

/* scores[n][nc * first + i] = sigmoid of a level's class logit i (class-major, as stored). */
__kernel void yolo_detect_scores(__global const float *cls, uint cls_off, uint cls_batch,
                                 uint count, uint out_off, uint image_stride,
                                 __global float *scores)
{
    uint i = get_global_id(0), n = get_global_id(1);
    if (i < count)
        scores[(size_t)n * image_stride + out_off + i] =
            sigmoid_of(cls[cls_off + (size_t)n * cls_batch + i]);
}
