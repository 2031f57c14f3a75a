/* Pooling and upsampling on the GPU with the CPU reference's rules
 * (kernels/ops/pool.c, upsample.c): floor output size, max pads with -inf and
 * routes the gradient to the first maximum of its window in (d, h, w) scan
 * order (a NaN is the maximum; the first NaN wins), avg counts padding
 * (divisor kD*kH*kW). Backward passes gather per input element in double.
 * Upsampling uses per-axis tables built on the host with the same float
 * arithmetic as the CPU and uploaded into the op's workspace. */
#include "cu_common.h"

#include <math.h>
#include <stdlib.h>

typedef struct pg {
    int64_t planes;
    int I[3], O[3], k[3], s[3], p[3];
} pg;

static pg pg_make(const ss_op_args *a)
{
    pg g;
    g.planes = (int64_t)a->xs[0].d[0] * a->xs[0].d[1];
    for (int j = 0; j < 3; j++) {
        g.I[j] = a->xs[0].d[2 + j];
        g.O[j] = a->ys[0].d[2 + j];
        g.k[j] = a->ip[j];
        g.s[j] = a->ip[3 + j];
        g.p[j] = a->ip[6 + j];
    }
    return g;
}

static __device__ __forceinline__ void win(int o, int k, int s, int p, int I, int *lo, int *hi)
{
    int l = o * s - p, h = l + k;
    *lo = l < 0 ? 0 : l;
    *hi = h > I ? I : h;
}

static __device__ __forceinline__ void wins_of(int i, int k, int s, int p, int O, int *lo,
                                               int *hi)
{
    int a = i + p - k + 1;
    int l = a <= 0 ? 0 : (a + s - 1) / s;
    int h = (i + p) / s + 1;
    if (h > O)
        h = O;
    *lo = l;
    *hi = h < l ? l : h;
}

/* Splits flat index i of (planes, A, B, C) into plane and coordinates. */
static __device__ __forceinline__ int64_t split3(int64_t i, const int *E, int *c)
{
    c[2] = (int)(i % E[2]);
    i /= E[2];
    c[1] = (int)(i % E[1]);
    i /= E[1];
    c[0] = (int)(i % E[0]);
    return i / E[0];
}

static __device__ __forceinline__ int64_t argmax_at(const pg &g, const float *xp, const int *o)
{
    int d0, d1, h0, h1, w0, w1;
    win(o[0], g.k[0], g.s[0], g.p[0], g.I[0], &d0, &d1);
    win(o[1], g.k[1], g.s[1], g.p[1], g.I[1], &h0, &h1);
    win(o[2], g.k[2], g.s[2], g.p[2], g.I[2], &w0, &w1);
    int64_t best = ((int64_t)d0 * g.I[1] + h0) * g.I[2] + w0;
    float bv = xp[best];
    for (int d = d0; d < d1; d++)
        for (int h = h0; h < h1; h++) {
            int64_t row = ((int64_t)d * g.I[1] + h) * g.I[2];
            for (int w = w0; w < w1; w++) {
                float v = xp[row + w];
                if (v > bv || (isnan(v) && !isnan(bv))) {
                    bv = v;
                    best = row + w;
                }
            }
        }
    return best;
}

/* Max forward (arg == NULL) or argmax into arg (plane-local index). */
__global__ void k_maxpool(pg g, const float *x, float *y, int64_t *arg)
{
    int64_t Isp = (int64_t)g.I[0] * g.I[1] * g.I[2], n = g.planes * g.O[0] * g.O[1] * g.O[2];
    CU_FOR(i, n)
    {
        int o[3];
        int64_t pl = split3(i, g.O, o);
        const float *xp = x + pl * Isp;
        int64_t b = argmax_at(g, xp, o);
        if (arg)
            arg[i] = b;
        else
            y[i] = xp[b];
    }
}

__global__ void k_maxpool_bwd(pg g, const float *gy, const int64_t *arg, float *gx)
{
    int64_t Osp = (int64_t)g.O[0] * g.O[1] * g.O[2], n = g.planes * g.I[0] * g.I[1] * g.I[2];
    CU_FOR(i, n)
    {
        int c[3];
        int64_t pl = split3(i, g.I, c);
        int64_t me = ((int64_t)c[0] * g.I[1] + c[1]) * g.I[2] + c[2];
        int d0, d1, h0, h1, w0, w1;
        wins_of(c[0], g.k[0], g.s[0], g.p[0], g.O[0], &d0, &d1);
        wins_of(c[1], g.k[1], g.s[1], g.p[1], g.O[1], &h0, &h1);
        wins_of(c[2], g.k[2], g.s[2], g.p[2], g.O[2], &w0, &w1);
        const float *gyp = gy + pl * Osp;
        const int64_t *ap = arg + pl * Osp;
        double acc = 0;
        for (int od = d0; od < d1; od++)
            for (int oh = h0; oh < h1; oh++)
                for (int ow = w0; ow < w1; ow++) {
                    int64_t o = ((int64_t)od * g.O[1] + oh) * g.O[2] + ow;
                    if (ap[o] == me)
                        acc += gyp[o];
                }
        gx[i] = (float)acc;
    }
}

__global__ void k_avgpool(pg g, const float *x, float *y, double inv)
{
    int64_t Isp = (int64_t)g.I[0] * g.I[1] * g.I[2], n = g.planes * g.O[0] * g.O[1] * g.O[2];
    CU_FOR(i, n)
    {
        int o[3];
        int64_t pl = split3(i, g.O, o);
        const float *xp = x + pl * Isp;
        int d0, d1, h0, h1, w0, w1;
        win(o[0], g.k[0], g.s[0], g.p[0], g.I[0], &d0, &d1);
        win(o[1], g.k[1], g.s[1], g.p[1], g.I[1], &h0, &h1);
        win(o[2], g.k[2], g.s[2], g.p[2], g.I[2], &w0, &w1);
        double acc = 0;
        for (int d = d0; d < d1; d++)
            for (int h = h0; h < h1; h++) {
                const float *row = xp + ((int64_t)d * g.I[1] + h) * g.I[2];
                for (int w = w0; w < w1; w++)
                    acc += row[w];
            }
        y[i] = (float)(acc * inv);
    }
}

__global__ void k_avgpool_bwd(pg g, const float *gy, float *gx, double inv)
{
    int64_t Osp = (int64_t)g.O[0] * g.O[1] * g.O[2], n = g.planes * g.I[0] * g.I[1] * g.I[2];
    CU_FOR(i, n)
    {
        int c[3];
        int64_t pl = split3(i, g.I, c);
        int d0, d1, h0, h1, w0, w1;
        wins_of(c[0], g.k[0], g.s[0], g.p[0], g.O[0], &d0, &d1);
        wins_of(c[1], g.k[1], g.s[1], g.p[1], g.O[1], &h0, &h1);
        wins_of(c[2], g.k[2], g.s[2], g.p[2], g.O[2], &w0, &w1);
        const float *gyp = gy + pl * Osp;
        double acc = 0;
        for (int od = d0; od < d1; od++)
            for (int oh = h0; oh < h1; oh++)
                for (int ow = w0; ow < w1; ow++)
                    acc += gyp[((int64_t)od * g.O[1] + oh) * g.O[2] + ow];
        gx[i] = (float)(acc * inv);
    }
}

static int pool_run(const ss_op_args *a, int bwd)
{
    pg g = pg_make(a);
    int64_t ny = ss_numel(&a->ys[0]), nx = ss_numel(&a->xs[0]);
    cudaStream_t st = cu_stream();
    if (a->kind == SS_OP_AVGPOOL) {
        double inv = 1.0 / ((double)g.k[0] * g.k[1] * g.k[2]);
        if (!bwd) {
            k_avgpool<<<cu_blocks(ny), CU_THREADS, 0, st>>>(g, a->x[0], a->y[0], inv);
            CU_LAUNCHED("k_avgpool");
        } else if (a->gx[0]) {
            if (!a->gy[0])
                return cu_fill(a->gx[0], 0.f, nx);
            k_avgpool_bwd<<<cu_blocks(nx), CU_THREADS, 0, st>>>(g, a->gy[0], a->gx[0], inv);
            CU_LAUNCHED("k_avgpool_bwd");
        }
        return SS_OK;
    }
    if (!bwd) {
        k_maxpool<<<cu_blocks(ny), CU_THREADS, 0, st>>>(g, a->x[0], a->y[0], NULL);
        CU_LAUNCHED("k_maxpool");
        return SS_OK;
    }
    if (!a->gx[0])
        return SS_OK;
    if (!a->gy[0])
        return cu_fill(a->gx[0], 0.f, nx);
    void *arg;
    if (cu_scratch((size_t)ny * sizeof(int64_t), &arg) != SS_OK)
        return SS_ERR;
    k_maxpool<<<cu_blocks(ny), CU_THREADS, 0, st>>>(g, a->x[0], NULL, (int64_t *)arg);
    CU_LAUNCHED("k_maxpool (argmax)");
    k_maxpool_bwd<<<cu_blocks(nx), CU_THREADS, 0, st>>>(g, a->gy[0], (const int64_t *)arg,
                                                        a->gx[0]);
    CU_LAUNCHED("k_maxpool_bwd");
    return SS_OK;
}

/* ---- UPSAMPLE ---------------------------------------------------------------------- */

/* Device view of one axis table: i0, i1, l0, l1 per output; lo, hi per input. */
typedef struct utab {
    int in, out;
    const int *i0, *i1;
    const float *l0, *l1;
    const int *lo, *hi;
} utab;

typedef struct utabs {
    utab t[3];
    int nearest;
} utabs;

/* Builds one axis table on the host, exactly as kernels/ops/upsample.c. */
static void axis_host(int in, int out, int mode, int align, int *i0, int *i1, float *l0,
                      float *l1, int *lo, int *hi)
{
    if (mode == 0) {
        const float scale = (float)in / (float)out;
        for (int o = 0; o < out; o++) {
            int s = (int)floorf((float)o * scale);
            if (s > in - 1)
                s = in - 1;
            i0[o] = i1[o] = s;
            l0[o] = 1.f;
            l1[o] = 0.f;
        }
    } else {
        float scale;
        if (align)
            scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.f;
        else
            scale = (float)in / (float)out;
        for (int o = 0; o < out; o++) {
            float src;
            if (align) {
                src = scale * (float)o;
            } else {
                volatile float t = scale * ((float)o + 0.5f); /* no fused multiply-add */
                src = t - 0.5f;
                if (src < 0.f)
                    src = 0.f;
            }
            int a0 = (int)floorf(src);
            if (a0 > in - 1)
                a0 = in - 1;
            float w1 = src - (float)a0;
            w1 = w1 < 0.f ? 0.f : (w1 > 1.f ? 1.f : w1);
            i0[o] = a0;
            i1[o] = a0 + (a0 < in - 1 ? 1 : 0);
            l1[o] = w1;
            l0[o] = 1.f - w1;
        }
    }
    for (int i = 0; i < in; i++) {
        lo[i] = out;
        hi[i] = -1;
    }
    for (int o = 0; o < out; o++) {
        int c[2] = {i0[o], i1[o]};
        for (int q = 0; q < 2; q++) {
            if (o < lo[c[q]])
                lo[c[q]] = o;
            if (o > hi[c[q]])
                hi[c[q]] = o;
        }
    }
}

static __device__ __forceinline__ double axis_w(const utab &t, int o, int i)
{
    double w = 0.0;
    if (t.i0[o] == i)
        w += t.l0[o];
    if (t.i1[o] == i)
        w += t.l1[o];
    return w;
}

__global__ void k_up_fwd(utabs T, const float *x, float *y, int64_t planes)
{
    const utab *t = T.t;
    int O[3] = {t[0].out, t[1].out, t[2].out};
    int64_t Isp = (int64_t)t[0].in * t[1].in * t[2].in, n = planes * O[0] * O[1] * O[2];
    int IH = t[1].in, IW = t[2].in;
    CU_FOR(i, n)
    {
        int o[3];
        int64_t pl = split3(i, O, o);
        const float *xp = x + pl * Isp;
        if (T.nearest) {
            y[i] = xp[((int64_t)t[0].i0[o[0]] * IH + t[1].i0[o[1]]) * IW + t[2].i0[o[2]]];
            continue;
        }
        int idx[3][2], nn[3];
        double w[3][2];
        for (int j = 0; j < 3; j++) {
            idx[j][0] = t[j].i0[o[j]];
            idx[j][1] = t[j].i1[o[j]];
            w[j][0] = t[j].l0[o[j]];
            w[j][1] = t[j].l1[o[j]];
            nn[j] = 2;
            if (idx[j][1] == idx[j][0]) {
                w[j][0] += w[j][1];
                nn[j] = 1;
            }
        }
        double acc = 0.0;
        for (int p = 0; p < nn[0]; p++)
            for (int q = 0; q < nn[1]; q++)
                for (int r = 0; r < nn[2]; r++)
                    acc += w[0][p] * w[1][q] * w[2][r] *
                           xp[((int64_t)idx[0][p] * IH + idx[1][q]) * IW + idx[2][r]];
        y[i] = (float)acc;
    }
}

__global__ void k_up_bwd(utabs T, const float *gy, float *gx, int64_t planes)
{
    const utab *t = T.t;
    int I[3] = {t[0].in, t[1].in, t[2].in};
    int OH = t[1].out, OW = t[2].out;
    int64_t Osp = (int64_t)t[0].out * OH * OW, n = planes * I[0] * I[1] * I[2];
    CU_FOR(i, n)
    {
        int c[3];
        int64_t pl = split3(i, I, c);
        const float *gyp = gy + pl * Osp;
        double acc = 0.0;
        for (int od = t[0].lo[c[0]]; od <= t[0].hi[c[0]]; od++) {
            double w1 = axis_w(t[0], od, c[0]);
            for (int oh = t[1].lo[c[1]]; oh <= t[1].hi[c[1]]; oh++) {
                double w2 = w1 * axis_w(t[1], oh, c[1]);
                const float *row = gyp + ((int64_t)od * OH + oh) * OW;
                for (int ow = t[2].lo[c[2]]; ow <= t[2].hi[c[2]]; ow++)
                    acc += w2 * axis_w(t[2], ow, c[2]) * row[ow];
            }
        }
        gx[i] = (float)acc;
    }
}

static int upsample_run(const ss_op_args *a, int bwd)
{
    if (bwd && !a->gx[0])
        return SS_OK;
    int64_t nx = ss_numel(&a->xs[0]), ny = ss_numel(&a->ys[0]);
    if (bwd && !a->gy[0])
        return cu_fill(a->gx[0], 0.f, nx);
    /* one host block: per axis i0,i1 (out ints), l0,l1 (out floats), lo,hi (in ints) */
    size_t words = 0;
    for (int j = 0; j < 3; j++)
        words += 4 * (size_t)a->ys[0].d[2 + j] + 2 * (size_t)a->xs[0].d[2 + j];
    int *host = (int *)malloc(words * sizeof(int));
    if (!host)
        return ss_seterr("upsample: cannot allocate %zu bytes of host tables", words * 4);
    void *dev;
    if (cu_scratch(words * sizeof(int), &dev) != SS_OK) {
        free(host);
        return SS_ERR;
    }
    utabs T;
    T.nearest = a->ip[0] == 0;
    size_t off = 0;
    for (int j = 0; j < 3; j++) {
        int in = a->xs[0].d[2 + j], out = a->ys[0].d[2 + j];
        int *h = host + off, *d = (int *)dev + off;
        axis_host(in, out, a->ip[0], a->ip[1], h, h + out, (float *)(h + 2 * out),
                  (float *)(h + 3 * out), h + 4 * out, h + 4 * out + in);
        T.t[j].in = in;
        T.t[j].out = out;
        T.t[j].i0 = d;
        T.t[j].i1 = d + out;
        T.t[j].l0 = (const float *)(d + 2 * out);
        T.t[j].l1 = (const float *)(d + 3 * out);
        T.t[j].lo = d + 4 * out;
        T.t[j].hi = d + 4 * out + in;
        off += 4 * (size_t)out + 2 * (size_t)in;
    }
    cudaError_t e = cudaMemcpyAsync(dev, host, words * sizeof(int), cudaMemcpyHostToDevice,
                                    cu_stream());
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(cu_stream()); /* host tables are freed next */
    free(host);
    if (e != cudaSuccess)
        return ss_seterr("CUDA upload of upsample tables failed: %s (%s:%d)",
                         cudaGetErrorString(e), __FILE__, __LINE__);
    int64_t planes = (int64_t)a->xs[0].d[0] * a->xs[0].d[1];
    if (!bwd) {
        k_up_fwd<<<cu_blocks(ny), CU_THREADS, 0, cu_stream()>>>(T, a->x[0], a->y[0], planes);
        CU_LAUNCHED("k_up_fwd");
    } else {
        k_up_bwd<<<cu_blocks(nx), CU_THREADS, 0, cu_stream()>>>(T, a->gy[0], a->gx[0], planes);
        CU_LAUNCHED("k_up_bwd");
    }
    return SS_OK;
}

int cu_pool_run(const ss_op_args *a, int bwd)
{
    switch (a->kind) {
    case SS_OP_MAXPOOL:
    case SS_OP_AVGPOOL: return pool_run(a, bwd);
    case SS_OP_UPSAMPLE: return upsample_run(a, bwd);
    default: return 1;
    }
}
