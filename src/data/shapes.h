/* Internal: the synthetic dataset's shapes, as inside tests in unit coordinates. */
#ifndef YKD_DATA_SHAPES_H
#define YKD_DATA_SHAPES_H

#include <stdbool.h>

/* Labelled classes first (YKD_SYNTH_MAX_CLASSES of them), then the unlabelled distractors. */
typedef enum ykd_shape {
    YKD_SHAPE_CIRCLE,
    YKD_SHAPE_SQUARE,
    YKD_SHAPE_TRIANGLE,
    YKD_SHAPE_STAR,
    YKD_SHAPE_CROSS,
    YKD_SHAPE_RING,
    YKD_SHAPE_DIAMOND,
    YKD_SHAPE_HEXAGON,
    YKD_SHAPE_ELLIPSE, /* distractors from here on */
    YKD_SHAPE_BAR,
    YKD_SHAPE_ARC,
    YKD_SHAPE_COUNT
} ykd_shape;

enum { YKD_SHAPE_FIRST_DISTRACTOR = YKD_SHAPE_ELLIPSE };

/* Whether (u, v) lies inside the shape; the shape fits in the circle of radius 1.2. */
bool ykd_shape_inside(ykd_shape shape, double u, double v);

/* How far a shape may be rotated (radians either way) without looking like another class. */
double ykd_shape_max_rotation(ykd_shape shape);

#endif
