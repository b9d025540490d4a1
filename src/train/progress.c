/* Progress text for the trainer's events: what `yolokd train` shows, rewritten in place on a
 * terminal, one line per event otherwise. The library formats; the caller prints. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "yolokd/train.h"

void ykd_format_duration(double seconds, char *buf, size_t size)
{
    if (!isfinite(seconds) || seconds < 0)
        seconds = 0;
    long s = lround(seconds);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

static void format_batch(const ykd_train_event *e, char *buf, size_t size)
{
    char eta[32];
    ykd_format_duration(e->eta_s, eta, sizeof eta);
    int n = snprintf(buf, size, "%4d/%-4d %5zu/%-5zu box %.4f  cls %.4f  dfl %.4f", e->epoch + 1,
                     e->epochs, e->batch, e->batches, e->box, e->cls, e->dfl);
    if (n < 0 || (size_t)n >= size)
        return;
    if (e->extra != 0.0) {
        n += snprintf(buf + n, size - (size_t)n, "  kd %.4f", e->extra);
        if ((size_t)n >= size)
            return;
    }
    snprintf(buf + n, size - (size_t)n, "  %3zu boxes  %6.1f img/s  ETA %s", e->instances,
             e->images_per_s, eta);
}

/* " | kd_logit 0.1234  kd_ld 0.5678": the loss terms' parts, named without "train/" and
 * "_loss". */
static void format_extra(const ykd_epoch_metrics *m, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < m->extra_count && n < size; i++) {
        const char *name = m->extra_names[i];
        name += strncmp(name, "train/", 6) == 0 ? 6 : 0;
        size_t len = strlen(name);
        len -= len > 5 && strcmp(name + len - 5, "_loss") == 0 ? 5 : 0;
        int w = snprintf(buf + n, size - n, "%s%.*s %.4f", i ? "  " : " | ", (int)len, name,
                         m->extra[i]);
        n += w > 0 ? (size_t)w : 0;
    }
}

static void format_epoch(const ykd_train_event *e, char *buf, size_t size)
{
    const ykd_train_row *r = e->row;
    char extra[256];
    format_extra(&r->m, extra, sizeof extra);
    char left_out[64] = "";
    if (r->left_out)
        snprintf(left_out, sizeof left_out, " | %zu inputs left out", r->left_out);
    snprintf(buf, size,
             "%4d/%-4d box %.4f  cls %.4f  dfl %.4f%s | val P %.3f  R %.3f  mAP50 %.3f  "
             "mAP50-95 %.3f | %.1f img/s  %.0f s%s",
             e->epoch + 1, e->epochs, r->m.train_box, r->m.train_cls, r->m.train_dfl, extra,
             r->m.precision, r->m.recall, r->m.map50, r->m.map50_95, r->images_per_s,
             r->seconds, left_out);
}

void ykd_progress_format(const ykd_train_event *e, char *buf, size_t size)
{
    if (size == 0)
        return;
    switch (e->kind) {
    case YKD_TRAIN_BATCH:
        format_batch(e, buf, size);
        break;
    case YKD_TRAIN_VAL_BATCH:
        snprintf(buf, size, "%4d/%-4d validating %zu/%zu", e->epoch + 1, e->epochs, e->batch,
                 e->batches);
        break;
    case YKD_TRAIN_EPOCH:
        format_epoch(e, buf, size);
        break;
    default:
        snprintf(buf, size, "%s", e->message ? e->message : "");
        break;
    }
}
