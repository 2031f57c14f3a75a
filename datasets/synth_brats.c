/* synth-brats: multi-contrast brain-MR phantoms in the BraTS layout
 * (ROOT/<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz, train.list, test.list).
 * A skull-stripped brain (WM core, folded GM cortex, CSF rim and ventricles)
 * with one tumour is described by proton density PD and relaxation times
 * T1, T2 (ms) per tissue; the four contrasts follow from the signal equations
 *   spin echo           S = PD (1 - exp(-TR/T1)) exp(-TE/T2)
 *   inversion recovery  S = PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2)
 * with T1w (SE 500/12), T1Gd (the same with the enhancing tumour's T1
 * shortened by gadolinium), T2w (SE 4500/100) and FLAIR (IR 9000/110,
 * TI 2500, which nulls CSF), then a smooth bias field, Rician noise and a
 * z-score inside the brain (background 0). Labels use the BraTS 2013
 * convention of the real subset: 0 background, 1 necrosis, 2 edema,
 * 3 non-enhancing tumour, 4 enhancing tumour.
 * Default 24 x 64 x 64 (D, H, W), 6 train + 2 test cases. */
#include "datasets/ds_impl.h"
#include "kernels/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BR_TRAIN = 6, BR_TEST = 2 };

/* tissue classes */
enum { T_AIR, T_CSF, T_GM, T_WM, T_EDEMA, T_NECRO, T_NONENH, T_ENH, T_COUNT };
static const double PD[T_COUNT] = {0, 1.0, 0.85, 0.7, 0.9, 0.95, 0.85, 0.85};
static const double T1[T_COUNT] = {1, 4000, 1100, 650, 1400, 2200, 1200, 1100};
static const double T2[T_COUNT] = {1, 2000, 100, 75, 180, 500, 130, 110};
static const int LABEL[T_COUNT] = {0, 0, 0, 0, 2, 1, 3, 4};
#define T1_ENH_GD 350.0

static double se(double pd, double t1, double t2, double tr, double te)
{
    return pd * (1 - exp(-tr / t1)) * exp(-te / t2);
}

static double ir(double pd, double t1, double t2, double tr, double ti, double te)
{
    return pd * fabs(1 - 2 * exp(-ti / t1) + exp(-tr / t1)) * exp(-te / t2);
}

static int brats_case(const char *dir, const char *id, uint64_t seed, int k, double scale)
{
    sy_rng r = sy_rng_make(seed, 0x5A, (uint64_t)k);
    int D = sy_scaled(24, scale), H = sy_scaled(64, scale), W = sy_scaled(64, scale);
    size_t n = (size_t)D * H * W;
    uint8_t *tis = malloc(n), *lab = malloc(n);
    float *con = malloc(4 * n * sizeof *con);
    if (!tis || !lab || !con) {
        free(tis);
        free(lab);
        free(con);
        return ss_seterr("synth-brats: out of memory");
    }
    double c[3] = {D * sy_range(&r, 0.47, 0.53), H * sy_range(&r, 0.47, 0.53),
                   W * sy_range(&r, 0.47, 0.53)};
    double rad[3] = {D * sy_range(&r, 0.38, 0.44), H * sy_range(&r, 0.38, 0.44),
                     W * sy_range(&r, 0.32, 0.38)};
    sy_field shape, gyri, tshape, nonenh;
    sy_field_make(&shape, &r, 4, 0.6 * H);
    sy_field_make(&gyri, &r, 10, 0.12 * H);
    sy_field_make(&tshape, &r, 5, 0.2 * H);
    sy_field_make(&nonenh, &r, 5, 0.1 * H);
    /* ventricles: two ellipsoids either side of the midline */
    double vr[3] = {0.18 * rad[0], 0.28 * rad[1], 0.08 * rad[2]}, vgap = 0.14 * rad[2];
    /* tumour in one hemisphere */
    double side = sy_uniform(&r) < 0.5 ? -1 : 1;
    double tc[3] = {c[0] + sy_range(&r, -0.3, 0.3) * rad[0], c[1] + sy_range(&r, -0.4, 0.4) * rad[1],
                    c[2] + side * sy_range(&r, 0.35, 0.55) * rad[2]};
    double rc = sy_range(&r, 0.08, 0.13) * H, ring = sy_range(&r, 1.2, 2.2) * scale;
    double re = rc * sy_range(&r, 2.0, 2.8);
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t i = ((size_t)z * H + y) * W + x;
                double q0 = (z - c[0]) / rad[0], q1 = (y - c[1]) / rad[1], q2 = (x - c[2]) / rad[2];
                double q = sqrt(q0 * q0 + q1 * q1 + q2 * q2) * (1 - 0.06 * sy_field_at(&shape, z, y, x));
                int t = T_AIR;
                if (q < 1) {
                    t = T_WM;
                    double cortex = 0.8 + 0.06 * sy_field_at(&gyri, z, y, x);
                    if (q > 0.95)
                        t = T_CSF;
                    else if (q > cortex)
                        t = T_GM;
                    for (int s = -1; s <= 1; s += 2) {
                        double a = (z - c[0]) / vr[0], b = (y - c[1]) / vr[1],
                               e = (x - c[2] - s * vgap) / vr[2];
                        if (a * a + b * b + e * e < 1)
                            t = T_CSF;
                    }
                    double dz = z - tc[0], dy = y - tc[1], dx = x - tc[2];
                    double d = sqrt(dz * dz + dy * dy + dx * dx) *
                               (1 - 0.15 * sy_field_at(&tshape, z, y, x));
                    if (d < re) {
                        t = T_EDEMA;
                        if (d < rc + ring + 0.35 * rc && sy_field_at(&nonenh, z, y, x) > 0.3)
                            t = T_NONENH;
                        if (d < rc + ring)
                            t = T_ENH;
                        if (d < rc)
                            t = T_NECRO;
                    }
                }
                tis[i] = (uint8_t)t;
                lab[i] = (uint8_t)LABEL[t];
            }
    /* contrasts: 0 t1, 1 t1ce, 2 t2, 3 flair */
    for (int ch = 0; ch < 4; ch++) {
        sy_field bias;
        sy_field_make(&bias, &r, 3, 1.5 * H);
        double sig = 0;
        for (size_t i = 0; i < n; i++) {
            int t = tis[i];
            double pd = PD[t], t1 = T1[t], t2 = T2[t], s;
            if (ch == 1 && t == T_ENH)
                t1 = T1_ENH_GD;
            if (ch <= 1)
                s = se(pd, t1, t2, 500, 12);
            else if (ch == 2)
                s = se(pd, t1, t2, 4500, 100);
            else
                s = ir(pd, t1, t2, 9000, 2500, 110);
            con[ch * n + i] = (float)(t == T_AIR ? 0 : s);
            sig = s > sig ? s : sig;
        }
        double sd = 0.025 * sig;
        for (int z = 0; z < D; z++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    size_t i = ((size_t)z * H + y) * W + x;
                    if (tis[i] == T_AIR)
                        continue;
                    double v = con[ch * n + i] * exp(0.15 * sy_field_at(&bias, z, y, x));
                    double a = v + sd * sy_normal(&r), b = sd * sy_normal(&r);
                    con[ch * n + i] = (float)sqrt(a * a + b * b);
                }
        /* z-score inside the brain, background 0 */
        double s1 = 0, s2 = 0;
        size_t nb = 0;
        for (size_t i = 0; i < n; i++)
            if (tis[i] != T_AIR) {
                s1 += con[ch * n + i];
                nb++;
            }
        double m = nb ? s1 / (double)nb : 0;
        for (size_t i = 0; i < n; i++)
            if (tis[i] != T_AIR)
                s2 += (con[ch * n + i] - m) * (con[ch * n + i] - m);
        double sdv = nb ? sqrt(s2 / (double)nb) : 1;
        if (sdv <= 0)
            sdv = 1;
        for (size_t i = 0; i < n; i++)
            con[ch * n + i] = tis[i] == T_AIR ? 0.0f : (float)((con[ch * n + i] - m) / sdv);
    }
    static const char *suf[4] = {"t1", "t1ce", "t2", "flair"};
    char path[8448];
    int rc2 = SS_OK;
    for (int ch = 0; ch < 4 && rc2 == 0; ch++) {
        snprintf(path, sizeof path, "%s/%s_%s.nii.gz", dir, id, suf[ch]);
        rc2 = sy_write_nifti(path, W, H, D, con + ch * n, NULL);
    }
    if (rc2 == 0) {
        snprintf(path, sizeof path, "%s/%s_seg.nii.gz", dir, id);
        rc2 = sy_write_nifti(path, W, H, D, NULL, lab);
    }
    free(tis);
    free(lab);
    free(con);
    return rc2;
}

int sy_synth_brats(const char *out, uint64_t seed, double scale)
{
    enum { N = BR_TRAIN + BR_TEST };
    char idbuf[N][32], *ids[N], dir[4096], path[8448];
    for (int i = 0; i < N; i++) {
        snprintf(idbuf[i], sizeof idbuf[i], "BraTS_Synth_%03d", i + 1);
        ids[i] = idbuf[i];
        snprintf(dir, sizeof dir, "%s/%s", out, ids[i]);
        if (ss_mkdirs(dir) != 0)
            return SS_ERR;
        if (brats_case(dir, ids[i], seed, i, scale) != 0)
            return SS_ERR;
    }
    snprintf(path, sizeof path, "%s/train.list", out);
    if (sy_write_list(path, ids, BR_TRAIN) != 0)
        return SS_ERR;
    snprintf(path, sizeof path, "%s/test.list", out);
    return sy_write_list(path, ids + BR_TRAIN, BR_TEST);
}
