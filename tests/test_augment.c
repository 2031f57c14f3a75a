/* Augmentation (datasets/augment.c): every kind against an explicit
 * step-by-step construction from the documented draws (rot90 / flip / rotate /
 * zoom through harness/zoom.h, which test_zoom checks against NumPy and SciPy;
 * padding and cropping written out here with plain loops), the padding rule,
 * crop-offset bounds and coverage, branch frequencies, determinism per
 * (seed, stream, counter) and errors. Comparisons are exact (outputs are copies
 * of input samples or zeros). */
#include "datasets/dataset.h"

#include "harness/zoom.h"
#include "kernels/error.h"
#include "kernels/rng.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* The documented draws: slot e of (seed, stream', counter). */
static uint32_t dint(uint64_t seed, uint64_t stream, uint64_t ctr, int e, uint32_t n)
{
    uint32_t b = ss_rng_bits(seed, (uint32_t)(stream ^ (stream >> 32)), ctr, (uint64_t)e);
    return (uint32_t)(((uint64_t)b * n) >> 32);
}
static int dhalf(uint64_t seed, uint64_t stream, uint64_t ctr, int e)
{
    return ss_rng_uniform(seed, (uint32_t)(stream ^ (stream >> 32)), ctr, (uint64_t)e) > 0.5f;
}

/* A test volume whose voxels are all distinct: image c*1000 + index + 1,
 * label (index % 4). */
static void make_vol(ss_volume *v, int c, int d, int h, int w, int with_label)
{
    memset(v, 0, sizeof *v);
    strcpy(v->id, "test");
    v->c = c;
    v->d = d;
    v->h = h;
    v->w = w;
    size_t n = (size_t)d * h * w;
    v->image = malloc(sizeof(float) * n * c);
    for (int k = 0; k < c; k++)
        for (size_t i = 0; i < n; i++)
            v->image[k * n + i] = (float)(k * 1000 + (int)i + 1);
    if (with_label) {
        v->label = malloc(n);
        for (size_t i = 0; i < n; i++)
            v->label[i] = (uint8_t)(i % 4);
    }
}

/* Converts the label to float for the shared pipeline. */
static float *label_f(const ss_volume *v)
{
    size_t n = (size_t)v->d * v->h * v->w;
    float *l = calloc(n, sizeof(float));
    for (size_t i = 0; v->label && i < n; i++)
        l[i] = v->label[i];
    return l;
}

/* Pads a (D,H,W) float array by pad[a] zeros on both sides of each axis. */
static float *pad3(const float *x, const int d[3], const int pad[3], int pd[3])
{
    for (int a = 0; a < 3; a++)
        pd[a] = d[a] + 2 * pad[a];
    float *y = calloc((size_t)pd[0] * pd[1] * pd[2], sizeof(float));
    for (int i = 0; i < d[0]; i++)
        for (int j = 0; j < d[1]; j++)
            for (int k = 0; k < d[2]; k++)
                y[((size_t)(i + pad[0]) * pd[1] + (j + pad[1])) * pd[2] + (k + pad[2])] =
                    x[((size_t)i * d[1] + j) * d[2] + k];
    return y;
}

static void crop3(const float *x, const int d[3], const int off[3], const int p[3], float *y)
{
    for (int i = 0; i < p[0]; i++)
        for (int j = 0; j < p[1]; j++)
            for (int k = 0; k < p[2]; k++)
                *y++ = x[((size_t)(i + off[0]) * d[1] + (j + off[1])) * d[2] + (k + off[2])];
}

/* Reference RandomCrop on one (D,H,W) array: the padding rule written out. */
static void ref_crop(const float *x, const int d[3], const int p[3], uint64_t seed,
                     uint64_t stream, uint64_t ctr, float *y, int off_out[3])
{
    int trig = d[0] <= p[0] || d[1] <= p[1] || d[2] <= p[2];
    int pad[3] = {0, 0, 0}, pd[3], off[3];
    for (int a = 0; a < 3; a++)
        if (trig) {
            int diff = p[a] - d[a]; /* Python (p-d)//2 */
            int fl = diff >= 0 ? diff / 2 : (diff - 1) / 2;
            pad[a] = fl + 3 > 0 ? fl + 3 : 0;
        }
    float *xp = pad3(x, d, pad, pd);
    for (int a = 0; a < 3; a++) {
        off[a] = (int)dint(seed, stream, ctr, 5 + a, (uint32_t)(pd[a] - p[a]));
        if (off_out)
            off_out[a] = off[a];
    }
    crop3(xp, pd, off, p, y);
    free(xp);
}

/* Reference SS_AUG_LA / SS_AUG_CROP for one array. */
static void ref_la(const float *x, const int d[3], const int p[3], int rotflip, uint64_t seed,
                   uint64_t stream, uint64_t ctr, float *y)
{
    size_t n = (size_t)d[0] * d[1] * d[2];
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    memcpy(a, x, sizeof(float) * n);
    int cd[3] = {d[0], d[1], d[2]};
    if (rotflip) {
        int k = (int)dint(seed, stream, ctr, 2, 4), ax = (int)dint(seed, stream, ctr, 3, 2);
        int od[3];
        ck_assert_int_eq(ss_rot90(a, cd, 4, k, 2, 1, b, od), 0); /* numpy axes (0,1) = ours (2,1) */
        ck_assert_int_eq(ss_flip(b, od, 4, 2 - ax, a), 0);        /* numpy axis ax = ours 2-ax */
        memcpy(cd, od, sizeof cd);
    }
    ref_crop(a, cd, p, seed, stream, ctr, y, NULL);
    free(a);
    free(b);
}

static void check_equal(const float *got, const float *want, size_t n, const char *what,
                        uint64_t ctr)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s counter %llu: [%zu] got %g want %g", what,
                      (unsigned long long)ctr, i, (double)got[i], (double)want[i]);
}

static void run_3d(ss_aug_kind kind, int C, int D, int H, int W, const int p[3])
{
    ss_volume v;
    make_vol(&v, C, D, H, W, 1);
    float *lf = label_f(&v);
    int d[3] = {D, H, W};
    size_t np = (size_t)p[0] * p[1] * p[2], n = (size_t)D * H * W;
    float *img = malloc(sizeof(float) * np * C), *lab = malloc(sizeof(float) * np);
    float *want = malloc(sizeof(float) * np);
    uint64_t seed = 77, stream = 0x123456789ull;
    for (uint64_t ctr = 0; ctr < 48; ctr++) {
        ck_assert_msg(ss_augment(kind, p, &v, seed, stream, ctr, img, lab) == 0, "%s",
                      semiseg_error());
        for (int c = 0; c < C; c++) {
            ref_la(v.image + c * n, d, p, kind == SS_AUG_LA, seed, stream, ctr, want);
            check_equal(img + c * np, want, np, "image", ctr);
        }
        ref_la(lf, d, p, kind == SS_AUG_LA, seed, stream, ctr, want);
        check_equal(lab, want, np, "label", ctr);
    }
    free(img);
    free(lab);
    free(want);
    free(lf);
    ss_volume_free(&v);
}

START_TEST(test_la_rotflip_crop)
{
    const int p[3] = {3, 4, 4};
    run_3d(SS_AUG_LA, 2, 5, 7, 6, p);  /* no padding; rot90 swaps H and W (7 vs 6) */
    const int q[3] = {4, 8, 8};
    run_3d(SS_AUG_LA, 1, 3, 9, 8, q);  /* D <= 4 and W == 8 trigger padding on every axis */
}
END_TEST

START_TEST(test_crop_only)
{
    const int p[3] = {3, 4, 5};
    run_3d(SS_AUG_CROP, 1, 6, 6, 9, p);
    const int q[3] = {6, 6, 6};
    run_3d(SS_AUG_CROP, 1, 6, 7, 12, q); /* D == patch: padding by 3 on D, (6-7)//2+3 = 2 on H */
}
END_TEST

START_TEST(test_padding_rule_and_offsets)
{
    /* (D,H,W) = (3,9,8), patch (4,8,8): pads (4-3)//2+3 = 3, (8-9)//2+3 = 2,
     * (8-8)//2+3 = 3 -> padded (9,13,14); offsets in [0,4], [0,4], [0,5]. The
     * image encodes its index, so the output reveals the offset: the voxel at
     * patch (i,j,k) is the input (i+o0-3, j+o1-2, k+o2-3) or a zero. */
    ss_volume v;
    make_vol(&v, 1, 3, 9, 8, 0);
    int p[3] = {4, 8, 8};
    size_t np = 4 * 8 * 8;
    float *img = malloc(sizeof(float) * np), *lab = malloc(sizeof(float) * np);
    int seen[3][8];
    memset(seen, 0, sizeof seen);
    const int pad[3] = {3, 2, 3}, maxoff[3] = {4, 4, 5};
    for (uint64_t ctr = 0; ctr < 400; ctr++) {
        ck_assert_int_eq(ss_augment(SS_AUG_CROP, p, &v, 5, 9, ctr, img, lab), 0);
        /* find one non-zero voxel and solve for the offsets */
        int found = 0;
        for (size_t q = 0; q < np && !found; q++) {
            if (img[q] == 0.0f)
                continue;
            int i = (int)(q / 64), j = (int)(q / 8 % 8), k = (int)(q % 8);
            int s = (int)img[q] - 1, si = s / 72, sj = s / 8 % 9, sk = s % 8;
            int off[3] = {si - i + pad[0], sj - j + pad[1], sk - k + pad[2]};
            for (int a = 0; a < 3; a++) {
                ck_assert_msg(off[a] >= 0 && off[a] <= maxoff[a], "axis %d offset %d", a,
                              off[a]);
                seen[a][off[a]]++;
            }
            found = 1;
        }
        ck_assert_msg(found, "counter %llu: the crop holds no input voxel",
                      (unsigned long long)ctr);
        for (size_t q = 0; q < np; q++)
            ck_assert(lab[q] == 0.0f); /* no label in the volume -> zeros */
    }
    for (int a = 0; a < 3; a++)
        for (int o = 0; o <= maxoff[a]; o++)
            ck_assert_msg(seen[a][o] > 0, "axis %d: offset %d never drawn in 400 crops", a, o);
    free(img);
    free(lab);
    ss_volume_free(&v);
}
END_TEST

/* Reference ACDC pipeline for one slice; returns the branch taken. */
static int ref_acdc(const float *x, int h, int w, const int p[3], int legacy, uint64_t seed,
                    uint64_t stream, uint64_t ctr, float *y)
{
    size_t n = (size_t)h * w;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    memcpy(a, x, sizeof(float) * n);
    int mode;
    if (legacy)
        mode = dhalf(seed, stream, ctr, 0) ? 1 : dhalf(seed, stream, ctr, 1) ? 2 : 0;
    else
        mode = dhalf(seed, stream, ctr, 0) ? 1 : 2;
    int cd[3] = {1, h, w};
    if (mode == 1) {
        int k = (int)dint(seed, stream, ctr, 2, 4), ax = (int)dint(seed, stream, ctr, 3, 2);
        int od[3];
        ck_assert_int_eq(ss_rot90(a, cd, 4, k, 1, 2, b, od), 0);
        ck_assert_int_eq(ss_flip(b, od, 4, 1 + ax, a), 0);
        memcpy(cd, od, sizeof cd);
    } else if (mode == 2) {
        int angle = -20 + (int)dint(seed, stream, ctr, 4, 40);
        ck_assert(angle >= -20 && angle <= 19);
        ck_assert_int_eq(ss_rotate_nearest_f32(a, 1, h, w, angle, 0.0f, b), 0);
        memcpy(a, b, sizeof(float) * n);
    }
    int od[3] = {1, p[1], p[2]};
    ck_assert_int_eq(ss_zoom_nearest_f32(a, cd, y, od, 0.0f), 0);
    free(a);
    free(b);
    return mode;
}

static void run_acdc(ss_aug_kind kind, int h, int w, const int p[3], int counts[3])
{
    ss_volume v;
    make_vol(&v, 1, 1, h, w, 1);
    float *lf = label_f(&v);
    size_t np = (size_t)p[1] * p[2];
    float *img = malloc(sizeof(float) * np), *lab = malloc(sizeof(float) * np);
    float *want = malloc(sizeof(float) * np);
    for (uint64_t ctr = 0; ctr < 400; ctr++) {
        ck_assert_msg(ss_augment(kind, p, &v, 1337, 4, ctr, img, lab) == 0, "%s",
                      semiseg_error());
        int m = ref_acdc(v.image, h, w, p, kind == SS_AUG_ACDC_LEGACY, 1337, 4, ctr, want);
        check_equal(img, want, np, "acdc image", ctr);
        ref_acdc(lf, h, w, p, kind == SS_AUG_ACDC_LEGACY, 1337, 4, ctr, want);
        check_equal(lab, want, np, "acdc label", ctr);
        counts[m]++;
    }
    free(img);
    free(lab);
    free(want);
    free(lf);
    ss_volume_free(&v);
}

START_TEST(test_acdc_legacy)
{
    int counts[3] = {0, 0, 0};
    const int p[3] = {1, 16, 16};
    run_acdc(SS_AUG_ACDC_LEGACY, 13, 11, p, counts); /* upsampling, non-square */
    const int q[3] = {1, 8, 12};
    run_acdc(SS_AUG_ACDC_LEGACY, 21, 17, q, counts); /* downsampling */
    /* 800 draws: P(rot_flip) 0.5, P(rotate) 0.25, P(none) 0.25; bounds are
     * > 5 standard deviations (sd of a count: 14 and 12) */
    ck_assert_msg(counts[1] > 330 && counts[1] < 470, "rot_flip %d of 800", counts[1]);
    ck_assert_msg(counts[2] > 140 && counts[2] < 260, "rotate %d of 800", counts[2]);
    ck_assert_msg(counts[0] > 140 && counts[0] < 260, "none %d of 800", counts[0]);
}
END_TEST

START_TEST(test_acdc_2025)
{
    int counts[3] = {0, 0, 0};
    const int p[3] = {1, 16, 16};
    run_acdc(SS_AUG_ACDC_2025, 13, 11, p, counts);
    ck_assert_int_eq(counts[0], 0);
    ck_assert_msg(counts[1] > 140 && counts[1] < 260, "rot_flip %d of 400", counts[1]);
}
END_TEST

START_TEST(test_none)
{
    /* 3-D: centre crop on D (6 -> 4: offset 1), centre pad on H (3 -> 6: 1
     * before, 2 after), identity on W */
    ss_volume v;
    make_vol(&v, 1, 6, 3, 5, 1);
    int p[3] = {4, 6, 5};
    float img[120], lab[120];
    ck_assert_int_eq(ss_augment(SS_AUG_NONE, p, &v, 1, 2, 3, img, lab), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++)
            for (int k = 0; k < 5; k++) {
                int si = i + 1, sj = j - 1;
                float want = (sj < 0 || sj >= 3) ? 0.0f : (float)((si * 3 + sj) * 5 + k + 1);
                ck_assert_msg(img[(i * 6 + j) * 5 + k] == want, "(%d,%d,%d)", i, j, k);
            }
    ss_volume_free(&v);
    /* 2-D: nearest zoom to the patch */
    make_vol(&v, 2, 1, 7, 9, 1);
    int q[3] = {1, 12, 5};
    float im2[120], lb2[60], want[60];
    ck_assert_int_eq(ss_augment(SS_AUG_NONE, q, &v, 1, 2, 3, im2, lb2), 0);
    int in_d[3] = {1, 7, 9}, out_d[3] = {1, 12, 5};
    for (int c = 0; c < 2; c++) {
        ck_assert_int_eq(ss_zoom_nearest_f32(v.image + c * 63, in_d, want, out_d, 0.0f), 0);
        check_equal(im2 + c * 60, want, 60, "none 2-D", 0);
    }
    ss_volume_free(&v);
}
END_TEST

START_TEST(test_determinism)
{
    ss_volume v;
    make_vol(&v, 1, 10, 12, 11, 1);
    int p[3] = {4, 5, 6};
    float a[120], b[120], la[120], lb[120];
    int differ = 0;
    for (uint64_t ctr = 0; ctr < 20; ctr++) {
        ck_assert_int_eq(ss_augment(SS_AUG_LA, p, &v, 42, 7, ctr, a, la), 0);
        ck_assert_int_eq(ss_augment(SS_AUG_LA, p, &v, 42, 7, ctr, b, lb), 0);
        ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
        ck_assert_int_eq(memcmp(la, lb, sizeof la), 0);
        ck_assert_int_eq(ss_augment(SS_AUG_LA, p, &v, 42, 8, ctr, b, lb), 0);
        differ += memcmp(a, b, sizeof a) != 0;
        ck_assert_int_eq(ss_augment(SS_AUG_LA, p, &v, 43, 7, ctr, b, lb), 0);
        differ += memcmp(a, b, sizeof a) != 0;
    }
    ck_assert_int_gt(differ, 30); /* another stream or seed gives another crop almost always */
    ss_volume_free(&v);
}
END_TEST

START_TEST(test_errors)
{
    ss_volume v;
    make_vol(&v, 1, 4, 6, 6, 1);
    int p[3] = {1, 8, 8};
    float img[64], lab[64];
    ck_assert_int_eq(ss_augment(SS_AUG_ACDC_LEGACY, p, &v, 1, 1, 1, img, lab), -1);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "2-D"));
    int bad[3] = {0, 4, 4};
    ck_assert_int_eq(ss_augment(SS_AUG_CROP, bad, &v, 1, 1, 1, img, lab), -1);
    ck_assert_int_eq(ss_augment((ss_aug_kind)99, p, &v, 1, 1, 1, img, lab), -1);
    ss_volume_free(&v);
}
END_TEST

Suite *suite_augment(void)
{
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("transforms");
    tcase_add_test(tc, test_la_rotflip_crop);
    tcase_add_test(tc, test_crop_only);
    tcase_add_test(tc, test_padding_rule_and_offsets);
    tcase_add_test(tc, test_acdc_legacy);
    tcase_add_test(tc, test_acdc_2025);
    tcase_add_test(tc, test_none);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
