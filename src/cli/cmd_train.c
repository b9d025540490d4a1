/* yolokd train: trains a detector on a dataset, or resumes a run; prints the trainer's
 * progress (rewritten in place on a terminal, plain lines otherwise). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "yolokd/train.h"

static void print_train_help(FILE *f)
{
    ykd_train_options d;
    ykd_train_options_default(&d);
    fprintf(f,
            "usage: yolokd train --model n|s|m|l|x|FILE --data DIR --out RUN [--device D]\n"
            "                    [--weights W] [--epochs N] [--batch B] [--imgsz S]\n"
            "                    [--optimizer auto|sgd|adamw] [--lr0 LR] [--seed K] [--workers N]\n"
            "                    [--close-mosaic N] [--cos|--linear] [--nbs N] ...\n"
            "       yolokd train --resume RUN [--device D] [--workers N]\n"
            "\n"
            "Trains a YOLOv8 detector as Ultralytics does (SGD with Nesterov momentum, warm-up,\n"
            "linear or cosine LR decay, EMA of the weights, mosaic augmentation) and validates\n"
            "the EMA weights after every epoch. RUN receives last.safetensors and\n"
            "best.safetensors (ordinary model files: yolokd val, detect, info), the resumable\n"
            "last.state.safetensors, metrics.csv, metrics.jsonl, curves.png and args.json.\n"
            "\n"
            "  --model M          a built-in scale (n, s, m, l, x), a .json description, or a\n"
            "                     .safetensors model file (its weights too, unless --weights)\n"
            "  --data DIR         the dataset (YOLO layout; classes from its data.json)\n"
            "  --out RUN          the run folder (refused if it holds a run: --exist-ok)\n"
            "  --weights W        initial weights (a model file of the same model)\n"
            "  --device D         the device (as the global --device)\n"
            "  --epochs N         epochs (default %d)\n"
            "  --batch B          images per batch (default %d)\n"
            "  --imgsz S          square input side, a multiple of the stride (default %d)\n"
            "  --optimizer O      auto (default: Ultralytics' choice, AdamW with a fitted LR\n"
            "                     for runs under 10000 iterations, else SGD), sgd or adamw\n"
            "  --lr0 LR           initial LR (default 0.01 for sgd, 0.001 for adamw)\n"
            "  --lrf F            final LR factor (default %g)\n"
            "  --momentum M       SGD momentum / AdamW beta1 (default %g)\n"
            "  --weight-decay W   on conv weights, before the nbs scaling (default %g)\n"
            "  --nbs N            nominal batch size: gradients are accumulated over\n"
            "                     round(N / batch) batches, the decay scaled (default %d)\n"
            "  --warmup-epochs E  warm-up length, at least 100 batches (default %g)\n"
            "  --cos, --linear    LR decay (default linear)\n"
            "  --close-mosaic N   no mosaic in the last N epochs (default %d)\n"
            "  --no-augment       no training augmentation (letterbox only)\n"
            "  --no-val           no validation (best = last)\n"
            "  --seed K           initial weights and augmentation (default %llu)\n"
            "  --workers N        loader threads; results do not depend on it (default %d)\n"
            "  --exist-ok         replace a run already in RUN\n"
            "  --resume RUN       continue RUN where its last finished epoch left it, bit for\n"
            "                     bit (its own options; only --device and --workers apply)\n",
            d.epochs, d.batch, d.imgsz, d.lrf, d.momentum, d.weight_decay, d.nbs, d.warmup_epochs,
            d.close_mosaic, (unsigned long long)d.seed, d.workers);
}

typedef struct train_args {
    ykd_train_options o;
    const char *resume, *optimizer;
    long long epochs, batch, imgsz, workers, seed, close_mosaic, nbs;
    double lr0, lrf, momentum, weight_decay, warmup_epochs;
    bool cos, linear, no_augment, no_val, exist_ok;
} train_args;

static int parse_train_args(int argc, char **argv, ykd_cli_globals *g, ykd_cli_io *io,
                            train_args *a)
{
    ykd_train_options_default(&a->o);
    const ykd_train_options *d = &a->o;
    a->epochs = d->epochs, a->batch = d->batch, a->imgsz = d->imgsz, a->workers = -1;
    a->seed = (long long)d->seed, a->close_mosaic = d->close_mosaic, a->nbs = d->nbs;
    a->lr0 = d->lr0, a->lrf = d->lrf, a->momentum = d->momentum;
    a->weight_decay = d->weight_decay, a->warmup_epochs = d->warmup_epochs;
    const ykd_cli_opt opts[] = {
        {"--model", YKD_OPT_STRING, &a->o.model, 0, 0},
        {"--data", YKD_OPT_STRING, &a->o.data, 0, 0},
        {"--out", YKD_OPT_STRING, &a->o.out, 0, 0},
        {"--weights", YKD_OPT_STRING, &a->o.weights, 0, 0},
        {"--device", YKD_OPT_STRING, &g->device, 0, 0},
        {"--resume", YKD_OPT_STRING, &a->resume, 0, 0},
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
    };
    int code = ykd_cli_parse_options(argc, argv, io, "train", opts, sizeof opts / sizeof opts[0],
                                     print_train_help);
    if (code >= 0)
        return code;
    if (a->cos && a->linear)
        return ykd_cli_usage_error(io, "train", "--cos and --linear exclude each other");
    if (a->optimizer && !ykd_optimizer_kind_parse(a->optimizer, &a->o.optimizer))
        return ykd_cli_usage_error(io, "train", "--optimizer takes auto, sgd or adamw, not '%s'",
                                   a->optimizer);
    if (a->resume)
        return -1;
    if (!a->o.model || !a->o.data || !a->o.out)
        return ykd_cli_usage_error(io, "train", "--model, --data and --out are required (or "
                                                "--resume RUN)");
    return -1;
}

/* The numbers parsed into the options. */
static void fill_options(train_args *a)
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

/* How progress reaches the user. */
typedef struct printer {
    FILE *out;
    bool tty;
    bool line_open; /* a line rewritten in place is showing */
} printer;

static void end_line(printer *p)
{
    if (p->line_open)
        fputc('\n', p->out);
    p->line_open = false;
}

/* On a terminal every batch rewrites one line; otherwise a line per tenth of an epoch. */
static bool show_batch(const printer *p, const ykd_train_event *e)
{
    if (p->tty)
        return true;
    if (e->kind == YKD_TRAIN_VAL_BATCH)
        return false;
    size_t step = e->batches >= 10 ? e->batches / 10 : 1;
    return e->batch % step == 0 || e->batch == e->batches;
}

static bool on_event(const ykd_train_event *e, void *user)
{
    printer *p = user;
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
        end_line(p);
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
    return true;
}

static void print_summary(ykd_cli_io *io, const ykd_trainer *t)
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

static int run_training(ykd_cli_globals *g, ykd_cli_io *io, train_args *a)
{
    ykd_device *device = NULL;
    int code = ykd_cli_open_device(g, io, "train", &device);
    if (code != YKD_EXIT_OK)
        return code;
    ykd_error err = {0};
    ykd_trainer *t = NULL;
    ykd_status st = a->resume ? ykd_trainer_resume(device, a->resume, (int)a->workers, &t, &err)
                              : ykd_trainer_open(device, &a->o, &t, &err);
    printer p = {io->out, isatty(fileno(io->out)) != 0, false};
    if (st == YKD_OK)
        st = ykd_trainer_run(t, on_event, &p, &err);
    end_line(&p);
    if (st == YKD_OK)
        print_summary(io, t);
    else
        fprintf(io->err, "yolokd train: %s\n", err.message);
    ykd_trainer_close(t);
    ykd_device_close(device);
    return st == YKD_OK ? YKD_EXIT_OK : YKD_EXIT_FAILURE;
}

int ykd_cmd_train(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    train_args a;
    memset(&a, 0, sizeof a);
    int code = parse_train_args(argc, argv, globals, io, &a);
    if (code >= 0)
        return code;
    fill_options(&a);
    return run_training(globals, io, &a);
}
