/* harness/zoom: nearest zoom, rotate, rot90 and flip against SciPy / NumPy
 * output written by tests/golden/make_zoom_fixtures.py into
 * tests/golden/fixtures/zoom_*.h5 ($SS_GOLDEN_DIR overrides the folder; a
 * missing fixture FAILS). Tolerance 0: every output element must equal SciPy's
 * bit for bit (uint8 and float32), since order-0 resampling only copies input
 * samples or the fill value. The fixtures hold uint8 arrays, which tests/h5read
 * (float datasets of rank 0/1/5 only) cannot read, so this file reads them with
 * a few direct HDF5 calls. Plus hand-computed index cases and error paths. */
#include "harness/zoom.h"

#include "kernels/error.h"

#include <check.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hid_t open_fixture(const char *name)
{
    const char *dir = getenv("SS_GOLDEN_DIR");
    if (!dir || !*dir)
        dir = "tests/golden/fixtures";
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(f >= 0,
                  "zoom golden: cannot open %s; generate it with "
                  ".venv/bin/python tests/golden/make_zoom_fixtures.py or set SS_GOLDEN_DIR",
                  path);
    return f;
}

/* Integer attribute (up to MAX values) of object LOC; returns the count. */
static int attr_ints(hid_t loc, const char *name, int *out, int max)
{
    ck_assert_msg(H5Aexists(loc, name) > 0, "zoom golden: attribute '%s' missing", name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    ck_assert_msg(n >= 1 && n <= max, "zoom golden: attribute '%s' has %lld values", name,
                  (long long)n);
    ck_assert_int_ge(H5Aread(a, H5T_NATIVE_INT, out), 0);
    H5Sclose(sp);
    H5Aclose(a);
    return (int)n;
}

/* Reads dataset NAME of group G: its dims (up to 3) and data as uint8 (is_float
 * 0) or float32 (is_float 1), malloc'd. */
static void *read_ds(hid_t g, const char *name, int *rank, hsize_t dims[3], int *is_float)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "zoom golden: dataset '%s' missing", name);
    hid_t sp = H5Dget_space(d), ty = H5Dget_type(d);
    *rank = H5Sget_simple_extent_ndims(sp);
    ck_assert_msg(*rank >= 1 && *rank <= 3, "zoom golden: '%s' rank %d", name, *rank);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    *is_float = H5Tget_class(ty) == H5T_FLOAT;
    size_t n = 1;
    for (int i = 0; i < *rank; i++)
        n *= dims[i];
    void *buf = malloc(n * (*is_float ? sizeof(float) : 1));
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_ge(H5Dread(d, *is_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8, H5S_ALL,
                             H5S_ALL, H5P_DEFAULT, buf),
                     0);
    H5Tclose(ty);
    H5Sclose(sp);
    H5Dclose(d);
    return buf;
}

/* Pads a NumPy shape of rank 1..3 to (n0, n1, n2) with leading ones. */
static void to3(const int *shape, int rank, int d3[3])
{
    d3[0] = d3[1] = 1;
    d3[2] = 1;
    for (int i = 0; i < rank; i++)
        d3[3 - rank + i] = shape[i];
}

/* The formula input of make_zoom_fixtures.py. */
static uint8_t *formula(const int d3[3])
{
    size_t n = (size_t)d3[0] * d3[1] * d3[2];
    uint8_t *x = malloc(n);
    ck_assert_ptr_nonnull(x);
    size_t q = 0;
    for (int k = 0; k < d3[0]; k++)
        for (int i = 0; i < d3[1]; i++)
            for (int j = 0; j < d3[2]; j++)
                x[q++] = (uint8_t)(((i * 37 + j * 101 + k * 53) % 251) + 1);
    return x;
}

/* First differing element, or -1. Float comparison is bitwise. */
static long first_diff(const void *a, const void *b, size_t n, int is_float)
{
    size_t es = is_float ? 4 : 1;
    for (size_t i = 0; i < n; i++)
        if (memcmp((const char *)a + i * es, (const char *)b + i * es, es) != 0)
            return (long)i;
    return -1;
}

static long count_diff(const void *a, const void *b, size_t n, int is_float)
{
    size_t es = is_float ? 4 : 1;
    long c = 0;
    for (size_t i = 0; i < n; i++)
        c += memcmp((const char *)a + i * es, (const char *)b + i * es, es) != 0;
    return c;
}

static double elem(const void *p, size_t i, int is_float)
{
    return is_float ? (double)((const float *)p)[i] : (double)((const uint8_t *)p)[i];
}

static void check_zoom_file(const char *file)
{
    hid_t f = open_fixture(file);
    int count;
    attr_ints(f, "count", &count, 1);
    ck_assert_int_gt(count, 0);
    for (int c = 0; c < count; c++) {
        char gname[32];
        snprintf(gname, sizeof gname, "c%03d", c);
        hid_t g = H5Gopen2(f, gname, H5P_DEFAULT);
        ck_assert_msg(g >= 0, "%s: group %s missing", file, gname);
        int ins[3], outs[3], in3[3], out3[3], rank, rank_o, isf, isf_o, fml = 0;
        int r = attr_ints(g, "in_shape", ins, 3);
        ck_assert_int_eq(attr_ints(g, "out_shape", outs, 3), r);
        to3(ins, r, in3);
        to3(outs, r, out3);
        if (H5Aexists(g, "formula") > 0)
            attr_ints(g, "formula", &fml, 1);
        hsize_t dims[3];
        void *x;
        if (fml) {
            x = formula(in3);
            isf = 0;
        } else {
            x = read_ds(g, "in", &rank, dims, &isf);
        }
        void *want = read_ds(g, "out", &rank_o, dims, &isf_o);
        ck_assert_int_eq(isf, isf_o);
        size_t n = (size_t)out3[0] * out3[1] * out3[2];
        void *got = malloc(n * (isf ? 4 : 1));
        ck_assert_ptr_nonnull(got);
        int rc = isf ? ss_zoom_nearest_f32(x, in3, got, out3, 0.0f)
                     : ss_zoom_nearest_u8(x, in3, got, out3, 0);
        ck_assert_msg(rc == 0, "%s %s: %s", file, gname, semiseg_error());
        long d = first_diff(got, want, n, isf);
        ck_assert_msg(d < 0,
                      "%s %s: zoom (%d,%d,%d)->(%d,%d,%d) %s: %ld elements differ from SciPy, "
                      "first [%ld] got %g want %g",
                      file, gname, in3[0], in3[1], in3[2], out3[0], out3[1], out3[2],
                      isf ? "f32" : "u8", count_diff(got, want, n, isf), d, elem(got, d, isf),
                      elem(want, d, isf));
        free(got);
        free(want);
        free(x);
        H5Gclose(g);
    }
    H5Fclose(f);
}

START_TEST(test_zoom_golden_small)
{
    check_zoom_file("zoom_small.h5");
}
END_TEST

START_TEST(test_zoom_golden_real)
{
    check_zoom_file("zoom_real.h5");
}
END_TEST

static void check_rotate_file(const char *file)
{
    hid_t f = open_fixture(file);
    int count;
    attr_ints(f, "count", &count, 1);
    ck_assert_int_gt(count, 0);
    int checked = 0;
    for (int c = 0; c < count; c++) {
        char gname[32];
        snprintf(gname, sizeof gname, "c%03d", c);
        hid_t g = H5Gopen2(f, gname, H5P_DEFAULT);
        ck_assert_msg(g >= 0, "%s: group %s missing", file, gname);
        int ins[3], fml = 0, rank, isf, isf_o, rank_o;
        ck_assert_int_eq(attr_ints(g, "in_shape", ins, 3), 2);
        attr_ints(g, "formula", &fml, 1);
        int h = ins[0], w = ins[1];
        hsize_t dims[3];
        void *x;
        if (fml) {
            int d3[3] = {1, h, w};
            x = formula(d3);
            isf = 0;
        } else {
            x = read_ds(g, "in", &rank, dims, &isf);
        }
        void *want = read_ds(g, "out", &rank_o, dims, &isf_o);
        ck_assert_int_eq(isf, isf_o);
        ck_assert_int_eq(rank_o, 3);
        hid_t ad = H5Dopen2(g, "angles", H5P_DEFAULT);
        ck_assert_msg(ad >= 0, "%s %s: dataset 'angles' missing", file, gname);
        hid_t asp = H5Dget_space(ad);
        int na = (int)H5Sget_simple_extent_npoints(asp);
        H5Sclose(asp);
        int *ang = malloc(sizeof(int) * (size_t)na);
        ck_assert_ptr_nonnull(ang);
        ck_assert_int_ge(H5Dread(ad, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ang), 0);
        H5Dclose(ad);
        ck_assert_int_eq((int)dims[0], na);
        size_t hw = (size_t)h * w, es = isf ? 4 : 1;
        void *got = malloc(hw * es);
        ck_assert_ptr_nonnull(got);
        for (int a = 0; a < na; a++) {
            int rc = isf ? ss_rotate_nearest_f32(x, 1, h, w, ang[a], 0.0f, got)
                         : ss_rotate_nearest_u8(x, 1, h, w, ang[a], 0, got);
            ck_assert_msg(rc == 0, "%s %s: %s", file, gname, semiseg_error());
            const char *wa = (const char *)want + (size_t)a * hw * es;
            long d = first_diff(got, wa, hw, isf);
            ck_assert_msg(d < 0,
                          "%s %s: rotate %dx%d by %d deg (%s): %ld pixels differ from SciPy, "
                          "first (%ld,%ld) got %g want %g",
                          file, gname, h, w, ang[a], isf ? "f32" : "u8",
                          count_diff(got, wa, hw, isf), d / w, d % w, elem(got, d, isf),
                          elem(wa, d, isf));
            checked++;
        }
        free(got);
        free(ang);
        free(want);
        free(x);
        H5Gclose(g);
    }
    ck_assert_int_gt(checked, 0);
    H5Fclose(f);
}

START_TEST(test_rotate_golden_small)
{
    check_rotate_file("zoom_rotate_small.h5");
}
END_TEST

START_TEST(test_rotate_golden_real)
{
    check_rotate_file("zoom_rotate_real.h5");
}
END_TEST

START_TEST(test_rot90_flip_golden)
{
    hid_t f = open_fixture("zoom_rot90_flip.h5");
    int rank, isf;
    hsize_t dims[3];
    float *x = read_ds(f, "x", &rank, dims, &isf);
    int d3[3] = {(int)dims[0], (int)dims[1], (int)dims[2]};
    const int axes[4][2] = {{0, 1}, {1, 0}, {1, 2}, {2, 1}};
    float got[60];
    for (int a = 0; a < 4; a++)
        for (int k = -4; k < 8; k++) { /* k outside 0..3 must behave as k mod 4 */
            char name[64];
            int km = ((k % 4) + 4) % 4;
            snprintf(name, sizeof name, "rot90_k%d_a%d%d", km, axes[a][0], axes[a][1]);
            hsize_t wd[3];
            float *want = read_ds(f, name, &rank, wd, &isf);
            int od[3];
            ck_assert_int_eq(ss_rot90(x, d3, 4, k, axes[a][0], axes[a][1], got, od), 0);
            for (int i = 0; i < 3; i++)
                ck_assert_msg(od[i] == (int)wd[i], "%s (k=%d): out dim %d is %d, NumPy %d",
                              name, k, i, od[i], (int)wd[i]);
            long d = first_diff(got, want, 60, 1);
            ck_assert_msg(d < 0, "%s (k=%d): element %ld got %g want %g", name, k, d,
                          (double)got[d], (double)want[d]);
            free(want);
        }
    for (int a = 0; a < 3; a++) {
        char name[32];
        snprintf(name, sizeof name, "flip_%d", a);
        hsize_t wd[3];
        float *want = read_ds(f, name, &rank, wd, &isf);
        ck_assert_int_eq(ss_flip(x, d3, 4, a, got), 0);
        long d = first_diff(got, want, 60, 1);
        ck_assert_msg(d < 0, "%s: element %ld got %g want %g", name, d, (double)got[d],
                      (double)want[d]);
        free(want);
    }
    /* uint8 path of the same permutation: rot90 k=1 axes (0,1) */
    uint8_t xb[60], gb[60];
    for (int i = 0; i < 60; i++)
        xb[i] = (uint8_t)i;
    int od[3];
    ck_assert_int_eq(ss_rot90(xb, d3, 1, 1, 0, 1, gb, od), 0);
    float *want = read_ds(f, "rot90_k1_a01", &rank, dims, &isf);
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(gb[i], (int)want[i]);
    free(want);
    free(x);
    H5Fclose(f);
}
END_TEST

START_TEST(test_zoom_index_by_hand)
{
    int src[8];
    /* 3 -> 5: factor 0.5, coordinates 0, .5, 1, 1.5, 2 -> ties round up */
    ss_zoom_axis_index(3, 5, src);
    const int w35[5] = {0, 1, 1, 2, 2};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(src[i], w35[i]);
    /* 5 -> 3: factor 2 */
    ss_zoom_axis_index(5, 3, src);
    ck_assert_int_eq(src[0], 0);
    ck_assert_int_eq(src[1], 2);
    ck_assert_int_eq(src[2], 4);
    /* 1 -> 4: factor 0, every output reads sample 0; 4 -> 1: factor 1 */
    ss_zoom_axis_index(1, 4, src);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(src[i], 0);
    ss_zoom_axis_index(4, 1, src);
    ck_assert_int_eq(src[0], 0);
    /* 16 -> 80: 79 * (15/79) = 15.000000000000002 > 15 -> cval at the end */
    int big[80];
    ss_zoom_axis_index(16, 80, big);
    ck_assert_int_eq(big[79], -1);
    ck_assert_int_eq(big[78], 15);
    /* identity */
    ss_zoom_axis_index(7, 7, src);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(src[i], i);
}
END_TEST

START_TEST(test_rotate_zero_and_errors)
{
    int src[35];
    ck_assert_int_eq(ss_rotate_index(5, 7, 0, src), 0);
    for (int i = 0; i < 35; i++)
        ck_assert_int_eq(src[i], i);
    ck_assert_int_eq(ss_rotate_index(5, 7, 91, src), -1);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "91"));
    ck_assert_int_eq(ss_rotate_index(5, 7, -91, src), -1);
    ck_assert_int_eq(ss_rotate_index(0, 7, 3, src), -1);
    float a[4] = {1, 2, 3, 4}, b[4];
    int bad[3] = {1, 0, 2}, ok[3] = {1, 2, 2};
    ck_assert_int_eq(ss_zoom_nearest_f32(a, bad, b, ok, 0), -1);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "empty axis"));
    ck_assert_int_eq(ss_rot90(a, ok, 4, 1, 1, 1, b, bad), -1);
    ck_assert_int_eq(ss_flip(a, ok, 4, 3, b), -1);
    ck_assert_int_eq(ss_flip(a, ok, 3, 0, b), -1);
}
END_TEST

Suite *suite_zoom(void)
{
    Suite *s = suite_create("zoom");
    TCase *tc = tcase_create("scipy");
    tcase_add_test(tc, test_zoom_golden_small);
    tcase_add_test(tc, test_zoom_golden_real);
    tcase_add_test(tc, test_rotate_golden_small);
    tcase_add_test(tc, test_rotate_golden_real);
    tcase_add_test(tc, test_rot90_flip_golden);
    tcase_add_test(tc, test_zoom_index_by_hand);
    tcase_add_test(tc, test_rotate_zero_and_errors);
    suite_add_tcase(s, tc);
    return s;
}
