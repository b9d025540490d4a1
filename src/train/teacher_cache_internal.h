/* The teacher cache's parts (teacher_cache.c: cache.json and what it was made for;
 * teacher_cache_epochs.c: the epoch files). */
#ifndef YKD_TEACHER_CACHE_INTERNAL_H
#define YKD_TEACHER_CACHE_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "core/sha256.h"
#include "train/teacher_cache.h"

struct ykd_teacher_cache {
    char dir[4096];
    cJSON *manifest;       /* cache.json's content, or the one to write */
    bool manifest_on_disk; /* false: a new cache, written by bind */
    uint8_t manifest_sha[YKD_SHA256_SIZE]; /* in every epoch file: ties them to cache.json */
    ykd_teacher_facts facts;               /* the teacher as recorded */
    char **class_names;                    /* facts.class_names' strings, owned */
    const char *stored[YKD_TEACHER_MAX_SHAPES];
    size_t stored_count;
    size_t elements[YKD_TEACHER_MAX_SHAPES]; /* per image, of each stored tensor */
    size_t image_elements;                   /* their sum */
    int batch, imgsz, epochs;
    int64_t batches_per_epoch;
    bool *held; /* epochs entries: the epoch's file is complete */
    /* the epoch being recorded */
    FILE *recording;
    char recording_path[4400];
    int recording_epoch; /* -1 none */
    int64_t next_index;
    uint16_t *halves; /* a batch's tensors as halves */
};

/* Checks the finished epoch files against the manifest, filling held. */
ykd_status ykd_teacher_cache_scan_epochs(ykd_teacher_cache *cache, ykd_error *err);

/* Drops the epoch being recorded, and its temporary file. */
void ykd_teacher_cache_drop_recording(ykd_teacher_cache *cache);

#endif
