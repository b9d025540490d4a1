/* The inference decode (cl/detect_yolo.cl, its launcher ykd_yolo_decode in src/ops/detect_yolo.c) in the op table:
 * each anchor's box from the softmax expectation of its 16 DFL bins per side, in input pixels,
 * and the sigmoid of every class logit, against float64 (ref_yolo_pred_box). Case shape =
 * {images, classes, -, -}, p = {levels, then h, w, stride of each}; OP_STRIDED: the head's
 * outputs are channel views. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops.h"
#include "core/error_internal.h"
#include "ops/yolo_head.h"

enum { MAX_LEVELS = 3, BOX = 0, CLS = MAX_LEVELS, BOXES = 2 * MAX_LEVELS, SCORES };
static const char *const slot_names[OP_SLOTS] = {[BOXES] = "boxes", [SCORES] = "scores"};

static int level_count(const op_io *io)
{
    return io->c->p[0];
}

static const int *level_geometry(const op_io *io, int l)
{
    return io->c->p + 1 + 3 * l;
}

static int anchor_count(const op_io *io)
{
    int anchors = 0;
    for (int l = 0; l < level_count(io); l++)
        anchors += level_geometry(io, l)[0] * level_geometry(io, l)[1];
    return anchors;
}

bool op_decode_setup(op_io *io)
{
    io->slot_names = slot_names;
    int n = io->c->shape.n, nc = io->c->shape.c, levels = level_count(io);
    bool strided = io->c->flags & OP_STRIDED;
    snprintf(io->what, sizeof io->what, "yolo decode of %d images, %d classes, %d levels%s", n,
             nc, levels, strided ? ", strided" : "");
    if (!CHECKF(io->t, levels >= 1 && levels <= MAX_LEVELS, "%s: levels", io->what))
        return false;
    for (int l = 0; l < levels; l++) {
        const int *g = level_geometry(io, l);
        /* logits spread enough that a side's distribution ranges from flat to peaked */
        op_in(io, BOX + l, OP_SHAPE(n, 4 * REF_YOLO_BINS, g[0], g[1]), -6, 6, strided);
        op_in(io, CLS + l, OP_SHAPE(n, nc, g[0], g[1]), -12, 12, !strided);
    }
    op_out_host(io, BOXES, OP_SHAPE(n, anchor_count(io), 4, 1), OP_FORWARD);
    op_out_host(io, SCORES, OP_SHAPE(n, nc, anchor_count(io), 1), OP_FORWARD);
    return op_setup_ok(io);
}

void op_decode_reference(op_io *io, op_phase phase)
{
    (void)phase;
    int n = io->c->shape.n, nc = io->c->shape.c, anchors = anchor_count(io);
    ref_yolo_problem p = {.n = n, .nc = nc, .levels = level_count(io)};
    for (int l = 0; l < p.levels; l++) {
        const int *g = level_geometry(io, l);
        p.level[l] = (ref_yolo_level){g[0], g[1], g[2], io->ref[BOX + l], io->ref[CLS + l]};
    }
    for (int b = 0; b < n; b++) {
        int first = 0;
        for (int l = 0; l < p.levels; l++) {
            const int *g = level_geometry(io, l);
            size_t cells = (size_t)g[0] * g[1];
            for (size_t a = 0; a < cells; a++) {
                double box[4];
                ref_yolo_pred_box(&p, b, first + (int)a, box);
                for (int k = 0; k < 4; k++)
                    io->expect[BOXES][((size_t)b * anchors + first + a) * 4 + k] = box[k] * g[2];
            }
            /* scores: per image, each level's block of nc x cells, class-major */
            const double *cls = io->ref[CLS + l] + (size_t)b * nc * cells;
            double *scores = io->expect[SCORES] + (size_t)b * nc * anchors + (size_t)nc * first;
            for (size_t i = 0; i < (size_t)nc * cells; i++)
                scores[i] = 1.0 / (1.0 + exp(-cls[i]));
            first += (int)cells;
        }
    }
}

static void head_levels(const op_io *io, ykd_yolo_level *levels)
{
    for (int l = 0; l < level_count(io); l++)
        levels[l] = (ykd_yolo_level){io->dev[BOX + l], io->dev[CLS + l], level_geometry(io, l)[2]};
}

/* Reads count floats of buf into memory the case keeps, as io->got[slot]. */
static ykd_status read_back(op_io *io, int slot, ykd_buffer *buf, size_t count, ykd_error *err)
{
    float *host = ykd_test_keep(&io->mem, malloc(count * sizeof(float)));
    if (!host)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "decode test: out of host memory");
    io->got[slot] = host;
    return ykd_buffer_read(buf, 0, host, count * sizeof(float), err);
}

/* The launcher itself (ykd_yolo_decode, as ykd_detector_run and ykd_detector_decode call it),
 * on the geometry the head's check derives. */
ykd_status op_decode_forward(op_io *io, ykd_error *err)
{
    ykd_yolo_level levels[MAX_LEVELS];
    head_levels(io, levels);
    ykd_yolo_geometry geo = {0};
    ykd_buffer *boxes = NULL, *scores = NULL;
    size_t nb = ref_numel(io->shape[BOXES]), ns = ref_numel(io->shape[SCORES]);
    ykd_status st = ykd_yolo_head_check("decode test", io->t->device, io->c->shape.c, levels,
                                        level_count(io), NULL, &geo, err);
    if (st == YKD_OK)
        st = ykd_buffer_alloc(io->t->device, nb * sizeof(float), &boxes, err);
    if (st == YKD_OK)
        st = ykd_buffer_alloc(io->t->device, ns * sizeof(float), &scores, err);
    if (st == YKD_OK)
        st = ykd_yolo_decode(io->t->device, io->c->shape.c, levels, &geo, boxes, scores, err);
    if (st == YKD_OK)
        st = read_back(io, BOXES, boxes, nb, err);
    if (st == YKD_OK)
        st = read_back(io, SCORES, scores, ns, err);
    ykd_buffer_free(boxes);
    ykd_buffer_free(scores);
    return st;
}
