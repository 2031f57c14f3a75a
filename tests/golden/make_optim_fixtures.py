"""Optimizer + schedule goldens: torch.optim.SGD / torch.optim.Adam driven for a
few steps with fixed gradients, learning rates set per step as the reference
training scripts set them (UA-MT step decay, SSL4MIS poly, constant, linear
warm-up). Writes tests/golden/fixtures/optim_<case>.h5 with
  w0_<i>        initial parameter i (float32, flattened; shapes (3,4), (5,), (2,1,3))
  g_<t>_<i>     gradient fed at step t (t = 1..T)
  w_<t>_<i>     parameter i after step t (PyTorch float32)
  lr            (T,) learning rate used by step t (float64)
  attrs: kind (kind_id 0 sgd / 1 adam), schedule (schedule_id 0 constant / 1 step /
         2 poly), lr, momentum, weight_decay, beta1, beta2, eps, schedule,
         step_size, gamma, power, max_iter, warmup_iters, warmup_start, steps, nparams
Run: .venv/bin/python tests/golden/make_optim_fixtures.py
"""
import os

import h5py
import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
SHAPES = [(3, 4), (5,), (2, 1, 3)]
STEPS = 7


def lr_at(c, it):
    """lr for the it-th step (1-based), written as the reference scripts compute it."""
    done = it - 1
    base = c["lr"]
    if c["schedule"] == "step":  # UA-MT: after step t, if t % S == 0: lr = base * 0.1 ** (t // S)
        lr = base * c["gamma"] ** (done // c["step_size"])
    elif c["schedule"] == "poly":  # SSL4MIS: after step t: lr = base * (1 - t / max) ** 0.9
        lr = base * (1.0 - done / c["max_iter"]) ** c["power"]
    else:
        lr = base
    if c["warmup_iters"] > 0 and done < c["warmup_iters"]:
        s = c["warmup_start"]
        lr *= s + (1.0 - s) * done / c["warmup_iters"]
    return lr


def run(name, c, seed):
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in SHAPES]
    w0 = [p.detach().clone() for p in params]
    if c["kind"] == "sgd":
        opt = torch.optim.SGD(params, lr=c["lr"], momentum=c["momentum"],
                              weight_decay=c["weight_decay"])
    else:
        opt = torch.optim.Adam(params, lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"],
                               weight_decay=c["weight_decay"], foreach=False)
    grads, ws, lrs = [], [], []
    for t in range(1, STEPS + 1):
        lr = lr_at(c, t)
        for pg in opt.param_groups:
            pg["lr"] = lr
        gt = [torch.randn(s, generator=g) * 0.5 for s in SHAPES]
        for p, gg in zip(params, gt):
            p.grad = gg.clone()
        opt.step()
        grads.append(gt)
        ws.append([p.detach().clone() for p in params])
        lrs.append(lr)
    path = os.path.join(OUT, f"optim_{name}.h5")
    with h5py.File(path, "w") as f:
        for i, w in enumerate(w0):
            f[f"w0_{i}"] = w.numpy().astype(np.float32).reshape(-1)
        for t in range(STEPS):
            for i in range(len(SHAPES)):
                f[f"g_{t + 1}_{i}"] = grads[t][i].numpy().astype(np.float32).reshape(-1)
                f[f"w_{t + 1}_{i}"] = ws[t][i].numpy().astype(np.float32).reshape(-1)
        f["lr"] = np.array(lrs, dtype=np.float64)
        for k, v in c.items():
            f.attrs[k] = v
        f.attrs["kind_id"] = {"sgd": 0, "adam": 1}[c["kind"]]
        f.attrs["schedule_id"] = {"constant": 0, "step": 1, "poly": 2}[c["schedule"]]
        f.attrs["steps"] = STEPS
        f.attrs["nparams"] = len(SHAPES)
    print(f"{path}: {os.path.getsize(path)} bytes")


BASE = dict(kind="sgd", lr=0.01, momentum=0.9, weight_decay=1e-4, beta1=0.9, beta2=0.999,
            eps=1e-8, schedule="constant", step_size=3, gamma=0.1, power=0.9, max_iter=10,
            warmup_iters=0, warmup_start=1.0)


def main():
    os.makedirs(OUT, exist_ok=True)
    run("sgd_constant", dict(BASE), 1)
    run("sgd_step", dict(BASE, schedule="step"), 2)
    run("sgd_poly", dict(BASE, schedule="poly"), 3)
    run("sgd_warmup", dict(BASE, schedule="poly", warmup_iters=3, warmup_start=0.01), 4)
    run("adam", dict(BASE, kind="adam", lr=1e-3, weight_decay=0.0, beta1=0.9, beta2=0.99), 5)
    run("adam_wd", dict(BASE, kind="adam", lr=1e-2, weight_decay=1e-2, schedule="step"), 6)


if __name__ == "__main__":
    main()
