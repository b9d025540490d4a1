/* Floats as text at the precision they hold: the shortest decimal that reads back (as JSON
 * readers do: to double, then to float) to the same float, so 0.015f prints "0.015", not the
 * double 0.014999999664723873. */
#ifndef YKD_FLOAT_TEXT_H
#define YKD_FLOAT_TEXT_H

#include <stddef.h>

/* Into buf (32 bytes suffice); a non-finite value gives "null" (JSON has no NaN). */
void ykd_float_text(float value, char *buf, size_t size);

#endif
