/* UPSAMPLE fast path (nearest and linear, PyTorch's index rules as in
 * kernels/ops/upsample.c). The reference sums the 8 (trilinear) products per
 * output in double; here each output row (od, oh) first blends its 2-4 input
 * rows along D and H into a row buffer, then interpolates along W, in float.
 * The backward is the transpose: scatter the output row's gradient along W
 * into a row buffer, then add it into the 2-4 input rows. Planes (n, c) are
 * split over threads, so every gradient element is written by one thread. */
#include "cpu_fast.h"

#include "../error.h"

#include <math.h>
#include <string.h>

#define ROW_MAX 4096

typedef struct tab {
    int *i0, *i1;
    float *l0, *l1;
} tab;

static void build(tab *t, int in, int out, int linear, int align, char **mem)
{
    t->i0 = (int *)*mem;
    t->i1 = t->i0 + out;
    t->l0 = (float *)(t->i1 + out);
    t->l1 = t->l0 + out;
    *mem = (char *)(t->l1 + out);
    if (!linear) {
        const float scale = (float)in / (float)out;
        for (int o = 0; o < out; o++) {
            int s = (int)floorf((float)o * scale);
            if (s > in - 1)
                s = in - 1;
            t->i0[o] = t->i1[o] = s;
            t->l0[o] = 1.f;
            t->l1[o] = 0.f;
        }
        return;
    }
    float scale = align ? (out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.f) : (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float src = align ? scale * (float)o : scale * ((float)o + 0.5f) - 0.5f;
        if (!align && src < 0.f)
            src = 0.f;
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

/* Neighbours of output o with merged weights; returns their count (1 or 2). */
static int nb(const tab *t, int o, int idx[2], float w[2])
{
    idx[0] = t->i0[o];
    idx[1] = t->i1[o];
    w[0] = t->l0[o];
    w[1] = t->l1[o];
    if (idx[1] == idx[0]) {
        w[0] += w[1];
        return 1;
    }
    return 2;
}

static int tabs(const ss_op_args *a, tab t[3])
{
    size_t need = 0;
    for (int j = 0; j < 3; j++)
        need += (size_t)a->ys[0].d[2 + j] * (2 * sizeof(int) + 2 * sizeof(float));
    if (!a->ws || a->ws_size < need || a->xs[0].d[4] > ROW_MAX)
        return -1;
    char *mem = a->ws;
    for (int j = 0; j < 3; j++)
        build(&t[j], a->xs[0].d[2 + j], a->ys[0].d[2 + j], a->ip[0] == 1, a->ip[1], &mem);
    return 0;
}

int ss_cpu_upsample_fwd(const ss_op_args *a)
{
    tab t[3];
    if (tabs(a, t) != 0)
        return ss_op_get(a->kind)->fwd(a);
    const int planes = a->xs[0].d[0] * a->xs[0].d[1];
    const int IH = a->xs[0].d[3], IW = a->xs[0].d[4];
    const int OD = a->ys[0].d[2], OH = a->ys[0].d[3], OW = a->ys[0].d[4];
    const int64_t Isp = ss_spatial(&a->xs[0]), Osp = ss_spatial(&a->ys[0]);
    const int nearest = a->ip[0] == 0;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = a->x[0] + (int64_t)pl * Isp;
        float *yp = a->y[0] + (int64_t)pl * Osp;
        float row[ROW_MAX];
        for (int od = 0; od < OD; od++) {
            int di[2], hi[2];
            float dw[2], hw[2];
            int nd = nb(&t[0], od, di, dw);
            for (int oh = 0; oh < OH; oh++) {
                int nh = nb(&t[1], oh, hi, hw);
                const float *r0 = xp + ((int64_t)di[0] * IH + hi[0]) * IW;
                if (nd == 1 && nh == 1 && dw[0] == 1.f && hw[0] == 1.f) {
                    memcpy(row, r0, (size_t)IW * sizeof(float));
                } else {
                    float w = dw[0] * hw[0];
                    for (int i = 0; i < IW; i++)
                        row[i] = w * r0[i];
                    for (int p = 0; p < nd; p++)
                        for (int q = 0; q < nh; q++) {
                            if (!p && !q)
                                continue;
                            const float *r = xp + ((int64_t)di[p] * IH + hi[q]) * IW;
                            float wpq = dw[p] * hw[q];
                            for (int i = 0; i < IW; i++)
                                row[i] += wpq * r[i];
                        }
                }
                float *y = yp + ((int64_t)od * OH + oh) * OW;
                const tab *tw = &t[2];
                if (nearest)
                    for (int ow = 0; ow < OW; ow++)
                        y[ow] = row[tw->i0[ow]];
                else
                    for (int ow = 0; ow < OW; ow++)
                        y[ow] = tw->l0[ow] * row[tw->i0[ow]] + tw->l1[ow] * row[tw->i1[ow]];
            }
        }
    }
    return SS_OK;
}

int ss_cpu_upsample_bwd(const ss_op_args *a)
{
    if (!a->gx[0] || !a->gy[0])
        return ss_op_get(a->kind)->bwd(a);
    tab t[3];
    if (tabs(a, t) != 0)
        return ss_op_get(a->kind)->bwd(a);
    const int planes = a->xs[0].d[0] * a->xs[0].d[1];
    const int IH = a->xs[0].d[3], IW = a->xs[0].d[4];
    const int OD = a->ys[0].d[2], OH = a->ys[0].d[3], OW = a->ys[0].d[4];
    const int64_t Isp = ss_spatial(&a->xs[0]), Osp = ss_spatial(&a->ys[0]);
    const int nearest = a->ip[0] == 0;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *gyp = a->gy[0] + (int64_t)pl * Osp;
        float *gxp = a->gx[0] + (int64_t)pl * Isp;
        float row[ROW_MAX];
        memset(gxp, 0, (size_t)Isp * sizeof(float));
        for (int od = 0; od < OD; od++) {
            int di[2], hi[2];
            float dw[2], hw[2];
            int nd = nb(&t[0], od, di, dw);
            for (int oh = 0; oh < OH; oh++) {
                int nh = nb(&t[1], oh, hi, hw);
                const float *g = gyp + ((int64_t)od * OH + oh) * OW;
                memset(row, 0, (size_t)IW * sizeof(float));
                const tab *tw = &t[2];
                if (nearest)
                    for (int ow = 0; ow < OW; ow++)
                        row[tw->i0[ow]] += g[ow];
                else
                    for (int ow = 0; ow < OW; ow++) {
                        row[tw->i0[ow]] += tw->l0[ow] * g[ow];
                        row[tw->i1[ow]] += tw->l1[ow] * g[ow];
                    }
                for (int p = 0; p < nd; p++)
                    for (int q = 0; q < nh; q++) {
                        float *r = gxp + ((int64_t)di[p] * IH + hi[q]) * IW;
                        float wpq = dw[p] * hw[q];
                        for (int i = 0; i < IW; i++)
                            r[i] += wpq * row[i];
                    }
            }
        }
    }
    return SS_OK;
}
