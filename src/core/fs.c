#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error_internal.h"
#include "core/fs.h"

ykd_status ykd_mkdir_p(const char *path, ykd_error *err)
{
    char partial[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof partial)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "cannot create folder '%s': bad path",
                        path);
    memcpy(partial, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (partial[i] != '/' && partial[i] != '\0')
            continue;
        char saved = partial[i];
        partial[i] = '\0';
        if (mkdir(partial, 0700) != 0 && errno != EEXIST)
            return ykd_fail(err, YKD_ERR_IO, "cannot create folder '%s': %s", partial,
                            strerror(errno));
        partial[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ykd_fail(err, YKD_ERR_IO, "cannot create folder '%s': a file is in the way",
                        path);
    return YKD_OK;
}

ykd_status ykd_file_read_all(const char *path, size_t max_size, void **data, size_t *size,
                             ykd_error *err)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ykd_fail(err, errno == ENOENT ? YKD_ERR_NOT_FOUND : YKD_ERR_IO,
                        "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ykd_fail(err, YKD_ERR_IO, "cannot read '%s': not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_size) {
        fclose(f);
        return ykd_fail(err, YKD_ERR_FORMAT, "'%s' is %lld bytes, over the limit of %zu", path,
                        (long long)st.st_size, max_size);
    }
    size_t expected = (size_t)st.st_size;
    unsigned char *buf = malloc(expected + 1);
    if (!buf) {
        fclose(f);
        return ykd_fail(err, YKD_ERR_OUT_OF_MEMORY, "cannot read '%s': out of host memory",
                        path);
    }
    size_t got = fread(buf, 1, expected, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || got != expected) {
        free(buf);
        return ykd_fail(err, YKD_ERR_IO, "cannot read '%s': short read (%zu of %zu bytes)", path,
                        got, expected);
    }
    buf[expected] = '\0'; /* lets text callers treat it as a string */
    *data = buf;
    *size = expected;
    return YKD_OK;
}

static ykd_status write_fully(int fd, const char *tmp, const void *data, size_t size,
                              ykd_error *err)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return ykd_fail(err, YKD_ERR_IO, "cannot write '%s': %s", tmp,
                            n < 0 ? strerror(errno) : "no progress");
        p += n;
        size -= (size_t)n;
    }
    return YKD_OK;
}

static struct {
    char prefix[4096];
    int countdown; /* writes under prefix until the fault; 0: none */
    int exit_code;
} fault;

void ykd_fs_inject_fault(const char *prefix, int n, int exit_code)
{
    snprintf(fault.prefix, sizeof fault.prefix, "%s", prefix ? prefix : "");
    fault.countdown = n > 0 ? n : 0;
    fault.exit_code = exit_code;
}

/* Whether the injected fault hits this write (and, for an exit, ends the process). */
static bool fault_hits(const char *path)
{
    if (fault.countdown <= 0 || strncmp(path, fault.prefix, strlen(fault.prefix)) != 0 ||
        --fault.countdown > 0)
        return false;
    if (fault.exit_code >= 0)
        _exit(fault.exit_code);
    return true;
}

ykd_status ykd_file_write_atomic(const char *path, const void *const *parts,
                                 const size_t *part_sizes, size_t part_count, ykd_error *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT, "path too long: '%s'", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return ykd_fail(err, YKD_ERR_IO, "cannot create a temporary file beside '%s': %s", path,
                        strerror(errno));
    ykd_status st = YKD_OK;
    for (size_t i = 0; i < part_count && st == YKD_OK; i++)
        st = write_fully(fd, tmp, parts[i], part_sizes[i], err);
    if (st == YKD_OK && fsync(fd) != 0)
        st = ykd_fail(err, YKD_ERR_IO, "cannot flush '%s': %s", tmp, strerror(errno));
    /* mkstemp makes the file 0600; a finished file gets the usual permissions. */
    if (st == YKD_OK && fchmod(fd, 0644) != 0)
        st = ykd_fail(err, YKD_ERR_IO, "cannot set permissions of '%s': %s", tmp,
                      strerror(errno));
    if (close(fd) != 0 && st == YKD_OK)
        st = ykd_fail(err, YKD_ERR_IO, "cannot close '%s': %s", tmp, strerror(errno));
    if (st == YKD_OK && fault_hits(path))
        return ykd_fail(err, YKD_ERR_IO, "cannot rename '%s' to '%s': fault injected", tmp,
                        path); /* the temporary file stays, as after a kill */
    if (st == YKD_OK && rename(tmp, path) != 0)
        st = ykd_fail(err, YKD_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path,
                      strerror(errno));
    if (st != YKD_OK)
        unlink(tmp);
    return st;
}

/* "NAME.tmp-" and six characters of mkstemp's alphabet. */
static bool is_temp_of(const char *entry, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(entry, name, n) != 0 || strncmp(entry + n, ".tmp-", 5) != 0)
        return false;
    const char *suffix = entry + n + 5;
    if (strlen(suffix) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        if (!isalnum((unsigned char)suffix[i]))
            return false;
    return true;
}

void ykd_remove_stale_temps(const char *folder, const char *const *names, size_t count)
{
    DIR *dir = opendir(folder);
    if (!dir)
        return;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        for (size_t i = 0; i < count; i++) {
            char path[4096];
            if (is_temp_of(e->d_name, names[i]) &&
                snprintf(path, sizeof path, "%s/%s", folder, e->d_name) < (int)sizeof path)
                unlink(path);
        }
    }
    closedir(dir);
}

void ykd_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[4096];
            if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) < (int)sizeof child)
                ykd_remove_tree(child);
        }
        closedir(dir);
    }
    rmdir(path);
}
