/* CONV and DECONV whose kernel equals the stride (pad 0, no output padding):
 * V-Net's down-sampling convolutions and up-sampling transposed convolutions
 * (k 2x2x2 / s 2x2x2, 2-D k 1x2x2 / s 1x2x2). Such an op never overlaps two
 * kernel windows, so in the plain NCDHW layout it is a GEMM on a
 * "space-to-depth" view of the full-resolution tensor.
 *
 * Naming: the "lo" tensor is the coarse grid (deconv input / conv output) with
 * Clo channels and Slo voxels per item; the "hi" tensor is the fine grid
 * (deconv output / conv input) with Chi channels. With K = kD*kH*kW and
 * R = Chi*K, both weight layouts are one row-major matrix W[Clo, R]:
 * deconv (Ci, Co, k...) = [Clo, Chi*K], conv (Co, Ci, k...) = [Clo, Chi*K].
 * B8[R, Slo] is the hi tensor with each kernel window's K voxels moved to rows
 * (row ch*K + kidx, column = the window's lo voxel). Then
 *   up   (deconv fwd, conv bwd-data):  B8 = W^T x LO, scatter B8 into HI (+bias)
 *   down (conv fwd, deconv bwd-data):  gather HI into B8, LO = W x B8 (+bias)
 *   weights (both bwd-weights):        gW += LO x B8^T (B8 gathered from HI)
 * where LO / HI are x / y, gy / gx as the direction needs.
 *
 * The lo voxels of each item are cut into tiles of T columns; an OpenMP loop
 * over all tiles gathers / scatters a tile through a per-thread B8 buffer of
 * R x T floats (~512 KiB, stays in L2) and runs a single-threaded dnnl_sgemm
 * on it, so B8 is never written out at full size (one whole-tensor GEMM plus
 * a separate gather / scatter pass would move the full-resolution tensor
 * through memory twice more). dnnl_sgemm rather than OpenBLAS: on these
 * shapes it ran at ~90-115 GFLOP/s on one AVX-512 core against ~55-95 for
 * OpenBLAS 0.3 (measured when this was written). Weight and bias gradients
 * sum per-thread partials (static schedule: bit-identical from run to run at
 * a given thread count; the forward and input gradients do not depend on the
 * thread count at all); the deconv bias gradient comes from the gathered gy
 * tiles, the conv one from the gy tiles the weight-gradient GEMM reads, so
 * neither costs a pass of its own. A conv whose input is not a multiple of the
 * kernel leaves the last rows unread: its input gradient is 0 there. Buffers
 * live in the op's workspace: threads x (B8 tile [+ weight-gradient partial]
 * [+ bias partial]); with a workspace planned for fewer threads the passes
 * use fewer. */
#include "cpu_fast.h"

#include "../error.h"

#include <dnnl.h>
#include <emmintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static long g_s2_calls;
static int g_s2_on = -1;

long ss_cpu_conv_s2_calls(void) { return __atomic_load_n(&g_s2_calls, __ATOMIC_RELAXED); }

void ss_cpu_conv_set_s2(int on) { __atomic_store_n(&g_s2_on, on ? 1 : 0, __ATOMIC_RELAXED); }

static int s2_enabled(void) { return ss_cpu_path_on(&g_s2_on, "SEMISEG_CONV_S2"); }

typedef struct s2geo {
    int deconv, N, Clo, Chi, K, R;
    int k[3];
    int lo[3], hi[3]; /* spatial dims of the lo and hi tensors */
    int64_t Slo, Shi;
    int T;            /* tile columns (buffer row stride) */
    int tiles;        /* tiles per item */
    int tail;         /* conv: the hi tensor has voxels no window reads */
} s2geo;


/* 1 when the op is a kernel == stride, pad 0 (no output padding) CONV / DECONV. */
static int s2_geo(const ss_op_args *a, s2geo *g)
{
    if ((a->kind != SS_OP_CONV && a->kind != SS_OP_DECONV) || a->n_in < 2 || !s2_enabled())
        return 0;
    int deconv = a->kind == SS_OP_DECONV;
    const ss_shape *x = &a->xs[0], *w = &a->xs[1], *y = &a->ys[0];
    int big = 0;
    for (int j = 0; j < 3; j++) {
        int k = w->d[2 + j];
        if (k < 1 || a->ip[j] != k || a->ip[3 + j] != 0 || (deconv && a->ip[6 + j] != 0))
            return 0;
        big |= k > 1;
    }
    if (!big)
        return 0; /* 1x1x1: the pointwise path */
    memset(g, 0, sizeof *g);
    for (int j = 0; j < 3; j++)
        g->k[j] = w->d[2 + j];
    g->deconv = deconv;
    g->N = x->d[0];
    const ss_shape *lo = deconv ? x : y, *hi = deconv ? y : x;
    g->Clo = lo->d[1];
    g->Chi = hi->d[1];
    g->K = g->k[0] * g->k[1] * g->k[2];
    g->R = g->Chi * g->K;
    for (int j = 0; j < 3; j++) {
        g->lo[j] = lo->d[2 + j];
        g->hi[j] = hi->d[2 + j];
        if ((int64_t)g->lo[j] * g->k[j] > g->hi[j])
            return 0;
        if ((int64_t)g->lo[j] * g->k[j] != g->hi[j]) {
            if (deconv)
                return 0;
            g->tail = 1;
        }
    }
    g->Slo = ss_spatial(lo);
    g->Shi = ss_spatial(hi);
    if (g->N < 1 || g->Slo < 1 || g->Clo < 1 || g->Chi < 1)
        return 0;
    /* tile: a B8 buffer of about 512 KiB, at least 128 columns ... */
    int64_t T = 131072 / g->R;
    if (T < 128)
        T = 128;
    if (T > 4096)
        T = 4096;
    /* ... but at least 8 tiles in all when the op is big enough, so that the
     * threads share the work (independent of the thread count: results do
     * not depend on it except for the weight-gradient sum) */
    int64_t per = (g->Slo + T - 1) / T;
    if ((int64_t)g->N * per < 8) {
        int64_t want = (8 + g->N - 1) / g->N, most = (g->Slo + 63) / 64;
        per = want < most ? want : most;
        if (per < 1)
            per = 1;
        T = (g->Slo + per - 1) / per;
    }
    if (T > g->Slo)
        T = g->Slo;
    T = (T + 15) & ~(int64_t)15;
    g->T = (int)T;
    g->tiles = (int)((g->Slo + T - 1) / T);
    return 1;
}

int ss_cpu_conv_s2_match(const ss_op_args *a)
{
    s2geo g;
    return s2_geo(a, &g);
}

/* Per-thread buffer: the B8 tile, then (weight gradient) the partial gW,
 * then (bias gradient) partial channel sums in double. */
typedef struct lay {
    size_t b8, gw, gb, cs, total;
} lay;

static lay layout(const s2geo *g, int wgrad, int bgrad)
{
    lay l;
    l.b8 = 0;
    l.gw = ss_cpu_al64((size_t)g->R * g->T * sizeof(float));
    l.gb = l.gw + (wgrad ? ss_cpu_al64((size_t)g->Clo * g->R * sizeof(float)) : 0);
    int cb = g->deconv ? g->Chi : g->Clo;
    l.cs = l.gb + (bgrad ? ss_cpu_al64((size_t)cb * sizeof(double)) : 0);
    /* deconv bias gradient from a transposed tile: R column sums (double and
     * float) */
    int cs = bgrad && wgrad && g->deconv;
    l.total = l.cs + (cs ? ss_cpu_al64((size_t)g->R * (sizeof(double) + sizeof(float))) : 0);
    return l;
}

size_t ss_cpu_conv_s2_ws(const ss_op_args *a, int bwd)
{
    s2geo g;
    if (!s2_geo(a, &g))
        return 0;
    int p = omp_get_max_threads();
    return (size_t)(p < 1 ? 1 : p) * layout(&g, bwd, bwd && a->n_in == 3).total;
}

/* threads to use: what the workspace holds, at most one per tile; 0 = none fit */
static int n_threads(const s2geo *g, const ss_op_args *a, size_t pt)
{
    if (!a->ws || a->ws_size < pt)
        return 0;
    size_t fit = a->ws_size / pt;
    int p = omp_get_max_threads();
    int64_t nt = (int64_t)g->N * g->tiles;
    if ((size_t)p > fit)
        p = (int)fit;
    if (p > nt)
        p = (int)nt;
    return p < 1 ? 1 : p;
}

/* sum of len floats: 16 float lanes, then double */
static double row_sum(const float *p, int len)
{
    float l[16] = {0};
    int j = 0;
    for (; j + 16 <= len; j += 16)
        for (int k = 0; k < 16; k++)
            l[k] += p[j + k];
    double b = 0;
    for (; j < len; j++)
        b += p[j];
    for (int k = 0; k < 16; k++)
        b += l[k];
    return b;
}

/* ---- gather / scatter of one tile ------------------------------------------
 * Columns [c0, c0 + n) of the lo grid of one item; hi points at the item's
 * hi tensor (Chi planes of Shi). The tile is cut into runs along W; for each
 * (channel, kernel depth offset) the runs are visited in order, so the hi
 * tensor is streamed row after row (a few streams at a time: a loop order
 * that jumped between all the channels' rows for each run was bound by
 * memory latency). */

typedef struct run_it {
    int dl, hl, wl0, len, t0;
    int64_t left;
} run_it;

static void run_start(const s2geo *g, int64_t c0, int n, run_it *r)
{
    r->wl0 = (int)(c0 % g->lo[2]);
    int64_t q = c0 / g->lo[2];
    r->hl = (int)(q % g->lo[1]);
    r->dl = (int)(q / g->lo[1]);
    r->t0 = 0;
    r->left = n;
    r->len = g->lo[2] - r->wl0;
    if (r->len > r->left)
        r->len = (int)r->left;
}

static int run_next(const s2geo *g, run_it *r)
{
    r->t0 += r->len;
    r->left -= r->len;
    if (r->left <= 0)
        return 0;
    r->wl0 = 0;
    if (++r->hl == g->lo[1]) {
        r->hl = 0;
        r->dl++;
    }
    r->len = g->lo[2] < r->left ? g->lo[2] : (int)r->left;
    return 1;
}

/* The tile with row r = ch * K + kidx, column t at b[r * rs + t * cs]: rs = T,
 * cs = 1 for B8, rs = 1, cs = R for the transposed tile. Always inlined with
 * constant strides, so each layout gets its own loops. */
static inline __attribute__((always_inline)) void tile_gather_strided(const s2geo *g,
                                                                      const float *hi, int64_t c0,
                                                                      int n, float *b, int64_t rs,
                                                                      int64_t cs)
{
    const int kD = g->k[0], kH = g->k[1], kW = g->k[2], K = g->K;
    const int H1 = g->hi[1], H2 = g->hi[2];
    for (int ch = 0; ch < g->Chi; ch++)
        for (int ka = 0; ka < kD; ka++) {
            const float *plane = hi + (int64_t)ch * g->Shi;
            run_it r;
            run_start(g, c0, n, &r);
            do {
                const int len = r.len;
                for (int kb = 0; kb < kH; kb++) {
                    const float *s = plane + ((int64_t)(r.dl * kD + ka) * H1 + r.hl * kH + kb) * H2 +
                                     (int64_t)r.wl0 * kW;
                    float *d = b + (int64_t)(ch * K + (ka * kH + kb) * kW) * rs + r.t0 * cs;
                    if (kW == 2) {
                        float *d1 = d + rs;
#pragma omp simd
                        for (int i = 0; i < len; i++) {
                            d[i * cs] = s[2 * i];
                            d1[i * cs] = s[2 * i + 1];
                        }
                    } else {
                        for (int kc = 0; kc < kW; kc++)
                            for (int i = 0; i < len; i++)
                                d[kc * rs + i * cs] = s[i * kW + kc];
                    }
                }
            } while (run_next(g, &r));
        }
}

static void tile_gather(const s2geo *g, const float *hi, int64_t c0, int n, float *b8)
{
    tile_gather_strided(g, hi, c0, n, b8, g->T, 1);
}

/* The same tile transposed: b8t[t * R + r] (one row of R values per lo voxel),
 * so that the weight-gradient GEMM reads both operands along their rows. */
static void tile_gather_t(const s2geo *g, const float *hi, int64_t c0, int n, float *b8t)
{
    const int kD = g->k[0], kH = g->k[1], kW = g->k[2], R = g->R;
    const int H1 = g->hi[1], H2 = g->hi[2];
    if (kD == 2 && kH == 2 && kW == 2) {
        /* a voxel's 8 values of one channel are the pairs of its window's 4
         * rows: two neighbouring windows at a time, pairs moved as doubles */
        for (int ch = 0; ch < g->Chi; ch++) {
            const float *plane = hi + (int64_t)ch * g->Shi;
            run_it r;
            run_start(g, c0, n, &r);
            do {
                const float *s0 = plane + ((int64_t)(r.dl * 2) * H1 + r.hl * 2) * H2 + (int64_t)r.wl0 * 2;
                const float *s1 = s0 + H2, *s2 = s0 + (int64_t)H1 * H2, *s3 = s2 + H2;
                float *d = b8t + (int64_t)r.t0 * R + ch * 8;
                int i = 0;
                for (; i + 2 <= r.len; i += 2) {
                    __m128d a = _mm_castps_pd(_mm_loadu_ps(s0 + 2 * i));
                    __m128d b = _mm_castps_pd(_mm_loadu_ps(s1 + 2 * i));
                    __m128d c = _mm_castps_pd(_mm_loadu_ps(s2 + 2 * i));
                    __m128d e = _mm_castps_pd(_mm_loadu_ps(s3 + 2 * i));
                    float *d0 = d + (int64_t)i * R, *d1 = d0 + R;
                    _mm_storeu_pd((double *)d0, _mm_unpacklo_pd(a, b));
                    _mm_storeu_pd((double *)(d0 + 4), _mm_unpacklo_pd(c, e));
                    _mm_storeu_pd((double *)d1, _mm_unpackhi_pd(a, b));
                    _mm_storeu_pd((double *)(d1 + 4), _mm_unpackhi_pd(c, e));
                }
                for (; i < r.len; i++) {
                    float *d0 = d + (int64_t)i * R;
                    d0[0] = s0[2 * i], d0[1] = s0[2 * i + 1], d0[2] = s1[2 * i], d0[3] = s1[2 * i + 1];
                    d0[4] = s2[2 * i], d0[5] = s2[2 * i + 1], d0[6] = s3[2 * i], d0[7] = s3[2 * i + 1];
                }
            } while (run_next(g, &r));
        }
        return;
    }
    tile_gather_strided(g, hi, c0, n, b8t, 1, R);
}

/* dsum[r] += the sum over the n rows of b8t of column r: float partial sums
 * over 64 rows at a time (fsum, R floats), then double */
static void col_sums(const float *b8t, int n, int R, float *fsum, double *dsum)
{
    for (int t0 = 0; t0 < n; t0 += 64) {
        int t1 = t0 + 64 < n ? t0 + 64 : n;
        for (int r = 0; r < R; r++)
            fsum[r] = 0.f;
        for (int t = t0; t < t1; t++) {
            const float *row = b8t + (int64_t)t * R;
#pragma omp simd
            for (int r = 0; r < R; r++)
                fsum[r] += row[r];
        }
        for (int r = 0; r < R; r++)
            dsum[r] += fsum[r];
    }
}

/* hi[window voxels] = b8 (+ bias[ch] when bias) */
static void tile_scatter(const s2geo *g, const float *b8, const float *bias, int64_t c0, int n,
                         float *hi)
{
    const int kD = g->k[0], kH = g->k[1], kW = g->k[2], K = g->K, T = g->T;
    const int H1 = g->hi[1], H2 = g->hi[2];
    for (int ch = 0; ch < g->Chi; ch++)
        for (int ka = 0; ka < kD; ka++) {
            const float bv = bias ? bias[ch] : 0.f;
            float *plane = hi + (int64_t)ch * g->Shi;
            const float *rows = b8 + (int64_t)(ch * K + ka * kH * kW) * T;
            run_it r;
            run_start(g, c0, n, &r);
            do {
                const int len = r.len;
                for (int kb = 0; kb < kH; kb++) {
                    float *d = plane + ((int64_t)(r.dl * kD + ka) * H1 + r.hl * kH + kb) * H2 +
                               (int64_t)r.wl0 * kW;
                    const float *s = rows + (int64_t)kb * kW * T + r.t0;
                    if (kW == 2) {
                        const float *s1 = s + T;
#pragma omp simd
                        for (int i = 0; i < len; i++) {
                            d[2 * i] = s[i] + bv;
                            d[2 * i + 1] = s1[i] + bv;
                        }
                    } else {
                        for (int kc = 0; kc < kW; kc++)
                            for (int i = 0; i < len; i++)
                                d[i * kW + kc] = s[(int64_t)kc * T + i] + bv;
                    }
                }
            } while (run_next(g, &r));
        }
}

/* conv input gradient: 0 on the hi voxels no window reads */
static void zero_tail(const s2geo *g, float *hi)
{
    const int H0 = g->hi[0], H1 = g->hi[1], H2 = g->hi[2];
    const int D0 = g->lo[0] * g->k[0], D1 = g->lo[1] * g->k[1], D2 = g->lo[2] * g->k[2];
    const int64_t planes = (int64_t)g->N * g->Chi * H0;
#pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        int d = (int)(q % H0);
        float *pl = hi + q * H1 * H2;
        if (d >= D0) {
            memset(pl, 0, (size_t)H1 * H2 * sizeof(float));
            continue;
        }
        for (int h = 0; h < H1; h++) {
            if (h >= D1)
                memset(pl + (int64_t)h * H2, 0, (size_t)H2 * sizeof(float));
            else if (D2 < H2)
                memset(pl + (int64_t)h * H2 + D2, 0, (size_t)(H2 - D2) * sizeof(float));
        }
    }
}

/* conv bias gradient without a weight-gradient pass to ride on */
static void bias_grad(const float *gy, int N, int C, int64_t S, float *db)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double acc = 0;
        for (int n = 0; n < N; n++) {
            const float *p = gy + ((int64_t)n * C + c) * S;
            for (int64_t j = 0; j < S; j += 4096)
                acc += row_sum(p + j, (int)(S - j < 4096 ? S - j : 4096));
        }
        db[c] = (float)acc;
    }
}

/* ---- the three passes ---------------------------------------------------- */

/* hi = scatter(W^T x lo) (+bias) */
static int pass_up(const s2geo *g, const ss_op_args *a, const float *w, const float *lo,
                   const float *bias, float *hi)
{
    const int64_t nt = (int64_t)g->N * g->tiles;
    const size_t pt = layout(g, 0, 0).total;
    const int P = n_threads(g, a, pt);
    if (!P)
        return -1;
    int err = 0;
#pragma omp parallel num_threads(P)
    {
        float *b8 = (float *)((char *)a->ws + (size_t)omp_get_thread_num() * pt);
#pragma omp for schedule(static)
        for (int64_t t = 0; t < nt; t++) {
            int n = (int)(t / g->tiles);
            int64_t c0 = (t % g->tiles) * (int64_t)g->T;
            int len = (int)(g->Slo - c0 < g->T ? g->Slo - c0 : g->T);
            dnnl_status_t st = dnnl_sgemm('T', 'N', g->R, len, g->Clo, 1.f, w, g->R,
                                          lo + (int64_t)n * g->Clo * g->Slo + c0, g->Slo, 0.f, b8,
                                          g->T);
            if (st != dnnl_success) {
#pragma omp atomic write
                err = (int)st;
                continue;
            }
            tile_scatter(g, b8, bias, c0, len, hi + (int64_t)n * g->Chi * g->Shi);
        }
    }
    return err;
}

/* lo_out = W x gather(hi) (+bias) when lo_out; gw += lo_in x gather(hi)^T when
 * gw; gb = the bias gradient when gb (deconv: sums of the gathered hi = gy,
 * conv: sums of lo_in = gy). With gw the tile is gathered transposed (voxels
 * as rows): the weight-gradient GEMM is then row by row on both operands
 * (dnnl_sgemm N,N: ~110 GFLOP/s on one core for 32x128x1024, against ~55 for
 * the N,T form on the plain tile), and the lo_out GEMM reads it as B^T. */
static int pass_down(const s2geo *g, const ss_op_args *a, const float *w, const float *hi,
                     const float *bias, float *lo_out, const float *lo_in, float *gw, float *gb)
{
    const int64_t nt = (int64_t)g->N * g->tiles;
    const lay l = layout(g, gw != NULL, gb != NULL);
    const size_t pt = l.total;
    const int P = n_threads(g, a, pt);
    if (!P)
        return -1;
    const size_t wn = (size_t)g->Clo * g->R;
    const int cb = g->deconv ? g->Chi : g->Clo;
    int err = 0, used = 1;
#pragma omp parallel num_threads(P)
    {
        int tid = omp_get_thread_num();
        char *mine = (char *)a->ws + (size_t)tid * pt;
        float *b8 = (float *)(mine + l.b8), *part = (float *)(mine + l.gw);
        double *bpart = (double *)(mine + l.gb);
        double *csum = (double *)(mine + l.cs);
        float *fsum = (float *)(csum + g->R);
        if (tid == 0)
            used = omp_get_num_threads();
        if (gw)
            memset(part, 0, wn * sizeof(float));
        if (gb)
            for (int c = 0; c < cb; c++)
                bpart[c] = 0;
        if (gb && gw && g->deconv)
            for (int r = 0; r < g->R; r++)
                csum[r] = 0;
#pragma omp for schedule(static)
        for (int64_t t = 0; t < nt; t++) {
            int n = (int)(t / g->tiles);
            int64_t c0 = (t % g->tiles) * (int64_t)g->T;
            int len = (int)(g->Slo - c0 < g->T ? g->Slo - c0 : g->T);
            int64_t off = (int64_t)n * g->Clo * g->Slo + c0;
            if (gw)
                tile_gather_t(g, hi + (int64_t)n * g->Chi * g->Shi, c0, len, b8);
            else
                tile_gather(g, hi + (int64_t)n * g->Chi * g->Shi, c0, len, b8);
            dnnl_status_t st = dnnl_success;
            if (lo_out) {
                st = gw ? dnnl_sgemm('N', 'T', g->Clo, len, g->R, 1.f, w, g->R, b8, g->R, 0.f,
                                     lo_out + off, g->Slo)
                        : dnnl_sgemm('N', 'N', g->Clo, len, g->R, 1.f, w, g->R, b8, g->T, 0.f,
                                     lo_out + off, g->Slo);
                if (st == dnnl_success && bias)
                    for (int c = 0; c < g->Clo; c++) {
                        float *yp = lo_out + off + (int64_t)c * g->Slo;
                        const float bv = bias[c];
#pragma omp simd
                        for (int i = 0; i < len; i++)
                            yp[i] += bv;
                    }
            }
            if (st == dnnl_success && gw)
                st = dnnl_sgemm('N', 'N', g->Clo, g->R, len, 1.f, lo_in + off, g->Slo, b8, g->R,
                                1.f, part, g->R);
            if (gb && g->deconv && gw)
                col_sums(b8, len, g->R, fsum, csum);
            else if (gb && g->deconv)
                for (int r = 0; r < g->R; r++)
                    bpart[r / g->K] += row_sum(b8 + (int64_t)r * g->T, len);
            else if (gb)
                for (int c = 0; c < g->Clo; c++)
                    bpart[c] += row_sum(lo_in + off + (int64_t)c * g->Slo, len);
            if (st != dnnl_success) {
#pragma omp atomic write
                err = (int)st;
            }
        }
        if (gb && gw && g->deconv)
            for (int r = 0; r < g->R; r++)
                bpart[r / g->K] += csum[r];
#pragma omp barrier
        /* every partial is complete */
        if (gw) {
#pragma omp for schedule(static) nowait
            for (size_t i = 0; i < wn; i++) {
                float s = 0.f;
                for (int q = 0; q < used; q++)
                    s += ((const float *)((const char *)a->ws + (size_t)q * pt + l.gw))[i];
                gw[i] = s;
            }
        }
        if (gb) {
#pragma omp for schedule(static)
            for (int c = 0; c < cb; c++) {
                double s = 0;
                for (int q = 0; q < used; q++)
                    s += ((const double *)((const char *)a->ws + (size_t)q * pt + l.gb))[c];
                gb[c] = (float)s;
            }
        }
    }
    return err;
}

static int sgemm_err(const ss_op_args *a, int st)
{
    return ss_op_err(ss_op_name(a->kind), a->n_in, a->xs, "oneDNN sgemm failed (status %d)", st);
}

int ss_cpu_conv_s2_fwd(const ss_op_args *a, int *rc)
{
    s2geo g;
    if (!s2_geo(a, &g) || !n_threads(&g, a, layout(&g, 0, 0).total))
        return 1;
    __atomic_add_fetch(&g_s2_calls, 1, __ATOMIC_RELAXED);
    const float *bias = a->n_in == 3 ? a->x[2] : NULL;
    int st = g.deconv ? pass_up(&g, a, a->x[1], a->x[0], bias, a->y[0])
                      : pass_down(&g, a, a->x[1], a->x[0], bias, a->y[0], NULL, NULL, NULL);
    *rc = st ? sgemm_err(a, st) : SS_OK;
    return 0;
}

int ss_cpu_conv_s2_bwd(const ss_op_args *a, int *rc)
{
    s2geo g;
    if (!a->gy[0] || !s2_geo(a, &g))
        return 1;
    int wg = a->gx[1] != NULL, bg = a->n_in == 3 && a->gx[2];
    if (!n_threads(&g, a, layout(&g, wg, bg).total))
        return 1;
    __atomic_add_fetch(&g_s2_calls, (a->gx[0] != NULL) + wg, __ATOMIC_RELAXED);
    const float *w = a->x[1], *gy = a->gy[0];
    float *gb = bg ? a->gx[2] : NULL;
    int st = 0;
    if (g.deconv) {
        /* one gather of gy serves all three gradients */
        if (a->gx[0] || wg || gb)
            st = pass_down(&g, a, w, gy, NULL, a->gx[0], a->x[0], wg ? a->gx[1] : NULL, gb);
    } else {
        if (a->gx[0]) {
            st = pass_up(&g, a, w, gy, NULL, a->gx[0]);
            if (!st && g.tail)
                zero_tail(&g, a->gx[0]);
        }
        if (!st && (wg || gb)) {
            if (wg)
                st = pass_down(&g, a, w, a->x[0], NULL, NULL, gy, a->gx[1], gb);
            else
                bias_grad(gy, g.N, g.Clo, g.Slo, gb);
        }
    }
    *rc = st ? sgemm_err(a, st) : SS_OK;
    return 0;
}
