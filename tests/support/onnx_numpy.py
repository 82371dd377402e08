"""A small ONNX interpreter in numpy for the operators nnctl's exporter emits, written from the ONNX
operator specification (opset 13): the second, independent runtime of the export tests, for
graphs that OpenCV's DNN module cannot load. Unknown operators raise NotImplementedError.

  run(model, x) -> the first graph output for input array x; run_all(model, x) -> every output."""
import itertools
import math

import numpy as np
from onnx import numpy_helper


def _attrs(node):
    out = {}
    for a in node.attribute:
        if a.type == a.INT:
            out[a.name] = a.i
        elif a.type == a.FLOAT:
            out[a.name] = a.f
        elif a.type == a.INTS:
            out[a.name] = list(a.ints)
        elif a.type == a.STRING:
            out[a.name] = a.s.decode()
        elif a.type == a.STRINGS:
            out[a.name] = [s.decode() for s in a.strings]
    return out


_ACT = {
    "Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "Tanh": np.tanh,
    "Relu": lambda x: np.maximum(x, 0.0),
    "Softplus": lambda x: np.log1p(np.exp(x)),
    "Erf": np.vectorize(math.erf, otypes=[np.float64]),
}


def _windows(x, kernel, strides, dilations, pads, fill):
    """x (N, C, *spatial) padded with `fill`; yields (tap offsets, the strided view for that tap)."""
    r = len(kernel)
    pad = [(0, 0), (0, 0)] + [(pads[k], pads[k + r]) for k in range(r)]
    xp = np.pad(x, pad, constant_values=fill)
    out = [(xp.shape[2 + k] - (kernel[k] - 1) * dilations[k] - 1) // strides[k] + 1 for k in range(r)]
    for tap in itertools.product(*[range(k) for k in kernel]):
        sl = tuple(slice(tap[k] * dilations[k], tap[k] * dilations[k] + (out[k] - 1) * strides[k] + 1, strides[k])
                   for k in range(r))
        yield tap, xp[(slice(None), slice(None)) + sl]


def _conv(x, w, b, a):
    r = w.ndim - 2
    kernel = list(w.shape[2:])
    st, dil = a.get("strides", [1] * r), a.get("dilations", [1] * r)
    y = None
    for tap, v in _windows(x.astype(np.float64), kernel, st, dil, a.get("pads", [0] * 2 * r), 0.0):
        term = np.einsum("nc...,oc->no...", v, w[(slice(None), slice(None)) + tap].astype(np.float64))
        y = term if y is None else y + term
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * r)
    return y


def _pool(x, a, kind):
    r = x.ndim - 2
    k, st, pads = a["kernel_shape"], a.get("strides", [1] * r), a.get("pads", [0] * 2 * r)
    if kind == "max":
        return np.max(np.stack([v for _, v in _windows(x, k, st, [1] * r, pads, -np.inf)]), axis=0)
    vals = np.stack([v for _, v in _windows(x.astype(np.float64), k, st, [1] * r, pads, 0.0)])
    ones = np.stack([v for _, v in _windows(np.ones_like(x, np.float64), k, st, [1] * r, pads, 0.0)])
    return vals.sum(axis=0) / ones.sum(axis=0)  # count_include_pad = 0


def _recurrent(op, a, X, W, R, B, lens):
    """LSTM / GRU / RNN as the spec defines them (layout 0: X (T, batch, in)); returns Y, Y_h."""
    T, batch, _ = X.shape
    D, GH, _ = W.shape
    H = a["hidden_size"]
    G = GH // H
    if B is None:
        B = np.zeros((D, 2 * GH), X.dtype)
    per = {"LSTM": 3, "GRU": 2, "RNN": 1}[op]
    defaults = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}[op]
    acts = a.get("activations", defaults * D)
    lens = np.full(batch, T) if lens is None else lens.astype(np.int64)
    Y = np.zeros((T, D, batch, H), X.dtype)
    Yh = np.zeros((D, batch, H), X.dtype)
    direction = a.get("direction", "forward")
    for d in range(D):
        f = [_ACT[n] for n in acts[d * per:(d + 1) * per]]
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        Wd, Rd, Wb, Rb = W[d], R[d], B[d, :GH], B[d, GH:]
        for s in range(batch):
            h = np.zeros(H, X.dtype)
            c = np.zeros(H, X.dtype)
            L = int(lens[s])
            steps = range(L - 1, -1, -1) if reverse else range(L)
            for t in steps:
                x = X[t, s]
                if op == "LSTM":
                    z = Wd @ x + Rd @ h + Wb + Rb
                    i, o, fg, cc = (z[k * H:(k + 1) * H] for k in range(4))
                    i, o, fg, cc = f[0](i), f[0](o), f[0](fg), f[1](cc)
                    c = fg * c + i * cc
                    h = o * f[2](c)
                elif op == "GRU":
                    xw = Wd @ x + Wb
                    zr = xw[:2 * H] + Rd[:2 * H] @ h + Rb[:2 * H]
                    zg, rg = f[0](zr[:H]), f[0](zr[H:])
                    if a.get("linear_before_reset", 0):
                        hh = f[1](xw[2 * H:] + rg * (Rd[2 * H:] @ h + Rb[2 * H:]))
                    else:
                        hh = f[1](xw[2 * H:] + Rd[2 * H:] @ (rg * h) + Rb[2 * H:])
                    h = (1 - zg) * hh + zg * h
                else:
                    h = f[0](Wd @ x + Rd @ h + Wb + Rb)
                Y[t, d, s] = h
            Yh[d, s] = h
    return Y, Yh


def _reduce(fn, i, a):
    axes = a["axes"] if "axes" in a else list(i[1])  # opset 13: ReduceSum takes its axes as an input
    return fn(i[0], axis=tuple(axes), keepdims=bool(a.get("keepdims", 1)))


SUPPORTED = {"Add", "Sub", "Mul", "Div", "Max", "Min", "MatMul", "Sigmoid", "Tanh", "Relu", "Softmax", "Identity",
             "Reshape", "Transpose", "Gather", "Cast", "Equal", "Not", "Sqrt", "ReduceMean", "ReduceSum", "ReduceMax",
             "ReduceProd", "Pad", "Concat", "Slice", "LSTM", "GRU", "RNN", "Conv", "MaxPool", "AveragePool",
             "BatchNormalization", "LeakyRelu", "Elu", "Selu", "Softplus", "Erf"}


def run(model, x):
    g = model.graph
    env = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    env[g.input[0].name] = x
    env[""] = None
    for n in g.node:
        a = _attrs(n)
        i = [env[k] if k else None for k in n.input]
        op = n.op_type
        if op in ("Add", "Sub", "Mul", "Div", "Max", "Min"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Max": np.maximum,
                 "Min": np.minimum}[op]
            r = i[0]
            for v in i[1:]:
                r = f(r, v)
            out = [r]
        elif op == "MatMul":
            out = [np.matmul(i[0], i[1])]
        elif op in _ACT:
            out = [_ACT[op](i[0])]
        elif op == "Softmax":
            e = np.exp(i[0] - i[0].max(axis=a.get("axis", -1), keepdims=True))
            out = [e / e.sum(axis=a.get("axis", -1), keepdims=True)]
        elif op == "Identity":
            out = [i[0]]
        elif op == "Reshape":
            out = [i[0].reshape([d if d != 0 else i[0].shape[k] for k, d in enumerate(i[1])])]
        elif op == "Transpose":
            out = [np.transpose(i[0], a["perm"])]
        elif op == "Gather":
            out = [np.take(i[0], i[1], axis=a.get("axis", 0))]
        elif op == "Cast":
            out = [i[0].astype({1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_}[a["to"]])]
        elif op == "Equal":
            out = [i[0] == i[1]]
        elif op == "Not":
            out = [np.logical_not(i[0])]
        elif op == "Sqrt":
            out = [np.sqrt(i[0])]
        elif op == "ReduceMean":
            out = [_reduce(np.mean, i, a)]
        elif op == "ReduceSum":
            out = [_reduce(np.sum, i, a)]
        elif op == "ReduceMax":
            out = [_reduce(np.max, i, a)]
        elif op == "ReduceProd":
            out = [_reduce(np.prod, i, a)]
        elif op == "Pad":
            p = list(i[1])
            r = len(p) // 2
            out = [np.pad(i[0], [(p[k], p[k + r]) for k in range(r)])]
        elif op == "Concat":
            out = [np.concatenate(i, axis=a["axis"])]
        elif op == "Slice":
            sl = [slice(None)] * i[0].ndim
            steps = i[4] if len(i) > 4 else [1] * len(i[1])
            for s, e, ax, st in zip(i[1], i[2], i[3], steps):
                dim = i[0].shape[ax]
                s, e = (s + dim if s < 0 else s), (e + dim if e < 0 else e)  # the spec's clamping, as far as used here
                sl[ax] = slice(s, e if e >= 0 else None, st)
            out = [i[0][tuple(sl)]]
        elif op == "Conv":
            out = [_conv(i[0], i[1], i[2] if len(i) > 2 else None, a)]
        elif op == "MaxPool":
            out = [_pool(i[0], a, "max")]
        elif op == "AveragePool":
            out = [_pool(i[0], a, "average")]
        elif op == "BatchNormalization":
            sh = (1, -1) + (1,) * (i[0].ndim - 2)
            out = [(i[0] - i[3].reshape(sh)) / np.sqrt(i[4].reshape(sh) + a.get("epsilon", 1e-5)) * i[1].reshape(sh) +
                   i[2].reshape(sh)]
        elif op == "LeakyRelu":
            out = [np.where(i[0] >= 0, i[0], a.get("alpha", 0.01) * i[0])]
        elif op == "Elu":
            out = [np.where(i[0] >= 0, i[0], a.get("alpha", 1.0) * (np.exp(i[0]) - 1))]
        elif op == "Selu":
            al, ga = a.get("alpha", 1.67326319217681884765625), a.get("gamma", 1.05070102214813232421875)
            out = [ga * np.where(i[0] > 0, i[0], al * (np.exp(i[0]) - 1))]
        elif op in ("LSTM", "GRU", "RNN"):
            out = list(_recurrent(op, a, i[0], i[1], i[2], i[3] if len(i) > 3 else None, i[4] if len(i) > 4 else None))
        else:
            raise NotImplementedError(op)
        for name, v in zip(n.output, out):
            env[name] = v.astype(np.float32) if v.dtype == np.float64 else v
    env_out[0] = env
    return env[g.output[0].name]


env_out = [None]


def run_all(model, x):
    """Every graph output, in order."""
    run(model, x)
    return [env_out[0][o.name] for o in model.graph.output]
