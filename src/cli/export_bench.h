/* yolokd export --bench: ONNX Runtime's CPU inference time for an exported model beside
 * yolokd's forward of the same model on its device, both measured in this run. */
#ifndef YKD_EXPORT_BENCH_H
#define YKD_EXPORT_BENCH_H

#include "cli/cli.h"
#include "yolokd/export.h"
#include "yolokd/model.h"

ykd_status ykd_export_bench(ykd_model *model, const char *onnx_path,
                            const ykd_export_options *options, int runs, ykd_cli_io *io,
                            ykd_error *err);

#endif
