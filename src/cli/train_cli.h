/* What `yolokd train` and `yolokd distill` share: the training options on the command line,
 * and the progress printer. */
#ifndef YKD_TRAIN_CLI_H
#define YKD_TRAIN_CLI_H

#include "cli/cli.h"
#include "yolokd/train.h"

typedef struct ykd_train_args {
    ykd_train_options o;
    const char *optimizer;
    long long epochs, batch, imgsz, workers, seed, close_mosaic, nbs;
    double lr0, lrf, momentum, weight_decay, warmup_epochs;
    bool cos, linear, no_augment, no_val, exist_ok;
} ykd_train_args;

enum { YKD_TRAIN_OPTION_ROWS = 24 };

/* The defaults, as ykd_train_options_default has them. */
void ykd_train_args_init(ykd_train_args *args);

/* The option rows of the training options both commands take (--data, --out, --weights,
 * --epochs ... --exist-ok; not --model, --device or --resume, which differ); returns how many
 * were written into rows (at most YKD_TRAIN_OPTION_ROWS). */
size_t ykd_train_option_rows(ykd_train_args *args, ykd_cli_opt *rows);

/* After parsing: refuses contradictions (--cos with --linear, an unknown --optimizer) and
 * puts the numbers into args->o. Returns -1 when fine, else the exit code. */
int ykd_train_args_finish(ykd_cli_io *io, const char *command, ykd_train_args *args);

/* The trainer's progress: rewritten in place on a terminal, plain lines otherwise. */
typedef struct ykd_train_printer {
    FILE *out;
    bool tty;
    bool line_open; /* a line rewritten in place is showing */
} ykd_train_printer;

void ykd_train_printer_init(ykd_train_printer *printer, FILE *out);
bool ykd_train_printer_event(const ykd_train_event *event, void *printer);
void ykd_train_printer_end(ykd_train_printer *printer);

/* "30 epochs done; best epoch 28: mAP50 ...; weights RUN/best.safetensors". */
void ykd_train_print_summary(ykd_cli_io *io, const ykd_trainer *trainer);

#endif
