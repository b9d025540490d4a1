/* The files of a run's finished epoch, in commit order: the state first (the commit: the epoch
 * is done once it is there), then what follows from it: last.safetensors (the EMA weights),
 * best.safetensors (when this epoch is the best), curves.png, metrics.csv and metrics.jsonl
 * last. A kill anywhere leaves either the previous epoch whole (state not yet written: the
 * epoch is trained again) or this epoch's state with its other files possibly unfinished:
 * metrics.jsonl then differs from the state's history, and a resume writes them all again from
 * the state (same bits). Temporary files a kill left are removed when a run opens, resumes or
 * ends. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "core/fs.h"
#include "train/train_internal.h"

static ykd_status write_curves(const ykd_trainer *t, ykd_error *err)
{
    char path[4096];
    ykd_epoch_metrics *m = malloc((t->row_count ? t->row_count : 1) * sizeof *m);
    if (!m)
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "train: out of host memory");
    for (size_t i = 0; i < t->row_count; i++)
        m[i] = t->rows[i].m;
    ykd_status st = ykd_curves_write(ykd_run_path(t, YKD_RUN_CURVES, path), m, t->row_count,
                                     err);
    free(m);
    return st;
}

ykd_status ykd_run_files_write(const ykd_trainer *t, bool best, ykd_error *err)
{
    char path[4096];
    ykd_model *ema = ykd_ema_model(t->ema);
    ykd_status st = ykd_model_save(ema, ykd_run_path(t, YKD_RUN_LAST, path), err);
    if (st == YKD_OK && best)
        st = ykd_model_save(ema, ykd_run_path(t, YKD_RUN_BEST, path), err);
    if (st == YKD_OK)
        st = write_curves(t, err);
    if (st == YKD_OK) /* metrics.jsonl last: it tells whether the epoch's files are complete */
        st = ykd_metrics_write(t->out, t->rows, t->row_count, err);
    return st;
}

/* Whether metrics.jsonl holds exactly the history: the last file an epoch writes. */
static bool files_complete(const ykd_trainer *t)
{
    char path[4096];
    char *want = ykd_metrics_jsonl_text(t->rows, t->row_count);
    void *have = NULL;
    size_t size = 0;
    bool same = want && ykd_file_read_all(ykd_run_path(t, YKD_RUN_JSONL, path), 64u << 20,
                                          &have, &size, NULL) == YKD_OK &&
                size == strlen(want) && memcmp(have, want, size) == 0;
    free(want);
    free(have);
    return same;
}

ykd_status ykd_run_files_repair(ykd_trainer *t, ykd_error *err)
{
    t->repaired = false;
    if (t->epoch == 0 || files_complete(t))
        return YKD_OK;
    t->repaired = true;
    return ykd_run_files_write(t, t->best_epoch == t->epoch, err);
}

void ykd_run_remove_temps(const ykd_trainer *t)
{
    static const char *const names[] = {YKD_RUN_LAST,   YKD_RUN_BEST,  YKD_RUN_STATE,
                                        YKD_RUN_ARGS,   YKD_RUN_CURVES, YKD_RUN_CSV,
                                        YKD_RUN_JSONL};
    ykd_remove_stale_temps(t->out, names, sizeof names / sizeof names[0]);
}
