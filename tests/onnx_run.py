"""Checks an exported ONNX file and runs it with ONNX Runtime, for tests/test-export.c.

    onnx_run.py --probe
        exits 0 when onnx, onnxruntime, numpy and PIL (for the README's example) import
    onnx_run.py MODEL INPUT.bin N C H W OUT
        onnx.checker (full check, shape inference included) must accept MODEL; ONNX Runtime's
        CPU provider runs it on the float32 [N, C, H, W] input; OUT.json receives the outputs'
        names and shapes and the metadata_props, OUT.<name>.bin each output as float32.

onnx and onnxruntime come from PyPI at test time only (tools/onnx-venv); yolokd never needs them.
"""
import json
import sys


def probe():
    import numpy
    import onnx
    import onnxruntime
    import PIL

    print("onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__,
          "numpy", numpy.__version__, "pillow", PIL.__version__)


def run(model_path, input_path, n, c, h, w, out):
    import numpy as np
    import onnx
    import onnxruntime as ort

    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    x = np.fromfile(input_path, dtype=np.float32).reshape(n, c, h, w)
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, {session.get_inputs()[0].name: x})
    for name, value in zip(names, results):
        np.ascontiguousarray(value, dtype=np.float32).tofile("%s.%s.bin" % (out, name))
    summary = {
        "outputs": [{"name": name, "shape": list(value.shape)}
                    for name, value in zip(names, results)],
        "input": {"name": session.get_inputs()[0].name,
                  "shape": [d if isinstance(d, int) else str(d)
                            for d in session.get_inputs()[0].shape]},
        "metadata": {p.key: p.value for p in model.metadata_props},
        "opset": [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")][0],
    }
    with open(out + ".json", "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    if sys.argv[1:] == ["--probe"]:
        probe()
    else:
        a = sys.argv[1:]
        run(a[0], a[1], int(a[2]), int(a[3]), int(a[4]), int(a[5]), a[6])
