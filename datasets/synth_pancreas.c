/* synth-pancreas: abdominal-CT-like phantoms in the Pancreas layout
 * (ROOT/Pancreas_h5/<name>_norm.h5, train.list, test.list; names
 * image0001...). Each case: a curved tube of varying radius (pancreas, head
 * thicker than tail, label 1) among organ-like blobs of similar density,
 * bright vessels and fat; CT window to [0, 1], noise, then z-scored.
 * Image and label are stored float32 (x, y, z), as the real files.
 * Default size 48 x ~56 x ~60 (D, H, W), 16 train + 4 test. */
#include "datasets/ds_impl.h"
#include "kernels/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PA_TRAIN = 16, PA_TEST = 4 };

static int pancreas_case(const char *path, uint64_t seed, int k, double scale)
{
    sy_rng r = sy_rng_make(seed, 0x2A, (uint64_t)k);
    int D = sy_scaled(48, scale), H = sy_scaled(sy_int(&r, 52, 60), scale),
        W = sy_scaled(sy_int(&r, 52, 68), scale);
    /* centre line z(t), y(t) for x = x0 + t (W - 2 x0), t in [0, 1] */
    double x0 = 0.15 * W, cz = D * sy_range(&r, 0.4, 0.6), cy = H * sy_range(&r, 0.45, 0.55);
    double az = sy_range(&r, -0.15, 0.15) * D, ay = sy_range(&r, 0.1, 0.2) * H;
    double r_head = sy_range(&r, 6, 8) * scale, r_tail = sy_range(&r, 3, 4) * scale;
    sy_field f[4]; /* shape, background, organ and pancreas texture */
    sy_field_make(&f[0], &r, 5, 10 * scale);
    sy_field_make(&f[1], &r, 8, 3 * scale);
    sy_field_make(&f[2], &r, 8, 3 * scale);
    sy_field_make(&f[3], &r, 8, 3 * scale);
    sy_case3 cs;
    if (sy_case3_alloc(&cs, "synth-pancreas", D, H, W, f, 4) != 0)
        return SS_ERR;
    float *img = cs.img, *shape = cs.grid[0], *tex = cs.grid[1], *tex2 = cs.grid[2],
          *tex3 = cs.grid[3];
    uint8_t *lab = cs.lab;
    const double lim[3] = {D, H, W};
    sy_blobs org; /* organs */
    sy_blobs_make(&org, &r, lim, lim, 0.1, 0.2, 0.5, 0.65);
    double vy = H * sy_range(&r, 0.25, 0.4), vx = W * sy_range(&r, 0.4, 0.6),
           vr = sy_range(&r, 2, 3) * scale; /* vessel along z */
    sy_rng noise = sy_rng_make(seed, 0x2B, (uint64_t)k);
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t i = ((size_t)z * H + y) * W + x;
                double t = (x - x0) / (W - 2 * x0);
                int fg = 0;
                if (t >= 0 && t <= 1) {
                    double zz = cz + az * (t - 0.5), yy = cy + ay * sin(3.14159265 * t);
                    double rr = r_head + (r_tail - r_head) * t;
                    rr *= 1 + 0.2 * shape[i];
                    double dz = (z - zz) * 1.4, dy = y - yy;
                    fg = dz * dz + dy * dy < rr * rr;
                }
                double v = 0.25 + 0.05 * tex[i]; /* fat / background */
                for (int j = 0; j < org.n; j++)
                    if (sy_blob_has(&org, j, z, y, x))
                        v = org.v[j] + 0.04 * tex2[i];
                if ((y - vy) * (y - vy) + (x - vx) * (x - vx) < vr * vr)
                    v = 0.85;
                if (fg)
                    v = 0.58 + 0.06 * tex3[i];
                v += 0.05 * sy_normal(&noise);
                img[i] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
                lab[i] = (uint8_t)fg;
            }
    return sy_case3_finish(&cs, path, 1);
}

int sy_synth_pancreas(const char *out, uint64_t seed, double scale)
{
    enum { N = PA_TRAIN + PA_TEST };
    char idbuf[N][24], *ids[N];
    /* ids image0001.. assigned to train/test in a seeded random order */
    int perm[N];
    for (int i = 0; i < N; i++)
        perm[i] = i;
    sy_rng r = sy_rng_make(seed, 0x20, 0);
    for (int i = N - 1; i > 0; i--) {
        int j = sy_int(&r, 0, i), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    char dir[4096], path[8448];
    snprintf(dir, sizeof dir, "%s/Pancreas_h5", out);
    if (ss_mkdirs(dir) != 0)
        return SS_ERR;
    for (int i = 0; i < N; i++) {
        snprintf(idbuf[i], sizeof idbuf[i], "image%04d", perm[i] + 1);
        ids[i] = idbuf[i];
        snprintf(path, sizeof path, "%s/%s_norm.h5", dir, ids[i]);
        if (pancreas_case(path, seed, i, scale) != 0)
            return SS_ERR;
    }
    snprintf(path, sizeof path, "%s/train.list", out);
    if (sy_write_list(path, ids, PA_TRAIN) != 0)
        return SS_ERR;
    snprintf(path, sizeof path, "%s/test.list", out);
    return sy_write_list(path, ids + PA_TRAIN, PA_TEST);
}
