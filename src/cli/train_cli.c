/* The training options both `yolokd train` and `yolokd distill` take, and the progress
 * printer they share. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/train_cli.h"

void ykd_train_args_init(ykd_train_args *a)
{
    memset(a, 0, sizeof *a);
    ykd_train_options_default(&a->o);
    const ykd_train_options *d = &a->o;
    a->epochs = d->epochs, a->batch = d->batch, a->imgsz = d->imgsz, a->workers = -1;
    a->seed = (long long)d->seed, a->close_mosaic = d->close_mosaic, a->nbs = d->nbs;
    a->lr0 = d->lr0, a->lrf = d->lrf, a->momentum = d->momentum;
    a->weight_decay = d->weight_decay, a->warmup_epochs = d->warmup_epochs;
}

size_t ykd_train_option_rows(ykd_train_args *a, ykd_cli_opt *rows)
{
    const ykd_cli_opt own[] = {
        {"--data", YKD_OPT_STRING, &a->o.data, 0, 0},
        {"--out", YKD_OPT_STRING, &a->o.out, 0, 0},
        {"--weights", YKD_OPT_STRING, &a->o.weights, 0, 0},
        {"--optimizer", YKD_OPT_STRING, &a->optimizer, 0, 0},
        {"--epochs", YKD_OPT_INT, &a->epochs, 1, 100000},
        {"--batch", YKD_OPT_INT, &a->batch, 1, 4096},
        {"--imgsz", YKD_OPT_INT, &a->imgsz, 32, 8192},
        {"--workers", YKD_OPT_INT, &a->workers, 0, 64},
        {"--seed", YKD_OPT_INT, &a->seed, 0, 9e18},
        {"--close-mosaic", YKD_OPT_INT, &a->close_mosaic, 0, 100000},
        {"--nbs", YKD_OPT_INT, &a->nbs, 1, 65536},
        {"--lr0", YKD_OPT_DOUBLE, &a->lr0, 1e-12, 10},
        {"--lrf", YKD_OPT_DOUBLE, &a->lrf, 0, 1},
        {"--momentum", YKD_OPT_DOUBLE, &a->momentum, 0, 0.999999},
        {"--weight-decay", YKD_OPT_DOUBLE, &a->weight_decay, 0, 1},
        {"--warmup-epochs", YKD_OPT_DOUBLE, &a->warmup_epochs, 0, 1e6},
        {"--cos", YKD_OPT_FLAG, &a->cos, 0, 0},
        {"--linear", YKD_OPT_FLAG, &a->linear, 0, 0},
        {"--no-augment", YKD_OPT_FLAG, &a->no_augment, 0, 0},
        {"--no-val", YKD_OPT_FLAG, &a->no_val, 0, 0},
        {"--exist-ok", YKD_OPT_FLAG, &a->exist_ok, 0, 0},
        {"--strict", YKD_OPT_FLAG, &a->o.strict, 0, 0},
        {"--sync-bn", YKD_OPT_FLAG, &a->o.sync_bn, 0, 0},
    };
    size_t count = sizeof own / sizeof own[0];
    memcpy(rows, own, sizeof own);
    return count;
}

/* The numbers parsed into the options. */
static void fill_options(ykd_train_args *a)
{
    ykd_train_options *o = &a->o;
    o->epochs = (int)a->epochs, o->batch = (int)a->batch, o->imgsz = (int)a->imgsz;
    o->workers = a->workers >= 0 ? (int)a->workers : o->workers;
    o->seed = (uint64_t)a->seed, o->close_mosaic = (int)a->close_mosaic, o->nbs = (int)a->nbs;
    o->lr0 = a->lr0, o->lrf = a->lrf, o->momentum = a->momentum;
    o->weight_decay = a->weight_decay, o->warmup_epochs = a->warmup_epochs;
    o->decay = a->cos ? YKD_LR_COSINE : YKD_LR_LINEAR;
    o->augment = !a->no_augment, o->val = !a->no_val, o->exist_ok = a->exist_ok;
}

int ykd_train_args_finish(ykd_cli_io *io, const char *command, ykd_train_args *a)
{
    if (a->cos && a->linear)
        return ykd_cli_usage_error(io, command, "--cos and --linear exclude each other");
    if (a->optimizer && !ykd_optimizer_kind_parse(a->optimizer, &a->o.optimizer))
        return ykd_cli_usage_error(io, command, "--optimizer takes auto, sgd or adamw, not '%s'",
                                   a->optimizer);
    fill_options(a);
    return -1;
}

void ykd_train_printer_init(ykd_train_printer *p, FILE *out)
{
    p->out = out;
    p->tty = isatty(fileno(out)) != 0;
    p->line_open = false;
}


void ykd_train_printer_end(ykd_train_printer *p)
{
    if (p->line_open)
        fputc('\n', p->out);
    p->line_open = false;
}

/* On a terminal every batch rewrites one line; otherwise a line per tenth of an epoch. */
static bool show_batch(const ykd_train_printer *p, const ykd_train_event *e)
{
    if (p->tty)
        return true;
    if (e->kind == YKD_TRAIN_VAL_BATCH)
        return false;
    size_t step = e->batches >= 10 ? e->batches / 10 : 1;
    return e->batch % step == 0 || e->batch == e->batches;
}

bool ykd_train_printer_event(const ykd_train_event *e, void *user)
{
    ykd_train_printer *p = user;
    char line[512];
    ykd_progress_format(e, line, sizeof line);
    if (e->kind == YKD_TRAIN_BATCH || e->kind == YKD_TRAIN_VAL_BATCH) {
        if (!show_batch(p, e))
            return true;
        if (p->tty) {
            fprintf(p->out, "\r\033[K%s", line);
            p->line_open = true;
        } else {
            fprintf(p->out, "%s\n", line);
        }
    } else {
        ykd_train_printer_end(p);
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
    return true;
}

void ykd_train_print_summary(ykd_cli_io *io, const ykd_trainer *t)
{
    size_t count = 0;
    const ykd_train_row *rows = ykd_trainer_rows(t, &count);
    const ykd_train_options *o = ykd_trainer_options(t);
    size_t best = 0;
    for (size_t i = 1; i < count; i++)
        if (rows[i].fitness > rows[best].fitness)
            best = i;
    if (count == 0)
        return;
    fprintf(io->out, "%d epochs done; best epoch %d: mAP50 %.4f, mAP50-95 %.4f; weights %s/%s\n",
            rows[count - 1].m.epoch, rows[best].m.epoch, rows[best].m.map50,
            rows[best].m.map50_95, o->out, "best.safetensors");
}

