/* Element-wise fast paths: ReLU, LeakyReLU and ADD / SUB / MUL of equal shapes, split
 * over threads in contiguous chunks. Results equal the reference bit for bit
 * (each output is one correctly rounded float operation there too). Stores
 * bypass the cache (streaming stores) when the output is 16-byte aligned and
 * large, since an activation written here is read again only after other
 * large tensors have passed through the cache. */
#include "cpu_fast.h"
#include "sse_select.h"

#include "../error.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#define STREAM_MIN (1 << 18) /* elements */

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

typedef enum { E_RELU, E_RELU_BWD, E_LEAKY, E_LEAKY_BWD, E_ADD, E_SUB, E_MUL, E_COPY, E_NEG } eop;

/* One vector of f(a, b); b points at the four b values (unused by unary ops). */
static inline __m128 vop(eop op, __m128 va, const float *b, __m128 vs)
{
    const __m128 z = _mm_setzero_ps();
    switch (op) {
    case E_RELU: return _mm_and_ps(va, _mm_cmpgt_ps(va, z));
    case E_RELU_BWD: return _mm_and_ps(_mm_loadu_ps(b), _mm_cmpgt_ps(va, z));
    case E_LEAKY: return ss_sse_select(_mm_cmpgt_ps(va, z), va, _mm_mul_ps(va, vs));
    case E_LEAKY_BWD: {
        __m128 g = _mm_loadu_ps(b);
        return ss_sse_select(_mm_cmpgt_ps(va, z), g, _mm_mul_ps(g, vs));
    }
    case E_ADD: return _mm_add_ps(va, _mm_loadu_ps(b));
    case E_SUB: return _mm_sub_ps(va, _mm_loadu_ps(b));
    case E_MUL: return _mm_mul_ps(va, _mm_loadu_ps(b));
    case E_COPY: return va;
    default: return _mm_sub_ps(z, va);
    }
}

/* y[i] = f(a[i], b[i]) over [lo, hi); s is LeakyReLU's slope. The vector loop
 * selects with masks rather than branches: the sign of an activation is close
 * to random, and a branch per element mispredicts half the time. */
static void run_range(eop op, const float *a, const float *b, float s, float *y, int64_t lo,
                      int64_t hi, int stream)
{
    int64_t i = lo;
    const __m128 vs = _mm_set1_ps(s);
    if (stream) {
        while (i < hi && !aligned16(y + i))
            i++;
        run_range(op, a, b, s, y, lo, i, 0);
        for (; i + 4 <= hi; i += 4)
            _mm_stream_ps(y + i, vop(op, _mm_loadu_ps(a + i), b + i, vs));
    } else {
        for (; i + 4 <= hi; i += 4)
            _mm_storeu_ps(y + i, vop(op, _mm_loadu_ps(a + i), b + i, vs));
    }
    for (; i < hi; i++) {
        float p = a[i];
        switch (op) {
        case E_RELU: y[i] = p > 0 ? p : 0.f; break;
        case E_RELU_BWD: y[i] = p > 0 ? b[i] : 0.f; break;
        case E_LEAKY: y[i] = p > 0 ? p : p * s; break;
        case E_LEAKY_BWD: y[i] = p > 0 ? b[i] : b[i] * s; break;
        case E_ADD: y[i] = p + b[i]; break;
        case E_SUB: y[i] = p - b[i]; break;
        case E_MUL: y[i] = p * b[i]; break;
        case E_COPY: y[i] = p; break;
        default: y[i] = -p; break;
        }
    }
}

static void run(eop op, const float *a, const float *b, float s, float *y, int64_t n)
{
    int stream = n >= STREAM_MIN;
    if (n < (1 << 15)) {
        run_range(op, a, b, s, y, 0, n, 0);
        return;
    }
#pragma omp parallel
    {
        int nt = 1, t = 0;
        nt = omp_get_num_threads();
        t = omp_get_thread_num();
        /* chunk boundaries on 16 floats so streamed lines are not shared */
        int64_t per = ((n + nt - 1) / nt + 15) & ~(int64_t)15;
        int64_t lo = per * t, hi = lo + per < n ? lo + per : n;
        if (lo < hi)
            run_range(op, a, b, s, y, lo, hi, stream);
    }
    if (stream)
        _mm_sfence();
}

int ss_cpu_relu_fwd(const ss_op_args *a)
{
    run(E_RELU, a->x[0], NULL, 0.f, a->y[0], ss_numel(&a->xs[0]));
    return SS_OK;
}

int ss_cpu_relu_bwd(const ss_op_args *a)
{
    if (!a->gy[0] || !a->gx[0])
        return ss_op_get(a->kind)->bwd(a);
    run(E_RELU_BWD, a->x[0], a->gy[0], 0.f, a->gx[0], ss_numel(&a->xs[0]));
    return SS_OK;
}

static int same_shapes(const ss_op_args *a)
{
    return ss_shape_eq(&a->xs[0], &a->xs[1]) && ss_shape_eq(&a->xs[0], &a->ys[0]);
}

int ss_cpu_binary_fwd(const ss_op_args *a)
{
    if (!same_shapes(a) || (a->kind != SS_OP_ADD && a->kind != SS_OP_SUB && a->kind != SS_OP_MUL))
        return ss_op_get(a->kind)->fwd(a);
    eop op = a->kind == SS_OP_ADD ? E_ADD : a->kind == SS_OP_SUB ? E_SUB : E_MUL;
    run(op, a->x[0], a->x[1], 0.f, a->y[0], ss_numel(&a->ys[0]));
    return SS_OK;
}

int ss_cpu_binary_bwd(const ss_op_args *a)
{
    if (!a->gy[0] || !same_shapes(a) ||
        (a->kind != SS_OP_ADD && a->kind != SS_OP_SUB && a->kind != SS_OP_MUL))
        return ss_op_get(a->kind)->bwd(a);
    int64_t n = ss_numel(&a->ys[0]);
    const float *g = a->gy[0];
    if (a->gx[0])
        run(a->kind == SS_OP_MUL ? E_MUL : E_COPY, g, a->x[1], 0.f, a->gx[0], n);
    if (a->gx[1]) {
        if (a->kind == SS_OP_MUL)
            run(E_MUL, g, a->x[0], 0.f, a->gx[1], n);
        else
            run(a->kind == SS_OP_ADD ? E_COPY : E_NEG, g, NULL, 0.f, a->gx[1], n);
    }
    return SS_OK;
}

int ss_cpu_leaky_relu_fwd(const ss_op_args *a)
{
    run(E_LEAKY, a->x[0], NULL, a->fp[0], a->y[0], ss_numel(&a->xs[0]));
    return SS_OK;
}

int ss_cpu_leaky_relu_bwd(const ss_op_args *a)
{
    if (!a->gy[0] || !a->gx[0])
        return ss_op_get(a->kind)->bwd(a);
    run(E_LEAKY_BWD, a->x[0], a->gy[0], a->fp[0], a->gx[0], ss_numel(&a->xs[0]));
    return SS_OK;
}
