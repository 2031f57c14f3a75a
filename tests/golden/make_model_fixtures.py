#!/usr/bin/env python3
"""Writes the whole-network golden fixtures that tests/test_models_golden.c
checks semiseg's model builders (harness/nn) against: one HDF5 file per model
in tests/golden/fixtures/model_<name>.h5, from the modules in models.py.

Per model: deterministic weights and input, the logits of every head in eval
mode (BN running statistics), then in train mode (BN batch statistics, no
dropout) the heads, the gradient of every parameter for the loss
L = sum_heads sum(head * R_head), and the BN running statistics after that
step. Expected values are computed in float64 from the float32 weights and
input, then rounded to float32; the script also runs float32 PyTorch and
prints how far that is from the fixture.

Size. The networks have 2-17 M parameters, so neither weights nor full
gradients fit in a small committed file. Therefore:

* Weights. A tensor with at most STORE_MAX elements (biases, BN affine and
  running statistics, small convs) is stored. A larger one (conv / linear
  weights) is generated: element i of key k is
      center + half * (2 u(k, i) - 1)          computed in float32,
  with u(name, i) = (splitmix64(fnv1a64(name) + (i + 1) * 0x9E3779B97F4A7C15) >> 40) / 2^24,
  i.e. 24-bit uniforms that both sides compute exactly (2u - 1 is exact in
  float32, so the result is one correctly rounded float product). center/half
  are stored per key: center 0, half = PyTorch's default-init bound
  1/sqrt(fan_in), except FBA-Net's f_mlp/b_mlp weights (half = MLP_HALF, so
  that the CAM and not the bias dominates fg/bg; see below).
* Small tensors: conv biases U(+-1/sqrt(fan_in)), BN weight 1 +- 0.2, BN bias
  +- 0.1 (same generator); BN running statistics are calibrated: the batch
  statistics of an independent random batch "xcal" (train-mode pass in
  float64), then perturbed (mean += 0.1 sqrt(var) w, var *= 1 + 0.25 w), so
  eval-mode activations stay of unit scale through 20+ layers and still differ
  from train mode.
* Checked tensors ("records": eval/<head>, train/<head>, grad/<key>,
  after/<key>). A record with n <= S elements (S = SAMPLE_OUT for outputs and
  running statistics, SAMPLE_GRAD for gradients) is stored in full; a larger
  one as S values at indices idx_j = h(S:<record>, j) mod n (h = the 64-bit
  hash above before the shift). Every record also stores sumsq = sum t^2 and
  proj = sum t_i P_i over ALL n elements with P_i = 2 u(P:<record>, i) - 1,
  both from the float64 result, so every element is covered by a check.

Layout of a file (all arrays packed per group, strings fixed-length ASCII):
  attrs: model (registry name), batch, in_ch, classes, dim, patch (D, H, W of
         the input as semiseg sees it; a 2-D input (N,C,H,W) is (N,C,1,H,W)),
         store_max, sample_out, sample_grad, generator, description
  keys            (K,) every state_dict key in module order (num_batches_tracked too)
  key_rank        (K,) int32 PyTorch rank;  key_shape (K, 5) int32 (unused dims 0)
  key_is_param    (K,) int8  1 parameter, 0 buffer
  key_gen         (K, 2) float32 (center, half) for generated tensors
  key_offset      (K,) int64 offset into key_values, -1 when generated
  key_values      float32 stored tensors, concatenated
  heads           (H,) output names (semiseg's ss_model_out names) in forward order
  head_rank, head_shape   PyTorch shapes of the outputs
  <grp>/names, <grp>/numel (int64), <grp>/offset (int64 into <grp>/values),
  <grp>/values (float32), <grp>/sumsq, <grp>/proj, <grp>/l1 (float64)
      for grp in eval, train, grad, after. l1 > 0 marks a gradient that is 0
      analytically (the bias of a conv followed by train-mode BN: BN removes
      the mean); l1 = max over channels of sum |dL/dy_c| over the conv's
      output y, the scale its rounding error is relative to.
x and R/<head> are generated (center 0, half 1) from the names x_name(x_seed)
("x" when x_seed = 0, else "x<x_seed>") and "R/<head>". x_seed is the first
seed whose train-mode forward keeps every ReLU / LeakyReLU input and MaxPool
top-2 gap at least MARGIN_MIN (relative) away from the kink, see set_weights.

Run from the repo root: .venv/bin/python tests/golden/make_model_fixtures.py
"""
import argparse
import copy
import os
import sys

import h5py
import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import models  # noqa: E402

STORE_MAX = 4096
SAMPLE_OUT = 2048
SAMPLE_GRAD = 512
MLP_HALF = 8.0
MARGIN_MIN = 2e-6
BETA_MAG = 3.0


def x_name(seed):
    """Generator name of the input: "x", or "x<seed>" when the first inputs
    came too close to a kink (attribute x_seed)."""
    return "x" if seed == 0 else "x%d" % seed

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode("ascii"):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(h)


def hash64(name, n):
    """h(name, j) for j < n (splitmix64 finalizer of a Weyl sequence)."""
    with np.errstate(over="ignore"):
        z = fnv1a64(name) + (np.arange(1, n + 1, dtype=np.uint64) * GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def gen_unit(name, n):
    """2 u - 1 in float32 (exact), u 24-bit uniform in [0, 1)."""
    k = (hash64(name, n) >> np.uint64(40)).astype(np.int64)
    return ((2 * k - (1 << 24)).astype(np.float64) / float(1 << 24)).astype(np.float32)


def gen_tensor(name, shape, center, half):
    n = int(np.prod(shape)) if len(shape) else 1
    w = gen_unit(name, n)
    v = np.float32(half) * w
    v = np.float32(center) + v
    return v.astype(np.float32).reshape(shape)


# ---- models ---------------------------------------------------------------------------

def spec_list():
    p3 = (32, 32, 16)
    return [
        dict(file="model_vnet", model="vnet", batch=2, classes=2, patch=p3,
             build=lambda d: models.VNet(1, 2, dropout=d), heads=["seg1"]),
        dict(file="model_vnet_sdf", model="vnet_sdf", batch=2, classes=1, patch=p3,
             build=lambda d: models.VNet(1, 1, dropout=d, sdf_head=True), heads=["sdf", "seg1"]),
        dict(file="model_mcnet3d_v2", model="mcnet3d_v2", batch=2, classes=2, patch=p3,
             build=lambda d: models.MCNet3dV2(1, 2, dropout=d), heads=["seg1", "seg2", "seg3"]),
        dict(file="model_fbanet3d", model="fbanet3d", batch=2, classes=2, patch=p3, dim=128,
             build=lambda d: models.FBANet3d(1, 2, dropout=d, dim=128, patch=p3),
             heads=["fg1", "fg2", "fg3", "bg1", "bg2", "bg3", "seg1", "seg2", "seg3"]),
        dict(file="model_unet", model="unet", batch=2, classes=4, patch=(1, 64, 64),
             build=lambda d: models.UNet2d(1, 4, bilinear=True, dropout=d), heads=["seg1"]),
        dict(file="model_unet_deconv", model="unet_deconv", batch=2, classes=4,
             patch=(1, 64, 64),
             build=lambda d: models.UNet2d(1, 4, bilinear=False, dropout=d), heads=["seg1"]),
    ]


def flat_outputs(out):
    """Flattens a forward result ((a, b), [[fg..], [bg..], [seg..]], tensor) to a list."""
    if torch.is_tensor(out):
        return [out]
    res = []
    for o in out:
        res += flat_outputs(o)
    return res


def input_shape(spec):
    d, h, w = spec["patch"]
    if d == 1 and spec["model"].startswith("unet"):
        return (spec["batch"], 1, h, w)
    return (spec["batch"], 1, d, h, w)


def init_rules(model):
    """key -> (center, half, kind) for every float state_dict entry."""
    rules = {}
    for mname, mod in model.named_modules():
        pre = mname + "." if mname else ""
        if isinstance(mod, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d,
                            nn.Linear)):
            w = mod.weight
            fan_in = w.shape[1] * int(np.prod(w.shape[2:])) if w.dim() > 2 else w.shape[1]
            bound = 1.0 / np.sqrt(fan_in)
            half = bound
            if isinstance(mod, nn.Linear) and (".f_mlp." in pre or ".b_mlp." in pre):
                half = MLP_HALF
            rules[pre + "weight"] = (0.0, half, "w")
            if mod.bias is not None:
                rules[pre + "bias"] = (0.0, bound, "b")
        elif isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm3d)):
            rules[pre + "weight"] = (1.0, 0.2, "bn")
            # BN -> (Leaky)ReLU everywhere but FBA-Net's bn_head (-> sigmoid)
            rules[pre + "bias"] = (0.0, 0.1, "bn" if mname.endswith("bn_head") else "bnr")
            rules[pre + "running_mean"] = (0.0, 0.0, "rm")
            rules[pre + "running_var"] = (1.0, 0.0, "rv")
    return rules


def set_weights(model, spec):
    """Fills model (float32) deterministically; calibrates BN running stats.
    Returns rules (key -> (center, half, kind)).

    Why the BN biases that feed a ReLU are +-(2.5..3.5) gamma: a train-mode
    gradient is a discontinuous function of the data at every ReLU / LeakyReLU
    kink (and MaxPool tie). With PyTorch-like BN biases (~0) a few of the
    millions of pre-activations sit within float32 rounding of 0, a float32
    forward puts them on the other side, and that mask flip changes gradients
    by O(1) locally: float32 PyTorch (and float64 PyTorch with every stored
    tensor rounded to float32) then sit at gradient NMSE 1e-6..1e-4 from the
    float64 result, far from what the arithmetic itself costs. With the
    biases pushed away from 0 no train-mode pre-activation is near a kink
    (make() checks the margin), so the comparison measures arithmetic, not
    mask luck; ReLU is still exercised (always-off channels are 0, not
    identity, and LeakyReLU's slope shows in them)."""
    rules = init_rules(model)
    sd = model.state_dict()
    with torch.no_grad():
        for k, t in sd.items():
            if not t.is_floating_point():
                t.zero_()
                continue
            c, h, kind = rules[k]
            t.copy_(torch.from_numpy(gen_tensor(k, tuple(t.shape), c, h)))
            if kind == "bnr":
                # beta = +-(2.5..3.5) gamma: 80 % of channels always on, 20 % always off
                gamma = sd[k[:-len("bias")] + "weight"].double()
                on = torch.from_numpy(gen_unit("sign:" + k, t.numel())).double() > -0.6
                mag = BETA_MAG + 0.5 * torch.from_numpy(gen_unit("mag:" + k, t.numel())).double()
                t.copy_((gamma * torch.where(on, mag, -mag)).float())
        # calibration on an independent batch, in float64, momentum 1
        m64 = copy.deepcopy(model).double().train()
        bns = [m for m in m64.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d))]
        for b in bns:
            b.momentum = 1.0
        shape = input_shape(spec)
        xcal = torch.from_numpy(gen_tensor("xcal", shape, 0.0, 1.0)).double()
        m64(xcal)
        sd64 = m64.state_dict()
        for k, t in sd.items():
            kind = rules.get(k, (0, 0, ""))[2]
            if kind == "rm":
                var = sd64[k[:-len("running_mean")] + "running_var"]
                w = torch.from_numpy(gen_unit("cal:" + k, t.numel())).double().view(t.shape)
                t.copy_((sd64[k] + 0.1 * var.sqrt() * w).float())
            elif kind == "rv":
                w = torch.from_numpy(gen_unit("cal:" + k, t.numel())).double().view(t.shape)
                t.copy_((sd64[k] * (1 + 0.25 * w)).float())
    return rules


# ---- records --------------------------------------------------------------------------

class Group:
    def __init__(self, sample):
        self.sample = sample
        self.names, self.numel, self.offset, self.vals = [], [], [], []
        self.sumsq, self.proj, self.l1 = [], [], []
        self.off = 0

    def add(self, grp, name, t64, l1=0.0):
        a = t64.detach().double().contiguous().view(-1).numpy()
        n = a.size
        rec = grp + "/" + name
        if n <= self.sample:
            v = a
        else:
            idx = (hash64("S:" + rec, self.sample) % np.uint64(n)).astype(np.int64)
            v = a[idx]
        p = gen_unit("P:" + rec, n).astype(np.float64)
        self.names.append(name)
        self.numel.append(n)
        self.offset.append(self.off)
        self.vals.append(v.astype(np.float32))
        self.off += v.size
        self.sumsq.append(float(np.dot(a, a)))
        self.proj.append(float(np.dot(a, p)))
        self.l1.append(float(l1))

    def write(self, f, grp):
        g = f.create_group(grp, track_order=False)
        w = max([len(s) for s in self.names] + [1]) + 1
        g.create_dataset("names", data=np.array(self.names, dtype="S%d" % w), track_times=False)
        g.create_dataset("numel", data=np.array(self.numel, dtype=np.int64), track_times=False)
        g.create_dataset("offset", data=np.array(self.offset, dtype=np.int64), track_times=False)
        g.create_dataset("values", data=np.concatenate(self.vals).astype(np.float32),
                         track_times=False)
        g.create_dataset("sumsq", data=np.array(self.sumsq), track_times=False)
        g.create_dataset("proj", data=np.array(self.proj), track_times=False)
        g.create_dataset("l1", data=np.array(self.l1), track_times=False)


def nmse(a, ref):
    a, ref = a.detach().double(), ref.detach().double()
    return float(((a - ref) ** 2).sum()) / max(float((ref * ref).sum()), 1e-300)


CONVS = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def run_model(model, x, heads, r, train):
    """Forward (and, when train, backward of sum(head * R)). Returns outputs,
    grads {key: tensor}, state dict after, and {bias key: max over channels of
    sum |dL/dy_c|} for every conv with a bias (y its output)."""
    model.train(train)
    model.zero_grad(set_to_none=True)
    l1, handles = {}, []
    if train:
        def watch(key):
            def fwd_hook(mod, inp, out):
                def grad_hook(g):
                    dims = [d for d in range(g.dim()) if d != 1]
                    l1[key] = float(g.abs().sum(dim=dims).max())
                out.register_hook(grad_hook)
            return fwd_hook
        for name, mod in model.named_modules():
            if isinstance(mod, CONVS) and mod.bias is not None:
                handles.append(mod.register_forward_hook(watch(name + ".bias")))
        outs = flat_outputs(model(x))
        loss = sum((o * r[h].to(o.dtype)).sum() for o, h in zip(outs, heads))
        loss.backward()
        grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
        for h in handles:
            h.remove()
    else:
        with torch.no_grad():
            outs = flat_outputs(model(x))
        grads = {}
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    return [o.detach() for o in outs], grads, sd, l1


def kink_margin(model, x):
    """Smallest distance to a kink in a train-mode float64 forward: |ReLU /
    LeakyReLU input| relative to the RMS of that tensor, and the gap between
    the two largest values of a MaxPool window relative to the largest.
    Returns (margin, layer)."""
    m = copy.deepcopy(model).double().train()
    worst = [float("inf"), ""]

    def note(v, name):
        if v < worst[0]:
            worst[0], worst[1] = v, name

    def pre(name):
        def hook(mod, inp):
            t = inp[0].detach()
            rms = float(t.pow(2).mean().sqrt())
            if isinstance(mod, (nn.MaxPool2d, nn.MaxPool3d)):
                w = t.unfold(-2, 2, 2).unfold(-2, 2, 2).flatten(-2)
                top = w.topk(2, dim=-1).values
                gap = (top[..., 0] - top[..., 1]) / top[..., 0].abs().clamp_min(1e-30 * rms)
                note(float(gap.min()), name)
            else:
                note(float(t.abs().min()) / rms, name)
        return hook
    for name, mod in m.named_modules():
        if isinstance(mod, (nn.ReLU, nn.LeakyReLU, nn.MaxPool2d)):
            mod.register_forward_pre_hook(pre(name))
    with torch.no_grad():
        m(x.double())
    return worst[0], worst[1]


def make(spec, outdir):
    torch.manual_seed(0)
    model = spec["build"](False)
    rules = set_weights(model, spec)
    sd = model.state_dict()
    heads = spec["heads"]
    # the first input whose train-mode forward keeps MARGIN_MIN from every kink
    for x_seed in range(100):
        x = torch.from_numpy(gen_tensor(x_name(x_seed), input_shape(spec), 0.0, 1.0))
        margin, where = kink_margin(model, x)
        if margin >= MARGIN_MIN:
            break
    else:
        raise SystemExit("%s: no input with kink margin >= %g" % (spec["model"], MARGIN_MIN))

    # shapes of the heads (float32 eval pass) and the loss weights R
    with torch.no_grad():
        outs32 = flat_outputs(copy.deepcopy(model).eval()(x))
    assert len(outs32) == len(heads), (spec["model"], len(outs32))
    r = {h: torch.from_numpy(gen_tensor("R/" + h, tuple(o.shape), 0.0, 1.0))
         for h, o in zip(heads, outs32)}

    m64 = copy.deepcopy(model).double()
    ev64, _, _, _ = run_model(m64, x.double(), heads, r, False)
    tr64, gr64, after64, l1 = run_model(m64, x.double(), heads, r, True)
    m32 = copy.deepcopy(model)
    ev32, _, _, _ = run_model(m32, x, heads, r, False)
    tr32, gr32, after32, _ = run_model(m32, x, heads, r, True)

    groups = {"eval": Group(SAMPLE_OUT), "train": Group(SAMPLE_OUT),
              "grad": Group(SAMPLE_GRAD), "after": Group(SAMPLE_OUT)}
    worst = {"eval": 0.0, "train": 0.0, "grad": 0.0, "after": 0.0, "zero": 0.0}
    for h, a, b in zip(heads, ev64, ev32):
        groups["eval"].add("eval", h, a)
        worst["eval"] = max(worst["eval"], nmse(b, a))
    for h, a, b in zip(heads, tr64, tr32):
        groups["train"].add("train", h, a)
        worst["train"] = max(worst["train"], nmse(b, a))
    nzero = 0
    for k, g in gr64.items():
        # a conv bias followed by train-mode BN has gradient 0 analytically:
        # record the scale sum |dL/dy_c| its rounding error is relative to
        zl1 = l1.get(k, 0.0)
        if zl1 > 0 and float(g.abs().max()) > 1e-12 * zl1:
            zl1 = 0.0
        groups["grad"].add("grad", k, g, zl1)
        if zl1 > 0:
            nzero += 1
            worst["zero"] = max(worst["zero"], float(gr32[k].abs().max()) / zl1)
        else:
            worst["grad"] = max(worst["grad"], nmse(gr32[k], g))
    for k in sd:
        if rules.get(k, (0, 0, ""))[2] in ("rm", "rv"):
            groups["after"].add("after", k, after64[k])
            worst["after"] = max(worst["after"], nmse(after32[k], after64[k]))

    keys = list(sd.keys())
    params = set(k for k, _ in model.named_parameters())
    ranks, shapes, gens, offs, vals = [], [], [], [], []
    off = 0
    for k in keys:
        t = sd[k]
        ranks.append(t.dim())
        shapes.append(list(t.shape) + [0] * (5 - t.dim()))
        c, h, _ = rules.get(k, (0.0, 0.0, ""))
        gens.append([c, h])
        if t.is_floating_point() and t.numel() <= STORE_MAX:
            offs.append(off)
            vals.append(t.detach().float().contiguous().view(-1).numpy())
            off += t.numel()
        else:
            offs.append(-1)
            if t.is_floating_point():  # generated: check the generator reproduces it
                assert np.array_equal(t.numpy(), gen_tensor(k, tuple(t.shape), c, h)), k

    path = os.path.join(outdir, spec["file"] + ".h5")
    with h5py.File(path, "w", track_order=False) as f:
        d, hh, w = spec["patch"]
        f.attrs["model"] = spec["model"]
        f.attrs["x_seed"] = x_seed
        f.attrs["batch"] = spec["batch"]
        f.attrs["in_ch"] = 1
        f.attrs["classes"] = spec["classes"]
        f.attrs["dim"] = spec.get("dim", 128)
        f.attrs["patch"] = np.array([d, hh, w], dtype=np.int32)
        f.attrs["store_max"] = STORE_MAX
        f.attrs["sample_out"] = SAMPLE_OUT
        f.attrs["sample_grad"] = SAMPLE_GRAD
        f.attrs["generator"] = "tests/golden/make_model_fixtures.py, torch %s" % torch.__version__
        f.attrs["description"] = ("%s: eval and train-mode outputs, parameter gradients of "
                                  "sum(head * R_head), BN running stats after the step"
                                  % spec["model"])
        kw = max(len(k) for k in keys) + 1
        f.create_dataset("keys", data=np.array(keys, dtype="S%d" % kw), track_times=False)
        f.create_dataset("key_rank", data=np.array(ranks, dtype=np.int32), track_times=False)
        f.create_dataset("key_shape", data=np.array(shapes, dtype=np.int32), track_times=False)
        f.create_dataset("key_is_param", data=np.array([k in params for k in keys], dtype=np.int8),
                         track_times=False)
        f.create_dataset("key_gen", data=np.array(gens, dtype=np.float32), track_times=False)
        f.create_dataset("key_offset", data=np.array(offs, dtype=np.int64), track_times=False)
        f.create_dataset("key_values", data=np.concatenate(vals).astype(np.float32),
                         track_times=False)
        hw = max(len(h) for h in heads) + 1
        f.create_dataset("heads", data=np.array(heads, dtype="S%d" % hw), track_times=False)
        f.create_dataset("head_rank", data=np.array([o.dim() for o in outs32], dtype=np.int32),
                         track_times=False)
        f.create_dataset("head_shape", data=np.array(
            [list(o.shape) + [0] * (5 - o.dim()) for o in outs32], dtype=np.int32),
            track_times=False)
        for grp, g in groups.items():
            g.write(f, grp)
    nparam = sum(p.numel() for p in model.parameters())
    print("%-22s x_seed %d %7.1f KiB  %9d params  float32 torch vs fixture NMSE: eval %.1e train %.1e "
          "grad %.1e after %.1e; %d zero-gradient biases, max|g32|/l1 %.1e; kink margin %.1e (%s)"
          % (os.path.basename(path), x_seed, os.path.getsize(path) / 1024, nparam, worst["eval"],
             worst["train"], worst["grad"], worst["after"], nzero, worst["zero"], margin, where))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "fixtures"))
    ap.add_argument("--only", default=None, help="comma-separated registry names")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    os.makedirs(args.out, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    for spec in spec_list():
        if only and spec["model"] not in only:
            continue
        make(spec, args.out)


if __name__ == "__main__":
    main()
