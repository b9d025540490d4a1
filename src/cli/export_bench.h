/* yolokd export --bench: ONNX Runtime's CPU inference time for an exported model beside
 * yolokd's forward of the same model on its device, both measured in this run. */
#ifndef YKD_EXPORT_BENCH_H
#define YKD_EXPORT_BENCH_H

#include "cli/cli.h"
#include "yolokd/export.h"
#include "yolokd/model.h"

/* The Python that runs ONNX Runtime: $YOLOKD_PYTHON, else the venv tools/onnx-venv makes
 * ($XDG_CACHE_HOME or ~/.cache, /yolokd/onnx-venv) when present, else python3. */
void ykd_export_python(char *buf, size_t size);

ykd_status ykd_export_bench(ykd_model *model, const char *onnx_path,
                            const ykd_export_options *options, int runs, ykd_cli_io *io,
                            ykd_error *err);

#endif
