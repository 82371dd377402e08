#!/usr/bin/python3
"""ONNX export parity: check an exported model with the onnx checker, run it with OpenCV's DNN
module and with the numpy interpreter of tests/support/onnx_numpy.py, and compare each with nnctl
predict's probabilities (CSV from `predict --proba`).

  onnx_parity.py MODEL.onnx ROWS.npy PREDICT.csv [--tol 1e-4] [--opencv-unsupported]

ROWS.npy holds the decoded input rows (batch x features, as the ONNX input takes them). Every
runtime that runs the graph must agree within --tol, and at least one must run it. OpenCV failing
to load or run the graph is an error unless --opencv-unsupported says it is expected (the message
then names what OpenCV refused); the numpy interpreter skips graphs with operators it lacks."""
import argparse
import csv
import os
import sys

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_numpy  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("rows")
ap.add_argument("predict_csv")
ap.add_argument("--tol", type=float, default=1e-4)
ap.add_argument("--opencv-unsupported", action="store_true")
a = ap.parse_args()

m = onnx.load(a.model)
onnx.checker.check_model(m, full_check=True)
x = np.load(a.rows).astype(np.float32)
x = x.reshape(x.shape[0], -1)
with open(a.predict_csv) as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
outputs = [(o.name, o.type.tensor_type.shape.dim[1].dim_value) for o in m.graph.output]
if len(outputs) == 1:
    cols = [i for i, h in enumerate(header) if h not in ("prediction", "path")]
else:  # several outputs, side by side: NAME:CLASS probabilities (a sigmoid's p: the second), else NAME's values
    cols = []
    for name, width in outputs:
        proba = [i for i, h in enumerate(header) if h.startswith(name + ":")]
        if proba:
            cols += proba[1:] if width == 1 else proba
        else:
            cols += [i for i, h in enumerate(header) if h == name or h.startswith(name + "_")]
want = np.array([[float(r[i]) for i in cols] for r in body], dtype=np.float64)

results = {}
missing = sorted({n.op_type for n in m.graph.node} - onnx_numpy.SUPPORTED)
if missing:
    print(f"{a.model}: numpy interpreter skipped (no {', '.join(missing)})")
else:
    results["numpy"] = np.concatenate([np.asarray(y, dtype=np.float64).reshape(x.shape[0], -1)
                                       for y in onnx_numpy.run_all(m, x)], axis=1)

import cv2  # noqa: E402


def opencv_log():
    """What OpenCV wrote on stderr (its importer names the node it refused there)."""
    sys.stderr.flush()
    os.lseek(log_fd, 0, os.SEEK_SET)
    text = os.read(log_fd, 1 << 20).decode(errors="replace")
    return next((s.split("DNN/ONNX: ")[-1] for s in text.splitlines() if "ERROR during processing node" in s), "")


first_refusal = ""
log_fd = os.open(os.path.dirname(os.path.abspath(a.predict_csv)), os.O_RDWR | os.O_TMPFILE, 0o600)
saved = os.dup(2)
os.dup2(log_fd, 2)

def opencv_net():
    """OpenCV's net for the model; its LSTM/GRU importer needs a known batch size, so on a refusal
    the batch dimension is fixed at 1 (rows are fed one at a time anyway) and it is tried again."""
    global first_refusal
    try:
        return cv2.dnn.readNetFromONNX(a.model)
    except cv2.error:
        first_refusal = opencv_log()
        fixed = onnx.load(a.model)
        fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
        os.lseek(log_fd, 0, os.SEEK_SET)
        os.ftruncate(log_fd, 0)
        path = a.model + ".batch1.onnx"
        onnx.save(fixed, path)
        try:
            return cv2.dnn.readNetFromONNX(path)
        finally:
            os.unlink(path)


try:
    net = opencv_net()
    got = []
    for i in range(x.shape[0]):  # one row at a time: OpenCV fixes the batch at the first forward
        net.setInput(x[i:i + 1])
        ys = net.forward([o.name for o in m.graph.output]) if len(outputs) > 1 else [net.forward()]
        got.append(np.concatenate([np.asarray(y, dtype=np.float64).reshape(-1) for y in ys]))
    results["OpenCV DNN"] = np.stack(got)
except cv2.error as e:
    os.dup2(saved, 2)
    line = opencv_log()
    if first_refusal and line and first_refusal != line:
        line = f"{first_refusal}; with the batch fixed at 1: {line}"
    line = line or next((s for s in str(e).splitlines() if "error:" in s), str(e).strip().splitlines()[-1])
    if not a.opencv_unsupported:
        sys.exit(f"{a.model}: OpenCV DNN failed: {line.strip()}")
    print(f"{a.model}: OpenCV DNN cannot run this graph (expected): {line.strip()}")
finally:
    os.dup2(saved, 2)

if not results:
    sys.exit(f"{a.model}: no runtime could run the graph; only the onnx checker passed")
ok = True
for name, got in results.items():
    if got.shape != want.shape:
        sys.exit(f"shapes differ: {name} {got.shape}, nnctl predict {want.shape}")
    diff = float(np.abs(got - want).max())
    ok = ok and diff <= a.tol
    print(f"{a.model}: onnx checker ok; {name} vs nnctl predict over {x.shape[0]} rows: max |diff| {diff:.2e}")
sys.exit(0 if ok else 1)
