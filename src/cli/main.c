#include <stdio.h>

#include "cli/cli.h"
#include "core/comm.h"

/* Under mpirun the process joins the run first; a rank that fails has printed why, and then
 * ends every rank (none is left waiting in a collective for it). */
int main(int argc, char **argv)
{
    ykd_error err = {0};
    if (ykd_comm_init(&argc, &argv, &err) != YKD_OK) {
        fprintf(stderr, "yolokd: %s\n", err.message);
        return YKD_EXIT_FAILURE;
    }
    int code = ykd_cli_main(argc, argv, stdout, stderr);
    if (code != YKD_EXIT_OK && ykd_comm_size() > 1) {
        fflush(stdout);
        fprintf(stderr, "yolokd: rank %d of %d failed (exit code %d): stopping every rank\n",
                ykd_comm_rank(), ykd_comm_size(), code);
        fflush(stderr);
        ykd_comm_abort(code);
    }
    ykd_comm_finalize();
    return code;
}
