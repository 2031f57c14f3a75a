/* Dropout fast path. The reference draws one Philox-4x32-10 block per element
 * and keeps one of its four lanes; element e uses lane e % 4 of block e / 4, so
 * here each block is drawn once and serves its four elements. The mask and
 * the result are the reference's bit for bit. */
#include "cpu_fast.h"

#include "../error.h"
#include "../rng.h"

#include <omp.h>

static void apply(const ss_op_args *a, const float *src, float *dst)
{
    uint64_t seed = (uint64_t)(uint32_t)a->ip[1] | (uint64_t)(uint32_t)a->ip[2] << 32;
    uint32_t stream = (uint32_t)a->ip[3];
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint64_t step = a->step;
    const float p = a->fp[0];
    const float scale = p < 1 ? (float)(1.0 / (1.0 - (double)p)) : 0.f;
    const int64_t n = ss_numel(&a->xs[0]);
    const int64_t nblk = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n >= (1 << 14))
    for (int64_t b = 0; b < nblk; b++) {
        uint32_t ctr[4] = {(uint32_t)b, (uint32_t)((uint64_t)b >> 32), (uint32_t)step, stream};
        uint32_t out[4];
        ss_philox4x32_10(key, ctr, out);
        int64_t e0 = 4 * b;
        for (int l = 0; l < 4 && e0 + l < n; l++) {
            float u = (float)(out[l] >> 8) * (1.0f / 16777216.0f);
            dst[e0 + l] = src[e0 + l] * (u >= p ? scale : 0.f);
        }
    }
}

int ss_cpu_dropout_fwd(const ss_op_args *a)
{
    if (a->ip[0] != 0)
        return ss_op_get(a->kind)->fwd(a); /* channel mode: one draw per row already */
    apply(a, a->x[0], a->y[0]);
    return SS_OK;
}

int ss_cpu_dropout_bwd(const ss_op_args *a)
{
    if (a->ip[0] != 0 || !a->gx[0] || !a->gy[0])
        return ss_op_get(a->kind)->bwd(a);
    apply(a, a->gy[0], a->gx[0]);
    return SS_OK;
}
