/* Normalisation and similarity of feature vectors: L2NORM (F.normalize over C:
 * y = x / max(||x||, eps) per (n, voxel)) and COSSIM (pairwise cosine similarity
 * of the rows of a (M,K) and b (Nb,K): s_ij = a_i.b_j / max(||a_i|| ||b_j||, eps)),
 * as used by contrastive losses. Sums accumulate in double; both backward passes
 * are exact, including the clamped (eps) branch. */
#include "../error.h"
#include "../op.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* ---- L2NORM ---------------------------------------------------------------- */

static double l2_eps(const float *fp) { return fp[0] == 0.f ? 1e-12 : (double)fp[0]; }

static int l2_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                    ss_shape *out)
{
    (void)ip;
    if (n_in != 1)
        return ss_op_err("l2norm", n_in, in, "expected 1 input, got %d", n_in);
    if (!ss_shape_valid(&in[0]))
        return ss_op_err("l2norm", n_in, in, "input has a dimension < 1");
    if (!(fp[0] >= 0.f) || isinf(fp[0]))
        return ss_op_err("l2norm", n_in, in, "eps (fp[0] = %g) must be finite and >= 0 "
                         "(0 selects 1e-12)", (double)fp[0]);
    *n_out = 1;
    out[0] = in[0];
    return SS_OK;
}

static int l2_fwd(const ss_op_args *a)
{
    const ss_shape *s = &a->xs[0];
    int64_t nb = s->d[0], c = s->d[1], sp = ss_spatial(s);
    double eps = l2_eps(a->fp);
    const float *X = a->x[0];
    float *Y = a->y[0];
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < nb; n++)
        for (int64_t v = 0; v < sp; v++) {
            const float *x = X + n * c * sp + v;
            float *y = Y + n * c * sp + v;
            double ss = 0;
            for (int64_t k = 0; k < c; k++)
                ss += (double)x[k * sp] * x[k * sp];
            double den = fmax(sqrt(ss), eps);
            for (int64_t k = 0; k < c; k++)
                y[k * sp] = (float)(x[k * sp] / den);
        }
    return SS_OK;
}

/* With r = ||x||: for r >= eps, dy/dx = I/r - x x^T / r^3, so
 * gx = g/r - x (g.x)/r^3; for r < eps the op is x/eps and gx = g/eps
 * (r == eps takes the unclamped branch, as PyTorch's clamp_min). */
static int l2_bwd(const ss_op_args *a)
{
    float *GX = a->gx[0];
    if (!GX)
        return SS_OK;
    const ss_shape *s = &a->xs[0];
    int64_t nb = s->d[0], c = s->d[1], sp = ss_spatial(s);
    double eps = l2_eps(a->fp);
    const float *X = a->x[0], *G = a->gy[0];
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < nb; n++)
        for (int64_t v = 0; v < sp; v++) {
            const float *x = X + n * c * sp + v;
            float *gx = GX + n * c * sp + v;
            if (!G) {
                for (int64_t k = 0; k < c; k++)
                    gx[k * sp] = 0.f;
                continue;
            }
            const float *g = G + n * c * sp + v;
            double ss = 0, gdx = 0;
            for (int64_t k = 0; k < c; k++) {
                ss += (double)x[k * sp] * x[k * sp];
                gdx += (double)g[k * sp] * x[k * sp];
            }
            double r = sqrt(ss);
            if (r >= eps) {
                double r3 = r * r * r;
                for (int64_t k = 0; k < c; k++)
                    gx[k * sp] = (float)(g[k * sp] / r - x[k * sp] * gdx / r3);
            } else {
                for (int64_t k = 0; k < c; k++)
                    gx[k * sp] = (float)(g[k * sp] / eps);
            }
        }
    return SS_OK;
}

/* square+add per element for the norm, one divide per element, one sqrt per vector */
static double l2_flops(const ss_op_args *a)
{
    return 3.0 * (double)ss_numel(&a->xs[0]) + (double)a->xs[0].d[0] * ss_spatial(&a->xs[0]);
}

const ss_op_desc ss_desc_l2norm = {
    .name = "l2norm",
    .min_in = 1,
    .max_in = 1,
    .infer = l2_infer,
    .fwd = l2_fwd,
    .bwd = l2_bwd,
    .flops = l2_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 1u,
};

/* ---- COSSIM ---------------------------------------------------------------- */

static double cs_eps(const float *fp) { return fp[0] == 0.f ? 1e-8 : (double)fp[0]; }

static int cs_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                    ss_shape *out)
{
    (void)ip;
    if (n_in != 2)
        return ss_op_err("cossim", n_in, in, "expected 2 inputs (a, b), got %d", n_in);
    for (int i = 0; i < 2; i++) {
        if (!ss_shape_valid(&in[i]))
            return ss_op_err("cossim", n_in, in, "input %d has a dimension < 1", i);
        if (in[i].d[2] != 1 || in[i].d[3] != 1 || in[i].d[4] != 1)
            return ss_op_err("cossim", n_in, in,
                             "input %d must be a matrix (rows, K, 1, 1, 1)", i);
    }
    if (in[0].d[1] != in[1].d[1])
        return ss_op_err("cossim", n_in, in, "feature sizes differ (%d vs %d)", in[0].d[1],
                         in[1].d[1]);
    if (!(fp[0] >= 0.f) || isinf(fp[0]))
        return ss_op_err("cossim", n_in, in, "eps (fp[0] = %g) must be finite and >= 0 "
                         "(0 selects 1e-8)", (double)fp[0]);
    *n_out = 1;
    out[0] = ss_shape5(in[0].d[0], in[1].d[0], 1, 1, 1);
    return SS_OK;
}

/* Scratch: the row norms of a then of b, in double. */
static size_t cs_ws(const ss_op_args *a, int bwd)
{
    (void)bwd;
    return (size_t)(a->xs[0].d[0] + a->xs[1].d[0]) * sizeof(double);
}

static void row_norms(const float *p, int64_t rows, int64_t k, double *out)
{
    for (int64_t r = 0; r < rows; r++) {
        double s = 0;
        for (int64_t i = 0; i < k; i++)
            s += (double)p[r * k + i] * p[r * k + i];
        out[r] = sqrt(s);
    }
}

static double dot(const float *p, const float *q, int64_t k)
{
    double s = 0;
    for (int64_t i = 0; i < k; i++)
        s += (double)p[i] * q[i];
    return s;
}

static int cs_prep(const ss_op_args *a, double **na, double **nb)
{
    int64_t m = a->xs[0].d[0], n = a->xs[1].d[0], k = a->xs[0].d[1];
    if (!a->ws || a->ws_size < cs_ws(a, 0))
        return ss_op_err("cossim", a->n_in, a->xs, "workspace of %zu bytes missing",
                         cs_ws(a, 0));
    *na = a->ws;
    *nb = *na + m;
    row_norms(a->x[0], m, k, *na);
    row_norms(a->x[1], n, k, *nb);
    return SS_OK;
}

static int cs_fwd(const ss_op_args *a)
{
    int64_t m = a->xs[0].d[0], n = a->xs[1].d[0], k = a->xs[0].d[1];
    double eps = cs_eps(a->fp), *na, *nb;
    if (cs_prep(a, &na, &nb) != SS_OK)
        return SS_ERR;
    const float *A = a->x[0], *B = a->x[1];
    float *Y = a->y[0];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            Y[i * n + j] = (float)(dot(A + i * k, B + j * k, k) / fmax(na[i] * nb[j], eps));
    return SS_OK;
}

/* Gradient of one row u (norm nu) against the rows v_r (norms nv[r]) it was paired
 * with, g[r * gstride] the output gradient of pair r:
 * gu = sum_r c_r v_r - d u, with c_r = g/p (g/eps when clamped) and
 * d = sum over unclamped pairs of g s / ||u||^2. */
static void cs_grad_row(const float *u, double nu, const float *v, const double *nv,
                        int64_t k, int64_t rows, const float *g, int64_t gstride, double eps,
                        float *gu)
{
    if (!g) {
        for (int64_t t = 0; t < k; t++)
            gu[t] = 0.f;
        return;
    }
    double d = 0;
    for (int64_t r = 0; r < rows; r++) {
        double p = nu * nv[r];
        if (p >= eps)
            d += (double)g[r * gstride] * (dot(u, v + r * k, k) / p) / (nu * nu);
    }
    for (int64_t t = 0; t < k; t++) {
        double s = 0;
        for (int64_t r = 0; r < rows; r++) {
            double p = nu * nv[r];
            s += (double)g[r * gstride] / (p >= eps ? p : eps) * v[r * k + t];
        }
        gu[t] = (float)(s - d * u[t]);
    }
}

/* With p = ||a_i|| ||b_j||: for p >= eps, ds/da_i = b_j/p - s a_i/||a_i||^2 (and
 * symmetrically for b_j); for p < eps the op is a_i.b_j/eps, so ds/da_i = b_j/eps. */
static int cs_bwd(const ss_op_args *a)
{
    int64_t m = a->xs[0].d[0], n = a->xs[1].d[0], k = a->xs[0].d[1];
    float *GA = a->gx[0], *GB = a->gx[1];
    if (!GA && !GB)
        return SS_OK;
    double eps = cs_eps(a->fp), *na, *nb;
    if (cs_prep(a, &na, &nb) != SS_OK)
        return SS_ERR;
    const float *A = a->x[0], *B = a->x[1], *G = a->gy[0];
    if (GA) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < m; i++)
            cs_grad_row(A + i * k, na[i], B, nb, k, n, G ? G + i * n : NULL, 1, eps,
                        GA + i * k);
    }
    if (GB) {
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < n; j++)
            cs_grad_row(B + j * k, nb[j], A, na, k, m, G ? G + j : NULL, n, eps, GB + j * k);
    }
    return SS_OK;
}

/* 2K per pair for the dot, one divide per pair, 2K per row for the norms */
static double cs_flops(const ss_op_args *a)
{
    double m = a->xs[0].d[0], n = a->xs[1].d[0], k = a->xs[0].d[1];
    return 2.0 * m * n * k + m * n + 2.0 * (m + n) * k;
}

const ss_op_desc ss_desc_cossim = {
    .name = "cossim",
    .min_in = 2,
    .max_in = 2,
    .infer = cs_infer,
    .fwd = cs_fwd,
    .bwd = cs_bwd,
    .ws = cs_ws,
    .flops = cs_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 3u,
};
