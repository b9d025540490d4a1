/* yolokd train: trains a detector on a dataset, or resumes a run; prints the trainer's
 * progress (rewritten in place on a terminal, plain lines otherwise). */
#include <string.h>

#include "cli/train_cli.h"

static void print_train_help(FILE *f)
{
    ykd_train_options d;
    ykd_train_options_default(&d);
    fprintf(f,
            "usage: yolokd train --model n|..|x|yolo11n|..|FILE --data DIR --out RUN [--device D]\n"
            "                    [--weights W] [--epochs N] [--batch B] [--imgsz S]\n"
            "                    [--optimizer auto|sgd|adamw] [--lr0 LR] [--seed K] [--workers N]\n"
            "                    [--close-mosaic N] [--cos|--linear] [--nbs N] ...\n"
            "       yolokd train --resume RUN [--device D] [--workers N]\n"
            "\n"
            "Trains a YOLOv8 or YOLO11 detector as Ultralytics does (SGD with Nesterov momentum,\n"
            "warm-up, linear or cosine LR decay, EMA of the weights, mosaic augmentation) and\n"
            "validates the EMA weights after every epoch. RUN receives last.safetensors and\n"
            "best.safetensors (ordinary model files: yolokd val, detect, info), the resumable\n"
            "last.state.safetensors, metrics.csv, metrics.jsonl, curves.png and args.json.\n"
            "\n"
            "  --model M          a built-in model (n..x for YOLOv8, yolo11n..yolo11x), a .json\n"
            "                     description, or a .safetensors model file (its weights too,\n"
            "                     unless --weights)\n"
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
            "  --sync-bn          under mpirun: BN statistics over every rank's images (as\n"
            "                     one process with the whole batch); default each rank's own\n"
            "  --strict           stop at the first bad image or label line (default: leave\n"
            "                     them out, each named before the first epoch as check-data\n"
            "                     names it, and counted in every epoch's summary)\n"
            "  --resume RUN       continue RUN where its last finished epoch left it, bit for\n"
            "                     bit (its own options; only --device and --workers apply)\n"
            "\n"
            "Under mpirun -np K: K processes (ranks), one device each (--device A,B,.. one per\n"
            "rank, or a type such as gpu: the ranks of a machine take its devices in turn);\n"
            "--batch is the global batch, split over the ranks; gradients are averaged over\n"
            "them; rank 0 validates, writes RUN and prints. --resume needs the same K.\n",
            d.epochs, d.batch, d.imgsz, d.lrf, d.momentum, d.weight_decay, d.nbs, d.warmup_epochs,
            d.close_mosaic, (unsigned long long)d.seed, d.workers);
}

typedef struct train_args {
    ykd_train_args t;
    const char *resume;
} train_args;

static int parse_train_args(int argc, char **argv, ykd_cli_globals *g, ykd_cli_io *io,
                            train_args *a)
{
    ykd_train_args_init(&a->t);
    ykd_cli_opt opts[YKD_TRAIN_OPTION_ROWS + 3] = {
        {"--model", YKD_OPT_STRING, &a->t.o.model, 0, 0},
        {"--device", YKD_OPT_STRING, &g->device, 0, 0},
        {"--resume", YKD_OPT_STRING, &a->resume, 0, 0},
    };
    size_t count = 3 + ykd_train_option_rows(&a->t, opts + 3);
    int code = ykd_cli_parse_options(argc, argv, io, "train", opts, count, print_train_help);
    if (code < 0)
        code = ykd_train_args_finish(io, "train", &a->t);
    if (code >= 0 || a->resume)
        return code;
    if (!a->t.o.model || !a->t.o.data || !a->t.o.out)
        return ykd_cli_usage_error(io, "train", "--model, --data and --out are required (or "
                                                "--resume RUN)");
    return -1;
}

static int run_training(ykd_cli_globals *g, ykd_cli_io *io, train_args *a)
{
    ykd_device *device = NULL;
    int code = ykd_cli_open_device(g, io, "train", &device);
    if (code != YKD_EXIT_OK)
        return code;
    ykd_error err = {0};
    ykd_trainer *t = NULL;
    ykd_status st = a->resume
                        ? ykd_trainer_resume(device, a->resume, (int)a->t.workers, &t, &err)
                        : ykd_trainer_open(device, &a->t.o, &t, &err);
    ykd_train_printer p;
    ykd_train_printer_init(&p, io->out);
    if (st == YKD_OK)
        st = ykd_trainer_run(t, ykd_train_printer_event, &p, &err);
    ykd_train_printer_end(&p);
    if (st == YKD_OK)
        ykd_train_print_summary(io, t);
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
    return run_training(globals, io, &a);
}
