#!/usr/bin/python3
"""Compare two safetensors files tensor by tensor: the largest relative difference
max|a-b| / max(max|a|, 1e-3) of each tensor (float32 tensors only). Exit 1 when one exceeds TOL.
The floor keeps parameters that have no gradient at all (the key bias of attention: softmax does not
see it) from counting their rounding noise, ~1e-9, as a relative difference of order 1.

usage: compare_weights.py A.safetensors B.safetensors [TOL]   (TOL default 1e-5; prints the worst)"""
import json
import struct
import sys

import numpy as np


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        lo, hi = t["data_offsets"]
        out[name] = np.frombuffer(data[lo:hi], dtype=np.float32).astype(np.float64)
    return out


a, b = load(sys.argv[1]), load(sys.argv[2])
tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
if sorted(a) != sorted(b):
    sys.exit("different tensors: %s vs %s" % (sorted(a), sorted(b)))
worst, where = 0.0, ""
for k in sorted(a):
    scale = max(np.max(np.abs(a[k])), 1e-3)
    r = float(np.max(np.abs(a[k] - b[k]))) / scale if a[k].size else 0.0
    if r > worst:
        worst, where = r, k
print("max relative difference %.3g (%s)" % (worst, where or "-"))
sys.exit(0 if worst <= tol else 1)
