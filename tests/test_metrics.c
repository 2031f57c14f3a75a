/* Suite metrics: the exact EDT against brute force, medpy-identical metrics
 * against fixtures written by tests/golden/make_metric_fixtures.py (medpy
 * 0.5.2, scipy, skimage), the empty-mask policies and the largest-component
 * post-process.
 *
 * Tolerances: EDT vs brute force 1e-12 relative (both double; the envelope
 * intersection is the only rounding). Metrics vs medpy: |got - want| <=
 * 1e-6 * |want| + 1e-12 (the task's 1e-6 relative; the absolute term only
 * matters for exact zeros). NaN must match NaN. LCC: exact. */
#include "harness/edt.h"
#include "harness/metrics.h"
#include "kernels/error.h"

#include <check.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fixture_dir(void)
{
    const char *d = getenv("SS_GOLDEN_DIR");
    return d ? d : "tests/golden/fixtures";
}

static hid_t open_fixture(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixture_dir(), name);
    H5Eset_auto(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(f >= 0, "cannot open fixture %s (tests/golden/make_metric_fixtures.py writes it)",
                  path);
    return f;
}

static int root_n(hid_t f)
{
    int n = 0;
    hid_t a = H5Aopen(f, "n", H5P_DEFAULT);
    ck_assert(a >= 0);
    ck_assert(H5Aread(a, H5T_NATIVE_INT, &n) >= 0);
    H5Aclose(a);
    return n;
}

static int group_attr_int(hid_t f, const char *grp, const char *name)
{
    int v = 0;
    hid_t a = H5Aopen_by_name(f, grp, name, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_msg(a >= 0, "attribute %s/%s missing", grp, name);
    ck_assert(H5Aread(a, H5T_NATIVE_INT, &v) >= 0);
    H5Aclose(a);
    return v;
}

/* Reads dataset NAME as TYPE; dims (up to 3) into d (missing leading dims 1). */
static void *read_ds(hid_t f, const char *name, hid_t type, size_t elsize, int d[3], long *count)
{
    hid_t ds = H5Dopen(f, name, H5P_DEFAULT);
    ck_assert_msg(ds >= 0, "dataset %s missing", name);
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[3] = {1, 1, 1};
    int r = H5Sget_simple_extent_ndims(sp);
    ck_assert(r >= 0 && r <= 3);
    H5Sget_simple_extent_dims(sp, dims + (3 - r), NULL);
    long n = (long)(dims[0] * dims[1] * dims[2]);
    void *buf = malloc((size_t)n * elsize + 1);
    ck_assert(buf);
    ck_assert(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(sp);
    H5Dclose(ds);
    if (d)
        for (int i = 0; i < 3; i++)
            d[i] = (int)dims[i];
    if (count)
        *count = n;
    return buf;
}

static int close_enough(double got, double want)
{
    if (isnan(want))
        return isnan(got);
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-12;
}

static void check_metrics(const ss_metrics *m, const double *w, const char *what)
{
    const double g[6] = {m->dice, m->jaccard, m->hd95, m->asd, m->assd, m->asd_rcps};
    static const char *names[6] = {"dice", "jaccard", "hd95", "asd", "assd", "asd_rcps"};
    for (int k = 0; k < 6; k++)
        ck_assert_msg(close_enough(g[k], w[k]), "%s: %s got %.12g want %.12g", what, names[k],
                      g[k], w[k]);
}

/* ---- EDT ------------------------------------------------------------------ */

static double brute_sq(const uint8_t *f, const int *dims, const double *sp, long i)
{
    int z = (int)(i / ((long)dims[1] * dims[2])), y = (int)(i / dims[2] % dims[1]),
        x = (int)(i % dims[2]);
    double best = INFINITY;
    long n = (long)dims[0] * dims[1] * dims[2];
    for (long j = 0; j < n; j++) {
        if (!f[j])
            continue;
        int zz = (int)(j / ((long)dims[1] * dims[2])), yy = (int)(j / dims[2] % dims[1]),
            xx = (int)(j % dims[2]);
        double a = sp[0] * (zz - z), b = sp[1] * (yy - y), c = sp[2] * (xx - x);
        double d = a * a + b * b + c * c;
        if (d < best)
            best = d;
    }
    return best;
}

START_TEST(edt_brute_force)
{
    const int shapes[4][3] = {{7, 9, 11}, {1, 13, 17}, {1, 1, 40}, {5, 3, 8}};
    const double sps[3][3] = {{1, 1, 1}, {2.5, 0.7, 1.3}, {10.0, 1.5, 0.625}};
    unsigned s = 12345u;
    for (int si = 0; si < 4; si++)
        for (int pi = 0; pi < 3; pi++)
            for (int dens = 0; dens < 3; dens++) {
                const int *d = shapes[si];
                long n = (long)d[0] * d[1] * d[2];
                uint8_t *f = calloc((size_t)n, 1);
                double *out = malloc((size_t)n * sizeof(double));
                for (long i = 0; i < n; i++) {
                    s = s * 1103515245u + 12345u;
                    f[i] = ((s >> 16) % 100) < (unsigned)(dens == 0 ? 1 : dens == 1 ? 8 : 40);
                }
                f[n / 2] = 1;
                /* ndim: the unit leading axes are dropped as a caller would */
                int nd = d[0] == 1 ? (d[1] == 1 ? 1 : 2) : 3;
                const int *ed = d + (3 - nd);
                const double *es = sps[pi] + (3 - nd);
                ck_assert_msg(ss_edt(f, nd, ed, es, out) == 0, "%s", semiseg_error());
                for (long i = 0; i < n; i++) {
                    double want = sqrt(brute_sq(f, d, sps[pi], i));
                    ck_assert_msg(fabs(out[i] - want) <= 1e-12 * want + 1e-12,
                                  "shape %dx%dx%d spacing %d voxel %ld: got %.15g want %.15g",
                                  d[0], d[1], d[2], pi, i, out[i], want);
                }
                free(f);
                free(out);
            }
}
END_TEST

START_TEST(edt_no_feature_and_errors)
{
    uint8_t f[12] = {0};
    double out[12];
    int d[2] = {3, 4};
    ck_assert_int_eq(ss_edt(f, 2, d, NULL, out), 0);
    for (int i = 0; i < 12; i++)
        ck_assert(isinf(out[i]) && out[i] > 0);
    double bad[2] = {1.0, 0.0};
    ck_assert_int_eq(ss_edt(f, 2, d, bad, out), -1);
    ck_assert(strstr(semiseg_error(), "spacing[1]"));
    ck_assert_int_eq(ss_edt(f, 4, d, NULL, out), -1);
}
END_TEST

/* ---- metrics vs medpy fixtures -------------------------------------------- */

static void run_binary_fixture(const char *file)
{
    hid_t f = open_fixture(file);
    int n = root_n(f);
    ck_assert_int_gt(n, 0);
    for (int i = 0; i < n; i++) {
        char grp[32], name[64];
        snprintf(grp, sizeof grp, "c%d", i);
        int dp[3], dg[3];
        snprintf(name, sizeof name, "%s/pred", grp);
        uint8_t *p = read_ds(f, name, H5T_NATIVE_UINT8, 1, dp, NULL);
        snprintf(name, sizeof name, "%s/gt", grp);
        uint8_t *g = read_ds(f, name, H5T_NATIVE_UINT8, 1, dg, NULL);
        ck_assert(!memcmp(dp, dg, sizeof dp));
        snprintf(name, sizeof name, "%s/spacing", grp);
        double *sp = read_ds(f, name, H5T_NATIVE_DOUBLE, sizeof(double), NULL, NULL);
        snprintf(name, sizeof name, "%s/expected", grp);
        long ne;
        double *w = read_ds(f, name, H5T_NATIVE_DOUBLE, sizeof(double), NULL, &ne);
        ck_assert_int_eq(ne, 6);
        int ndim = group_attr_int(f, grp, "ndim"), unit = group_attr_int(f, grp, "unit");
        /* a 2-D case is stored with D = 1, which ss_metrics_binary reads as 2-D;
         * a 3-D case never has D = 1 in the fixtures */
        ck_assert_int_eq(ndim == 2, dp[0] == 1);
        ss_metrics m;
        char what[96];
        snprintf(what, sizeof what, "%s case %d (%dx%dx%d)", file, i, dp[0], dp[1], dp[2]);
        ck_assert_msg(ss_metrics_binary(p, g, dp, unit ? NULL : sp, SS_EMPTY_NAN, &m) == 0,
                      "%s: %s", what, semiseg_error());
        check_metrics(&m, w, what);
        free(p);
        free(g);
        free(sp);
        free(w);
    }
    H5Fclose(f);
}

START_TEST(metrics_random_vs_medpy)
{
    run_binary_fixture("metrics_random.h5");
}
END_TEST

START_TEST(metrics_adversarial_vs_medpy)
{
    run_binary_fixture("metrics_adversarial.h5");
}
END_TEST

START_TEST(metrics_classes_vs_medpy)
{
    hid_t f = open_fixture("metrics_classes.h5");
    int n = root_n(f);
    ck_assert_int_gt(n, 0);
    for (int i = 0; i < n; i++) {
        char grp[32], name[64];
        snprintf(grp, sizeof grp, "c%d", i);
        int d[3];
        snprintf(name, sizeof name, "%s/pred", grp);
        uint8_t *p = read_ds(f, name, H5T_NATIVE_UINT8, 1, d, NULL);
        snprintf(name, sizeof name, "%s/gt", grp);
        uint8_t *g = read_ds(f, name, H5T_NATIVE_UINT8, 1, NULL, NULL);
        snprintf(name, sizeof name, "%s/spacing", grp);
        double *sp = read_ds(f, name, H5T_NATIVE_DOUBLE, sizeof(double), NULL, NULL);
        snprintf(name, sizeof name, "%s/expected", grp);
        long ne;
        double *w = read_ds(f, name, H5T_NATIVE_DOUBLE, sizeof(double), NULL, &ne);
        int k = group_attr_int(f, grp, "classes"), unit = group_attr_int(f, grp, "unit");
        ck_assert_int_eq(ne, 6 * (k - 1));
        ss_metrics m[8];
        ck_assert_msg(ss_metrics_classes(p, g, d, unit ? NULL : sp, k, SS_EMPTY_ERROR, m) == 0,
                      "%s", semiseg_error());
        for (int c = 1; c < k; c++) {
            char what[64];
            snprintf(what, sizeof what, "classes case %d class %d", i, c);
            check_metrics(&m[c - 1], w + 6 * (c - 1), what);
        }
        /* a label >= K is refused */
        ck_assert_int_eq(ss_metrics_classes(p, g, d, NULL, k - 1, SS_EMPTY_NAN, m), -1);
        ck_assert_msg(strstr(semiseg_error(), "class count"), "%s", semiseg_error());
        free(p);
        free(g);
        free(sp);
        free(w);
    }
    H5Fclose(f);
}
END_TEST

START_TEST(metrics_empty_policies)
{
    enum { N = 4 * 5 * 6 };
    const int d[3] = {4, 5, 6};
    uint8_t z[N] = {0}, g[N] = {0};
    g[2 * 30 + 2 * 6 + 3] = 1;
    g[2 * 30 + 2 * 6 + 4] = 1;
    ss_metrics m;
    /* zero: empty prediction -> everything 0, both empty too (Dice 0) */
    const uint8_t *pairs[3][2] = {{z, g}, {g, z}, {z, z}};
    for (int k = 0; k < 3; k++) {
        memset(&m, 0x7f, sizeof m);
        ck_assert_int_eq(ss_metrics_binary(pairs[k][0], pairs[k][1], d, NULL, SS_EMPTY_ZERO, &m),
                         0);
        ck_assert(m.dice == 0 && m.jaccard == 0 && m.hd95 == 0 && m.asd == 0 && m.assd == 0 &&
                  m.asd_rcps == 0);
        ck_assert_int_eq(ss_metrics_binary(pairs[k][0], pairs[k][1], d, NULL, SS_EMPTY_ERROR, &m),
                         -1);
        ck_assert_msg(strstr(semiseg_error(), "empty"), "%s", semiseg_error());
    }
    /* nan: Dice/Jaccard medpy's (0, or 1 when both empty), distances NaN */
    ck_assert_int_eq(ss_metrics_binary(z, z, d, NULL, SS_EMPTY_NAN, &m), 0);
    ck_assert(m.dice == 1.0 && m.jaccard == 1.0 && isnan(m.hd95) && isnan(m.asd) &&
              isnan(m.assd) && isnan(m.asd_rcps));
    ck_assert_int_eq(ss_metrics_binary(g, z, d, NULL, SS_EMPTY_NAN, &m), 0);
    ck_assert(m.dice == 0.0 && m.jaccard == 0.0 && isnan(m.hd95));
    /* per class: a class absent from the prediction follows the policy */
    uint8_t pl[N] = {0}, gl[N] = {0};
    for (int i = 0; i < N; i++)
        gl[i] = (uint8_t)(i % 3);
    for (int i = 0; i < N; i++)
        pl[i] = gl[i] == 2 ? 2 : 0;
    ss_metrics mc[2];
    ck_assert_int_eq(ss_metrics_classes(pl, gl, d, NULL, 3, SS_EMPTY_ZERO, mc), 0);
    ck_assert(mc[0].dice == 0 && mc[0].hd95 == 0);
    ck_assert(mc[1].dice == 1.0 && mc[1].hd95 == 0.0 && mc[1].asd == 0.0);
    ck_assert_int_eq(ss_metrics_classes(pl, gl, d, NULL, 3, SS_EMPTY_ERROR, mc), -1);
    ck_assert_msg(strstr(semiseg_error(), "class 1: metrics: the predicted mask is empty"), "%s",
                  semiseg_error());
    /* names */
    ss_empty_policy p;
    ck_assert_int_eq(ss_empty_policy_parse("nan", &p), 0);
    ck_assert_int_eq(p, SS_EMPTY_NAN);
    ck_assert_str_eq(ss_empty_policy_name(SS_EMPTY_ERROR), "error");
    ck_assert_int_eq(ss_empty_policy_parse("none", &p), -1);
}
END_TEST

START_TEST(metrics_bad_spacing)
{
    const int d[3] = {2, 2, 2};
    uint8_t a[8] = {1, 0, 0, 0, 0, 0, 0, 1};
    double sp[3] = {1.0, -1.0, 1.0};
    ss_metrics m;
    ck_assert_int_eq(ss_metrics_binary(a, a, d, sp, SS_EMPTY_NAN, &m), -1);
    ck_assert_msg(strstr(semiseg_error(), "spacing[1]"), "%s", semiseg_error());
}
END_TEST

/* ---- largest connected component vs skimage ------------------------------- */

START_TEST(lcc_vs_skimage)
{
    hid_t f = open_fixture("metrics_lcc.h5");
    int n = root_n(f);
    ck_assert_int_gt(n, 0);
    for (int i = 0; i < n; i++) {
        char name[64];
        int d[3];
        long cnt;
        snprintf(name, sizeof name, "c%d/mask", i);
        uint8_t *m = read_ds(f, name, H5T_NATIVE_UINT8, 1, d, &cnt);
        snprintf(name, sizeof name, "c%d/lcc", i);
        uint8_t *w = read_ds(f, name, H5T_NATIVE_UINT8, 1, NULL, NULL);
        ck_assert_msg(ss_largest_cc(m, d) == 0, "%s", semiseg_error());
        long bad = 0;
        for (long j = 0; j < cnt; j++)
            bad += m[j] != w[j];
        ck_assert_msg(bad == 0, "lcc case %d (%dx%dx%d): %ld voxels differ from skimage", i, d[0],
                      d[1], d[2], bad);
        free(m);
        free(w);
    }
    H5Fclose(f);
}
END_TEST

START_TEST(lcc_per_class_and_empty)
{
    const int d[3] = {1, 3, 7};
    /* class 1: components of size 2 and 1; class 2: sizes 1 and 3 */
    uint8_t l[21] = {1, 1, 0, 2, 0, 0, 1, /**/ 0, 0, 0, 0, 0, 0, 0, /**/ 2, 0, 0, 0, 2, 2, 2};
    const uint8_t want[21] = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2};
    ck_assert_int_eq(ss_largest_cc_classes(l, d, 3), 0);
    ck_assert(!memcmp(l, want, sizeof want));
    uint8_t z[21] = {0};
    ck_assert_int_eq(ss_largest_cc(z, d), 0);
    for (int i = 0; i < 21; i++)
        ck_assert_int_eq(z[i], 0);
}
END_TEST

Suite *suite_metrics(void)
{
    Suite *s = suite_create("metrics");
    TCase *t = tcase_create("core");
    tcase_add_test(t, edt_brute_force);
    tcase_add_test(t, edt_no_feature_and_errors);
    tcase_add_test(t, metrics_random_vs_medpy);
    tcase_add_test(t, metrics_adversarial_vs_medpy);
    tcase_add_test(t, metrics_classes_vs_medpy);
    tcase_add_test(t, metrics_empty_policies);
    tcase_add_test(t, metrics_bad_spacing);
    tcase_add_test(t, lcc_vs_skimage);
    tcase_add_test(t, lcc_per_class_and_empty);
    suite_add_tcase(s, t);
    return s;
}
