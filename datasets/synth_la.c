/* synth-la: left-atrium-like MRI phantoms in the LA layout
 * (ROOT/2018LA_Seg_Training Set/<ID>/mri_norm2.h5, train.list, test.list).
 * Each case: a deformed ellipsoid (atrial cavity) with 2-4 vein-like tubes,
 * label 1; bright distractor blobs (other blood pools, label 0); tissue
 * texture; a smooth multiplicative bias field; Gaussian noise; the whole
 * volume z-scored; float32 image, uint8 label, stored (x, y, z) like the
 * real files. Default size 48 x ~64 x ~64 (D, H, W), 20 train + 4 test. */
#include "datasets/ds_impl.h"
#include "kernels/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LA_TRAIN = 20, LA_TEST = 4 };

typedef struct tube {
    double a[3], b[3], r;
} tube;

static double seg_dist2(const tube *t, double z, double y, double x)
{
    double d[3] = {t->b[0] - t->a[0], t->b[1] - t->a[1], t->b[2] - t->a[2]};
    double p[3] = {z - t->a[0], y - t->a[1], x - t->a[2]};
    double dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    double u = dd > 0 ? (p[0] * d[0] + p[1] * d[1] + p[2] * d[2]) / dd : 0;
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    double q[3] = {p[0] - u * d[0], p[1] - u * d[1], p[2] - u * d[2]};
    return q[0] * q[0] + q[1] * q[1] + q[2] * q[2];
}

static int la_case(const char *path, uint64_t seed, int k, double scale)
{
    sy_rng r = sy_rng_make(seed, 0x1A, (uint64_t)k);
    int D = sy_scaled(48, scale), H = sy_scaled(sy_int(&r, 60, 68), scale),
        W = sy_scaled(sy_int(&r, 60, 72), scale);
    double m = H < W ? H : W;
    double c[3] = {D / 2.0 + sy_range(&r, -3, 3) * scale, H / 2.0 + sy_range(&r, -4, 4) * scale,
                   W / 2.0 + sy_range(&r, -4, 4) * scale};
    double rad[3] = {sy_range(&r, 0.2, 0.28) * D, sy_range(&r, 0.15, 0.22) * m,
                     sy_range(&r, 0.16, 0.24) * m};
    sy_field f[4]; /* shape, texture, bias, foreground texture */
    sy_field_make(&f[0], &r, 5, 0.5 * m);
    sy_field_make(&f[1], &r, 8, 4 * scale);
    sy_field_make(&f[2], &r, 4, 1.2 * m);
    sy_field_make(&f[3], &r, 8, 4 * scale);
    sy_case3 cs;
    if (sy_case3_alloc(&cs, "synth-la", D, H, W, f, 4) != 0)
        return SS_ERR;
    float *img = cs.img, *shape = cs.grid[0], *tex = cs.grid[1], *bias = cs.grid[2],
          *tex2 = cs.grid[3];
    uint8_t *lab = cs.lab;
    int nt = sy_int(&r, 2, 4);
    tube t[4];
    for (int i = 0; i < nt; i++) {
        double th = sy_range(&r, 0, 6.283185307179586), ph = sy_range(&r, -0.6, 0.6);
        double dir[3] = {sin(ph), cos(ph) * sin(th), cos(ph) * cos(th)};
        double len = sy_range(&r, 0.6, 1.1);
        for (int a = 0; a < 3; a++) {
            t[i].a[a] = c[a] + 0.8 * rad[a] * dir[a];
            t[i].b[a] = c[a] + (0.8 + len) * rad[a] * dir[a];
        }
        t[i].r = sy_range(&r, 1.5, 2.8) * scale;
    }
    sy_blobs bl; /* distractors */
    sy_blobs_make(&bl, &r, (double[3]){D, H, W}, (double[3]){D, m, m}, 0.05, 0.12, 0.75, 1.1);
    double sigma = sy_range(&r, 0.06, 0.1);
    sy_rng noise = sy_rng_make(seed, 0x1B, (uint64_t)k);
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t i = ((size_t)z * H + y) * W + x;
                double q0 = (z - c[0]) / rad[0], q1 = (y - c[1]) / rad[1], q2 = (x - c[2]) / rad[2];
                double q = sqrt(q0 * q0 + q1 * q1 + q2 * q2);
                int fg = q < 1 + 0.18 * shape[i];
                for (int j = 0; !fg && j < nt; j++)
                    fg = seg_dist2(&t[j], z, y, x) < t[j].r * t[j].r;
                double v = 0.35 + 0.08 * tex[i];
                if (fg)
                    v = 1.0 + 0.04 * tex2[i];
                else {
                    if (q < 1.35)
                        v = 0.5; /* atrial wall / surrounding myocardium */
                    for (int j = 0; j < bl.n; j++)
                        if (sy_blob_has(&bl, j, z, y, x))
                            v = bl.v[j];
                }
                v *= exp(0.25 * bias[i]);
                img[i] = (float)(v + sigma * sy_normal(&noise));
                lab[i] = (uint8_t)fg;
            }
    return sy_case3_finish(&cs, path, 0);
}

int sy_synth_la(const char *out, uint64_t seed, double scale)
{
    enum { N = LA_TRAIN + LA_TEST };
    char idbuf[N][21], *ids[N];
    sy_rng r = sy_rng_make(seed, 0x10, 0);
    for (int i = 0; i < N; i++) {
        sy_make_id20(&r, idbuf[i]);
        ids[i] = idbuf[i];
    }
    char dir[4096], path[8448];
    for (int i = 0; i < N; i++) {
        snprintf(dir, sizeof dir, "%s/2018LA_Seg_Training Set/%s", out, ids[i]);
        if (ss_mkdirs(dir) != 0)
            return SS_ERR;
        snprintf(path, sizeof path, "%s/mri_norm2.h5", dir);
        if (la_case(path, seed, i, scale) != 0)
            return SS_ERR;
    }
    qsort(ids, LA_TRAIN, sizeof ids[0], sy_cmp_str); /* the real train.list is sorted */
    snprintf(path, sizeof path, "%s/train.list", out);
    if (sy_write_list(path, ids, LA_TRAIN) != 0)
        return SS_ERR;
    snprintf(path, sizeof path, "%s/test.list", out);
    return sy_write_list(path, ids + LA_TRAIN, LA_TEST);
}
