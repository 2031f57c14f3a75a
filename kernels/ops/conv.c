/* CONV and DECONV: PyTorch Conv3d/Conv2d (cross-correlation) and
 * ConvTranspose3d/2d semantics, no groups or dilation. 2-D data is D = 1 with
 * kD = 1, stride 1 and pad 0 in D.
 *
 * Both ops are built from three plain-loop kernels over a "small" tensor S
 * (spatial O) and a "big" tensor B (spatial I) tied by i = o*s - p + k:
 *   corr   S[n,a,o] = bias[a] + sum_{b,k} B[n,b,o*s-p+k] * W[a,b,k]
 *   corr_t B[n,b,i] = bias[b] + sum_{a,k: o*s-p+k = i} S[n,a,o] * W[a,b,k]
 *   wgrad  dW[a,b,k] = sum_{n,o} S[n,a,o] * B[n,b,o*s-p+k]
 * where W[a,b,k] sits at a*sa + b*sb + k (k the flat kernel index).
 * CONV: S = y, B = x, W = w[co,ci]. DECONV: S = x, B = y, W = w[ci,co].
 * Every output is summed in double by one thread in a fixed order, so results
 * do not depend on the thread count. */
#include "../cpu/cpu_fast.h"
#include "../error.h"
#include "../op.h"

#include <stdint.h>

typedef struct geom {
    int N, A, B;    /* batch, channels of S, channels of B */
    int O[3], I[3]; /* spatial sizes of S and B (D, H, W) */
    int k[3], s[3], p[3];
    int64_t sa, sb; /* weight strides for the S and B channel */
} geom;

static int64_t vol3(const int *v) { return (int64_t)v[0] * v[1] * v[2]; }

/* Range [*lo, *hi) of o in [0, O) with 0 <= o*s - p + kk < I. */
static void o_range(int I, int O, int s, int p, int kk, int *lo, int *hi)
{
    int a = p - kk; /* need o*s >= a */
    int l = a <= 0 ? 0 : (a + s - 1) / s;
    int b = I - 1 + p - kk; /* need o*s <= b */
    int h = b < 0 ? 0 : b / s + 1;
    if (h > O)
        h = O;
    *lo = l;
    *hi = h < l ? l : h;
}

/* Range [*lo, *hi) of kk in [0, k) with 0 <= base + kk < I. */
static void k_range(int base, int I, int k, int *lo, int *hi)
{
    int l = base < 0 ? -base : 0;
    int h = I - base;
    if (h > k)
        h = k;
    *lo = l;
    *hi = h < l ? l : h;
}

static void corr(const geom *g, const float *B, const float *W, const float *bias, float *S)
{
    const int64_t Isp = vol3(g->I), Osp = vol3(g->O);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < g->N; n++)
        for (int a = 0; a < g->A; a++) {
            float *so = S + ((int64_t)n * g->A + a) * Osp;
            for (int od = 0; od < g->O[0]; od++) {
                int bd = od * g->s[0] - g->p[0], kd0, kd1;
                k_range(bd, g->I[0], g->k[0], &kd0, &kd1);
                for (int oh = 0; oh < g->O[1]; oh++) {
                    int bh = oh * g->s[1] - g->p[1], kh0, kh1;
                    k_range(bh, g->I[1], g->k[1], &kh0, &kh1);
                    for (int ow = 0; ow < g->O[2]; ow++) {
                        int bw = ow * g->s[2] - g->p[2], kw0, kw1;
                        k_range(bw, g->I[2], g->k[2], &kw0, &kw1);
                        double acc = bias ? (double)bias[a] : 0.0;
                        for (int b = 0; b < g->B; b++) {
                            const float *xb = B + ((int64_t)n * g->B + b) * Isp;
                            const float *wb = W + a * g->sa + b * g->sb;
                            for (int kd = kd0; kd < kd1; kd++)
                                for (int kh = kh0; kh < kh1; kh++) {
                                    const float *xr =
                                        xb + ((int64_t)(bd + kd) * g->I[1] + (bh + kh)) * g->I[2] +
                                        bw;
                                    const float *wr = wb + ((int64_t)kd * g->k[1] + kh) * g->k[2];
                                    for (int kw = kw0; kw < kw1; kw++)
                                        acc += (double)xr[kw] * wr[kw];
                                }
                        }
                        so[((int64_t)od * g->O[1] + oh) * g->O[2] + ow] = (float)acc;
                    }
                }
            }
        }
}

static void corr_t(const geom *g, const float *S, const float *W, const float *bias, float *B)
{
    const int64_t Isp = vol3(g->I), Osp = vol3(g->O);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < g->N; n++)
        for (int b = 0; b < g->B; b++) {
            float *bo = B + ((int64_t)n * g->B + b) * Isp;
            for (int id = 0; id < g->I[0]; id++)
                for (int ih = 0; ih < g->I[1]; ih++)
                    for (int iw = 0; iw < g->I[2]; iw++) {
                        double acc = bias ? (double)bias[b] : 0.0;
                        for (int a = 0; a < g->A; a++) {
                            const float *sp = S + ((int64_t)n * g->A + a) * Osp;
                            const float *wp = W + a * g->sa + b * g->sb;
                            for (int kd = 0; kd < g->k[0]; kd++) {
                                int td = id + g->p[0] - kd;
                                if (td < 0 || td % g->s[0] || td / g->s[0] >= g->O[0])
                                    continue;
                                int od = td / g->s[0];
                                for (int kh = 0; kh < g->k[1]; kh++) {
                                    int th = ih + g->p[1] - kh;
                                    if (th < 0 || th % g->s[1] || th / g->s[1] >= g->O[1])
                                        continue;
                                    int oh = th / g->s[1];
                                    for (int kw = 0; kw < g->k[2]; kw++) {
                                        int tw = iw + g->p[2] - kw;
                                        if (tw < 0 || tw % g->s[2] || tw / g->s[2] >= g->O[2])
                                            continue;
                                        int ow = tw / g->s[2];
                                        acc += (double)sp[((int64_t)od * g->O[1] + oh) * g->O[2] +
                                                          ow] *
                                               wp[((int64_t)kd * g->k[1] + kh) * g->k[2] + kw];
                                    }
                                }
                            }
                        }
                        bo[((int64_t)id * g->I[1] + ih) * g->I[2] + iw] = (float)acc;
                    }
        }
}

static void wgrad(const geom *g, const float *S, const float *B, float *dW)
{
    const int64_t Isp = vol3(g->I), Osp = vol3(g->O);
#pragma omp parallel for collapse(2) schedule(static)
    for (int a = 0; a < g->A; a++)
        for (int b = 0; b < g->B; b++)
            for (int kd = 0; kd < g->k[0]; kd++) {
                int d0, d1;
                o_range(g->I[0], g->O[0], g->s[0], g->p[0], kd, &d0, &d1);
                for (int kh = 0; kh < g->k[1]; kh++) {
                    int h0, h1;
                    o_range(g->I[1], g->O[1], g->s[1], g->p[1], kh, &h0, &h1);
                    for (int kw = 0; kw < g->k[2]; kw++) {
                        int w0, w1;
                        o_range(g->I[2], g->O[2], g->s[2], g->p[2], kw, &w0, &w1);
                        double acc = 0.0;
                        for (int n = 0; n < g->N; n++) {
                            const float *sp = S + ((int64_t)n * g->A + a) * Osp;
                            const float *bp = B + ((int64_t)n * g->B + b) * Isp;
                            for (int od = d0; od < d1; od++)
                                for (int oh = h0; oh < h1; oh++) {
                                    int id = od * g->s[0] - g->p[0] + kd;
                                    int ih = oh * g->s[1] - g->p[1] + kh;
                                    const float *sr = sp + ((int64_t)od * g->O[1] + oh) * g->O[2];
                                    const float *br = bp + ((int64_t)id * g->I[1] + ih) * g->I[2];
                                    for (int ow = w0; ow < w1; ow++)
                                        acc += (double)sr[ow] *
                                               br[ow * g->s[2] - g->p[2] + kw];
                                }
                        }
                        dW[a * g->sa + b * g->sb + ((int64_t)kd * g->k[1] + kh) * g->k[2] + kw] =
                            (float)acc;
                    }
                }
            }
}

/* db[c] = sum over n and space of gy[n,c,...]. */
static void bgrad(const float *gy, const ss_shape *ys, float *db)
{
    const int N = ys->d[0], C = ys->d[1];
    const int64_t sp = ss_spatial(ys);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double acc = 0.0;
        for (int n = 0; n < N; n++) {
            const float *p = gy + ((int64_t)n * C + c) * sp;
            for (int64_t i = 0; i < sp; i++)
                acc += p[i];
        }
        db[c] = (float)acc;
    }
}

/* ---- shape rules ------------------------------------------------------- */

static int check_common(const char *op, int n_in, const ss_shape *in, const int *ip, int *Co,
                        int is_deconv)
{
    if (n_in < 2 || n_in > 3)
        return ss_op_err(op, n_in, in, "expected 2 or 3 inputs (x, w, [bias]), got %d", n_in);
    for (int i = 0; i < n_in; i++)
        if (!ss_shape_valid(&in[i]))
            return ss_op_err(op, n_in, in, "input %d has a dimension < 1", i);
    const ss_shape *x = &in[0], *w = &in[1];
    if (is_deconv) {
        if (w->d[0] != x->d[1])
            return ss_op_err(op, n_in, in,
                             "weight (Ci,Co,kD,kH,kW) dim 0 (%d) must equal x channels (%d)",
                             w->d[0], x->d[1]);
        *Co = w->d[1];
    } else {
        if (w->d[1] != x->d[1])
            return ss_op_err(op, n_in, in,
                             "weight (Co,Ci,kD,kH,kW) dim 1 (%d) must equal x channels (%d)",
                             w->d[1], x->d[1]);
        *Co = w->d[0];
    }
    if (n_in == 3) {
        const ss_shape *b = &in[2];
        if (b->d[0] != *Co || b->d[1] != 1 || b->d[2] != 1 || b->d[3] != 1 || b->d[4] != 1)
            return ss_op_err(op, n_in, in, "bias must have shape (%d,1,1,1,1)", *Co);
    }
    for (int j = 0; j < 3; j++) {
        if (ip[j] < 1)
            return ss_op_err(op, n_in, in, "stride[%d] = %d must be >= 1", j, ip[j]);
        if (ip[3 + j] < 0)
            return ss_op_err(op, n_in, in, "pad[%d] = %d must be >= 0", j, ip[3 + j]);
    }
    return SS_OK;
}

static int conv_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                      ss_shape *out)
{
    (void)fp;
    int Co;
    if (check_common("conv", n_in, in, ip, &Co, 0) != SS_OK)
        return SS_ERR;
    ss_shape y = ss_shape5(in[0].d[0], Co, 1, 1, 1);
    for (int j = 0; j < 3; j++) {
        int64_t span = (int64_t)in[0].d[2 + j] + 2 * (int64_t)ip[3 + j] - in[1].d[2 + j];
        if (span < 0)
            return ss_op_err("conv", n_in, in,
                             "kernel %d larger than padded input %d along spatial dim %d",
                             in[1].d[2 + j], in[0].d[2 + j] + 2 * ip[3 + j], j);
        if (span / ip[j] + 1 > INT32_MAX)
            return ss_op_err("conv", n_in, in, "output size along spatial dim %d overflows", j);
        y.d[2 + j] = (int)(span / ip[j] + 1);
    }
    *n_out = 1;
    out[0] = y;
    return SS_OK;
}

static int deconv_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                        ss_shape *out)
{
    (void)fp;
    int Co;
    if (check_common("deconv", n_in, in, ip, &Co, 1) != SS_OK)
        return SS_ERR;
    ss_shape y = ss_shape5(in[0].d[0], Co, 1, 1, 1);
    for (int j = 0; j < 3; j++) {
        int op = ip[6 + j];
        if (op < 0 || op >= ip[j])
            return ss_op_err("deconv", n_in, in,
                             "output_padding[%d] = %d must be >= 0 and < stride %d", j, op,
                             ip[j]);
        int64_t o = ((int64_t)in[0].d[2 + j] - 1) * ip[j] - 2 * (int64_t)ip[3 + j] +
                    in[1].d[2 + j] + op;
        if (o < 1 || o > INT32_MAX)
            return ss_op_err("deconv", n_in, in, "output size %lld along spatial dim %d is invalid",
                             (long long)o, j);
        y.d[2 + j] = (int)o;
    }
    *n_out = 1;
    out[0] = y;
    return SS_OK;
}

/* ---- kernels ------------------------------------------------------------ */

/* CONV: S = y (channels Co), B = x (channels Ci), W[co,ci].
 * DECONV (transposed = 1): S = x (channels Ci), B = y (channels Co), W[ci,co];
 * the roles of input and output extents swap. */
static geom conv_geom_any(const ss_op_args *a, const ss_shape *ys, int transposed)
{
    geom g;
    const ss_shape *x = &a->xs[0], *w = &a->xs[1];
    g.N = x->d[0];
    g.A = w->d[0];
    g.B = w->d[1];
    for (int j = 0; j < 3; j++) {
        g.I[j] = (transposed ? ys : x)->d[2 + j];
        g.O[j] = (transposed ? x : ys)->d[2 + j];
        g.k[j] = w->d[2 + j];
        g.s[j] = a->ip[j];
        g.p[j] = a->ip[3 + j];
    }
    int64_t K = vol3(g.k);
    g.sa = g.B * K;
    g.sb = K;
    return g;
}

static geom conv_geom(const ss_op_args *a, const ss_shape *ys) { return conv_geom_any(a, ys, 0); }
static geom deconv_geom(const ss_op_args *a, const ss_shape *ys) { return conv_geom_any(a, ys, 1); }

static int conv_fwd(const ss_op_args *a)
{
    geom g = conv_geom(a, &a->ys[0]);
    corr(&g, a->x[0], a->x[1], a->n_in == 3 ? a->x[2] : NULL, a->y[0]);
    return SS_OK;
}

static int conv_bwd(const ss_op_args *a)
{
    geom g = conv_geom(a, &a->ys[0]);
    if (a->gx[0])
        corr_t(&g, a->gy[0], a->x[1], NULL, a->gx[0]);
    if (a->gx[1])
        wgrad(&g, a->gy[0], a->x[0], a->gx[1]);
    if (a->n_in == 3 && a->gx[2])
        bgrad(a->gy[0], &a->ys[0], a->gx[2]);
    return SS_OK;
}

static int deconv_fwd(const ss_op_args *a)
{
    geom g = deconv_geom(a, &a->ys[0]);
    corr_t(&g, a->x[0], a->x[1], a->n_in == 3 ? a->x[2] : NULL, a->y[0]);
    return SS_OK;
}

static int deconv_bwd(const ss_op_args *a)
{
    geom g = deconv_geom(a, &a->ys[0]);
    if (a->gx[0])
        corr(&g, a->gy[0], a->x[1], NULL, a->gx[0]);
    if (a->gx[1])
        wgrad(&g, a->x[0], a->gy[0], a->gx[1]);
    if (a->n_in == 3 && a->gx[2])
        bgrad(a->gy[0], &a->ys[0], a->gx[2]);
    return SS_OK;
}

/* FLOPs: 2 per multiply-add of the full (unclipped) kernel window, plus one add
 * per output element for the bias. CONV: 2*N*Co*Ci*K*|y|sp; DECONV counts the
 * scatter view: 2*N*Ci*Co*K*|x|sp. */
static double conv_flops(const ss_op_args *a)
{
    const ss_shape *w = &a->xs[1];
    double K = (double)w->d[2] * w->d[3] * w->d[4];
    double f = 2.0 * a->ys[0].d[0] * w->d[0] * w->d[1] * K * (double)ss_spatial(&a->ys[0]);
    if (a->n_in == 3)
        f += (double)ss_numel(&a->ys[0]);
    return f;
}

static double deconv_flops(const ss_op_args *a)
{
    const ss_shape *w = &a->xs[1];
    double K = (double)w->d[2] * w->d[3] * w->d[4];
    double f = 2.0 * a->xs[0].d[0] * w->d[0] * w->d[1] * K * (double)ss_spatial(&a->xs[0]);
    if (a->n_in == 3)
        f += (double)ss_numel(&a->ys[0]);
    return f;
}

const ss_op_desc ss_desc_conv = {
    .name = "conv",
    .min_in = 2,
    .max_in = 3,
    .infer = conv_infer,
    .fwd = conv_fwd,
    .bwd = conv_bwd,
    .fwd_fast = ss_cpu_conv_fwd,
    .bwd_fast = ss_cpu_conv_bwd,
    .ws = ss_cpu_conv_ws,
    .flops = conv_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 7u,
};

const ss_op_desc ss_desc_deconv = {
    .name = "deconv",
    .min_in = 2,
    .max_in = 3,
    .infer = deconv_infer,
    .fwd = deconv_fwd,
    .bwd = deconv_bwd,
    .fwd_fast = ss_cpu_deconv_fwd,
    .bwd_fast = ss_cpu_deconv_bwd,
    .ws = ss_cpu_conv_ws,
    .flops = deconv_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 7u,
};
