/* CE and MSE on the GPU with the CPU reference's rules (kernels/ops/loss.c):
 * mean over counted voxels / elements, NaN/Inf inputs and invalid labels are
 * errors naming the first offending value (in index order), all-ignored CE is
 * an error. Sums are double partials of a fixed number of blocks added in
 * block order (deterministic). These ops read a small status record back to
 * the host, so they synchronize the stream. */
#include "cu_common.h"

#include <math.h>

#define LOSS_NB 256

typedef struct lstat {
    unsigned long long bad; /* first offending key, ~0 when none */
    long long count;
} lstat;

/* Per voxel v (n, q): key 2v for a non-finite logit, 2v+1 for a bad label. */
__global__ void k_ce_part(const float *X, const float *L, int64_t C, int64_t S, int64_t nv,
                          float ign, int want, double *psum, long long *pcnt, lstat *st)
{
    double s = 0;
    long long cnt = 0;
    for (int64_t v = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; v < nv;
         v += (int64_t)blockDim.x * gridDim.x) {
        int64_t n = v / S, q = v % S;
        const float *x = X + n * C * S + q;
        int bad = 0;
        for (int64_t j = 0; j < C; j++)
            if (!isfinite(x[j * S]))
                bad = 1;
        if (bad) {
            atomicMin(&st->bad, 2ull * (unsigned long long)v);
            continue;
        }
        float lab = L[v];
        if (lab == ign)
            continue;
        if (!(lab >= 0.f && lab < (float)C && floorf(lab) == lab)) {
            atomicMin(&st->bad, 2ull * (unsigned long long)v + 1ull);
            continue;
        }
        cnt++;
        if (!want)
            continue;
        double mx = x[0];
        for (int64_t j = 1; j < C; j++)
            mx = fmax(mx, (double)x[j * S]);
        double se = 0;
        for (int64_t j = 0; j < C; j++)
            se += exp((double)x[j * S] - mx);
        s += mx + log(se) - (double)x[(int64_t)lab * S];
    }
    s = cu_block_sum(s);
    double c = cu_block_sum((double)cnt);
    if (threadIdx.x == 0) {
        psum[blockIdx.x] = s;
        pcnt[blockIdx.x] = (long long)c;
    }
}

/* Adds the block partials in order; y (when given) = sum / count. */
__global__ void k_loss_finish(const double *psum, const long long *pcnt, int nb, double div,
                              lstat *st, float *y)
{
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double s = 0;
        long long c = 0;
        for (int b = 0; b < nb; b++) {
            s += psum[b];
            c += pcnt[b];
        }
        st->count = c;
        if (y)
            y[0] = (float)(s / (div > 0 ? div : (double)c));
    }
}

/* scratch: status, partial sums and counts */
static int loss_scratch(lstat **st, double **ps, long long **pc)
{
    void *p;
    if (cu_scratch(sizeof(lstat) + LOSS_NB * (sizeof(double) + sizeof(long long)), &p) != SS_OK)
        return SS_ERR;
    *st = (lstat *)p;
    *ps = (double *)(*st + 1);
    *pc = (long long *)(*ps + LOSS_NB);
    CU_CHECK(cudaMemsetAsync(*st, 0xff, sizeof(unsigned long long), cu_stream()));
    return SS_OK;
}

static int read_stat(const lstat *dev, lstat *h)
{
    return cu_read_ints((const int *)dev, (int *)h, (int)(sizeof(lstat) / sizeof(int)));
}

static float peek(const float *dev)
{
    float v = NAN;
    cudaMemcpy(&v, dev, sizeof v, cudaMemcpyDeviceToHost);
    return v;
}

/* Validates and counts (and with y, writes the mean loss). */
static int ce_scan(const ss_op_args *a, float *y, long long *count)
{
    const ss_shape *s = &a->xs[0];
    int64_t C = s->d[1], S = ss_spatial(s), nv = (int64_t)s->d[0] * S;
    lstat *st, h;
    double *ps;
    long long *pc;
    if (loss_scratch(&st, &ps, &pc) != SS_OK)
        return SS_ERR;
    k_ce_part<<<LOSS_NB, CU_THREADS, 0, cu_stream()>>>(a->x[0], a->x[1], C, S, nv,
                                                       (float)a->ip[0], y != NULL, ps, pc, st);
    CU_LAUNCHED("k_ce_part");
    k_loss_finish<<<1, 32, 0, cu_stream()>>>(ps, pc, LOSS_NB, 0.0, st, y);
    CU_LAUNCHED("k_loss_finish");
    if (read_stat(st, &h) != SS_OK)
        return SS_ERR;
    if (h.bad != ~0ull) {
        int64_t v = (int64_t)(h.bad >> 1), n = v / S, q = v % S;
        if (h.bad & 1ull)
            return ss_op_err("ce", a->n_in, a->xs,
                             "label %g at index %lld (n %lld, voxel %lld) is not a class id "
                             "in [0, %lld) nor the ignore index %d",
                             (double)peek(a->x[1] + v), (long long)v, (long long)n, (long long)q,
                             (long long)C, a->ip[0]);
        for (int64_t j = 0; j < C; j++) {
            int64_t i = n * C * S + j * S + q;
            float xv = peek(a->x[0] + i);
            if (!isfinite(xv))
                return ss_op_err("ce", a->n_in, a->xs,
                                 "logit %g at index %lld (n %lld, class %lld, voxel %lld) is "
                                 "not finite",
                                 (double)xv, (long long)i, (long long)n, (long long)j,
                                 (long long)q);
        }
        return ss_op_err("ce", a->n_in, a->xs, "a non-finite logit at voxel %lld", (long long)v);
    }
    if (h.count == 0)
        return ss_op_err("ce", a->n_in, a->xs,
                         "all voxels ignored (every label equals ignore index %d); the mean "
                         "is undefined",
                         a->ip[0]);
    *count = h.count;
    return SS_OK;
}

__global__ void k_ce_bwd(const float *X, const float *L, const float *gy, double cnt,
                         int64_t C, int64_t S, int64_t nv, float ign, float *GX)
{
    CU_FOR(v, nv)
    {
        int64_t n = v / S, q = v % S;
        const float *x = X + n * C * S + q;
        float *gx = GX + n * C * S + q;
        float lab = L[v];
        double scale = gy ? (double)gy[0] / cnt : 0.0;
        if (lab == ign || scale == 0.0) {
            for (int64_t j = 0; j < C; j++)
                gx[j * S] = 0.f;
            continue;
        }
        double mx = x[0];
        for (int64_t j = 1; j < C; j++)
            mx = fmax(mx, (double)x[j * S]);
        double se = 0;
        for (int64_t j = 0; j < C; j++)
            se += exp((double)x[j * S] - mx);
        int64_t li = (int64_t)lab;
        for (int64_t j = 0; j < C; j++) {
            double p = exp((double)x[j * S] - mx) / se;
            gx[j * S] = (float)(scale * (p - (j == li ? 1.0 : 0.0)));
        }
    }
}

static int ce_run(const ss_op_args *a, int bwd)
{
    long long cnt;
    if (!bwd)
        return ce_scan(a, a->y[0], &cnt);
    if (!a->gx[0])
        return SS_OK;
    if (ce_scan(a, NULL, &cnt) != SS_OK)
        return SS_ERR;
    const ss_shape *s = &a->xs[0];
    int64_t C = s->d[1], S = ss_spatial(s), nv = (int64_t)s->d[0] * S;
    k_ce_bwd<<<cu_blocks(nv), CU_THREADS, 0, cu_stream()>>>(
        a->x[0], a->x[1], a->gy[0], (double)cnt, C, S, nv, (float)a->ip[0], a->gx[0]);
    CU_LAUNCHED("k_ce_bwd");
    return SS_OK;
}

/* ---- MSE ----------------------------------------------------------------------- */

__global__ void k_mse_part(const float *A, const float *B, int64_t ne, double *psum,
                           long long *pcnt, lstat *st)
{
    double s = 0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < ne;
         i += (int64_t)blockDim.x * gridDim.x) {
        if (!isfinite(A[i]) || !isfinite(B[i])) {
            atomicMin(&st->bad, (unsigned long long)i);
            continue;
        }
        double d = (double)A[i] - B[i];
        s += d * d;
    }
    s = cu_block_sum(s);
    if (threadIdx.x == 0) {
        psum[blockIdx.x] = s;
        pcnt[blockIdx.x] = 0;
    }
}

__global__ void k_mse_bwd(const float *A, const float *B, const float *gy, double ne, float *GA,
                          float *GB, int64_t n)
{
    CU_FOR(i, n)
    {
        double scale = gy ? 2.0 * (double)gy[0] / ne : 0.0;
        double g = scale * ((double)A[i] - B[i]);
        if (GA)
            GA[i] = (float)g;
        if (GB)
            GB[i] = (float)-g;
    }
}

static int mse_run(const ss_op_args *a, int bwd)
{
    int64_t ne = ss_numel(&a->xs[0]);
    if (bwd) {
        if (!a->gx[0] && !a->gx[1])
            return SS_OK;
        k_mse_bwd<<<cu_blocks(ne), CU_THREADS, 0, cu_stream()>>>(
            a->x[0], a->x[1], a->gy[0], (double)ne, a->gx[0], a->gx[1], ne);
        CU_LAUNCHED("k_mse_bwd");
        return SS_OK;
    }
    lstat *st, h;
    double *ps;
    long long *pc;
    if (loss_scratch(&st, &ps, &pc) != SS_OK)
        return SS_ERR;
    k_mse_part<<<LOSS_NB, CU_THREADS, 0, cu_stream()>>>(a->x[0], a->x[1], ne, ps, pc, st);
    CU_LAUNCHED("k_mse_part");
    k_loss_finish<<<1, 32, 0, cu_stream()>>>(ps, pc, LOSS_NB, (double)ne, st, a->y[0]);
    CU_LAUNCHED("k_loss_finish");
    if (read_stat(st, &h) != SS_OK)
        return SS_ERR;
    if (h.bad != ~0ull) {
        int64_t i = (int64_t)h.bad;
        float av = peek(a->x[0] + i), bv = peek(a->x[1] + i);
        int which_b = isfinite(av);
        return ss_op_err("mse", a->n_in, a->xs, "input %s value %g at index %lld is not finite",
                         which_b ? "b" : "a", (double)(which_b ? bv : av), (long long)i);
    }
    return SS_OK;
}

int cu_loss_run(const ss_op_args *a, int bwd)
{
    switch (a->kind) {
    case SS_OP_CE: return ce_run(a, bwd);
    case SS_OP_MSE: return mse_run(a, bwd);
    default: return 1;
    }
}
