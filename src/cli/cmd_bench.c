/* yolokd bench: the benchmarks in tools/, by name. */
#include <string.h>

#include "bench.h"
#include "cli/cli.h"

static void print_bench_help(FILE *f)
{
    fprintf(f, "usage: yolokd bench ops [OPTIONS]\n"
               "\n"
               "  ops   every op, forward and backward, on YOLOv8 layer shapes\n"
               "\n"
               "'yolokd bench ops --help' lists its options; results belong in BENCHMARKS.md.\n");
}

int ykd_cmd_bench(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_bench_help(argc < 2 ? io->err : io->out);
        return argc < 2 ? YKD_EXIT_USAGE : YKD_EXIT_OK;
    }
    if (strcmp(argv[1], "ops") == 0)
        return ykd_bench_ops_main(argc - 1, argv + 1, globals->device, io->out, io->err);
    return ykd_cli_usage_error(io, "bench", "unknown benchmark '%s'", argv[1]);
}
