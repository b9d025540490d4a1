/* Internal helpers for filling a ykd_error. */
#ifndef YKD_ERROR_INTERNAL_H
#define YKD_ERROR_INTERNAL_H

#include "yolokd/status.h"

#if defined(__GNUC__)
#define YKD_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define YKD_PRINTF(fmt_index, first_arg)
#endif

/* Sets err (if not NULL) to status with a printf-style message; returns status. */
ykd_status ykd_fail(ykd_error *err, ykd_status status, const char *fmt, ...) YKD_PRINTF(3, 4);

/* Puts "context: " in front of err's message, keeping its status (err may be NULL). Returns
 * nothing: with a NULL err it could not know the status, so callers return theirs. */
void ykd_error_prefix(ykd_error *err, const char *fmt, ...) YKD_PRINTF(2, 3);

/* Appends text to err's message, truncating at the buffer's end. */
void ykd_error_append(ykd_error *err, const char *fmt, ...) YKD_PRINTF(2, 3);

#endif
