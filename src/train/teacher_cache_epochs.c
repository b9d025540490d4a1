/* The teacher cache's epoch files. epoch-NNNN.bin: a header (magic, cache.json's SHA-256, the
 * epoch, batches per epoch, images per batch), then per batch a record at a fixed offset: the
 * SHA-256 of the batch's images, the image count, and each stored tensor [count, c, h, w] as
 * fp16. Numbers are little-endian. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error_internal.h"
#include "core/half.h"
#include "train/teacher_cache_internal.h"

enum { HEADER_SIZE = 56, RECORD_HEAD_SIZE = 40 };

static const char MAGIC[8] = {'Y', 'K', 'D', 'T', 'C', 'H', '1', '\n'};

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void epoch_path(const ykd_teacher_cache *c, int epoch, char *path, size_t size)
{
    snprintf(path, size, "%s/epoch-%04d.bin", c->dir, epoch);
}

static void make_header(const ykd_teacher_cache *c, int epoch, uint8_t h[HEADER_SIZE])
{
    memcpy(h, MAGIC, sizeof MAGIC);
    memcpy(h + 8, c->manifest_sha, YKD_SHA256_SIZE);
    put_u32(h + 40, (uint32_t)epoch);
    put_u32(h + 44, (uint32_t)c->batches_per_epoch);
    put_u32(h + 48, (uint32_t)c->batch);
    put_u32(h + 52, 0);
}

static off_t record_size(const ykd_teacher_cache *c, size_t images)
{
    return RECORD_HEAD_SIZE + (off_t)(images * c->image_elements * sizeof(uint16_t));
}

static off_t record_offset(const ykd_teacher_cache *c, int64_t index)
{
    return HEADER_SIZE + index * record_size(c, (size_t)c->batch);
}

static void images_sha256(const ykd_batch *b, uint8_t digest[YKD_SHA256_SIZE])
{
    ykd_sha256 h;
    ykd_sha256_init(&h);
    ykd_sha256_update(&h, b->images, b->count * 3 * (size_t)b->size * b->size * sizeof(float));
    ykd_sha256_final(&h, digest);
}

/* ---- which epochs are held --------------------------------------------------------------- */

/* Whether the file is a finished epoch of this cache: its header, and a size that holds every
 * batch (the last one may be short). */
static bool epoch_complete(const ykd_teacher_cache *c, int epoch)
{
    char path[4300];
    epoch_path(c, epoch, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    uint8_t want[HEADER_SIZE], got[HEADER_SIZE];
    make_header(c, epoch, want);
    bool ok = fread(got, 1, sizeof got, f) == sizeof got && memcmp(got, want, sizeof got) == 0;
    struct stat sb;
    ok = ok && fstat(fileno(f), &sb) == 0;
    fclose(f);
    off_t last = record_offset(c, c->batches_per_epoch - 1);
    return ok && sb.st_size >= last + record_size(c, 1) &&
           sb.st_size <= last + record_size(c, (size_t)c->batch);
}

/* Removes epoch files a killed recorder left ("epoch-NNNN.bin.tmp-PID" of a process that is
 * gone; a live one may be another run recording now). */
static void remove_dead_recordings(const ykd_teacher_cache *c)
{
    DIR *dir = opendir(c->dir);
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL) {
        int epoch = 0, used = 0;
        long pid = 0;
        if (sscanf(e->d_name, "epoch-%4d.bin.tmp-%ld%n", &epoch, &pid, &used) != 2 ||
            e->d_name[used] != '\0' || pid <= 0 || (pid_t)pid == getpid() ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[4600];
        snprintf(path, sizeof path, "%s/%s", c->dir, e->d_name);
        unlink(path);
    }
    if (dir)
        closedir(dir);
}

ykd_status ykd_teacher_cache_scan_epochs(ykd_teacher_cache *c, ykd_error *err)
{
    (void)err;
    remove_dead_recordings(c);
    for (int e = 0; e < c->epochs; e++)
        c->held[e] = c->batches_per_epoch > 0 && epoch_complete(c, e);
    return YKD_OK;
}

/* ---- replay ------------------------------------------------------------------------------ */

static ykd_status read_record(ykd_teacher_cache *c, FILE *f, const char *path, const ykd_batch *b,
                              ykd_error *err)
{
    uint8_t head[RECORD_HEAD_SIZE], digest[YKD_SHA256_SIZE];
    if (fseeko(f, record_offset(c, (int64_t)b->index), SEEK_SET) != 0 ||
        fread(head, 1, sizeof head, f) != sizeof head)
        return ykd_fail(err, YKD_ERR_IO, "teacher cache: %s is cut short at batch %zu", path,
                        b->index);
    if (get_u32(head + 32) != b->count)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "teacher cache: %s holds %u images for batch %zu, the run has %zu", path,
                        get_u32(head + 32), b->index, b->count);
    images_sha256(b, digest);
    if (memcmp(digest, head, YKD_SHA256_SIZE) != 0)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "teacher cache: batch %zu of epoch %d differs from the images the "
                        "teacher saw when %s was made (did the dataset's files change?): delete "
                        "the cache folder %s to make it anew",
                        b->index, b->epoch + 1, path, c->dir);
    size_t halves = b->count * c->image_elements;
    if (fread(c->halves, sizeof *c->halves, halves, f) != halves)
        return ykd_fail(err, YKD_ERR_IO, "teacher cache: %s is cut short at batch %zu", path,
                        b->index);
    return YKD_OK;
}

ykd_status ykd_teacher_cache_read(ykd_teacher_cache *c, const ykd_batch *b, float *const *host,
                                  ykd_error *err)
{
    if (!ykd_teacher_cache_holds(c, b->epoch) || b->count > (size_t)c->batch)
        return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                        "teacher cache %s: no batch %zu of epoch %d", c->dir, b->index,
                        b->epoch + 1);
    char path[4300];
    epoch_path(c, b->epoch, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ykd_fail(err, YKD_ERR_IO, "teacher cache: cannot open %s: %s", path,
                        strerror(errno));
    ykd_status st = read_record(c, f, path, b, err);
    fclose(f);
    const uint16_t *h = c->halves;
    for (size_t t = 0; t < c->stored_count && st == YKD_OK; t++) {
        size_t n = b->count * c->elements[t];
        for (size_t i = 0; i < n; i++)
            host[t][i] = ykd_f16_to_f32(h[i]);
        h += n;
    }
    return st;
}

/* ---- recording --------------------------------------------------------------------------- */

void ykd_teacher_cache_drop_recording(ykd_teacher_cache *c)
{
    if (c->recording) {
        fclose(c->recording);
        remove(c->recording_path);
    }
    c->recording = NULL;
    c->recording_epoch = -1;
}

/* Starts recording b's epoch when b is its first batch (a file under a temporary name). */
static ykd_status start_epoch(ykd_teacher_cache *c, const ykd_batch *b, ykd_error *err)
{
    ykd_teacher_cache_drop_recording(c);
    c->recording_epoch = b->epoch;
    c->next_index = 0;
    if (b->index != 0 || b->epoch < 0 || b->epoch >= c->epochs)
        return YKD_OK; /* joined part-way: this epoch stays unrecorded */
    char path[4300];
    epoch_path(c, b->epoch, path, sizeof path);
    snprintf(c->recording_path, sizeof c->recording_path, "%s.tmp-%ld", path, (long)getpid());
    c->recording = fopen(c->recording_path, "wb");
    if (!c->recording)
        return ykd_fail(err, YKD_ERR_IO, "teacher cache: cannot create %s: %s",
                        c->recording_path, strerror(errno));
    uint8_t header[HEADER_SIZE];
    make_header(c, b->epoch, header);
    if (fwrite(header, 1, sizeof header, c->recording) != sizeof header)
        return ykd_fail(err, YKD_ERR_IO, "teacher cache: cannot write %s: %s",
                        c->recording_path, strerror(errno));
    return YKD_OK;
}

/* The batch's tensors as halves in c->halves, refusing values fp16 cannot hold. */
static ykd_status to_halves(ykd_teacher_cache *c, const ykd_batch *b, const float *const *host,
                            ykd_error *err)
{
    uint16_t *h = c->halves;
    for (size_t t = 0; t < c->stored_count; t++) {
        size_t n = b->count * c->elements[t];
        for (size_t i = 0; i < n; i++) {
            if (!ykd_f16_fits(host[t][i]))
                return ykd_fail(err, YKD_ERR_INVALID_ARGUMENT,
                                "teacher cache %s: the teacher's '%s' holds %g in batch %zu of "
                                "epoch %d, which fp16 cannot store",
                                c->dir, c->stored[t], host[t][i], b->index, b->epoch + 1);
            h[i] = ykd_f32_to_f16(host[t][i]);
        }
        h += n;
    }
    return YKD_OK;
}

static ykd_status finish_epoch(ykd_teacher_cache *c, ykd_error *err)
{
    char path[4300];
    epoch_path(c, c->recording_epoch, path, sizeof path);
    FILE *f = c->recording;
    c->recording = NULL;
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(c->recording_path, path) != 0) {
        int e = errno;
        remove(c->recording_path);
        return ykd_fail(err, YKD_ERR_IO, "teacher cache: cannot finish %s: %s", path,
                        strerror(e));
    }
    c->held[c->recording_epoch] = true;
    c->recording_epoch = -1;
    return YKD_OK;
}

ykd_status ykd_teacher_cache_record(ykd_teacher_cache *c, const ykd_batch *b,
                                    const float *const *host, ykd_error *err)
{
    ykd_status st = YKD_OK;
    if (b->epoch != c->recording_epoch)
        st = start_epoch(c, b, err);
    if (st != YKD_OK || !c->recording)
        return st;
    if ((int64_t)b->index != c->next_index || b->count > (size_t)c->batch) {
        ykd_teacher_cache_drop_recording(c); /* out of order: not an epoch we can replay */
        return YKD_OK;
    }
    uint8_t head[RECORD_HEAD_SIZE] = {0};
    images_sha256(b, head);
    put_u32(head + 32, (uint32_t)b->count);
    st = to_halves(c, b, host, err);
    size_t halves = b->count * c->image_elements;
    if (st == YKD_OK && (fwrite(head, 1, sizeof head, c->recording) != sizeof head ||
                         fwrite(c->halves, sizeof *c->halves, halves, c->recording) != halves))
        st = ykd_fail(err, YKD_ERR_IO, "teacher cache: cannot write %s: %s", c->recording_path,
                      strerror(errno));
    if (st != YKD_OK) {
        ykd_teacher_cache_drop_recording(c);
        return st;
    }
    if (++c->next_index == c->batches_per_epoch)
        st = finish_epoch(c, err);
    return st;
}
