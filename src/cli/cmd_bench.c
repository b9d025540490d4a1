/* yolokd bench WHAT: runs one benchmark from tools/. Each benchmark is a row in the table
 * below; it takes the remaining arguments (argv[0] is its name). */
#include <string.h>

#include "bench.h"
#include "cli/cli.h"

typedef struct bench {
    const char *name;
    int (*run)(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
    const char *summary;
} bench;

static const bench benches[] = {
    {"ops", ykd_bench_ops, "every op, forward and backward, on YOLOv8 layer shapes"},
    {"loader", ykd_bench_loader, "images/s of the data loader alone (decode + augment)"},
    {"loss", ykd_bench_loss, "the detection loss, forward and backward, at training shapes"},
    {"step", ykd_bench_step, "a whole training step (forward, loss, backward, optimizer, EMA)"},
    {"kd", ykd_bench_kd, "each distillation loss with its gradients, next to a training step"},
};

static void print_bench_help(FILE *f)
{
    fprintf(f, "usage: yolokd bench WHAT [OPTIONS]\n\nbenchmarks:\n");
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].summary);
    fprintf(f, "\n'yolokd bench WHAT --help' for a benchmark's options.\n");
}

int ykd_cmd_bench(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    if (argc < 2) {
        print_bench_help(io->err);
        return YKD_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_bench_help(io->out);
        return YKD_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (strcmp(argv[1], benches[i].name) == 0)
            return benches[i].run(argc - 1, argv + 1, globals, io);
    return ykd_cli_usage_error(io, "bench", "unknown benchmark '%s'", argv[1]);
}
