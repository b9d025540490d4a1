#!/usr/bin/env python3
"""Cross-checks yolokd's weight files against the reference safetensors package (a manual
check; the test suite crafts its files in C and needs no Python).

    pip install safetensors numpy
    python3 tools/safetensors-interop.py YOLOKD.safetensors OUT.safetensors

Reads a file written by `yolokd` with safetensors.numpy (which validates the header, offsets
and sizes), shows its metadata, then writes OUT as an Ultralytics state_dict exported in half
precision looks: every tensor as float16 except the int64 num_batches_tracked scalars, no
metadata. `yolokd info OUT.safetensors` should then recognise the built-in scale.
"""
import sys

import numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open


def main(src, dst):
    with safe_open(src, framework="numpy") as f:
        meta = f.metadata() or {}
    tensors = load_file(src)
    print(f"{src}: {len(tensors)} tensors; metadata keys {sorted(meta)}")
    counters = [k for k in tensors if k.endswith("num_batches_tracked")]
    assert all(tensors[k].dtype == np.int64 and tensors[k].shape == () for k in counters)
    half = {k: (v if v.dtype == np.int64 else v.astype(np.float16)) for k, v in tensors.items()}
    save_file(half, dst)
    print(f"{dst}: {len(half)} tensors in float16, no metadata")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
