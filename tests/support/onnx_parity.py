#!/usr/bin/python3
"""ONNX export parity: check an exported model with the onnx checker, run it with OpenCV's DNN
module, and compare with nnctl predict's probabilities (CSV from `predict --proba`).

  onnx_parity.py MODEL.onnx ROWS.npy PREDICT.csv [--tol 1e-4]

ROWS.npy holds the decoded input rows (batch x features, as the ONNX input takes them). Exit 0 when
the largest absolute difference is within --tol; prints the difference either way."""
import argparse
import csv
import sys

import numpy as np
import onnx

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("rows")
ap.add_argument("predict_csv")
ap.add_argument("--tol", type=float, default=1e-4)
a = ap.parse_args()

m = onnx.load(a.model)
onnx.checker.check_model(m, full_check=True)
x = np.load(a.rows).astype(np.float32)
x = x.reshape(x.shape[0], -1)
with open(a.predict_csv) as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
cols = [i for i, h in enumerate(header) if h not in ("prediction", "path")]
want = np.array([[float(r[i]) for i in cols] for r in body], dtype=np.float64)

import cv2  # noqa: E402

net = cv2.dnn.readNetFromONNX(a.model)
got = []
for i in range(x.shape[0]):  # one row at a time: OpenCV fixes the batch at the first forward
    net.setInput(x[i:i + 1])
    got.append(np.asarray(net.forward(), dtype=np.float64).reshape(-1))
got = np.stack(got)
if got.shape != want.shape:
    sys.exit(f"shapes differ: OpenCV {got.shape}, nnctl predict {want.shape}")
diff = float(np.abs(got - want).max())
print(f"{a.model}: onnx checker ok; OpenCV DNN vs nnctl predict over {x.shape[0]} rows: max |diff| {diff:.2e}")
sys.exit(0 if diff <= a.tol else 1)
