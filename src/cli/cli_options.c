/* Table-driven option parsing for the commands with many options (train, val, detect): each
 * option is a row naming its type, where its value goes and, for numbers, its range. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static bool parse_double(const char *text, double *v)
{
    char *end = NULL;
    errno = 0;
    *v = strtod(text, &end);
    return end != text && *end == '\0' && errno != ERANGE && isfinite(*v);
}

/* The value of a row's option; false (and a usage message) when it is malformed. */
static bool take_value(const ykd_cli_opt *o, const char *text, ykd_cli_io *io,
                       const char *command)
{
    double v = 0.0;
    switch (o->type) {
    case YKD_OPT_STRING:
        *(const char **)o->value = text;
        return true;
    case YKD_OPT_INT:
        return ykd_cli_parse_int(io, command, o->name, text, (long long)o->min,
                                 (long long)o->max, (long long *)o->value);
    case YKD_OPT_DOUBLE:
        if (!parse_double(text, &v) || v < o->min || v > o->max) {
            ykd_cli_usage_error(io, command, "%s needs a number from %g to %g, not '%s'",
                                o->name, o->min, o->max, text);
            return false;
        }
        *(double *)o->value = v;
        return true;
    case YKD_OPT_FLAG:
        break;
    }
    return false;
}

/* Matches argv[*i] against the rows; -1 when it matched and was fine, else an exit code, or
 * -2 when no row matched. */
static int match_row(int argc, char **argv, int *i, ykd_cli_io *io, const char *command,
                     const ykd_cli_opt *opts, size_t count)
{
    for (size_t k = 0; k < count; k++) {
        const ykd_cli_opt *o = &opts[k];
        if (o->type == YKD_OPT_FLAG) {
            if (strcmp(argv[*i], o->name) != 0)
                continue;
            *(bool *)o->value = o->max != 0.0 ? false : true; /* max 1: a flag that clears */
            return -1;
        }
        const char *value = NULL;
        bool missing = false;
        if (!ykd_cli_option_value(argc, argv, i, o->name, &value, &missing))
            continue;
        if (missing)
            return ykd_cli_usage_error(io, command, "%s needs a value", o->name);
        return take_value(o, value, io, command) ? -1 : YKD_EXIT_USAGE;
    }
    return -2;
}

int ykd_cli_parse_options(int argc, char **argv, ykd_cli_io *io, const char *command,
                          const ykd_cli_opt *opts, size_t count, void (*help)(FILE *))
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(io->out);
            return YKD_EXIT_OK;
        }
        int code = match_row(argc, argv, &i, io, command, opts, count);
        if (code == -2)
            return ykd_cli_usage_error(io, command, "unknown argument '%s'", argv[i]);
        if (code != -1)
            return code;
    }
    return -1;
}
