/* Fast CONV_BN_ACT (kernels/ops/fused.c): evaluation-mode batch norm folded
 * into the convolution on every call (weights and running statistics change
 * between evaluations),
 *     s_c = gamma_c / sqrt(var_c + eps)               (double)
 *     w'  = w * s_c   per output channel c            (rounded to float)
 *     b'  = (b_c - mean_c) * s_c + beta_c             (double, rounded to float)
 * into the front of the op's workspace, then one convolution with w', b' and
 * the ReLU / LeakyReLU as a oneDNN post-op (dnnl_conv.c). Shapes the post-op
 * path does not handle (1x1x1 GEMMs, no oneDNN plan) run the plain fast
 * convolution and the activation in place in one pass; a workspace too small
 * for the folded weights runs the convolution unfolded and BN + activation in
 * place in one pass. Nothing is allocated.
 *
 * Against the reference (conv, then BN in double, then the activation) the
 * result differs only by float rounding: w' carries one extra rounding per
 * weight and the bias shift (b - mean) * s is added inside the convolution's
 * float accumulation instead of in double after it (tests/test_fusion.c
 * states the tolerance). */
#include "cpu_fast.h"

#include "../error.h"

#include <math.h>


static float act_slope(const ss_op_args *a) { return a->ip[10] == SS_OP_LEAKY_RELU ? a->fp[0] : 0.f; }

static int conv_plain(const ss_op_args *c)
{
    return c->kind == SS_OP_DECONV ? ss_cpu_deconv_fwd(c) : ss_cpu_conv_fwd(c);
}

/* y = act(y) in place. */
static void act_inplace(float *y, int64_t n, float slope)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = y[i] > 0 ? y[i] : y[i] * slope;
}

/* Workspace bytes of the folded weights and bias. */
static size_t fold_bytes(const ss_op_args *a)
{
    return ss_cpu_al64((size_t)ss_numel(&a->xs[1]) * sizeof(float)) +
           ss_cpu_al64((size_t)a->ys[0].d[SS_C] * sizeof(float));
}

/* Conv args with the folded weights and bias; the conv's workspace follows them. */
static void folded_args(const ss_op_args *a, ss_op_args *c)
{
    ss_cba_conv_args(a, c);
    const int Co = a->ys[0].d[SS_C];
    size_t off = fold_bytes(a);
    c->n_in = 3;
    c->xs[2] = ss_shape5(Co, 1, 1, 1, 1);
    if (a->ws) {
        char *ws = a->ws;
        c->x[1] = (float *)ws;
        c->x[2] = (float *)(ws + ss_cpu_al64((size_t)ss_numel(&a->xs[1]) * sizeof(float)));
        c->ws = ws + off;
        c->ws_size = a->ws_size - off;
    } else {
        c->ws = NULL;
        c->ws_size = 0;
    }
}

/* Runs the convolution unfolded and BN + activation in place (small workspace). */
static int unfolded(const ss_op_args *a)
{
    ss_op_args c;
    ss_cba_conv_args(a, &c);
    if (conv_plain(&c) != SS_OK)
        return SS_ERR;
    const int N = a->ys[0].d[SS_N], C = a->ys[0].d[SS_C];
    const int64_t S = ss_spatial(&a->ys[0]);
    const float *ga = a->x[2], *be = a->x[3], *mu = a->x[4], *var = a->x[5];
    const float slope = a->ip[10] ? act_slope(a) : 1.f;
    float *y = a->y[0];
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int ch = 0; ch < C; ch++) {
            const double is = 1.0 / sqrt((double)var[ch] + a->fp[1]);
            const float m = mu[ch], sc = (float)(is * ga[ch]), sh = be[ch];
            float *p = y + ((int64_t)n * C + ch) * S;
            for (int64_t j = 0; j < S; j++) {
                float v = (p[j] - m) * sc + sh;
                p[j] = v > 0 ? v : v * slope;
            }
        }
    return SS_OK;
}

int ss_cpu_conv_bn_act_fwd(const ss_op_args *a)
{
    const ss_op_desc *d = ss_op_get(a->kind);
    const int Co = a->ys[0].d[SS_C];
    const float *ga = a->x[2], *be = a->x[3], *mu = a->x[4], *var = a->x[5];
    const float *b = a->n_in == 7 ? a->x[6] : NULL;
    for (int c = 0; c < Co; c++)
        if (!((double)var[c] + a->fp[1] > 0))
            return d->fwd(a); /* the reference reports the error */
    if (!a->ws || a->ws_size < fold_bytes(a))
        return unfolded(a);
    ss_op_args c;
    folded_args(a, &c);
    float *wf = c.x[1], *bf = c.x[2];
    const float *w = a->x[1];
    const ss_shape *ws = &a->xs[1];
    const int64_t K = ss_spatial(ws);
    /* conv weights (Co, Ci, k); deconv weights (Ci, Co, k) */
    const int deconv = a->ip[9] == SS_OP_DECONV;
    const int64_t rows = (int64_t)ws->d[0] * ws->d[1];
    const double eps = a->fp[1];
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int co = deconv ? (int)(r % ws->d[1]) : (int)(r / ws->d[1]);
        const double s = ga[co] / sqrt((double)var[co] + eps);
        const float *src = w + r * K;
        float *dst = wf + r * K;
        for (int64_t j = 0; j < K; j++)
            dst[j] = (float)(src[j] * s);
    }
    for (int co = 0; co < Co; co++) {
        const double s = ga[co] / sqrt((double)var[co] + eps);
        bf[co] = (float)(((b ? (double)b[co] : 0.0) - mu[co]) * s + be[co]);
    }
    int rc = SS_OK;
    if (a->ip[10] && ss_cpu_conv_fwd_relu(&c, act_slope(a), &rc) == 0)
        return rc;
    if (conv_plain(&c) != SS_OK)
        return SS_ERR;
    if (a->ip[10])
        act_inplace(a->y[0], ss_numel(&a->ys[0]), act_slope(a));
    return SS_OK;
}

size_t ss_cpu_conv_bn_act_ws(const ss_op_args *a, int bwd)
{
    if (bwd)
        return 0;
    ss_op_args c;
    folded_args(a, &c);
    size_t w = 0;
    if (!a->ip[10] || ss_cpu_conv_ws_relu(&c, act_slope(a), &w) != 0)
        w = ss_op_get(c.kind)->ws ? ss_op_get(c.kind)->ws(&c, 0) : 0;
    return fold_bytes(a) + w;
}
