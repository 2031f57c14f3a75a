/* MAXPOOL fast path for non-overlapping windows (kernel == stride, no
 * padding: every U-Net / V-Net pooling). Each output scans its window in
 * (d, h, w) order with the reference's rule (first maximum, NaN wins), so the
 * forward is identical; the backward writes each output gradient to its
 * window's argmax, the only output that reads that input, so it is identical
 * too. Windows of 2 x 2 in H and W (depth 1 or 2) take four outputs per step
 * in SSE registers with the same scan order and rule, selecting by masks: the
 * position of a window's maximum is close to random, so a branch on it
 * mispredicts often. Other geometries use the reference. */
#include "cpu_fast.h"
#include "sse_select.h"

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

/* Four windows (kd x 2 x 2) starting at input column 2*ow of rows h0 (and
 * plane offset dstep for the second depth): their maxima and the scan
 * position (0 .. 4*kd-1) of the first maximum, by the reference's rule (a
 * larger value or a NaN over a non-NaN replaces the current one). */
static inline __m128 max4(const float *row0, int64_t IW, int64_t dstep, int kd, __m128i *pos)
{
    __m128 bv = _mm_setzero_ps();
    __m128i bi = _mm_setzero_si128();
    int c = 0;
    for (int d = 0; d < kd; d++)
        for (int h = 0; h < 2; h++) {
            const float *r = row0 + d * dstep + h * IW;
            __m128 lo = _mm_loadu_ps(r), hi = _mm_loadu_ps(r + 4);
            __m128 cand[2] = {_mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))};
            for (int w = 0; w < 2; w++, c++) {
                __m128 v = cand[w];
                if (c == 0) {
                    bv = v;
                    continue;
                }
                __m128 take = _mm_or_ps(_mm_cmpgt_ps(v, bv),
                                        _mm_and_ps(_mm_cmpunord_ps(v, v), _mm_cmpord_ps(bv, bv)));
                bv = ss_sse_select(take, v, bv);
                bi = _mm_castps_si128(ss_sse_select(take, _mm_castsi128_ps(_mm_set1_epi32(c)),
                                          _mm_castsi128_ps(bi)));
            }
        }
    *pos = bi;
    return bv;
}

static int vec_geometry(const ss_op_args *a)
{
    return (a->ip[0] == 1 || a->ip[0] == 2) && a->ip[1] == 2 && a->ip[2] == 2;
}

/* One plane, 2 x 2 (x kd) windows: forward values into yp, or (gyp != NULL)
 * the backward: every input of a covered window receives its window's output
 * gradient when it is the window's first maximum and 0 otherwise. */
static void plane_vec(const float *xp, float *yp, const float *gyp, float *gxp, int kd, int IH,
                      int IW, int OD, int OH, int OW)
{
    const int64_t dstep = (int64_t)IH * IW;
    for (int od = 0; od < OD; od++)
        for (int oh = 0; oh < OH; oh++) {
            const int64_t in0 = ((int64_t)od * kd * IH + 2 * oh) * IW;
            const int64_t out0 = ((int64_t)od * OH + oh) * OW;
            int ow = 0;
            for (; ow + 4 <= OW; ow += 4) {
                __m128i pos;
                __m128 m = max4(xp + in0 + 2 * ow, IW, dstep, kd, &pos);
                if (!gyp) {
                    _mm_storeu_ps(yp + out0 + ow, m);
                    continue;
                }
                __m128 g = _mm_loadu_ps(gyp + out0 + ow);
                int c = 0;
                for (int d = 0; d < kd; d++)
                    for (int h = 0; h < 2; h++, c += 2) {
                        __m128 e = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(pos, _mm_set1_epi32(c))), g);
                        __m128 o = _mm_and_ps(
                            _mm_castsi128_ps(_mm_cmpeq_epi32(pos, _mm_set1_epi32(c + 1))), g);
                        float *r = gxp + in0 + d * dstep + h * IW + 2 * ow;
                        _mm_storeu_ps(r, _mm_unpacklo_ps(e, o));
                        _mm_storeu_ps(r + 4, _mm_unpackhi_ps(e, o));
                    }
            }
            const int k[3] = {kd, 2, 2};
            for (; ow < OW; ow++) {
                int64_t b = amax(xp, k, IH, IW, od, oh, ow);
                if (!gyp) {
                    yp[out0 + ow] = xp[b];
                    continue;
                }
                for (int d = 0; d < kd; d++)
                    for (int h = 0; h < 2; h++)
                        for (int w = 0; w < 2; w++)
                            gxp[in0 + d * dstep + h * IW + 2 * ow + w] = 0.f;
                gxp[b] = gyp[out0 + ow];
            }
        }
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
    const int vec = vec_geometry(a);
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = a->x[0] + (int64_t)pl * Isp;
        float *yp = a->y[0] + (int64_t)pl * Osp;
        if (vec) {
            plane_vec(xp, yp, NULL, NULL, k[0], IH, IW, OD, OH, OW);
            continue;
        }
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
    const int vec = vec_geometry(a);
    /* inputs outside every window (odd sizes) get 0 from the memset; the
     * vector path writes every input of a covered window itself */
    const int covered = a->xs[0].d[2] == OD * k[0] && IH == OH * k[1] && IW == OW * k[2];
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = a->x[0] + (int64_t)pl * Isp;
        const float *gyp = a->gy[0] + (int64_t)pl * Osp;
        float *gxp = a->gx[0] + (int64_t)pl * Isp;
        if (!vec || !covered)
            memset(gxp, 0, (size_t)Isp * sizeof(float));
        if (vec) {
            plane_vec(xp, NULL, gyp, gxp, k[0], IH, IW, OD, OH, OW);
            continue;
        }
        for (int od = 0; od < OD; od++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                    gxp[amax(xp, k, IH, IW, od, oh, ow)] = *gyp++;
    }
    return SS_OK;
}
