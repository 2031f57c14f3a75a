/* Sliding-window (3-D) and slice-wise (2-D) inference; see infer.h. */
#include "harness/infer.h"
#include "harness/metrics.h"
#include "harness/zoom.h"
#include "kernels/error.h"

#include <stdlib.h>
#include <string.h>

int ss_window_starts(int size, int patch, int stride, int *starts, int max)
{
    if (patch < 1 || stride < 1 || size < patch)
        return ss_seterr("sliding window: size %d, patch %d, stride %d; want patch >= 1, "
                         "stride >= 1 and size >= patch",
                         size, patch, stride);
    int n = (size - patch + stride - 1) / stride + 1;
    for (int i = 0; i < n && i < max; i++) {
        long s = (long)stride * i;
        starts[i] = s < size - patch ? (int)s : size - patch;
    }
    return n;
}

static int check_opts(const ss_infer_opts *o, const ss_volume *v, ss_predict_fn f,
                      const uint8_t *pred)
{
    if (!o || !v || !f || !pred || !v->image)
        return ss_seterr("infer: NULL options, volume, image, model or output");
    if (o->dims != 2 && o->dims != 3)
        return ss_seterr("infer: dims %d; want 2 or 3", o->dims);
    if (o->classes < 2 || o->classes > 256)
        return ss_seterr("infer: %d classes; want 2..256", o->classes);
    if (o->batch < 1)
        return ss_seterr("infer: batch %d; want >= 1", o->batch);
    if (v->c < 1 || v->d < 1 || v->h < 1 || v->w < 1)
        return ss_seterr("infer: case '%s' has shape %dx%dx%dx%d; want positive sizes", v->id,
                         v->c, v->d, v->h, v->w);
    for (int a = o->dims == 2 ? 1 : 0; a < 3; a++) {
        if (o->patch[a] < 1)
            return ss_seterr("infer: patch[%d] = %d; want >= 1", a, o->patch[a]);
        if (o->dims == 3 && o->stride[a] < 1)
            return ss_seterr("infer: stride[%d] = %d; want >= 1", a, o->stride[a]);
    }
    return SS_OK;
}

/* ---- 3-D sliding window ---------------------------------------------------- */

static int infer3d(const ss_infer_opts *o, const ss_volume *v, ss_predict_fn f, void *ctx,
                   uint8_t *pred)
{
    const int K = o->classes, C = v->c;
    const int dims[3] = {v->d, v->h, v->w};
    int P[3], before[3], pad = 0;
    for (int a = 0; a < 3; a++) {
        P[a] = dims[a] > o->patch[a] ? dims[a] : o->patch[a];
        before[a] = (P[a] - dims[a]) / 2;
        pad |= P[a] != dims[a];
    }
    const long pvol = (long)P[0] * P[1] * P[2];
    const long wvol = (long)o->patch[0] * o->patch[1] * o->patch[2];
    const int kacc = K == 2 ? 1 : K; /* K = 2 keeps only the foreground channel */
    int nw[3], *starts[3] = {NULL, NULL, NULL};
    int *cnt[3] = {NULL, NULL, NULL};
    float *padded = NULL, *xb = NULL, *pb = NULL;
    double *acc = NULL;
    int (*win)[3] = NULL;
    int rc = SS_ERR;
    for (int a = 0; a < 3; a++) {
        nw[a] = ss_window_starts(P[a], o->patch[a], o->stride[a], NULL, 0);
        if (nw[a] < 0)
            goto done;
        starts[a] = malloc((size_t)nw[a] * sizeof(int));
        cnt[a] = calloc((size_t)P[a], sizeof(int));
        if (!starts[a] || !cnt[a])
            goto oom;
        ss_window_starts(P[a], o->patch[a], o->stride[a], starts[a], nw[a]);
        for (int i = 0; i < nw[a]; i++)
            for (int k = 0; k < o->patch[a]; k++)
                cnt[a][starts[a][i] + k]++;
    }
    const float *img = v->image;
    if (pad) {
        padded = calloc((size_t)C * pvol, sizeof(float));
        if (!padded)
            goto oom;
        for (int c = 0; c < C; c++)
            for (int z = 0; z < dims[0]; z++)
                for (int y = 0; y < dims[1]; y++)
                    memcpy(padded + c * pvol + ((long)(z + before[0]) * P[1] + y + before[1]) * P[2] +
                               before[2],
                           v->image + (((long)c * dims[0] + z) * dims[1] + y) * dims[2],
                           (size_t)dims[2] * sizeof(float));
        img = padded;
    }
    const long nwin = (long)nw[0] * nw[1] * nw[2];
    const int bmax = (long)o->batch < nwin ? o->batch : (int)nwin;
    xb = malloc((size_t)bmax * C * wvol * sizeof(float));
    pb = malloc((size_t)bmax * K * wvol * sizeof(float));
    acc = calloc((size_t)kacc * pvol, sizeof(double));
    win = malloc((size_t)bmax * sizeof *win);
    if (!xb || !pb || !acc || !win)
        goto oom;
    const int in_shape[4] = {C, o->patch[0], o->patch[1], o->patch[2]};
    const int pd = o->patch[0], ph = o->patch[1], pw = o->patch[2];
    long w = 0;
    while (w < nwin) {
        int nb = 0;
        for (; nb < bmax && w < nwin; nb++, w++) {
            /* window order: the first axis outermost, as the reference loops */
            int i0 = (int)(w / ((long)nw[1] * nw[2])), i1 = (int)(w / nw[2] % nw[1]),
                i2 = (int)(w % nw[2]);
            win[nb][0] = starts[0][i0], win[nb][1] = starts[1][i1], win[nb][2] = starts[2][i2];
            float *dst = xb + (long)nb * C * wvol;
            for (int c = 0; c < C; c++)
                for (int z = 0; z < pd; z++)
                    for (int y = 0; y < ph; y++)
                        memcpy(dst + ((long)c * pd + z) * ph * pw + (long)y * pw,
                               img + c * pvol + ((long)(win[nb][0] + z) * P[1] + win[nb][1] + y) *
                                                    P[2] + win[nb][2],
                               (size_t)pw * sizeof(float));
        }
        if (f(ctx, nb, in_shape, xb, pb))
            goto done;
        for (int b = 0; b < nb; b++)
            for (int k = 0; k < kacc; k++) {
                const float *src = pb + ((long)b * K + (K == 2 ? 1 : k)) * wvol;
                double *ak = acc + (long)k * pvol;
#pragma omp parallel for schedule(static)
                for (int zy = 0; zy < pd * ph; zy++) {
                    int z = zy / ph, y = zy % ph;
                    double *row = ak + ((long)(win[b][0] + z) * P[1] + win[b][1] + y) * P[2] +
                                  win[b][2];
                    const float *s = src + (long)zy * pw;
                    for (int x = 0; x < pw; x++)
                        row[x] += s[x];
                }
            }
    }
    /* mean and label, cropping the padding off */
#pragma omp parallel for schedule(static)
    for (int z = 0; z < dims[0]; z++)
        for (int y = 0; y < dims[1]; y++)
            for (int x = 0; x < dims[2]; x++) {
                int zz = z + before[0], yy = y + before[1], xx = x + before[2];
                long i = ((long)zz * P[1] + yy) * P[2] + xx;
                double n = (double)cnt[0][zz] * cnt[1][yy] * cnt[2][xx];
                uint8_t lab = 0;
                if (K == 2) {
                    lab = acc[i] / n > 0.5;
                } else {
                    double best = acc[i];
                    for (int k = 1; k < K; k++)
                        if (acc[(long)k * pvol + i] > best) {
                            best = acc[(long)k * pvol + i];
                            lab = (uint8_t)k;
                        }
                }
                pred[((long)z * dims[1] + y) * dims[2] + x] = lab;
            }
    rc = SS_OK;
    goto done;
oom:
    ss_seterr("infer: out of memory for case '%s' (%dx%dx%d, patch %dx%dx%d)", v->id, dims[0],
              dims[1], dims[2], o->patch[0], o->patch[1], o->patch[2]);
done:
    for (int a = 0; a < 3; a++) {
        free(starts[a]);
        free(cnt[a]);
    }
    free(padded);
    free(xb);
    free(pb);
    free(acc);
    free(win);
    return rc;
}

/* ---- 2-D slice-wise -------------------------------------------------------- */

static int infer2d(const ss_infer_opts *o, const ss_volume *v, ss_predict_fn f, void *ctx,
                   uint8_t *pred)
{
    const int K = o->classes, C = v->c, D = v->d, H = v->h, W = v->w;
    const int ph = o->patch[1], pw = o->patch[2];
    const long pvol = (long)ph * pw, svol = (long)H * W;
    const int bmax = o->batch < D ? o->batch : D;
    float *xb = malloc((size_t)bmax * C * pvol * sizeof(float));
    float *pb = malloc((size_t)bmax * K * pvol * sizeof(float));
    uint8_t *lab = malloc((size_t)pvol);
    int rc = SS_ERR;
    if (!xb || !pb || !lab) {
        ss_seterr("infer: out of memory for case '%s' (%dx%dx%d, input %dx%d)", v->id, D, H, W,
                  ph, pw);
        goto done;
    }
    const int in_shape[4] = {C, 1, ph, pw};
    const int sdims[3] = {1, H, W}, pdims[3] = {1, ph, pw};
    for (int z0 = 0; z0 < D; z0 += bmax) {
        int nb = D - z0 < bmax ? D - z0 : bmax;
        for (int b = 0; b < nb; b++)
            for (int c = 0; c < C; c++)
                if (ss_zoom_nearest_f32(v->image + ((long)c * D + z0 + b) * svol, sdims,
                                        xb + ((long)b * C + c) * pvol, pdims, 0.0f))
                    goto done;
        if (f(ctx, nb, in_shape, xb, pb))
            goto done;
        for (int b = 0; b < nb; b++) {
            const float *p = pb + (long)b * K * pvol;
            for (long i = 0; i < pvol; i++) {
                uint8_t best = 0;
                float bv = p[i];
                for (int k = 1; k < K; k++)
                    if (p[(long)k * pvol + i] > bv) {
                        bv = p[(long)k * pvol + i];
                        best = (uint8_t)k;
                    }
                lab[i] = best;
            }
            if (ss_zoom_nearest_u8(lab, pdims, pred + (long)(z0 + b) * svol, sdims, 0))
                goto done;
        }
    }
    rc = SS_OK;
done:
    free(xb);
    free(pb);
    free(lab);
    return rc;
}

int ss_infer_volume(const ss_infer_opts *o, const ss_volume *v, ss_predict_fn f, void *ctx,
                    uint8_t *pred)
{
    if (check_opts(o, v, f, pred))
        return SS_ERR;
    int rc = o->dims == 3 ? infer3d(o, v, f, ctx, pred) : infer2d(o, v, f, ctx, pred);
    if (rc)
        return rc;
    if (o->lcc) {
        const int dims[3] = {v->d, v->h, v->w};
        return ss_largest_cc_classes(pred, dims, o->classes);
    }
    return SS_OK;
}
