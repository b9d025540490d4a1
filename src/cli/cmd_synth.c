/* yolokd synth: writes the synthetic shapes dataset. */
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "yolokd/data.h"

static void print_synth_help(FILE *f)
{
    ykd_synth_options d;
    ykd_synth_options_default(&d);
    fprintf(f,
            "usage: yolokd synth --out DIR [--images N] [--val N] [--imgsz S] [--classes C]\n"
            "                    [--seed K]\n"
            "\n"
            "Writes a synthetic detection dataset in the YOLO layout (images/{train,val}/*.png,\n"
            "labels/{train,val}/*.txt, data.json): shapes of C classes (circle, square,\n"
            "triangle, star, cross, ring, diamond, hexagon) in random colours and sizes, on\n"
            "textured noisy backgrounds, overlapping, with unlabelled distractor shapes. The\n"
            "same options give byte-identical files. DIR must not exist (or be empty); the\n"
            "dataset is built beside it and renamed into place when complete.\n"
            "\n"
            "  --out DIR     the dataset folder to create\n"
            "  --images N    training images (default %d)\n"
            "  --val N       validation images (default %d)\n"
            "  --imgsz S     image side in pixels (default %d)\n"
            "  --classes C   shape classes, 1 to %d (default %d)\n"
            "  --seed K      random seed (default %llu)\n",
            d.train_images, d.val_images, d.image_size, YKD_SYNTH_MAX_CLASSES, d.classes,
            (unsigned long long)d.seed);
}

typedef struct int_option {
    const char *name;
    long long min, max;
    long long *value;
} int_option;

/* Returns -1 when the arguments are fine, else the exit code. */
static int parse_synth_args(int argc, char **argv, ykd_cli_io *io, const char **out,
                            const int_option *ints, size_t int_count)
{
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false, matched = false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_synth_help(io->out);
            return YKD_EXIT_OK;
        }
        if (ykd_cli_option_value(argc, argv, &i, "--out", &value, &missing)) {
            if (missing)
                return ykd_cli_usage_error(io, "synth", "--out needs a folder");
            *out = value;
            continue;
        }
        for (size_t k = 0; k < int_count && !matched; k++) {
            if (!ykd_cli_option_value(argc, argv, &i, ints[k].name, &value, &missing))
                continue;
            matched = true;
            if (missing)
                return ykd_cli_usage_error(io, "synth", "%s needs a number", ints[k].name);
            if (!ykd_cli_parse_int(io, "synth", ints[k].name, value, ints[k].min, ints[k].max,
                                   ints[k].value))
                return YKD_EXIT_USAGE;
        }
        if (!matched)
            return ykd_cli_usage_error(io, "synth", "unknown argument '%s'", argv[i]);
    }
    if (!*out)
        return ykd_cli_usage_error(io, "synth", "--out DIR is required");
    return -1;
}

int ykd_cmd_synth(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    (void)globals;
    ykd_synth_options o;
    ykd_synth_options_default(&o);
    long long train = o.train_images, val = o.val_images, size = o.image_size;
    long long classes = o.classes, seed = (long long)o.seed;
    const int_option ints[] = {
        {"--images", 1, 10000000, &train},
        {"--val", 1, 10000000, &val},
        {"--imgsz", 32, 4096, &size},
        {"--classes", 1, YKD_SYNTH_MAX_CLASSES, &classes},
        {"--seed", 0, (long long)(~0ULL >> 1), &seed},
    };
    const char *out = NULL;
    int code = parse_synth_args(argc, argv, io, &out, ints, sizeof ints / sizeof ints[0]);
    if (code >= 0)
        return code;
    o.train_images = (int)train;
    o.val_images = (int)val;
    o.image_size = (int)size;
    o.classes = (int)classes;
    o.seed = (uint64_t)seed;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ykd_error err = {0};
    if (ykd_synth_write(out, &o, &err) != YKD_OK) {
        fprintf(io->err, "yolokd synth: %s\n", err.message);
        return YKD_EXIT_FAILURE;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(io->out, "wrote %s: %d train + %d val images of %dx%d, %d classes (", out,
            o.train_images, o.val_images, o.image_size, o.image_size, o.classes);
    for (int c = 0; c < o.classes; c++)
        fprintf(io->out, "%s%s", c ? ", " : "", ykd_synth_class_name(c));
    fprintf(io->out, "), seed %llu, in %.1f s\n", (unsigned long long)o.seed, seconds);
    return YKD_EXIT_OK;
}
