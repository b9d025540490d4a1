/* The benchmarks of the ops other than convolution, on the layers of a YOLOv8 model. */
#include "bench_ops.h"

ykd_status ykd_bench_other_ops(bench_run *run, ykd_error *err)
{
    (void)run;
    (void)err;
    return YKD_OK; /* pooling, upsampling and concat arrive with their ops */
}
