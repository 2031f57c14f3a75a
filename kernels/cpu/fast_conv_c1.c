/* CONV with one input channel, stride 1 and a 3x3x3 kernel with pad 1 (3-D)
 * or a 1x3x3 kernel with pad 0,1,1 (2-D): the first convolution of the
 * models (1 -> 16). oneDNN runs such a convolution channels-last, so its
 * output (forward) and gy (weight gradient) cross a full-resolution reorder
 * every step; here both stay NCDHW.
 *
 * Work items are blocks of up to BH output rows of one (n, d) plane. An item
 * first copies the input rows it reads into a zero-padded slab (kD planes x
 * (rows + 2) rows x Wp columns, column c holding input column c - 1) in its
 * thread's part of the workspace, so no tap needs a bounds check. With AVX2
 * and FMA (checked at run time; otherwise oneDNN runs the op):
 *   forward: eight output channels x eight voxels per step, each tap a
 *     broadcast weight times the shifted input row;
 *   weight gradient: per output channel and kernel plane, nine vector sums of
 *     gy x shifted input over the item, and the sum of gy for the bias,
 *     reduced to double per item.
 * The items' partial gradients are added in item order, so the gradients do
 * not depend on the thread count. The input gradient (a first layer never
 * needs one) is not covered: such a backward call goes to oneDNN. */
#include "cpu_fast.h"

#include "../error.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { BH = 64, GRP = 8 };

static long g_c1_calls;
static int g_c1_on = 1;

long ss_cpu_conv_c1_calls(void) { return __atomic_load_n(&g_c1_calls, __ATOMIC_RELAXED); }

void ss_cpu_conv_set_c1(int on) { __atomic_store_n(&g_c1_on, on ? 1 : 0, __ATOMIC_RELAXED); }

int ss_cpu_conv_c1_available(void)
{
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return have;
}

typedef struct c1geo {
    int N, Co, D, H, W, kd; /* kd: 3 (3-D) or 1 (2-D) */
    int taps;               /* kd * 9 */
    int nb;                 /* row blocks per plane */
    int items;              /* N * D * nb */
    int Wp;                 /* slab row length */
    size_t wt_bytes, slab_bytes;
} c1geo;

static int c1_geo(const ss_op_args *a, c1geo *g)
{
    if (a->kind != SS_OP_CONV || a->n_in < 2 || !__atomic_load_n(&g_c1_on, __ATOMIC_RELAXED) ||
        !ss_cpu_conv_c1_available())
        return 0;
    const ss_shape *x = &a->xs[0], *w = &a->xs[1];
    if (x->d[1] != 1 || w->d[1] != 1 || w->d[3] != 3 || w->d[4] != 3)
        return 0;
    for (int j = 0; j < 3; j++)
        if (a->ip[j] != 1)
            return 0;
    int kd = w->d[2];
    if (!((kd == 3 && a->ip[3] == 1) || (kd == 1 && a->ip[3] == 0)) || a->ip[4] != 1 ||
        a->ip[5] != 1)
        return 0;
    memset(g, 0, sizeof *g);
    g->N = x->d[0];
    g->Co = w->d[0];
    g->D = x->d[2];
    g->H = x->d[3];
    g->W = x->d[4];
    g->kd = kd;
    g->taps = kd * 9;
    g->nb = (g->H + BH - 1) / BH;
    g->items = g->N * g->D * g->nb;
    g->Wp = ((g->W + 7) & ~7) + 8 + 2;
    int groups = (g->Co + GRP - 1) / GRP;
    g->wt_bytes = ss_cpu_al64((size_t)groups * g->taps * GRP * sizeof(float));
    g->slab_bytes = ss_cpu_al64((size_t)kd * (BH + 2) * g->Wp * sizeof(float));
    return g->N > 0 && g->Co > 0 && g->D > 0 && g->H > 0 && g->W > 0;
}

int ss_cpu_conv_c1_match(const ss_op_args *a)
{
    c1geo g;
    return c1_geo(a, &g);
}

static size_t parts_bytes(const c1geo *g)
{
    return ss_cpu_al64((size_t)g->items * g->Co * (g->taps + 1) * sizeof(double));
}

size_t ss_cpu_conv_c1_ws(const ss_op_args *a, int bwd)
{
    c1geo g;
    if (!c1_geo(a, &g))
        return 0;
    int p = omp_get_max_threads();
    size_t fixed = bwd ? parts_bytes(&g) : g.wt_bytes;
    return fixed + (size_t)(p < 1 ? 1 : p) * g.slab_bytes;
}

/* threads the workspace holds slabs for (0: none) */
static int n_threads(const c1geo *g, const ss_op_args *a, size_t fixed)
{
    if (!a->ws || a->ws_size < fixed + g->slab_bytes)
        return 0;
    size_t fit = (a->ws_size - fixed) / g->slab_bytes;
    int p = omp_get_max_threads();
    if ((size_t)p > fit)
        p = (int)fit;
    if (p > g->items)
        p = g->items;
    return p < 1 ? 1 : p;
}

/* The input rows item (n, d, h0 .. h0 + rows - 1) reads, zero-padded. */
static void fill_slab(const c1geo *g, const float *x, int n, int d, int h0, int rows, float *slab)
{
    const int R = rows + 2, Wp = g->Wp, pd = g->kd / 2;
    memset(slab, 0, (size_t)g->kd * R * Wp * sizeof(float));
    for (int p = 0; p < g->kd; p++) {
        int di = d + p - pd;
        if (di < 0 || di >= g->D)
            continue;
        for (int r = 0; r < R; r++) {
            int hi = h0 + r - 1;
            if (hi < 0 || hi >= g->H)
                continue;
            memcpy(slab + ((size_t)p * R + r) * Wp + 1,
                   x + (((int64_t)n * g->D + di) * g->H + hi) * g->W, (size_t)g->W * sizeof(float));
        }
    }
}

static void item_rows(const c1geo *g, int it, int *n, int *d, int *h0, int *rows)
{
    int b = it % g->nb, pl = it / g->nb;
    *d = pl % g->D;
    *n = pl / g->D;
    *h0 = b * BH;
    *rows = g->H - *h0 < BH ? g->H - *h0 : BH;
}

static __attribute__((target("avx2,fma"))) __m256i tail_mask(int left)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define FMA8(xv, wp)                                                                               \
    do {                                                                                           \
        a0 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss((wp) + 0), a0);                               \
        a1 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss((wp) + 1), a1);                               \
        a2 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss((wp) + 2), a2);                               \
        a3 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss((wp) + 3), a3);                               \
        a4 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss((wp) + 4), a4);                               \
        a5 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss((wp) + 5), a5);                               \
        a6 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss((wp) + 6), a6);                               \
        a7 = _mm256_fmadd_ps(xv, _mm256_broadcast_ss((wp) + 7), a7);                               \
    } while (0)

/* One output row h of item (n, d, h0): every channel group, every voxel. wt:
 * weights as [group][tap][8 channels] (0 past Co); bias per channel or NULL. */
static __attribute__((target("avx2,fma"))) void fwd_row(const c1geo *g, const float *slab,
                                                         int rows, int h, const float *wt,
                                                         const float *bias, float *yrow)
{
    const int R = rows + 2, Wp = g->Wp, taps = g->taps;
    const int64_t cs = (int64_t)g->D * g->H * g->W; /* channel stride of y */
    for (int c0 = 0; c0 < g->Co; c0 += GRP) {
        const float *wg = wt + (size_t)(c0 / GRP) * taps * GRP;
        const int cg = g->Co - c0 < GRP ? g->Co - c0 : GRP;
        float bv[GRP] = {0};
        for (int c = 0; c < cg && bias; c++)
            bv[c] = bias[c0 + c];
        for (int w0 = 0; w0 < g->W; w0 += 8) {
            __m256 a0 = _mm256_set1_ps(bv[0]), a1 = _mm256_set1_ps(bv[1]),
                   a2 = _mm256_set1_ps(bv[2]), a3 = _mm256_set1_ps(bv[3]),
                   a4 = _mm256_set1_ps(bv[4]), a5 = _mm256_set1_ps(bv[5]),
                   a6 = _mm256_set1_ps(bv[6]), a7 = _mm256_set1_ps(bv[7]);
            for (int p = 0; p < g->kd; p++)
                for (int r = 0; r < 3; r++) {
                    const float *xr = slab + ((size_t)p * R + h + r) * Wp + w0;
                    const float *wp = wg + (size_t)((p * 3 + r) * 3) * GRP;
                    __m256 x0 = _mm256_loadu_ps(xr), x1 = _mm256_loadu_ps(xr + 1),
                           x2 = _mm256_loadu_ps(xr + 2);
                    FMA8(x0, wp);
                    FMA8(x1, wp + GRP);
                    FMA8(x2, wp + 2 * GRP);
                }
            __m256 acc[GRP] = {a0, a1, a2, a3, a4, a5, a6, a7};
            float *yp = yrow + (int64_t)c0 * cs + w0;
            if (w0 + 8 <= g->W) {
                for (int c = 0; c < cg; c++)
                    _mm256_storeu_ps(yp + c * cs, acc[c]);
            } else {
                __m256i m = tail_mask(g->W - w0);
                for (int c = 0; c < cg; c++)
                    _mm256_maskstore_ps(yp + c * cs, m, acc[c]);
            }
        }
    }
}

static inline __attribute__((target("avx2,fma"))) double hsum(__m256 v)
{
    float l[8];
    _mm256_storeu_ps(l, v);
    double s = 0;
    for (int i = 0; i < 8; i++)
        s += l[i];
    return s;
}

/* Weight and bias gradient partials of one item into part[co][taps + 1]. */
static __attribute__((target("avx2,fma"))) void bwd_item(const c1geo *g, const float *slab,
                                                          int rows, const float *gy, int n, int d,
                                                          int h0, double *part)
{
    const int R = rows + 2, Wp = g->Wp;
    const __m256i m = tail_mask(g->W % 8 ? g->W % 8 : 8);
    const int64_t cs = (int64_t)g->D * g->H * g->W; /* channel stride of gy */
    const int64_t span = (int64_t)rows * g->W;      /* the item's gy floats per channel */
    for (int co = 0; co < g->Co; co++) {
        const float *gp = gy + (((int64_t)n * g->Co + co) * g->D + d) * g->H * g->W;
        double *pc = part + (size_t)co * (g->taps + 1);
        /* the next channel's rows are a separate stream: ask for them now */
        if (co + 1 < g->Co)
            for (int64_t e = 0; e < span; e += 16)
                _mm_prefetch((const char *)(gp + cs + (int64_t)h0 * g->W + e), _MM_HINT_T0);
        for (int p = 0; p < g->kd; p++) {
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0,
                   s7 = s0, s8 = s0;
            for (int h = 0; h < rows; h++) {
                const float *gr = gp + (int64_t)(h0 + h) * g->W;
                const float *x0 = slab + ((size_t)p * R + h) * Wp, *x1 = x0 + Wp, *x2 = x1 + Wp;
                int w0 = 0;
                __m256 gv;
#define TAPS9                                                                                      \
    do {                                                                                           \
        s0 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x0 + w0), s0);                                    \
        s1 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x0 + w0 + 1), s1);                                \
        s2 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x0 + w0 + 2), s2);                                \
        s3 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x1 + w0), s3);                                    \
        s4 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x1 + w0 + 1), s4);                                \
        s5 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x1 + w0 + 2), s5);                                \
        s6 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x2 + w0), s6);                                    \
        s7 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x2 + w0 + 1), s7);                                \
        s8 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x2 + w0 + 2), s8);                                \
    } while (0)
                for (; w0 + 8 <= g->W; w0 += 8) {
                    gv = _mm256_loadu_ps(gr + w0);
                    TAPS9;
                }
                if (w0 < g->W) {
                    gv = _mm256_maskload_ps(gr + w0, m);
                    TAPS9;
                }
#undef TAPS9
            }
            pc[p * 9 + 0] = hsum(s0);
            pc[p * 9 + 1] = hsum(s1);
            pc[p * 9 + 2] = hsum(s2);
            pc[p * 9 + 3] = hsum(s3);
            pc[p * 9 + 4] = hsum(s4);
            pc[p * 9 + 5] = hsum(s5);
            pc[p * 9 + 6] = hsum(s6);
            pc[p * 9 + 7] = hsum(s7);
            pc[p * 9 + 8] = hsum(s8);
        }
        /* bias: the sum of gy (a loop of its own: one more accumulator in
         * the loop above spilled to the stack and bound it by the store ->
         * load latency) */
        __m256 b0 = _mm256_setzero_ps(), b1 = b0;
        for (int h = 0; h < rows; h++) {
            const float *gr = gp + (int64_t)(h0 + h) * g->W;
            int w0 = 0;
            for (; w0 + 16 <= g->W; w0 += 16) {
                b0 = _mm256_add_ps(b0, _mm256_loadu_ps(gr + w0));
                b1 = _mm256_add_ps(b1, _mm256_loadu_ps(gr + w0 + 8));
            }
            for (; w0 < g->W; w0 += 8)
                b0 = _mm256_add_ps(b0, w0 + 8 <= g->W ? _mm256_loadu_ps(gr + w0)
                                                      : _mm256_maskload_ps(gr + w0, m));
        }
        pc[g->taps] = hsum(b0) + hsum(b1);
    }
}

int ss_cpu_conv_c1_fwd(const ss_op_args *a)
{
    c1geo g;
    if (!c1_geo(a, &g))
        return 1;
    const int P = n_threads(&g, a, g.wt_bytes);
    if (!P)
        return 1;
    __atomic_add_fetch(&g_c1_calls, 1, __ATOMIC_RELAXED);
    float *wt = a->ws;
    const float *w = a->x[1], *bias = a->n_in == 3 ? a->x[2] : NULL;
    const int groups = (g.Co + GRP - 1) / GRP;
    for (int gr = 0; gr < groups; gr++)
        for (int t = 0; t < g.taps; t++)
            for (int c = 0; c < GRP; c++) {
                int co = gr * GRP + c;
                wt[((size_t)gr * g.taps + t) * GRP + c] = co < g.Co ? w[(size_t)co * g.taps + t] : 0.f;
            }
    const float *x = a->x[0];
    float *y = a->y[0];
#pragma omp parallel num_threads(P)
    {
        float *slab = (float *)((char *)a->ws + g.wt_bytes + (size_t)omp_get_thread_num() * g.slab_bytes);
#pragma omp for schedule(static)
        for (int it = 0; it < g.items; it++) {
            int n, d, h0, rows;
            item_rows(&g, it, &n, &d, &h0, &rows);
            fill_slab(&g, x, n, d, h0, rows, slab);
            for (int h = 0; h < rows; h++)
                fwd_row(&g, slab, rows, h, wt, bias,
                        y + (((int64_t)n * g.Co * g.D + d) * g.H + h0 + h) * g.W);
        }
    }
    return 0;
}

int ss_cpu_conv_c1_bwd(const ss_op_args *a)
{
    c1geo g;
    float *gw = a->gx[1], *gb = a->n_in == 3 ? a->gx[2] : NULL;
    if (!a->gy[0] || a->gx[0] || !(gw || gb) || !c1_geo(a, &g))
        return 1;
    const size_t pb = parts_bytes(&g);
    const int P = n_threads(&g, a, pb);
    if (!P)
        return 1;
    __atomic_add_fetch(&g_c1_calls, 1, __ATOMIC_RELAXED);
    double *parts = a->ws;
    const size_t per = (size_t)g.Co * (g.taps + 1);
    const float *x = a->x[0], *gy = a->gy[0];
#pragma omp parallel num_threads(P)
    {
        float *slab = (float *)((char *)a->ws + pb + (size_t)omp_get_thread_num() * g.slab_bytes);
#pragma omp for schedule(static)
        for (int it = 0; it < g.items; it++) {
            int n, d, h0, rows;
            item_rows(&g, it, &n, &d, &h0, &rows);
            fill_slab(&g, x, n, d, h0, rows, slab);
            bwd_item(&g, slab, rows, gy, n, d, h0, parts + (size_t)it * per);
        }
        /* implicit barrier: every item's partials are in */
#pragma omp for schedule(static)
        for (size_t e = 0; e < per; e++) {
            double s = 0;
            for (int it = 0; it < g.items; it++)
                s += parts[(size_t)it * per + e];
            size_t co = e / (g.taps + 1), t = e % (g.taps + 1);
            if (t < (size_t)g.taps) {
                if (gw)
                    gw[co * g.taps + t] = (float)s;
            } else if (gb) {
                gb[co] = (float)s;
            }
        }
    }
    return 0;
}
