/* Counter-based Philox-4x32-10 RNG. The same pure function runs on CPU and GPU,
 * so a (seed, stream, step, element) tuple gives the same number everywhere and
 * after a resume. */
#ifndef SS_RNG_H
#define SS_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define SS_HD __host__ __device__
#else
#define SS_HD
#endif

#define SS_PHILOX_M0 0xD2511F53u
#define SS_PHILOX_M1 0xCD9E8D57u
#define SS_PHILOX_W0 0x9E3779B9u
#define SS_PHILOX_W1 0xBB67AE85u

static inline SS_HD void ss_philox4x32_10(const uint32_t key_in[2], const uint32_t ctr_in[4],
                                          uint32_t out[4])
{
    uint32_t k0 = key_in[0], k1 = key_in[1];
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)SS_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)SS_PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += SS_PHILOX_W0;
        k1 += SS_PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* 32 random bits for element e of (seed, stream, step): block e/4 of the
 * counter space, lane e%4. */
static inline SS_HD uint32_t ss_rng_bits(uint64_t seed, uint32_t stream, uint64_t step,
                                         uint64_t e)
{
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint64_t blk = e >> 2;
    uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)step, stream};
    uint32_t out[4];
    ss_philox4x32_10(key, ctr, out);
    return out[e & 3];
}

/* Uniform float in [0, 1) with 24 random bits. */
static inline SS_HD float ss_rng_uniform(uint64_t seed, uint32_t stream, uint64_t step, uint64_t e)
{
    return (float)(ss_rng_bits(seed, stream, step, e) >> 8) * (1.0f / 16777216.0f);
}

#endif
