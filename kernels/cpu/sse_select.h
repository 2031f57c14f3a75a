/* m ? t : f per float lane of SSE registers (each lane of m all ones or all
 * zeros, as a comparison gives): the branch-free select of the element-wise,
 * pooling and batch-norm fast paths. */
#ifndef SS_CPU_SSE_SELECT_H
#define SS_CPU_SSE_SELECT_H

#include <emmintrin.h>

static inline __m128 ss_sse_select(__m128 m, __m128 t, __m128 f)
{
    return _mm_or_ps(_mm_and_ps(m, t), _mm_andnot_ps(m, f));
}

#endif
