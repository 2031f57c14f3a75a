/* Element-wise unary ops; the output has the input's shape.
 *   SCALE  y = s*x + fp[1], s = ss_op_args.dyn when dyn_used, else fp[0]
 *   POW    y = x^e, e = fp[0]; dy/dx = e*x^(e-1) (0 when e == 0)
 *   EXP    y = exp(x)
 *   LOG    y = log(x)
 *   CLAMP  y = min(max(x, lo), hi), lo = fp[0] <= hi = fp[1] (either may be
 *          infinite); the gradient passes where lo <= x <= hi (PyTorch's rule,
 *          so a value sitting exactly on a bound keeps its gradient), else 0.
 * Out-of-domain inputs follow IEEE 754 and C's libm, not errors: log(0) = -inf,
 * log(x<0) = NaN, a negative base with a non-integer exponent gives NaN, and
 * NaN inputs propagate (CLAMP included). Math runs in double, rounded once.
 * Every backward reads only x and gy (never y). */
#include "../error.h"
#include "../op.h"

#include <math.h>
#include <stdint.h>

#define UN_PAR_MIN 32768

static int un_check(const char *name, int n_in, const ss_shape *in, int *n_out, ss_shape *out)
{
    if (n_in != 1)
        return ss_op_err(name, n_in < 0 ? 0 : n_in > SS_MAX_IN ? SS_MAX_IN : n_in, in,
                         "expected 1 input, got %d", n_in);
    if (!ss_shape_valid(&in[0]))
        return ss_op_err(name, n_in, in, "every dim must be >= 1");
    out[0] = in[0];
    *n_out = 1;
    return SS_OK;
}

static int scale_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                       ss_shape *out)
{
    (void)ip;
    (void)fp;
    return un_check("scale", n_in, in, n_out, out);
}

static int pow_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                     ss_shape *out)
{
    (void)ip;
    if (un_check("pow", n_in, in, n_out, out) != SS_OK)
        return SS_ERR;
    if (!isfinite(fp[0]))
        return ss_op_err("pow", n_in, in, "exponent must be finite, got %g", (double)fp[0]);
    return SS_OK;
}

static int exp_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                     ss_shape *out)
{
    (void)ip;
    (void)fp;
    return un_check("exp", n_in, in, n_out, out);
}

static int log_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                     ss_shape *out)
{
    (void)ip;
    (void)fp;
    return un_check("log", n_in, in, n_out, out);
}

static int clamp_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                       ss_shape *out)
{
    (void)ip;
    if (un_check("clamp", n_in, in, n_out, out) != SS_OK)
        return SS_ERR;
    if (!(fp[0] <= fp[1])) /* also rejects NaN bounds */
        return ss_op_err("clamp", n_in, in, "needs lo <= hi, got lo %g hi %g", (double)fp[0],
                         (double)fp[1]);
    return SS_OK;
}

static inline double scale_of(const ss_op_args *a) { return a->dyn_used ? a->dyn : a->fp[0]; }

/* y[i] = f(x[i]) for one kind; the switch is per element but predictable. */
static inline float un_apply(const ss_op_args *a, double s, double b, float xv)
{
    double x = xv;
    switch (a->kind) {
    case SS_OP_SCALE: return (float)(s * x + b);
    case SS_OP_POW: return (float)pow(x, s);
    case SS_OP_EXP: return (float)exp(x);
    case SS_OP_LOG: return (float)log(x);
    default: /* CLAMP: comparisons are false for NaN, so NaN passes through */
        return xv < a->fp[0] ? a->fp[0] : (xv > a->fp[1] ? a->fp[1] : xv);
    }
}

/* dy/dx at x, times g. */
static inline float un_dapply(const ss_op_args *a, double s, float xv, float gv)
{
    double x = xv, g = gv;
    switch (a->kind) {
    case SS_OP_SCALE: return (float)(s * g);
    case SS_OP_POW: return s == 0 ? 0.f : (float)(g * s * pow(x, s - 1));
    case SS_OP_EXP: return (float)(g * exp(x));
    case SS_OP_LOG: return (float)(g / x);
    default: return xv >= a->fp[0] && xv <= a->fp[1] ? gv : 0.f;
    }
}

/* The multiplier (SCALE) or exponent (POW) of this call. */
static double un_param(const ss_op_args *a)
{
    return a->kind == SS_OP_SCALE ? scale_of(a) : a->kind == SS_OP_POW ? a->fp[0] : 0;
}

static int un_fwd(const ss_op_args *a)
{
    const int64_t n = ss_numel(&a->xs[0]);
    const double s = un_param(a), b = a->kind == SS_OP_SCALE ? a->fp[1] : 0;
    const float *x = a->x[0];
    float *y = a->y[0];
#pragma omp parallel for schedule(static) if (n > UN_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = un_apply(a, s, b, x[i]);
    return SS_OK;
}

static int un_bwd(const ss_op_args *a)
{
    if (!a->gx[0])
        return SS_OK;
    const int64_t n = ss_numel(&a->xs[0]);
    const double s = un_param(a);
    const float *x = a->x[0], *g = a->gy[0];
    float *gx = a->gx[0];
#pragma omp parallel for schedule(static) if (n > UN_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        gx[i] = un_dapply(a, s, x[i], g[i]);
    return SS_OK;
}

/* FLOPs per element: SCALE a multiply-add (2); POW, EXP, LOG, CLAMP count 1
 * (a transcendental or a compare-select counts as one operation). */
static double un_flops(const ss_op_args *a)
{
    return (a->kind == SS_OP_SCALE ? 2.0 : 1.0) * (double)ss_numel(&a->xs[0]);
}

#define UN_DESC(op)                                                                            \
    const ss_op_desc ss_desc_##op = {                                                          \
        .name = #op,                                                                           \
        .min_in = 1,                                                                           \
        .max_in = 1,                                                                           \
        .infer = op##_infer,                                                                   \
        .fwd = un_fwd,                                                                         \
        .bwd = un_bwd,                                                                         \
        .flops = un_flops,                                                                     \
        .bytes = ss_op_bytes_default,                                                          \
        .diff_mask = 1u,                                                                       \
    };
UN_DESC(scale)
UN_DESC(pow)
UN_DESC(exp)
UN_DESC(log)
UN_DESC(clamp)
