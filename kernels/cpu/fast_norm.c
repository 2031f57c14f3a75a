/* Batch-norm fast paths. The reference makes three passes in double; here the
 * statistics take one pass (sums of x - x0 and its square, x0 the channel's
 * first element, in float over blocks of 256 with eight lanes, blocks summed
 * in double) and the normalisation one float pass; the backward takes one
 * pass for its two sums and one for dx. Channels are split over threads. */
#include "cpu_fast.h"

#include "../error.h"

#include <math.h>
#include <string.h>

#define BLK 256

/* Sums of (p[j] - x0) and its square over n elements, added into s and q. */
static void sums_shift(const float *p, int64_t n, float x0, double *s, double *q)
{
    int64_t j = 0;
    while (j < n) {
        int64_t e = j + BLK < n ? j + BLK : n;
        float s8[8] = {0}, q8[8] = {0};
        for (; j + 8 <= e; j += 8)
            for (int l = 0; l < 8; l++) {
                float d = p[j + l] - x0;
                s8[l] += d;
                q8[l] += d * d;
            }
        for (; j < e; j++) {
            float d = p[j] - x0;
            s8[0] += d;
            q8[0] += d * d;
        }
        double ss = 0, qq = 0;
        for (int l = 0; l < 8; l++) {
            ss += s8[l];
            qq += q8[l];
        }
        *s += ss;
        *q += qq;
    }
}

/* Sums of dy and dy * (x - m) over n elements. */
static void sums_grad(const float *dy, const float *x, int64_t n, float m, double *sd, double *sdx)
{
    int64_t j = 0;
    while (j < n) {
        int64_t e = j + BLK < n ? j + BLK : n;
        float a8[8] = {0}, b8[8] = {0};
        for (; j + 8 <= e; j += 8)
            for (int l = 0; l < 8; l++) {
                float g = dy[j + l];
                a8[l] += g;
                b8[l] += g * (x[j + l] - m);
            }
        for (; j < e; j++) {
            a8[0] += dy[j];
            b8[0] += dy[j] * (x[j] - m);
        }
        double aa = 0, bb = 0;
        for (int l = 0; l < 8; l++) {
            aa += a8[l];
            bb += b8[l];
        }
        *sd += aa;
        *sdx += bb;
    }
}

static void affine(const float *x, float *y, int64_t n, float m, float sc, float sh)
{
    for (int64_t j = 0; j < n; j++)
        y[j] = (x[j] - m) * sc + sh;
}

int ss_cpu_bn_train_fwd(const ss_op_args *a)
{
    const int N = a->xs[0].d[SS_N], C = a->xs[0].d[SS_C];
    const int64_t S = ss_spatial(&a->xs[0]);
    double *st = a->ws;
    if (!st || a->ws_size < 2 * (size_t)C * sizeof(double))
        return ss_op_get(a->kind)->fwd(a);
    const float *x = a->x[0], *ga = a->x[1], *be = a->x[2];
    float *y = a->y[0];
    const double M = (double)N * (double)S, eps = a->fp[1];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float x0 = x[(int64_t)c * S];
        double s = 0, q = 0;
        for (int n = 0; n < N; n++)
            sums_shift(x + ((int64_t)n * C + c) * S, S, x0, &s, &q);
        double dm = s / M, var = q / M - dm * dm;
        if (var < 0)
            var = 0;
        double mean = x0 + dm, is = 1.0 / sqrt(var + eps);
        float mf = (float)mean, sc = (float)(is * ga[c]), sh = be[c];
        for (int n = 0; n < N; n++) {
            int64_t off = ((int64_t)n * C + c) * S;
            affine(x + off, y + off, S, mf, sc, sh);
        }
        a->y[1][c] = mf;
        a->y[2][c] = (float)is;
        st[c] = mean;
        st[C + c] = var;
    }
    const double mom = a->fp[0];
    float *rm = a->x[3], *rv = a->x[4];
    for (int c = 0; c < C; c++) {
        rm[c] = (float)((1 - mom) * rm[c] + mom * st[c]);
        rv[c] = (float)((1 - mom) * rv[c] + mom * st[C + c] * M / (M - 1));
    }
    return SS_OK;
}

int ss_cpu_bn_train_bwd(const ss_op_args *a)
{
    if (!a->gy[0] || a->gx[3] || a->gx[4])
        return ss_op_get(a->kind)->bwd(a);
    const int N = a->xs[0].d[SS_N], C = a->xs[0].d[SS_C];
    const int64_t S = ss_spatial(&a->xs[0]);
    const float *x = a->x[0], *ga = a->x[1], *mean = a->y[1], *invstd = a->y[2], *dy = a->gy[0];
    float *dx = a->gx[0], *dga = a->gx[1], *dbe = a->gx[2];
    const double M = (double)N * (double)S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float m = mean[c];
        const double is = invstd[c];
        double sd = 0, sdx = 0;
        for (int n = 0; n < N; n++) {
            int64_t off = ((int64_t)n * C + c) * S;
            sums_grad(dy + off, x + off, S, m, &sd, &sdx);
        }
        /* dx = is*ga*(dy - sd/M - xh * sum(dy*xh)/M), xh = (x - m)*is */
        if (dx) {
            const double g = ga[c];
            const float k1 = (float)(is * g), k2 = (float)(-is * is * is * g * sdx / M),
                        k3 = (float)(-is * g * sd / M);
            for (int n = 0; n < N; n++) {
                int64_t off = ((int64_t)n * C + c) * S;
                const float *dyp = dy + off, *xp = x + off;
                float *dxp = dx + off;
                for (int64_t j = 0; j < S; j++)
                    dxp[j] = k1 * dyp[j] + k2 * (xp[j] - m) + k3;
            }
        }
        if (dga)
            dga[c] = (float)(sdx * is);
        if (dbe)
            dbe[c] = (float)sd;
    }
    return SS_OK;
}

int ss_cpu_bn_eval_fwd(const ss_op_args *a)
{
    const int N = a->xs[0].d[SS_N], C = a->xs[0].d[SS_C];
    const int64_t S = ss_spatial(&a->xs[0]);
    for (int c = 0; c < C; c++)
        if (!((double)a->x[4][c] + a->fp[1] > 0))
            return ss_op_get(a->kind)->fwd(a); /* reports the error */
    const float *x = a->x[0];
    float *y = a->y[0];
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double is = 1.0 / sqrt((double)a->x[4][c] + a->fp[1]);
            int64_t off = ((int64_t)n * C + c) * S;
            affine(x + off, y + off, S, a->x[3][c], (float)(is * a->x[1][c]), a->x[2][c]);
        }
    return SS_OK;
}
