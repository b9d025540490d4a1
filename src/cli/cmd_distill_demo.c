/* yolokd distill with no arguments: the demo (DESIGN.md §1). In a folder of the cache it makes
 * the synthetic dataset, trains the built-in teacher (YOLOv8s), trains the built-in student
 * (YOLOv8n) alone, distills the student from the teacher, and prints the three side by side.
 * Each finished part is kept and reused by the next demo; an interrupted training resumes.
 * The sizes are chosen for a 2-core CPU to finish in well under 15 minutes. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/train_cli.h"
#include "core/fs.h"
#include "yolokd/distill.h"

/* The demo's sizes. */
enum {
    DEMO_IMGSZ = 160,
    DEMO_TRAIN_IMAGES = 240,
    DEMO_VAL_IMAGES = 60,
    DEMO_CLASSES = 6,
    DEMO_BATCH = 8,
    DEMO_TEACHER_EPOCHS = 18,
    DEMO_STUDENT_EPOCHS = 14,
};

typedef struct demo {
    ykd_cli_io *io;
    const char *device;
    char base[4096];
    char data[4200];
    char runs[3][4200]; /* teacher, student alone, student distilled */
} demo;

static const char *const run_names[3] = {"teacher", "student", "distilled"};
static const char *const run_titles[3] = {"teacher (YOLOv8s)", "student alone (YOLOv8n)",
                                          "student distilled (YOLOv8n)"};

static bool exists(const char *folder, const char *file)
{
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", folder, file);
    struct stat st;
    return stat(path, &st) == 0;
}

/* The demo's folder: <cache>/demo, or ./yolokd-demo when the cache is off. */
static void demo_paths(demo *d)
{
    char cache[4000];
    ykd_cache_dir_resolve(getenv("YOLOKD_CACHE_DIR"), getenv("XDG_CACHE_HOME"), getenv("HOME"),
                          cache, sizeof cache);
    if (cache[0])
        snprintf(d->base, sizeof d->base, "%s/demo", cache);
    else
        snprintf(d->base, sizeof d->base, "yolokd-demo");
    snprintf(d->data, sizeof d->data, "%s/shapes", d->base);
    for (int i = 0; i < 3; i++)
        snprintf(d->runs[i], sizeof d->runs[i], "%s/%s", d->base, run_names[i]);
}

static ykd_status make_dataset(demo *d, ykd_error *err)
{
    if (exists(d->data, "data.json"))
        return YKD_OK;
    ykd_synth_options o;
    ykd_synth_options_default(&o);
    o.train_images = DEMO_TRAIN_IMAGES, o.val_images = DEMO_VAL_IMAGES;
    o.image_size = DEMO_IMGSZ, o.classes = DEMO_CLASSES;
    fprintf(d->io->out, "demo: writing the synthetic dataset (%d + %d images of %d pixels) to %s\n",
            o.train_images, o.val_images, o.image_size, d->data);
    ykd_status st = ykd_mkdir_p(d->base, err);
    return st == YKD_OK ? ykd_synth_write(d->data, &o, err) : st;
}

/* The training options every part of the demo shares. */
static void demo_train_options(const demo *d, int which, const char *model, int epochs,
                               ykd_train_options *o)
{
    ykd_train_options_default(o);
    o->model = model;
    o->data = d->data;
    o->out = d->runs[which];
    o->exist_ok = true;
    o->epochs = epochs;
    o->batch = DEMO_BATCH;
    o->imgsz = DEMO_IMGSZ;
    o->nbs = DEMO_BATCH; /* an optimizer step per batch: a short run needs them */
    /* "auto" picks AdamW at lr0 0.001 for nc=6; in the demo's 420 steps lr0 0.003 gives the
     * student nearly three times the mAP50-95 (0.113 against 0.041; 0.006: 0.081, 0.012:
     * 0.069) */
    o->optimizer = YKD_OPTIMIZER_ADAMW;
    o->lr0 = 0.003;
    o->close_mosaic = 2;
    o->warmup_epochs = 1;
}

/* Marks a part finished, so later demos reuse it. */
static ykd_status mark_done(const char *run, ykd_error *err)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/demo-done", run);
    const void *parts[] = {"done\n"};
    size_t sizes[] = {5};
    return ykd_file_write_atomic(path, parts, sizes, 1, err);
}

/* Trains part `which` (teacher or student alone), resuming an interrupted run. */
static ykd_status train_part(demo *d, ykd_device *device, int which, const char *model,
                             int epochs, ykd_error *err)
{
    if (exists(d->runs[which], "demo-done"))
        return YKD_OK;
    fprintf(d->io->out, "demo: training the %s in %s\n", run_titles[which], d->runs[which]);
    ykd_trainer *t = NULL;
    ykd_status st;
    if (exists(d->runs[which], "last.state.safetensors")) {
        st = ykd_trainer_resume(device, d->runs[which], -1, &t, err);
    } else {
        ykd_train_options o;
        demo_train_options(d, which, model, epochs, &o);
        st = ykd_trainer_open(device, &o, &t, err);
    }
    ykd_train_printer p;
    ykd_train_printer_init(&p, d->io->out);
    if (st == YKD_OK)
        st = ykd_trainer_run(t, ykd_train_printer_event, &p, err);
    ykd_train_printer_end(&p);
    ykd_trainer_close(t);
    return st == YKD_OK ? mark_done(d->runs[which], err) : st;
}

static ykd_status distill_part(demo *d, ykd_device *student, ykd_device *teacher,
                               ykd_error *err)
{
    if (exists(d->runs[2], "demo-done"))
        return YKD_OK;
    fprintf(d->io->out, "demo: distilling the student from the teacher in %s\n", d->runs[2]);
    char teacher_path[4300];
    snprintf(teacher_path, sizeof teacher_path, "%s/best.safetensors", d->runs[0]);
    ykd_distill_options o;
    ykd_distill_options_default(&o);
    demo_train_options(d, 2, "n", DEMO_STUDENT_EPOCHS, &o.train);
    o.teacher = teacher_path;
    ykd_distiller *dist = NULL;
    ykd_status st = ykd_distiller_open(student, teacher, &o, &dist, err);
    ykd_train_printer p;
    ykd_train_printer_init(&p, d->io->out);
    if (st == YKD_OK)
        st = ykd_distiller_run(dist, ykd_train_printer_event, &p, err);
    ykd_train_printer_end(&p);
    ykd_distiller_close(dist);
    return st == YKD_OK ? mark_done(d->runs[2], err) : st;
}

typedef struct demo_row {
    double map50, map50_95, images_per_s, gflops;
    size_t params;
} demo_row;

/* Validates part `which`'s best weights on the validation split, twice: the second pass gives
 * the row, its images/s that of a warm device (the first pass loads the kernels, which a demo
 * resumed from its finished runs had not loaded yet; both passes compute the same figures). */
static ykd_status measure(demo *d, ykd_device *device, const ykd_dataset *val, int which,
                          demo_row *row, ykd_error *err)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/best.safetensors", d->runs[which]);
    ykd_model *model = NULL;
    ykd_validator *v = NULL;
    ykd_val_options vo;
    ykd_val_options_default(&vo);
    vo.imgsz = DEMO_IMGSZ, vo.batch = DEMO_BATCH, vo.losses = false;
    ykd_val_result r;
    memset(&r, 0, sizeof r);
    ykd_status st = ykd_model_load(device, path, &model, err);
    if (st == YKD_OK)
        st = ykd_validator_open(device, val, &vo, &v, err);
    if (st == YKD_OK)
        st = ykd_validator_run(v, model, NULL, NULL, &r, err);
    if (st == YKD_OK) {
        ykd_val_result_free(&r);
        st = ykd_validator_run(v, model, NULL, NULL, &r, err);
    }
    if (st == YKD_OK) {
        const ykd_model_desc *desc = ykd_model_get_desc(model);
        *row = (demo_row){r.eval.map50, r.eval.map50_95, r.images_per_s,
                          ykd_model_desc_gflops(desc, DEMO_IMGSZ),
                          ykd_model_desc_param_count(desc)};
    }
    ykd_val_result_free(&r);
    ykd_validator_close(v);
    ykd_model_free(model);
    return st;
}

static void print_table(demo *d, const demo_row rows[3])
{
    FILE *out = d->io->out;
    fprintf(out, "\n%-28s %10s %8s %8s %10s %9s\n", "", "params", "GFLOPs", "mAP50", "mAP50-95",
            "images/s");
    for (int i = 0; i < 3; i++)
        fprintf(out, "%-28s %10zu %8.2f %8.4f %10.4f %9.1f\n", run_titles[i], rows[i].params,
                rows[i].gflops, rows[i].map50, rows[i].map50_95, rows[i].images_per_s);
    double gap = rows[0].map50_95 - rows[1].map50_95;
    double gained = rows[2].map50_95 - rows[1].map50_95;
    fprintf(out, "\nmAP50-95 at %dx%d on %d validation images; images/s of validation "
                 "(inference and post-processing) on this device.\n",
            DEMO_IMGSZ, DEMO_IMGSZ, DEMO_VAL_IMAGES);
    if (gap > 0 && gained > gap)
        fprintf(out, "the distilled student passed its teacher (%+.4f mAP50-95 over it, "
                     "%+.4f over the student alone, which the teacher led by %.4f).\n",
                gained - gap, gained, gap);
    else if (gap > 0 && gained >= 0)
        fprintf(out, "distillation recovered %.0f%% of the teacher-student gap (%+.4f of "
                     "%.4f mAP50-95).\n",
                100.0 * gained / gap, gained, gap);
    else if (gap > 0)
        fprintf(out, "the distilled student fell %.4f mAP50-95 behind the student alone "
                     "(which the teacher led by %.4f).\n",
                -gained, gap);
    else { /* a teacher no better than the student alone leaves little to distil */
        fprintf(out, "the student alone reached its teacher here (%+.4f mAP50-95 over it); ",
                -gap);
        if (gained >= 0)
            fprintf(out, "the distilled student gained %.4f over it.\n", gained);
        else
            fprintf(out, "the distilled student fell %.4f behind it.\n", -gained);
    }
    fprintf(out, "The runs are kept in %s (delete it to start over).\n", d->base);
}

int ykd_cmd_distill_demo(ykd_cli_globals *globals, ykd_cli_io *io)
{
    demo d = {.io = io, .device = globals->device};
    demo_paths(&d);
    ykd_device *student = NULL, *teacher = NULL;
    int code = ykd_cli_open_device(globals, io, "distill", &student);
    if (code == YKD_EXIT_OK)
        code = ykd_cli_open_device(globals, io, "distill", &teacher);
    if (code != YKD_EXIT_OK) {
        ykd_device_close(student);
        return code;
    }
    const ykd_device_info *info = ykd_device_get_info(student);
    fprintf(io->out, "yolokd distill demo on device %d (%s), in %s\n", info->index, info->name,
            d.base);
    ykd_error err = {0};
    ykd_dataset *val = NULL;
    demo_row rows[3];
    ykd_status st = make_dataset(&d, &err);
    if (st == YKD_OK)
        st = train_part(&d, student, 0, "s", DEMO_TEACHER_EPOCHS, &err);
    if (st == YKD_OK)
        st = train_part(&d, student, 1, "n", DEMO_STUDENT_EPOCHS, &err);
    if (st == YKD_OK)
        st = distill_part(&d, student, teacher, &err);
    if (st == YKD_OK)
        st = ykd_dataset_open(d.data, YKD_SPLIT_VAL, NULL, &val, &err);
    for (int i = 0; i < 3 && st == YKD_OK; i++)
        st = measure(&d, student, val, i, &rows[i], &err);
    if (st == YKD_OK)
        print_table(&d, rows);
    else
        fprintf(io->err, "yolokd distill (demo): %s\n", err.message);
    ykd_dataset_close(val);
    ykd_device_close(teacher);
    ykd_device_close(student);
    return st == YKD_OK ? YKD_EXIT_OK : YKD_EXIT_FAILURE;
}
