/* Elementwise activations: ReLU, LeakyReLU, PReLU (one slope or one per
 * channel), sigmoid and tanh, with PyTorch's gradients (at x == 0 ReLU-type
 * ops take the negative-side branch). */
#include "../cpu/cpu_fast.h"
#include "../error.h"
#include "../op.h"

#include <math.h>
#include <string.h>

/* ---- shape rules --------------------------------------------------------- */

static int unary_check(const char *op, int n_in, const ss_shape *in, int *n_out,
                       ss_shape *out)
{
    if (n_in != 1)
        return ss_op_err(op, n_in < 0 || n_in > SS_MAX_IN ? 0 : n_in, in,
                         "expects 1 input, got %d", n_in);
    if (!ss_shape_valid(&in[0]))
        return ss_op_err(op, n_in, in, "x must have every dim >= 1");
    *n_out = 1;
    out[0] = in[0];
    return SS_OK;
}

static int relu_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                      ss_shape *out)
{
    (void)ip;
    (void)fp;
    return unary_check("relu", n_in, in, n_out, out);
}

static int sigmoid_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                         int *n_out, ss_shape *out)
{
    (void)ip;
    (void)fp;
    return unary_check("sigmoid", n_in, in, n_out, out);
}

static int tanh_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                      ss_shape *out)
{
    (void)ip;
    (void)fp;
    return unary_check("tanh", n_in, in, n_out, out);
}

static int leaky_relu_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                            int *n_out, ss_shape *out)
{
    (void)ip;
    if (unary_check("leaky_relu", n_in, in, n_out, out) != SS_OK)
        return SS_ERR;
    if (!isfinite(fp[0]))
        return ss_op_err("leaky_relu", n_in, in, "slope fp[0] must be finite, got %g",
                         (double)fp[0]);
    return SS_OK;
}

static int prelu_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                       ss_shape *out)
{
    (void)ip;
    (void)fp;
    const char *op = "prelu";
    if (n_in != 2)
        return ss_op_err(op, n_in < 0 || n_in > SS_MAX_IN ? 0 : n_in, in,
                         "expects 2 inputs (x, a), got %d", n_in);
    if (!ss_shape_valid(&in[0]))
        return ss_op_err(op, n_in, in, "x must have every dim >= 1");
    ss_shape one = ss_shape5(1, 1, 1, 1, 1), perc = ss_shape5(in[0].d[SS_C], 1, 1, 1, 1);
    if (!ss_shape_eq(&in[1], &one) && !ss_shape_eq(&in[1], &perc))
        return ss_op_err(op, n_in, in, "a must be (1,1,1,1,1) or %s", ss_shape_str(&perc));
    *n_out = 1;
    out[0] = in[0];
    return SS_OK;
}

/* ---- kernels ------------------------------------------------------------- */

static int relu_fwd(const ss_op_args *a)
{
    int64_t n = ss_numel(&a->xs[0]);
    const float *x = a->x[0];
    float *y = a->y[0];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0.f;
    return SS_OK;
}

/* Writes zeros into every requested gradient (used when gy[0] is NULL). */
static int zero_grads(const ss_op_args *a)
{
    for (int i = 0; i < a->n_in; i++)
        if (a->gx[i])
            memset(a->gx[i], 0, (size_t)ss_numel(&a->xs[i]) * sizeof(float));
    return SS_OK;
}

static int relu_bwd(const ss_op_args *a)
{
    if (!a->gy[0])
        return zero_grads(a);
    if (!a->gx[0])
        return SS_OK;
    int64_t n = ss_numel(&a->xs[0]);
    const float *x = a->x[0], *dy = a->gy[0];
    float *dx = a->gx[0];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] > 0 ? dy[i] : 0.f;
    return SS_OK;
}

static int leaky_relu_fwd(const ss_op_args *a)
{
    int64_t n = ss_numel(&a->xs[0]);
    const float *x = a->x[0];
    float *y = a->y[0], s = a->fp[0];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : x[i] * s;
    return SS_OK;
}

static int leaky_relu_bwd(const ss_op_args *a)
{
    if (!a->gy[0])
        return zero_grads(a);
    if (!a->gx[0])
        return SS_OK;
    int64_t n = ss_numel(&a->xs[0]);
    const float *x = a->x[0], *dy = a->gy[0];
    float *dx = a->gx[0], s = a->fp[0];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] > 0 ? dy[i] : dy[i] * s;
    return SS_OK;
}

/* PReLU: y = x for x > 0, a_c * x otherwise; a has 1 or C entries. */
static int prelu_fwd(const ss_op_args *a)
{
    int nb = a->xs[0].d[SS_N], nc = a->xs[0].d[SS_C];
    int64_t s = ss_spatial(&a->xs[0]);
    int per_c = a->xs[1].d[SS_N] == nc; /* else one shared slope */
    const float *x = a->x[0], *w = a->x[1];
    float *y = a->y[0];
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < (int64_t)nb * nc; r++) {
        float sl = w[per_c ? r % nc : 0];
        for (int64_t j = r * s; j < (r + 1) * s; j++)
            y[j] = x[j] > 0 ? x[j] : x[j] * sl;
    }
    return SS_OK;
}

/* dx = dy (x > 0) or a*dy; da = sum over x <= 0 of dy*x (per channel, or all). */
static int prelu_bwd(const ss_op_args *a)
{
    if (!a->gy[0])
        return zero_grads(a);
    int nb = a->xs[0].d[SS_N], nc = a->xs[0].d[SS_C];
    int64_t s = ss_spatial(&a->xs[0]);
    int per_c = a->xs[1].d[SS_N] == nc; /* else one shared slope */
    const float *x = a->x[0], *w = a->x[1], *dy = a->gy[0];
    float *dx = a->gx[0], *da = a->gx[1];
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < (int64_t)nb * nc; r++) {
            float sl = w[per_c ? r % nc : 0];
            for (int64_t j = r * s; j < (r + 1) * s; j++)
                dx[j] = x[j] > 0 ? dy[j] : dy[j] * sl;
        }
    }
    if (da) {
        double all = 0;
        for (int c = 0; c < nc; c++) {
            double acc = 0;
            for (int i = 0; i < nb; i++) {
                int64_t off = ((int64_t)i * nc + c) * s;
                for (int64_t j = off; j < off + s; j++)
                    if (!(x[j] > 0))
                        acc += (double)dy[j] * x[j];
            }
            if (per_c)
                da[c] = (float)acc;
            all += acc;
        }
        if (!per_c)
            da[0] = (float)all;
    }
    return SS_OK;
}

/* sigmoid without overflow: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) otherwise. */
static int sigmoid_fwd(const ss_op_args *a)
{
    int64_t n = ss_numel(&a->xs[0]);
    const float *x = a->x[0];
    float *y = a->y[0];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        if (v >= 0) {
            y[i] = (float)(1.0 / (1.0 + exp(-v)));
        } else {
            double e = exp(v);
            y[i] = (float)(e / (1.0 + e));
        }
    }
    return SS_OK;
}

/* dx = dy * y * (1 - y) from the forward output. */
static int sigmoid_bwd(const ss_op_args *a)
{
    if (!a->gy[0])
        return zero_grads(a);
    if (!a->gx[0])
        return SS_OK;
    int64_t n = ss_numel(&a->xs[0]);
    const float *y = a->y[0], *dy = a->gy[0];
    float *dx = a->gx[0];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        dx[i] = (float)((double)dy[i] * y[i] * (1.0 - y[i]));
    return SS_OK;
}

static int tanh_fwd(const ss_op_args *a)
{
    int64_t n = ss_numel(&a->xs[0]);
    const float *x = a->x[0];
    float *y = a->y[0];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)tanh((double)x[i]);
    return SS_OK;
}

/* dx = dy * (1 - y^2) from the forward output. */
static int tanh_bwd(const ss_op_args *a)
{
    if (!a->gy[0])
        return zero_grads(a);
    if (!a->gx[0])
        return SS_OK;
    int64_t n = ss_numel(&a->xs[0]);
    const float *y = a->y[0], *dy = a->gy[0];
    float *dx = a->gx[0];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        dx[i] = (float)((double)dy[i] * (1.0 - (double)y[i] * y[i]));
    return SS_OK;
}

/* ---- counts: FLOPs per element (compare 1; a multiply 1; sigmoid: negate,
 * exp, add, divide = 4; tanh counted as 4 as well) ------------------------- */

static double flops1(const ss_op_args *a) { return (double)ss_numel(&a->xs[0]); }
static double flops2(const ss_op_args *a) { return 2.0 * (double)ss_numel(&a->xs[0]); }
static double flops4(const ss_op_args *a) { return 4.0 * (double)ss_numel(&a->xs[0]); }

const ss_op_desc ss_desc_relu = {
    .name = "relu",
    .min_in = 1,
    .max_in = 1,
    .infer = relu_infer,
    .fwd = relu_fwd,
    .bwd = relu_bwd,
    .fwd_fast = ss_cpu_relu_fwd,
    .bwd_fast = ss_cpu_relu_bwd,
    .flops = flops1,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x1,
};

const ss_op_desc ss_desc_leaky_relu = {
    .name = "leaky_relu",
    .min_in = 1,
    .max_in = 1,
    .infer = leaky_relu_infer,
    .fwd = leaky_relu_fwd,
    .bwd = leaky_relu_bwd,
    .fwd_fast = ss_cpu_leaky_relu_fwd,
    .bwd_fast = ss_cpu_leaky_relu_bwd,
    .flops = flops2,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x1,
};

const ss_op_desc ss_desc_prelu = {
    .name = "prelu",
    .min_in = 2,
    .max_in = 2,
    .infer = prelu_infer,
    .fwd = prelu_fwd,
    .bwd = prelu_bwd,
    .flops = flops2,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x3,
};

const ss_op_desc ss_desc_sigmoid = {
    .name = "sigmoid",
    .min_in = 1,
    .max_in = 1,
    .infer = sigmoid_infer,
    .fwd = sigmoid_fwd,
    .bwd = sigmoid_bwd,
    .flops = flops4,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x1,
};

const ss_op_desc ss_desc_tanh = {
    .name = "tanh",
    .min_in = 1,
    .max_in = 1,
    .infer = tanh_infer,
    .fwd = tanh_fwd,
    .bwd = tanh_bwd,
    .flops = flops4,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x1,
};
