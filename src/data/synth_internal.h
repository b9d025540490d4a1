/* Internal: shared by the synthetic dataset's renderer and writer. */
#ifndef YKD_DATA_SYNTH_INTERNAL_H
#define YKD_DATA_SYNTH_INTERNAL_H

#include "yolokd/data.h"

/* Checks the image size and class count, and with counts the image counts too. */
ykd_status ykd_synth_check_options(const ykd_synth_options *options, bool counts, ykd_error *err);

#endif
