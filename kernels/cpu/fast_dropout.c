/* Dropout fast path. The reference draws one Philox-4x32-10 block per element
 * and keeps one of its four lanes; element e uses lane e % 4 of block e / 4, so
 * here each block is drawn once and serves its four elements. Where the CPU
 * has AVX2, eight blocks run side by side in vector lanes (32-bit products
 * from vpmuludq on even and odd lanes), the four lanes of each block are
 * transposed back to element order and the keep / scale selection is a
 * compare and a mask, with no branch per element. The mask and the result are
 * the reference's bit for bit on both paths. Channel mode (Dropout3d/2d)
 * draws once per row and scales whole rows (apply_channel). */
#include "cpu_fast.h"

#include "../error.h"
#include "../rng.h"

#include <immintrin.h>
#include <omp.h>

static int g_vec = 1;

void ss_cpu_dropout_set_vector(int on) { __atomic_store_n(&g_vec, on ? 1 : 0, __ATOMIC_RELAXED); }

static int use_vector(void)
{
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return have && __atomic_load_n(&g_vec, __ATOMIC_RELAXED);
}

typedef struct dparams {
    uint32_t key[2], step, stream;
    float p, scale;
} dparams;

/* dst[e] = src[e] * (u_e >= p ? scale : 0) for the four elements of block b. */
static void block_scalar(const dparams *q, const float *src, float *dst, int64_t b, int64_t n)
{
    uint32_t ctr[4] = {(uint32_t)b, (uint32_t)((uint64_t)b >> 32), q->step, q->stream};
    uint32_t out[4];
    ss_philox4x32_10(q->key, ctr, out);
    int64_t e0 = 4 * b;
    for (int l = 0; l < 4 && e0 + l < n; l++) {
        float u = (float)(out[l] >> 8) * (1.0f / 16777216.0f);
        dst[e0 + l] = src[e0 + l] * (u >= q->p ? q->scale : 0.f);
    }
}

/* (hi, lo) 32-bit halves of m * c per lane */
__attribute__((target("avx2"))) static inline void mulhilo8(__m256i c, __m256i m, __m256i *hi,
                                                             __m256i *lo)
{
    __m256i ev = _mm256_mul_epu32(c, m);                        /* lanes 0, 2, 4, 6 */
    __m256i od = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), m); /* lanes 1, 3, 5, 7 */
    *lo = _mm256_blend_epi32(ev, _mm256_slli_epi64(od, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(ev, 32), od, 0xAA);
}

__attribute__((target("avx2"))) static inline __m256 apply8(__m256i bits, __m256 src, __m256 p,
                                                            __m256 scale)
{
    __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(bits, 8)),
                             _mm256_set1_ps(1.0f / 16777216.0f));
    return _mm256_mul_ps(src, _mm256_and_ps(_mm256_cmp_ps(u, p, _CMP_GE_OQ), scale));
}

/* Blocks b0 .. b0+7 (b0 a multiple of 8, all 32 elements inside the tensor). */
__attribute__((target("avx2"))) static void blocks8(const dparams *q, const float *src, float *dst,
                                                    int64_t b0)
{
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)b0),
                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i c1 = _mm256_set1_epi32((int)(uint32_t)((uint64_t)b0 >> 32));
    __m256i c2 = _mm256_set1_epi32((int)q->step), c3 = _mm256_set1_epi32((int)q->stream);
    const __m256i m0 = _mm256_set1_epi32((int)SS_PHILOX_M0), m1 = _mm256_set1_epi32((int)SS_PHILOX_M1);
    uint32_t k0 = q->key[0], k1 = q->key[1];
    for (int r = 0; r < 10; r++) {
        __m256i hi0, lo0, hi1, lo1;
        mulhilo8(c0, m0, &hi0, &lo0);
        mulhilo8(c2, m1, &hi1, &lo1);
        c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
        c1 = lo1;
        c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
        c3 = lo0;
        k0 += SS_PHILOX_W0;
        k1 += SS_PHILOX_W1;
    }
    /* lanes (block-major) -> elements: 4 x 8 transpose */
    __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
    __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i e[4] = {_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u2, u3, 0x20),
                    _mm256_permute2x128_si256(u0, u1, 0x31), _mm256_permute2x128_si256(u2, u3, 0x31)};
    const __m256 p = _mm256_set1_ps(q->p), scale = _mm256_set1_ps(q->scale);
    const int64_t e0 = 4 * b0;
    for (int k = 0; k < 4; k++)
        _mm256_storeu_ps(dst + e0 + 8 * k, apply8(e[k], _mm256_loadu_ps(src + e0 + 8 * k), p, scale));
}

static void apply(const ss_op_args *a, const float *src, float *dst)
{
    uint64_t seed = (uint64_t)(uint32_t)a->ip[1] | (uint64_t)(uint32_t)a->ip[2] << 32;
    dparams q = {.key = {(uint32_t)seed, (uint32_t)(seed >> 32)},
                 .step = (uint32_t)a->step,
                 .stream = (uint32_t)a->ip[3],
                 .p = a->fp[0]};
    q.scale = q.p < 1 ? (float)(1.0 / (1.0 - (double)q.p)) : 0.f;
    const int64_t n = ss_numel(&a->xs[0]);
    const int64_t nblk = (n + 3) / 4;
    const int64_t nvec = use_vector() ? n / 32 : 0; /* groups of 8 whole blocks */
#pragma omp parallel if (n >= (1 << 14))
    {
#pragma omp for schedule(static) nowait
        for (int64_t g = 0; g < nvec; g++)
            blocks8(&q, src, dst, 8 * g);
#pragma omp for schedule(static)
        for (int64_t b = 8 * nvec; b < nblk; b++)
            block_scalar(&q, src, dst, b, n);
    }
}

/* Channel mode: one draw per (n, c) row, as the reference; the row's factor
 * (scale or 0) multiplies the whole row. The tensor is cut into fixed chunks
 * (not rows), so few long rows still spread over the threads; a chunk walks
 * the row pieces it covers. */
#define CHAN_CHUNK 16384

static void apply_channel(const ss_op_args *a, const float *restrict src, float *restrict dst)
{
    uint64_t seed = (uint64_t)(uint32_t)a->ip[1] | (uint64_t)(uint32_t)a->ip[2] << 32;
    const uint32_t stream = (uint32_t)a->ip[3];
    const uint64_t step = a->step;
    const float p = a->fp[0];
    const float scale = p < 1 ? (float)(1.0 / (1.0 - (double)p)) : 0.f;
    const int64_t n = ss_numel(&a->xs[0]), S = ss_spatial(&a->xs[0]);
    const int64_t chunks = (n + CHAN_CHUNK - 1) / CHAN_CHUNK;
#pragma omp parallel for schedule(static) if (n >= (1 << 14))
    for (int64_t c = 0; c < chunks; c++) {
        int64_t j = c * CHAN_CHUNK, end = j + CHAN_CHUNK < n ? j + CHAN_CHUNK : n;
        while (j < end) {
            int64_t r = j / S, stop = (r + 1) * S < end ? (r + 1) * S : end;
            const float f = ss_rng_uniform(seed, stream, step, (uint64_t)r) >= p ? scale : 0.f;
#pragma omp simd
            for (int64_t i = j; i < stop; i++)
                dst[i] = src[i] * f; /* inf/NaN * 0 = NaN, as the reference */
            j = stop;
        }
    }
}

int ss_cpu_dropout_fwd(const ss_op_args *a)
{
    if (a->ip[0] != 0)
        apply_channel(a, a->x[0], a->y[0]);
    else
        apply(a, a->x[0], a->y[0]);
    return SS_OK;
}

int ss_cpu_dropout_bwd(const ss_op_args *a)
{
    if (!a->gx[0] || !a->gy[0])
        return ss_op_get(a->kind)->bwd(a);
    if (a->ip[0] != 0)
        apply_channel(a, a->gy[0], a->gx[0]);
    else
        apply(a, a->gy[0], a->gx[0]);
    return SS_OK;
}
