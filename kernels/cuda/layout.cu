/* Device NCDHW <-> NDHWC conversions (twins of kernels/layout.c), callable
 * from C with device pointers; they run on the backend's stream. */
#include "cu_common.h"

extern "C" {
#include "../layout.h"
#include "layout_cuda.h"
}

/* One thread per destination element; to_last selects the direction. */
__global__ void k_layout(const float *src, float *dst, int64_t N, int64_t C, int64_t S,
                         int to_last)
{
    int64_t n_all = N * C * S;
    CU_FOR(i, n_all)
    {
        if (to_last) { /* i = (n*S + v)*C + c */
            int64_t c = i % C, v = (i / C) % S, n = i / (C * S);
            dst[i] = src[(n * C + c) * S + v];
        } else { /* i = (n*C + c)*S + v */
            int64_t v = i % S, c = (i / S) % C, n = i / (C * S);
            dst[i] = src[(n * S + v) * C + c];
        }
    }
}

static int run(const float *src, float *dst, const ss_shape *s, int to_last)
{
    int64_t N = s->d[SS_N], C = s->d[SS_C], S = ss_spatial(s);
    k_layout<<<cu_blocks(N * C * S), CU_THREADS, 0, cu_stream()>>>(src, dst, N, C, S, to_last);
    CU_LAUNCHED("k_layout");
    return SS_OK;
}

extern "C" int ss_cuda_ncdhw_to_ndhwc(const float *src, float *dst, const ss_shape *s)
{
    return run(src, dst, s, 1);
}

extern "C" int ss_cuda_ndhwc_to_ncdhw(const float *src, float *dst, const ss_shape *s)
{
    return run(src, dst, s, 0);
}
