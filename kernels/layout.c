/* CPU reference of the NCDHW <-> NDHWC conversions (see layout.h). */
#include "layout.h"

#include <stdint.h>

void ss_ncdhw_to_ndhwc(const float *src, float *dst, const ss_shape *s)
{
    const int64_t N = s->d[SS_N], C = s->d[SS_C], S = ss_spatial(s);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t v = 0; v < S; v++)
                dst[(n * S + v) * C + c] = src[(n * C + c) * S + v];
}

void ss_ndhwc_to_ncdhw(const float *src, float *dst, const ss_shape *s)
{
    const int64_t N = s->d[SS_N], C = s->d[SS_C], S = ss_spatial(s);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t v = 0; v < S; v++)
                dst[(n * C + c) * S + v] = src[(n * S + v) * C + c];
}
