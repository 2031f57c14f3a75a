/* The dropout rule of kernels/op.h as one host/device function: the CUDA
 * dropout kernel calls it per element, and the CPU test calls the same
 * function on the host to check it against the CPU reference op. */
#ifndef SS_DROPOUT_RULE_H
#define SS_DROPOUT_RULE_H

#include "../rng.h"

#include <stdint.h>

/* dst value for element j: src * (keep ? scale : 0) with keep = u(seed,
 * stream, step, e) >= p, e = j (mode 0) or j / S (mode 1, whole (n, c) rows). */
static inline SS_HD float ss_dropout_elem(float src, uint64_t seed, uint32_t stream,
                                          uint64_t step, int chan, int64_t S, int64_t j,
                                          float p, float scale)
{
    uint64_t e = chan ? (uint64_t)(j / S) : (uint64_t)j;
    int keep = ss_rng_uniform(seed, stream, step, e) >= p;
    return src * (keep ? scale : 0.f);
}

/* The scale of kept values: 1/(1-p) rounded once to float (0 when p == 1). */
static inline SS_HD float ss_dropout_scale(float p)
{
    return p < 1 ? (float)(1.0 / (1.0 - (double)p)) : 0.f;
}

#endif
