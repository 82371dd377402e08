#!/usr/bin/python3
"""PyTorch (CPU) peer for scripts/bench-train: the same networks, data, initial-weight scheme,
batch size, epochs and optimizer as the nnctl configs it is compared with. Prints one JSON line.

  bench_torch.py --workload w1|w2|fmnist|cnn|w4|transformer|predict --threads N --blas-threads M --epochs E

fmnist: the w2 network on the real Fashion-MNIST files (dataset-fashion-mnist), reporting test
accuracy. predict: the same network (untrained: cost does not depend on the weights) timed at
batch 1 (median per-sample latency, softmax included, as Keras' predict) and batch 1024.

Data is made with SplitMix64 exactly as nnctl's `synthetic` source makes it (X from stream
`seed`, labels from stream `seed + 1`), so both sides train on identical numbers.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--workload", choices=["w1", "w2", "fmnist", "cnn", "w4", "transformer", "predict"], required=True)
ap.add_argument("--train-samples", type=int, default=0, help="cnn: train on the first N images (0: all)")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--blas-threads", type=int, default=None)
ap.add_argument("--epochs", type=int, default=10)
args = ap.parse_args()
# Debian's torch calls the system OpenBLAS, whose pool reads these before import.
os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads or args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)

try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass


def blas_library():
    """The BLAS shared library this process has loaded (Debian's libblas.so.3 is an alternative:
    OpenBLAS, or the reference BLAS, ~15x slower, when only libblas3 is installed)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    return sorted(os.path.realpath(p) for p in libs)


BLAS = blas_library()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import splitmix  # noqa: E402


def synthetic(samples, features, classes, seed):
    x, y = splitmix.synthetic(samples, features, classes, seed)
    return torch.from_numpy(x), torch.from_numpy(y)


def dense(fin, fout):
    layer = torch.nn.Linear(fin, fout)
    with torch.no_grad():  # glorot uniform kernel, zero bias: nnctl's (and Keras') defaults
        lim = (6.0 / (fin + fout)) ** 0.5
        layer.weight.uniform_(-lim, lim)
        layer.bias.zero_()
    return layer


def fmnist(kind):
    import gzip
    d = "/usr/share/datasets/fashion-mnist"
    with gzip.open(f"{d}/{kind}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64)
    with gzip.open(f"{d}/{kind}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(len(y), 784)
    return torch.from_numpy(x.astype(np.float32) / np.float32(255.0)), torch.from_numpy(y)


torch.manual_seed(0)
if args.workload == "predict":
    X, _ = fmnist("t10k")
    layers = [dense(784, 256), dense(256, 128), dense(128, 10)]

    def forward(x):
        for l in layers[:-1]:
            x = F.relu(l(x))
        return layers[-1](x)

    with torch.inference_mode():
        for i in range(200):
            F.softmax(forward(X[i:i + 1]), 1)
        lat = []
        for i in range(X.shape[0]):
            t0 = time.perf_counter_ns()
            F.softmax(forward(X[i:i + 1]), 1)
            lat.append(time.perf_counter_ns() - t0)
        sps = []
        for rep in range(5):
            t0 = time.perf_counter()
            for s in range(0, X.shape[0], 1024):
                F.softmax(forward(X[s:s + 1024]), 1)
            sps.append(X.shape[0] / (time.perf_counter() - t0))
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "workload": "predict", "threads": args.threads,
                      "blas_threads": args.blas_threads or args.threads,
                      "b1_latency_us_median": statistics.median(lat) / 1000.0, "b1024_sps": statistics.median(sps)}))
    raise SystemExit(0)
def conv(cin, cout, k):
    layer = torch.nn.Conv2d(cin, cout, k)
    with torch.no_grad():  # glorot uniform over receptive field x channels, zero bias (Keras' defaults)
        lim = (6.0 / (k * k * cin + k * k * cout)) ** 0.5
        layer.weight.uniform_(-lim, lim)
        layer.bias.zero_()
    return layer


if args.workload == "cnn":
    # The brief's CNN (the shared reference's w3_fmnist_cnn): conv 32 3x3 relu -> max-pool 2 ->
    # conv 64 3x3 relu -> max-pool 2 -> dense 128 relu -> dense 10, Adam 1e-3, batch 64.
    X, Y = fmnist("train")
    Xt, Yt = fmnist("t10k")
    if args.train_samples:
        X, Y = X[:args.train_samples], Y[:args.train_samples]
    X, Xt = X.view(-1, 1, 28, 28), Xt.view(-1, 1, 28, 28)
    c1, c2, d1, d2 = conv(1, 32, 3), conv(32, 64, 3), dense(1600, 128), dense(128, 10)
    layers = [c1, c2, d1, d2]
    opt = torch.optim.Adam([p for l in layers for p in l.parameters()], lr=1e-3)
    batch = 64
elif args.workload == "w4":
    # The shared reference's w4_lstm: LSTM(64) over 50 steps of 8 features -> dense 2, Adam 1e-3, batch 64.
    xs, ys = splitmix.w4(2000, 11)
    xt, yt = splitmix.w4(500, 12)
    X, Y, Xt, Yt = (torch.from_numpy(a) for a in (xs, ys, xt, yt))
    lstm = torch.nn.LSTM(8, 64, batch_first=True)
    with torch.no_grad():  # Keras' defaults: glorot kernel, orthogonal recurrent kernel, forget bias 1
        lim = (6.0 / (8 + 256)) ** 0.5
        lstm.weight_ih_l0.uniform_(-lim, lim)
        torch.nn.init.orthogonal_(lstm.weight_hh_l0)
        lstm.bias_ih_l0.zero_()
        lstm.bias_hh_l0.zero_()
        lstm.bias_hh_l0[64:128] = 1.0
    head = dense(64, 2)
    layers = [lstm, head]
    opt = torch.optim.Adam([p for l in layers for p in l.parameters()], lr=1e-3)
    batch = 64
elif args.workload == "transformer":
    # Embedding 64 + learned positions -> 2 x nn.TransformerEncoderLayer (4 heads, feed-forward 128,
    # post-norm, ReLU, no dropout: keras-hub's TransformerEncoder defaults) -> mean -> dense 2.
    xs, ys = splitmix.tokens(2000, 21)
    xt, yt = splitmix.tokens(500, 22)
    X, Xt = torch.from_numpy(xs).long(), torch.from_numpy(xt).long()
    Y, Yt = torch.from_numpy(ys), torch.from_numpy(yt)
    emb = torch.nn.Embedding(1000, 64)
    with torch.no_grad():  # Keras' embedding default: uniform(-0.05, 0.05)
        emb.weight.uniform_(-0.05, 0.05)
    pos = torch.nn.Parameter(torch.empty(64, 64).uniform_(-(6.0 / 128) ** 0.5, (6.0 / 128) ** 0.5))
    blocks = torch.nn.ModuleList([torch.nn.TransformerEncoderLayer(64, 4, dim_feedforward=128, dropout=0.0,
                                                                   batch_first=True) for _ in range(2)])
    head = dense(64, 2)
    params = list(emb.parameters()) + [pos] + list(blocks.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    batch = 32
elif args.workload == "fmnist":
    X, Y = fmnist("train")
    Xt, Yt = fmnist("t10k")
    layers = [dense(784, 256), dense(256, 128), dense(128, 10)]
    opt = torch.optim.Adam([p for l in layers for p in l.parameters()], lr=1e-3)
    batch = 128
elif args.workload == "w1":
    X, Y = synthetic(1000, 20, 10, 1)
    layers = [dense(20, 64), dense(64, 10)]
    opt = torch.optim.SGD([p for l in layers for p in l.parameters()], lr=0.01)
    batch = 32
else:
    X, Y = synthetic(60000, 784, 10, 1)
    layers = [dense(784, 256), dense(256, 128), dense(128, 10)]
    opt = torch.optim.Adam([p for l in layers for p in l.parameters()], lr=1e-3)
    batch = 128


def forward(x):
    if args.workload == "transformer":
        h = emb(x) + pos
        for b in blocks:
            h = b(h)
        return head(h.mean(1))
    if args.workload == "w4":
        _, (h, _) = lstm(x)
        return head(h[-1])
    if args.workload == "cnn":
        x = F.max_pool2d(F.relu(c1(x)), 2)
        x = F.max_pool2d(F.relu(c2(x)), 2)
        # Keras flattens channels last (h, w, c); the order does not change the arithmetic.
        return d2(F.relu(d1(torch.flatten(x, 1))))
    for l in layers[:-1]:
        x = F.relu(l(x))
    return layers[-1](x)


n = X.shape[0]
epoch_s = []
for epoch in range(args.epochs):
    perm = torch.randperm(n)
    t0 = time.perf_counter()
    Xs, Ys = X[perm], Y[perm]
    for s in range(0, n, batch):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(forward(Xs[s:s + batch]), Ys[s:s + batch])
        loss.backward()
        opt.step()
    epoch_s.append(time.perf_counter() - t0)

steady = epoch_s[1:] if len(epoch_s) > 1 else epoch_s
extra = {}
if args.workload in ("fmnist", "cnn", "w4", "transformer"):
    with torch.no_grad():
        extra["test_accuracy"] = float((forward(Xt).argmax(1) == Yt).float().mean())
print(json.dumps({**extra,
    "impl": "pytorch", "torch": torch.__version__, "workload": args.workload, "threads": args.threads,
    "blas_threads": args.blas_threads or args.threads, "epochs": args.epochs, "blas": BLAS,
    "sps_median_epoch": n / statistics.median(steady), "final_loss": float(loss),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
}))
