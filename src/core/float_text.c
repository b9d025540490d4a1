#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/float_text.h"

void ykd_float_text(float value, char *buf, size_t size)
{
    if (!isfinite(value)) {
        snprintf(buf, size, "null");
        return;
    }
    for (int digits = 1; digits <= 9; digits++) { /* 9 significant digits always suffice */
        snprintf(buf, size, "%.*g", digits, (double)value);
        if ((float)strtod(buf, NULL) == value)
            return;
    }
}
