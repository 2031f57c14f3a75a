/* synth-acdc: short-axis cine-MR-like phantoms in the ACDC (SSL4MIS) layout:
 * ROOT/data/<patientNNN_frameKK>.h5 volumes (D, H, W) for every patient,
 * ROOT/data/slices/<volume>_slice_<k>.h5 (k = 1..D) for training patients,
 * train_slices.list grouped by patient (frame01 slices, then frame02, slice
 * order shuffled within a volume), train.list / val.list / test.list of
 * volume ids. Labels 0 background, 1 RV cavity, 2 myocardium, 3 LV cavity:
 * an LV disc inside a myocardial ring with a crescent RV beside it, radii
 * shrinking towards the apex, frame02 (end-systole) with a smaller cavity and
 * a thicker wall, boundaries perturbed by angular harmonics. Image: each
 * volume min-max normalised to [0, 1] (float32), label uint8.
 * Default: 8 train, 2 val, 2 test patients, 6-8 slices of ~64 x 64. */
#include "datasets/ds_impl.h"
#include "kernels/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { AC_TRAIN = 8, AC_VAL = 2, AC_TEST = 2, AC_N = AC_TRAIN + AC_VAL + AC_TEST };

typedef struct heart {
    int D, H, W;
    double cy, cx, rlv, thick, rv_ry, rv_rx, rv_dx, h2[2], p2[2], tilt;
} heart;

static double harm(const heart *h, double th, double k)
{
    return 1 + h->h2[0] * cos(2 * th + h->p2[0] + k) + h->h2[1] * cos(3 * th + h->p2[1]);
}

static void frame(const heart *h, int es, uint64_t seed, uint64_t key, float *img, uint8_t *lab)
{
    sy_rng r = sy_rng_make(seed, 0x3B, key);
    sy_field tex, bias;
    double m = h->H < h->W ? h->H : h->W;
    sy_field_make(&tex, &r, 8, 0.08 * m);
    sy_field_make(&bias, &r, 3, m);
    double cav = es ? 0.68 : 1.0, wall = es ? 1.35 : 1.0, rvf = es ? 0.7 : 1.0;
    double sigma = sy_range(&r, 0.02, 0.04);
    for (int z = 0; z < h->D; z++) {
        double u = (double)z / (h->D > 1 ? h->D - 1 : 1); /* 0 base .. 1 apex */
        double f = sqrt(1 - 0.75 * u * u);
        double rl = h->rlv * cav * f, th = h->thick * wall * (0.9 + 0.2 * u);
        double cy = h->cy + h->tilt * u, cx = h->cx - h->tilt * u;
        double rvy = h->rv_ry * rvf * (1 - 0.6 * u), rvx = h->rv_rx * rvf * (1 - 0.6 * u);
        double rvcx = cx - h->rv_dx * (0.6 + 0.4 * f);
        for (int y = 0; y < h->H; y++)
            for (int x = 0; x < h->W; x++) {
                size_t i = ((size_t)z * h->H + y) * h->W + x;
                double dy = y - cy, dx = x - cx, d = sqrt(dy * dy + dx * dx);
                double a = atan2(dy, dx), hm = harm(h, a, 0.3 * z);
                int l = 0;
                double body = (dy / (0.46 * h->H)) * (dy / (0.46 * h->H)) +
                              ((x - 0.5 * h->W) / (0.48 * h->W)) * ((x - 0.5 * h->W) / (0.48 * h->W));
                double v = body < 1 ? 0.3 + 0.12 * sy_field_at(&tex, z, y, x) : 0.03;
                if (body < 1 && body > 0.8)
                    v = 0.55; /* subcutaneous fat */
                double ry = (y - cy) / rvy, rx = (x - rvcx) / rvx;
                if (rvy > 1 && rvx > 1 && ry * ry + rx * rx < hm * hm) {
                    l = 1;
                    v = 0.78;
                }
                if (d < (rl + th) * hm) {
                    l = 2;
                    v = 0.22 + 0.04 * sy_field_at(&tex, y, x, z);
                }
                if (d < rl * hm) {
                    l = 3;
                    v = 0.85;
                }
                v *= exp(0.15 * sy_field_at(&bias, z, y, x));
                img[i] = (float)(v + sigma * sy_normal(&r));
                lab[i] = (uint8_t)l;
            }
    }
    sy_minmax01(img, (size_t)h->D * h->H * h->W);
}

int sy_synth_acdc(const char *out, uint64_t seed, double scale)
{
    char dir[4096], path[8448];
    snprintf(dir, sizeof dir, "%s/data/slices", out);
    if (ss_mkdirs(dir) != 0)
        return SS_ERR;
    int pnum[AC_N];
    for (int i = 0; i < AC_N; i++)
        pnum[i] = i + 1;
    sy_rng r = sy_rng_make(seed, 0x30, 0);
    for (int i = AC_N - 1; i > 0; i--) {
        int j = sy_int(&r, 0, i), t = pnum[i];
        pnum[i] = pnum[j];
        pnum[j] = t;
    }
    char vid[2 * AC_N][32], *vids[2 * AC_N];
    char (*sid)[48] = malloc(2 * AC_TRAIN * 64 * sizeof *sid);
    char **sids = malloc(2 * AC_TRAIN * 64 * sizeof *sids);
    int ns = 0, rc = SS_ERR;
    float *img = NULL;
    uint8_t *lab = NULL;
    if (!sid || !sids)
        goto oom;
    for (int p = 0; p < AC_N; p++) {
        sy_rng g = sy_rng_make(seed, 0x3A, (uint64_t)p);
        heart h;
        h.D = sy_int(&g, 6, 8);
        h.H = sy_scaled(sy_int(&g, 60, 72), scale);
        h.W = sy_scaled(sy_int(&g, 56, 68), scale);
        double m = h.H < h.W ? h.H : h.W;
        h.cy = h.H * sy_range(&g, 0.42, 0.55);
        h.cx = h.W * sy_range(&g, 0.5, 0.6);
        h.rlv = m * sy_range(&g, 0.11, 0.15);
        h.thick = m * sy_range(&g, 0.045, 0.065);
        h.rv_ry = h.rlv * sy_range(&g, 1.3, 1.7);
        h.rv_rx = h.rlv * sy_range(&g, 0.8, 1.1);
        h.rv_dx = h.rlv + h.thick + h.rv_rx * sy_range(&g, 0.3, 0.6);
        h.h2[0] = sy_range(&g, 0.02, 0.09);
        h.h2[1] = sy_range(&g, 0.01, 0.06);
        h.p2[0] = sy_range(&g, 0, 6.283);
        h.p2[1] = sy_range(&g, 0, 6.283);
        h.tilt = sy_range(&g, -0.06, 0.06) * m;
        size_t n = (size_t)h.D * h.H * h.W;
        img = malloc(n * sizeof *img);
        lab = malloc(n);
        if (!img || !lab)
            goto oom;
        for (int fr = 0; fr < 2; fr++) {
            char *v = vid[2 * p + fr];
            snprintf(v, 32, "patient%03d_frame%02d", pnum[p], fr + 1);
            vids[2 * p + fr] = v;
            frame(&h, fr, seed, (uint64_t)(2 * p + fr), img, lab);
            int dims[3] = {h.D, h.H, h.W};
            snprintf(path, sizeof path, "%s/data/%s.h5", out, v);
            if (sy_write_h5(path, 3, dims, img, lab, 0) != 0)
                goto done;
            if (p >= AC_TRAIN)
                continue;
            int order[64];
            for (int k = 0; k < h.D; k++)
                order[k] = k;
            for (int k = h.D - 1; k > 0; k--) {
                int j = sy_int(&g, 0, k), t = order[k];
                order[k] = order[j];
                order[j] = t;
            }
            for (int k = 0; k < h.D; k++) {
                int z = order[k];
                snprintf(sid[ns], 48, "%s_slice_%d", v, z + 1);
                sids[ns] = sid[ns];
                snprintf(path, sizeof path, "%s/data/slices/%s.h5", out, sid[ns]);
                size_t off = (size_t)z * h.H * h.W;
                if (sy_write_h5(path, 2, dims + 1, img + off, lab + off, 0) != 0)
                    goto done;
                ns++;
            }
        }
        free(img);
        free(lab);
        img = NULL;
        lab = NULL;
    }
    snprintf(path, sizeof path, "%s/train_slices.list", out);
    if (sy_write_list(path, sids, ns) != 0)
        goto done;
    snprintf(path, sizeof path, "%s/train.list", out);
    if (sy_write_list(path, vids, 2 * AC_TRAIN) != 0)
        goto done;
    snprintf(path, sizeof path, "%s/val.list", out);
    if (sy_write_list(path, vids + 2 * AC_TRAIN, 2 * AC_VAL) != 0)
        goto done;
    snprintf(path, sizeof path, "%s/test.list", out);
    if (sy_write_list(path, vids + 2 * (AC_TRAIN + AC_VAL), 2 * AC_TEST) != 0)
        goto done;
    rc = SS_OK;
    goto done;
oom:
    ss_seterr("synth-acdc: out of memory");
done:
    free(img);
    free(lab);
    free(sid);
    free(sids);
    return rc;
}
