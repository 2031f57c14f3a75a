/* Reductions on the GPU: the chunked per-row sums used by the norms, SUM and
 * MEAN over an axis mask (box reductions), and softmax / log-softmax over C.
 * Every sum is in double in a fixed order, so results are deterministic. */
#include "cu_common.h"

#include <math.h>

int64_t cu_row_part_count(int64_t rows, int64_t len)
{
    int64_t nc = (len + CU_ROW_CHUNK - 1) / CU_ROW_CHUNK;
    return 2 * rows * (nc < 1 ? 1 : nc);
}

static __device__ __forceinline__ int64_t row_group(int64_t r, int C, int G, int bn)
{
    int64_t c = r % C;
    return bn ? c : (r / C) * G + c / (C / G);
}

__global__ void k_row_partials(int mode, const float *a, const float *b, int64_t rows,
                               int64_t len, int64_t nch, int C, int G, int bn,
                               const double *mean, const double *istd, double *part)
{
    int64_t blk = blockIdx.x, r = blk / nch, ch = blk % nch;
    int64_t lo = ch * CU_ROW_CHUNK, hi = lo + CU_ROW_CHUNK < len ? lo + CU_ROW_CHUNK : len;
    const float *pa = a + r * len;
    double s0 = 0, s1 = 0, mu = 0, is = 0;
    if (mode != CU_ROW_SUM) {
        int64_t g = row_group(r, C, G, bn);
        mu = mean[g];
        is = mode == CU_ROW_DY_XH ? istd[g] : 0.0;
    }
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
        double v = pa[i];
        if (mode == CU_ROW_SUM) {
            s0 += v;
        } else if (mode == CU_ROW_SQDEV) {
            double d = v - mu;
            s0 += d * d;
        } else {
            s0 += v;
            s1 += v * (((double)b[r * len + i] - mu) * is);
        }
    }
    s0 = cu_block_sum(s0);
    if (mode == CU_ROW_DY_XH)
        s1 = cu_block_sum(s1);
    if (threadIdx.x == 0) {
        part[2 * blk] = s0;
        part[2 * blk + 1] = s1;
    }
    (void)rows;
}

__global__ void k_row_finish(int mode, int64_t rows, int64_t nch, const double *part,
                             double *out)
{
    CU_FOR(r, rows)
    {
        double s0 = 0, s1 = 0;
        for (int64_t c = 0; c < nch; c++) {
            s0 += part[2 * (r * nch + c)];
            s1 += part[2 * (r * nch + c) + 1];
        }
        out[r] = s0;
        if (mode == CU_ROW_DY_XH)
            out[rows + r] = s1;
    }
}

int cu_row_sums(int mode, const float *a, const float *b, int64_t rows, int64_t len, int C,
                int G, int bn, const double *mean, const double *istd, double *part,
                double *out)
{
    int64_t nch = (len + CU_ROW_CHUNK - 1) / CU_ROW_CHUNK;
    if (nch < 1)
        nch = 1;
    if (rows <= 0)
        return SS_OK;
    if (rows * nch > 0x7fffffffLL)
        return ss_seterr("cu_row_sums: %lld rows x %lld chunks exceed one grid", (long long)rows,
                         (long long)nch);
    k_row_partials<<<(unsigned)(rows * nch), CU_THREADS, 0, cu_stream()>>>(
        mode, a, b, rows, len, nch, C, G, bn, mean, istd, part);
    CU_LAUNCHED("k_row_partials");
    k_row_finish<<<cu_blocks(rows), CU_THREADS, 0, cu_stream()>>>(mode, rows, nch, part, out);
    CU_LAUNCHED("k_row_finish");
    return SS_OK;
}

/* ---- SUM / MEAN ------------------------------------------------------------ */

struct TermX {
    const float *x;
    __device__ double operator()(const int64_t *off) const { return x[off[0]]; }
};

/* gx = gy broadcast back over the reduced box, times 1/count for MEAN. */
struct Dims5 {
    int d[5];
};

__global__ void k_red_bwd5(const float *g, float *gx, Dims5 xd, int64_t s0, int64_t s1,
                           int64_t s2, int64_t s3, int64_t s4, double inv, int64_t n)
{
    CU_FOR(i, n)
    {
        int64_t r = i, o = 0;
        const int64_t st[5] = {s0, s1, s2, s3, s4};
        for (int k = 4; k >= 0; k--) {
            int64_t c = r % xd.d[k];
            r /= xd.d[k];
            o += c * st[k];
        }
        gx[i] = (float)(g[o] * inv);
    }
}

static int red_run(const ss_op_args *a, int bwd)
{
    const ss_shape *xs = &a->xs[0], *ys = &a->ys[0];
    int64_t nx = ss_numel(xs), ny = ss_numel(ys);
    double inv = a->kind == SS_OP_MEAN ? 1.0 / (double)(nx / ny) : 1.0;
    if (!bwd) {
        int64_t sp[1][5];
        cu_strides(xs->d, sp[0], 0);
        cu_box b = cu_box_make(ys->d, xs->d, 1, sp);
        TermX t = {a->x[0]};
        return cu_box_run(b, ny, t, inv, a->y[0], cu_stream());
    }
    if (!a->gx[0])
        return SS_OK;
    if (!a->gy[0])
        return cu_fill(a->gx[0], 0.f, nx);
    int64_t st[5];
    cu_strides(ys->d, st, 1);
    Dims5 xd;
    for (int i = 0; i < 5; i++)
        xd.d[i] = xs->d[i];
    k_red_bwd5<<<cu_blocks(nx), CU_THREADS, 0, cu_stream()>>>(a->gy[0], a->gx[0], xd, st[0],
                                                              st[1], st[2], st[3], st[4], inv,
                                                              nx);
    CU_LAUNCHED("k_red_bwd5");
    return SS_OK;
}

/* ---- SOFTMAX / LOG_SOFTMAX over C ------------------------------------------ */

__global__ void k_softmax_fwd(const float *x, float *y, int64_t cols, int64_t S, int C, int logsm)
{
    CU_FOR(col, cols)
    {
        int64_t base = (col / S) * C * S + col % S;
        double m = x[base];
        for (int c = 1; c < C; c++)
            if (x[base + c * S] > m)
                m = x[base + c * S];
        double sum = 0;
        for (int c = 0; c < C; c++)
            sum += exp((double)x[base + c * S] - m);
        double lse = log(sum);
        for (int c = 0; c < C; c++) {
            double z = (double)x[base + c * S] - m;
            y[base + c * S] = (float)(logsm ? z - lse : exp(z) / sum);
        }
    }
}

__global__ void k_softmax_bwd(const float *y, const float *dy, float *dx, int64_t cols,
                              int64_t S, int C, int logsm)
{
    CU_FOR(col, cols)
    {
        int64_t base = (col / S) * C * S + col % S;
        double t = 0;
        for (int c = 0; c < C; c++)
            t += logsm ? (double)dy[base + c * S] : (double)dy[base + c * S] * y[base + c * S];
        for (int c = 0; c < C; c++) {
            int64_t i = base + c * S;
            dx[i] = (float)(logsm ? dy[i] - exp((double)y[i]) * t : y[i] * (dy[i] - t));
        }
    }
}

static int softmax_run(const ss_op_args *a, int bwd)
{
    int logsm = a->kind == SS_OP_LOG_SOFTMAX;
    int C = a->xs[0].d[SS_C];
    int64_t S = ss_spatial(&a->xs[0]), cols = (int64_t)a->xs[0].d[SS_N] * S;
    if (!bwd) {
        k_softmax_fwd<<<cu_blocks(cols), CU_THREADS, 0, cu_stream()>>>(a->x[0], a->y[0], cols, S,
                                                                      C, logsm);
        CU_LAUNCHED("k_softmax_fwd");
        return SS_OK;
    }
    if (!a->gx[0])
        return SS_OK;
    if (!a->gy[0])
        return cu_fill(a->gx[0], 0.f, ss_numel(&a->xs[0]));
    k_softmax_bwd<<<cu_blocks(cols), CU_THREADS, 0, cu_stream()>>>(a->y[0], a->gy[0], a->gx[0],
                                                                  cols, S, C, logsm);
    CU_LAUNCHED("k_softmax_bwd");
    return SS_OK;
}

int cu_reduce_run(const ss_op_args *a, int bwd)
{
    switch (a->kind) {
    case SS_OP_SUM:
    case SS_OP_MEAN: return red_run(a, bwd);
    case SS_OP_SOFTMAX:
    case SS_OP_LOG_SOFTMAX: return softmax_run(a, bwd);
    default: return 1;
    }
}
