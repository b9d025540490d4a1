/* The offline teacher (yolokd distill --teacher-cache DIR): what a teacher handed over for
 * each batch of a run, stored once, then replayed by later runs without running the teacher.
 *
 * DIR holds cache.json, what the cache was made for: the teacher file's SHA-256 and its
 * classes, strides and tensor shapes; the training split's SHA-256 (image names and labels);
 * the options that decide the batches (epochs, batch, imgsz, seed, close_mosaic, the
 * augmentations); the stored tensors. And one file per finished epoch, epoch-NNNN.bin: per
 * batch, the SHA-256 of the batch's images, then each stored tensor in fp16.
 *
 * Replay is exact in the batches: the loader makes the same batches from the same (seed,
 * epoch, position), so each augmented image gets the teacher output made for it, and every
 * batch's images are checked against their stored hash, which catches a dataset whose files
 * changed. fp16 keeps 11 significant bits (relative error at most 2^-11); a value beyond fp16's
 * range is refused when recording, naming the tensor. All of p/box/cls of every level are
 * stored, whatever the KD config, so one cache serves every KD config of the same run. */
#ifndef YKD_TEACHER_CACHE_H
#define YKD_TEACHER_CACHE_H

#include <stdbool.h>

#include "train/teacher_facts.h"
#include "yolokd/data.h"
#include "yolokd/train.h"

typedef struct ykd_teacher_cache ykd_teacher_cache;

/* The run a cache serves. */
typedef struct ykd_teacher_cache_run {
    const char *dir;
    const char *teacher_path;         /* the teacher's file, or NULL to replay without it */
    const ykd_teacher_facts *teacher; /* its facts, when teacher_path is given */
    const ykd_dataset *train;         /* the training split */
    const ykd_train_options *options;
    int64_t batches_per_epoch;
} ykd_teacher_cache_run;

/* Opens DIR's cache, or starts one there (teacher_path required). A cache made for another
 * teacher, dataset or batches is refused, naming what differs. */
ykd_status ykd_teacher_cache_open(const ykd_teacher_cache_run *run, ykd_teacher_cache **cache,
                                  ykd_error *err);

/* Closes it; an epoch recorded part-way is dropped. */
void ykd_teacher_cache_close(ykd_teacher_cache *cache);

/* The teacher as the cache recorded it. */
const ykd_teacher_facts *ykd_teacher_cache_facts(const ykd_teacher_cache *cache);

/* The SHA-256 (hex) of the teacher file the cache was made from. */
const char *ykd_teacher_cache_teacher_sha256(const ykd_teacher_cache *cache);

/* Whether epoch's file is complete. */
bool ykd_teacher_cache_holds(const ykd_teacher_cache *cache, int epoch);

/* The first epoch of [first, last) the cache does not hold, or -1. */
int ykd_teacher_cache_missing_epoch(const ykd_teacher_cache *cache, int first, int last);

/* Binds the tensors a run hands over (names[0 .. count)). A new cache stores them and every
 * level's p/box/cls (and writes cache.json); an existing one must hold them all. Then
 * *stored lists what a record or a read fills, in order. */
ykd_status ykd_teacher_cache_bind(ykd_teacher_cache *cache, const char *const *names,
                                  size_t count, const char *const **stored, size_t *stored_count,
                                  ykd_error *err);

/* Fills host[i] (floats, [count, c, h, w] packed) with batch b's stored tensor i, after
 * checking b's images against the hash stored with them. */
ykd_status ykd_teacher_cache_read(ykd_teacher_cache *cache, const ykd_batch *b,
                                  float *const *host, ykd_error *err);

/* Stores batch b's tensors (host as for read). An epoch's file is written under a temporary
 * name and renamed into place with its last batch; an epoch joined part-way (a resumed run) is
 * not recorded. */
ykd_status ykd_teacher_cache_record(ykd_teacher_cache *cache, const ykd_batch *b,
                                    const float *const *host, ykd_error *err);

#endif
