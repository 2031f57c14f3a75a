/* Softmax and log-softmax over the channel dim (1) for every (n, voxel),
 * numerically stable: the channel maximum is subtracted before exp, and sums
 * are accumulated in double. */
#include "../error.h"
#include "../op.h"

#include <math.h>
#include <string.h>

static int sm_check(const char *op, int n_in, const ss_shape *in, int *n_out, ss_shape *out)
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

static int softmax_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                         int *n_out, ss_shape *out)
{
    (void)ip;
    (void)fp;
    return sm_check("softmax", n_in, in, n_out, out);
}

static int log_softmax_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                             int *n_out, ss_shape *out)
{
    (void)ip;
    (void)fp;
    return sm_check("log_softmax", n_in, in, n_out, out);
}

/* One pass over every (n, voxel) column of C values spaced S apart.
 * y_c = exp(x_c - m) / sum (softmax) or x_c - m - log(sum) (log-softmax). */
static void sm_forward(const ss_op_args *a, int logsm)
{
    int nb = a->xs[0].d[SS_N], nc = a->xs[0].d[SS_C];
    int64_t s = ss_spatial(&a->xs[0]);
    const float *x = a->x[0];
    float *y = a->y[0];
#pragma omp parallel for schedule(static)
    for (int64_t col = 0; col < (int64_t)nb * s; col++) {
        int64_t base = (col / s) * nc * s + col % s;
        double m = x[base];
        for (int c = 1; c < nc; c++)
            if (x[base + c * s] > m)
                m = x[base + c * s];
        double sum = 0;
        for (int c = 0; c < nc; c++)
            sum += exp(x[base + c * s] - m);
        double lse = log(sum);
        for (int c = 0; c < nc; c++) {
            double z = x[base + c * s] - m;
            y[base + c * s] = (float)(logsm ? z - lse : exp(z) / sum);
        }
    }
}

/* softmax: dx = y * (dy - sum dy*y); log-softmax: dx = dy - exp(y) * sum dy. */
static int sm_backward(const ss_op_args *a, int logsm)
{
    if (!a->gx[0])
        return SS_OK;
    if (!a->gy[0]) {
        memset(a->gx[0], 0, (size_t)ss_numel(&a->xs[0]) * sizeof(float));
        return SS_OK;
    }
    int nb = a->xs[0].d[SS_N], nc = a->xs[0].d[SS_C];
    int64_t s = ss_spatial(&a->xs[0]);
    const float *y = a->y[0], *dy = a->gy[0];
    float *dx = a->gx[0];
#pragma omp parallel for schedule(static)
    for (int64_t col = 0; col < (int64_t)nb * s; col++) {
        int64_t base = (col / s) * nc * s + col % s;
        double t = 0;
        for (int c = 0; c < nc; c++)
            t += logsm ? (double)dy[base + c * s] : (double)dy[base + c * s] * y[base + c * s];
        for (int c = 0; c < nc; c++) {
            int64_t i = base + c * s;
            dx[i] = (float)(logsm ? dy[i] - exp((double)y[i]) * t : y[i] * (dy[i] - t));
        }
    }
    return SS_OK;
}

static int softmax_fwd(const ss_op_args *a)
{
    sm_forward(a, 0);
    return SS_OK;
}
static int log_softmax_fwd(const ss_op_args *a)
{
    sm_forward(a, 1);
    return SS_OK;
}
static int softmax_bwd(const ss_op_args *a) { return sm_backward(a, 0); }
static int log_softmax_bwd(const ss_op_args *a) { return sm_backward(a, 1); }

/* FLOPs per element: max compare, subtract, exp, accumulate, divide (or the
 * final subtract) = 5. */
static double sm_flops(const ss_op_args *a) { return 5.0 * (double)ss_numel(&a->xs[0]); }

const ss_op_desc ss_desc_softmax = {
    .name = "softmax",
    .min_in = 1,
    .max_in = 1,
    .infer = softmax_infer,
    .fwd = softmax_fwd,
    .bwd = softmax_bwd,
    .flops = sm_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x1,
};

const ss_op_desc ss_desc_log_softmax = {
    .name = "log_softmax",
    .min_in = 1,
    .max_in = 1,
    .infer = log_softmax_infer,
    .fwd = log_softmax_fwd,
    .bwd = log_softmax_bwd,
    .flops = sm_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x1,
};
