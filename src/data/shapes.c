/* Shape geometry for the synthetic dataset. v points down, as image rows do. */
#include <math.h>
#include <stddef.h>

#include "data/shapes.h"

#define SHAPE_PI 3.14159265358979323846

enum { MAX_VERTICES = 10 };

typedef struct polygon {
    int count;
    double x[MAX_VERTICES], y[MAX_VERTICES];
} polygon;

/* Regular polygons with circumradius 1 and the first vertex straight up; the star alternates
 * radii 1 and 0.42. */
static const polygon triangle = {3, {0.0, 0.866025, -0.866025}, {-1.0, 0.5, 0.5}};
static const polygon star = {
    10,
    {0.0, 0.246870, 0.951057, 0.399444, 0.587785, 0.0, -0.587785, -0.399444, -0.951057, -0.246870},
    {-1.0, -0.339787, -0.309017, 0.129787, 0.809017, 0.42, 0.809017, 0.129787, -0.309017,
     -0.339787}};
static const polygon hexagon = {
    6, {0.0, 0.866025, 0.866025, 0.0, -0.866025, -0.866025}, {-1.0, -0.5, 0.5, 1.0, 0.5, -0.5}};

/* Even-odd crossing test. */
static bool polygon_inside(const polygon *p, double u, double v)
{
    bool inside = false;
    for (int i = 0, j = p->count - 1; i < p->count; j = i++) {
        if ((p->y[i] > v) != (p->y[j] > v) &&
            u < (p->x[j] - p->x[i]) * (v - p->y[i]) / (p->y[j] - p->y[i]) + p->x[i])
            inside = !inside;
    }
    return inside;
}

bool ykd_shape_inside(ykd_shape shape, double u, double v)
{
    double r2 = u * u + v * v;
    switch (shape) {
    case YKD_SHAPE_CIRCLE:
        return r2 <= 1.0;
    case YKD_SHAPE_SQUARE:
        return fabs(u) <= 0.8 && fabs(v) <= 0.8;
    case YKD_SHAPE_TRIANGLE:
        return polygon_inside(&triangle, u, v - 0.15); /* lowered: its box is centred */
    case YKD_SHAPE_STAR:
        return polygon_inside(&star, u, v);
    case YKD_SHAPE_CROSS:
        return (fabs(u) <= 0.28 && fabs(v) <= 0.95) || (fabs(v) <= 0.28 && fabs(u) <= 0.95);
    case YKD_SHAPE_RING:
        return r2 <= 1.0 && r2 >= 0.55 * 0.55;
    case YKD_SHAPE_DIAMOND:
        return fabs(u) / 0.65 + fabs(v) <= 1.0;
    case YKD_SHAPE_HEXAGON:
        return polygon_inside(&hexagon, u, v);
    case YKD_SHAPE_ELLIPSE:
        return u * u + (v / 0.33) * (v / 0.33) <= 1.0;
    case YKD_SHAPE_BAR:
        return fabs(u) <= 1.0 && fabs(v) <= 0.12;
    case YKD_SHAPE_ARC:
        return r2 <= 1.0 && r2 >= 0.62 * 0.62 && v >= 0.1;
    default:
        return false;
    }
}

double ykd_shape_max_rotation(ykd_shape shape)
{
    switch (shape) {
    case YKD_SHAPE_SQUARE:
        return 0.26; /* 15 degrees: further, it turns into a diamond */
    case YKD_SHAPE_DIAMOND:
    case YKD_SHAPE_CROSS:
        return 0.35;
    case YKD_SHAPE_CIRCLE:
    case YKD_SHAPE_RING:
        return 0;
    default:
        return SHAPE_PI;
    }
}
