/* Element-wise binary ops ADD, SUB, MUL, DIV with numpy-style broadcasting:
 * in every one of the 5 dims the two sizes are equal or one of them is 1; the
 * output takes the larger size. The backward of each input sums the output
 * gradient over the dims where that input was broadcast.
 *
 * Division follows IEEE 754 and is not an error: x/0 gives +-inf, 0/0 gives
 * NaN (forward and backward alike), as PyTorch does. Callers that can divide
 * by zero add their own epsilon. */
#include "../cpu/cpu_fast.h"
#include "../error.h"
#include "../op.h"

#include <stdint.h>

/* Elements above which the loops go parallel (each output is independent, so
 * results are the same for any thread count). */
#define BIN_PAR_MIN 32768

static int bin_infer(const char *name, int n_in, const ss_shape *in, int *n_out, ss_shape *out)
{
    if (n_in != 2)
        return ss_op_err(name, n_in < 0 ? 0 : n_in > SS_MAX_IN ? SS_MAX_IN : n_in, in,
                         "expected 2 inputs, got %d", n_in);
    if (!ss_shape_valid(&in[0]) || !ss_shape_valid(&in[1]))
        return ss_op_err(name, n_in, in, "every dim must be >= 1");
    for (int i = 0; i < SS_NDIM; i++) {
        int p = in[0].d[i], q = in[1].d[i];
        if (p != q && p != 1 && q != 1)
            return ss_op_err(name, n_in, in,
                             "shapes do not broadcast in dim %d (%d vs %d; sizes must be equal "
                             "or one of them 1)",
                             i, p, q);
        out[0].d[i] = p > q ? p : q;
    }
    *n_out = 1;
    return SS_OK;
}

#define BIN_INFER(op)                                                                          \
    static int op##_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,        \
                          int *n_out, ss_shape *out)                                           \
    {                                                                                          \
        (void)ip;                                                                              \
        (void)fp;                                                                              \
        return bin_infer(#op, n_in, in, n_out, out);                                           \
    }
BIN_INFER(add)
BIN_INFER(sub)
BIN_INFER(mul)
BIN_INFER(div)

/* Strides of s read at output coordinates: 0 in a broadcast (size-1) dim. */
static void bstrides(const ss_shape *s, int64_t st[SS_NDIM])
{
    int64_t acc = 1;
    for (int i = SS_NDIM - 1; i >= 0; i--) {
        st[i] = s->d[i] == 1 ? 0 : acc;
        acc *= s->d[i];
    }
}

static inline float bin_apply(int kind, float p, float q)
{
    switch (kind) {
    case SS_OP_ADD: return p + q;
    case SS_OP_SUB: return p - q;
    case SS_OP_MUL: return p * q;
    default: return p / q;
    }
}

static int bin_fwd(const ss_op_args *a)
{
    const int *o = a->ys[0].d;
    int64_t sa[SS_NDIM], sb[SS_NDIM];
    bstrides(&a->xs[0], sa);
    bstrides(&a->xs[1], sb);
    const float *A = a->x[0], *B = a->x[1];
    float *Y = a->y[0];
    const int kind = a->kind;
    const int64_t inner = (int64_t)o[2] * o[3] * o[4];
#pragma omp parallel for collapse(2) schedule(static) if (ss_numel(&a->ys[0]) > BIN_PAR_MIN)
    for (int n = 0; n < o[0]; n++)
        for (int c = 0; c < o[1]; c++) {
            float *yp = Y + ((int64_t)n * o[1] + c) * inner;
            int64_t ia0 = n * sa[0] + c * sa[1], ib0 = n * sb[0] + c * sb[1];
            for (int d = 0; d < o[2]; d++)
                for (int h = 0; h < o[3]; h++) {
                    int64_t ia = ia0 + d * sa[2] + h * sa[3], ib = ib0 + d * sb[2] + h * sb[3];
                    for (int w = 0; w < o[4]; w++)
                        *yp++ = bin_apply(kind, A[ia + w * sa[4]], B[ib + w * sb[4]]);
                }
        }
    return SS_OK;
}

/* d y / d input `which`, times g, at one output element (p = a, q = b). */
static inline double bin_dterm(int kind, int which, double g, double p, double q)
{
    switch (kind) {
    case SS_OP_ADD: return g;
    case SS_OP_SUB: return which ? -g : g;
    case SS_OP_MUL: return which ? g * p : g * q;
    default: return which ? -g * p / (q * q) : g / q;
    }
}

/* gx of input `which`: for each of its elements, the sum (in double) over
 * the box of output elements that read it. */
static void bin_bwd_input(const ss_op_args *a, int which, float *gx)
{
    const ss_shape *is = &a->xs[which];
    const int *o = a->ys[0].d;
    int64_t sa[SS_NDIM], sb[SS_NDIM], so[SS_NDIM];
    bstrides(&a->xs[0], sa);
    bstrides(&a->xs[1], sb);
    so[SS_NDIM - 1] = 1;
    for (int i = SS_NDIM - 2; i >= 0; i--)
        so[i] = so[i + 1] * o[i + 1];
    const float *A = a->x[0], *B = a->x[1], *G = a->gy[0];
    const int kind = a->kind;
    const int64_t n_in = ss_numel(is);
#pragma omp parallel for schedule(static) if (n_in > BIN_PAR_MIN)
    for (int64_t j = 0; j < n_in; j++) {
        int lo[SS_NDIM], hi[SS_NDIM];
        int64_t r = j;
        for (int i = SS_NDIM - 1; i >= 0; i--) {
            int ci = (int)(r % is->d[i]);
            r /= is->d[i];
            /* a dim of size 1 facing a larger output dim was broadcast */
            lo[i] = is->d[i] == o[i] ? ci : 0;
            hi[i] = is->d[i] == o[i] ? ci + 1 : o[i];
        }
        double s = 0;
        for (int n = lo[0]; n < hi[0]; n++)
            for (int c = lo[1]; c < hi[1]; c++)
                for (int d = lo[2]; d < hi[2]; d++)
                    for (int h = lo[3]; h < hi[3]; h++)
                        for (int w = lo[4]; w < hi[4]; w++) {
                            int64_t io = n * so[0] + c * so[1] + d * so[2] + h * so[3] + w;
                            int64_t ia = n * sa[0] + c * sa[1] + d * sa[2] + h * sa[3] + w * sa[4];
                            int64_t ib = n * sb[0] + c * sb[1] + d * sb[2] + h * sb[3] + w * sb[4];
                            s += bin_dterm(kind, which, G[io], A[ia], B[ib]);
                        }
        gx[j] = (float)s;
    }
}

static int bin_bwd(const ss_op_args *a)
{
    for (int k = 0; k < 2; k++)
        if (a->gx[k])
            bin_bwd_input(a, k, a->gx[k]);
    return SS_OK;
}

/* One FLOP per output element. */
static double bin_flops(const ss_op_args *a) { return (double)ss_numel(&a->ys[0]); }

#define BIN_DESC(op)                                                                           \
    const ss_op_desc ss_desc_##op = {                                                          \
        .name = #op,                                                                           \
        .min_in = 2,                                                                           \
        .max_in = 2,                                                                           \
        .infer = op##_infer,                                                                   \
        .fwd = bin_fwd,                                                                        \
        .bwd = bin_bwd,                                                                        \
        .fwd_fast = ss_cpu_binary_fwd,                                                         \
        .bwd_fast = ss_cpu_binary_bwd,                                                         \
        .flops = bin_flops,                                                                    \
        .bytes = ss_op_bytes_default,                                                          \
        .diff_mask = 3u,                                                                       \
    };
BIN_DESC(add)
BIN_DESC(sub)
BIN_DESC(mul)
BIN_DESC(div)
