#!/usr/bin/python3
"""PyTorch reference for the Part B benchmarks (`dstudio bench --only train,sample,forward`):
the course's class-conditioned UNet (course_spec.md §3.1-3.5, D = 64, 28x28, one-hot classes,
`c1*h + t1` / `c2*h + t2`) written plainly in PyTorch, timed on this machine with the same torch
build as the engine (Debian's python3-torch 1.13.1).

It measures what our benchmark measures:
  train   img/s of full training steps (forward, MSE, backward, Adam) at batch 128, random data
  sample  seconds for 40 digits, 300 DDPM steps, CFG gamma = 5 (cond + uncond in one batch of 80)
  forward ms of one batch-1 eval forward

usage: /usr/bin/python3 scripts/pytorch_train_reference.py [--threads N] [--steps S]
       [--only train,sample,forward] [--hidden D]   -> JSON on stdout
"""
import argparse
import contextlib
import json
import platform
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MEMORY_FORMAT = torch.contiguous_format


class Conv(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(nn.Conv2d(i, o, 3, 1, 1), nn.BatchNorm2d(o), nn.GELU())


class DownConv(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(nn.Conv2d(i, o, 3, 2, 1), nn.BatchNorm2d(o), nn.GELU())


class UpConv(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(nn.ConvTranspose2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.GELU())


class ConvBlock(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(Conv(i, o), Conv(o, o))


class FCBlock(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(nn.Linear(i, o), nn.GELU(), nn.Linear(o, o))


class ClassUNet(nn.Module):
    def __init__(self, d=64, classes=10):
        super().__init__()
        self.enc1 = ConvBlock(1, d)
        self.down1 = nn.Sequential(DownConv(d, d), ConvBlock(d, d))
        self.down2 = nn.Sequential(DownConv(d, 2 * d), ConvBlock(2 * d, 2 * d))
        self.flatten = nn.Sequential(nn.AvgPool2d(7), nn.GELU())
        self.unflatten = nn.Sequential(nn.ConvTranspose2d(2 * d, 2 * d, 7, 7),
                                       nn.BatchNorm2d(2 * d), nn.GELU())
        self.up1 = nn.Sequential(UpConv(4 * d, d), ConvBlock(d, d))
        self.up2 = nn.Sequential(UpConv(2 * d, d), ConvBlock(d, d))
        self.dec = ConvBlock(2 * d, d)
        self.out = nn.Conv2d(d, 1, 3, 1, 1)
        self.t1, self.t2 = FCBlock(1, 2 * d), FCBlock(1, d)
        self.c1, self.c2 = FCBlock(classes, 2 * d), FCBlock(classes, d)

    def forward(self, x, t, c):
        e1 = self.enc1(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        u0 = self.unflatten(self.flatten(e3))
        t = t.view(-1, 1)
        u0 = self.c1(c)[..., None, None] * u0 + self.t1(t)[..., None, None]
        u1 = self.up1(torch.cat([e3, u0], 1))
        u1 = self.c2(c)[..., None, None] * u1 + self.t2(t)[..., None, None]
        u2 = self.up2(torch.cat([e2, u1], 1))
        return self.out(self.dec(torch.cat([e1, u2], 1)))


def bench_train(model, batch, steps, warmup=2):
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28).contiguous(memory_format=MEMORY_FORMAT)
    t = torch.rand(batch)
    c = F.one_hot(torch.randint(0, 10, (batch,)), 10).float()

    def one():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x, t, c), x)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        one()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    s = time.perf_counter() - t0
    return {"model": "class-ddpm", "batch": batch, "steps": steps, "seconds": s,
            "img_per_s": batch * steps / s}


@torch.no_grad()
def bench_sample(model, steps=300, guidance=5.0):
    model.eval()
    betas = torch.linspace(1e-4, 0.02, steps)
    alphas = 1 - betas
    abar = torch.cumprod(alphas, 0)
    labels = torch.arange(10).repeat_interleave(4)
    c = F.one_hot(labels, 10).float()
    cc = torch.cat([c, torch.zeros_like(c)])
    x = torch.randn(40, 1, 28, 28)
    t0 = time.perf_counter()
    for i in range(steps - 1, -1, -1):
        tt = torch.full((80,), i / steps)
        eps = model(torch.cat([x, x]).contiguous(memory_format=MEMORY_FORMAT), tt, cc).float()
        eps = eps[40:] + guidance * (eps[:40] - eps[40:])
        z = torch.randn_like(x) if i > 0 else torch.zeros_like(x)
        x = (x - (1 - alphas[i]) / (1 - abar[i]).sqrt() * eps) / alphas[i].sqrt() + betas[i].sqrt() * z
    return {"digits": 40, "steps": steps, "guidance": guidance, "seconds": time.perf_counter() - t0}


@torch.no_grad()
def bench_forward(model, reps=50):
    model.eval()
    x, t, c = torch.rand(1, 1, 28, 28), torch.rand(1), F.one_hot(torch.tensor([3]), 10).float()
    for _ in range(5):
        model(x, t, c)
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        model(x, t, c)
        best = min(best, time.perf_counter() - t0)
    return {"model": "class-ddpm", "ms": best * 1e3}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--only", default="train,sample,forward")
    ap.add_argument("--channels-last", action="store_true", help="model and inputs in channels-last")
    ap.add_argument("--bf16", action="store_true", help="CPU autocast to bfloat16")
    args = ap.parse_args()
    global MEMORY_FORMAT
    if args.channels_last:
        MEMORY_FORMAT = torch.channels_last
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ClassUNet(args.hidden).to(memory_format=MEMORY_FORMAT)
    out_opts = {"channels_last": args.channels_last, "bf16_autocast": args.bf16}
    out = {"torch": torch.__version__, "threads": args.threads, "cpu": platform.processor(),
           "parameters": sum(p.numel() for p in model.parameters())}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                out["cpu"] = line.split(":", 1)[1].strip()
                break
    out.update(out_opts)
    only = args.only.split(",")
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
    with ctx:
        run(out, model, only, args)
    print(json.dumps(out, indent=2))


def run(out, model, only, args):
    if "train" in only:
        out["train"] = bench_train(model, 128, args.steps)
    if "forward" in only:
        out["forward_batch1"] = bench_forward(model)
    if "sample" in only:
        out["sample_cfg_40"] = bench_sample(model)


if __name__ == "__main__":
    main()
