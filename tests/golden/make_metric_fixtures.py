"""Golden fixtures for harness/metrics (suite `metrics`).

Writes tests/golden/fixtures/metrics_{random,adversarial,classes,lcc}.h5 with
expected values from medpy.metric.binary (dc, jc, hd95, asd; assd as medpy
0.4.0 defines it, the mean of asd in both directions) and RCPS's symmetric ASD
(the mean over both directed surface-distance sets, which is what medpy >= 0.5
calls assd), and largest-connected-component results from
skimage.measure.label (full connectivity, argmax of the component sizes).

Layout: root attribute n (cases); group c<i> per case holds
  pred, gt     uint8 (D,H,W); a 2-D case is stored with D = 1 and attribute
               ndim = 2 (medpy then ran on the (H,W) array);
  spacing      float64 (3,) (D,H,W) spacing passed to medpy (attribute
               unit = 1 when medpy ran without voxelspacing);
  expected     float64 (6,): dice, jaccard, hd95, asd, assd, asd_rcps; NaN
               where medpy raises (an empty mask);
  classes      (metrics_classes.h5) attribute K; expected is (K-1, 6);
  mask, lcc    (metrics_lcc.h5) uint8 input and kept component.

Run: /work/main/.venv/bin/python tests/golden/make_metric_fixtures.py
"""
import os

import h5py
import numpy as np
from medpy.metric import binary as mb
from scipy import ndimage

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
surface_distances = getattr(mb, "__surface_distances")


def expected(p, g, sp):
    p = p.astype(bool)
    g = g.astype(bool)
    vs = None if sp is None else tuple(sp)
    # medpy's dc guards 0/0 with ZeroDivisionError -> 1.0, but with NumPy
    # scalars (medpy 0.5.2, NumPy 2) the division yields NaN instead; the
    # fixture records the guarded value 1.0 (jc's guard works: 1.0).
    dc = 1.0 if not p.any() and not g.any() else mb.dc(p, g)
    jc = mb.jc(p, g)
    if not p.any() or not g.any():
        return np.array([dc, jc, np.nan, np.nan, np.nan, np.nan])
    d1 = surface_distances(p, g, vs, 1)
    d2 = surface_distances(g, p, vs, 1)
    # assd: the mean of the two directed means (medpy <= 0.4.0, the release the
    # reference repos pinned). medpy >= 0.5 changed assd to the mean of the
    # concatenated distances, which is RCPS's form (asd_rcps); check that here.
    rcps = np.hstack((d1, d2)).mean()
    assert np.isclose(mb.assd(p, g, vs), rcps, rtol=1e-12, atol=0)
    assd = (mb.asd(p, g, vs) + mb.asd(g, p, vs)) / 2.0
    return np.array([dc, jc, mb.hd95(p, g, vs), mb.asd(p, g, vs), assd, rcps])


def blob(rng, shape, sigma, frac):
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (f > np.quantile(f, 1.0 - frac)).astype(np.uint8)


def mask(grp, name, a):
    """uint8 dataset; gzip only where it pays for its chunk index."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    if a.size > 4096:
        grp.create_dataset(name, data=a, compression="gzip", compression_opts=9)
    else:
        grp.create_dataset(name, data=a)


def put(f, i, p, g, sp, exp, **attrs):
    grp = f.create_group("c%d" % i)
    ndim = p.ndim
    p3 = p.reshape((1,) + p.shape) if ndim == 2 else p
    g3 = g.reshape((1,) + g.shape) if ndim == 2 else g
    mask(grp, "pred", p3)
    mask(grp, "gt", g3)
    s3 = [1.0, 1.0, 1.0] if sp is None else ([1.0] + list(sp) if ndim == 2 else list(sp))
    grp.create_dataset("spacing", data=np.array(s3, dtype=np.float64))
    grp.create_dataset("expected", data=np.asarray(exp, dtype=np.float64))
    grp.attrs["ndim"] = ndim
    grp.attrs["unit"] = int(sp is None)
    for k, v in attrs.items():
        grp.attrs[k] = v


def write(name, cases):
    path = os.path.join(OUT, "metrics_%s.h5" % name)
    with h5py.File(path, "w", libver=("v108", "v110")) as f:
        f.attrs["n"] = len(cases)
        for i, (p, g, sp) in enumerate(cases):
            put(f, i, p, g, sp, expected(p, g, sp))
    print(path, os.path.getsize(path), "bytes,", len(cases), "cases")


def random_cases():
    rng = np.random.default_rng(20261121)
    cases = []
    for shape, sig, fp, fg, sp in [
        ((24, 28, 20), 3.0, 0.2, 0.25, None),
        ((20, 32, 24), 2.0, 0.1, 0.12, None),
        ((16, 24, 30), 4.0, 0.3, 0.3, (2.5, 0.7, 0.9)),
        ((12, 40, 36), 3.0, 0.15, 0.2, (10.0, 1.5, 1.5)),
        ((30, 16, 18), 1.5, 0.2, 0.05, (1.0, 1.0, 1.0)),
        ((8, 48, 40), 3.0, 0.25, 0.25, None),
    ]:
        cases.append((blob(rng, shape, sig, fp), blob(rng, shape, sig, fg), sp))
    # prediction = reference perturbed (high overlap, as trained models give)
    g = blob(rng, (24, 32, 28), 3.0, 0.2)
    p = ndimage.binary_dilation(g, iterations=1).astype(np.uint8)
    p[rng.random(p.shape) < 0.02] ^= 1
    cases.append((p, g, None))
    cases.append((p, g, (1.3, 0.625, 0.625)))
    # salt-and-pepper noise: many tiny components
    cases.append(((rng.random((14, 18, 16)) < 0.1).astype(np.uint8),
                  (rng.random((14, 18, 16)) < 0.2).astype(np.uint8), None))
    # 2-D images
    for shape, sp in [((64, 56), None), ((40, 72), (0.8, 1.7)), ((33, 31), None)]:
        cases.append((blob(rng, shape, 3.0, 0.2), blob(rng, shape, 3.0, 0.3), sp))
    return cases


def adversarial_cases():
    c = []
    s = (9, 11, 10)
    z = np.zeros(s, np.uint8)

    def one(*idx, shape=s):
        a = np.zeros(shape, np.uint8)
        a[idx] = 1
        return a

    g = z.copy()
    g[2:7, 3:8, 2:9] = 1
    c.append((one(4, 5, 5), g, None))                     # single voxel inside a box
    c.append((one(0, 0, 0), one(8, 10, 9), None))         # opposite corners
    c.append((one(0, 0, 0), one(8, 10, 9), (2.0, 0.5, 3.0)))
    c.append((one(3, 3, 3), one(3, 3, 3), None))          # identical single voxels: all 0
    full = np.ones(s, np.uint8)
    c.append((full, g, None))                             # prediction fills the array (border)
    c.append((full, full, (1.0, 2.0, 3.0)))               # identical full arrays
    sheet = z.copy()
    sheet[:, 5, :] = 1                                    # plane touching four faces, 1 thick
    c.append((sheet, g, None))
    line = z.copy()
    line[4, :, 6] = 1
    c.append((line, sheet, (3.0, 1.0, 0.5)))
    ring = z.copy()
    ring[1:8, 1:10, 1:9] = 1
    ring[2:7, 2:9, 2:8] = 0                               # hollow box (inner surface too)
    c.append((ring, g, None))
    c.append((g, ring, (0.625, 0.625, 2.5)))
    # 2-D single pixels and a full image
    c.append((one(0, 0, shape=(7, 9)), one(6, 8, shape=(7, 9)), (1.0, 4.0)))
    c.append((np.ones((7, 9), np.uint8), one(3, 4, shape=(7, 9)), None))
    # 1-voxel-deep 3-D volume: medpy on a (1,H,W) array erodes everything
    g1 = np.zeros((2, 12, 12), np.uint8)
    g1[0, 2:9, 3:10] = 1
    p1 = np.zeros((2, 12, 12), np.uint8)
    p1[:, 4:11, 1:7] = 1
    c.append((p1, g1, None))
    # empty cases (NaN distances; medpy's dc/jc)
    c.append((z.copy(), g, None))
    c.append((g, z.copy(), None))
    c.append((z.copy(), z.copy(), None))
    return c


def class_cases():
    rng = np.random.default_rng(7)
    out = []
    for shape, k, sp in [((10, 40, 36), 4, None), ((6, 32, 30), 3, (10.0, 1.5, 1.5))]:
        f = ndimage.gaussian_filter(rng.standard_normal(shape), 3.0)
        gl = np.digitize(f, np.quantile(f, np.linspace(0.55, 0.95, k)[: k - 1])).astype(np.uint8)
        f2 = f + 0.3 * ndimage.gaussian_filter(rng.standard_normal(shape), 2.0) * f.std()
        pl = np.digitize(f2, np.quantile(f2, np.linspace(0.5, 0.95, k)[: k - 1])).astype(np.uint8)
        exp = np.stack([expected(pl == c, gl == c, sp) for c in range(1, k)])
        out.append((pl, gl, sp, exp, k))
    path = os.path.join(OUT, "metrics_classes.h5")
    with h5py.File(path, "w", libver=("v108", "v110")) as f:
        f.attrs["n"] = len(out)
        for i, (p, g, sp, exp, k) in enumerate(out):
            put(f, i, p, g, sp, exp, classes=k)
    print(path, os.path.getsize(path), "bytes")


def lcc_cases():
    from skimage.measure import label

    def keep(m):
        lab = label(m)
        assert lab.max() > 0
        return (lab == np.argmax(np.bincount(lab.flat)[1:]) + 1).astype(np.uint8) * m

    rng = np.random.default_rng(11)
    ms = []
    ms.append(blob(rng, (16, 20, 18), 1.5, 0.15))
    ms.append((rng.random((10, 12, 14)) < 0.15).astype(np.uint8))  # many small parts
    d = np.zeros((6, 6, 6), np.uint8)                              # diagonal-only contacts
    for i in range(5):
        d[i, i, i] = 1
    d[0, 5, 5] = d[1, 4, 5] = 1
    ms.append(d)
    t = np.zeros((5, 9, 9), np.uint8)                              # two equal components: tie
    t[1:3, 1:3, 1:3] = 1
    t[1:3, 5:7, 5:7] = 1
    ms.append(t)
    t2 = t.copy()
    t2[1:3, 1:3, 1:3] = 0
    t2[3:5, 6:8, 0:2] = 1
    ms.append(t2)
    two = np.zeros((1, 10, 10), np.uint8)                          # 2-D, 8-connected
    two[0, 1, 1] = two[0, 2, 2] = two[0, 3, 3] = 1
    two[0, 6:9, 6] = 1
    two[0, 5, 0] = 1
    ms.append(two)
    path = os.path.join(OUT, "metrics_lcc.h5")
    with h5py.File(path, "w", libver=("v108", "v110")) as f:
        f.attrs["n"] = len(ms)
        for i, m in enumerate(ms):
            grp = f.create_group("c%d" % i)
            mask(grp, "mask", m)
            mask(grp, "lcc", keep(m))
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write("random", random_cases())
    write("adversarial", adversarial_cases())
    class_cases()
    lcc_cases()
