/* SUM and MEAN over the dims chosen by the axis mask ip[0] (bit i = reduce
 * dim i of N,C,D,H,W; 31 = all, 0 = an identity copy). Reduced dims are kept
 * with size 1. Sums accumulate in double; MEAN divides by the number of
 * elements summed into each output. Backward broadcasts gy (times 1/count for
 * MEAN) back over the reduced box. */
#include "../error.h"
#include "../op.h"

#include <stdint.h>

#define RED_PAR_MIN 32768

static int red_infer(const char *name, const int *ip, int n_in, const ss_shape *in, int *n_out,
                     ss_shape *out)
{
    if (n_in != 1)
        return ss_op_err(name, n_in < 0 ? 0 : n_in > SS_MAX_IN ? SS_MAX_IN : n_in, in,
                         "expected 1 input, got %d", n_in);
    if (!ss_shape_valid(&in[0]))
        return ss_op_err(name, n_in, in, "every dim must be >= 1");
    const int mask = ip[0];
    if (mask < 0 || mask > 31)
        return ss_op_err(name, n_in, in, "axis mask must be in 0..31 (bit i = dim i), got %d",
                         mask);
    out[0] = in[0];
    for (int i = 0; i < SS_NDIM; i++)
        if ((mask >> i) & 1)
            out[0].d[i] = 1;
    *n_out = 1;
    return SS_OK;
}

static int sum_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                     ss_shape *out)
{
    (void)fp;
    return red_infer("sum", ip, n_in, in, n_out, out);
}

static int mean_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                      ss_shape *out)
{
    (void)fp;
    return red_infer("mean", ip, n_in, in, n_out, out);
}

/* Row-major strides of s. */
static void strides(const ss_shape *s, int64_t st[SS_NDIM])
{
    st[SS_NDIM - 1] = 1;
    for (int i = SS_NDIM - 2; i >= 0; i--)
        st[i] = st[i + 1] * s->d[i + 1];
}

/* Input elements summed into each output. */
static int64_t red_count(const ss_op_args *a)
{
    return ss_numel(&a->xs[0]) / ss_numel(&a->ys[0]);
}

/* For output element j: its box in the input, [lo, hi) per dim. */
static void out_box(const ss_shape *xs, const ss_shape *ys, int64_t j, int lo[SS_NDIM],
                    int hi[SS_NDIM])
{
    for (int i = SS_NDIM - 1; i >= 0; i--) {
        int ci = (int)(j % ys->d[i]);
        j /= ys->d[i];
        /* a reduced dim has output size 1 and spans the whole input dim */
        lo[i] = ys->d[i] == xs->d[i] ? ci : 0;
        hi[i] = ys->d[i] == xs->d[i] ? ci + 1 : xs->d[i];
    }
}

static int red_fwd(const ss_op_args *a)
{
    const ss_shape *xs = &a->xs[0], *ys = &a->ys[0];
    int64_t st[SS_NDIM];
    strides(xs, st);
    const int64_t ny = ss_numel(ys);
    const double inv = a->kind == SS_OP_MEAN ? 1.0 / (double)red_count(a) : 1.0;
    const float *x = a->x[0];
    float *y = a->y[0];
#pragma omp parallel for schedule(static) if (ny > 64 && ss_numel(xs) > RED_PAR_MIN)
    for (int64_t j = 0; j < ny; j++) {
        int lo[SS_NDIM], hi[SS_NDIM];
        out_box(xs, ys, j, lo, hi);
        double s = 0;
        for (int n = lo[0]; n < hi[0]; n++)
            for (int c = lo[1]; c < hi[1]; c++)
                for (int d = lo[2]; d < hi[2]; d++)
                    for (int h = lo[3]; h < hi[3]; h++) {
                        const float *p = x + n * st[0] + c * st[1] + d * st[2] + h * st[3];
                        for (int w = lo[4]; w < hi[4]; w++)
                            s += p[w];
                    }
        y[j] = (float)(s * inv);
    }
    return SS_OK;
}

static int red_bwd(const ss_op_args *a)
{
    float *gx = a->gx[0];
    if (!gx)
        return SS_OK;
    const ss_shape *xs = &a->xs[0], *ys = &a->ys[0];
    int64_t st[SS_NDIM];
    strides(ys, st);
    for (int i = 0; i < SS_NDIM; i++)
        if (ys->d[i] != xs->d[i])
            st[i] = 0; /* every position along a reduced dim reads the one output */
    const double inv = a->kind == SS_OP_MEAN ? 1.0 / (double)red_count(a) : 1.0;
    const float *g = a->gy[0];
    const int *d5 = xs->d;
    const int64_t inner = (int64_t)d5[2] * d5[3] * d5[4];
#pragma omp parallel for collapse(2) schedule(static) if (ss_numel(xs) > RED_PAR_MIN)
    for (int n = 0; n < d5[0]; n++)
        for (int c = 0; c < d5[1]; c++) {
            float *p = gx + ((int64_t)n * d5[1] + c) * inner;
            for (int d = 0; d < d5[2]; d++)
                for (int h = 0; h < d5[3]; h++) {
                    int64_t base = n * st[0] + c * st[1] + d * st[2] + h * st[3];
                    for (int w = 0; w < d5[4]; w++)
                        *p++ = (float)(g[base + w * st[4]] * inv);
                }
        }
    return SS_OK;
}

/* SUM: one add per input element; MEAN adds one divide per output. */
static double red_flops(const ss_op_args *a)
{
    double f = (double)ss_numel(&a->xs[0]);
    return a->kind == SS_OP_MEAN ? f + (double)ss_numel(&a->ys[0]) : f;
}

#define RED_DESC(op)                                                                           \
    const ss_op_desc ss_desc_##op = {                                                          \
        .name = #op,                                                                           \
        .min_in = 1,                                                                           \
        .max_in = 1,                                                                           \
        .infer = op##_infer,                                                                   \
        .fwd = red_fwd,                                                                        \
        .bwd = red_bwd,                                                                        \
        .flops = red_flops,                                                                    \
        .bytes = ss_op_bytes_default,                                                          \
        .diff_mask = 1u,                                                                       \
    };
RED_DESC(sum)
RED_DESC(mean)
