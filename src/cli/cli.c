/* Global options and dispatch to the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "yolokd/device.h"
#include "yolokd/status.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
    const char *summary;
} command;

static const command commands[] = {
    {"devices", ykd_cmd_devices, "list the OpenCL devices and which one a spec selects"},
    {"selftest", ykd_cmd_selftest, "build the kernels and check a small computation on a device"},
    {"check-data", ykd_cmd_check_data, "read and validate a dataset (no model, no device)"},
    {"convert", ykd_cmd_convert, "Pascal VOC, COCO or CSV annotations into the YOLO layout"},
    {"synth", ykd_cmd_synth, "write a synthetic shapes dataset in the YOLO layout"},
    {"info", ykd_cmd_info, "a model's layers, shapes, parameters, GFLOPs and memory"},
    {"train", ykd_cmd_train, "train a detector on a dataset, or resume a run"},
    {"distill", ykd_cmd_distill, "train a student from a teacher; no arguments: the demo"},
    {"val", ykd_cmd_val, "a model's precision, recall and COCO mAP on a dataset"},
    {"detect", ykd_cmd_detect, "detections on images: annotated PNGs and YOLO text files"},
    {"export", ykd_cmd_export, "a weights file to ONNX, decoded as Ultralytics exports it"},
    {"bench", ykd_cmd_bench, "benchmarks: ops, loader, loss, step (a training step)"},
};

static void print_help(FILE *f)
{
    fprintf(f,
            "yolokd %s: train YOLO detectors and distill a teacher into a student on OpenCL\n"
            "\n"
            "usage: yolokd [--device SPEC] COMMAND [OPTIONS]\n"
            "\n"
            "commands:\n",
            ykd_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "global options:\n"
            "  --device SPEC  the device to use: an index from 'yolokd devices' (0), a type\n"
            "                 (cpu, gpu, gpu:1), a vendor (nvidia, amd, intel, pocl:0), or part\n"
            "                 of a device name; default $YOLOKD_DEVICE, else the first GPU.\n"
            "                 Under mpirun: a comma-separated list, one per rank, or a type\n"
            "                 or vendor whose devices the ranks of a machine take in turn\n"
            "  --help, -h     this help; 'yolokd COMMAND --help' for a command's own\n"
            "  --version      print the version and the MPI library built in (or none)\n"
            "\n"
            "environment:\n"
            "  YOLOKD_DEVICE     the default device spec\n"
            "  YOLOKD_CACHE_DIR  where compiled kernels, GEMM choices and the demo's runs\n"
            "                    are kept ('off': no kernels or GEMM choices are kept, the\n"
            "                    demo works in ./yolokd-demo); default\n"
            "                    $XDG_CACHE_HOME/yolokd, else $HOME/.cache/yolokd\n"
            "  YOLOKD_GEMM       how GEMMs are chosen: auto (default: measured per shape),\n"
            "                    tiled, clblast, or a configuration such as tiled-6x2\n"
            "  YOLOKD_TIMING     'host': time benches and tuning by the host clock, not by\n"
            "                    OpenCL events (chosen by itself where events are unusable)\n"
            "  YOLOKD_PYTHON     the Python with onnxruntime that export --bench runs\n"
            "  YOLOKD_CHECK_SYNC 1: under mpirun, every rank hashes its parameters after\n"
            "                    every optimizer step; the run stops if any differ\n"
            "  YOLOKD_ALLREDUCE_OVERLAP 0: under mpirun, the gradients' all-reduce runs\n"
            "                    after the backward, not as it goes (same result)\n"
            "  YOLOKD_ALLREDUCE_BUCKET_KB  the all-reduce's bucket size (default 4096)\n"
            "  OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK, PMI_SIZE\n"
            "                    set by mpirun: yolokd then joins the run's ranks\n"
            "  OCL_ICD_VENDORS, RUSTICL_ENABLE, POCL_CACHE_DIR\n"
            "                    read to explain a device discovery that finds nothing: the\n"
            "                    ICD files, Mesa rusticl's devices (llvmpipe for its CPU\n"
            "                    device), PoCL's cache folder\n");
}

bool ykd_cli_option_value(int argc, char **argv, int *i, const char *name, const char **value,
                          bool *missing)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0)
        return false;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return true;
    }
    if (arg[len] != '\0')
        return false;
    if (*i + 1 >= argc) {
        *missing = true;
        return true;
    }
    *value = argv[++*i];
    return true;
}

bool ykd_cli_parse_int(ykd_cli_io *io, const char *command, const char *option,
                       const char *text, long long min, long long max, long long *value)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE || v < min || v > max) {
        ykd_cli_usage_error(io, command, "%s needs a whole number from %lld to %lld, not '%s'",
                            option, min, max, text);
        return false;
    }
    *value = v;
    return true;
}

int ykd_cli_usage_error(ykd_cli_io *io, const char *command, const char *fmt, ...)
{
    fprintf(io->err, "yolokd%s%s: ", command ? " " : "", command ? command : "");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(io->err, fmt, ap);
    va_end(ap);
    fprintf(io->err, "\n(see 'yolokd%s%s --help')\n", command ? " " : "", command ? command : "");
    return YKD_EXIT_USAGE;
}

int ykd_cli_open_device(const ykd_cli_globals *globals, ykd_cli_io *io, const char *command,
                        ykd_device **device)
{
    ykd_error err = {0};
    char spec[256], why[512];
    if (!ykd_cli_rank_device(globals->device, spec, sizeof spec, why, sizeof why))
        return ykd_cli_usage_error(io, command, "%s", why);
    bool per_rank = ykd_comm_size() > 1 || (globals->device && strchr(globals->device, ','));
    ykd_status st = ykd_device_open(per_rank ? spec : globals->device, NULL, device, &err);
    if (st == YKD_OK)
        return YKD_EXIT_OK;
    fprintf(io->err, "yolokd %s: %s\n", command, err.message);
    bool bad_spec = st == YKD_ERR_NOT_FOUND || st == YKD_ERR_AMBIGUOUS ||
                    st == YKD_ERR_INVALID_ARGUMENT;
    return bad_spec ? YKD_EXIT_USAGE : YKD_EXIT_FAILURE;
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int ykd_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    ykd_cli_io io = {out, err};
    ykd_cli_globals globals = {NULL};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *value = NULL;
        bool missing = false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(out);
            return YKD_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            const char *mpi = ykd_comm_library();
            fprintf(out, "yolokd %s\nMPI: %s\n", ykd_version(),
                    mpi ? mpi : "not built in (one process; meson setup -Dmpi=enabled with "
                                "libopenmpi-dev for mpirun)");
            return YKD_EXIT_OK;
        }
        if (ykd_cli_option_value(argc, argv, &i, "--device", &value, &missing)) {
            if (missing)
                return ykd_cli_usage_error(&io, NULL, "--device needs a device spec");
            globals.device = value;
            continue;
        }
        return ykd_cli_usage_error(&io, NULL, "unknown option '%s'", argv[i]);
    }
    if (i >= argc) {
        print_help(err);
        return YKD_EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        if (i + 1 < argc && find_command(argv[i + 1])) {
            char *help_argv[] = {argv[i + 1], "--help", NULL};
            return find_command(argv[i + 1])->run(2, help_argv, &globals, &io);
        }
        print_help(out);
        return YKD_EXIT_OK;
    }
    const command *cmd = find_command(argv[i]);
    if (!cmd)
        return ykd_cli_usage_error(&io, NULL, "unknown command '%s'", argv[i]);
    return cmd->run(argc - i, argv + i, &globals, &io);
}
