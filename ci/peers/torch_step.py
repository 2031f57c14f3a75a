#!/usr/bin/env python3
"""Times one training step of a semiseg model in PyTorch on the CPU, the peer
of `semiseg bench step`: the same network (tests/golden/models.py, dropout on,
batch norm), the same batch and patch, cross-entropy on the first segmentation
head, backward, SGD (momentum 0.9, weight decay 1e-4). Prints the median step
time over --iters steps after one warm-up step and the process's peak RSS:

    step_ms 1234.5
    cpu_ms 2345.6      (process CPU time per step, all threads)
    peak_rss_mib 678.9
"""
import argparse
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "golden"))


def parse_patch(s):
    p = [int(v) for v in s.lower().split("x")]
    if len(p) == 2:
        p = [1] + p
    if len(p) != 3 or min(p) < 1:
        raise argparse.ArgumentTypeError("--patch wants DxHxW or HxW, got %r" % s)
    return p


def build(name, patch):
    import models
    if name == "vnet":
        return models.VNet(1, 2, dropout=True), 3, lambda out: out
    if name in ("mcnet3", "mcnet3d_v2"):
        return models.MCNet3dV2(1, 2, dropout=True), 3, lambda out: out[0]
    if name in ("fbanet", "fbanet3d"):
        return (models.FBANet3d(1, 2, dropout=True, patch=tuple(patch)), 3,
                lambda out: out[2][0])
    if name in ("unet2d", "unet"):
        return models.UNet2d(1, 4, bilinear=True, dropout=True), 2, lambda out: out
    raise SystemExit("torch_step.py: model %r has no PyTorch peer here "
                     "(vnet, mcnet3, fbanet, unet2d)" % name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="vnet")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--patch", type=parse_patch, default=None)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net, dims, head = build(a.model, a.patch or [64, 64, 48])
    if a.patch is None:
        a.patch = [1, 256, 256] if dims == 2 else [64, 64, 48]
    classes = 4 if dims == 2 else 2
    shape = [a.batch, 1] + (a.patch[1:] if dims == 2 else a.patch)
    x = torch.rand(shape) * 2 - 1
    y = torch.randint(0, classes, [shape[0]] + shape[2:])
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    times, cpu = [], []
    for it in range(a.iters + 1):
        t0 = time.perf_counter()
        c0 = time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(head(net(x)), y)
        loss.backward()
        opt.step()
        t = time.perf_counter() - t0
        if it > 0:
            times.append(t)
            cpu.append(time.process_time() - c0)
    print("torch %s threads %d batch %d patch %s" % (torch.__version__, a.threads, a.batch,
                                                      "x".join(map(str, a.patch))))
    print("step_ms %.1f" % (1e3 * statistics.median(times)))
    print("cpu_ms %.1f" % (1e3 * statistics.median(cpu)))
    print("peak_rss_mib %.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


if __name__ == "__main__":
    main()
