/* Human-readable quantities for messages and tables. */
#ifndef YKD_UNITS_H
#define YKD_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* "512 B", "1.5 KiB", "3.8 GiB": binary units, one decimal. */
void ykd_format_bytes(uint64_t bytes, char *buf, size_t size);

#endif
