/* Label files, with bad lines skipped and reported, then with the first refused. */
#include <stdlib.h>

#include "fuzz.h"
#include "yolokd/data.h"

enum { CLASSES = 80 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ykd_error err;
    ykd_report report;
    if (ykd_report_init(&report, CLASSES, &err) != YKD_OK)
        return 0;
    for (int strict = 0; strict <= 1; strict++) {
        ykd_box *boxes = NULL;
        size_t count = 0;
        ykd_labels_parse((const char *)data, size, "fuzz.txt", CLASSES, strict, &boxes, &count,
                         strict ? NULL : &report, &err);
        free(boxes);
    }
    ykd_report_free(&report);
    return 0;
}
