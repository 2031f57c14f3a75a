/* Normalisation ops on the GPU (BN_TRAIN, BN_EVAL, INSTNORM, GROUPNORM) with
 * the CPU reference's definitions (kernels/ops/norm.c): statistics are the
 * biased variance from a two-pass (mean, then squared deviations) double
 * computation; BN_TRAIN writes saved_mean / saved_invstd (1/sqrt(var + eps))
 * and updates running_mean and running_var (unbiased: var * n/(n-1)) in place
 * with momentum; the backward passes use the saved statistics.
 *
 * Layout: rows are the (n, c) runs of S = D*H*W voxels; a group is a channel
 * over every n (batch norm) or (n, g) over C/G channels (instance norm: G = C).
 * Per-row sums come from cu_row_sums (chunked, fixed order), groups combine
 * their rows in row order. */
#include "cu_common.h"

#include <math.h>

typedef struct nl {
    int N, C, G, bn;
    int64_t S, rows, groups, rpg; /* rows per group */
} nl;

static nl nl_make(const ss_shape *x, int G, int bn)
{
    nl l;
    l.N = x->d[SS_N];
    l.C = x->d[SS_C];
    l.G = G;
    l.bn = bn;
    l.S = ss_spatial(x);
    l.rows = (int64_t)l.N * l.C;
    l.groups = bn ? l.C : (int64_t)l.N * G;
    l.rpg = bn ? l.N : l.C / G;
    return l;
}

static __device__ __forceinline__ int64_t nl_row(const nl &l, int64_t k, int64_t i)
{
    if (l.bn)
        return i * l.C + k;
    int64_t n = k / l.G, g = k % l.G;
    return n * l.C + g * l.rpg + i;
}

/* Double scratch: row partials, 2 * rows row sums, 4 * groups group values. */
typedef struct nscr {
    double *part, *rs, *mean, *istd, *g0, *g1;
    int *flag;
} nscr;

static int nscr_get(const nl &l, nscr *s)
{
    int64_t np = cu_row_part_count(l.rows, l.S);
    size_t bytes = (size_t)(np + 2 * l.rows + 4 * l.groups) * sizeof(double) + 64;
    void *p;
    if (cu_scratch(bytes, &p) != SS_OK)
        return SS_ERR;
    s->part = (double *)p;
    s->rs = s->part + np;
    s->mean = s->rs + 2 * l.rows;
    s->istd = s->mean + l.groups;
    s->g0 = s->istd + l.groups;
    s->g1 = s->g0 + l.groups;
    s->flag = (int *)(s->g1 + l.groups);
    return SS_OK;
}

__global__ void k_group_mean(nl l, const double *rs, double *mean)
{
    double m = (double)l.rpg * (double)l.S;
    CU_FOR(k, l.groups)
    {
        double s = 0;
        for (int64_t i = 0; i < l.rpg; i++)
            s += rs[nl_row(l, k, i)];
        mean[k] = s / m;
    }
}

/* var -> istd, saved stats, and (batch norm) the running statistics. */
__global__ void k_group_var(nl l, const double *rs, const double *mean, double *istd, double eps,
                            float *mean_out, float *istd_out, float *rm, float *rv, double mom)
{
    double m = (double)l.rpg * (double)l.S;
    CU_FOR(k, l.groups)
    {
        double s = 0;
        for (int64_t i = 0; i < l.rpg; i++)
            s += rs[nl_row(l, k, i)];
        double var = s / m, is = 1.0 / sqrt(var + eps);
        istd[k] = is;
        mean_out[k] = (float)mean[k];
        istd_out[k] = (float)is;
        if (rm) {
            rm[k] = (float)((1 - mom) * rm[k] + mom * mean[k]);
            rv[k] = (float)((1 - mom) * rv[k] + mom * var * m / (m - 1));
        }
    }
}

static __device__ __forceinline__ int64_t nl_group_of_row(const nl &l, int64_t r)
{
    int64_t c = r % l.C;
    return l.bn ? c : (r / l.C) * l.G + c / l.rpg;
}

/* y = (x - mean) * istd * gamma + beta (gamma/beta may be NULL). */
__global__ void k_norm_apply(nl l, const float *x, const double *mean, const double *istd,
                             const float *gamma, const float *beta, float *y)
{
    int64_t n = l.rows * l.S;
    CU_FOR(i, n)
    {
        int64_t r = i / l.S, c = r % l.C, k = nl_group_of_row(l, r);
        double ga = gamma ? gamma[c] : 1.0, be = beta ? beta[c] : 0.0;
        y[i] = (float)((x[i] - mean[k]) * istd[k] * ga + be);
    }
}

static int norm_forward(const nl &l, const nscr &s, const float *x, const float *gamma,
                        const float *beta, double eps, float *y, float *mean_out,
                        float *istd_out, float *rm, float *rv, double mom)
{
    cudaStream_t st = cu_stream();
    if (cu_row_sums(CU_ROW_SUM, x, NULL, l.rows, l.S, l.C, l.G, l.bn, NULL, NULL, s.part, s.rs) !=
        SS_OK)
        return SS_ERR;
    k_group_mean<<<cu_blocks(l.groups), CU_THREADS, 0, st>>>(l, s.rs, s.mean);
    CU_LAUNCHED("k_group_mean");
    if (cu_row_sums(CU_ROW_SQDEV, x, NULL, l.rows, l.S, l.C, l.G, l.bn, s.mean, NULL, s.part,
                    s.rs) != SS_OK)
        return SS_ERR;
    k_group_var<<<cu_blocks(l.groups), CU_THREADS, 0, st>>>(l, s.rs, s.mean, s.istd, eps,
                                                            mean_out, istd_out, rm, rv, mom);
    CU_LAUNCHED("k_group_var");
    k_norm_apply<<<cu_blocks(l.rows * l.S), CU_THREADS, 0, st>>>(l, x, s.mean, s.istd, gamma,
                                                                 beta, y);
    CU_LAUNCHED("k_norm_apply");
    return SS_OK;
}

__global__ void k_to_double(const float *a, const float *b, double *da, double *db, int64_t n)
{
    CU_FOR(i, n)
    {
        da[i] = a[i];
        db[i] = b[i];
    }
}

/* g0[k] = sum_rows gamma_c * sdy_r / m, g1[k] = sum_rows gamma_c * sdyx_r / m. */
__global__ void k_group_grad(nl l, const double *rs, const float *gamma, double *g0, double *g1)
{
    double m = (double)l.rpg * (double)l.S;
    CU_FOR(k, l.groups)
    {
        double a = 0, b = 0;
        for (int64_t i = 0; i < l.rpg; i++) {
            int64_t r = nl_row(l, k, i);
            double ga = gamma ? gamma[r % l.C] : 1.0;
            a += ga * rs[r];
            b += ga * rs[l.rows + r];
        }
        g0[k] = a / m;
        g1[k] = b / m;
    }
}

/* dx = istd * (dy*gamma - g0 - xh*g1), xh = (x - mean) * istd. */
__global__ void k_norm_dx(nl l, const float *x, const float *dy, const float *gamma,
                          const double *mean, const double *istd, const double *g0,
                          const double *g1, float *dx)
{
    int64_t n = l.rows * l.S;
    CU_FOR(i, n)
    {
        int64_t r = i / l.S, k = nl_group_of_row(l, r);
        double ga = gamma ? gamma[r % l.C] : 1.0, is = istd[k];
        double xh = (x[i] - mean[k]) * is;
        dx[i] = (float)(is * (dy[i] * ga - g0[k] - xh * g1[k]));
    }
}

/* dgamma_c = sum_n sdyx[n,c], dbeta_c = sum_n sdy[n,c]. */
__global__ void k_norm_dparams(nl l, const double *rs, float *dgamma, float *dbeta)
{
    CU_FOR(c, (int64_t)l.C)
    {
        double a = 0, b = 0;
        for (int64_t n = 0; n < l.N; n++) {
            a += rs[n * l.C + c];
            b += rs[l.rows + n * l.C + c];
        }
        if (dbeta)
            dbeta[c] = (float)a;
        if (dgamma)
            dgamma[c] = (float)b;
    }
}

static int norm_backward(const nl &l, const nscr &s, const float *x, const float *gamma,
                         const float *mean_f, const float *istd_f, const float *dy, float *dx,
                         float *dgamma, float *dbeta)
{
    cudaStream_t st = cu_stream();
    k_to_double<<<cu_blocks(l.groups), CU_THREADS, 0, st>>>(mean_f, istd_f, s.mean, s.istd,
                                                            l.groups);
    CU_LAUNCHED("k_to_double");
    if (cu_row_sums(CU_ROW_DY_XH, dy, x, l.rows, l.S, l.C, l.G, l.bn, s.mean, s.istd, s.part,
                    s.rs) != SS_OK)
        return SS_ERR;
    if (dx) {
        k_group_grad<<<cu_blocks(l.groups), CU_THREADS, 0, st>>>(l, s.rs, gamma, s.g0, s.g1);
        CU_LAUNCHED("k_group_grad");
        k_norm_dx<<<cu_blocks(l.rows * l.S), CU_THREADS, 0, st>>>(l, x, dy, gamma, s.mean, s.istd,
                                                                  s.g0, s.g1, dx);
        CU_LAUNCHED("k_norm_dx");
    }
    if (dgamma || dbeta) {
        k_norm_dparams<<<cu_blocks(l.C), CU_THREADS, 0, st>>>(l, s.rs, dgamma, dbeta);
        CU_LAUNCHED("k_norm_dparams");
    }
    return SS_OK;
}

static int zero_opt(float *p, int64_t n) { return p ? cu_fill(p, 0.f, n) : SS_OK; }

static int zero_all(const ss_op_args *a)
{
    for (int i = 0; i < a->n_in; i++)
        if (zero_opt(a->gx[i], ss_numel(&a->xs[i])) != SS_OK)
            return SS_ERR;
    return SS_OK;
}

/* ---- BN_EVAL ------------------------------------------------------------------ */

/* Per channel mean = running_mean, istd = 1/sqrt(running_var + eps); flags a
 * non-positive running_var + eps with 1 + its channel. */
__global__ void k_bn_eval_stats(const float *rm, const float *rv, double eps, int C,
                                double *mean, double *istd, int *flag)
{
    CU_FOR(c, (int64_t)C)
    {
        double v = (double)rv[c] + eps;
        if (!(v > 0))
            atomicCAS(flag, 0, (int)c + 1);
        mean[c] = rm[c];
        istd[c] = 1.0 / sqrt(v);
    }
}

__global__ void k_bn_eval_dx(nl l, const float *dy, const float *gamma, const double *istd,
                             float *dx)
{
    int64_t n = l.rows * l.S;
    CU_FOR(i, n)
    {
        int64_t c = (i / l.S) % l.C;
        dx[i] = (float)(dy[i] * (double)gamma[c] * istd[c]);
    }
}

static int bn_eval_run(const ss_op_args *a, int bwd)
{
    nl l = nl_make(&a->xs[0], 1, 1);
    if (bwd) {
        if (zero_opt(a->gx[3], l.C) != SS_OK || zero_opt(a->gx[4], l.C) != SS_OK)
            return SS_ERR;
        if (!a->gy[0]) {
            for (int i = 0; i < 3; i++)
                if (zero_opt(a->gx[i], ss_numel(&a->xs[i])) != SS_OK)
                    return SS_ERR;
            return SS_OK;
        }
    }
    nscr s;
    if (nscr_get(l, &s) != SS_OK)
        return SS_ERR;
    CU_CHECK(cudaMemsetAsync(s.flag, 0, sizeof(int), cu_stream()));
    k_bn_eval_stats<<<cu_blocks(l.C), CU_THREADS, 0, cu_stream()>>>(
        a->x[3], a->x[4], (double)a->fp[1], l.C, s.mean, s.istd, s.flag);
    CU_LAUNCHED("k_bn_eval_stats");
    int bad = 0;
    if (cu_read_ints(s.flag, &bad, 1) != SS_OK)
        return SS_ERR;
    if (bad) {
        float v = 0;
        CU_CHECK(cudaMemcpy(&v, a->x[4] + (bad - 1), sizeof v, cudaMemcpyDeviceToHost));
        return ss_op_err("bn_eval", a->n_in, a->xs, "running_var[%d] + eps = %g must be > 0",
                         bad - 1, (double)v + a->fp[1]);
    }
    if (!bwd) {
        k_norm_apply<<<cu_blocks(l.rows * l.S), CU_THREADS, 0, cu_stream()>>>(
            l, a->x[0], s.mean, s.istd, a->x[1], a->x[2], a->y[0]);
        CU_LAUNCHED("k_norm_apply");
        return SS_OK;
    }
    if (a->gx[0]) {
        k_bn_eval_dx<<<cu_blocks(l.rows * l.S), CU_THREADS, 0, cu_stream()>>>(
            l, a->gy[0], a->x[1], s.istd, a->gx[0]);
        CU_LAUNCHED("k_bn_eval_dx");
    }
    if (a->gx[1] || a->gx[2]) {
        if (cu_row_sums(CU_ROW_DY_XH, a->gy[0], a->x[0], l.rows, l.S, l.C, 1, 1, s.mean, s.istd,
                        s.part, s.rs) != SS_OK)
            return SS_ERR;
        k_norm_dparams<<<cu_blocks(l.C), CU_THREADS, 0, cu_stream()>>>(l, s.rs, a->gx[1],
                                                                       a->gx[2]);
        CU_LAUNCHED("k_norm_dparams");
    }
    return SS_OK;
}

/* ---- BN_TRAIN, INSTNORM, GROUPNORM ---------------------------------------------- */

static int stat_norm_run(const ss_op_args *a, int bwd)
{
    int bn = a->kind == SS_OP_BN_TRAIN;
    int G = bn ? 1 : a->kind == SS_OP_INSTNORM ? a->xs[0].d[SS_C] : a->ip[0];
    int aff = a->n_in >= 3;
    nl l = nl_make(&a->xs[0], G, bn);
    if (bwd) {
        if (bn && (zero_opt(a->gx[3], l.C) != SS_OK || zero_opt(a->gx[4], l.C) != SS_OK))
            return SS_ERR;
        if (!a->gy[0])
            return bn ? (zero_opt(a->gx[0], ss_numel(&a->xs[0])) != SS_OK ||
                                 zero_opt(a->gx[1], l.C) != SS_OK ||
                                 zero_opt(a->gx[2], l.C) != SS_OK
                             ? SS_ERR
                             : SS_OK)
                      : zero_all(a);
    }
    nscr s;
    if (nscr_get(l, &s) != SS_OK)
        return SS_ERR;
    const float *gamma = aff ? a->x[1] : NULL, *beta = aff ? a->x[2] : NULL;
    if (!bwd)
        return norm_forward(l, s, a->x[0], gamma, beta, (double)a->fp[1], a->y[0], a->y[1],
                            a->y[2], bn ? a->x[3] : NULL, bn ? a->x[4] : NULL,
                            bn ? (double)a->fp[0] : 0.0);
    return norm_backward(l, s, a->x[0], gamma, a->y[1], a->y[2], a->gy[0], a->gx[0],
                         aff ? a->gx[1] : NULL, aff ? a->gx[2] : NULL);
}

int cu_norm_run(const ss_op_args *a, int bwd)
{
    switch (a->kind) {
    case SS_OP_BN_EVAL: return bn_eval_run(a, bwd);
    case SS_OP_BN_TRAIN:
    case SS_OP_INSTNORM:
    case SS_OP_GROUPNORM: return stat_norm_run(a, bwd);
    default: return 1;
    }
}
