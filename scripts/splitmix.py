"""SplitMix64 streams exactly as nnctl's `synthetic` source draws them (for the benchmark peers)."""
import numpy as np


def stream(seed, n):
    """First n SplitMix64 outputs from state `seed`, as uint64 (vectorised)."""
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def synthetic(samples, features, classes, seed):
    """nnctl's {format: synthetic}: X uniform [0,1) (24-bit) from stream seed, labels from seed + 1."""
    x = (stream(seed, samples * features) >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
    y = ((stream(seed + 1, samples) >> np.uint64(32)) * np.uint64(classes)) >> np.uint64(32)
    return x.reshape(samples, features), y.astype(np.int64)


def w4(samples, seed, steps=50, features=8):
    """The shared reference's w4_lstm data: x = 2*u24 - 1 in [-1, 1), shape (n, steps, features) from
    stream `seed` (train 11, test 12); label 1 when the sum over steps of feature 0 is positive."""
    u = (stream(seed, samples * steps * features) >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
    x = (np.float32(2.0) * u - np.float32(1.0)).reshape(samples, steps, features)
    y = (x[:, :, 0].astype(np.float64).sum(axis=1) > 0).astype(np.int64)
    return x, y


def tokens(samples, seed, steps=64, vocab=1000):
    """The transformer workload's data: `steps` token ids in [1, vocab) per sample from stream `seed`
    (train 21, test 22); label 1 when more than half of them are below vocab / 2."""
    ids = 1 + ((stream(seed, samples * steps) >> np.uint64(32)) * np.uint64(vocab - 1)) >> np.uint64(32)
    x = ids.astype(np.float32).reshape(samples, steps)
    y = ((x < vocab // 2).sum(axis=1) > steps // 2).astype(np.int64)
    return x, y
