/* yolokd devices: the device table (or JSON), with the device a spec selects marked. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/units.h"
#include "yolokd/device.h"

static void print_devices_help(FILE *f)
{
    fprintf(f, "usage: yolokd [--device SPEC] devices [--json]\n"
               "\n"
               "Lists every OpenCL device of every platform. The device that --device (or\n"
               "$YOLOKD_DEVICE, else the first GPU) selects is marked with '*'; an unknown\n"
               "spec is an error.\n"
               "\n"
               "  --json   one JSON object: {\"selected\": N, \"devices\": [...]}\n");
}

/* "OpenCL C 1.2 PoCL" -> "1.2": the version number alone, for the table. */
static const char *short_c_version(const char *full)
{
    const char *prefix = "OpenCL C ";
    return strncmp(full, prefix, strlen(prefix)) == 0 ? full + strlen(prefix) : full;
}

enum { COLUMNS = 11, CELL = 272 };

static void device_row(const ykd_device_info *d, bool selected, char cells[COLUMNS][CELL])
{
    snprintf(cells[0], CELL, "%s%d", selected ? "*" : " ", d->index);
    snprintf(cells[1], CELL, "%s", ykd_device_type_name(d->type));
    snprintf(cells[2], CELL, "%s", d->name);
    snprintf(cells[3], CELL, "%s", d->platform_name);
    ykd_format_bytes(d->global_mem_bytes, cells[4], CELL);
    ykd_format_bytes(d->max_alloc_bytes, cells[5], CELL);
    snprintf(cells[6], CELL, "%u", d->compute_units);
    snprintf(cells[7], CELL, "%u MHz", d->clock_mhz);
    snprintf(cells[8], CELL, "%.20s", short_c_version(d->opencl_c_version));
    snprintf(cells[9], CELL, "%s", d->driver_version);
    snprintf(cells[10], CELL, "%s/%s", d->fp64 ? "yes" : "no", d->fp16 ? "yes" : "no");
}

/* Cells padded to their column's width, the last one unpadded. */
static void print_row(FILE *out, const char *const *cells, const size_t *width)
{
    for (int c = 0; c + 1 < COLUMNS; c++)
        fprintf(out, "%-*s  ", (int)width[c], cells[c]);
    fprintf(out, "%s\n", cells[COLUMNS - 1]);
}

static void print_table(FILE *out, const ykd_device_info *devices, size_t count, size_t selected)
{
    static const char *const header[COLUMNS] = {" #",        "type",   "name",  "platform",
                                                 "memory",    "max alloc", "CUs", "clock",
                                                 "OpenCL C", "driver", "fp64/fp16"};
    char(*cells)[COLUMNS][CELL] = calloc(count, sizeof *cells);
    if (!cells)
        return;
    size_t width[COLUMNS];
    for (int c = 0; c < COLUMNS; c++)
        width[c] = strlen(header[c]);
    for (size_t i = 0; i < count; i++) {
        device_row(&devices[i], i == selected, cells[i]);
        for (int c = 0; c < COLUMNS; c++)
            if (strlen(cells[i][c]) > width[c])
                width[c] = strlen(cells[i][c]);
    }
    print_row(out, header, width);
    for (size_t i = 0; i < count; i++) {
        const char *row[COLUMNS];
        for (int c = 0; c < COLUMNS; c++)
            row[c] = cells[i][c];
        print_row(out, row, width);
    }
    free(cells);
}

static cJSON *device_json(const ykd_device_info *d, bool selected)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", d->index);
    cJSON_AddBoolToObject(o, "selected", selected);
    cJSON_AddStringToObject(o, "type", ykd_device_type_name(d->type));
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "vendor", d->vendor);
    cJSON_AddNumberToObject(o, "platform_index", d->platform_index);
    cJSON_AddNumberToObject(o, "index_in_platform", d->index_in_platform);
    cJSON_AddStringToObject(o, "platform", d->platform_name);
    cJSON_AddStringToObject(o, "platform_vendor", d->platform_vendor);
    cJSON_AddStringToObject(o, "platform_version", d->platform_version);
    cJSON_AddStringToObject(o, "device_version", d->device_version);
    cJSON_AddStringToObject(o, "driver_version", d->driver_version);
    cJSON_AddStringToObject(o, "opencl_c_version", d->opencl_c_version);
    cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
    cJSON_AddNumberToObject(o, "clock_mhz", d->clock_mhz);
    cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d->global_mem_bytes);
    cJSON_AddNumberToObject(o, "local_mem_bytes", (double)d->local_mem_bytes);
    cJSON_AddNumberToObject(o, "max_alloc_bytes", (double)d->max_alloc_bytes);
    cJSON_AddNumberToObject(o, "vector_floats", d->vector_floats);
    cJSON_AddNumberToObject(o, "max_work_group_size", (double)d->max_work_group_size);
    cJSON_AddBoolToObject(o, "fp64", d->fp64);
    cJSON_AddBoolToObject(o, "fp16", d->fp16);
    return o;
}

static int print_json(FILE *out, const ykd_device_info *devices, size_t count, long selected)
{
    cJSON *root = cJSON_CreateObject();
    if (selected >= 0)
        cJSON_AddNumberToObject(root, "selected", (double)selected);
    else
        cJSON_AddNullToObject(root, "selected");
    cJSON *list = cJSON_AddArrayToObject(root, "devices");
    for (size_t i = 0; i < count; i++)
        cJSON_AddItemToArray(list, device_json(&devices[i], (long)i == selected));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return YKD_EXIT_FAILURE;
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return YKD_EXIT_OK;
}

int ykd_cmd_devices(int argc, char **argv, ykd_cli_globals *globals, ykd_cli_io *io)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool missing = false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_devices_help(io->out);
            return YKD_EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (ykd_cli_option_value(argc, argv, &i, "--device", &value, &missing)) {
            if (missing)
                return ykd_cli_usage_error(io, "devices", "--device needs a device spec");
            globals->device = value;
        } else {
            return ykd_cli_usage_error(io, "devices", "unknown argument '%s'", argv[i]);
        }
    }

    ykd_device_info *devices = NULL;
    size_t count = 0;
    ykd_error err = {0};
    if (ykd_device_list(&devices, &count, &err) != YKD_OK) {
        fprintf(io->err, "yolokd devices: %s\n", err.message);
        return YKD_EXIT_FAILURE;
    }
    const char *spec = globals->device ? globals->device : getenv("YOLOKD_DEVICE");
    size_t selected = 0;
    ykd_status st = ykd_device_spec_resolve(spec, devices, count, &selected, &err);
    int code = YKD_EXIT_OK;
    if (st == YKD_ERR_NO_DEVICE && !globals->device) {
        /* nothing to select is not an error for a listing; say how to get a device */
        char why[1536];
        ykd_device_explain_none(why, sizeof why);
        if (json)
            code = print_json(io->out, devices, count, -1);
        else
            fprintf(io->out, "no OpenCL device found: %s\n", why);
    } else if (st != YKD_OK) {
        fprintf(io->err, "yolokd devices: %s%s\n", globals->device ? "" : "YOLOKD_DEVICE: ",
                err.message);
        code = st == YKD_ERR_NO_DEVICE ? YKD_EXIT_FAILURE : YKD_EXIT_USAGE;
    } else if (json) {
        code = print_json(io->out, devices, count, (long)selected);
    } else {
        print_table(io->out, devices, count, selected);
        fprintf(io->out, "\n* the device commands use (choose with --device SPEC or "
                         "YOLOKD_DEVICE)\n");
    }
    ykd_device_list_free(devices);
    return code;
}
