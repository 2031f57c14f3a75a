/* CONV 3x3x3, stride 1, pad 1, with input and output channels multiples of 16
 * and even D, H, W, by Winograd's minimal filtering F(2x2x2, 3x3x3): V-Net's
 * ConvBlock convolutions. Per 2x2x2 output tile the 27-tap sums become 64
 * products in a transformed domain, so the multiply work drops to 64/216 of
 * the direct convolution's; what remains is a batch of 64 small GEMMs, one
 * per transformed position.
 *
 * With 1-D transforms (points 0, 1, -1, infinity)
 *   input  B^T d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3)          (4 -> 4)
 *   weight G g   = (g0, (g0 + g1 + g2)/2, (g0 - g1 + g2)/2, g2)  (3 -> 4)
 *   output A^T m = (m0 + m1 + m2, m1 - m2 - m3)                  (4 -> 2)
 * applied along D, H and W, a convolution is y = A^T [ (G w) . (B^T x) ]
 * summed over input channels. The same trilinear form gives the weight
 * gradient, dw = G^T [ (A gy) . (B^T x) ] summed over tiles, and the input
 * gradient is the forward convolution of gy with the flipped, transposed
 * weights.
 *
 * Data: x (and gy) are first transposed to channels-last in the workspace, so
 * the transforms run on 16-channel vectors (AVX-512, checked at run time;
 * otherwise oneDNN runs the op). For the forward (and the input gradient) a
 * thread takes a chunk of whole tile rows, transforms its tiles into
 * [tiles][64 positions][channels], runs the 64 GEMMs with an AVX2 + FMA
 * register-blocked kernel, transforms back into a channels-last staging of
 * the chunk's output rows and transposes those into the NCDHW output. The
 * weight gradient splits its chunks into four fixed groups, sums each group's
 * chunks in order into the group's own partial and adds the partials in group
 * order, the bias gradient fixed blocks of voxels in order: results do not
 * depend on the thread count. Everything lives in the op's workspace.
 * Convolutions with fewer than 64 channels on both sides together stay with
 * oneDNN, and so does the backward of those with 128 x 128 channels or more
 * (see wg_geo). */
#include "cpu_fast.h"

#include "../error.h"

#include <immintrin.h>
#include <omp.h>
#include <string.h>

#define WG_TARGET __attribute__((target("avx512f,avx512vl,avx2,fma")))
#define WG_INLINE static inline __attribute__((always_inline)) WG_TARGET

typedef float v16 __attribute__((vector_size(64)));

enum {
    MR = 6,           /* GEMM kernel rows */
    BIAS_BLK = 2048,  /* voxels per bias-gradient partial */
    CHUNK_BYTES = 512 * 1024, /* forward chunk buffers per thread */
    WCHUNK_BYTES = 2 << 20,   /* weight-gradient chunk buffers per thread */
    GROUPS = 4                /* weight-gradient partial sums */
};

static long g_wg_calls;
static int g_wg_on = -1; /* -1: not yet read from SEMISEG_CONV_WG */

long ss_cpu_conv_wg_calls(void) { return __atomic_load_n(&g_wg_calls, __ATOMIC_RELAXED); }

void ss_cpu_conv_set_wg(int on) { __atomic_store_n(&g_wg_on, on ? 1 : 0, __ATOMIC_RELAXED); }

static int wg_enabled(void) { return ss_cpu_path_on(&g_wg_on, "SEMISEG_CONV_WG"); }

int ss_cpu_conv_wg_available(void)
{
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return have;
}

typedef struct wgeo {
    int N, Ci, Co, D, H, W;
    int64_t S, T;     /* voxels per item and channel; tiles */
    int rows;         /* tile rows (n, td, th; W/2 tiles each) per forward chunk */
    int tcf;          /* tiles per forward chunk: rows * W/2 */
    int tcw;          /* tiles per weight-gradient chunk (every group gets one) */
    size_t xb, yb;    /* channels-last x / gy bytes */
    size_t ub;        /* transformed weights (and weight gradient) */
    size_t bb;        /* bias-gradient partials */
    size_t stg;       /* output rows of a forward chunk, channels-last */
    size_t chb;       /* forward chunk buffers of one thread (with stg) */
    size_t wb;        /* weight-gradient chunk buffers of one thread */
    size_t thr;       /* per-thread workspace of the pass being run */
} wgeo;

static int wg_geo(const ss_op_args *a, int bwd, wgeo *g)
{
    if (a->kind != SS_OP_CONV || a->n_in < 2 || !wg_enabled() || !ss_cpu_conv_wg_available())
        return 0;
    const ss_shape *x = &a->xs[0], *w = &a->xs[1];
    if (w->d[2] != 3 || w->d[3] != 3 || w->d[4] != 3)
        return 0;
    for (int j = 0; j < 6; j++)
        if (a->ip[j] != 1)
            return 0;
    memset(g, 0, sizeof *g);
    g->N = x->d[0];
    g->Ci = x->d[1];
    g->Co = w->d[0];
    g->D = x->d[2];
    g->H = x->d[3];
    g->W = x->d[4];
    if (g->N < 1 || g->Ci % 16 || g->Co % 16 || g->Ci < 16 || g->Co < 16 || g->D % 2 || g->H % 2 ||
        g->W % 2 || g->D < 2 || g->H < 2 || g->W < 2)
        return 0;
    /* fewer channels (V-Net's 16 -> 16 full-resolution block): K = 16 leaves
     * the GEMMs too short and the transforms dominate; oneDNN is faster there
     * (26.8 vs 38.2 ms forward at 2x16x48x64x64 on the development machine) */
    if (g->Ci + g->Co < 64)
        return 0;
    /* 128 x 128 channels and more (V-Net's 8x8x6 level): few tiles, large
     * partial weight gradients; oneDNN's backward is as fast or faster there
     * (6.1 ms against 6.3-7.5 for both gradients at 2x128x6x8x8), the
     * forward is not (2.9 against 1.8 ms) */
    if (bwd && g->Ci * g->Co >= 128 * 128)
        return 0;
    g->S = (int64_t)g->D * g->H * g->W;
    g->T = (int64_t)g->N * (g->S / 8);
    int cmax = g->Ci > g->Co ? g->Ci : g->Co;
    g->rows = (int)(CHUNK_BYTES / (64 * sizeof(float) * 2 * (size_t)cmax)) / (g->W / 2);
    if (g->rows < 1)
        g->rows = 1;
    g->tcf = g->rows * (g->W / 2);
    int64_t tw = WCHUNK_BYTES / (64 * sizeof(float) * (size_t)(g->Ci + g->Co));
    int64_t per_group = (g->T + GROUPS - 1) / GROUPS;
    g->tcw = (int)(tw > per_group ? per_group : tw < 1 ? 1 : tw);
    g->xb = ss_cpu_al64((size_t)g->N * g->S * g->Ci * sizeof(float));
    g->yb = ss_cpu_al64((size_t)g->N * g->S * g->Co * sizeof(float));
    g->ub = ss_cpu_al64((size_t)64 * g->Ci * g->Co * sizeof(float));
    g->bb = ss_cpu_al64((size_t)((g->N * g->S + BIAS_BLK - 1) / BIAS_BLK) * g->Co * sizeof(double));
    g->stg = ss_cpu_al64((size_t)g->rows * 4 * g->W * cmax * sizeof(float));
    g->chb = ss_cpu_al64((size_t)64 * g->tcf * (g->Ci + g->Co) * sizeof(float)) + g->stg;
    g->wb = ss_cpu_al64((size_t)64 * g->tcw * (g->Ci + g->Co) * sizeof(float));
    return 1;
}

int ss_cpu_conv_wg_match(const ss_op_args *a, int bwd)
{
    wgeo g;
    return wg_geo(a, bwd, &g);
}

/* fixed part of the workspace: forward x, U; backward gy, x, U, the group
 * partials of the transformed weight gradient, bias partials */
static size_t fixed_bytes(const wgeo *g, int bwd)
{
    return bwd ? g->yb + g->xb + (1 + GROUPS) * g->ub + g->bb : g->xb + g->ub;
}

/* workspace of one thread: forward chunk buffers; backward also the
 * weight-gradient chunk buffers (used one after the other) */
static size_t thread_bytes(const wgeo *g, int bwd)
{
    return bwd && g->wb > g->chb ? g->wb : g->chb;
}

size_t ss_cpu_conv_wg_ws(const ss_op_args *a, int bwd)
{
    wgeo g;
    if (!wg_geo(a, bwd, &g))
        return 0;
    int p = omp_get_max_threads();
    return fixed_bytes(&g, bwd) + (size_t)(p < 1 ? 1 : p) * thread_bytes(&g, bwd);
}

/* threads the workspace holds chunk buffers for (0: too small) */
static int n_threads(const wgeo *g, const ss_op_args *a, int bwd)
{
    const size_t fixed = fixed_bytes(g, bwd), per = thread_bytes(g, bwd);
    if (!a->ws || a->ws_size < fixed + per)
        return 0;
    size_t fit = (a->ws_size - fixed) / per;
    int p = omp_get_max_threads();
    return (size_t)p > fit ? (int)fit : p;
}

/* ---- layout ---------------------------------------------------------------- */

/* dst[j * ds + i] = src[i * ss + j], i, j < 8 */
WG_INLINE void tr8(const float *src, int64_t ss, float *dst, int64_t ds)
{
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + i * ss);
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * ds, _mm256_permute2f128_ps(u[i], u[4 + i], 0x20));
        _mm256_storeu_ps(dst + (4 + i) * ds, _mm256_permute2f128_ps(u[i], u[4 + i], 0x31));
    }
}

/* [N][C][S] -> [N][S][C] (C, S multiples of 8) */
WG_TARGET static void to_cl(const float *src, float *dst, int N, int C, int64_t S, int P)
{
    const int64_t blocks = (S + 63) / 64;
#pragma omp parallel for num_threads(P) schedule(static)
    for (int64_t nb = 0; nb < (int64_t)N * blocks; nb++) {
        int64_t n = nb / blocks, s0 = nb % blocks * 64, s1 = s0 + 64 < S ? s0 + 64 : S;
        const float *s = src + n * C * S;
        float *d = dst + n * C * S;
        for (int c = 0; c < C; c += 8) /* a channel's cache line twice in a row */
            for (int64_t v = s0; v < s1; v += 8)
                tr8(s + c * S + v, S, d + v * C + c, C);
    }
}

/* ---- transforms ------------------------------------------------------------ */

#define L16(p) ((v16)_mm512_loadu_ps(p))
#define S16(p, v) _mm512_storeu_ps((p), (__m512)(v))

WG_INLINE void bt4(v16 *o0, v16 *o1, v16 *o2, v16 *o3, v16 d0, v16 d1, v16 d2, v16 d3)
{
    *o0 = d0 - d2;
    *o1 = d1 + d2;
    *o2 = d2 - d1;
    *o3 = d1 - d3;
}

WG_INLINE void at4(v16 *o0, v16 *o1, v16 m0, v16 m1, v16 m2, v16 m3)
{
    *o0 = m0 + m1 + m2;
    *o1 = m1 - m2 - m3;
}

WG_INLINE void a2(v16 *o, v16 y0, v16 y1, int s)
{
    o[0] = y0;
    o[s] = y0 + y1;
    o[2 * s] = y0 - y1;
    o[3 * s] = -y1;
}

typedef struct tile {
    int n, td, th, tw;
} tile;

static inline tile tile_of(const wgeo *g, int64_t t)
{
    tile r;
    int TW = g->W / 2, TH = g->H / 2, TD = g->D / 2;
    r.tw = (int)(t % TW);
    t /= TW;
    r.th = (int)(t % TH);
    t /= TH;
    r.td = (int)(t % TD);
    r.n = (int)(t / TD);
    return r;
}

/* B^T on the 4x4x4 input patch of a tile (channels-last xc with C channels,
 * voxel (a, b, k) of the patch at base + a*sa + b*sb + k*C, zero where bit
 * a*16 + b*4 + k of mask is clear) -> V[p * vs + c] */
WG_INLINE void itile(const float *base, int64_t sa, int64_t sb, int C, uint64_t mask, float *V,
                     int64_t vs)
{
    for (int c = 0; c < C; c += 16) {
        v16 tmp[4][16];
#pragma GCC unroll 4
        for (int a = 0; a < 4; a++) {
            v16 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                r[i] = (mask >> (a * 16 + i)) & 1
                           ? L16(base + a * sa + (i >> 2) * sb + (i & 3) * C + c)
                           : (v16){0};
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++)
                bt4(&r[4 * b], &r[4 * b + 1], &r[4 * b + 2], &r[4 * b + 3], r[4 * b], r[4 * b + 1],
                    r[4 * b + 2], r[4 * b + 3]);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                bt4(&tmp[a][k], &tmp[a][4 + k], &tmp[a][8 + k], &tmp[a][12 + k], r[k], r[4 + k],
                    r[8 + k], r[12 + k]);
        }
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            v16 o0, o1, o2, o3;
            bt4(&o0, &o1, &o2, &o3, tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j]);
            S16(V + j * vs + c, o0);
            S16(V + (16 + j) * vs + c, o1);
            S16(V + (32 + j) * vs + c, o2);
            S16(V + (48 + j) * vs + c, o3);
        }
    }
}

WG_TARGET static void itrans(const wgeo *g, const float *xc, int C, tile t, float *V, int64_t vs)
{
    const int d0 = 2 * t.td - 1, h0 = 2 * t.th - 1, w0 = 2 * t.tw - 1;
    const int64_t sb = (int64_t)g->W * C, sa = (int64_t)g->H * sb;
    const float *base = xc + (((int64_t)t.n * g->D + d0) * g->H + h0) * sb + (int64_t)w0 * C;
    if (d0 >= 0 && d0 + 4 <= g->D && h0 >= 0 && h0 + 4 <= g->H && w0 >= 0 && w0 + 4 <= g->W) {
        itile(base, sa, sb, C, ~(uint64_t)0, V, vs);
        return;
    }
    uint64_t mask = 0;
    for (int i = 0; i < 64; i++) {
        int d = d0 + i / 16, h = h0 + i / 4 % 4, w = w0 + i % 4;
        if (d >= 0 && d < g->D && h >= 0 && h < g->H && w >= 0 && w < g->W)
            mask |= (uint64_t)1 << i;
    }
    itile(base, sa, sb, C, mask, V, vs);
}

/* A^T of a tile's 64 GEMM results M[p * ms + c] (C channels) -> its 2x2x2
 * output voxels, channels-last: voxel (d, h, w) at dst + d*sa + h*sb + w*C,
 * plus the bias when given */
WG_TARGET static void otrans(const float *M, int64_t ms, int C, const float *bias, float *dst,
                             int64_t sa, int64_t sb)
{
    for (int c = 0; c < C; c += 16) {
        v16 tmp[4][4];
#pragma GCC unroll 4
        for (int a = 0; a < 4; a++) {
            v16 m[16], u[8];
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++)
                m[j] = L16(M + (a * 16 + j) * ms + c);
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++)
                at4(&u[2 * b], &u[2 * b + 1], m[4 * b], m[4 * b + 1], m[4 * b + 2], m[4 * b + 3]);
#pragma GCC unroll 2
            for (int k = 0; k < 2; k++)
                at4(&tmp[a][k], &tmp[a][2 + k], u[k], u[2 + k], u[4 + k], u[6 + k]);
        }
        v16 bv = bias ? L16(bias + c) : (v16){0};
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            v16 o0, o1;
            at4(&o0, &o1, tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j]);
            float *q = dst + (j >> 1) * sb + (j & 1) * C + c;
            S16(q, o0 + bv);
            S16(q + sa, o1 + bv);
        }
    }
}

/* A on a tile's 2x2x2 gy voxels (channels-last gyc, C channels) -> Y[p * ys + c] */
WG_TARGET static void ytrans(const wgeo *g, const float *gyc, int C, tile t, float *Y, int64_t ys)
{
    const int64_t sb = (int64_t)g->W * C, sa = (int64_t)g->H * sb;
    const float *src =
        gyc + (((int64_t)t.n * g->D + 2 * t.td) * g->H + 2 * t.th) * sb + 2 * (int64_t)t.tw * C;
    for (int c = 0; c < C; c += 16) {
        v16 r[8], s[16], u[32], o[64];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            r[i] = L16(src + (i >> 2) * sa + (i >> 1 & 1) * sb + (i & 1) * C + c);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) /* along W: (a, b) -> s[a*8 + b*4 + k] */
            a2(&s[(i >> 1) * 8 + (i & 1) * 4], r[2 * i], r[2 * i + 1], 1);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) /* along H: (a, k) -> u[a*16 + b*4 + k] */
            a2(&u[(i >> 2) * 16 + (i & 3)], s[(i >> 2) * 8 + (i & 3)], s[(i >> 2) * 8 + 4 + (i & 3)],
               4);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) /* along D */
            a2(&o[j], u[j], u[16 + j], 16);
#pragma GCC unroll 64
        for (int p = 0; p < 64; p++)
            S16(Y + p * ys + c, o[p]);
    }
}

/* G along each axis of the weights of a convolution with Cin input and Cout
 * output channels -> U[p][i][o], 16 output channels per vector. flip: the
 * convolution is the input gradient of w [Cin][Cout][27]
 * (w'[o][i][k] = w[i][o][26 - k]). */
WG_INLINE void g3(v16 *o0, v16 *o1, v16 *o2, v16 *o3, v16 g0, v16 g1, v16 g2)
{
    *o0 = g0;
    *o1 = 0.5f * (g0 + g1 + g2);
    *o2 = 0.5f * (g0 - g1 + g2);
    *o3 = g2;
}

WG_TARGET static void wtrans(const float *w, float *U, int Cin, int Cout, int flip, int P)
{
    const int64_t ps = (int64_t)Cin * Cout;
#pragma omp parallel for num_threads(P) schedule(static)
    for (int i = 0; i < Cin; i++)
        for (int o0 = 0; o0 < Cout; o0 += 16) {
            v16 k[27], t1[4][3][3], t2[4][4][3];
            for (int j = 0; j < 27; j++)
                for (int l = 0; l < 16; l++)
                    k[j][l] = flip ? w[((int64_t)i * Cout + o0 + l) * 27 + 26 - j]
                                   : w[((int64_t)(o0 + l) * Cin + i) * 27 + j];
            for (int b = 0; b < 3; b++)
                for (int c = 0; c < 3; c++)
                    g3(&t1[0][b][c], &t1[1][b][c], &t1[2][b][c], &t1[3][b][c], k[b * 3 + c],
                       k[9 + b * 3 + c], k[18 + b * 3 + c]);
            for (int a = 0; a < 4; a++)
                for (int c = 0; c < 3; c++)
                    g3(&t2[a][0][c], &t2[a][1][c], &t2[a][2][c], &t2[a][3][c], t1[a][0][c], t1[a][1][c],
                       t1[a][2][c]);
            float *q = U + (int64_t)i * Cout + o0;
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++) {
                    v16 r0, r1, r2, r3;
                    g3(&r0, &r1, &r2, &r3, t2[a][b][0], t2[a][b][1], t2[a][b][2]);
                    float *r = q + (a * 16 + b * 4) * ps;
                    S16(r, r0);
                    S16(r + ps, r1);
                    S16(r + 2 * ps, r2);
                    S16(r + 3 * ps, r3);
                }
        }
}

/* G^T along each axis: transformed weight gradient C[p][co][ci] -> gw[co][ci][27] */
static void wtrans_back(const float *C, float *gw, int Co, int Ci, int P)
{
#pragma omp parallel for num_threads(P) schedule(static)
    for (int co = 0; co < Co; co++)
        for (int ci = 0; ci < Ci; ci++) {
            float m[64], t1[3][4][4], t2[3][3][4];
            for (int p = 0; p < 64; p++)
                m[p] = C[((int64_t)p * Co + co) * Ci + ci];
#define WG_GT(m0, m1, m2, m3, o0, o1, o2)                                                              \
    do {                                                                                           \
        float e0 = (m0), e1 = (m1), e2 = (m2), e3 = (m3);                                          \
        o0 = e0 + 0.5f * (e1 + e2);                                                                \
        o1 = 0.5f * (e1 - e2);                                                                     \
        o2 = 0.5f * (e1 + e2) + e3;                                                                \
    } while (0)
            for (int b = 0; b < 4; b++)
                for (int k = 0; k < 4; k++)
                    WG_GT(m[b * 4 + k], m[16 + b * 4 + k], m[32 + b * 4 + k], m[48 + b * 4 + k],
                          t1[0][b][k], t1[1][b][k], t1[2][b][k]);
            for (int a = 0; a < 3; a++)
                for (int k = 0; k < 4; k++)
                    WG_GT(t1[a][0][k], t1[a][1][k], t1[a][2][k], t1[a][3][k], t2[a][0][k], t2[a][1][k],
                          t2[a][2][k]);
            float *q = gw + ((int64_t)co * Ci + ci) * 27;
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    WG_GT(t2[a][b][0], t2[a][b][1], t2[a][b][2], t2[a][b][3], q[a * 9 + b * 3],
                          q[a * 9 + b * 3 + 1], q[a * 9 + b * 3 + 2]);
#undef WG_GT
        }
}

/* ---- GEMM kernel ------------------------------------------------------------- */

/* C(r, 0:16) (+)= sum_k A[r*rs + k*ks] B[k*bs + 0:16], r < R */
WG_INLINE void mk_rows(const int R, const float *A, int64_t rs, int64_t ks, const float *B,
                       int64_t bs, int K, float *C, int64_t cs, int acc)
{
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        c0[r] = acc ? _mm256_loadu_ps(C + r * cs) : _mm256_setzero_ps();
        c1[r] = acc ? _mm256_loadu_ps(C + r * cs + 8) : _mm256_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        const float *ak = A + k * ks, *bk = B + k * bs;
        __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            __m256 s = _mm256_broadcast_ss(ak + r * rs);
            c0[r] = _mm256_fmadd_ps(s, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(s, b1, c1[r]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(C + r * cs, c0[r]);
        _mm256_storeu_ps(C + r * cs + 8, c1[r]);
    }
}

/* C[rows x cols] (+)= A B over K, rows any, cols a multiple of 16 */
WG_TARGET static void gemm(int rows, int cols, const float *A, int64_t rs, int64_t ks, const float *B,
                           int64_t bs, int K, float *C, int64_t cs, int acc)
{
    for (int r = 0; r < rows; r += MR)
        for (int c = 0; c < cols; c += 16) {
            const float *a = A + r * rs;
            float *q = C + r * cs + c;
            switch (rows - r < MR ? rows - r : MR) {
            case 6: mk_rows(6, a, rs, ks, B + c, bs, K, q, cs, acc); break;
            case 5: mk_rows(5, a, rs, ks, B + c, bs, K, q, cs, acc); break;
            case 4: mk_rows(4, a, rs, ks, B + c, bs, K, q, cs, acc); break;
            case 3: mk_rows(3, a, rs, ks, B + c, bs, K, q, cs, acc); break;
            case 2: mk_rows(2, a, rs, ks, B + c, bs, K, q, cs, acc); break;
            default: mk_rows(1, a, rs, ks, B + c, bs, K, q, cs, acc); break;
            }
        }
}

/* ---- passes ---------------------------------------------------------------- */

/* y (NCDHW, Cout) = convolution of xc (channels-last, Cin) with the
 * transformed weights U [64][Cin][Cout], plus bias. A chunk is a run of whole
 * tile rows, so its outputs are whole rows of y: they are gathered
 * channels-last in the thread's staging buffer and transposed into place. */
WG_TARGET static void conv_core(const wgeo *g, const float *xc, int Cin, const float *U, int Cout,
                                const float *bias, float *y, char *chunks, int P)
{
    const int TW = g->W / 2, W = g->W, tc = g->tcf;
    const int64_t rows = g->T / TW, nch = (rows + g->rows - 1) / g->rows, S = g->S;
    const int64_t rs = (int64_t)W * Cout; /* one output row in staging */
#pragma omp parallel for num_threads(P) schedule(static)
    for (int64_t ch = 0; ch < nch; ch++) {
        float *V = (float *)(chunks + (size_t)omp_get_thread_num() * g->thr);
        float *M = V + (int64_t)64 * tc * Cin, *stg = M + (int64_t)64 * tc * Cout;
        const int64_t t0 = ch * tc;
        const int nr = (int)(rows - ch * g->rows < g->rows ? rows - ch * g->rows : g->rows);
        const int nt = nr * TW;
        for (int i = 0; i < nt; i++)
            itrans(g, xc, Cin, tile_of(g, t0 + i), V + (int64_t)i * 64 * Cin, Cin);
        for (int p = 0; p < 64; p++)
            gemm(nt, Cout, V + (int64_t)p * Cin, 64 * (int64_t)Cin, 1, U + (int64_t)p * Cin * Cout,
                 Cout, Cin, M + (int64_t)p * Cout, 64 * (int64_t)Cout, 0);
        /* staging row (r, dd, hh) of the chunk at stg + ((r*2 + dd)*2 + hh) * rs */
        for (int i = 0; i < nt; i++)
            otrans(M + (int64_t)i * 64 * Cout, Cout, Cout, bias,
                   stg + (int64_t)(i / TW) * 4 * rs + (int64_t)(i % TW) * 2 * Cout, 2 * rs, rs);
        const int W8 = W / 8 * 8;
        for (int r = 0; r < nr; r++) {
            tile t = tile_of(g, t0 + (int64_t)r * TW);
            for (int j = 0; j < 4; j++) {
                const float *src = stg + ((int64_t)r * 4 + j) * rs;
                int d = 2 * t.td + (j >> 1), h = 2 * t.th + (j & 1);
                float *out = y + (int64_t)t.n * Cout * S + ((int64_t)d * g->H + h) * W;
                for (int c = 0; c < Cout; c += 8)
                    for (int w = 0; w < W8; w += 8)
                        tr8(src + (int64_t)w * Cout + c, Cout, out + c * S + w, S);
                for (int w = W8; w < W; w++)
                    for (int c = 0; c < Cout; c++)
                        out[c * S + w] = src[(int64_t)w * Cout + c];
            }
        }
    }
}

/* transformed weight gradient C[p][co][ci] = sum over tiles of Y[p][t][co]
 * X[p][t][ci]. The chunks of tiles are split into GROUPS fixed runs; a thread
 * takes a group, sums its chunks in order into the group's partial (its own
 * chunk buffers, no synchronisation), and the partials are added in group
 * order into the first: the sum does not depend on the thread count. parts:
 * GROUPS partials, pstride floats apart; the result is parts[0..). */
static void wgrad(const wgeo *g, const float *xc, const float *gyc, float *parts, int64_t pstride,
                  char *chunks, int P)
{
    const int Ci = g->Ci, Co = g->Co, tc = g->tcw;
    const int64_t nch = (g->T + tc - 1) / tc, n = (int64_t)64 * Co * Ci;
#pragma omp parallel for num_threads(P) schedule(dynamic, 1)
    for (int gi = 0; gi < GROUPS; gi++) {
        float *V = (float *)(chunks + (size_t)omp_get_thread_num() * g->thr);
        float *Y = V + (int64_t)64 * tc * Ci, *Cg = parts + gi * pstride;
        const int64_t c0 = nch * gi / GROUPS, c1 = nch * (gi + 1) / GROUPS;
        if (c0 == c1)
            memset(Cg, 0, (size_t)n * sizeof(float));
        for (int64_t ch = c0; ch < c1; ch++) {
            const int64_t t0 = ch * tc;
            const int nt = (int)(g->T - t0 < tc ? g->T - t0 : tc);
            for (int i = 0; i < nt; i++) {
                tile t = tile_of(g, t0 + i);
                itrans(g, xc, Ci, t, V + (int64_t)i * Ci, (int64_t)tc * Ci);
                ytrans(g, gyc, Co, t, Y + (int64_t)i * Co, (int64_t)tc * Co);
            }
            for (int p = 0; p < 64; p++)
                gemm(Co, Ci, Y + (int64_t)p * tc * Co, 1, Co, V + (int64_t)p * tc * Ci, Ci, nt,
                     Cg + (int64_t)p * Co * Ci, Ci, ch > c0);
        }
    }
#pragma omp parallel for num_threads(P) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float s = parts[i];
        for (int gi = 1; gi < GROUPS; gi++)
            s += parts[gi * pstride + i];
        parts[i] = s;
    }
}

/* gb[co] = sum of gy (channels-last): float sums per block of BIAS_BLK voxels,
 * then the blocks in order in double */
WG_TARGET static void bias_grad(const wgeo *g, const float *gyc, double *parts, float *gb, int P)
{
    const int Co = g->Co;
    const int64_t V = (int64_t)g->N * g->S, nb = (V + BIAS_BLK - 1) / BIAS_BLK;
#pragma omp parallel for num_threads(P) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t v0 = b * BIAS_BLK, v1 = v0 + BIAS_BLK < V ? v0 + BIAS_BLK : V;
        for (int c = 0; c < Co; c += 16) {
            v16 s = {0};
            for (int64_t v = v0; v < v1; v++)
                s += L16(gyc + v * Co + c);
            for (int j = 0; j < 16; j++)
                parts[b * Co + c + j] = s[j];
        }
    }
    for (int c = 0; c < Co; c++) {
        double s = 0;
        for (int64_t b = 0; b < nb; b++)
            s += parts[b * Co + c];
        gb[c] = (float)s;
    }
}

/* threads for the pass (0: the caller must use another path); counts the pass */
static int begin(const ss_op_args *a, wgeo *g, int bwd)
{
    if (!wg_geo(a, bwd, g))
        return 0;
    g->thr = thread_bytes(g, bwd);
    const int P = n_threads(g, a, bwd);
    if (P)
        __atomic_add_fetch(&g_wg_calls, 1, __ATOMIC_RELAXED);
    return P;
}

int ss_cpu_conv_wg_fwd(const ss_op_args *a)
{
    wgeo g;
    const int P = begin(a, &g, 0);
    if (!P)
        return 1;
    char *ws = a->ws;
    float *xc = (float *)ws, *U = (float *)(ws + g.xb);
    char *chunks = ws + fixed_bytes(&g, 0);
    to_cl(a->x[0], xc, g.N, g.Ci, g.S, P);
    wtrans(a->x[1], U, g.Ci, g.Co, 0, P);
    conv_core(&g, xc, g.Ci, U, g.Co, a->n_in == 3 ? a->x[2] : NULL, a->y[0], chunks, P);
    return 0;
}

int ss_cpu_conv_wg_bwd(const ss_op_args *a)
{
    wgeo g;
    float *gx = a->gx[0], *gw = a->gx[1], *gb = a->n_in == 3 ? a->gx[2] : NULL;
    const int P = a->gy[0] && (gx || gw || gb) ? begin(a, &g, 1) : 0;
    if (!P)
        return 1;
    char *ws = a->ws;
    float *gyc = (float *)ws, *xc = (float *)(ws + g.yb), *U = (float *)(ws + g.yb + g.xb);
    float *parts = (float *)(ws + g.yb + g.xb + g.ub); /* weight-gradient groups */
    double *bparts = (double *)(ws + g.yb + g.xb + (1 + GROUPS) * g.ub);
    char *chunks = ws + fixed_bytes(&g, 1);
    to_cl(a->gy[0], gyc, g.N, g.Co, g.S, P);
    if (gx) {
        wtrans(a->x[1], U, g.Co, g.Ci, 1, P);
        conv_core(&g, gyc, g.Co, U, g.Ci, NULL, gx, chunks, P);
    }
    if (gw) {
        to_cl(a->x[0], xc, g.N, g.Ci, g.S, P);
        wgrad(&g, xc, gyc, parts, (int64_t)(g.ub / sizeof(float)), chunks, P);
        wtrans_back(parts, gw, g.Co, g.Ci, P);
    }
    if (gb)
        bias_grad(&g, gyc, bparts, gb, P);
    return 0;
}
