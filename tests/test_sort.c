/* SORT and RANK: ranks against a naive O(N^2) count, sorted values against the
 * C library's qsort, consistency of the two, ties, NaN, hand values, errors,
 * absence of a gradient, FLOP counts. */
#include "kernels/backend.h"
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void expect_infer_err(int kind, const int *ip, int n_in, const ss_shape *xs)
{
    opc o;
    ss_clearerr();
    int rc = opc_init(&o, kind, ip, ip ? SS_MAX_IP : 0, NULL, 0, n_in, xs);
    ck_assert_int_eq(rc, SS_ERR);
    const char *name = ss_op_name(kind);
    ck_assert_msg(strncmp(semiseg_error(), name, strlen(name)) == 0, "message '%s' lacks '%s'",
                  semiseg_error(), name);
}

/* Strict order used by both ops: NaN above every number; descending flips it. */
static int goes_before(float u, float v, int desc)
{
    int nu = isnan(u), nv = isnan(v);
    if (nu || nv)
        return desc ? (nu && !nv) : (!nu && nv);
    return desc ? u > v : u < v;
}

/* rank_j = 1 + #{k : x_k strictly before x_j, or x_k ties x_j and k < j} */
static void naive_rank(const float *x, int n, int desc, float *r)
{
    for (int j = 0; j < n; j++) {
        int c = 0;
        for (int k = 0; k < n; k++) {
            int tie = !goes_before(x[k], x[j], desc) && !goes_before(x[j], x[k], desc);
            if (goes_before(x[k], x[j], desc) || (tie && k < j))
                c++;
        }
        r[j] = (float)(c + 1);
    }
}

static int cmp_asc(const void *p, const void *q)
{
    float u = *(const float *)p, v = *(const float *)q;
    return goes_before(u, v, 0) ? -1 : goes_before(v, u, 0) ? 1 : 0;
}

/* Runs SORT and RANK on the same (M, N) data and checks them: ranks equal the
 * naive count exactly, sorted values equal qsort's (reversed when descending),
 * and y_sort[rank_j - 1] is x_j. */
static void check_rows(int m, int n, int desc, const float *data)
{
    int ip[SS_MAX_IP] = {desc};
    ss_shape s = ss_shape5(m, n, 1, 1, 1);
    opc so, ro;
    TU_OK(opc_init(&so, SS_OP_SORT, ip, 1, NULL, 0, 1, &s));
    TU_OK(opc_init(&ro, SS_OP_RANK, ip, 1, NULL, 0, 1, &s));
    ck_assert(ss_shape_eq(&so.ys[0], &s) && ss_shape_eq(&ro.ys[0], &s));
    memcpy(so.x[0], data, (size_t)m * n * sizeof(float));
    memcpy(ro.x[0], data, (size_t)m * n * sizeof(float));
    TU_OK(opc_fwd(&so, 1));
    TU_OK(opc_fwd(&ro, 1));
    float *want = tu_alloc((size_t)n), *row = tu_alloc((size_t)n);
    for (int r = 0; r < m; r++) {
        const float *x = data + (size_t)r * n;
        naive_rank(x, n, desc, want);
        TU_ASSERT_CLOSE(ro.y[0] + (size_t)r * n, want, (size_t)n, 0, 0); /* exact */
        memcpy(row, x, (size_t)n * sizeof(float));
        qsort(row, (size_t)n, sizeof(float), cmp_asc);
        for (int j = 0; j < n; j++) {
            float w = row[desc ? n - 1 - j : j], got = so.y[0][(size_t)r * n + j];
            ck_assert_msg((isnan(w) && isnan(got)) || w == got,
                          "row %d pos %d: sorted %g want %g (desc %d)", r, j, got, w, desc);
            int rk = (int)ro.y[0][(size_t)r * n + j];
            float back = so.y[0][(size_t)r * n + rk - 1];
            ck_assert((isnan(back) && isnan(x[j])) || back == x[j]);
        }
    }
    free(want);
    free(row);
    opc_free(&so);
    opc_free(&ro);
}

START_TEST(test_sort_rank_random)
{
    const int ns[] = {1, 2, 3, 7, 33, 100, 257};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++)
        for (int desc = 0; desc < 2; desc++) {
            int m = 3, n = ns[t];
            float *x = tu_alloc((size_t)m * n);
            tu_fill_uniform(x, (size_t)m * n, -1.f, 1.f, 100 + t);
            check_rows(m, n, desc, x);
            /* heavy ties: values in {0, 1, 2, 3} */
            for (int i = 0; i < m * n; i++)
                x[i] = floorf((x[i] + 1.f) * 2.f);
            check_rows(m, n, desc, x);
            free(x);
        }
}
END_TEST

START_TEST(test_sort_rank_nan_inf)
{
    /* NaN sorts after +inf ascending and first descending; ties among NaNs and
     * equal infinities keep index order */
    const float x[8] = {2.f, NAN, -INFINITY, 0.5f, INFINITY, NAN, -1.f, 2.f};
    check_rows(1, 8, 0, x);
    check_rows(1, 8, 1, x);
    /* hand: ascending ranks */
    int ip[SS_MAX_IP] = {0};
    ss_shape s = ss_shape5(1, 8, 1, 1, 1);
    opc o;
    TU_OK(opc_init(&o, SS_OP_RANK, ip, 1, NULL, 0, 1, &s));
    memcpy(o.x[0], x, sizeof x);
    TU_OK(opc_fwd(&o, 1));
    const float want[8] = {4, 7, 1, 3, 6, 8, 2, 5};
    TU_ASSERT_CLOSE(o.y[0], want, 8, 0, 0);
    opc_free(&o);
}
END_TEST

START_TEST(test_rank_hand)
{
    /* row 0: [3 1 2 1] asc -> [4 1 3 2], desc -> [1 3 2 4] (tied 1s by index)
     * row 1: [5 5 5 5] -> [1 2 3 4] both ways */
    ss_shape s = ss_shape5(2, 4, 1, 1, 1);
    int ip[SS_MAX_IP] = {0};
    const float x[8] = {3, 1, 2, 1, 5, 5, 5, 5};
    opc o;
    TU_OK(opc_init(&o, SS_OP_RANK, ip, 1, NULL, 0, 1, &s));
    memcpy(o.x[0], x, sizeof x);
    TU_OK(opc_fwd(&o, 1));
    const float asc[8] = {4, 1, 3, 2, 1, 2, 3, 4};
    TU_ASSERT_CLOSE(o.y[0], asc, 8, 0, 0);
    o.ip[0] = 1;
    TU_OK(opc_fwd(&o, 1));
    const float desc[8] = {1, 3, 2, 4, 1, 2, 3, 4};
    TU_ASSERT_CLOSE(o.y[0], desc, 8, 0, 0);
    opc_free(&o);
    TU_OK(opc_init(&o, SS_OP_SORT, ip, 1, NULL, 0, 1, &s));
    memcpy(o.x[0], x, sizeof x);
    o.ip[0] = 1;
    TU_OK(opc_fwd(&o, 0)); /* dispatched path */
    const float sorted_desc[8] = {3, 2, 1, 1, 5, 5, 5, 5};
    TU_ASSERT_CLOSE(o.y[0], sorted_desc, 8, 0, 0);
    opc_free(&o);
}
END_TEST

START_TEST(test_sort_no_grad)
{
    for (int kind = SS_OP_SORT; kind <= SS_OP_RANK; kind++) {
        const ss_op_desc *d = ss_op_get(kind);
        ck_assert_ptr_null(d->bwd);
        ck_assert_uint_eq(d->diff_mask, 0u);
        ss_shape s = ss_shape5(2, 3, 1, 1, 1);
        opc o;
        TU_OK(opc_init(&o, kind, NULL, 0, NULL, 0, 1, &s));
        float *g = tu_alloc(6), *gx[SS_MAX_IN] = {tu_alloc(6)};
        ss_clearerr();
        ck_assert_int_eq(opc_bwd(&o, g, gx, 1u), SS_ERR); /* the backend refuses */
        ck_assert_ptr_nonnull(strstr(semiseg_error(), d->name));
        free(g);
        free(gx[0]);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_sort_bad)
{
    int ip[SS_MAX_IP] = {0};
    for (int kind = SS_OP_SORT; kind <= SS_OP_RANK; kind++) {
        ss_shape not_mat = ss_shape5(2, 3, 1, 2, 1);
        expect_infer_err(kind, ip, 1, &not_mat);
        ss_shape zero = ss_shape5(2, 0, 1, 1, 1);
        expect_infer_err(kind, ip, 1, &zero);
        ss_shape ok[2] = {ss_shape5(2, 3, 1, 1, 1), ss_shape5(2, 3, 1, 1, 1)};
        expect_infer_err(kind, ip, 2, ok);
        int bad_desc[SS_MAX_IP] = {2};
        expect_infer_err(kind, bad_desc, 1, ok);
        ss_shape too_long = ss_shape5(1, (1 << 24) + 1, 1, 1, 1);
        expect_infer_err(kind, ip, 1, &too_long);
    }
}
END_TEST

START_TEST(test_sort_flops)
{
    ss_op_args a = {.kind = SS_OP_SORT, .n_in = 1, .n_out = 1};
    a.xs[0] = ss_shape5(3, 100, 1, 1, 1);
    /* N ceil(log2 N) comparisons per row */
    ck_assert_double_eq(ss_op_get(SS_OP_SORT)->flops(&a), 3.0 * 100 * 7);
    ck_assert_double_eq(ss_op_get(SS_OP_RANK)->flops(&a), 3.0 * 100 * 7);
    a.xs[0] = ss_shape5(3, 1, 1, 1, 1);
    ck_assert_double_eq(ss_op_get(SS_OP_RANK)->flops(&a), 0.0);
}
END_TEST

Suite *suite_sort(void)
{
    Suite *s = suite_create("sort");
    TCase *tc = tcase_create("sort_rank");
    tcase_add_test(tc, test_sort_rank_random);
    tcase_add_test(tc, test_sort_rank_nan_inf);
    tcase_add_test(tc, test_rank_hand);
    tcase_add_test(tc, test_sort_no_grad);
    tcase_add_test(tc, test_sort_bad);
    tcase_add_test(tc, test_sort_flops);
    suite_add_tcase(s, tc);
    return s;
}
