/* Internal: adding faults to a report. */
#ifndef YKD_DATA_REPORT_H
#define YKD_DATA_REPORT_H

#include "core/error_internal.h"
#include "yolokd/data.h"

/* Appends a fault; YKD_ERR_OUT_OF_MEMORY when the list cannot grow. */
ykd_status ykd_report_add(ykd_report *report, ykd_fault_kind kind, const char *file, int line,
                          bool image_skipped, const char *fmt, ...) YKD_PRINTF(6, 7);

/* Empties the fault list (keeping its memory for reuse). */
void ykd_report_clear_faults(ykd_report *report);

/* The fault kind of a failed image read: too large, corrupt, or unreadable. */
ykd_fault_kind ykd_fault_kind_of_image(ykd_status status);

#endif
