/* Batch-norm fast paths. The reference makes three passes in double; here the
 * statistics take one pass (sums of x - x0 and its square, x0 the channel's
 * first element, in float over blocks of 256 with eight lanes, blocks summed
 * in double) and the normalisation one float pass; the backward takes one
 * pass for its two sums and one for dx. Channels are split over threads.
 * BN_ACT runs the same passes with the activation applied to each output and,
 * in the backward, the activation's mask applied to each output gradient as
 * it is read, with the same float operations in the same order (lane l of
 * the SSE sums is lane l of the eight-lane sums): its results equal BN_TRAIN
 * followed by the activation's fast path bit for bit. */
#include "cpu_fast.h"
#include "sse_select.h"

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

/* the activation after the batch norm: none (BN_TRAIN), ReLU or LeakyReLU */
typedef struct bnact {
    int kind; /* 0, SS_OP_RELU, SS_OP_LEAKY_RELU */
    float slope;
} bnact;

/* act(v) as the activation's kernels compute it (ReLU gives +0, not v * 0) */
static inline __m128 act4(const bnact *f, __m128 v, __m128 s)
{
    __m128 pos = _mm_cmpgt_ps(v, _mm_setzero_ps());
    return f->kind == SS_OP_RELU ? _mm_and_ps(v, pos) : ss_sse_select(pos, v, _mm_mul_ps(v, s));
}

static inline float act1(const bnact *f, float v)
{
    return v > 0 ? v : f->kind == SS_OP_RELU ? 0.f : v * f->slope;
}

/* the activation's backward, its mask taken from its output r */
static inline __m128 dact4(const bnact *f, __m128 r, __m128 g, __m128 s)
{
    __m128 pos = _mm_cmpgt_ps(r, _mm_setzero_ps());
    return f->kind == SS_OP_RELU ? _mm_and_ps(g, pos) : ss_sse_select(pos, g, _mm_mul_ps(g, s));
}

static inline float dact1(const bnact *f, float r, float g)
{
    return r > 0 ? g : f->kind == SS_OP_RELU ? 0.f : g * f->slope;
}

static void affine_act(const bnact *f, const float *x, float *y, int64_t n, float m, float sc,
                       float sh)
{
    if (!f->kind) {
        affine(x, y, n, m, sc, sh);
        return;
    }
    const __m128 vm = _mm_set1_ps(m), vsc = _mm_set1_ps(sc), vsh = _mm_set1_ps(sh),
                 vs = _mm_set1_ps(f->slope);
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m128 v = _mm_add_ps(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(x + j), vm), vsc), vsh);
        _mm_storeu_ps(y + j, act4(f, v, vs));
    }
    for (; j < n; j++)
        y[j] = act1(f, (x[j] - m) * sc + sh);
}

/* sums_grad with the activation's mask (from r) applied to dy as it is read */
static void sums_grad_act(const bnact *f, const float *dy, const float *r, const float *x,
                          int64_t n, float m, double *sd, double *sdx)
{
    const __m128 vm = _mm_set1_ps(m), vs = _mm_set1_ps(f->slope);
    int64_t j = 0;
    while (j < n) {
        int64_t e = j + BLK < n ? j + BLK : n;
        __m128 a0 = _mm_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
        for (; j + 8 <= e; j += 8) {
            __m128 g0 = dact4(f, _mm_loadu_ps(r + j), _mm_loadu_ps(dy + j), vs);
            __m128 g1 = dact4(f, _mm_loadu_ps(r + j + 4), _mm_loadu_ps(dy + j + 4), vs);
            a0 = _mm_add_ps(a0, g0);
            a1 = _mm_add_ps(a1, g1);
            b0 = _mm_add_ps(b0, _mm_mul_ps(g0, _mm_sub_ps(_mm_loadu_ps(x + j), vm)));
            b1 = _mm_add_ps(b1, _mm_mul_ps(g1, _mm_sub_ps(_mm_loadu_ps(x + j + 4), vm)));
        }
        float a8[8], b8[8];
        _mm_storeu_ps(a8, a0);
        _mm_storeu_ps(a8 + 4, a1);
        _mm_storeu_ps(b8, b0);
        _mm_storeu_ps(b8 + 4, b1);
        for (; j < e; j++) {
            float g = dact1(f, r[j], dy[j]);
            a8[0] += g;
            b8[0] += g * (x[j] - m);
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

static int bn_fwd(const ss_op_args *a, const bnact *f)
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
            affine_act(f, x + off, y + off, S, mf, sc, sh);
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

static int bn_bwd(const ss_op_args *a, const bnact *f)
{
    if (!a->gy[0] || a->gx[3] || a->gx[4])
        return ss_op_get(a->kind)->bwd(a);
    const float *r = a->y[0]; /* BN_ACT: the activation's output */
    const __m128 vs = _mm_set1_ps(f->slope);
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
            if (f->kind)
                sums_grad_act(f, dy + off, r + off, x + off, S, m, &sd, &sdx);
            else
                sums_grad(dy + off, x + off, S, m, &sd, &sdx);
        }
        /* dx = is*ga*(dy - sd/M - xh * sum(dy*xh)/M), xh = (x - m)*is */
        if (dx) {
            const double g = ga[c];
            const float k1 = (float)(is * g), k2 = (float)(-is * is * is * g * sdx / M),
                        k3 = (float)(-is * g * sd / M);
            for (int n = 0; n < N; n++) {
                int64_t off = ((int64_t)n * C + c) * S;
                const float *dyp = dy + off, *xp = x + off, *rp = r + off;
                float *dxp = dx + off;
                int64_t j = 0;
                if (f->kind) {
                    const __m128 v1 = _mm_set1_ps(k1), v2 = _mm_set1_ps(k2),
                                 v3 = _mm_set1_ps(k3), vm = _mm_set1_ps(m);
                    for (; j + 4 <= S; j += 4) {
                        __m128 g = dact4(f, _mm_loadu_ps(rp + j), _mm_loadu_ps(dyp + j), vs);
                        __m128 t = _mm_mul_ps(v2, _mm_sub_ps(_mm_loadu_ps(xp + j), vm));
                        _mm_storeu_ps(dxp + j, _mm_add_ps(_mm_add_ps(_mm_mul_ps(v1, g), t), v3));
                    }
                    for (; j < S; j++)
                        dxp[j] = k1 * dact1(f, rp[j], dyp[j]) + k2 * (xp[j] - m) + k3;
                }
                for (; j < S; j++)
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

static const bnact k_none = {0, 0.f};

int ss_cpu_bn_train_fwd(const ss_op_args *a) { return bn_fwd(a, &k_none); }
int ss_cpu_bn_train_bwd(const ss_op_args *a) { return bn_bwd(a, &k_none); }

static bnact act_of(const ss_op_args *a)
{
    bnact f = {a->ip[0], a->ip[0] == SS_OP_LEAKY_RELU ? a->fp[2] : 0.f};
    return f;
}

int ss_cpu_bn_act_fwd(const ss_op_args *a)
{
    bnact f = act_of(a);
    return bn_fwd(a, &f);
}

int ss_cpu_bn_act_bwd(const ss_op_args *a)
{
    bnact f = act_of(a);
    return bn_bwd(a, &f);
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
