/* UPSAMPLE (resize to a given D, H, W) with PyTorch's index rules, computed in
 * float as PyTorch's CPU kernels do:
 *  nearest (mode 0): scale = (float)in/out, src = min(floor(dst*scale), in-1)
 *  linear (mode 1):  per axis, align_corners: src = dst*(in-1)/(out-1) (0 when
 *      out == 1); otherwise src = max((dst+0.5)*in/out - 0.5, 0). Neighbours
 *      i0 = min(floor(src), in-1), i1 = i0 + (i0 < in-1), weight l1 = src - i0
 *      clamped to [0,1], l0 = 1 - l1. Trilinear in general; with D == 1 in and
 *      out the D axis is the identity, so this is bilinear.
 * The per-axis tables live in the workspace. Backward gathers per input
 * element in double, so results do not depend on the thread count. */
#include "../cpu/cpu_fast.h"
#include "../error.h"
#include "../op.h"

#include <math.h>
#include <stdint.h>

/* Per axis: for each output index i0, i1, l0, l1; for each input index the
 * range [lo, hi] of outputs that read it (hi < lo: none). */
typedef struct axis_tab {
    int in, out;
    int *i0, *i1;
    float *l0, *l1;
    int *lo, *hi;
} axis_tab;

static size_t axis_bytes(int in, int out)
{
    return (size_t)out * (2 * sizeof(int) + 2 * sizeof(float)) + (size_t)in * 2 * sizeof(int);
}

static size_t up_ws(const ss_op_args *a, int bwd)
{
    (void)bwd;
    size_t b = 0;
    for (int j = 0; j < 3; j++)
        b += axis_bytes(a->xs[0].d[2 + j], a->ys[0].d[2 + j]);
    return b;
}

static void axis_build(axis_tab *t, int in, int out, int mode, int align, char **mem)
{
    t->in = in;
    t->out = out;
    t->i0 = (int *)*mem;
    t->i1 = t->i0 + out;
    t->l0 = (float *)(t->i1 + out);
    t->l1 = t->l0 + out;
    t->lo = (int *)(t->l1 + out);
    t->hi = t->lo + in;
    *mem = (char *)(t->hi + in);
    if (mode == 0) {
        const float scale = (float)in / (float)out;
        for (int o = 0; o < out; o++) {
            int s = (int)floorf((float)o * scale);
            if (s > in - 1)
                s = in - 1;
            t->i0[o] = t->i1[o] = s;
            t->l0[o] = 1.f;
            t->l1[o] = 0.f;
        }
    } else {
        float scale;
        if (align)
            scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.f;
        else
            scale = (float)in / (float)out;
        for (int o = 0; o < out; o++) {
            float src;
            if (align) {
                src = scale * (float)o;
            } else {
                src = scale * ((float)o + 0.5f) - 0.5f;
                if (src < 0.f)
                    src = 0.f;
            }
            int i0 = (int)floorf(src);
            if (i0 > in - 1)
                i0 = in - 1;
            float l1 = src - (float)i0;
            l1 = l1 < 0.f ? 0.f : (l1 > 1.f ? 1.f : l1);
            t->i0[o] = i0;
            t->i1[o] = i0 + (i0 < in - 1 ? 1 : 0);
            t->l1[o] = l1;
            t->l0[o] = 1.f - l1;
        }
    }
    for (int i = 0; i < in; i++) {
        t->lo[i] = out;
        t->hi[i] = -1;
    }
    for (int o = 0; o < out; o++) {
        int c[2] = {t->i0[o], t->i1[o]};
        for (int q = 0; q < 2; q++) {
            if (o < t->lo[c[q]])
                t->lo[c[q]] = o;
            if (o > t->hi[c[q]])
                t->hi[c[q]] = o;
        }
    }
}

/* Weight of input index i in output o along one axis. */
static double axis_w(const axis_tab *t, int o, int i)
{
    double w = 0.0;
    if (t->i0[o] == i)
        w += t->l0[o];
    if (t->i1[o] == i)
        w += t->l1[o];
    return w;
}

static int tabs_build(const ss_op_args *a, axis_tab t[3])
{
    if (!a->ws || a->ws_size < up_ws(a, 0))
        return ss_op_err("upsample", a->n_in, a->xs, "needs %zu bytes of workspace",
                         up_ws(a, 0));
    char *mem = a->ws;
    for (int j = 0; j < 3; j++)
        axis_build(&t[j], a->xs[0].d[2 + j], a->ys[0].d[2 + j], a->ip[0], a->ip[1], &mem);
    return SS_OK;
}

static int up_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                    ss_shape *out)
{
    (void)fp;
    if (n_in != 1)
        return ss_op_err("upsample", n_in, in, "expected 1 input, got %d", n_in);
    if (!ss_shape_valid(&in[0]))
        return ss_op_err("upsample", n_in, in, "input has a dimension < 1");
    if (ip[0] != 0 && ip[0] != 1)
        return ss_op_err("upsample", n_in, in, "mode %d must be 0 (nearest) or 1 (linear)",
                         ip[0]);
    if (ip[1] != 0 && ip[1] != 1)
        return ss_op_err("upsample", n_in, in, "align_corners %d must be 0 or 1", ip[1]);
    if (ip[0] == 0 && ip[1])
        return ss_op_err("upsample", n_in, in,
                         "align_corners is only valid with linear mode (as in PyTorch)");
    for (int j = 0; j < 3; j++)
        if (ip[2 + j] < 1)
            return ss_op_err("upsample", n_in, in, "output size %d along spatial dim %d must be >= 1",
                             ip[2 + j], j);
    *n_out = 1;
    out[0] = ss_shape5(in[0].d[0], in[0].d[1], ip[2], ip[3], ip[4]);
    return SS_OK;
}

static int up_fwd(const ss_op_args *a)
{
    axis_tab t[3];
    if (tabs_build(a, t) != SS_OK)
        return SS_ERR;
    const int planes = a->xs[0].d[0] * a->xs[0].d[1];
    const int ID = t[0].in, IH = t[1].in, IW = t[2].in;
    const int OD = t[0].out, OH = t[1].out, OW = t[2].out;
    const int64_t Isp = (int64_t)ID * IH * IW, Osp = (int64_t)OD * OH * OW;
    const int nearest = a->ip[0] == 0;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = a->x[0] + (int64_t)pl * Isp;
        float *yp = a->y[0] + (int64_t)pl * Osp;
        for (int od = 0; od < OD; od++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float *dst = yp + ((int64_t)od * OH + oh) * OW + ow;
                    if (nearest) {
                        *dst = xp[((int64_t)t[0].i0[od] * IH + t[1].i0[oh]) * IW + t[2].i0[ow]];
                        continue;
                    }
                    int idx[3][2], n[3];
                    double w[3][2];
                    const int oo[3] = {od, oh, ow};
                    for (int j = 0; j < 3; j++) {
                        const axis_tab *tj = &t[j];
                        idx[j][0] = tj->i0[oo[j]];
                        idx[j][1] = tj->i1[oo[j]];
                        w[j][0] = tj->l0[oo[j]];
                        w[j][1] = tj->l1[oo[j]];
                        n[j] = 2;
                        if (idx[j][1] == idx[j][0]) { /* one neighbour: merge weights */
                            w[j][0] += w[j][1];
                            n[j] = 1;
                        }
                    }
                    double acc = 0.0;
                    for (int p = 0; p < n[0]; p++)
                        for (int q = 0; q < n[1]; q++)
                            for (int r = 0; r < n[2]; r++)
                                acc += w[0][p] * w[1][q] * w[2][r] *
                                       xp[((int64_t)idx[0][p] * IH + idx[1][q]) * IW + idx[2][r]];
                    *dst = (float)acc;
                }
    }
    return SS_OK;
}

static int up_bwd(const ss_op_args *a)
{
    if (!a->gx[0])
        return SS_OK;
    axis_tab t[3];
    if (tabs_build(a, t) != SS_OK)
        return SS_ERR;
    const int planes = a->xs[0].d[0] * a->xs[0].d[1];
    const int ID = t[0].in, IH = t[1].in, IW = t[2].in;
    const int OH = t[1].out, OW = t[2].out;
    const int64_t Isp = (int64_t)ID * IH * IW, Osp = (int64_t)t[0].out * OH * OW;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *gyp = a->gy[0] + (int64_t)pl * Osp;
        float *gxp = a->gx[0] + (int64_t)pl * Isp;
        for (int id = 0; id < ID; id++)
            for (int ih = 0; ih < IH; ih++)
                for (int iw = 0; iw < IW; iw++) {
                    double acc = 0.0;
                    for (int od = t[0].lo[id]; od <= t[0].hi[id]; od++) {
                        double w1 = axis_w(&t[0], od, id);
                        for (int oh = t[1].lo[ih]; oh <= t[1].hi[ih]; oh++) {
                            double w2 = w1 * axis_w(&t[1], oh, ih);
                            const float *row = gyp + ((int64_t)od * OH + oh) * OW;
                            for (int ow = t[2].lo[iw]; ow <= t[2].hi[iw]; ow++)
                                acc += w2 * axis_w(&t[2], ow, iw) * row[ow];
                        }
                    }
                    gxp[((int64_t)id * IH + ih) * IW + iw] = (float)acc;
                }
    }
    return SS_OK;
}

/* FLOPs: nearest 0 (a copy); linear 2 per neighbour per output element,
 * 4 neighbours when D == 1 in and out (bilinear), else 8 (trilinear). */
static double up_flops(const ss_op_args *a)
{
    if (a->ip[0] == 0)
        return 0.0;
    int corners = (a->xs[0].d[2] == 1 && a->ys[0].d[2] == 1) ? 4 : 8;
    return 2.0 * corners * (double)ss_numel(&a->ys[0]);
}

const ss_op_desc ss_desc_upsample = {
    .name = "upsample",
    .min_in = 1,
    .max_in = 1,
    .infer = up_infer,
    .fwd = up_fwd,
    .bwd = up_bwd,
    .fwd_fast = ss_cpu_upsample_fwd,
    .bwd_fast = ss_cpu_upsample_bwd,
    .ws = up_ws,
    .flops = up_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 1u,
};
