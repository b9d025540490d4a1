/* The harnesses' scratch folder: readers that take a path get the input through a file. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char folder[256];
static char written[8][64]; /* the names written, removed with the folder */
static int written_count;

static void remove_folder(void)
{
    char path[512];
    for (int i = 0; i < written_count; i++) {
        if (snprintf(path, sizeof path, "%s/%s", folder, written[i]) < (int)sizeof path)
            unlink(path);
    }
    rmdir(folder);
}

static void remember(const char *name)
{
    for (int i = 0; i < written_count; i++)
        if (strcmp(written[i], name) == 0)
            return;
    if (written_count < 8)
        snprintf(written[written_count++], sizeof written[0], "%s", name);
}

const char *ykd_fuzz_write_file(const char *name, const uint8_t *data, size_t size)
{
    if (!folder[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(folder, sizeof folder, "%s/yolokd-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(folder)) {
            folder[0] = '\0';
            return NULL;
        }
        atexit(remove_folder);
    }
    char path[512];
    if (snprintf(path, sizeof path, "%s/%s", folder, name) >= (int)sizeof path)
        return NULL;
    remember(name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    bool ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    return ok ? folder : NULL;
}

char *ykd_fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text) {
        if (size)
            memcpy(text, data, size);
        text[size] = '\0';
    }
    return text;
}
