/* Element-wise fast paths: ReLU and ADD / SUB / MUL of equal shapes, split
 * over threads in contiguous chunks. Results equal the reference bit for bit
 * (each output is one correctly rounded float operation there too). Stores
 * bypass the cache (streaming stores) when the output is 16-byte aligned and
 * large, since an activation written here is read again only after other
 * large tensors have passed through the cache. */
#include "cpu_fast.h"

#include "../error.h"

#include <emmintrin.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#define STREAM_MIN (1 << 18) /* elements */

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

typedef enum { E_RELU, E_RELU_BWD, E_ADD, E_SUB, E_MUL, E_COPY, E_NEG } eop;

/* y[i] = f(a[i], b[i]) over [lo, hi). */
static void run_range(eop op, const float *a, const float *b, float *y, int64_t lo, int64_t hi,
                      int stream)
{
    int64_t i = lo;
    if (stream) {
        while (i < hi && !aligned16(y + i))
            i++;
        int64_t head_end = i;
        run_range(op, a, b, y, lo, head_end, 0);
        const __m128 z = _mm_setzero_ps();
        for (; i + 4 <= hi; i += 4) {
            __m128 va = _mm_loadu_ps(a + i), r;
            switch (op) {
            case E_RELU: r = _mm_and_ps(va, _mm_cmpgt_ps(va, z)); break;
            case E_RELU_BWD: r = _mm_and_ps(_mm_loadu_ps(b + i), _mm_cmpgt_ps(va, z)); break;
            case E_ADD: r = _mm_add_ps(va, _mm_loadu_ps(b + i)); break;
            case E_SUB: r = _mm_sub_ps(va, _mm_loadu_ps(b + i)); break;
            case E_MUL: r = _mm_mul_ps(va, _mm_loadu_ps(b + i)); break;
            case E_COPY: r = va; break;
            default: r = _mm_sub_ps(z, va); break;
            }
            _mm_stream_ps(y + i, r);
        }
        lo = i;
    }
    for (i = lo; i < hi; i++) {
        float p = a[i];
        switch (op) {
        case E_RELU: y[i] = p > 0 ? p : 0.f; break;
        case E_RELU_BWD: y[i] = p > 0 ? b[i] : 0.f; break;
        case E_ADD: y[i] = p + b[i]; break;
        case E_SUB: y[i] = p - b[i]; break;
        case E_MUL: y[i] = p * b[i]; break;
        case E_COPY: y[i] = p; break;
        default: y[i] = -p; break;
        }
    }
}

static void run(eop op, const float *a, const float *b, float *y, int64_t n)
{
    int stream = n >= STREAM_MIN;
    if (n < (1 << 15)) {
        run_range(op, a, b, y, 0, n, 0);
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
            run_range(op, a, b, y, lo, hi, stream);
    }
    if (stream)
        _mm_sfence();
}

int ss_cpu_relu_fwd(const ss_op_args *a)
{
    run(E_RELU, a->x[0], NULL, a->y[0], ss_numel(&a->xs[0]));
    return SS_OK;
}

int ss_cpu_relu_bwd(const ss_op_args *a)
{
    if (!a->gy[0] || !a->gx[0])
        return ss_op_get(a->kind)->bwd(a);
    run(E_RELU_BWD, a->x[0], a->gy[0], a->gx[0], ss_numel(&a->xs[0]));
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
    run(op, a->x[0], a->x[1], a->y[0], ss_numel(&a->ys[0]));
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
        run(a->kind == SS_OP_MUL ? E_MUL : E_COPY, g, a->x[1], a->gx[0], n);
    if (a->gx[1]) {
        if (a->kind == SS_OP_MUL)
            run(E_MUL, g, a->x[0], a->gx[1], n);
        else
            run(a->kind == SS_OP_ADD ? E_COPY : E_NEG, g, NULL, a->gx[1], n);
    }
    return SS_OK;
}

int ss_cpu_leaky_relu_fwd(const ss_op_args *a)
{
    int64_t n = ss_numel(&a->xs[0]);
    const float *x = a->x[0];
    float *y = a->y[0];
    const float s = a->fp[0];
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : x[i] * s;
    return SS_OK;
}

int ss_cpu_leaky_relu_bwd(const ss_op_args *a)
{
    if (!a->gy[0] || !a->gx[0])
        return ss_op_get(a->kind)->bwd(a);
    int64_t n = ss_numel(&a->xs[0]);
    const float *x = a->x[0], *dy = a->gy[0];
    float *dx = a->gx[0];
    const float s = a->fp[0];
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] > 0 ? dy[i] : dy[i] * s;
    return SS_OK;
}
