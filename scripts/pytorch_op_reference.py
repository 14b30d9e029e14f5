#!/usr/bin/python3
"""PyTorch reference for the DeepFloyd IF UNet benchmark: times, in Python PyTorch on this
machine, the convolutions and attention products of one benchmarked UNet step, with the shapes
our engine recorded (DS_BENCH_SHAPES=FILE dstudio bench --only if-ii-l-fp32 ...).

It is a lower bound for any PyTorch implementation of the same step (diffusers included): these
ops are ~80 % of the step's time in our op profile, and the rest (group norm, GELU, softmax,
adds) comes on top. Uses Debian's python3-torch, i.e. the same torch build as the engine.

For the T5 encoder, --t5 CONFIG.json times instead the linear layers of one 77-token prompt
(q, k, v, o and the gated-GELU FFN of every layer), which is nearly all of an encode's work.

usage: /usr/bin/python3 scripts/pytorch_op_reference.py SHAPES.txt [--threads N] [--dtype fp32|bf16]
       [--reps R]   -> JSON on stdout
       /usr/bin/python3 scripts/pytorch_op_reference.py --t5 assets/configs/t5-v1_1-xxl.json [...]
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shapes", nargs="?")
    ap.add_argument("--t5", metavar="CONFIG")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    if args.t5:
        return t5_linears(args, dtype)
    if not args.shapes:
        raise SystemExit("give a shapes file (or --t5 CONFIG)")
    ops = [line.split() for line in open(args.shapes) if line.strip()]

    # One set of tensors per distinct shape (weights differ per layer in the UNet, but the
    # arithmetic and memory traffic depend on the shape only).
    cache = {}

    def tensors(op):
        key = tuple(op)
        if key not in cache:
            d = [int(v) for v in op[1:]]
            if op[0] == "conv":
                n, cin, h, w, cout, k, pad = d
                cache[key] = (torch.randn(n, cin, h, w, dtype=dtype),
                              torch.randn(cout, cin, k, k, dtype=dtype) * 0.01,
                              torch.zeros(cout, dtype=dtype), pad)
            elif op[0] == "attn":
                b, heads, nq, nk, dh = d
                cache[key] = (torch.randn(b, heads, nq, dh, dtype=dtype),
                              torch.randn(b, heads, nk, dh, dtype=dtype),
                              torch.randn(b, heads, nk, dh, dtype=dtype))
            else:
                raise SystemExit(f"unknown op line: {' '.join(op)}")
        return cache[key]

    macs = {"conv": 0, "attn": 0}
    for op in ops:
        d = [int(v) for v in op[1:]]
        if op[0] == "conv":
            n, cin, h, w, cout, k, _ = d
            macs["conv"] += n * cin * h * w * cout * k * k
        else:
            b, heads, nq, nk, dh = d
            macs["attn"] += 2 * b * heads * nq * nk * dh

    best = {"conv": float("inf"), "attn": float("inf")}
    with torch.inference_mode():
        for _ in range(args.reps):
            spent = {"conv": 0.0, "attn": 0.0}
            for op in ops:
                t = tensors(op)
                t0 = time.perf_counter()
                if op[0] == "conv":
                    F.conv2d(t[0], t[1], t[2], padding=t[3])
                else:
                    q, k, v = t
                    scale = 1.0 / (q.shape[-1] ** 0.5)
                    p = torch.softmax((q @ k.transpose(-1, -2) * scale).float(), -1).to(v.dtype)
                    p @ v
                spent[op[0]] += time.perf_counter() - t0
            for key in best:
                best[key] = min(best[key], spent[key])

    total = best["conv"] + best["attn"]
    gflop = 2.0 * (macs["conv"] + macs["attn"]) / 1e9
    print(json.dumps({
        "torch": torch.__version__, "threads": args.threads, "dtype": args.dtype,
        "ops": len(ops), "conv_seconds": best["conv"], "attention_seconds": best["attn"],
        "seconds": total, "gflop": gflop, "achieved_gflops": gflop / total,
    }, indent=2))


def t5_linears(args, dtype):
    cfg = json.load(open(args.t5))
    d, inner, ff, layers = cfg["d_model"], cfg["num_heads"] * cfg["d_kv"], cfg["d_ff"], cfg["num_layers"]
    tokens = 77
    x = torch.randn(1, tokens, d, dtype=dtype)
    h = torch.randn(1, tokens, ff, dtype=dtype)
    # One layer's weights, reused by every layer (each is far larger than the caches).
    attn = [torch.randn(inner, d, dtype=dtype) * 0.01 for _ in range(3)]
    out = torch.randn(d, inner, dtype=dtype) * 0.01
    wi = [torch.randn(ff, d, dtype=dtype) * 0.01 for _ in range(2)]
    wo = torch.randn(d, ff, dtype=dtype) * 0.01
    y = torch.randn(1, tokens, inner, dtype=dtype)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(max(args.reps, 1)):
            t0 = time.perf_counter()
            for _ in range(layers):
                for w in attn:
                    F.linear(x, w)
                F.linear(y, out)
                for w in wi:
                    F.linear(x, w)
                F.linear(h, wo)
            best = min(best, time.perf_counter() - t0)
    gflop = 2.0 * tokens * layers * (4 * d * inner + 3 * d * ff) / 1e9
    print(json.dumps({
        "torch": torch.__version__, "threads": args.threads, "dtype": args.dtype,
        "config": args.t5, "tokens": tokens, "linear_seconds": best, "gflop": gflop,
        "achieved_gflops": gflop / best,
    }, indent=2))


if __name__ == "__main__":
    main()
