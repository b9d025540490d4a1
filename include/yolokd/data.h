/* The data layer: images (PNG, JPEG), YOLO labels and their validation, datasets in the
 * Ultralytics layout, letterbox and training augmentations, a threaded batch loader, a
 * synthetic shapes dataset, and drawing detections into an image. Host only: nothing here
 * touches OpenCL.
 *
 * Conventions: images are 8-bit RGB, rows top to bottom, pixels interleaved (HWC). Pixel
 * coordinates are continuous: pixel (i, j) covers [i, i+1) x [j, j+1), its centre is
 * (i + 0.5, j + 0.5). Labels are YOLO boxes (class, centre x, centre y, width, height)
 * normalised by the image's width and height.
 *
 * Policies (README "Data"):
 * - EXIF orientation is ignored: a JPEG is used as its pixels are stored, as the labels must
 *   then describe it. PNG gamma and colour profiles are ignored as well.
 * - Alpha is dropped, not composited: an RGBA pixel keeps its RGB values whatever its alpha;
 *   a palette's transparency is ignored; 16-bit samples are scaled to 8 bits with rounding.
 * - CMYK and YCCK JPEGs are refused; any libjpeg warning (corrupt or truncated data) fails
 *   the image, so a half-written JPEG is never read as a gray-padded picture.
 * - An image whose header says width*height is over max_pixels is refused before any pixel
 *   memory is allocated (default YKD_IMAGE_MAX_PIXELS).
 */
#ifndef YOLOKD_DATA_H
#define YOLOKD_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yolokd/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- images */

enum {
    YKD_IMAGE_MAX_PIXELS = 50 * 1000 * 1000, /* default pixel limit: 50 megapixels */
    YKD_PAD_VALUE = 114                      /* letterbox and augmentation fill (gray) */
};

/* Largest image file read whole (bytes); larger files are refused as unreadable. */
#define YKD_IMAGE_MAX_FILE_BYTES ((size_t)512 << 20)

typedef struct ykd_image {
    int width;
    int height;
    uint8_t *pixels; /* width * height * 3 bytes, RGB */
} ykd_image;

typedef enum ykd_image_format {
    YKD_IMAGE_FORMAT_UNKNOWN = 0,
    YKD_IMAGE_FORMAT_PNG,
    YKD_IMAGE_FORMAT_JPEG
} ykd_image_format;

/* Allocates a width x height image filled with value (every channel). */
ykd_status ykd_image_init(ykd_image *img, int width, int height, uint8_t value, ykd_error *err);
void ykd_image_free(ykd_image *img);

/* The format its first bytes announce (PNG signature, JPEG SOI marker). */
ykd_image_format ykd_image_sniff(const void *data, size_t size);

/* Decodes PNG or JPEG bytes (chosen by their magic) into RGB. name is used in messages.
 * max_pixels 0 means YKD_IMAGE_MAX_PIXELS. On failure img is left empty. */
ykd_status ykd_image_decode(const void *data, size_t size, const char *name, uint64_t max_pixels,
                            ykd_image *img, ykd_error *err);
ykd_status ykd_png_decode(const void *data, size_t size, const char *name, uint64_t max_pixels,
                          ykd_image *img, ykd_error *err);
ykd_status ykd_jpeg_decode(const void *data, size_t size, const char *name, uint64_t max_pixels,
                           ykd_image *img, ykd_error *err);

/* Reads and decodes a PNG or JPEG file. */
ykd_status ykd_image_read(const char *path, uint64_t max_pixels, ykd_image *img, ykd_error *err);

/* Checks a file's magic and header (dimensions against max_pixels) without decoding the
 * pixels; reads only as much of the file as the header needs. */
ykd_status ykd_image_probe(const char *path, uint64_t max_pixels, int *width, int *height,
                           ykd_error *err);

/* Encodes img as an 8-bit RGB PNG into a malloc'd buffer. The bytes depend only on the
 * pixels (no time stamps), so equal images give equal files. */
ykd_status ykd_png_encode(const ykd_image *img, void **data, size_t *size, ykd_error *err);

/* Writes img as a PNG, atomically (temporary file, then rename). */
ykd_status ykd_png_write(const char *path, const ykd_image *img, ykd_error *err);

/* Resizes into a new dst_w x dst_h image as Ultralytics does with OpenCV: when neither side
 * grows, by area averaging (INTER_AREA: each output pixel the mean of the source area it
 * covers, partly covered pixels weighted by their share); otherwise bilinear (INTER_LINEAR:
 * half-pixel centres, edges clamped, 11-bit weights). */
ykd_status ykd_image_resize(const ykd_image *src, int dst_w, int dst_h, ykd_image *dst,
                            ykd_error *err);

/* ---------------------------------------------------------------- labels */

/* A YOLO box: class and centre/size, normalised to [0,1] by the image's size. */
typedef struct ykd_box {
    int cls;
    float cx, cy, w, h;
} ykd_box;

/* A box is clipped to the image when it pokes out by at most this much (normalised); a box
 * further out is a fault. Clipped boxes are counted in the report, except those out by less
 * than YKD_LABEL_ROUNDING, the rounding of a label printed with 6 decimals. */
#define YKD_LABEL_CLIP_TOLERANCE 0.01f
#define YKD_LABEL_ROUNDING 1e-5
/* Two lines are duplicates when they give the same class and the same four values (after
 * parsing to float and clipping); the later one is the fault. */
/* Boxes one training sample may hold: the detection loss's limit on its targets (the loss
 * refuses more). A mosaic joins 4 images, so one image's label file may hold at most a
 * quarter of it; a file with more is a label-too-many fault (the image is skipped), for
 * check-data and training alike. */
enum {
    YKD_MAX_BOXES_PER_SAMPLE = 65536,
    YKD_MOSAIC_IMAGES = 4,
    YKD_MAX_BOXES_PER_IMAGE = YKD_MAX_BOXES_PER_SAMPLE / YKD_MOSAIC_IMAGES
};
/* Largest label file read (bytes); a larger one is a label-unreadable fault. */
#define YKD_LABEL_MAX_FILE_BYTES ((size_t)4 << 20)

/* What went wrong, for the report. */
typedef enum ykd_fault_kind {
    YKD_FAULT_IMAGE_UNREADABLE, /* cannot open or read the file */
    YKD_FAULT_IMAGE_CORRUPT,    /* wrong magic, truncated, bad CRC, undecodable, CMYK */
    YKD_FAULT_IMAGE_TOO_LARGE,  /* header's width*height over the pixel limit */
    YKD_FAULT_FILE_IGNORED,     /* a file in an images folder that is not .png/.jpg/.jpeg */
    YKD_FAULT_LABEL_UNREADABLE, /* the label file exists but cannot be read */
    YKD_FAULT_LABEL_FIELDS,     /* not 5 fields */
    YKD_FAULT_LABEL_NOT_NUMBER, /* a field that is not a number */
    YKD_FAULT_LABEL_NOT_FINITE, /* NaN or infinity */
    YKD_FAULT_LABEL_CLASS,      /* class id not an integer, or out of range */
    YKD_FAULT_LABEL_OUTSIDE,    /* box beyond the image by more than the clip tolerance */
    YKD_FAULT_LABEL_SIZE,       /* zero or negative width or height */
    YKD_FAULT_LABEL_DUPLICATE,  /* the same box as an earlier line */
    YKD_FAULT_LABEL_TOO_MANY,   /* more boxes than YKD_MAX_BOXES_PER_IMAGE */
    YKD_FAULT_ANNOTATION_FILE,  /* convert: an annotation file unreadable or malformed */
    YKD_FAULT_ANNOTATION        /* convert: an annotation (box, class, field) that is wrong */
} ykd_fault_kind;

/* "image-corrupt", "label-fields", ...: stable names for --json. */
const char *ykd_fault_kind_name(ykd_fault_kind kind);

/* One fault: file, line (0 when it concerns the whole file) and what was done about it. */
typedef struct ykd_fault {
    ykd_fault_kind kind;
    char *file;
    int line;
    char *message;      /* without the file and line */
    bool image_skipped; /* true: the whole image was left out; false: only the line */
} ykd_fault;

/* What reading a split found. Every skipped image or line is a fault in the list. */
typedef struct ykd_report {
    size_t images;         /* image files found */
    size_t images_skipped; /* left out: unreadable, corrupt, too large, bad label file */
    size_t backgrounds;    /* usable images with no boxes */
    size_t missing_labels; /* usable images without a label file (backgrounds, allowed) */
    size_t boxes;          /* boxes kept */
    size_t lines_skipped;  /* label lines left out */
    size_t boxes_clipped;  /* boxes slightly outside [0,1], clipped */
    size_t class_count;
    size_t *boxes_per_class; /* class_count entries */
    ykd_fault *faults;
    size_t fault_count;
    size_t fault_capacity;
} ykd_report;

ykd_status ykd_report_init(ykd_report *report, size_t class_count, ykd_error *err);
void ykd_report_free(ykd_report *report);

/* "file:line: message" (or "file: message" for line 0). */
void ykd_fault_format(const ykd_fault *fault, char *buf, size_t size);

/* Parses a label file's text (size bytes, need not end in NUL): "class cx cy w h" lines, or
 * "class x1 y1 ... xn yn" polygons (n >= 3) taken as the box around their points. Lines are
 * validated as the
 * policy says: with strict false a bad line is skipped and recorded in report; with strict
 * true the first bad line fails with YKD_ERR_FORMAT and a "path:line: ..." message. Slightly
 * out boxes are clipped (counted in report->boxes_clipped). *boxes is malloc'd (NULL when
 * *count is 0). report may be NULL when strict. */
ykd_status ykd_labels_parse(const char *text, size_t size, const char *path, size_t class_count,
                            bool strict, ykd_box **boxes, size_t *count, ykd_report *report,
                            ykd_error *err);

/* ---------------------------------------------------------------- datasets */

typedef enum ykd_split { YKD_SPLIT_TRAIN, YKD_SPLIT_VAL, YKD_SPLIT_TEST } ykd_split;
enum { YKD_SPLIT_COUNT = 3 };
/* A dataset split in the Ultralytics layout: the image list, every image's validated boxes,
 * and the report of what was skipped. Read-only once open, so loader threads share it. */
const char *ykd_split_name(ykd_split split); /* "train", "val", "test" */

/* Where a split's images are: each entry a folder of images or a .txt file listing image
 * paths (one a line), relative to the dataset root unless absolute. */
typedef struct ykd_data_sources {
    char **paths;
    size_t count; /* 0: the split is not given (test is optional) */
} ykd_data_sources;

/* A dataset file (data.yaml, data.json) as Ultralytics reads it: class names, the root
 * (`path:`) and each split's sources. */
typedef struct ykd_data_config {
    size_t class_count;
    char **names;
    char *root; /* `path:` resolved against the file's folder (or absolute); else the folder */
    ykd_data_sources splits[YKD_SPLIT_COUNT]; /* train and val default to images/train, /val */
    char *source;                             /* the file they came from */
} ykd_data_config;

/* Reads root/data.json, else root/data.yaml (or .yml). Errors name the file and the key (and
 * the line, for YAML). */
ykd_status ykd_data_config_read(const char *root, ykd_data_config *config, ykd_error *err);
/* path is a dataset folder (as ykd_data_config_read) or a dataset file itself (.json is
 * read as JSON, anything else as YAML): Ultralytics' data=coco.yaml. */
ykd_status ykd_data_config_load(const char *path, ykd_data_config *config, ykd_error *err);
/* The same from text already in memory; name is the file's path (its folder is the base of a
 * relative `path:`) and is used in messages. */
ykd_status ykd_data_config_parse_json(const char *text, size_t size, const char *name,
                                      ykd_data_config *config, ykd_error *err);
ykd_status ykd_data_config_parse_yaml(const char *text, size_t size, const char *name,
                                      ykd_data_config *config, ykd_error *err);
void ykd_data_config_free(ykd_data_config *config);

/* Writes a data.yaml (atomically) that ykd_data_config_parse_yaml reads back: `path: .`,
 * train and val folders (relative to the file's folder) and the names as an index map. */
ykd_status ykd_data_config_write_yaml(const char *path, const char *train, const char *val,
                                      const char *const *names, size_t class_count,
                                      ykd_error *err);

typedef enum ykd_image_check {
    YKD_IMAGE_CHECK_HEADER, /* open checks magic and dimensions only (fast) */
    YKD_IMAGE_CHECK_DECODE  /* open decodes every image (check-data) */
} ykd_image_check;

typedef struct ykd_dataset_options {
    bool strict;           /* stop at the first fault instead of skipping */
    uint64_t max_pixels;   /* 0: YKD_IMAGE_MAX_PIXELS */
    ykd_image_check check; /* default YKD_IMAGE_CHECK_HEADER */
} ykd_dataset_options;

void ykd_dataset_options_default(ykd_dataset_options *options);

typedef struct ykd_dataset ykd_dataset;

/* Opens one split of the dataset at data (a folder holding data.json/data.yaml, or a dataset
 * file itself; ykd_data_config_load): reads the config, lists the split's images (every
 * folder's images and every .txt list's lines, together sorted by path; in a list, "./x" is
 * relative to the list's folder, another relative path to the root), reads and validates
 * every label file and checks every image as options say.
 * Images that fail are left out and recorded in the report (or, when strict, the open
 * fails with the first fault). A label file is the image path with its last "images" folder
 * replaced by "labels" and the extension by ".txt". options may be NULL (defaults). */
ykd_status ykd_dataset_open(const char *data, ykd_split split, const ykd_dataset_options *options,
                            ykd_dataset **dataset, ykd_error *err);
void ykd_dataset_close(ykd_dataset *dataset);

size_t ykd_dataset_count(const ykd_dataset *dataset); /* usable images */
size_t ykd_dataset_class_count(const ykd_dataset *dataset);
const char *ykd_dataset_class_name(const ykd_dataset *dataset, size_t cls);
const char *ykd_dataset_image_path(const ykd_dataset *dataset, size_t index);
/* The image's boxes (normalised); *count may be 0. */
const ykd_box *ykd_dataset_labels(const ykd_dataset *dataset, size_t index, size_t *count);
/* Largest number of boxes on one image. */
size_t ykd_dataset_max_boxes(const ykd_dataset *dataset);
uint64_t ykd_dataset_max_pixels(const ykd_dataset *dataset);
/* Decodes image index. Safe to call from several threads at once. */
ykd_status ykd_dataset_load_image(const ykd_dataset *dataset, size_t index, ykd_image *img,
                                  ykd_error *err);
const ykd_report *ykd_dataset_report(const ykd_dataset *dataset);

/* ---------------------------------------------------------------- transforms */

/* Where a letterboxed image sits in the square: x_model = x_image * scale_x + pad_x. */
typedef struct ykd_letterbox_info {
    float scale_x, scale_y;
    int pad_x, pad_y;     /* left and top padding in pixels */
    int inner_w, inner_h; /* the resized image's size inside the square */
} ykd_letterbox_info;

/* Resizes src (aspect kept; ykd_image_resize: area when shrinking, bilinear when growing) to
 * fit size x size and pads with gray 114, centred
 * (left/top padding rounded down). Boxes (normalised to src) become normalised to the
 * square. boxes may be NULL when count is 0; they are transformed in place. info may be
 * NULL. */
ykd_status ykd_letterbox(const ykd_image *src, int size, ykd_box *boxes, size_t count,
                         ykd_image *dst, ykd_letterbox_info *info, ykd_error *err);

/* Training augmentations; YOLOv8's defaults from ykd_augment_options_default. Each is
 * switched off by setting it to 0. */
typedef struct ykd_augment_options {
    float hsv_h;     /* hue gain, 0.015 */
    float hsv_s;     /* saturation gain, 0.7 */
    float hsv_v;     /* value gain, 0.4 */
    float flip_lr;   /* probability of a horizontal flip, 0.5 */
    float scale;     /* scale drawn from [1 - scale, 1 + scale], 0.5 */
    float translate; /* translation up to +-translate of the output size, 0.1 */
    float mosaic;    /* probability of a 4-image mosaic, 1.0 */
} ykd_augment_options;

void ykd_augment_options_default(ykd_augment_options *options);

/* Boxes in pixels (x1, y1, x2, y2) of the image they belong to: what the transforms work on. */
typedef struct ykd_pixel_box {
    int cls;
    float x1, y1, x2, y2;
} ykd_pixel_box;

/* A box survives a transform when, after clipping to the output, its width and height are
 * over YKD_BOX_MIN_SIDE pixels, its area is over YKD_BOX_MIN_AREA_RATIO of its area before
 * clipping (after scaling), and its aspect ratio is under YKD_BOX_MAX_ASPECT (Ultralytics'
 * box_candidates thresholds). */
#define YKD_BOX_MIN_SIDE 2.0f
#define YKD_BOX_MIN_AREA_RATIO 0.1f
#define YKD_BOX_MAX_ASPECT 100.0f

/* A per-sample seed from the run's seed, the epoch and the sample's position: the same
 * triple always gives the same seed, whatever thread computes it. */
uint64_t ykd_sample_seed(uint64_t run_seed, uint64_t epoch, uint64_t position);

/* HSV jitter in place: gains 1 + U(-1,1) * (h, s, v) on OpenCV-style 8-bit HSV (hue 0..179,
 * hue multiplied modulo 180, saturation and value multiplied and clamped). */
void ykd_augment_hsv(ykd_image *img, float hgain, float sgain, float vgain, uint64_t seed);

/* Mirrors the image left-right, and the boxes with it. */
void ykd_flip_lr(ykd_image *img, ykd_pixel_box *boxes, size_t count);

/* Random scale and translate (no rotation or shear), as YOLOv8's RandomPerspective with its
 * default degrees 0 and shear 0: the source's centre goes to (tx, ty) = U(0.5 - translate,
 * 0.5 + translate) * out_size, scaled by s = U(1 - scale, 1 + scale); pixels outside the
 * source are 114. Boxes are transformed, clipped to the output, and dropped by the
 * box_candidates rule; *count is updated. */
ykd_status ykd_augment_affine(const ykd_image *src, int out_size, float scale, float translate,
                              uint64_t seed, ykd_pixel_box *boxes, size_t *count, ykd_image *dst,
                              ykd_error *err);

/* The same with explicit parameters: x' = s * (x - src_w / 2) + tx (likewise for y). */
ykd_status ykd_affine_apply(const ykd_image *src, int out_size, float s, float tx, float ty,
                            ykd_pixel_box *boxes, size_t *count, ykd_image *dst, ykd_error *err);

/* Four images (each already resized so its long side is size) on a 2*size square canvas
 * filled with 114, meeting at (xc, yc): image 0 top-left of it, 1 top-right, 2 bottom-left,
 * 3 bottom-right, each cut at the canvas edge. boxes[k] (pixels of image k, counts[k]) are
 * shifted, clipped to the canvas, and those left with no area are dropped; the result goes
 * into out (capacity at least the sum of counts), *out_count set. */
ykd_status ykd_mosaic_apply(const ykd_image imgs[4], int size, int xc, int yc,
                            const ykd_pixel_box *const boxes[4], const size_t counts[4],
                            ykd_image *canvas, ykd_pixel_box *out, size_t *out_count,
                            ykd_error *err);

/* The mosaic centre a seed picks: each coordinate uniform in [size/2, 3*size/2). */
void ykd_mosaic_center(int size, uint64_t seed, int *xc, int *yc);

/* Builds one sample of a dataset as the loader does: with augment false, the image
 * letterboxed to size; with augment true, the YOLOv8 training pipeline (mosaic with
 * probability options->mosaic when use_mosaic, else letterbox; then scale/translate, HSV,
 * flip), all drawn from seed. Boxes come out normalised to the size x size square, in *boxes
 * (malloc'd, may be NULL when *count is 0). */
ykd_status ykd_sample_build(const ykd_dataset *dataset, size_t index, int size, bool augment,
                            bool use_mosaic, const ykd_augment_options *options, uint64_t seed,
                            ykd_image *out, ykd_box **boxes, size_t *count, ykd_error *err);

/* ---------------------------------------------------------------- loader */

typedef struct ykd_loader_options {
    int image_size;  /* square model input, default 640 */
    int batch_size;  /* default 16 */
    int workers;     /* background threads, default 2; 0 builds batches in ykd_loader_next */
    int queue_depth; /* batches built ahead of the consumer, default 2 * workers (min 2) */
    uint64_t seed;   /* run seed, default 0 */
    bool shuffle;    /* a new order every epoch, default true */
    bool drop_last;  /* leave out the last, smaller batch, default false */
    bool augment;    /* training augmentations, default true; false: letterbox only */
    ykd_augment_options aug;
    int epochs;       /* total epochs, for close_mosaic; default 0 (unknown) */
    int close_mosaic; /* no mosaic for the last close_mosaic of epochs epochs, default 10 */
    bool strict;      /* an image that fails to decode fails ykd_loader_next */
    int cache_mb;     /* keep decoded images (long side resized to image_size) in memory when
                         they all fit in this many MiB; default 1024, 0 never. Samples are the
                         same either way. */
    /* Data parallelism: batch_size is the global batch, and this loader builds the part of
     * each global batch that rank `shard` of `shards` (default 0 of 1) trains on: a contiguous
     * run of about batch_size / shards of its positions, so the ranks' parts in rank order are
     * the batch one loader builds alone, sample for sample. With several shards an epoch's
     * last batch is left out when it has fewer images than shards (each rank needs one). */
    int shard, shards;
} ykd_loader_options;

void ykd_loader_options_default(ykd_loader_options *options);

/* A ready batch. images: count x 3 x size x size float32 (NCHW), RGB in [0,1].
 * labels: count x max_boxes x 5 float32, row (class, cx, cy, w, h) normalised to the
 * size x size square; rows past box_counts[i] are zero. max_boxes is fixed for the loader's
 * life (ykd_loader_max_boxes). A sample whose image fails to decode is left out of its batch
 * (count is then smaller) and described in faults. */
typedef struct ykd_batch {
    int epoch;
    size_t index; /* batch number within the epoch */
    size_t count; /* images in this batch */
    int size;
    float *images;
    size_t max_boxes;
    float *labels;
    int *box_counts;
    size_t *sources;   /* dataset index of each image (the mosaic's first image) */
    ykd_fault *faults; /* image skipped for this batch, if any */
    size_t fault_count;
} ykd_batch;

typedef struct ykd_loader ykd_loader;

/* Starts the workers on dataset (which must outlive the loader). options may be NULL. */
ykd_status ykd_loader_open(const ykd_dataset *dataset, const ykd_loader_options *options,
                           ykd_loader **loader, ykd_error *err);

/* Begins an epoch at its first batch, or at batch `position`: the loader's whole state is
 * (seed, epoch, position), so training resumes exactly by reopening with the same options and
 * starting the saved epoch at the saved position. An epoch in progress is abandoned (batches
 * already handed out stay valid until released). */
ykd_status ykd_loader_start_epoch(ykd_loader *loader, int epoch, ykd_error *err);
ykd_status ykd_loader_start_epoch_at(ykd_loader *loader, int epoch, size_t position,
                                     ykd_error *err);

/* The next batch, in order. Returns YKD_OK with *batch NULL at the end of the epoch. Batches
 * are the same for a given (seed, epoch) whatever the number of workers. */
ykd_status ykd_loader_next(ykd_loader *loader, ykd_batch **batch, ykd_error *err);
void ykd_loader_release(ykd_loader *loader, ykd_batch *batch);

size_t ykd_loader_batches_per_epoch(const ykd_loader *loader);
size_t ykd_loader_max_boxes(const ykd_loader *loader);

/* Stops the workers (mid-epoch is fine) and frees everything, released or not. */
void ykd_loader_close(ykd_loader *loader);

/* ---------------------------------------------------------------- synthetic data */

enum { YKD_SYNTH_MAX_CLASSES = 8 };

typedef struct ykd_synth_options {
    int train_images; /* default 400 */
    int val_images;   /* default 100 */
    int image_size;   /* default 320 */
    int classes;      /* default 6, at most YKD_SYNTH_MAX_CLASSES */
    uint64_t seed;    /* default 0 */
} ykd_synth_options;

void ykd_synth_options_default(ykd_synth_options *options);

/* Shape class names in order: circle, square, triangle, star, cross, ring, diamond, hexagon. */
const char *ykd_synth_class_name(int cls);

/* One labelled object of a rendered image. */
typedef struct ykd_synth_object {
    ykd_box box;
    uint8_t color[3];
    int visible_pixels; /* pixels it owns in the final image */
    int full_pixels;    /* pixels it covered when drawn */
} ykd_synth_object;

/* Renders image `index` of a split (0 train, 1 val) deterministically from the seed. objects
 * (malloc'd) are the labelled shapes; owner, when not NULL, receives a malloc'd map of
 * size*size entries: the object index + 1 that owns each pixel, 0 for background and
 * distractors. */
ykd_status ykd_synth_render(const ykd_synth_options *options, int split, int index, ykd_image *img,
                            ykd_synth_object **objects, size_t *count, uint16_t **owner,
                            ykd_error *err);

/* Writes the whole dataset to out (images/, labels/, data.json), built in a temporary
 * sibling folder and renamed at the end; out must not exist (or be an empty folder). */
ykd_status ykd_synth_write(const char *out, const ykd_synth_options *options, ykd_error *err);

/* ---------------------------------------------------------------- drawing */

/* A detection in pixels of the image it is drawn on. */
typedef struct ykd_detection {
    float x1, y1, x2, y2;
    float score;
    int cls;
} ykd_detection;

/* The built-in 5x7 font's glyph for c (digits, letters, space and .,:;-_%#()[]/+=*<>!?'"):
 * 35 characters, 7 rows of 5, '#' for ink and '.' for none; lower-case letters have their
 * own. NULL when c has none. */
const char *ykd_font_glyph(char c);

/* Colour of a class's boxes (a fixed palette). */
void ykd_draw_class_color(int cls, uint8_t rgb[3]);

/* A rectangle outline, thickness pixels inward from (x1,y1)-(x2,y2), clipped to the image. */
void ykd_draw_rect(ykd_image *img, int x1, int y1, int x2, int y2, int thickness,
                   const uint8_t rgb[3]);
/* Text with its top-left at (x, y), each font pixel scale x scale; clipped to the image.
 * Characters without a glyph draw as a box. Returns the width drawn. */
int ykd_draw_text(ykd_image *img, int x, int y, const char *text, int scale, const uint8_t rgb[3]);
/* Boxes with "name 0.87" tags. names may be NULL (the class number is shown instead). */
void ykd_draw_detections(ykd_image *img, const ykd_detection *dets, size_t count,
                         const char *const *names, size_t name_count);

#ifdef __cplusplus
}
#endif

#endif
