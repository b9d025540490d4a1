/* The yolokd command: global options, the subcommand table, and shared helpers. */
#ifndef YKD_CLI_H
#define YKD_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "yolokd/device.h"

/* Exit codes (DESIGN.md §1). */
enum { YKD_EXIT_OK = 0, YKD_EXIT_FAILURE = 1, YKD_EXIT_USAGE = 2 };

/* Options given before the subcommand, shared by all of them. */
typedef struct ykd_cli_globals {
    const char *device; /* --device SPEC; NULL means $YOLOKD_DEVICE or auto */
} ykd_cli_globals;

typedef struct ykd_cli_io {
    FILE *out; /* results */
    FILE *err; /* errors and diagnostics */
} ykd_cli_io;

/* Runs the command line as `yolokd` would and returns the exit code. */
int ykd_cli_main(int argc, char **argv, FILE *out, FILE *err);

/* Subcommands: argv[0] is the subcommand's name. */
int ykd_cmd_devices(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_selftest(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_check_data(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_convert(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_synth(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_bench(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_distill(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
/* yolokd distill with no arguments (cmd_distill_demo.c). */
int ykd_cmd_distill_demo(ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_info(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_train(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_val(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_export(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);
int ykd_cmd_detect(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io);

/* Takes "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past what it used. Returns
 * false when argv[*i] is not this option. A missing value sets *missing. */
bool ykd_cli_option_value(int argc, char **argv, int *i, const char *name, const char **value,
                          bool *missing);

/* Parses an option's value as a whole number in [min, max]; on failure prints a usage error
 * naming the option and returns false. */
bool ykd_cli_parse_int(ykd_cli_io *io, const char *command, const char *option,
                       const char *text, long long min, long long max, long long *value);

/* An option of a table-driven command line (ykd_cli_parse_options). */
typedef enum ykd_cli_opt_type {
    YKD_OPT_STRING, /* value: const char ** */
    YKD_OPT_INT,    /* value: long long *, in [min, max] */
    YKD_OPT_DOUBLE, /* value: double *, finite, in [min, max] */
    YKD_OPT_FLAG    /* value: bool *, set true (false when max is 1: a flag that clears) */
} ykd_cli_opt_type;

typedef struct ykd_cli_opt {
    const char *name; /* "--epochs" */
    ykd_cli_opt_type type;
    void *value;
    double min, max;
} ykd_cli_opt;

/* ykd_cli_parse_options (below) over every row of the array opts (an array, not a pointer). */
#define YKD_CLI_PARSE_OPTIONS(argc, argv, io, command, opts, help)                                \
    ykd_cli_parse_options((argc), (argv), (io), (command), (opts),                                \
                          sizeof(opts) / sizeof((opts)[0]), (help))

/* Parses argv[1 ..] against the rows (no positional arguments); --help prints help to out.
 * Returns -1 when every argument was fine, else the exit code to return. */
int ykd_cli_parse_options(int argc, char **argv, ykd_cli_io *io, const char *command,
                          const ykd_cli_opt *opts, size_t count, void (*help)(FILE *));

/* The device spec this rank of a data-parallel run opens (rank_device.c), from a spec (NULL:
 * $YOLOKD_DEVICE, else auto): a comma-separated list's item for the rank, a type or vendor's
 * device for the rank's place on its machine. False (why written) for a list whose length is
 * not the rank count. */
bool ykd_cli_rank_device(const char *spec, char *buf, size_t size, char *why, size_t why_size);

/* Opens the device the globals name (or the default). On failure prints why and returns the
 * exit code: YKD_EXIT_USAGE when the spec names no device, YKD_EXIT_FAILURE otherwise. */
int ykd_cli_open_device(const ykd_cli_globals *globals, ykd_cli_io *io, const char *command,
                        ykd_device **device);

/* Prints "yolokd <command>: <message>" and the hint to ask for --help; returns YKD_EXIT_USAGE. */
int ykd_cli_usage_error(ykd_cli_io *io, const char *command, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
