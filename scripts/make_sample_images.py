#!/usr/bin/env python3
"""Writes the sample inputs in assets/images/ (pure Python, no dependencies): two "hand-drawn"
digits (dark pen strokes on light paper, as a user would draw them in any paint program) and an
inpainting mask. Run from the repository root; the outputs are committed."""
import math
import struct
import zlib


def write_png(path, width, height, rows):
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def seg_dist(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy or 1)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def drawing(size, strokes, pen):
    """Gray paper (235) with anti-aliased dark ink (30) along polylines given in [0,1] units."""
    segs = [(a[0] * size, a[1] * size, b[0] * size, b[1] * size)
            for line in strokes for a, b in zip(line, line[1:])]
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            d = min(seg_dist(x + .5, y + .5, *s) for s in segs)
            ink = max(0.0, min(1.0, pen / 2 - d + 0.5))
            row.append(int(round(235 - ink * 205)))
        rows.append(row)
    return rows


def arc(cx, cy, r, a0, a1, n=24):
    return [(cx + r * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + r * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


if __name__ == "__main__":
    S = 160
    seven = [[(0.28, 0.24), (0.52, 0.22), (0.74, 0.23), (0.66, 0.42), (0.55, 0.62), (0.47, 0.80)],
             [(0.40, 0.50), (0.68, 0.49)]]
    write_png("assets/images/drawn-7.png", S, S, drawing(S, seven, 13))
    three = [arc(0.5, 0.33, 0.16, 200, 430), arc(0.5, 0.64, 0.18, -90, 150)]
    write_png("assets/images/drawn-3.png", S, S, drawing(S, three, 13))
    # Inpainting mask at MNIST resolution: white (generate) over the top of the digit.
    write_png("assets/images/mask-top.png", 28, 28,
              [[255 if 3 <= y < 13 and 4 <= x < 24 else 0 for x in range(28)] for y in range(28)])
