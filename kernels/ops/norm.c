/* Normalisation ops: batch norm (training and evaluation), instance norm and
 * group norm, as PyTorch defines them. Statistics use the biased variance and
 * are accumulated in double; training-mode batch norm also updates the running
 * mean and (unbiased) running variance in place. */
#include "../cpu/cpu_fast.h"
#include "../error.h"
#include "../op.h"

#include <math.h>
#include <string.h>

/* Which elements share statistics. Group k of a batch-stat layout (bn = 1) is
 * channel k over every (n, voxel); otherwise it is (n, g) over the C/G channels
 * of group g and every voxel. */
typedef struct norm_layout {
    int n, c, g; /* batch, channels, groups per sample (bn: unused) */
    int64_t s;   /* voxels D*H*W */
    int bn;
} norm_layout;

static int64_t nl_groups(const norm_layout *l) { return l->bn ? l->c : (int64_t)l->n * l->g; }
/* Number of (n, c) rows of S voxels in one group. */
static int nl_rows(const norm_layout *l) { return l->bn ? l->n : l->c / l->g; }
/* Offset of row i of group k. */
static int64_t nl_row(const norm_layout *l, int64_t k, int i)
{
    if (l->bn)
        return ((int64_t)i * l->c + k) * l->s;
    int64_t n = k / l->g, c = (k % l->g) * (l->c / l->g) + i;
    return (n * l->c + c) * l->s;
}
static int nl_chan(const norm_layout *l, int64_t k, int i)
{
    return l->bn ? (int)k : (int)(k % l->g) * (l->c / l->g) + i;
}
static int64_t nl_group_of(const norm_layout *l, int n, int c)
{
    return l->bn ? c : (int64_t)n * l->g + c / (l->c / l->g);
}

/* Forward: per group mean and biased variance (two passes, double), then
 * y = (x - mean) * invstd * gamma + beta. Writes saved mean/invstd and, when
 * stats is given, the double mean into stats[k] and the biased variance into
 * stats[groups + k] (for running statistics). */
static void norm_forward(const norm_layout *l, const float *x, const float *gamma,
                         const float *beta, double eps, float *y, float *mean_out,
                         float *invstd_out, double *stats)
{
    int64_t ng = nl_groups(l);
    int rows = nl_rows(l);
    double m = (double)rows * (double)l->s;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < ng; k++) {
        double sum = 0;
        for (int i = 0; i < rows; i++) {
            const float *p = x + nl_row(l, k, i);
            for (int64_t j = 0; j < l->s; j++)
                sum += p[j];
        }
        double mean = sum / m, sq = 0;
        for (int i = 0; i < rows; i++) {
            const float *p = x + nl_row(l, k, i);
            for (int64_t j = 0; j < l->s; j++) {
                double d = p[j] - mean;
                sq += d * d;
            }
        }
        double var = sq / m, invstd = 1.0 / sqrt(var + eps);
        for (int i = 0; i < rows; i++) {
            int c = nl_chan(l, k, i);
            double ga = gamma ? gamma[c] : 1.0, be = beta ? beta[c] : 0.0;
            int64_t off = nl_row(l, k, i);
            for (int64_t j = 0; j < l->s; j++)
                y[off + j] = (float)((x[off + j] - mean) * invstd * ga + be);
        }
        mean_out[k] = (float)mean;
        invstd_out[k] = (float)invstd;
        if (stats) {
            stats[k] = mean;
            stats[ng + k] = var;
        }
    }
}

/* Backward of norm_forward from the saved statistics. With xh = (x-mean)*invstd
 * and g = dy*gamma over a group of M elements:
 * dx = invstd * (g - sum(g)/M - xh * sum(g*xh)/M); dgamma_c = sum dy*xh and
 * dbeta_c = sum dy over the channel's elements. */
static void norm_backward(const norm_layout *l, const float *x, const float *gamma,
                          const float *mean, const float *invstd, const float *dy, float *dx,
                          float *dgamma, float *dbeta)
{
    int64_t ng = nl_groups(l);
    int rows = nl_rows(l);
    double m = (double)rows * (double)l->s;
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int64_t k = 0; k < ng; k++) {
            double mu = mean[k], is = invstd[k], sg = 0, sgx = 0;
            for (int i = 0; i < rows; i++) {
                int64_t off = nl_row(l, k, i);
                double ga = gamma ? gamma[nl_chan(l, k, i)] : 1.0;
                for (int64_t j = 0; j < l->s; j++) {
                    double g = dy[off + j] * ga;
                    sg += g;
                    sgx += g * (x[off + j] - mu) * is;
                }
            }
            sg /= m;
            sgx /= m;
            for (int i = 0; i < rows; i++) {
                int64_t off = nl_row(l, k, i);
                double ga = gamma ? gamma[nl_chan(l, k, i)] : 1.0;
                for (int64_t j = 0; j < l->s; j++) {
                    double xh = (x[off + j] - mu) * is;
                    dx[off + j] = (float)(is * (dy[off + j] * ga - sg - xh * sgx));
                }
            }
        }
    }
    if (dgamma || dbeta) {
#pragma omp parallel for schedule(static)
        for (int c = 0; c < l->c; c++) {
            double sdy = 0, sdyx = 0;
            for (int n = 0; n < l->n; n++) {
                int64_t k = nl_group_of(l, n, c), off = ((int64_t)n * l->c + c) * l->s;
                double mu = mean[k], is = invstd[k];
                for (int64_t j = 0; j < l->s; j++) {
                    sdy += dy[off + j];
                    sdyx += dy[off + j] * (x[off + j] - mu) * is;
                }
            }
            if (dgamma)
                dgamma[c] = (float)sdyx;
            if (dbeta)
                dbeta[c] = (float)sdy;
        }
    }
}

static void zero(float *p, int64_t n)
{
    if (p)
        memset(p, 0, (size_t)n * sizeof(float));
}

/* ---- shape rules --------------------------------------------------------- */

static int check_eps(const char *op, int n_in, const ss_shape *in, const float *fp)
{
    if (!isfinite(fp[1]) || fp[1] < 0)
        return ss_op_err(op, n_in, in, "eps fp[1] must be finite and >= 0, got %g",
                         (double)fp[1]);
    return SS_OK;
}

/* Inputs first..n_in-1 must be per-channel vectors (C,1,1,1,1). */
static int check_vectors(const char *op, int n_in, const ss_shape *in, int first)
{
    if (!ss_shape_valid(&in[0]))
        return ss_op_err(op, n_in, in, "x must have every dim >= 1");
    ss_shape v = ss_shape5(in[0].d[SS_C], 1, 1, 1, 1);
    for (int i = first; i < n_in; i++)
        if (!ss_shape_eq(&in[i], &v))
            return ss_op_err(op, n_in, in, "input %d must be a per-channel vector %s", i,
                             ss_shape_str(&v));
    return SS_OK;
}

static int bn_check(const char *op, int train, const float *fp, int n_in, const ss_shape *in)
{
    if (n_in != 5)
        return ss_op_err(op, n_in < 0 || n_in > SS_MAX_IN ? 0 : n_in, in,
                         "expects 5 inputs (x, gamma, beta, running_mean, running_var), got %d",
                         n_in);
    if (check_vectors(op, n_in, in, 1) != SS_OK || check_eps(op, n_in, in, fp) != SS_OK)
        return SS_ERR;
    if (train) {
        if (!isfinite(fp[0]) || fp[0] < 0 || fp[0] > 1)
            return ss_op_err(op, n_in, in, "momentum fp[0] must be in [0, 1], got %g",
                             (double)fp[0]);
        if ((int64_t)in[0].d[SS_N] * ss_spatial(&in[0]) < 2)
            return ss_op_err(op, n_in, in,
                             "expects more than 1 value per channel (N*D*H*W >= 2)");
    }
    return SS_OK;
}

static int bn_train_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                          int *n_out, ss_shape *out)
{
    (void)ip;
    if (bn_check("bn_train", 1, fp, n_in, in) != SS_OK)
        return SS_ERR;
    *n_out = 3;
    out[0] = in[0];
    out[1] = out[2] = in[1];
    return SS_OK;
}

static int bn_eval_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                         int *n_out, ss_shape *out)
{
    (void)ip;
    if (bn_check("bn_eval", 0, fp, n_in, in) != SS_OK)
        return SS_ERR;
    *n_out = 1;
    out[0] = in[0];
    return SS_OK;
}

static int instnorm_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                          int *n_out, ss_shape *out)
{
    (void)ip;
    const char *op = "instnorm";
    if (n_in != 1 && n_in != 3)
        return ss_op_err(op, n_in < 0 || n_in > SS_MAX_IN ? 0 : n_in, in,
                         "expects 1 input (x) or 3 (x, gamma, beta), got %d", n_in);
    if (check_vectors(op, n_in, in, 1) != SS_OK || check_eps(op, n_in, in, fp) != SS_OK)
        return SS_ERR;
    if (ss_spatial(&in[0]) < 2)
        return ss_op_err(op, n_in, in, "expects more than 1 voxel per instance (D*H*W >= 2)");
    *n_out = 3;
    out[0] = in[0];
    out[1] = out[2] = ss_shape5(in[0].d[SS_N] * in[0].d[SS_C], 1, 1, 1, 1);
    return SS_OK;
}

static int groupnorm_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                           int *n_out, ss_shape *out)
{
    const char *op = "groupnorm";
    if (n_in != 3)
        return ss_op_err(op, n_in < 0 || n_in > SS_MAX_IN ? 0 : n_in, in,
                         "expects 3 inputs (x, gamma, beta), got %d", n_in);
    if (check_vectors(op, n_in, in, 1) != SS_OK || check_eps(op, n_in, in, fp) != SS_OK)
        return SS_ERR;
    int g = ip[0], c = in[0].d[SS_C];
    if (g < 1 || c % g != 0)
        return ss_op_err(op, n_in, in, "groups ip[0] = %d must be >= 1 and divide C = %d", g,
                         c);
    *n_out = 3;
    out[0] = in[0];
    out[1] = out[2] = ss_shape5(in[0].d[SS_N] * g, 1, 1, 1, 1);
    return SS_OK;
}

/* ---- kernels ------------------------------------------------------------- */

static norm_layout layout_of(const ss_shape *x, int g, int bn)
{
    norm_layout l = {x->d[SS_N], x->d[SS_C], g, ss_spatial(x), bn};
    return l;
}

/* y = BN(x) with batch statistics; running stats (inputs 3, 4) updated in
 * place: r = (1-m) r + m stat, the variance unbiased by n/(n-1). */
static int bn_train_fwd(const ss_op_args *a)
{
    norm_layout l = layout_of(&a->xs[0], 1, 1);
    double *st = a->ws; /* mean[C], biased var[C] */
    if (!st || a->ws_size < 2 * (size_t)l.c * sizeof(double))
        return ss_op_err("bn_train", a->n_in, a->xs, "workspace of %zu bytes is too small",
                         a->ws_size);
    norm_forward(&l, a->x[0], a->x[1], a->x[2], a->fp[1], a->y[0], a->y[1], a->y[2], st);
    double mom = a->fp[0], n = (double)l.n * (double)l.s;
    float *rm = a->x[3], *rv = a->x[4];
    for (int c = 0; c < l.c; c++) {
        rm[c] = (float)((1 - mom) * rm[c] + mom * st[c]);
        rv[c] = (float)((1 - mom) * rv[c] + mom * st[l.c + c] * n / (n - 1));
    }
    return SS_OK;
}

static size_t bn_train_ws(const ss_op_args *a, int bwd)
{
    return bwd ? 0 : 2 * (size_t)a->xs[0].d[SS_C] * sizeof(double);
}

/* Gradients for x, gamma and beta only; running statistics never get one
 * (gx[3], gx[4] are zeroed if asked for). Only gy[0] is used. */
static int bn_train_bwd(const ss_op_args *a)
{
    norm_layout l = layout_of(&a->xs[0], 1, 1);
    zero(a->gx[3], l.c);
    zero(a->gx[4], l.c);
    if (!a->gy[0]) {
        for (int i = 0; i < 3; i++)
            zero(a->gx[i], ss_numel(&a->xs[i]));
        return SS_OK;
    }
    norm_backward(&l, a->x[0], a->x[1], a->y[1], a->y[2], a->gy[0], a->gx[0], a->gx[1],
                  a->gx[2]);
    return SS_OK;
}

/* invstd_c = 1/sqrt(rv_c + eps); a non-positive rv + eps is a runtime error. */
static int bn_eval_invstd(const ss_op_args *a, int c, double *is)
{
    double v = (double)a->x[4][c] + a->fp[1];
    if (!(v > 0))
        return ss_op_err("bn_eval", a->n_in, a->xs,
                         "running_var[%d] + eps = %g must be > 0", c, v);
    *is = 1.0 / sqrt(v);
    return SS_OK;
}

static int bn_eval_fwd(const ss_op_args *a)
{
    int n = a->xs[0].d[SS_N], nc = a->xs[0].d[SS_C];
    int64_t s = ss_spatial(&a->xs[0]);
    for (int c = 0; c < nc; c++) {
        double is;
        if (bn_eval_invstd(a, c, &is) != SS_OK)
            return SS_ERR;
    }
#pragma omp parallel for schedule(static)
    for (int c = 0; c < nc; c++) {
        double is = 1.0 / sqrt((double)a->x[4][c] + a->fp[1]);
        double mu = a->x[3][c], ga = a->x[1][c], be = a->x[2][c];
        for (int i = 0; i < n; i++) {
            int64_t off = ((int64_t)i * nc + c) * s;
            for (int64_t j = 0; j < s; j++)
                a->y[0][off + j] = (float)((a->x[0][off + j] - mu) * is * ga + be);
        }
    }
    return SS_OK;
}

static int bn_eval_bwd(const ss_op_args *a)
{
    int n = a->xs[0].d[SS_N], nc = a->xs[0].d[SS_C];
    int64_t s = ss_spatial(&a->xs[0]);
    zero(a->gx[3], nc);
    zero(a->gx[4], nc);
    if (!a->gy[0]) {
        for (int i = 0; i < 3; i++)
            zero(a->gx[i], ss_numel(&a->xs[i]));
        return SS_OK;
    }
    for (int c = 0; c < nc; c++) {
        double is;
        if (bn_eval_invstd(a, c, &is) != SS_OK)
            return SS_ERR;
    }
    const float *dy = a->gy[0], *x = a->x[0];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < nc; c++) {
        double is = 1.0 / sqrt((double)a->x[4][c] + a->fp[1]);
        double mu = a->x[3][c], ga = a->x[1][c], sdy = 0, sdyx = 0;
        for (int i = 0; i < n; i++) {
            int64_t off = ((int64_t)i * nc + c) * s;
            for (int64_t j = 0; j < s; j++) {
                sdy += dy[off + j];
                sdyx += dy[off + j] * (x[off + j] - mu) * is;
                if (a->gx[0])
                    a->gx[0][off + j] = (float)(dy[off + j] * ga * is);
            }
        }
        if (a->gx[1])
            a->gx[1][c] = (float)sdyx;
        if (a->gx[2])
            a->gx[2][c] = (float)sdy;
    }
    return SS_OK;
}

static int instnorm_fwd(const ss_op_args *a)
{
    norm_layout l = layout_of(&a->xs[0], a->xs[0].d[SS_C], 0);
    int aff = a->n_in == 3;
    norm_forward(&l, a->x[0], aff ? a->x[1] : NULL, aff ? a->x[2] : NULL, a->fp[1], a->y[0],
                 a->y[1], a->y[2], NULL);
    return SS_OK;
}

static int instnorm_bwd(const ss_op_args *a)
{
    norm_layout l = layout_of(&a->xs[0], a->xs[0].d[SS_C], 0);
    int aff = a->n_in == 3;
    if (!a->gy[0]) {
        for (int i = 0; i < a->n_in; i++)
            zero(a->gx[i], ss_numel(&a->xs[i]));
        return SS_OK;
    }
    norm_backward(&l, a->x[0], aff ? a->x[1] : NULL, a->y[1], a->y[2], a->gy[0], a->gx[0],
                  aff ? a->gx[1] : NULL, aff ? a->gx[2] : NULL);
    return SS_OK;
}

static int groupnorm_fwd(const ss_op_args *a)
{
    norm_layout l = layout_of(&a->xs[0], a->ip[0], 0);
    norm_forward(&l, a->x[0], a->x[1], a->x[2], a->fp[1], a->y[0], a->y[1], a->y[2], NULL);
    return SS_OK;
}

static int groupnorm_bwd(const ss_op_args *a)
{
    norm_layout l = layout_of(&a->xs[0], a->ip[0], 0);
    if (!a->gy[0]) {
        for (int i = 0; i < 3; i++)
            zero(a->gx[i], ss_numel(&a->xs[i]));
        return SS_OK;
    }
    norm_backward(&l, a->x[0], a->x[1], a->y[1], a->y[2], a->gy[0], a->gx[0], a->gx[1],
                  a->gx[2]);
    return SS_OK;
}

/* ---- counts ---------------------------------------------------------------
 * Statistics cost 4 FLOPs per element (sum; subtract, square, accumulate) and
 * normalisation 4 (subtract, invstd, gamma, beta; 2 without an affine). */

static double flops8(const ss_op_args *a) { return 8.0 * (double)ss_numel(&a->xs[0]); }
static double bn_eval_flops(const ss_op_args *a) { return 4.0 * (double)ss_numel(&a->xs[0]); }
static double instnorm_flops(const ss_op_args *a)
{
    return (a->n_in == 3 ? 8.0 : 6.0) * (double)ss_numel(&a->xs[0]);
}

const ss_op_desc ss_desc_bn_train = {
    .name = "bn_train",
    .min_in = 5,
    .max_in = 5,
    .infer = bn_train_infer,
    .fwd = bn_train_fwd,
    .bwd = bn_train_bwd,
    .fwd_fast = ss_cpu_bn_train_fwd,
    .bwd_fast = ss_cpu_bn_train_bwd,
    .ws = bn_train_ws,
    .flops = flops8,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x7,
};

const ss_op_desc ss_desc_bn_eval = {
    .name = "bn_eval",
    .min_in = 5,
    .max_in = 5,
    .infer = bn_eval_infer,
    .fwd = bn_eval_fwd,
    .bwd = bn_eval_bwd,
    .fwd_fast = ss_cpu_bn_eval_fwd,
    .flops = bn_eval_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x7,
};

const ss_op_desc ss_desc_instnorm = {
    .name = "instnorm",
    .min_in = 1,
    .max_in = 3,
    .infer = instnorm_infer,
    .fwd = instnorm_fwd,
    .bwd = instnorm_bwd,
    .flops = instnorm_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x7,
};

const ss_op_desc ss_desc_groupnorm = {
    .name = "groupnorm",
    .min_in = 3,
    .max_in = 3,
    .infer = groupnorm_infer,
    .fwd = groupnorm_fwd,
    .bwd = groupnorm_bwd,
    .flops = flops8,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x7,
};
