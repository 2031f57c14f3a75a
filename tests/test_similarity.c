/* L2NORM and COSSIM: forward against formulations written here and hand values,
 * finite-difference gradients in the normal, clamped and mixed regimes, shape and
 * parameter errors, FLOP counts. */
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void expect_infer_err(int kind, const float *fp, int n_in, const ss_shape *xs)
{
    opc o;
    ss_clearerr();
    int rc = opc_init(&o, kind, NULL, 0, fp, fp ? SS_MAX_FP : 0, n_in, xs);
    ck_assert_int_eq(rc, SS_ERR);
    const char *name = ss_op_name(kind);
    ck_assert_msg(strncmp(semiseg_error(), name, strlen(name)) == 0, "message '%s' lacks '%s'",
                  semiseg_error(), name);
}

/* ---- L2NORM ---------------------------------------------------------------- */

/* Reference: squared norms of all voxels accumulated channel-outer into a
 * per-(n, voxel) array, then one scaling pass. */
static void naive_l2norm(const float *x, const ss_shape *s, double eps, float *y)
{
    int N = s->d[0], C = s->d[1];
    size_t sp = (size_t)s->d[2] * s->d[3] * s->d[4];
    double *ss = calloc((size_t)N * sp, sizeof(double));
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (size_t v = 0; v < sp; v++) {
                double t = x[((size_t)n * C + c) * sp + v];
                ss[n * sp + v] += t * t;
            }
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (size_t v = 0; v < sp; v++) {
                double nr = sqrt(ss[n * sp + v]);
                size_t i = ((size_t)n * C + c) * sp + v;
                y[i] = (float)(x[i] / (nr > eps ? nr : eps));
            }
    free(ss);
}

static void check_l2norm(ss_shape s, float eps, uint64_t seed)
{
    float fp[SS_MAX_FP] = {eps};
    opc o;
    TU_OK(opc_init(&o, SS_OP_L2NORM, NULL, 0, fp, 1, 1, &s));
    ck_assert(ss_shape_eq(&o.ys[0], &s));
    opc_randomize(&o, -1.f, 1.f, seed);
    TU_OK(opc_fwd(&o, 1));
    size_t n = (size_t)ss_numel(&s);
    float *ref = tu_alloc(n);
    naive_l2norm(o.x[0], &s, eps == 0.f ? 1e-12 : eps, ref);
    /* same double sums in a different order: 1 ulp-level differences, 1e-6 rel */
    TU_ASSERT_CLOSE(o.y[0], ref, n, 1e-7, 1e-6);
    free(ref);
    opc_free(&o);
}

START_TEST(test_l2norm_forward)
{
    check_l2norm(ss_shape5(3, 5, 3, 5, 7), 0.f, 51); /* 3-D, default eps */
    check_l2norm(ss_shape5(3, 5, 1, 5, 7), 0.f, 52); /* 2-D */
    check_l2norm(ss_shape5(2, 3, 1, 4, 3), 0.8f, 53); /* eps clamps some voxels */
    check_l2norm(ss_shape5(4, 1, 1, 1, 1), 0.f, 54);  /* C = 1: sign */
}
END_TEST

START_TEST(test_l2norm_hand)
{
    /* (3, 4) -> (0.6, 0.8); (0, 0) -> (0, 0); (1e-14, 0) -> (0.01, 0) (x / 1e-12);
     * with eps 10: (3, 4) -> (0.3, 0.4). Voxels along W. */
    ss_shape s = ss_shape5(1, 2, 1, 1, 3);
    opc o;
    TU_OK(opc_init(&o, SS_OP_L2NORM, NULL, 0, NULL, 0, 1, &s));
    const float x[6] = {3, 0, 1e-14f, 4, 0, 0};
    memcpy(o.x[0], x, sizeof x);
    TU_OK(opc_fwd(&o, 1));
    const float want[6] = {0.6f, 0, 0.01f, 0.8f, 0, 0};
    TU_ASSERT_CLOSE(o.y[0], want, 6, 0, 1e-6);
    o.fp[0] = 10.f;
    TU_OK(opc_fwd(&o, 1));
    const float want10[6] = {0.3f, 0, 1e-15f, 0.4f, 0, 0};
    TU_ASSERT_CLOSE(o.y[0], want10, 6, 0, 1e-6);
    opc_free(&o);
}
END_TEST

/* Sets every voxel's channel vector to norm[v % nn] times a random direction. */
static void set_norms(opc *o, const double *norm, int nn)
{
    const ss_shape *s = &o->xs[0];
    int N = s->d[0], C = s->d[1];
    size_t sp = (size_t)s->d[2] * s->d[3] * s->d[4];
    for (int n = 0; n < N; n++)
        for (size_t v = 0; v < sp; v++) {
            double ss = 0;
            for (int c = 0; c < C; c++) {
                double t = o->x[0][((size_t)n * C + c) * sp + v];
                ss += t * t;
            }
            double k = norm[(n * sp + v) % (size_t)nn] / sqrt(ss);
            for (int c = 0; c < C; c++)
                o->x[0][((size_t)n * C + c) * sp + v] *= (float)k;
        }
}

START_TEST(test_l2norm_grad)
{
    /* Smooth away from x = 0 (norms set to 0.7, 1.3, 2). Central differences
     * with eps 1e-3: truncation ~1e-6, FP32 rounding of L ~1e-7/2e-3 = 5e-5
     * (observed worst 2.5e-5); atol 1e-4, rtol 1e-3. */
    ss_shape s = ss_shape5(2, 4, 1, 2, 3);
    opc o;
    TU_OK(opc_init(&o, SS_OP_L2NORM, NULL, 0, NULL, 0, 1, &s));
    opc_randomize(&o, -1.f, 1.f, 61);
    const double n_normal[3] = {0.7, 1.3, 2.0};
    set_norms(&o, n_normal, 3);
    TU_GRADCHECK(&o, 1u, 1e-3, 1e-4, 1e-3);
    /* all clamped (eps 10 > every norm): y = x / 10 */
    o.fp[0] = 10.f;
    TU_GRADCHECK(&o, 1u, 1e-3, 1e-4, 1e-3);
    /* mixed: norms 0.5 (clamped by eps 1) and 1.5, both 0.5 away from the kink,
     * far beyond the FD step */
    o.fp[0] = 1.f;
    const double n_mixed[2] = {0.5, 1.5};
    set_norms(&o, n_mixed, 2);
    TU_GRADCHECK(&o, 1u, 1e-3, 1e-4, 1e-3);
    opc_free(&o);
    /* 3-D, C = 3 */
    ss_shape s3 = ss_shape5(1, 3, 2, 2, 2);
    TU_OK(opc_init(&o, SS_OP_L2NORM, NULL, 0, NULL, 0, 1, &s3));
    opc_randomize(&o, -1.f, 1.f, 62);
    set_norms(&o, n_normal, 3);
    TU_GRADCHECK(&o, 1u, 1e-3, 1e-4, 1e-3);
    opc_free(&o);
}
END_TEST

START_TEST(test_l2norm_bad)
{
    ss_shape s = ss_shape5(2, 3, 1, 2, 2);
    float neg[SS_MAX_FP] = {-1e-3f};
    expect_infer_err(SS_OP_L2NORM, neg, 1, &s);
    float nan_eps[SS_MAX_FP] = {NAN};
    expect_infer_err(SS_OP_L2NORM, nan_eps, 1, &s);
    float inf_eps[SS_MAX_FP] = {INFINITY};
    expect_infer_err(SS_OP_L2NORM, inf_eps, 1, &s);
    ss_shape two[2] = {s, s};
    expect_infer_err(SS_OP_L2NORM, NULL, 2, two);
    ss_shape zero = ss_shape5(2, 0, 1, 2, 2);
    expect_infer_err(SS_OP_L2NORM, NULL, 1, &zero);
}
END_TEST

START_TEST(test_l2norm_flops)
{
    ss_op_args a = {.kind = SS_OP_L2NORM, .n_in = 1, .n_out = 1};
    a.xs[0] = ss_shape5(3, 5, 1, 5, 7);
    const ss_op_desc *d = ss_op_get(SS_OP_L2NORM);
    /* 3 per element (square, add, divide) + a sqrt per vector */
    ck_assert_double_eq(d->flops(&a), 3.0 * 3 * 5 * 35 + 3 * 35);
    ck_assert_uint_eq(d->diff_mask, 1u);
}
END_TEST

/* ---- COSSIM ---------------------------------------------------------------- */

/* Reference for the unclamped case: normalise each row in double, then take dot
 * products of the unit vectors. */
static void naive_cossim(const float *a, int m, const float *b, int nb, int k, float *y)
{
    double *ua = calloc((size_t)m * k, sizeof(double)), *ub = calloc((size_t)nb * k, sizeof(double));
    for (int r = 0; r < m; r++) {
        double s = 0;
        for (int t = 0; t < k; t++)
            s += (double)a[r * k + t] * a[r * k + t];
        for (int t = 0; t < k; t++)
            ua[r * k + t] = a[r * k + t] / sqrt(s);
    }
    for (int r = 0; r < nb; r++) {
        double s = 0;
        for (int t = 0; t < k; t++)
            s += (double)b[r * k + t] * b[r * k + t];
        for (int t = 0; t < k; t++)
            ub[r * k + t] = b[r * k + t] / sqrt(s);
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < nb; j++) {
            double s = 0;
            for (int t = 0; t < k; t++)
                s += ua[i * k + t] * ub[j * k + t];
            y[i * nb + j] = (float)s;
        }
    free(ua);
    free(ub);
}

START_TEST(test_cossim_forward)
{
    enum { M = 3, NB = 5, K = 7 };
    ss_shape xs[2] = {ss_shape5(M, K, 1, 1, 1), ss_shape5(NB, K, 1, 1, 1)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_COSSIM, NULL, 0, NULL, 0, 2, xs));
    ck_assert(ss_shape_eq(&o.ys[0], &(ss_shape){{M, NB, 1, 1, 1}}));
    opc_randomize(&o, -1.f, 1.f, 71);
    TU_OK(opc_fwd(&o, 1));
    float ref[M * NB];
    naive_cossim(o.x[0], M, o.x[1], NB, K, ref);
    /* |s| <= 1, double arithmetic both ways: 1e-6 absolute */
    TU_ASSERT_CLOSE(o.y[0], ref, (size_t)(M * NB), 1e-6, 0);
    /* self-similarity: the diagonal of cossim(a, a) is 1 */
    ss_shape ss[2] = {xs[0], xs[0]};
    opc p;
    TU_OK(opc_init(&p, SS_OP_COSSIM, NULL, 0, NULL, 0, 2, ss));
    memcpy(p.x[0], o.x[0], M * K * sizeof(float));
    memcpy(p.x[1], o.x[0], M * K * sizeof(float));
    TU_OK(opc_fwd(&p, 1));
    for (int i = 0; i < M; i++)
        ck_assert_float_eq_tol(p.y[0][i * M + i], 1.f, 1e-6f);
    opc_free(&p);
    opc_free(&o);
}
END_TEST

START_TEST(test_cossim_hand)
{
    /* a = [(1,0), (1,1), (0,0), (1e-5,0)], b = [(0,2), (3,0)], eps 1e-8 default:
     * rows 0,1: [0 1; 1/sqrt2 1/sqrt2]; zero row: 0; tiny row: ||a||||b|| = 2e-5
     * and 3e-5 (>= eps) -> [0 1]; with eps 1e-3 the tiny row is clamped:
     * dot/eps = [0, 3e-5/1e-3] = [0, 0.03] */
    ss_shape xs[2] = {ss_shape5(4, 2, 1, 1, 1), ss_shape5(2, 2, 1, 1, 1)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_COSSIM, NULL, 0, NULL, 0, 2, xs));
    const float a[8] = {1, 0, 1, 1, 0, 0, 1e-5f, 0}, b[4] = {0, 2, 3, 0};
    memcpy(o.x[0], a, sizeof a);
    memcpy(o.x[1], b, sizeof b);
    TU_OK(opc_fwd(&o, 1));
    const float r2 = (float)(1 / sqrt(2.0));
    const float want[8] = {0, 1, r2, r2, 0, 0, 0, 1};
    TU_ASSERT_CLOSE(o.y[0], want, 8, 1e-7, 1e-6);
    o.fp[0] = 1e-3f;
    TU_OK(opc_fwd(&o, 1));
    const float want_c[8] = {0, 1, r2, r2, 0, 0, 0, 0.03f};
    TU_ASSERT_CLOSE(o.y[0], want_c, 8, 1e-7, 1e-5);
    opc_free(&o);
}
END_TEST

/* Scales row r of input i to norm nrm[r % nn]. */
static void set_row_norms(opc *o, int i, const double *nrm, int nn)
{
    int rows = o->xs[i].d[0], k = o->xs[i].d[1];
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int t = 0; t < k; t++)
            s += (double)o->x[i][r * k + t] * o->x[i][r * k + t];
        for (int t = 0; t < k; t++)
            o->x[i][r * k + t] = (float)(o->x[i][r * k + t] * nrm[r % nn] / sqrt(s));
    }
}

START_TEST(test_cossim_grad)
{
    /* Smooth away from zero rows; eps 1e-3, atol 1e-4, rtol 1e-3 (as l2norm). */
    ss_shape xs[2] = {ss_shape5(3, 5, 1, 1, 1), ss_shape5(4, 5, 1, 1, 1)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_COSSIM, NULL, 0, NULL, 0, 2, xs));
    opc_randomize(&o, -1.f, 1.f, 81);
    const double nrm[3] = {0.6, 1.0, 1.7};
    set_row_norms(&o, 0, nrm, 3);
    set_row_norms(&o, 1, nrm, 3);
    TU_GRADCHECK(&o, 3u, 1e-3, 1e-4, 1e-3);
    /* all clamped: eps 100 > every product (<= 2.9): s = a.b / 100 */
    o.fp[0] = 100.f;
    TU_GRADCHECK(&o, 3u, 1e-3, 1e-4, 1e-3);
    /* mixed: row norms 0.5 or 3 with eps 1: products 0.25 (clamped), 1.5 and 9;
     * every product is >= 0.5 away from the kink */
    o.fp[0] = 1.f;
    const double mix[2] = {0.5, 3.0};
    set_row_norms(&o, 0, mix, 2);
    set_row_norms(&o, 1, mix, 2);
    TU_GRADCHECK(&o, 3u, 1e-3, 1e-4, 1e-3);
    /* only one side requested */
    TU_GRADCHECK(&o, 1u, 1e-3, 1e-4, 1e-3);
    TU_GRADCHECK(&o, 2u, 1e-3, 1e-4, 1e-3);
    opc_free(&o);
}
END_TEST

START_TEST(test_cossim_bad)
{
    ss_shape kmis[2] = {ss_shape5(3, 5, 1, 1, 1), ss_shape5(4, 6, 1, 1, 1)};
    expect_infer_err(SS_OP_COSSIM, NULL, 2, kmis);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "feature sizes differ"));
    ss_shape notmat[2] = {ss_shape5(3, 5, 1, 2, 1), ss_shape5(4, 5, 1, 1, 1)};
    expect_infer_err(SS_OP_COSSIM, NULL, 2, notmat);
    ss_shape ok[2] = {ss_shape5(3, 5, 1, 1, 1), ss_shape5(4, 5, 1, 1, 1)};
    float neg[SS_MAX_FP] = {-1.f};
    expect_infer_err(SS_OP_COSSIM, neg, 2, ok);
    expect_infer_err(SS_OP_COSSIM, NULL, 1, ok);
}
END_TEST

START_TEST(test_cossim_flops)
{
    ss_op_args a = {.kind = SS_OP_COSSIM, .n_in = 2, .n_out = 1};
    a.xs[0] = ss_shape5(3, 7, 1, 1, 1);
    a.xs[1] = ss_shape5(5, 7, 1, 1, 1);
    const ss_op_desc *d = ss_op_get(SS_OP_COSSIM);
    /* dots 2*M*Nb*K, divides M*Nb, norms 2*(M+Nb)*K */
    ck_assert_double_eq(d->flops(&a), 2.0 * 3 * 5 * 7 + 15 + 2.0 * 8 * 7);
    ck_assert_uint_eq(d->diff_mask, 3u);
    ck_assert_uint_eq(d->ws(&a, 0), 8 * sizeof(double));
}
END_TEST

Suite *suite_similarity(void)
{
    Suite *s = suite_create("similarity");
    TCase *tl = tcase_create("l2norm");
    tcase_add_test(tl, test_l2norm_forward);
    tcase_add_test(tl, test_l2norm_hand);
    tcase_add_test(tl, test_l2norm_grad);
    tcase_add_test(tl, test_l2norm_bad);
    tcase_add_test(tl, test_l2norm_flops);
    suite_add_tcase(s, tl);
    TCase *tc = tcase_create("cossim");
    tcase_add_test(tc, test_cossim_forward);
    tcase_add_test(tc, test_cossim_hand);
    tcase_add_test(tc, test_cossim_grad);
    tcase_add_test(tc, test_cossim_bad);
    tcase_add_test(tc, test_cossim_flops);
    suite_add_tcase(s, tc);
    return s;
}
