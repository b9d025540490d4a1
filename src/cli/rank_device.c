/* Which device a rank of a data-parallel run (mpirun -np K) opens: the rank's item of a
 * comma-separated --device list (one per rank), else the device spec shared by the ranks of a
 * machine, each taking the local-rank-th device it describes (a type or vendor: gpu gives
 * gpu:0, gpu:1, ...; auto the GPUs, else the accelerators, else every device), in turn when
 * they are fewer than the ranks. A spec naming one device (an index, a name, gpu:1) is every
 * rank's. Alone, the spec is as given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"

/* The item of a comma-separated list for this rank (into buf), or an error message. */
static bool list_item(const char *spec, char *buf, size_t size, char *why, size_t why_size)
{
    int items = 1;
    for (const char *p = spec; *p; p++)
        items += *p == ',';
    int ranks = ykd_comm_size(), rank = ykd_comm_rank();
    if (items != ranks) {
        snprintf(why, why_size,
                 "--device '%s' lists %d devices, one per rank, but the run has %d rank%s", spec,
                 items, ranks, ranks == 1 ? "" : "s");
        return false;
    }
    const char *start = spec;
    for (int i = 0; i < rank; i++)
        start = strchr(start, ',') + 1;
    size_t len = strcspn(start, ",");
    snprintf(buf, size, "%.*s", (int)len, start);
    return true;
}

/* How many devices "word:0", "word:1", ... name. */
static size_t count_of(const char *word, const ykd_device_info *devices, size_t count)
{
    size_t n = 0, index = 0;
    char spec[64];
    for (;; n++) {
        snprintf(spec, sizeof spec, "%s:%zu", word, n);
        if (ykd_device_spec_resolve(spec, devices, count, &index, NULL) != YKD_OK)
            return n;
    }
}

static bool is_family(const char *spec)
{
    static const char *const words[] = {"cpu",    "gpu",   "accelerator", "acc", "nvidia",
                                        "amd",    "intel", "apple",       "pocl"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(spec, words[i]) == 0)
            return true;
    return false;
}

/* A shared spec resolved for this rank's place on its machine. */
static void spread(const char *spec, char *buf, size_t size)
{
    snprintf(buf, size, "%s", spec);
    bool automatic = !*spec || strcmp(spec, "auto") == 0;
    if (!automatic && !is_family(spec))
        return;
    ykd_device_info *devices = NULL;
    size_t count = 0;
    if (ykd_device_list(&devices, &count, NULL) != YKD_OK || count == 0)
        return; /* opening the device says why */
    size_t local = (size_t)ykd_comm_local_rank();
    if (automatic) {
        static const char *const kinds[] = {"gpu", "accelerator"};
        size_t n = 0;
        for (size_t i = 0; i < 2 && n == 0; i++)
            if ((n = count_of(kinds[i], devices, count)) > 0)
                snprintf(buf, size, "%s:%zu", kinds[i], local % n);
        if (n == 0)
            snprintf(buf, size, "%zu", local % count);
    } else {
        size_t n = count_of(spec, devices, count);
        if (n > 0)
            snprintf(buf, size, "%s:%zu", spec, local % n);
    }
    ykd_device_list_free(devices);
}

bool ykd_cli_rank_device(const char *spec, char *buf, size_t size, char *why, size_t why_size)
{
    if (!spec || !*spec)
        spec = getenv("YOLOKD_DEVICE");
    if (!spec)
        spec = "";
    if (strchr(spec, ','))
        return list_item(spec, buf, size, why, why_size);
    if (ykd_comm_size() > 1)
        spread(spec, buf, size);
    else
        snprintf(buf, size, "%s", spec);
    return true;
}
