/* yolokd distill with no arguments: the demo (DESIGN.md §1). */
#include "cli/cli.h"

int ykd_cmd_distill_demo(ykd_cli_globals *globals, ykd_cli_io *io)
{
    (void)globals;
    fprintf(io->err, "yolokd distill: the demo is not written yet\n");
    return YKD_EXIT_FAILURE;
}
