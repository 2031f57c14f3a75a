/* MAXPOOL fast path for non-overlapping windows (kernel == stride, no
 * padding: every U-Net / V-Net pooling). Each output scans its window in
 * (d, h, w) order with the reference's rule (first maximum, NaN wins), so the
 * forward is identical; the backward writes each output gradient to its
 * window's argmax, the only output that reads that input, so it is identical
 * too. Other geometries use the reference. */
#include "cpu_fast.h"

#include "../error.h"

#include <math.h>
#include <string.h>

static int disjoint(const ss_op_args *a)
{
    for (int j = 0; j < 3; j++)
        if (a->ip[j] != a->ip[3 + j] || a->ip[6 + j] != 0)
            return 0;
    return 1;
}

/* Plane-local index of the first maximum of window (od, oh, ow). */
static inline int64_t amax(const float *xp, const int k[3], int IH, int IW, int od, int oh, int ow)
{
    int d0 = od * k[0], h0 = oh * k[1], w0 = ow * k[2];
    int64_t best = ((int64_t)d0 * IH + h0) * IW + w0;
    float bv = xp[best];
    for (int d = d0; d < d0 + k[0]; d++)
        for (int h = h0; h < h0 + k[1]; h++) {
            int64_t row = ((int64_t)d * IH + h) * IW;
            for (int w = w0; w < w0 + k[2]; w++) {
                float v = xp[row + w];
                if (v > bv || (isnan(v) && !isnan(bv))) {
                    bv = v;
                    best = row + w;
                }
            }
        }
    return best;
}

int ss_cpu_maxpool_fwd(const ss_op_args *a)
{
    if (!disjoint(a))
        return ss_op_get(a->kind)->fwd(a);
    const int planes = a->xs[0].d[0] * a->xs[0].d[1];
    const int IH = a->xs[0].d[3], IW = a->xs[0].d[4];
    const int OD = a->ys[0].d[2], OH = a->ys[0].d[3], OW = a->ys[0].d[4];
    const int k[3] = {a->ip[0], a->ip[1], a->ip[2]};
    const int64_t Isp = ss_spatial(&a->xs[0]), Osp = ss_spatial(&a->ys[0]);
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = a->x[0] + (int64_t)pl * Isp;
        float *yp = a->y[0] + (int64_t)pl * Osp;
        for (int od = 0; od < OD; od++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                    *yp++ = xp[amax(xp, k, IH, IW, od, oh, ow)];
    }
    return SS_OK;
}

int ss_cpu_maxpool_bwd(const ss_op_args *a)
{
    if (!disjoint(a) || !a->gx[0] || !a->gy[0])
        return ss_op_get(a->kind)->bwd(a);
    const int planes = a->xs[0].d[0] * a->xs[0].d[1];
    const int IH = a->xs[0].d[3], IW = a->xs[0].d[4];
    const int OD = a->ys[0].d[2], OH = a->ys[0].d[3], OW = a->ys[0].d[4];
    const int k[3] = {a->ip[0], a->ip[1], a->ip[2]};
    const int64_t Isp = ss_spatial(&a->xs[0]), Osp = ss_spatial(&a->ys[0]);
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = a->x[0] + (int64_t)pl * Isp;
        const float *gyp = a->gy[0] + (int64_t)pl * Osp;
        float *gxp = a->gx[0] + (int64_t)pl * Isp;
        memset(gxp, 0, (size_t)Isp * sizeof(float));
        for (int od = 0; od < OD; od++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                    gxp[amax(xp, k, IH, IW, od, oh, ow)] = *gyp++;
    }
    return SS_OK;
}
