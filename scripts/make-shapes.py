#!/usr/bin/env python3
"""Write a small image_folder of coloured shapes (circle, square, triangle) as PNG files.

Each image: a random background colour with noise, one shape of random colour, size, position
and (for squares and triangles) rotation. Deterministic for a given --seed. Standard library only
(zlib for the PNG encoding), so it runs on a fresh machine with Debian's python3.

    python3 scripts/make-shapes.py datasets/shapes [--per-class 300] [--size 32] [--seed 1]
"""
import argparse
import math
import os
import random
import struct
import zlib


def png(path, rows, size):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def inside(kind, x, y, cx, cy, r, angle):
    dx, dy = x - cx, y - cy
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy  # into the shape's own frame
    if kind == "circle":
        return dx * dx + dy * dy <= r * r
    if kind == "square":
        return abs(u) <= r * 0.8 and abs(v) <= r * 0.8
    # triangle pointing "up" in its frame: below the apex, above the base, within the slanted sides
    return -r <= v <= r * 0.7 and abs(u) <= (r * 0.7 - v) * 0.6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=300)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    n = a.size
    for kind in ("circle", "square", "triangle"):
        os.makedirs(os.path.join(a.out, kind), exist_ok=True)
        for i in range(a.per_class):
            bg = [rng.randrange(256) for _ in range(3)]
            fg = [rng.randrange(256) for _ in range(3)]
            while sum(abs(p - q) for p, q in zip(bg, fg)) < 150:  # keep the shape visible
                fg = [rng.randrange(256) for _ in range(3)]
            r = rng.uniform(n * 0.24, n * 0.4)
            cx, cy = rng.uniform(r, n - r), rng.uniform(r, n - r)
            angle = rng.uniform(-0.5, 0.5)
            rows = []
            for y in range(n):
                row = []
                for x in range(n):
                    base = fg if inside(kind, x + 0.5, y + 0.5, cx, cy, r, angle) else bg
                    row += [min(255, max(0, p + rng.randrange(-8, 9))) for p in base]
                rows.append(row)
            png(os.path.join(a.out, kind, "%04d.png" % i), rows, n)
    print("wrote %d images to %s" % (3 * a.per_class, a.out))


if __name__ == "__main__":
    main()
