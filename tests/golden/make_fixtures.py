#!/usr/bin/env python3
"""Writes the PyTorch golden fixtures that tests/test_golden.c checks semiseg's
reference kernels against: one HDF5 file per case in tests/golden/fixtures/.

Every input (and the upstream gradient gy) is drawn in float32 from a fixed
torch seed and stored as float32. The expected outputs and gradients are
computed by PyTorch in float64 from exactly those float32 values and then
rounded to float32, so they are the correctly rounded answers and do not
depend on PyTorch's float32 summation order. As a cross-check the script also
runs every case in float32 and prints the NMSE between the two.

Layout of a file: datasets in PyTorch's own shapes (activations N,C,D,H,W;
conv weights Co,Ci,kD,kH,kW; transposed-conv weights Ci,Co,kD,kH,kW;
per-channel vectors C; scalars 0-D); gradients are named g<input>; op
parameters are attributes of the root group (stride, padding, ...).
Files are byte-for-byte reproducible (no object timestamps).
"""
import argparse
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def rand(shape, seed_gen, lo=-1.0, hi=1.0):
    return (torch.rand(shape, generator=seed_gen, dtype=torch.float32) * (hi - lo) + lo)


def randn(shape, seed_gen):
    return torch.randn(shape, generator=seed_gen, dtype=torch.float32)


def nmse(a, ref):
    a = a.double()
    ref = ref.double()
    den = float((ref * ref).sum())
    return float(((a - ref) ** 2).sum()) / max(den, 1e-300)


class Case:
    """Collects datasets/attributes of one fixture file."""

    def __init__(self, name, desc):
        self.name = name
        self.desc = desc
        self.data = {}
        self.attrs = {}
        self.f32check = {}

    def put(self, key, t):
        self.data[key] = t.detach().to(torch.float32).contiguous().numpy()

    def write(self, outdir):
        path = os.path.join(outdir, self.name + ".h5")
        with h5py.File(path, "w", track_order=False) as f:
            f.attrs["description"] = self.desc
            f.attrs["generator"] = "tests/golden/make_fixtures.py, torch %s" % torch.__version__
            for k in sorted(self.attrs):
                f.attrs[k] = self.attrs[k]
            for k in sorted(self.data):
                f.create_dataset(k, data=self.data[k], track_times=False)
        return path


def run_both(fn, inputs):
    """fn(list of float tensors requiring grad as needed) -> list of results.
    Runs in float64 (golden) and float32 (cross-check)."""
    out64 = fn([t.double() if t.is_floating_point() else t for t in inputs])
    out32 = fn([t.clone() for t in inputs])
    return out64, out32


def grad_fn(forward, diff):
    """Wraps forward(list) -> (outputs, gy) so it returns outputs + grads of
    the inputs whose index is in diff, via autograd.grad(y, inputs, gy)."""

    def fn(ts):
        ts = [t.clone().requires_grad_(i in diff) for i, t in enumerate(ts)]
        outs, gy = forward(ts)
        y = outs[0]
        grads = torch.autograd.grad(y, [ts[i] for i in diff], gy.to(y.dtype))
        return [o.detach() for o in outs] + [g.detach() for g in grads]

    return fn


def record(case, names, r64, r32):
    for n, a, b in zip(names, r64, r32):
        case.put(n, a)
        case.f32check[n] = nmse(b, a)


# ---------------------------------------------------------------- conv ----
def conv_case(name, seed, N, Ci, Co, sp, k, stride, pad, bias):
    g = torch.Generator().manual_seed(seed)
    x = randn((N, Ci) + sp, g)
    w = randn((Co, Ci) + k, g) * (1.0 / np.sqrt(Ci * np.prod(k)))
    b = randn((Co,), g) if bias else None
    ins = [x, w] + ([b] if bias else [])
    yshape = F.conv3d(x, w, b, stride, pad).shape
    gy = randn(yshape, g)

    def fwd(ts):
        y = F.conv3d(ts[0], ts[1], ts[2] if bias else None, stride, pad)
        return [y], gy

    diff = list(range(len(ins)))
    r64, r32 = run_both(grad_fn(fwd, diff), ins)
    c = Case(name, "conv3d N=%d Ci=%d Co=%d in=%s k=%s stride=%s pad=%s bias=%d"
             % (N, Ci, Co, sp, k, stride, pad, bias))
    c.put("x", x)
    c.put("w", w)
    if bias:
        c.put("b", b)
    c.put("gy", gy)
    record(c, ["y", "gx", "gw"] + (["gb"] if bias else []), r64, r32)
    c.attrs["stride"] = np.array(stride, np.int32)
    c.attrs["padding"] = np.array(pad, np.int32)
    return c


def deconv_case(name, seed, N, Ci, Co, sp, k, stride, pad, opad, bias):
    g = torch.Generator().manual_seed(seed)
    x = randn((N, Ci) + sp, g)
    w = randn((Ci, Co) + k, g) * (1.0 / np.sqrt(Ci * np.prod(k)))
    b = randn((Co,), g) if bias else None
    ins = [x, w] + ([b] if bias else [])
    yshape = F.conv_transpose3d(x, w, b, stride, pad, opad).shape
    gy = randn(yshape, g)

    def fwd(ts):
        y = F.conv_transpose3d(ts[0], ts[1], ts[2] if bias else None, stride, pad, opad)
        return [y], gy

    diff = list(range(len(ins)))
    r64, r32 = run_both(grad_fn(fwd, diff), ins)
    c = Case(name, "conv_transpose3d N=%d Ci=%d Co=%d in=%s k=%s stride=%s pad=%s "
             "output_padding=%s bias=%d" % (N, Ci, Co, sp, k, stride, pad, opad, bias))
    c.put("x", x)
    c.put("w", w)
    if bias:
        c.put("b", b)
    c.put("gy", gy)
    record(c, ["y", "gx", "gw"] + (["gb"] if bias else []), r64, r32)
    c.attrs["stride"] = np.array(stride, np.int32)
    c.attrs["padding"] = np.array(pad, np.int32)
    c.attrs["output_padding"] = np.array(opad, np.int32)
    return c


# ------------------------------------------------------------------ bn ----
def bn_case(name, seed, training, N=2, C=4, sp=(3, 4, 5), momentum=0.1, eps=1e-5):
    g = torch.Generator().manual_seed(seed)
    x = randn((N, C) + sp, g) * 1.5 + 0.5
    gamma = rand((C,), g, 0.5, 1.5)
    beta = rand((C,), g, -0.5, 0.5)
    rm = rand((C,), g, -0.5, 0.5)
    rv = rand((C,), g, 0.5, 2.0)
    gy = randn((N, C) + sp, g)

    def fwd(ts):
        xx, gm, bt = ts[0], ts[1], ts[2]
        m = ts[3].clone()
        v = ts[4].clone()
        y = F.batch_norm(xx, m, v, gm, bt, training=training, momentum=momentum, eps=eps)
        outs = [y, m, v]
        if training:
            _, sm, si = torch.native_batch_norm(xx.detach(), gm.detach(), bt.detach(),
                                                None, None, True, momentum, eps)
            outs += [sm, si]
        return outs, gy

    r64, r32 = run_both(grad_fn(fwd, [0, 1, 2]), [x, gamma, beta, rm, rv])
    c = Case(name, "batch_norm %s N=%d C=%d in=%s momentum=%g eps=%g"
             % ("training" if training else "eval", N, C, sp, momentum, eps))
    for k, t in [("x", x), ("gamma", gamma), ("beta", beta), ("running_mean", rm),
                 ("running_var", rv), ("gy", gy)]:
        c.put(k, t)
    if training:
        names = ["y", "running_mean_after", "running_var_after", "saved_mean",
                 "saved_invstd", "gx", "ggamma", "gbeta"]
    else:
        names = ["y", "running_mean_after", "running_var_after", "gx", "ggamma", "gbeta"]
    record(c, names, r64, r32)
    c.attrs["training"] = np.int32(training)
    c.attrs["momentum"] = np.float64(momentum)
    c.attrs["eps"] = np.float64(eps)
    return c


# ---------------------------------------------------------- softmax + ce ----
def softmax_ce_case(name, seed, ignore_index, N=2, C=4, sp=(3, 4, 5), with_softmax=True):
    g = torch.Generator().manual_seed(seed)
    logits = randn((N, C) + sp, g) * 2.0
    labels = torch.randint(0, C, (N,) + sp, generator=g)
    gy_sm = randn((N, C) + sp, g)
    gy_loss = rand((), g, 0.5, 1.5)

    def sm_fwd(ts):
        return [torch.softmax(ts[0], dim=1)], gy_sm

    def ce_fwd(ts):
        loss = F.cross_entropy(ts[0], labels, reduction="mean", ignore_index=ignore_index)
        return [loss], gy_loss

    c = Case(name, "softmax over C and cross_entropy(mean, ignore_index=%d) N=%d C=%d in=%s"
             % (ignore_index, N, C, sp))
    c.put("logits", logits)
    c.put("labels", labels.to(torch.float32).unsqueeze(1))
    if with_softmax:
        c.put("gy_softmax", gy_sm)
        r64, r32 = run_both(grad_fn(sm_fwd, [0]), [logits])
        record(c, ["softmax", "gx_softmax"], r64, r32)
    c.put("gy_loss", gy_loss)
    r64, r32 = run_both(grad_fn(ce_fwd, [0]), [logits])
    record(c, ["loss", "gx_loss"], r64, r32)
    c.attrs["ignore_index"] = np.int32(ignore_index)
    c.attrs["n_ignored"] = np.int32(int((labels == ignore_index).sum()))
    return c


# ------------------------------------------------------------- upsample ----
def upsample_case(name, seed, mode, align, insp, outsp, N=2, C=3):
    g = torch.Generator().manual_seed(seed)
    x = randn((N, C) + insp, g)
    gy = randn((N, C) + outsp, g)
    two_d = insp[0] == 1 and outsp[0] == 1
    tmode = {0: "nearest", 1: "bilinear" if two_d else "trilinear"}[mode]
    ac = bool(align) if mode == 1 else None

    def fwd(ts):
        xx = ts[0]
        if two_d:  # genuinely 2-D PyTorch call on (N,C,H,W), stored with D = 1
            y = F.interpolate(xx.squeeze(2), size=outsp[1:], mode=tmode,
                              align_corners=ac).unsqueeze(2)
        else:
            y = F.interpolate(xx, size=outsp, mode=tmode, align_corners=ac)
        return [y], gy

    r64, r32 = run_both(grad_fn(fwd, [0]), [x])
    c = Case(name, "interpolate mode=%s align_corners=%s N=%d C=%d in=%s out size=%s"
             % (tmode, ac, N, C, insp, outsp))
    c.put("x", x)
    c.put("gy", gy)
    record(c, ["y", "gx"], r64, r32)
    c.attrs["mode"] = np.int32(mode)
    c.attrs["mode_name"] = tmode
    c.attrs["align_corners"] = np.int32(align)
    c.attrs["size"] = np.array(outsp, np.int32)
    return c


def all_cases():
    return [
        conv_case("conv3d_k3_s1_p1", 101, 2, 3, 4, (5, 6, 7), (3, 3, 3), (1, 1, 1), (1, 1, 1), True),
        conv_case("conv3d_k312_s212_p011", 102, 2, 3, 4, (5, 6, 7), (3, 1, 2), (2, 1, 2),
                  (0, 1, 1), True),
        conv_case("conv2d_k3_s2_p1_nobias", 103, 3, 2, 5, (1, 7, 6), (1, 3, 3), (1, 2, 2),
                  (0, 1, 1), False),
        deconv_case("deconv3d_k2_s2", 201, 2, 4, 3, (3, 4, 5), (2, 2, 2), (2, 2, 2), (0, 0, 0),
                    (0, 0, 0), True),
        deconv_case("deconv3d_k3_s2_p1_op1", 202, 2, 3, 2, (3, 4, 5), (3, 3, 3), (2, 2, 2),
                    (1, 1, 1), (1, 1, 1), True),
        bn_case("bn3d_train", 301, True),
        bn_case("bn3d_eval", 302, False),
        softmax_ce_case("softmax_ce", 401, -100),
        softmax_ce_case("ce_ignore_index", 402, 1, with_softmax=False),
        upsample_case("upsample_trilinear_ac0", 501, 1, 0, (3, 4, 5), (5, 7, 9)),
        upsample_case("upsample_trilinear_ac1", 502, 1, 1, (3, 4, 5), (5, 7, 9)),
        upsample_case("upsample_bilinear_ac0_x2", 503, 1, 0, (1, 4, 5), (1, 8, 10)),
        upsample_case("upsample_nearest", 504, 0, 0, (3, 4, 5), (5, 7, 9)),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for c in all_cases():
        path = c.write(args.out)
        worst = max(c.f32check.values())
        print("%-28s %7d bytes  float32-vs-float64 worst NMSE %.2e (%s)"
              % (os.path.basename(path), os.path.getsize(path), worst,
                 max(c.f32check, key=c.f32check.get)))


if __name__ == "__main__":
    main()
