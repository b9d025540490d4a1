#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli_run.h"

run_result run_cli(const char *first, ...)
{
    char *argv[32] = {"yolokd"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    run_result r = {0, NULL, NULL};
    size_t out_size = 0, err_size = 0;
    FILE *out = open_memstream(&r.out, &out_size);
    FILE *err = open_memstream(&r.err, &err_size);
    r.code = ykd_cli_main(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return r;
}

void free_result(run_result *r)
{
    free(r->out);
    free(r->err);
}
