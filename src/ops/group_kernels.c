/* Kernels built for a work-group size (GROUP, a -D of the build): the largest the device and
 * every kernel of the program allow, found once per program and size. */
#include <stdio.h>

#include "core/error_internal.h"
#include "ops/ops_internal.h"

/* The size to try first: the preferred one, within the device's axis 0 and local memory. */
static ykd_status first_group(const ykd_device *dev, const ykd_group_family *f, size_t *group,
                              ykd_error *err)
{
    size_t g = f->preferred;
    if (g > dev->max_work_items[0])
        g = dev->max_work_items[0];
    if (f->local_bytes_per_item > 0) {
        uint64_t fits = dev->info.local_mem_bytes / f->local_bytes_per_item;
        if (fits == 0)
            return ykd_fail(err, YKD_ERR_UNSUPPORTED,
                            "kernel %s: needs %zu bytes of local memory per work-item; device "
                            "%d (%s) has %llu in all",
                            f->grouped[0], f->local_bytes_per_item, dev->info.index,
                            dev->info.name, (unsigned long long)dev->info.local_mem_bytes);
        if (fits < g)
            g = (size_t)fits;
    }
    *group = ykd_pow2_at_most(g);
    return YKD_OK;
}

static void group_options(size_t group, char *options, size_t size)
{
    snprintf(options, size, "-DGROUP=%zu", group);
}

/* The least work-group size any grouped kernel allows when built for group. */
static ykd_status least_allowed(ykd_device *dev, const ykd_group_family *f, size_t group,
                                size_t *least, ykd_error *err)
{
    char options[32];
    group_options(group, options, sizeof options);
    *least = group;
    for (size_t i = 0; f->grouped[i]; i++) {
        ykd_kernel *k = NULL;
        ykd_status st = ykd_device_kernel(dev, f->sources, options, f->grouped[i], &k, err);
        if (st != YKD_OK)
            return st;
        if (k->work_group_size < *least)
            *least = k->work_group_size;
    }
    return YKD_OK;
}

ykd_status ykd_group_kernel(ykd_device *dev, const ykd_group_family *family, const char *name,
                            ykd_kernel **kernel, size_t *group, ykd_error *err)
{
    *kernel = NULL;
    size_t g = 1, least = 1;
    ykd_status st = first_group(dev, family, &g, err);
    /* a kernel may allow less than the device (registers, local memory): build smaller */
    while (st == YKD_OK && (st = least_allowed(dev, family, g, &least, err)) == YKD_OK &&
           least < g)
        g = ykd_pow2_at_most(least);
    if (st != YKD_OK)
        return st;
    char options[32];
    group_options(g, options, sizeof options);
    *group = g;
    return ykd_device_kernel(dev, family->sources, options, name, kernel, err);
}
