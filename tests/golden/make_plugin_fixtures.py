#!/usr/bin/env python3
"""Writes the training-step golden fixtures that tests/test_plugin_golden.c
checks the mutual-consistency plugins against (baselines/mcnet.c with
methods/fbanet.c): tests/golden/fixtures/plugin_<case>.h5, one full training
step of

  fbanet      3-D (FBANet3d,  2 classes, 4 x 1 x 32^3, 2 labeled rows)
  mcnet_plus  3-D (MCNet3dV2, 2 classes, 4 x 1 x 32^3, 2 labeled rows)
  fbanet      2-D (FBANet2d,  4 classes, 4 x 1 x 32^2, 2 labeled rows)
  mcnet_plus  2-D (MCNet2dV2, 4 classes, 4 x 1 x 32^2, 2 labeled rows)

from fixed weights and a fixed batch: the loss terms and the SGD update.

The losses below are written from the protocol documents, not from the C
code (../shared/reference/protocol-3d.md 2.1, 2.6, 2.7; protocol-2d.md 1.8,
5.1, 5.2):
  3-D  L = 0.5 sum_d BinaryDice_d + w(t) sum_{i!=j} mse(P_i, S(P_j))
           [+ sum_d (Lmax(f_d) + Lmax(b_d) + Lmin(f_d, b_d))]       (FBA-Net)
  2-D  L = sum_d Dice_d + w(t) sum_{i!=j} mse(P_i, S(P_j))
           [+ (1/12) sum_d sum_c (Lmax(E_dc) + sum_{c'!=c} Lmin(E_dc, E_dc'))]
with BinaryDice = 1 - (2 sum p y + 1e-8) / (sum p + sum y + 1e-8) on the
foreground channel of the labeled rows, 2-D Dice = mean over the 4 classes
of 1 - sum p g / (sum p^2 + sum g^2 + 1e-10) (no factor 2), S the
T = 0.1 sharpening p^10 / (p^10 + (1-p)^10) per element, mse over the whole
batch, no detach; Lmax / Lmin with cosine similarities clamped to
[0.0005, 0.9995], rank weights exp(-alpha (r - 1)) (r the 0-based position
in the row's descending sort, no gradient), alpha 0.25 / 2.5;
w(t) = w_max exp(-5 (1 - min(floor(t/150), L)/L)^2) on the 1-based
iteration t: FBA-Net (both) and MC-Net+ 3-D w_max 1, L 40; MC-Net+ 2-D
w_max 0.1, L 200. Optimizer torch.optim.SGD(lr 0.01, momentum 0.9,
weight_decay 1e-4), one step. Dropout off, BN in training mode.

Expected values are computed in float64 from the float32 weights and batch
(the script also runs float32 PyTorch and prints how far that is). Stored
per case:
  attrs   method, dims, classes, batch, labeled_bs, patch (D, H, W), dim,
          iteration, ramp_weight, lr, momentum, weight_decay, batch_seed,
          generator
  label   (N, 1, D, H, W) uint8 class ids (gzip; rows >= labeled_bs are the
          unlabeled rows: their ids only shape the image)
  image_offset (N,), image_level (N, C) float32: the image is rebuilt from
          them, the labels and the generator (see make_batch)
  terms/names, terms/values (float64): loss, dice (sum over decoders,
          unweighted), cons, and for FBA-Net cm, cm_pos, cm_neg (2-D: each
          already divided by 12)
  keys (K,) every parameter (state_dict order);  key_gen (K, 2) float32
          (center, half);  key_offset (K,) int64 into key_values (-1 =
          generated);  key_values float32 (the stored tensors)
  upd/numel (int64), upd/sum, upd/sumsq, upd/l1 (float64) of the update
          delta over the whole tensor; upd/idx (K, S)
          int64 sampled indices and upd/values (K, S) float64 their deltas;
          upd/zscale (K,) lr * max_c sum |dL/dy_c| for the conv biases whose
          gradient is 0 analytically (a conv followed by train-mode BN), else 0.
  Here delta = -lr * momentum_buffer = -lr (grad + wd w), the step before it
  is rounded into float32 w (w_after - w_before in float64).

Weights. Parameters are not stored but generated from their key:
  element i of key k = center + half * (2 u(k, i) - 1), in float32,
with the generator of make_model_fixtures.py (u = 24-bit uniform from
splitmix64(fnv1a64(k) + (i + 1) * golden) >> 40, so 2u - 1 is exact and the
value is one correctly rounded float product). center 0, half = PyTorch's
default-init bound 1/sqrt(fan_in) for conv / linear weights and biases; BN
weight 1 +- 0.2. Exceptions, chosen so that the comparison measures
arithmetic and not kinks (a float32 rounding that moves a value across a
ReLU kink, a MaxPool tie, a clamp bound or a rank swap changes the step by
O(1) locally):
  * BN biases that feed a ReLU / LeakyReLU are +-(2.5..3.5) gamma (80 % of
    channels on, 20 % off; stored), as in make_model_fixtures.py;
  * the 3-D fg/bg MLP weights have half MLP3_HALF and the 2-D contrast
    Linear half MLP2_HALF, the activation heads ACT_HALF, so that the
    embeddings of different samples differ well beyond rounding (with
    PyTorch's bounds the 3-D MLP output is its bias and every similarity
    clamps to 0.9995: all ranks would be ties).
The batch seed is the first one whose float64 forward keeps every ReLU /
LeakyReLU input and MaxPool top-2 gap MARGIN_KINK (relative to the tensor's
RMS / the window max) from the kink, every off-diagonal similarity
MARGIN_SIM inside the clamp range, and adjacent sorted similarities of a
row MARGIN_RANK apart (float32 cosines are good to ~1e-7), so the rank
order is unambiguous; the diagonal of Lmax, exactly 1, clamps to 0.9995
and ranks first: a deliberate, harmless tie-free top entry.

Run from the repo root: .venv/bin/python tests/golden/make_plugin_fixtures.py
"""
import argparse
import copy
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import models  # noqa: E402
from make_model_fixtures import gen_unit, gen_tensor, hash64  # noqa: E402

ITERATION = 3000          # floor(3000/150) = 20: w = exp(-1.25) (L 40), 0.1 exp(-4.05) (L 200)
LR, MOMENTUM, WD = 0.01, 0.9, 1e-4
T_SHARPEN = 0.1
SIM_LO, SIM_HI = 0.0005, 0.9995
ALPHA_POS, ALPHA_NEG = 0.25, 2.5
DIM = 32                  # projection width (upstream 128; a spec key, method.cm_dim)
SAMPLES = 8               # sampled update entries per parameter
MLP3_HALF = 8.0
MLP2_HALF = 1.0
ACT_HALF = 1.0
BETA_MAG = 3.0
MARGIN_KINK = 2e-6
MARGIN_SIM = 1e-4
MARGIN_RANK = 1e-5
P3 = tuple(int(v) for v in os.environ.get("PF_P3", "32,32,32").split(","))
P2 = (1, 32, 32)


def cases():
    p3, p2 = P3, P2
    return [
        dict(name="fbanet3d", method="fbanet", dims=3, classes=2, patch=p3, cm=True,
             build=lambda: models.FBANet3d(1, 2, dropout=False, dim=DIM, patch=p3),
             dice_w=0.5, w_max=1.0, ramp_len=40),
        dict(name="mcnet_plus3d", method="mcnet_plus", dims=3, classes=2, patch=p3, cm=False,
             build=lambda: models.MCNet3dV2(1, 2, dropout=False),
             dice_w=0.5, w_max=1.0, ramp_len=40),
        dict(name="fbanet2d", method="fbanet", dims=2, classes=4, patch=p2, cm=True,
             build=lambda: models.FBANet2d(1, 4, dropout=False, dim=DIM, patch=p2[1:]),
             dice_w=1.0, w_max=1.0, ramp_len=40),
        dict(name="mcnet_plus2d", method="mcnet_plus", dims=2, classes=4, patch=p2, cm=False,
             build=lambda: models.MCNet2dV2(1, 4, dropout=False),
             dice_w=1.0, w_max=0.1, ramp_len=200),
    ]


# ---- the method, from the protocol documents ----------------------------------------

def ramp_weight(w_max, t, length, every=150):
    e = t // every
    if length == 0:
        return w_max
    phase = 1.0 - min(max(e, 0), length) / length
    return w_max * math.exp(-5.0 * phase * phase)


def sharpen(p, T=T_SHARPEN):
    a = p ** (1.0 / T)
    b = (1.0 - p) ** (1.0 / T)
    return a / (a + b)


def mutual_consistency(probs):
    total = 0.0
    for i in range(len(probs)):
        for j in range(len(probs)):
            if i != j:
                total = total + ((probs[i] - sharpen(probs[j])) ** 2).mean()
    return total


def binary_dice(p, y):
    """protocol-3d 2.1 Binary_dice_loss (batch-global sums)."""
    return 1.0 - (2.0 * (p * y).sum() + 1e-8) / (p.sum() + y.sum() + 1e-8)


def dice_no2(prob, y, classes):
    """protocol-2d 1.8 MC-Net / FBA DiceLoss: mean over classes (background
    included) of 1 - sum p g / (sum p^2 + sum g^2 + 1e-10)."""
    total = 0.0
    for c in range(classes):
        p = prob[:, c]
        g = (y == c).to(prob.dtype)
        total = total + 1.0 - (p * g).sum() / ((p * p).sum() + (g * g).sum() + 1e-10)
    return total / classes


def similarity(x, y):
    """clamp(normalize(x) normalize(y)^T, lo, hi); also the raw matrix."""
    raw = F.normalize(x, dim=1, eps=1e-12) @ F.normalize(y, dim=1, eps=1e-12).t()
    return raw.clamp(SIM_LO, SIM_HI), raw


def rank_weights(s, alpha):
    """exp(-alpha (r - 1)), r the 0-based position of column j in row i's
    descending sort (stable: ties by column index); no gradient."""
    s = s.detach()
    order = torch.sort(s, dim=1, descending=True, stable=True).indices
    r = torch.empty_like(order)
    ar = torch.arange(s.shape[1]).expand_as(order)
    r.scatter_(1, order, ar)
    return torch.exp(-alpha * (r.to(s.dtype) - 1.0))


SIMS = []  # raw similarity matrices of the last forward (margin checks)


def sim_max(x):
    s, raw = similarity(x, x)
    SIMS.append(("max", raw))
    return (rank_weights(s, ALPHA_POS) * -torch.log(s)).mean()


def sim_min(x, y):
    s, raw = similarity(x, y)
    SIMS.append(("min", raw))
    return (rank_weights(s, ALPHA_NEG) * -torch.log(1.0 - s)).mean()


def step_losses(case, out, y, L, t):
    """Loss terms of one step (dict of 0-d tensors) and the total."""
    if case["name"].startswith("fbanet") and case["dims"] == 3:
        fgs, bgs, segs = out
    elif case["name"].startswith("fbanet"):
        segs, embs = out
    else:
        segs = list(out)
    probs = [torch.softmax(z, dim=1) for z in segs]
    yl = y[:L, 0] if case["dims"] == 3 else y[:L, 0, 0]
    dice = 0.0
    for p in probs:
        if case["dims"] == 3:
            dice = dice + binary_dice(p[:L, 1], (yl == 1).to(p.dtype))
        else:
            dice = dice + dice_no2(p[:L], yl, case["classes"])
    cons = mutual_consistency(probs)
    w = ramp_weight(case["w_max"], t, case["ramp_len"])
    terms = {"dice": dice, "cons": cons}
    loss = case["dice_w"] * dice + w * cons
    if case["cm"]:
        del SIMS[:]
        pos, neg = 0.0, 0.0
        if case["dims"] == 3:
            for f, b in zip(fgs, bgs):
                pos = pos + sim_max(f) + sim_max(b)
                neg = neg + sim_min(f, b)
        else:
            C = case["classes"]
            for e in embs:
                for c in range(C):
                    pos = pos + sim_max(e[:, c])
                    for k in range(C):
                        if k != c:
                            neg = neg + sim_min(e[:, c], e[:, k])
            pos, neg = pos / (C * (C - 1)), neg / (C * (C - 1))
        terms.update(cm=pos + neg, cm_pos=pos, cm_neg=neg)
        loss = loss + terms["cm"]
    terms["loss"] = loss
    return terms, w


# ---- weights ------------------------------------------------------------------------

def init_rules(model):
    """key -> (center, half, kind) for every parameter."""
    rules = {}
    for mname, mod in model.named_modules():
        pre = mname + "." if mname else ""
        if isinstance(mod, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d,
                            nn.Linear)):
            w = mod.weight
            fan_in = w.shape[1] * int(np.prod(w.shape[2:])) if w.dim() > 2 else w.shape[1]
            bound = float(np.float32(1.0) / np.sqrt(np.float32(fan_in)))
            half, kind = bound, "w"
            if isinstance(mod, nn.Linear) and (".f_mlp." in pre or ".b_mlp." in pre):
                half, kind = MLP3_HALF, "tuned"
            elif isinstance(mod, nn.Linear) and ".cm.mlp." in pre:
                half, kind = MLP2_HALF, "tuned"
            elif pre.endswith("activation_head."):
                half, kind = ACT_HALF, "tuned"
            rules[pre + "weight"] = (0.0, half, kind)
            if mod.bias is not None:
                rules[pre + "bias"] = (0.0, bound, "w")
        elif isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm3d)):
            rules[pre + "weight"] = (1.0, 0.2, "bn")
            rules[pre + "bias"] = (0.0, 0.1, "bn" if mname.endswith("bn_head") else "bnr")
    return rules


def set_weights(model):
    """Fills the parameters; returns rules and {key: stored float32 array}."""
    rules = init_rules(model)
    stored = {}
    params = dict(model.named_parameters())
    assert set(params) == set(rules), sorted(set(params) ^ set(rules))
    with torch.no_grad():
        for k, t in params.items():
            c, h, kind = rules[k]
            t.copy_(torch.from_numpy(gen_tensor(k, tuple(t.shape), c, h)))
        for k, t in params.items():
            if rules[k][2] == "bnr":
                gamma = params[k[:-len("bias")] + "weight"].double()
                on = torch.from_numpy(gen_unit("sign:" + k, t.numel())).double() > -0.6
                mag = BETA_MAG + 0.5 * torch.from_numpy(gen_unit("mag:" + k, t.numel())).double()
                t.copy_((gamma * torch.where(on, mag, -mag)).float())
                stored[k] = t.detach().numpy().copy()
    return rules, stored


# ---- batch and margins --------------------------------------------------------------

def make_batch(case, seed):
    """4 rows: label maps of random blobs (a coarse random class field,
    nearest-upsampled, 20 % of the voxels replaced by random classes; every
    class present in the labeled rows) and images
        image = (offset[n] + level[n, label]) + 0.25 * (2 u("noise<seed>", i) - 1)
    in float32 (offset, level multiples of 1/64, so only the last addition
    rounds and the C test rebuilds the image bit for bit from the stored
    labels, offsets and levels). Rows must differ in their large-scale
    content: with i.i.d. noise images the bottleneck features of the 4 rows
    nearly coincide, and train-mode BN over those few values turns float32
    rounding into percent-level gradient errors."""
    d, h, w = case["patch"]
    n = 4
    C = case["classes"]
    g = torch.Generator().manual_seed(1000 + seed)
    while True:
        lab = torch.randint(0, C, (n, 1, d, h, w), generator=g)
        coarse = torch.randint(0, C, (n, 1, max(d // 4, 1), h // 4, w // 4), generator=g)
        up = F.interpolate(coarse.float(), size=(d, h, w), mode="nearest").long()
        keep = torch.rand((n, 1, d, h, w), generator=g) < 0.8
        lab = torch.where(keep, up, lab)
        if all(bool((lab[:2] == c).any()) for c in range(C)):
            break
    offset = (torch.randint(-64, 65, (n,), generator=g).double() / 64).numpy().astype(np.float32)
    level = (torch.randint(-96, 97, (n, C), generator=g).double() / 64).numpy().astype(np.float32)
    labn = lab.numpy().reshape(n, -1)
    base = (offset[:, None] + np.take_along_axis(level, labn, axis=1)).astype(np.float32)
    noise = np.float32(0.25) * gen_unit("noise%d" % seed, labn.size).reshape(n, -1)
    img = (base + noise).astype(np.float32).reshape(lab.shape)
    return torch.from_numpy(img), lab.to(torch.uint8), offset, level


def forward_shaped(model, case, x):
    if case["dims"] == 2:
        return model(x[:, :, 0])
    return model(x)


def margins(model, case, x, y, L, t):
    """Float64 forward: the smallest kink margin, similarity clamp margin and
    rank gap (see the docstring)."""
    m = copy.deepcopy(model).double().train()
    worst = {"kink": (float("inf"), ""), "clamp": (float("inf"), ""), "rank": (float("inf"), "")}

    def note(key, v, name):
        if v < worst[key][0]:
            worst[key] = (v, name)

    def pre(name):
        def hook(mod, inp):
            tt = inp[0].detach()
            rms = float(tt.pow(2).mean().sqrt())
            if isinstance(mod, nn.MaxPool2d):
                wnd = tt.unfold(-2, 2, 2).unfold(-2, 2, 2).flatten(-2)
                top = wnd.topk(2, dim=-1).values
                gap = (top[..., 0] - top[..., 1]) / top[..., 0].abs().clamp_min(1e-30 * rms)
                note("kink", float(gap.min()), name)
            else:
                note("kink", float(tt.abs().min()) / rms, name)
        return hook
    for name, mod in m.named_modules():
        if isinstance(mod, (nn.ReLU, nn.LeakyReLU, nn.MaxPool2d)):
            mod.register_forward_pre_hook(pre(name))
    with torch.no_grad():
        out = forward_shaped(m, case, x.double())
        step_losses(case, out, y, L, t)
    if case["cm"]:
        for i, (kind, raw) in enumerate(SIMS):
            n = raw.shape[0]
            off = raw.clone()
            if kind == "max":
                off[torch.arange(n), torch.arange(n)] = float("nan")
                assert bool((raw.diagonal() > SIM_HI + MARGIN_SIM).all())
            v = off[~torch.isnan(off)]
            note("clamp", float(torch.minimum(v - SIM_LO, SIM_HI - v).min()), "%s%d" % (kind, i))
            s = raw.clamp(SIM_LO, SIM_HI)
            srt = torch.sort(s, dim=1, descending=True).values
            note("rank", float((srt[:, :-1] - srt[:, 1:]).min()), "%s%d" % (kind, i))
    return worst


CONVS = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)


# ---- one step -----------------------------------------------------------------------

def train_step(model, case, x, y, L, t, dtype):
    m = copy.deepcopy(model).to(dtype).train()
    before = {k: p.detach().clone() for k, p in m.named_parameters()}
    opt = torch.optim.SGD(m.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    opt.zero_grad(set_to_none=True)
    # scale of the conv-bias gradients that are 0 analytically (a conv
    # followed by train-mode BN: BN removes the per-channel mean): max over
    # channels of sum |dL/dy_c| over the conv output y
    l1, handles = {}, []

    def watch(key):
        def fwd_hook(mod, inp, out):
            def grad_hook(g):
                dims = [i for i in range(g.dim()) if i != 1]
                l1[key] = float(g.abs().sum(dim=dims).max())
            out.register_hook(grad_hook)
        return fwd_hook
    for name, mod in m.named_modules():
        if isinstance(mod, CONVS) and mod.bias is not None:
            handles.append(mod.register_forward_hook(watch(name + ".bias")))
    out = forward_shaped(m, case, x.to(dtype))
    terms, w = step_losses(case, out, y, L, t)
    terms["loss"].backward()
    for h in handles:
        h.remove()
    zscale = {}
    for k, p in m.named_parameters():
        if k in l1 and float(p.grad.abs().max()) <= 1e-12 * l1[k]:
            zscale[k] = LR * l1[k]
    opt.step()
    # the update direction: the first step sets the momentum buffer to
    # d = grad + wd * w and moves w by -lr * d
    upd = {k: -LR * opt.state[p]["momentum_buffer"].detach().double()
           for k, p in m.named_parameters()}
    return {k: float(v.detach()) for k, v in terms.items()}, w, upd, zscale


def make(case, outdir):
    torch.manual_seed(0)
    model = case["build"]()
    rules, stored = set_weights(model)
    L, t = 2, ITERATION
    for seed in range(200):
        x, y, offset, level = make_batch(case, seed)
        mg = margins(model, case, x, y, L, t)
        ok = mg["kink"][0] >= MARGIN_KINK
        if case["cm"]:
            ok = ok and mg["clamp"][0] >= MARGIN_SIM and mg["rank"][0] >= MARGIN_RANK
        print("  %s batch seed %d: margins kink %.1e (%s) clamp %.1e rank %.1e"
              % (case["name"], seed, mg["kink"][0], mg["kink"][1], mg["clamp"][0],
                 mg["rank"][0]), file=sys.stderr, flush=True)
        if ok:
            break
    else:
        raise SystemExit("%s: no batch with the required margins (%s)" % (case["name"], mg))

    terms64, w, d64, zscale = train_step(model, case, x, y, L, t, torch.float64)
    terms32, _, d32, _ = train_step(model, case, x, y, L, t, torch.float32)

    keys = [k for k, _ in model.named_parameters()]
    names = ["loss", "dice", "cons"] + (["cm", "cm_pos", "cm_neg"] if case["cm"] else [])
    numel, sums, sumsq, l1, idx, vals, gens, offs, kv, zs = [], [], [], [], [], [], [], [], [], []
    off = 0
    worst = {"sum": 0.0, "sumsq": 0.0, "sample": 0.0, "zero": 0.0}
    for k in keys:
        a = d64[k].contiguous().view(-1).numpy()
        b = d32[k].contiguous().view(-1).numpy()
        n = a.size
        ii = (hash64("U:" + case["name"] + ":" + k, SAMPLES) % np.uint64(n)).astype(np.int64)
        numel.append(n)
        sums.append(float(a.sum()))
        sumsq.append(float(np.sum(a * a)))
        l1.append(float(np.abs(a).sum()))
        idx.append(ii)
        vals.append(a[ii])
        zs.append(zscale.get(k, 0.0))
        if k in zscale:
            worst["zero"] = max(worst["zero"], float(np.abs(b - a).max()) / zscale[k])
        else:
            worst["sum"] = max(worst["sum"], abs(b.sum() - a.sum()) / max(l1[-1], 1e-300))
            worst["sumsq"] = max(worst["sumsq"], abs(np.dot(b, b) / max(sumsq[-1], 1e-300) - 1))
            rms = math.sqrt(sumsq[-1] / n)
            worst["sample"] = max(worst["sample"],
                                  float(np.abs(b[ii] - a[ii]).max()) / max(rms, 1e-300))
        c, h, _ = rules[k]
        gens.append([c, h])
        if k in stored:
            offs.append(off)
            kv.append(stored[k].reshape(-1))
            off += stored[k].size
        else:
            offs.append(-1)

    path = os.path.join(outdir, "plugin_%s.h5" % case["name"])
    d, hh, ww = case["patch"]
    with h5py.File(path, "w", track_order=False) as f:
        f.attrs["method"] = case["method"]
        f.attrs["dims"] = case["dims"]
        f.attrs["classes"] = case["classes"]
        f.attrs["batch"] = 4
        f.attrs["labeled_bs"] = L
        f.attrs["patch"] = np.array([d, hh, ww], dtype=np.int32)
        f.attrs["dim"] = DIM
        f.attrs["iteration"] = t
        f.attrs["ramp_weight"] = w
        f.attrs["lr"] = LR
        f.attrs["momentum"] = MOMENTUM
        f.attrs["weight_decay"] = WD
        f.attrs["batch_seed"] = seed
        f.attrs["generator"] = ("tests/golden/make_plugin_fixtures.py, torch %s"
                                % torch.__version__)
        kw = dict(track_times=False)
        f.create_dataset("image_offset", data=offset, **kw)
        f.create_dataset("image_level", data=level, **kw)
        f.create_dataset("label", data=y.numpy().astype(np.uint8), compression="gzip",
                         compression_opts=9, shuffle=True, **kw)
        f.create_dataset("terms/names", data=np.array(names, dtype="S8"), **kw)
        f.create_dataset("terms/values", data=np.array([terms64[n] for n in names]), **kw)
        f.create_dataset("keys", data=np.array(keys, dtype="S%d" % (max(map(len, keys)) + 1)),
                         **kw)
        f.create_dataset("key_gen", data=np.array(gens, dtype=np.float32), **kw)
        f.create_dataset("key_offset", data=np.array(offs, dtype=np.int64), **kw)
        f.create_dataset("key_values", data=np.concatenate(kv).astype(np.float32), **kw)
        f.create_dataset("upd/numel", data=np.array(numel, dtype=np.int64), **kw)
        f.create_dataset("upd/sum", data=np.array(sums), **kw)
        f.create_dataset("upd/sumsq", data=np.array(sumsq), **kw)
        f.create_dataset("upd/l1", data=np.array(l1), **kw)
        f.create_dataset("upd/zscale", data=np.array(zs), **kw)
        f.create_dataset("upd/idx", data=np.array(idx, dtype=np.int64), **kw)
        f.create_dataset("upd/values", data=np.array(vals), **kw)
    rel = {n: abs(terms32[n] - terms64[n]) / abs(terms64[n]) for n in names}
    print("%-26s seed %d %6.1f KiB  w %.6g  terms %s" % (
        os.path.basename(path), seed, os.path.getsize(path) / 1024, w,
        " ".join("%s=%.9g" % (n, terms64[n]) for n in names)))
    print("    float32 torch vs fixture: terms max rel %.1e (%s); update: sum/l1 %.1e, "
          "sumsq rel %.1e, sample/rms %.1e, %d zero-gradient biases max|err|/zscale %.1e; "
          "margins kink %.1e (%s) clamp %.1e rank %.1e"
          % (max(rel.values()), max(rel, key=rel.get), worst["sum"], worst["sumsq"],
             worst["sample"], len(zscale), worst["zero"], mg["kink"][0], mg["kink"][1], mg["clamp"][0], mg["rank"][0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "fixtures"))
    ap.add_argument("--only", default=None, help="comma-separated case names")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    os.makedirs(args.out, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    for case in cases():
        if only and case["name"] not in only:
            continue
        make(case, args.out)


if __name__ == "__main__":
    main()
