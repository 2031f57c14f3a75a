"""Reference values of the FBA-Net contrastive losses for tests/test_contrastive.c.

Prints the float64 NumPy values the suite `contrastive` compares against
(they are written into the test as literals; nothing is saved). The losses
follow FBA code/utils/losses.py as protocol-3d.md section 2.7 describes them:
S = clamp(normalize(x) @ normalize(y).T, 0.0005, 0.9995), rank r_ij of column j
in row i (descending, 0-based, ties by column index: a stable argsort),
w = exp(-alpha (r - 1)), Lmax = mean(w * -log S) with alpha 0.25,
Lmin = mean(w * -log(1 - S)) with alpha 2.5; and the harness's multi-positive
InfoNCE (harness/contrastive.h) with tau 0.1.
"""
import numpy as np


def norm(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def sim(x, y, lo=0.0005, hi=0.9995):
    return np.clip(norm(x) @ norm(y).T, lo, hi)


def rank_weights(s, alpha):
    r = np.argsort(np.argsort(-s, axis=1, kind="stable"), axis=1, kind="stable")
    return np.exp(-alpha * (r - 1))


def lmax(x, alpha=0.25):
    s = sim(x, x)
    return np.mean(rank_weights(s, alpha) * -np.log(s))


def lmin(x, y, alpha=2.5):
    s = sim(x, y)
    return np.mean(rank_weights(s, alpha) * -np.log(1 - s))


def infonce(groups, tau=0.1):
    e = [norm(g) for g in groups]
    n = e[0].shape[0]
    total = 0.0
    for a in range(len(e)):
        den = sum(np.exp(e[a] @ e[c].T / tau).sum(1) for c in range(len(e)))
        self_sim = np.sum(e[a] * e[a], 1) / tau
        den = den - np.exp(self_sim)
        pos = ((e[a] @ e[a].T / tau).sum(1) - self_sim) / (n - 1)
        total += np.mean(np.log(den) - pos)
    return total / len(e)


def main():
    f2 = np.array([[1, 0], [0.6, 0.8]], dtype=np.float64)
    b2 = np.array([[0, 1], [1, 0]], dtype=np.float64)
    print("N=2 Lmax(f)", repr(lmax(f2)))
    print("N=2 Lmin(f,b)", repr(lmin(f2, b2)))
    print("N=2 InfoNCE{f,b}", repr(infonce([f2, b2])))
    rng = np.random.default_rng(3)
    f4 = np.round(rng.uniform(0.1, 1, (4, 5)), 3)
    b4 = np.round(rng.uniform(0.1, 1, (4, 5)), 3)
    print("F4", f4.flatten().tolist())
    print("B4", b4.flatten().tolist())
    print("N=4 fgbg", repr(lmax(f4) + lmax(b4) + lmin(f4, b4)))
    print("N=4 fgbg positive part", repr(lmax(f4) + lmax(b4)))
    print("N=4 InfoNCE{f,b}", repr(infonce([f4, b4])))
    e = [f4, b4, b4[::-1].copy()]
    classes = sum(lmax(e[c]) + sum(lmin(e[c], e[k]) for k in range(3) if k != c)
                  for c in range(3))
    print("N=4 three-class form (undivided)", repr(classes))


if __name__ == "__main__":
    main()
