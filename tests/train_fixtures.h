/* Fixtures for the training tests: a tiny model description, a tiny synthetic dataset, a
 * trainer's options over them, and readers of what a run writes. */
#ifndef YKD_TEST_TRAIN_FIXTURES_H
#define YKD_TEST_TRAIN_FIXTURES_H

#include <stddef.h>

#include "harness.h"
#include "yolokd/train.h"

/* A YOLOv8-shaped model a few thousand parameters big (every width 8, two detection levels
 * at strides 8 and 16), 2 classes. */
extern const char tx_tiny_model_json[];

/* A folder with tiny.json and a synthetic dataset data/ (8 training and 4 validation images
 * of 64x64, 2 classes); paths (4096 bytes each) into model and data. */
typedef struct tx_world {
    char dir[256];
    char model[4096];
    char data[4096];
} tx_world;

bool tx_world_make(ykd_test *t, tx_world *w);
/* The same with val_images validation images. */
bool tx_world_make_with(ykd_test *t, tx_world *w, int val_images);
void tx_world_free(tx_world *w);

/* Options for a short run of the tiny model into dir/name: 2 epochs, batch 4, 64 pixels, one
 * worker, seed 7, no mosaic in the last epoch. The strings point into w and out (4096). */
void tx_options(const tx_world *w, const char *name, char *out, ykd_train_options *o);

/* Fixes the GEMM choice on the device to ykd_test_fixed_gemm (so tuning cannot differ between
 * runs), and back. */
bool tx_fix_gemm(ykd_test *t, ykd_device *device);
void tx_unfix_gemm(ykd_device *device);

/* A whole file into *data (malloc'd); false (a failed check) when it cannot be read. */
bool tx_read_file(ykd_test *t, const char *path, unsigned char **data, size_t *size);

/* Copies a file; false (a failed check) when it cannot. */
bool tx_copy_file(ykd_test *t, const char *from, const char *to);

/* Whether two files hold the same bytes. */
bool tx_same_files(ykd_test *t, const char *a, const char *b);

/* A number of a run's state "progress" (epoch, optimizer_steps, ...); NAN when absent. */
double tx_state_progress(ykd_test *t, const char *run, const char *key);

/* The SHA-256 of the state's tensor data (every tensor, in file order) into hex (65 bytes). */
bool tx_state_digest(ykd_test *t, const char *run, char *hex);

#endif
