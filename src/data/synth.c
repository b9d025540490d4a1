/* The synthetic shapes dataset: textured, noisy backgrounds; labelled shapes of several
 * classes in random colours, sizes from a few pixels to most of the image, overlapping but
 * never hidden by more than half; unlabelled distractor shapes of other kinds. Every image is
 * a pure function of (seed, split, index). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/rng.h"
#include "data/shapes.h"
#include "data/synth_internal.h"
#include "data/transform.h"
#include "yolokd/data.h"

#define SYNTH_PI 3.14159265358979323846

enum {
    MAX_LABELLED = 8,
    MAX_DISTRACTORS = 4,
    PLACE_TRIES = 24,
    MIN_SIDE_PX = 6,
    MIN_PIXELS = 12,          /* a shape smaller than this (after the image edge) is redrawn */
    DISTRACTOR_OWNER = 0xffff /* owner map value of distractor pixels while rendering */
};

/* A shape is never hidden by more than this fraction of its pixels. */
#define MAX_HIDDEN 0.5

static const char *const class_names[YKD_SYNTH_MAX_CLASSES] = {
    "circle", "square", "triangle", "star", "cross", "ring", "diamond", "hexagon"};

const char *ykd_synth_class_name(int cls)
{
    return cls >= 0 && cls < YKD_SYNTH_MAX_CLASSES ? class_names[cls] : NULL;
}

void ykd_synth_options_default(ykd_synth_options *o)
{
    o->train_images = 400;
    o->val_images = 100;
    o->image_size = 320;
    o->classes = 6;
    o->seed = 0;
}

typedef struct placed_shape {
    ykd_shape shape;
    double cx, cy, radius, angle;
    uint8_t color[3];
    bool labelled;
} placed_shape;

typedef struct render_state {
    int size;
    ykd_rng rng;
    ykd_image *img;
    uint16_t *owner;
    int *full;    /* pixels each labelled shape covered when drawn */
    int *visible; /* pixels each labelled shape still owns */
    int *hits;    /* scratch: pixels of each shape a candidate would cover */
    ykd_synth_object *objects;
    size_t count;
} render_state;

static uint8_t clamp_u8(double v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
}

static void random_color(ykd_rng *rng, double min_sat, double min_val, uint8_t rgb[3])
{
    double h = ykd_rng_unit(rng) * 6, s = ykd_rng_uniform(rng, min_sat, 1);
    double v = ykd_rng_uniform(rng, min_val, 1) * 255;
    ykd_hsv_to_rgb((float)h, (float)s, (float)v, rgb);
}

/* A gradient between two colours plus one texture: stripes, checks, blotches or none. */
static void draw_background(render_state *r)
{
    ykd_rng *rng = &r->rng;
    uint8_t c0[3], c1[3], tint[3];
    random_color(rng, 0, 0.15, c0);
    random_color(rng, 0, 0.15, c1);
    random_color(rng, 0, 0.5, tint);
    double angle = ykd_rng_uniform(rng, 0, 2 * SYNTH_PI), ca = cos(angle), sa = sin(angle);
    int texture = (int)ykd_rng_below(rng, 4);
    double amp = ykd_rng_uniform(rng, 10, 45), period = ykd_rng_uniform(rng, 6, r->size / 3.0);
    double ta = ykd_rng_uniform(rng, 0, SYNTH_PI), fx[3], fy[3], ph[3];
    for (int k = 0; k < 3; k++) {
        double a = ykd_rng_uniform(rng, 0, 2 * SYNTH_PI), f = ykd_rng_uniform(rng, 1, 4);
        fx[k] = cos(a) * f * 2 * SYNTH_PI / r->size;
        fy[k] = sin(a) * f * 2 * SYNTH_PI / r->size;
        ph[k] = ykd_rng_uniform(rng, 0, 2 * SYNTH_PI);
    }
    int cell = 4 + (int)ykd_rng_below(rng, (uint64_t)(r->size / 8 + 1));
    for (int y = 0; y < r->size; y++)
        for (int x = 0; x < r->size; x++) {
            double t = ((x - r->size / 2.0) * ca + (y - r->size / 2.0) * sa) / r->size + 0.5;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double tex = 0;
            if (texture == 1)
                tex = sin(2 * SYNTH_PI * (x * cos(ta) + y * sin(ta)) / period);
            else if (texture == 2)
                tex = ((x / cell + y / cell) % 2) ? 1 : -1;
            else if (texture == 3)
                tex = (sin(x * fx[0] + y * fy[0] + ph[0]) + sin(x * fx[1] + y * fy[1] + ph[1]) +
                       sin(x * fx[2] + y * fy[2] + ph[2])) /
                      2;
            uint8_t *p = r->img->pixels + ((size_t)y * r->size + x) * 3;
            for (int c = 0; c < 3; c++)
                p[c] = clamp_u8(c0[c] + (c1[c] - c0[c]) * t + tex * amp * (tint[c] / 255.0));
        }
}

/* Calls visit(r, x, y, arg) for every image pixel inside the shape. */
static int for_each_pixel(render_state *r, const placed_shape *s,
                          void (*visit)(render_state *, size_t, void *), void *arg)
{
    double reach = s->radius * 1.2 + 1;
    int x0 = (int)floor(s->cx - reach), x1 = (int)ceil(s->cx + reach);
    int y0 = (int)floor(s->cy - reach), y1 = (int)ceil(s->cy + reach);
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > r->size ? r->size : x1, y1 = y1 > r->size ? r->size : y1;
    double ca = cos(s->angle), sa = sin(s->angle);
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            double dx = (x + 0.5 - s->cx) / s->radius, dy = (y + 0.5 - s->cy) / s->radius;
            if (ykd_shape_inside(s->shape, dx * ca + dy * sa, -dx * sa + dy * ca)) {
                visit(r, (size_t)y * r->size + x, arg);
                n++;
            }
        }
    return n;
}

static void count_hit(render_state *r, size_t at, void *arg)
{
    (void)arg;
    uint16_t o = r->owner[at];
    if (o != 0 && o != DISTRACTOR_OWNER)
        r->hits[o - 1]++;
}

static void paint(render_state *r, size_t at, void *arg)
{
    const placed_shape *s = arg;
    uint16_t o = r->owner[at];
    if (o != 0 && o != DISTRACTOR_OWNER)
        r->visible[o - 1]--;
    r->owner[at] = s->labelled ? (uint16_t)(r->count + 1) : DISTRACTOR_OWNER;
    memcpy(r->img->pixels + at * 3, s->color, 3);
}

/* Whether drawing s keeps every labelled shape at least half visible (and s big enough). */
static bool acceptable(render_state *r, const placed_shape *s)
{
    memset(r->hits, 0, r->count * sizeof *r->hits);
    int pixels = for_each_pixel(r, s, count_hit, NULL);
    if (pixels < MIN_PIXELS)
        return false;
    for (size_t i = 0; i < r->count; i++)
        if (r->visible[i] - r->hits[i] < (1 - MAX_HIDDEN) * r->full[i])
            return false;
    return true;
}

typedef struct bounds {
    int x0, y0, x1, y1;
} bounds;

static void grow_bounds(render_state *r, size_t at, void *arg)
{
    bounds *b = arg;
    int x = (int)(at % (size_t)r->size), y = (int)(at / (size_t)r->size);
    b->x0 = x < b->x0 ? x : b->x0, b->y0 = y < b->y0 ? y : b->y0;
    b->x1 = x + 1 > b->x1 ? x + 1 : b->x1, b->y1 = y + 1 > b->y1 ? y + 1 : b->y1;
}

/* Tight box of the shape's pixels (before anything covers them), normalised. */
static void box_of(render_state *r, const placed_shape *s, ykd_box *box, int *pixels)
{
    bounds b = {r->size, r->size, 0, 0};
    *pixels = for_each_pixel(r, s, grow_bounds, &b);
    double w = r->size;
    *box =
        (ykd_box){(int)s->shape, (float)((b.x0 + b.x1) / 2.0 / w), (float)((b.y0 + b.y1) / 2.0 / w),
                  (float)((b.x1 - b.x0) / w), (float)((b.y1 - b.y0) / w)};
}

/* A colour that stands out from the background under the shape's centre. */
static void contrasting_color(render_state *r, const placed_shape *s, uint8_t rgb[3])
{
    int x = (int)s->cx, y = (int)s->cy;
    x = x < 0 ? 0 : x >= r->size ? r->size - 1 : x;
    y = y < 0 ? 0 : y >= r->size ? r->size - 1 : y;
    const uint8_t *bg = r->img->pixels + ((size_t)y * r->size + x) * 3;
    for (int tries = 0; tries < 8; tries++) {
        random_color(&r->rng, 0.3, 0.3, rgb);
        int d = abs(rgb[0] - bg[0]) + abs(rgb[1] - bg[1]) + abs(rgb[2] - bg[2]);
        if (d >= 100)
            return;
    }
}

/* Tries to place one shape; returns whether it was drawn. */
static bool place(render_state *r, ykd_shape shape, double side, bool labelled)
{
    placed_shape s = {shape, 0, 0, side / 2, 0, {0}, labelled};
    double spin = ykd_shape_max_rotation(shape);
    for (int tries = 0; tries < PLACE_TRIES; tries++) {
        s.cx = ykd_rng_uniform(&r->rng, 0, r->size);
        s.cy = ykd_rng_uniform(&r->rng, 0, r->size);
        s.angle = ykd_rng_uniform(&r->rng, -spin, spin);
        if (!acceptable(r, &s))
            continue;
        contrasting_color(r, &s, s.color);
        if (labelled) {
            ykd_synth_object *o = &r->objects[r->count];
            box_of(r, &s, &o->box, &o->full_pixels);
            memcpy(o->color, s.color, 3);
            r->full[r->count] = o->full_pixels;
            r->visible[r->count] = o->full_pixels;
        }
        for_each_pixel(r, &s, paint, &s);
        if (labelled)
            r->count++;
        return true;
    }
    return false;
}

static int compare_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Places the shapes, largest first, so small ones overlap large ones. */
static void draw_shapes(render_state *r, int classes)
{
    int labelled = ykd_rng_unit(&r->rng) < 0.05 ? 0 : 1 + (int)ykd_rng_below(&r->rng, MAX_LABELLED);
    int distractors = (int)ykd_rng_below(&r->rng, MAX_DISTRACTORS + 1);
    int total = labelled + distractors;
    double sides[MAX_LABELLED + MAX_DISTRACTORS];
    double lo = log(MIN_SIDE_PX), hi = log(0.8 * r->size);
    for (int i = 0; i < total; i++)
        sides[i] = exp(ykd_rng_uniform(&r->rng, lo, hi));
    qsort(sides, (size_t)total, sizeof sides[0], compare_desc);
    /* which of the sizes are distractors: a random subset */
    bool is_distractor[MAX_LABELLED + MAX_DISTRACTORS] = {false};
    for (int k = 0; k < distractors;) {
        int i = (int)ykd_rng_below(&r->rng, (uint64_t)total);
        if (!is_distractor[i])
            is_distractor[i] = true, k++;
    }
    for (int i = 0; i < total; i++) {
        ykd_shape shape =
            is_distractor[i]
                ? (ykd_shape)(YKD_SHAPE_FIRST_DISTRACTOR +
                              (int)ykd_rng_below(&r->rng,
                                                 YKD_SHAPE_COUNT - YKD_SHAPE_FIRST_DISTRACTOR))
                : (ykd_shape)ykd_rng_below(&r->rng, (uint64_t)classes);
        place(r, shape, sides[i], !is_distractor[i]);
    }
}

/* Sensor-like noise on every channel, of a random strength per image. */
static void add_noise(render_state *r)
{
    int amp = 2 + (int)ykd_rng_below(&r->rng, 13);
    size_t n = (size_t)r->size * r->size * 3;
    for (size_t i = 0; i < n; i++) {
        int v = r->img->pixels[i] + (int)ykd_rng_below(&r->rng, (uint64_t)(2 * amp + 1)) - amp;
        r->img->pixels[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

ykd_status ykd_synth_check_options(const ykd_synth_options *o, bool counts, ykd_error *err)
{
    if (o->image_size < 32 || o->image_size > 4096)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "synth: image size %d is not in 32..4096",
                        o->image_size);
    if (o->classes < 1 || o->classes > YKD_SYNTH_MAX_CLASSES)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "synth: %d classes is not in 1..%d",
                        o->classes, YKD_SYNTH_MAX_CLASSES);
    if (counts && (o->train_images < 1 || o->val_images < 1 || o->train_images > 10000000 ||
                   o->val_images > 10000000))
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "synth: needs at least one train and one val image (got %d and %d)",
                        o->train_images, o->val_images);
    return YKD_OK;
}

ykd_status ykd_synth_render(const ykd_synth_options *options, int split, int index, ykd_image *img,
                            ykd_synth_object **objects, size_t *count, uint16_t **owner,
                            ykd_error *err)
{
    *objects = NULL;
    *count = 0;
    if (owner)
        *owner = NULL;
    ykd_status st = ykd_synth_check_options(options, false, err);
    if (st != YKD_OK)
        return st;
    int size = options->image_size;
    render_state r = {.size = size, .img = img};
    /* the split and index pick the image; 0x5e7 keeps these seeds apart from the loader's */
    ykd_rng_seed(&r.rng, ykd_sample_seed(options->seed, 0x5e70 + (uint64_t)split, (uint64_t)index));
    st = ykd_image_init(img, size, size, 0, err);
    if (st != YKD_OK)
        return st;
    r.owner = calloc((size_t)size * size, sizeof *r.owner);
    r.objects = calloc(MAX_LABELLED, sizeof *r.objects);
    r.full = calloc(MAX_LABELLED, sizeof(int));
    r.visible = calloc(MAX_LABELLED, sizeof(int));
    r.hits = calloc(MAX_LABELLED, sizeof(int));
    if (!r.owner || !r.objects || !r.full || !r.visible || !r.hits) {
        st = ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "synth: out of host memory");
    } else {
        draw_background(&r);
        draw_shapes(&r, options->classes);
        add_noise(&r);
        size_t pixels = (size_t)size * size;
        for (size_t i = 0; i < pixels; i++)
            if (r.owner[i] == DISTRACTOR_OWNER)
                r.owner[i] = 0;
        for (size_t i = 0; i < r.count; i++)
            r.objects[i].visible_pixels = r.visible[i];
    }
    free(r.full);
    free(r.visible);
    free(r.hits);
    if (st != YKD_OK) {
        free(r.owner);
        free(r.objects);
        ykd_image_free(img);
        return st;
    }
    if (owner)
        *owner = r.owner;
    else
        free(r.owner);
    *objects = r.objects;
    *count = r.count;
    return YKD_OK;
}
