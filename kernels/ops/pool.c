/* MAXPOOL and AVGPOOL over (D, H, W) with PyTorch's defaults: floor output
 * size (ceil_mode false), padding <= kernel/2, max pads with -inf (so padding
 * never wins; every window holds at least one real element), avg counts the
 * padding in its divisor (count_include_pad true: divisor = kD*kH*kW).
 * Max backward routes each output gradient to the first maximum of its window
 * in (d, h, w) scan order; a NaN in a window is the maximum (first NaN wins).
 * Backward passes gather per input element and sum in double, so results do
 * not depend on the thread count. */
#include "../cpu/cpu_fast.h"
#include "../error.h"
#include "../op.h"

#include <math.h>
#include <stdint.h>

typedef struct pgeom {
    int planes;     /* N*C */
    int I[3], O[3]; /* input and output spatial sizes */
    int k[3], s[3], p[3];
} pgeom;

static pgeom pool_geom(const ss_op_args *a)
{
    pgeom g;
    g.planes = a->xs[0].d[0] * a->xs[0].d[1];
    for (int j = 0; j < 3; j++) {
        g.I[j] = a->xs[0].d[2 + j];
        g.O[j] = a->ys[0].d[2 + j];
        g.k[j] = a->ip[j];
        g.s[j] = a->ip[3 + j];
        g.p[j] = a->ip[6 + j];
    }
    return g;
}

static int64_t vol3(const int *v) { return (int64_t)v[0] * v[1] * v[2]; }

/* Clipped window [*lo, *hi) of output o along one axis. */
static void win(int o, int k, int s, int p, int I, int *lo, int *hi)
{
    int l = o * s - p, h = l + k;
    *lo = l < 0 ? 0 : l;
    *hi = h > I ? I : h;
}

/* Outputs [*lo, *hi) along one axis whose window holds input index i. */
static void wins_of(int i, int k, int s, int p, int O, int *lo, int *hi)
{
    int a = i + p - k + 1; /* o*s >= a */
    int l = a <= 0 ? 0 : (a + s - 1) / s;
    int h = (i + p) / s + 1; /* o*s <= i + p */
    if (h > O)
        h = O;
    *lo = l;
    *hi = h < l ? l : h;
}

static int pool_infer(const char *op, const int *ip, int n_in, const ss_shape *in, int *n_out,
                      ss_shape *out)
{
    if (n_in != 1)
        return ss_op_err(op, n_in, in, "expected 1 input, got %d", n_in);
    if (!ss_shape_valid(&in[0]))
        return ss_op_err(op, n_in, in, "input has a dimension < 1");
    ss_shape y = in[0];
    for (int j = 0; j < 3; j++) {
        int k = ip[j], s = ip[3 + j], p = ip[6 + j];
        if (k < 1)
            return ss_op_err(op, n_in, in, "kernel[%d] = %d must be >= 1", j, k);
        if (s < 1)
            return ss_op_err(op, n_in, in, "stride[%d] = %d must be >= 1", j, s);
        if (p < 0 || p > k / 2)
            return ss_op_err(op, n_in, in, "pad[%d] = %d must be in [0, kernel/2 = %d]", j, p,
                             k / 2);
        int64_t span = (int64_t)in[0].d[2 + j] + 2 * (int64_t)p - k;
        if (span < 0)
            return ss_op_err(op, n_in, in,
                             "kernel %d larger than padded input %lld along spatial dim %d", k,
                             (long long)in[0].d[2 + j] + 2 * p, j);
        y.d[2 + j] = (int)(span / s + 1);
    }
    *n_out = 1;
    out[0] = y;
    return SS_OK;
}

static int maxpool_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                         int *n_out, ss_shape *out)
{
    (void)fp;
    return pool_infer("maxpool", ip, n_in, in, n_out, out);
}

static int avgpool_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                         int *n_out, ss_shape *out)
{
    (void)fp;
    return pool_infer("avgpool", ip, n_in, in, n_out, out);
}

/* Plane-local flat index of the first maximum of output (od, oh, ow)'s window. */
static int64_t argmax_at(const pgeom *g, const float *xp, int od, int oh, int ow)
{
    int d0, d1, h0, h1, w0, w1;
    win(od, g->k[0], g->s[0], g->p[0], g->I[0], &d0, &d1);
    win(oh, g->k[1], g->s[1], g->p[1], g->I[1], &h0, &h1);
    win(ow, g->k[2], g->s[2], g->p[2], g->I[2], &w0, &w1);
    int64_t best = ((int64_t)d0 * g->I[1] + h0) * g->I[2] + w0;
    float bv = xp[best];
    for (int d = d0; d < d1; d++)
        for (int h = h0; h < h1; h++) {
            int64_t row = ((int64_t)d * g->I[1] + h) * g->I[2];
            for (int w = w0; w < w1; w++) {
                float v = xp[row + w];
                if (v > bv || (isnan(v) && !isnan(bv))) {
                    bv = v;
                    best = row + w;
                }
            }
        }
    return best;
}

static int maxpool_fwd(const ss_op_args *a)
{
    pgeom g = pool_geom(a);
    const int64_t Isp = vol3(g.I), Osp = vol3(g.O);
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < g.planes; pl++) {
        const float *xp = a->x[0] + (int64_t)pl * Isp;
        float *yp = a->y[0] + (int64_t)pl * Osp;
        for (int od = 0; od < g.O[0]; od++)
            for (int oh = 0; oh < g.O[1]; oh++)
                for (int ow = 0; ow < g.O[2]; ow++)
                    yp[((int64_t)od * g.O[1] + oh) * g.O[2] + ow] =
                        xp[argmax_at(&g, xp, od, oh, ow)];
    }
    return SS_OK;
}

/* Scratch of a max backward: the argmax of every output (plane-local int64). */
static size_t maxpool_ws(const ss_op_args *a, int bwd)
{
    return bwd ? (size_t)ss_numel(&a->ys[0]) * sizeof(int64_t) : 0;
}

static int maxpool_bwd(const ss_op_args *a)
{
    if (!a->gx[0])
        return SS_OK;
    pgeom g = pool_geom(a);
    const int64_t Isp = vol3(g.I), Osp = vol3(g.O);
    int64_t *arg = a->ws;
    if (!arg || a->ws_size < (size_t)ss_numel(&a->ys[0]) * sizeof(int64_t))
        return ss_op_err("maxpool", a->n_in, a->xs, "backward needs %zu bytes of workspace",
                         maxpool_ws(a, 1));
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < g.planes; pl++) {
        const float *xp = a->x[0] + (int64_t)pl * Isp;
        const float *gyp = a->gy[0] + (int64_t)pl * Osp;
        float *gxp = a->gx[0] + (int64_t)pl * Isp;
        int64_t *ap = arg + (int64_t)pl * Osp;
        for (int od = 0; od < g.O[0]; od++)
            for (int oh = 0; oh < g.O[1]; oh++)
                for (int ow = 0; ow < g.O[2]; ow++)
                    ap[((int64_t)od * g.O[1] + oh) * g.O[2] + ow] = argmax_at(&g, xp, od, oh, ow);
        for (int id = 0; id < g.I[0]; id++) {
            int d0, d1;
            wins_of(id, g.k[0], g.s[0], g.p[0], g.O[0], &d0, &d1);
            for (int ih = 0; ih < g.I[1]; ih++) {
                int h0, h1;
                wins_of(ih, g.k[1], g.s[1], g.p[1], g.O[1], &h0, &h1);
                for (int iw = 0; iw < g.I[2]; iw++) {
                    int w0, w1;
                    wins_of(iw, g.k[2], g.s[2], g.p[2], g.O[2], &w0, &w1);
                    int64_t me = ((int64_t)id * g.I[1] + ih) * g.I[2] + iw;
                    double acc = 0.0;
                    for (int od = d0; od < d1; od++)
                        for (int oh = h0; oh < h1; oh++)
                            for (int ow = w0; ow < w1; ow++) {
                                int64_t o = ((int64_t)od * g.O[1] + oh) * g.O[2] + ow;
                                if (ap[o] == me)
                                    acc += gyp[o];
                            }
                    gxp[me] = (float)acc;
                }
            }
        }
    }
    return SS_OK;
}

static int avgpool_fwd(const ss_op_args *a)
{
    pgeom g = pool_geom(a);
    const int64_t Isp = vol3(g.I), Osp = vol3(g.O);
    const double inv = 1.0 / (double)vol3(g.k);
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < g.planes; pl++) {
        const float *xp = a->x[0] + (int64_t)pl * Isp;
        float *yp = a->y[0] + (int64_t)pl * Osp;
        for (int od = 0; od < g.O[0]; od++) {
            int d0, d1;
            win(od, g.k[0], g.s[0], g.p[0], g.I[0], &d0, &d1);
            for (int oh = 0; oh < g.O[1]; oh++) {
                int h0, h1;
                win(oh, g.k[1], g.s[1], g.p[1], g.I[1], &h0, &h1);
                for (int ow = 0; ow < g.O[2]; ow++) {
                    int w0, w1;
                    win(ow, g.k[2], g.s[2], g.p[2], g.I[2], &w0, &w1);
                    double acc = 0.0;
                    for (int d = d0; d < d1; d++)
                        for (int h = h0; h < h1; h++) {
                            const float *row = xp + ((int64_t)d * g.I[1] + h) * g.I[2];
                            for (int w = w0; w < w1; w++)
                                acc += row[w];
                        }
                    yp[((int64_t)od * g.O[1] + oh) * g.O[2] + ow] = (float)(acc * inv);
                }
            }
        }
    }
    return SS_OK;
}

static int avgpool_bwd(const ss_op_args *a)
{
    if (!a->gx[0])
        return SS_OK;
    pgeom g = pool_geom(a);
    const int64_t Isp = vol3(g.I), Osp = vol3(g.O);
    const double inv = 1.0 / (double)vol3(g.k);
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < g.planes; pl++) {
        const float *gyp = a->gy[0] + (int64_t)pl * Osp;
        float *gxp = a->gx[0] + (int64_t)pl * Isp;
        for (int id = 0; id < g.I[0]; id++) {
            int d0, d1;
            wins_of(id, g.k[0], g.s[0], g.p[0], g.O[0], &d0, &d1);
            for (int ih = 0; ih < g.I[1]; ih++) {
                int h0, h1;
                wins_of(ih, g.k[1], g.s[1], g.p[1], g.O[1], &h0, &h1);
                for (int iw = 0; iw < g.I[2]; iw++) {
                    int w0, w1;
                    wins_of(iw, g.k[2], g.s[2], g.p[2], g.O[2], &w0, &w1);
                    double acc = 0.0;
                    for (int od = d0; od < d1; od++)
                        for (int oh = h0; oh < h1; oh++)
                            for (int ow = w0; ow < w1; ow++)
                                acc += gyp[((int64_t)od * g.O[1] + oh) * g.O[2] + ow];
                    gxp[((int64_t)id * g.I[1] + ih) * g.I[2] + iw] = (float)(acc * inv);
                }
            }
        }
    }
    return SS_OK;
}

/* FLOPs: one compare (max) or one add (avg) per element of the full kernel
 * window, per output element: |y| * kD*kH*kW. */
static double pool_flops(const ss_op_args *a)
{
    return (double)ss_numel(&a->ys[0]) * a->ip[0] * a->ip[1] * a->ip[2];
}

const ss_op_desc ss_desc_maxpool = {
    .name = "maxpool",
    .min_in = 1,
    .max_in = 1,
    .infer = maxpool_infer,
    .fwd = maxpool_fwd,
    .bwd = maxpool_bwd,
    .fwd_fast = ss_cpu_maxpool_fwd,
    .bwd_fast = ss_cpu_maxpool_bwd,
    .ws = maxpool_ws,
    .flops = pool_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 1u,
};

const ss_op_desc ss_desc_avgpool = {
    .name = "avgpool",
    .min_in = 1,
    .max_in = 1,
    .infer = avgpool_infer,
    .fwd = avgpool_fwd,
    .bwd = avgpool_bwd,
    .flops = pool_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 1u,
};
