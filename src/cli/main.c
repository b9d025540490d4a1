#include <stdio.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    return ykd_cli_main(argc, argv, stdout, stderr);
}
