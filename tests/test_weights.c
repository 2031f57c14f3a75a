/* State-dict HDF5 weights: save/load round trip, the file's layout as PyTorch
 * sees it (keys, shapes, dtypes, num_batches_tracked), strict and non-strict
 * key matching, shape and dtype errors, damaged files, and atomic writes. A
 * tiny model built directly with nn_conv/nn_bn/nn_deconv stands in for the
 * registry models. */
#include "harness/nn/nn.h"
#include "harness/weights_h5.h"
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const int K3[3] = {3, 3, 3}, K2[3] = {2, 2, 2}, K2D[3] = {1, 3, 3};
static const int ONE3[3] = {1, 1, 1}, ZERO3[3] = {0, 0, 0}, PAD2D[3] = {0, 1, 1};

/* conv3d(1->4, k3, bias) + BN + ReLU, deconv3d(4->3, k2 s2), 2-D conv(3->2,
 * k3, no bias) + BN; keys: enc.conv.0.{weight,bias}, enc.conv.1.*, up.*,
 * head.weight, head_bn.*. */
typedef struct tiny {
    ss_graph *g;
    ss_nn m;
    int x, y;
} tiny;

static void tiny_build(tiny *t, uint64_t seed, int plan)
{
    t->g = graph_new();
    nn_begin(&t->m, t->g, 0, seed);
    t->x = g_input(t->g, "input", ss_shape5(1, 1, 2, 3, 3));
    int h = nn_conv(&t->m, "enc.conv.0", t->x, 1, 4, K3, ONE3, ONE3, 1, 0);
    h = g_relu(t->g, nn_bn(&t->m, "enc.conv.1", h, 4));
    h = nn_deconv(&t->m, "up", h, 4, 3, K2, K2, ZERO3, 1, 0);
    h = nn_conv(&t->m, "head", h, 3, 2, K2D, ONE3, PAD2D, 0, 1);
    t->y = nn_bn(&t->m, "head_bn", h, 2);
    ck_assert_msg(t->y >= 0, "tiny model: %s", graph_error(t->g));
    graph_keep(t->g, t->y);
    if (plan) {
        TU_OK(graph_plan(t->g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
        TU_OK(nn_init_params(&t->m));
    }
}

static void tiny_free(tiny *t)
{
    nn_end(&t->m);
    graph_free(t->g);
}

/* Every entry gets distinct random values (BN stats included). */
static void tiny_randomize(tiny *t, uint64_t seed)
{
    for (int i = 0; i < t->m.n; i++) {
        ss_shape s = graph_shape(t->g, t->m.e[i].t);
        size_t n = (size_t)ss_numel(&s);
        float *v = tu_alloc(n);
        tu_fill_uniform(v, n, 0.1f, 2.f, seed + (uint64_t)i);
        TU_OK(graph_upload(t->g, t->m.e[i].t, v));
        free(v);
    }
}

static float *tiny_get(tiny *t, int i, size_t *n)
{
    ss_shape s = graph_shape(t->g, t->m.e[i].t);
    *n = (size_t)ss_numel(&s);
    float *v = tu_alloc(*n);
    TU_OK(graph_download(t->g, t->m.e[i].t, v));
    return v;
}

/* 1 when every entry of a and b holds bit-identical values. */
static int tiny_same(tiny *a, tiny *b)
{
    int same = a->m.n == b->m.n;
    for (int i = 0; same && i < a->m.n; i++) {
        size_t na, nb;
        float *va = tiny_get(a, i, &na), *vb = tiny_get(b, i, &nb);
        same = na == nb && !memcmp(va, vb, na * sizeof(float));
        free(va);
        free(vb);
    }
    return same;
}

/* A scratch directory and file names in it. */
static char g_dir[64];
static char g_paths[16][128];
static int g_npaths;

static void dir_setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/ss_weights_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    g_npaths = 0;
}

static const char *path_in(const char *name)
{
    ck_assert_int_lt(g_npaths, 16);
    char *p = g_paths[g_npaths++];
    snprintf(p, 128, "%s/%s", g_dir, name);
    return p;
}

/* Removes the files the test named; the directory must then be empty (so no
 * stray "<path>.tmp" was left). */
static void dir_teardown(void)
{
    for (int i = 0; i < g_npaths; i++)
        unlink(g_paths[i]);
    int rc = rmdir(g_dir);
    ck_assert_msg(rc == 0, "%s is not empty after the test (a .tmp left behind?)", g_dir);
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

static int tmp_exists(const char *p)
{
    char t[160];
    snprintf(t, sizeof t, "%s.tmp", p);
    return exists(t);
}

/* Opens a saved file for editing with the HDF5 API. */
static hid_t edit(const char *p)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_msg(f >= 0, "cannot reopen %s", p);
    return f;
}

static void put(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims,
                const void *data)
{
    if (H5Lexists(f, name, H5P_DEFAULT) > 0)
        ck_assert_int_ge(H5Ldelete(f, name, H5P_DEFAULT), 0);
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(ds, 0);
    ck_assert_int_ge(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Dclose(ds);
    H5Sclose(sp);
}

#define ASSERT_ERR_HAS(expr, needle)                                                             \
    do {                                                                                         \
        ss_clearerr();                                                                           \
        int rc_ = (expr);                                                                        \
        ck_assert_msg(rc_ != SS_OK, "%s succeeded", #expr);                                     \
        ck_assert_msg(strstr(semiseg_error(), (needle)) != NULL, "message '%s' lacks '%s'",      \
                      semiseg_error(), (needle));                                                \
    } while (0)

/* Save, load into a fresh graph of the same model (other seed): every tensor
 * is bit-identical and the loaded model computes the same output. */
START_TEST(test_roundtrip)
{
    dir_setup();
    const char *p = path_in("w.h5");
    tiny a, b;
    tiny_build(&a, 7, 1);
    tiny_build(&b, 99, 1);
    tiny_randomize(&a, 11);
    ck_assert(!tiny_same(&a, &b));
    TU_OK(ss_weights_save(&a.m, p, 0));
    ck_assert(exists(p));
    ck_assert(!tmp_exists(p));
    ss_weights_stats st;
    TU_OK(ss_weights_load_stats(&b.m, p, 1, &st));
    ck_assert_int_eq(st.loaded, a.m.n);
    ck_assert_int_eq(st.missing, 0);
    ck_assert_int_eq(st.extra, 0);
    ck_assert(tiny_same(&a, &b));
    float in[18], ya[2 * 4 * 6 * 6], yb[2 * 4 * 6 * 6];
    tu_fill_uniform(in, 18, -1.f, 1.f, 3);
    ss_shape ys = graph_shape(a.g, a.y);
    ck_assert_int_eq(ss_numel(&ys), 2 * 4 * 6 * 6);
    TU_OK(graph_upload(a.g, a.x, in));
    TU_OK(graph_upload(b.g, b.x, in));
    TU_OK(graph_run(a.g));
    TU_OK(graph_run(b.g));
    TU_OK(graph_download(a.g, a.y, ya));
    TU_OK(graph_download(b.g, b.y, yb));
    ck_assert(!memcmp(ya, yb, sizeof(float) * 2 * 4 * 6 * 6));
    /* saving over an existing file replaces it */
    TU_OK(ss_weights_save(&b.m, p, 5));
    ck_assert(!tmp_exists(p));
    tiny_free(&a);
    tiny_free(&b);
    dir_teardown();
}
END_TEST

/* The file as PyTorch sees it: one dataset per key with the PyTorch shape
 * (2-D conv weight rank 4), float32; num_batches_tracked a scalar int64 per
 * BN module; nothing else. */
START_TEST(test_layout)
{
    dir_setup();
    const char *p = path_in("w.h5");
    tiny a;
    tiny_build(&a, 7, 1);
    TU_OK(ss_weights_save(&a.m, p, 1234567890123LL));
    struct {
        const char *key;
        int rank;
        hsize_t d[5];
    } want[] = {
        {"enc.conv.0.weight", 5, {4, 1, 3, 3, 3}}, {"enc.conv.0.bias", 1, {4}},
        {"enc.conv.1.weight", 1, {4}},             {"enc.conv.1.bias", 1, {4}},
        {"enc.conv.1.running_mean", 1, {4}},       {"enc.conv.1.running_var", 1, {4}},
        {"up.weight", 5, {4, 3, 2, 2, 2}},         {"up.bias", 1, {3}},
        {"head.weight", 4, {2, 3, 3, 3}},          {"head_bn.weight", 1, {2}},
        {"head_bn.bias", 1, {2}},                  {"head_bn.running_mean", 1, {2}},
        {"head_bn.running_var", 1, {2}},
    };
    int nw = (int)(sizeof want / sizeof want[0]);
    ck_assert_int_eq(a.m.n, nw);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    H5G_info_t gi;
    ck_assert_int_ge(H5Gget_info(f, &gi), 0);
    ck_assert_int_eq((int)gi.nlinks, nw + 2);
    for (int i = 0; i < nw; i++) {
        hid_t ds = H5Dopen2(f, want[i].key, H5P_DEFAULT);
        ck_assert_msg(ds >= 0, "no dataset %s", want[i].key);
        hid_t ty = H5Dget_type(ds), sp = H5Dget_space(ds);
        ck_assert_int_eq(H5Tget_class(ty), H5T_FLOAT);
        ck_assert_int_eq((int)H5Tget_size(ty), 4);
        ck_assert_int_eq(H5Sget_simple_extent_ndims(sp), want[i].rank);
        hsize_t d[5];
        H5Sget_simple_extent_dims(sp, d, NULL);
        for (int k = 0; k < want[i].rank; k++)
            ck_assert_msg(d[k] == want[i].d[k], "%s dim %d: %llu want %llu", want[i].key, k,
                          (unsigned long long)d[k], (unsigned long long)want[i].d[k]);
        /* values equal the graph's (PyTorch layout = ours, row-major) */
        size_t n;
        float *g = tiny_get(&a, nn_find(&a.m, want[i].key), &n), *r = tu_alloc(n);
        ck_assert_int_ge(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, r), 0);
        ck_assert(!memcmp(g, r, n * sizeof(float)));
        free(g);
        free(r);
        H5Tclose(ty);
        H5Sclose(sp);
        H5Dclose(ds);
    }
    const char *nbt[2] = {"enc.conv.1.num_batches_tracked", "head_bn.num_batches_tracked"};
    for (int i = 0; i < 2; i++) {
        hid_t ds = H5Dopen2(f, nbt[i], H5P_DEFAULT);
        ck_assert_msg(ds >= 0, "no dataset %s", nbt[i]);
        hid_t ty = H5Dget_type(ds), sp = H5Dget_space(ds);
        ck_assert_int_eq(H5Tget_class(ty), H5T_INTEGER);
        ck_assert_int_eq((int)H5Tget_size(ty), 8);
        ck_assert_int_eq(H5Tget_sign(ty), H5T_SGN_2);
        ck_assert_int_eq(H5Sget_simple_extent_type(sp), H5S_SCALAR);
        long long v = 0;
        ck_assert_int_ge(H5Dread(ds, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v), 0);
        ck_assert(v == 1234567890123LL);
        H5Tclose(ty);
        H5Sclose(sp);
        H5Dclose(ds);
    }
    H5Fclose(f);
    tiny_free(&a);
    dir_teardown();
}
END_TEST

/* Missing and extra keys: strict errors name the key and the file;
 * non-strict skips and counts them. A failed load changes nothing. */
START_TEST(test_strict_keys)
{
    dir_setup();
    const char *pm = path_in("missing.h5"), *pe = path_in("extra.h5");
    tiny a, b;
    tiny_build(&a, 7, 1);
    tiny_build(&b, 99, 1);
    tiny_randomize(&a, 11);
    TU_OK(ss_weights_save(&a.m, pm, 0));
    TU_OK(ss_weights_save(&a.m, pe, 0));
    hid_t f = edit(pm);
    ck_assert_int_ge(H5Ldelete(f, "up.bias", H5P_DEFAULT), 0);
    H5Fclose(f);
    f = edit(pe);
    float v[3] = {1, 2, 3};
    hsize_t d3[1] = {3};
    put(f, "bogus.weight", H5T_NATIVE_FLOAT, 1, d3, v);
    long long z = 0;
    put(f, "nobn.num_batches_tracked", H5T_NATIVE_LLONG, 0, NULL, &z); /* not a BN of the model */
    H5Fclose(f);

    ASSERT_ERR_HAS(ss_weights_load(&b.m, pm, 1), "'up.bias'");
    ck_assert_ptr_nonnull(strstr(semiseg_error(), pm));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "missing"));
    ASSERT_ERR_HAS(ss_weights_load(&b.m, pe, 1), "bogus.weight");
    ck_assert_ptr_nonnull(strstr(semiseg_error(), pe));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "2 key(s) in the file"));
    tiny c;
    tiny_build(&c, 99, 1);
    ck_assert(tiny_same(&b, &c)); /* failed loads left b untouched */

    ss_weights_stats st;
    TU_OK(ss_weights_load_stats(&b.m, pm, 0, &st));
    ck_assert_int_eq(st.loaded, a.m.n - 1);
    ck_assert_int_eq(st.missing, 1);
    ck_assert_int_eq(st.extra, 0);
    int ub = nn_find(&b.m, "up.bias");
    size_t n;
    float *kept = tiny_get(&b, ub, &n), *init = tiny_get(&c, ub, &n);
    ck_assert(!memcmp(kept, init, n * sizeof(float))); /* the missing key kept its value */
    free(kept);
    free(init);
    TU_OK(ss_weights_load_stats(&b.m, pe, 0, &st));
    ck_assert_int_eq(st.loaded, a.m.n);
    ck_assert_int_eq(st.missing, 0);
    ck_assert_int_eq(st.extra, 2);
    ck_assert(tiny_same(&a, &b));
    tiny_free(&a);
    tiny_free(&b);
    tiny_free(&c);
    dir_teardown();
}
END_TEST

/* A wrong shape is an error in both modes (names key, file, both shapes); an
 * integer dataset is refused; float64 is converted. */
START_TEST(test_shape_and_dtype)
{
    dir_setup();
    const char *ps = path_in("shape.h5"), *pi = path_in("int.h5"), *pd = path_in("f64.h5");
    tiny a, b;
    tiny_build(&a, 7, 1);
    tiny_build(&b, 99, 1);
    tiny_randomize(&a, 11);
    TU_OK(ss_weights_save(&a.m, ps, 0));
    TU_OK(ss_weights_save(&a.m, pi, 0));
    TU_OK(ss_weights_save(&a.m, pd, 0));
    float w[2 * 3 * 1 * 3 * 3] = {0};
    hsize_t d5[5] = {2, 3, 1, 3, 3}; /* the 3-D form of the 2-D head weight */
    hid_t f = edit(ps);
    put(f, "head.weight", H5T_NATIVE_FLOAT, 5, d5, w);
    H5Fclose(f);
    ASSERT_ERR_HAS(ss_weights_load(&b.m, ps, 1), "'head.weight'");
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "(2,3,1,3,3)"));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "(2,3,3,3)"));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), ps));
    ASSERT_ERR_HAS(ss_weights_load(&b.m, ps, 0), "'head.weight'");

    int iv[4] = {1, 2, 3, 4};
    hsize_t d4[1] = {4};
    f = edit(pi);
    put(f, "enc.conv.0.bias", H5T_NATIVE_INT, 1, d4, iv);
    H5Fclose(f);
    ASSERT_ERR_HAS(ss_weights_load(&b.m, pi, 1), "'enc.conv.0.bias'");
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "float"));

    /* every key as float64: values convert exactly (they were float32) */
    f = edit(pd);
    for (int i = 0; i < a.m.n; i++) {
        const ss_nn_entry *e = &a.m.e[i];
        size_t n;
        float *v = tiny_get(&a, i, &n);
        double *dv = malloc(n * sizeof(double));
        for (size_t k = 0; k < n; k++)
            dv[k] = v[k];
        hsize_t d[5];
        for (int k = 0; k < e->rank; k++)
            d[k] = (hsize_t)e->shape[k];
        put(f, graph_name(a.g, e->t), H5T_NATIVE_DOUBLE, e->rank, d, dv);
        free(v);
        free(dv);
    }
    H5Fclose(f);
    TU_OK(ss_weights_load(&b.m, pd, 1));
    ck_assert(tiny_same(&a, &b));
    tiny_free(&a);
    tiny_free(&b);
    dir_teardown();
}
END_TEST

/* Missing, empty, non-HDF5 and truncated files: an error naming the file, no
 * crash. */
START_TEST(test_bad_files)
{
    dir_setup();
    const char *pn = path_in("none.h5"), *pt = path_in("text.h5"), *pe = path_in("empty.h5");
    const char *pg = path_in("good.h5"), *pc = path_in("cut.h5");
    tiny b;
    tiny_build(&b, 99, 1);
    ASSERT_ERR_HAS(ss_weights_load(&b.m, pn, 1), pn);
    FILE *fp = fopen(pt, "wb");
    fputs("this is not an HDF5 file\n", fp);
    fclose(fp);
    ASSERT_ERR_HAS(ss_weights_load(&b.m, pt, 1), pt);
    fp = fopen(pe, "wb");
    fclose(fp);
    ASSERT_ERR_HAS(ss_weights_load(&b.m, pe, 0), pe);
    TU_OK(ss_weights_save(&b.m, pg, 0));
    /* copy the first half, then the first 3/4 (header intact, data cut) */
    fp = fopen(pg, "rb");
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)sz);
    ck_assert_int_eq((long)fread(buf, 1, (size_t)sz, fp), sz);
    fclose(fp);
    long cuts[3] = {sz / 2, sz * 3 / 4, sz - 8};
    for (int c = 0; c < 3; c++) {
        fp = fopen(pc, "wb");
        fwrite(buf, 1, (size_t)cuts[c], fp);
        fclose(fp);
        ASSERT_ERR_HAS(ss_weights_load(&b.m, pc, 1), pc);
    }
    free(buf);
    int r;
    long long dims[SS_H5_MAX_RANK];
    ss_clearerr();
    ck_assert_ptr_null(ss_h5_read_f32(pt, "input", &r, dims));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), pt));
    tiny_free(&b);
    dir_teardown();
}
END_TEST

/* Failed saves leave nothing behind and keep an existing file: a missing
 * directory, an unplanned graph. */
START_TEST(test_save_atomic)
{
    dir_setup();
    const char *p = path_in("w.h5");
    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/w.h5", g_dir);
    tiny a, u;
    tiny_build(&a, 7, 1);
    tiny_build(&u, 7, 0); /* not planned: nothing to download */
    ASSERT_ERR_HAS(ss_weights_save(&a.m, nodir, 0), nodir);
    TU_OK(ss_weights_save(&a.m, p, 3));
    ASSERT_ERR_HAS(ss_weights_save(&u.m, p, 0), p);
    ck_assert(!tmp_exists(p));
    ASSERT_ERR_HAS(ss_weights_save(&a.m, p, -1), p);
    tiny b;
    tiny_build(&b, 99, 1);
    TU_OK(ss_weights_load(&b.m, p, 1)); /* the first file is still intact */
    ck_assert(tiny_same(&a, &b));
    ASSERT_ERR_HAS(ss_weights_load(&u.m, p, 1), "planned");
    tiny_free(&a);
    tiny_free(&b);
    tiny_free(&u);
    dir_teardown();
}
END_TEST

/* The whole-array helpers: rank-4 float32 round trip, float64 converted,
 * missing dataset named. */
START_TEST(test_arrays)
{
    dir_setup();
    const char *p = path_in("y.h5");
    float v[2 * 3 * 4 * 5], s = 2.5f;
    tu_fill_uniform(v, 120, -1.f, 1.f, 4);
    ss_h5_array a[2] = {{"seg1", 4, {2, 3, 4, 5}, v}, {"scalar", 0, {0}, &s}};
    TU_OK(ss_h5_write_f32(p, 2, a));
    ck_assert(!tmp_exists(p));
    int r;
    long long d[SS_H5_MAX_RANK];
    float *got = ss_h5_read_f32(p, "seg1", &r, d);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(r, 4);
    ck_assert(d[0] == 2 && d[1] == 3 && d[2] == 4 && d[3] == 5);
    ck_assert(!memcmp(got, v, sizeof v));
    free(got);
    got = ss_h5_read_f32(p, "scalar", &r, d);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(r, 0);
    ck_assert(got[0] == 2.5f);
    free(got);
    hid_t f = edit(p);
    double dv[3] = {0.5, -1.25, 3};
    hsize_t d3[1] = {3};
    put(f, "f64", H5T_NATIVE_DOUBLE, 1, d3, dv);
    H5Fclose(f);
    got = ss_h5_read_f32(p, "f64", &r, d);
    ck_assert_ptr_nonnull(got);
    ck_assert(r == 1 && d[0] == 3 && got[0] == 0.5f && got[1] == -1.25f && got[2] == 3.f);
    free(got);
    ss_clearerr();
    ck_assert_ptr_null(ss_h5_read_f32(p, "nope", &r, d));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "'nope'"));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), p));
    /* duplicate names fail and leave nothing */
    ss_h5_array dup[2] = {a[0], a[0]};
    const char *q = path_in("dup.h5");
    ASSERT_ERR_HAS(ss_h5_write_f32(q, 2, dup), "seg1");
    ck_assert(!exists(q) && !tmp_exists(q));
    dir_teardown();
}
END_TEST

Suite *suite_weights(void)
{
    Suite *s = suite_create("weights");
    TCase *tc = tcase_create("weights");
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_strict_keys);
    tcase_add_test(tc, test_shape_and_dtype);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_save_atomic);
    tcase_add_test(tc, test_arrays);
    suite_add_tcase(s, tc);
    return s;
}
