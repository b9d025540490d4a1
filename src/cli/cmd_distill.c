/* yolokd distill: trains a student with distillation from a teacher, each on a device of its
 * own; with no arguments, the demo (cmd_distill_demo.c). */
#include <string.h>

#include "cli/train_cli.h"
#include "core/comm.h"
#include "yolokd/distill.h"

static void print_distill_help(FILE *f)
{
    fprintf(f,
            "usage: yolokd distill --teacher W --student n|..|x|yolo11n|..|FILE --data DIR\n"
            "                      --out RUN\n"
            "                      [--teacher-device D1] [--student-device D2] [--kd CONFIG]\n"
            "                      [--student-weights W] [--teacher-cache DIR] [--no-overlap]\n"
            "                      [training options]\n"
            "       yolokd distill --resume RUN [--teacher W] [--teacher-device D1]\n"
            "                      [--student-device D2] [--workers N]\n"
            "       yolokd distill          (no arguments: the demo)\n"
            "\n"
            "Trains the student as 'yolokd train' does, adding the distillation losses of the KD\n"
            "config (default: logit KD on the class scores and LD on the box distributions)\n"
            "against the teacher: a frozen model file run in inference mode on its own device,\n"
            "whose forward overlaps the student's. Teacher and student must share their classes\n"
            "and strides. RUN receives what 'yolokd train' writes; the student's weights are an\n"
            "ordinary model file (the KD adapters are not in it).\n"
            "\n"
            "  --teacher W           the teacher's model file (e.g. a train run's best.safetensors)\n"
            "  --student M           the student: a built-in model (n..x, yolo11n..yolo11x), a\n"
            "                        .json description or a .safetensors model file\n"
            "  --student-weights W   initial weights for the student\n"
            "  --teacher-device D1   the teacher's device (default: the global --device or the\n"
            "                        default device); D2 the student's likewise\n"
            "  --kd CONFIG           the KD config (JSON; README 'Distillation losses')\n"
            "  --teacher-cache DIR   offline distillation: the teacher's tensors of each epoch\n"
            "                        are stored in DIR (fp16) the first time, and replayed from\n"
            "                        it by later runs of the same teacher, dataset, seed, epochs,\n"
            "                        batch, image size and augmentations (another KD config is\n"
            "                        fine), which then need no --teacher; a cache made for\n"
            "                        anything else is refused\n"
            "  --no-overlap          run the teacher's forward before the student's, not beside\n"
            "  --resume RUN          continue RUN where its last finished epoch left it, bit for\n"
            "                        bit (the KD adapters and their optimizer state are in its\n"
            "                        state); its own options, teacher, cache and KD config; only\n"
            "                        the devices, --workers and --teacher (the same file, moved)\n"
            "                        apply\n"
            "\n"
            "The training options are those of 'yolokd train' (--epochs, --batch, --imgsz,\n"
            "--optimizer, --lr0, --seed, --workers, --close-mosaic, --cos, ...; see\n"
            "'yolokd train --help').\n");
}

typedef struct distill_args {
    ykd_train_args t;
    ykd_distill_options d;
    const char *teacher_device, *student_device, *resume;
    bool no_overlap;
} distill_args;

static int parse_distill_args(int argc, char **argv, ykd_cli_globals *g, ykd_cli_io *io,
                              distill_args *a)
{
    ykd_train_args_init(&a->t);
    ykd_distill_options_default(&a->d);
    a->teacher_device = a->student_device = g->device;
    ykd_cli_opt opts[YKD_TRAIN_OPTION_ROWS + 9] = {
        {"--teacher", YKD_OPT_STRING, &a->d.teacher, 0, 0},
        {"--student", YKD_OPT_STRING, &a->t.o.model, 0, 0},
        {"--student-weights", YKD_OPT_STRING, &a->t.o.weights, 0, 0},
        {"--teacher-device", YKD_OPT_STRING, &a->teacher_device, 0, 0},
        {"--student-device", YKD_OPT_STRING, &a->student_device, 0, 0},
        {"--kd", YKD_OPT_STRING, &a->d.kd_config, 0, 0},
        {"--teacher-cache", YKD_OPT_STRING, &a->d.teacher_cache, 0, 0},
        {"--no-overlap", YKD_OPT_FLAG, &a->no_overlap, 0, 0},
        {"--resume", YKD_OPT_STRING, &a->resume, 0, 0},
    };
    size_t count = 9 + ykd_train_option_rows(&a->t, opts + 9);
    int code = ykd_cli_parse_options(argc, argv, io, "distill", opts, count, print_distill_help);
    if (code < 0)
        code = ykd_train_args_finish(io, "distill", &a->t);
    if (code >= 0 || a->resume)
        return code;
    if ((!a->d.teacher && !a->d.teacher_cache) || !a->t.o.model || !a->t.o.data || !a->t.o.out)
        return ykd_cli_usage_error(io, "distill",
                                   "--teacher (or --teacher-cache), --student, --data and --out "
                                   "are required (or no arguments at all for the demo)");
    a->d.train = a->t.o;
    a->d.overlap = !a->no_overlap;
    return -1;
}

static int open_devices(ykd_cli_io *io, const distill_args *a, ykd_device **teacher,
                        ykd_device **student)
{
    ykd_cli_globals tg = {a->teacher_device}, sg = {a->student_device};
    int code = ykd_cli_open_device(&tg, io, "distill", teacher);
    if (code == YKD_EXIT_OK)
        code = ykd_cli_open_device(&sg, io, "distill", student);
    return code;
}

static void print_teacher_times(ykd_cli_io *io, const ykd_distiller *d)
{
    double forward_ms = 0, waited_ms = 0;
    ykd_distiller_teacher_times(d, &forward_ms, &waited_ms);
    fprintf(io->out, "teacher: %.1f s of forwards (or cache reads), %.1f s of them waited for "
                     "(%.0f%% hidden by the overlap)\n",
            forward_ms / 1000, waited_ms / 1000,
            forward_ms > 0 ? 100.0 * (1.0 - waited_ms / forward_ms) : 0.0);
}

int ykd_cmd_distill(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    if (argc == 1)
        return ykd_cmd_distill_demo(globals, io);
    distill_args a;
    memset(&a, 0, sizeof a);
    int code = parse_distill_args(argc, argv, globals, io, &a);
    if (code >= 0)
        return code;
    ykd_device *teacher_device = NULL, *student_device = NULL;
    code = open_devices(io, &a, &teacher_device, &student_device);
    ykd_error err = {0};
    ykd_distiller *d = NULL;
    ykd_status st = YKD_ERR_INVALID_ARGUMENT;
    if (code == YKD_EXIT_OK) {
        st = a.resume ? ykd_distiller_resume(student_device, teacher_device, a.resume,
                                             a.d.teacher, (int)a.t.workers, &d, &err)
                      : ykd_distiller_open(student_device, teacher_device, &a.d, &d, &err);
        ykd_train_printer p;
        ykd_train_printer_init(&p, io->out);
        if (st == YKD_OK)
            st = ykd_distiller_run(d, ykd_train_printer_event, &p, &err);
        ykd_train_printer_end(&p);
        if (st == YKD_OK) {
            ykd_train_print_summary(io, ykd_distiller_trainer(d));
            if (ykd_comm_rank() == 0) /* rank 0 reports for every rank */
                print_teacher_times(io, d);
        } else {
            fprintf(io->err, "yolokd distill: %s\n", err.message);
            code = YKD_EXIT_FAILURE;
        }
    }
    ykd_distiller_close(d);
    ykd_device_close(student_device);
    ykd_device_close(teacher_device);
    return code;
}
