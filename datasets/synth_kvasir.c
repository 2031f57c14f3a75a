/* synth-kvasir: endoscopy-like RGB frames in the Kvasir-instrument layout
 * (ROOT/images/<id>.jpg, ROOT/masks/<id>.png with 0 / 255, train.txt,
 * test.txt). Each frame: reddish mucosa with folds, vessels and a dark
 * vignette; one or two instruments (a shaded metallic shaft entering from the
 * border, with forceps jaws at the tip and a specular stripe, mask 255);
 * specular highlights on the tissue too (mask 0).
 * Default 96 x 128 (H x W) pixels, 20 train + 6 test frames. */
#include "datasets/ds_impl.h"
#include "kernels/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KV_TRAIN = 20, KV_TEST = 6 };

typedef struct tool {
    double a[2], b[2], w, jaw;  /* shaft from a (outside) to tip b, half-width w */
    double col;
} tool;

/* Distance from p to segment ab and the signed offset across it. */
static double seg(const double a[2], const double b[2], double y, double x, double *u_out,
                  double *across)
{
    double dy = b[0] - a[0], dx = b[1] - a[1], L2 = dy * dy + dx * dx;
    double u = ((y - a[0]) * dy + (x - a[1]) * dx) / L2;
    *u_out = u;
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    double qy = y - a[0] - u * dy, qx = x - a[1] - u * dx;
    *across = (qy * dx - qx * dy) / sqrt(L2);
    return sqrt(qy * qy + qx * qx);
}

static int kv_frame(const char *img_path, const char *mask_path, uint64_t seed, int k,
                    double scale)
{
    sy_rng r = sy_rng_make(seed, 0x4A, (uint64_t)k);
    int H = sy_scaled(96, scale), W = sy_scaled(128, scale);
    size_t n = (size_t)H * W;
    uint8_t *rgb = malloc(3 * n), *mask = malloc(n);
    if (!rgb || !mask) {
        free(rgb);
        free(mask);
        return ss_seterr("synth-kvasir: out of memory");
    }
    sy_field folds, fine, vessel;
    sy_field_make(&folds, &r, 6, 0.25 * H);
    sy_field_make(&fine, &r, 10, 0.05 * H);
    sy_field_make(&vessel, &r, 8, 0.12 * H);
    double base[3] = {sy_range(&r, 0.7, 0.85), sy_range(&r, 0.3, 0.42), sy_range(&r, 0.25, 0.35)};
    int nt = sy_int(&r, 1, 2);
    tool t[2];
    for (int i = 0; i < nt; i++) {
        /* entry point on the border (left, right or bottom), tip inside */
        int side = sy_int(&r, 0, 2);
        double ey = side == 2 ? H + 4 : sy_range(&r, 0.3, 1.0) * H;
        double ex = side == 0 ? -4 : side == 1 ? W + 4 : sy_range(&r, 0.1, 0.9) * W;
        t[i].a[0] = ey;
        t[i].a[1] = ex;
        t[i].b[0] = sy_range(&r, 0.25, 0.65) * H;
        t[i].b[1] = sy_range(&r, 0.3, 0.7) * W;
        t[i].w = sy_range(&r, 0.05, 0.08) * H;
        t[i].jaw = sy_range(&r, 0.25, 0.6);
        t[i].col = sy_range(&r, 0.55, 0.75);
    }
    int nh = sy_int(&r, 3, 6);
    double hc[6][2], hr[6][2];
    for (int i = 0; i < nh; i++) {
        hc[i][0] = sy_range(&r, 0.1, 0.9) * H;
        hc[i][1] = sy_range(&r, 0.1, 0.9) * W;
        hr[i][0] = sy_range(&r, 0.008, 0.025) * H;
        hr[i][1] = sy_range(&r, 0.01, 0.04) * H;
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t i = (size_t)y * W + x;
            double f = sy_field_at(&folds, 0, y, x), g = sy_field_at(&fine, 0, y, x);
            double shade = 0.75 + 0.2 * f + 0.05 * g;
            double c[3];
            for (int ch = 0; ch < 3; ch++)
                c[ch] = base[ch] * shade;
            double vs = fabs(sy_field_at(&vessel, 0, y, x));
            if (vs < 0.06) {
                c[0] *= 0.8;
                c[1] *= 0.6;
                c[2] *= 0.65;
            }
            for (int j = 0; j < nh; j++) {
                double a = (y - hc[j][0]) / hr[j][0], b = (x - hc[j][1]) / hr[j][1];
                double q = a * a + b * b;
                if (q < 1)
                    for (int ch = 0; ch < 3; ch++)
                        c[ch] += (1 - q) * (1.0 - c[ch]);
            }
            int m = 0;
            for (int j = 0; j < nt; j++) {
                double u, across, d = seg(t[j].a, t[j].b, y, x, &u, &across);
                int in = d < t[j].w && u <= 1;
                /* forceps jaws: two wedges opening beyond the tip */
                double dy = t[j].b[0] - t[j].a[0], dx = t[j].b[1] - t[j].a[1];
                double L = sqrt(dy * dy + dx * dx);
                double along = ((y - t[j].b[0]) * dy + (x - t[j].b[1]) * dx) / L;
                double jl = 2.5 * t[j].w;
                if (along > 0 && along < jl) {
                    double off = t[j].w * (0.3 + t[j].jaw * along / t[j].w);
                    double half = 0.35 * t[j].w * (1 - along / jl);
                    if (fabs(fabs(across) - off) < half + 0.5)
                        in = 1;
                }
                if (!in)
                    continue;
                m = 1;
                double s = fabs(across) / t[j].w;
                s = s > 1 ? 1 : s;
                double v = t[j].col * (0.55 + 0.45 * sqrt(1 - s * s));
                for (int ch = 0; ch < 3; ch++)
                    c[ch] = v * (ch == 2 ? 1.04 : 1.0);
                double hs = (across / t[j].w - 0.35) / 0.12;
                if (hs * hs < 1 && along <= 0)
                    for (int ch = 0; ch < 3; ch++)
                        c[ch] += (1 - hs * hs) * (1.0 - c[ch]);
            }
            double ry = (y - 0.5 * H) / (0.62 * H), rx = (x - 0.5 * W) / (0.62 * W);
            double vig = 1 - 0.8 * pow(ry * ry + rx * rx, 1.5);
            vig = vig < 0.05 ? 0.05 : vig;
            for (int ch = 0; ch < 3; ch++) {
                double v = c[ch] * vig + 0.015 * sy_normal(&r);
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                rgb[3 * i + ch] = (uint8_t)lround(v * 255);
            }
            mask[i] = m ? 255 : 0;
        }
    int rc = sy_write_jpeg_rgb(img_path, H, W, rgb, 92);
    if (rc == 0)
        rc = sy_write_png_gray(mask_path, H, W, mask);
    free(rgb);
    free(mask);
    return rc;
}

int sy_synth_kvasir(const char *out, uint64_t seed, double scale)
{
    enum { N = KV_TRAIN + KV_TEST };
    char idbuf[N][32], *ids[N];
    char dir[4096], ip[8448], mp[8448];
    snprintf(dir, sizeof dir, "%s/images", out);
    if (ss_mkdirs(dir) != 0)
        return SS_ERR;
    snprintf(dir, sizeof dir, "%s/masks", out);
    if (ss_mkdirs(dir) != 0)
        return SS_ERR;
    for (int i = 0; i < N; i++) {
        snprintf(idbuf[i], sizeof idbuf[i], "synthkvasir%04d", i + 1);
        ids[i] = idbuf[i];
        snprintf(ip, sizeof ip, "%s/images/%s.jpg", out, ids[i]);
        snprintf(mp, sizeof mp, "%s/masks/%s.png", out, ids[i]);
        if (kv_frame(ip, mp, seed, i, scale) != 0)
            return SS_ERR;
    }
    snprintf(ip, sizeof ip, "%s/train.txt", out);
    if (sy_write_list(ip, ids, KV_TRAIN) != 0)
        return SS_ERR;
    snprintf(ip, sizeof ip, "%s/test.txt", out);
    return sy_write_list(ip, ids + KV_TRAIN, KV_TEST);
}
