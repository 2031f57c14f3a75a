/* MATMUL and LINEAR: forward against naive products written here (explicit
 * transposes / unflattened 5-D loops), finite-difference gradients, shape and
 * parameter errors, FLOP counts. */
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* infer must fail and the message must start with the op name */
static void expect_infer_err(int kind, const int *ip, const float *fp, int n_in,
                             const ss_shape *xs)
{
    opc o;
    ss_clearerr();
    int rc = opc_init(&o, kind, ip, ip ? SS_MAX_IP : 0, fp, fp ? SS_MAX_FP : 0, n_in, xs);
    ck_assert_int_eq(rc, SS_ERR);
    const char *name = ss_op_name(kind);
    ck_assert_msg(strncmp(semiseg_error(), name, strlen(name)) == 0, "message '%s' lacks '%s'",
                  semiseg_error(), name);
}

/* ---- MATMUL ---------------------------------------------------------------- */

/* Reference: materialise op(a) and op(b) as dense double matrices, then an i-p-j
 * loop (accumulating rows of b) rather than the kernel's dot-product order. */
static void naive_matmul(const float *a, int ra, int ca, int ta, const float *b, int rb, int cb,
                         int tb, double *y)
{
    int m = ta ? ca : ra, k = ta ? ra : ca, n = tb ? rb : cb;
    double *oa = calloc((size_t)m * k, sizeof(double)), *ob = calloc((size_t)k * n, sizeof(double));
    for (int r = 0; r < ra; r++)
        for (int c = 0; c < ca; c++)
            oa[ta ? c * k + r : r * k + c] = a[r * ca + c];
    for (int r = 0; r < rb; r++)
        for (int c = 0; c < cb; c++)
            ob[tb ? c * n + r : r * n + c] = b[r * cb + c];
    memset(y, 0, (size_t)m * n * sizeof(double));
    for (int i = 0; i < m; i++)
        for (int p = 0; p < k; p++)
            for (int j = 0; j < n; j++)
                y[i * n + j] += oa[i * k + p] * ob[p * n + j];
    free(oa);
    free(ob);
}

START_TEST(test_matmul_forward)
{
    /* op(a) is 3 x 5, op(b) is 5 x 7, every transpose combination.
     * Tolerance: kernel and reference both sum in double; only the final float
     * rounding differs, so 1e-6 relative (+1e-6 absolute) is ample. */
    enum { M = 3, K = 5, N = 7 };
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int ip[SS_MAX_IP] = {ta, tb};
            ss_shape xs[2] = {ta ? ss_shape5(K, M, 1, 1, 1) : ss_shape5(M, K, 1, 1, 1),
                              tb ? ss_shape5(N, K, 1, 1, 1) : ss_shape5(K, N, 1, 1, 1)};
            opc o;
            TU_OK(opc_init(&o, SS_OP_MATMUL, ip, 2, NULL, 0, 2, xs));
            ck_assert(ss_shape_eq(&o.ys[0], &(ss_shape){{M, N, 1, 1, 1}}));
            opc_randomize(&o, -1.f, 1.f, 11 + ta * 2 + tb);
            TU_OK(opc_fwd(&o, 1));
            double ref[M * N];
            float reff[M * N];
            naive_matmul(o.x[0], xs[0].d[0], xs[0].d[1], ta, o.x[1], xs[1].d[0], xs[1].d[1], tb,
                         ref);
            for (int i = 0; i < M * N; i++)
                reff[i] = (float)ref[i];
            TU_ASSERT_CLOSE(o.y[0], reff, (size_t)(M * N), 1e-6, 1e-6);
            TU_OK(opc_fwd(&o, 0)); /* dispatched path agrees */
            TU_ASSERT_CLOSE(o.y[0], reff, (size_t)(M * N), 1e-6, 1e-6);
            opc_free(&o);
        }
}
END_TEST

START_TEST(test_matmul_hand)
{
    /* [1 2; 3 4] @ [5 6; 7 8] = [19 22; 43 50]; a^T @ b = [26 30; 38 44] */
    ss_shape xs[2] = {ss_shape5(2, 2, 1, 1, 1), ss_shape5(2, 2, 1, 1, 1)};
    int ip[SS_MAX_IP] = {0, 0};
    opc o;
    TU_OK(opc_init(&o, SS_OP_MATMUL, ip, 2, NULL, 0, 2, xs));
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    memcpy(o.x[0], a, sizeof a);
    memcpy(o.x[1], b, sizeof b);
    TU_OK(opc_fwd(&o, 1));
    const float want[4] = {19, 22, 43, 50};
    TU_ASSERT_CLOSE(o.y[0], want, 4, 0, 0);
    o.ip[0] = 1;
    TU_OK(opc_fwd(&o, 1));
    const float want_t[4] = {26, 30, 38, 44};
    TU_ASSERT_CLOSE(o.y[0], want_t, 4, 0, 0);
    opc_free(&o);
}
END_TEST

START_TEST(test_matmul_grad)
{
    /* Bilinear op: central differences are exact up to FP32 rounding of the
     * forward (~1e-7 * |L| / 2eps ~ 1e-5). eps 1e-2, atol 1e-4, rtol 1e-3. */
    enum { M = 2, K = 3, N = 4 };
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int ip[SS_MAX_IP] = {ta, tb};
            ss_shape xs[2] = {ta ? ss_shape5(K, M, 1, 1, 1) : ss_shape5(M, K, 1, 1, 1),
                              tb ? ss_shape5(N, K, 1, 1, 1) : ss_shape5(K, N, 1, 1, 1)};
            opc o;
            TU_OK(opc_init(&o, SS_OP_MATMUL, ip, 2, NULL, 0, 2, xs));
            opc_randomize(&o, -1.f, 1.f, 21 + ta * 2 + tb);
            TU_GRADCHECK(&o, 3u, 1e-2, 1e-4, 1e-3);
            opc_free(&o);
        }
}
END_TEST

START_TEST(test_matmul_bad)
{
    int ip[SS_MAX_IP] = {0};
    ss_shape mism[2] = {ss_shape5(3, 4, 1, 1, 1), ss_shape5(5, 2, 1, 1, 1)};
    expect_infer_err(SS_OP_MATMUL, ip, NULL, 2, mism);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "inner dimensions"));
    ss_shape notmat[2] = {ss_shape5(3, 4, 2, 1, 1), ss_shape5(4, 2, 1, 1, 1)};
    expect_infer_err(SS_OP_MATMUL, ip, NULL, 2, notmat);
    ss_shape notmat_b[2] = {ss_shape5(3, 4, 1, 1, 1), ss_shape5(4, 2, 1, 1, 3)};
    expect_infer_err(SS_OP_MATMUL, ip, NULL, 2, notmat_b);
    ss_shape zero[2] = {ss_shape5(0, 4, 1, 1, 1), ss_shape5(4, 2, 1, 1, 1)};
    expect_infer_err(SS_OP_MATMUL, ip, NULL, 2, zero);
    ss_shape ok[2] = {ss_shape5(3, 4, 1, 1, 1), ss_shape5(4, 2, 1, 1, 1)};
    int bad_flag[SS_MAX_IP] = {2, 0};
    expect_infer_err(SS_OP_MATMUL, bad_flag, NULL, 2, ok);
    int bad_flag_b[SS_MAX_IP] = {0, -1};
    expect_infer_err(SS_OP_MATMUL, bad_flag_b, NULL, 2, ok);
    expect_infer_err(SS_OP_MATMUL, ip, NULL, 1, ok);
    /* transposing b makes the same shapes mismatch */
    int tb[SS_MAX_IP] = {0, 1};
    expect_infer_err(SS_OP_MATMUL, tb, NULL, 2, ok);
}
END_TEST

START_TEST(test_matmul_flops)
{
    int ip[SS_MAX_IP] = {1, 0};
    ss_shape xs[2] = {ss_shape5(5, 3, 1, 1, 1), ss_shape5(5, 7, 1, 1, 1)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_MATMUL, ip, 2, NULL, 0, 2, xs));
    ss_op_args a = {.kind = SS_OP_MATMUL, .ip = o.ip, .fp = o.fp, .n_in = 2, .n_out = 1};
    a.xs[0] = xs[0];
    a.xs[1] = xs[1];
    a.ys[0] = o.ys[0];
    ck_assert_double_eq(ss_op_get(SS_OP_MATMUL)->flops(&a), 2.0 * 3 * 7 * 5);
    ck_assert_uint_eq(ss_op_get(SS_OP_MATMUL)->diff_mask, 3u);
    opc_free(&o);
}
END_TEST

/* ---- LINEAR ---------------------------------------------------------------- */

/* Reference: loops over (c, d, h, w) of the 5-D input with explicit strides,
 * the weight column index built separately. */
static void naive_linear(const float *x, const ss_shape *xs, const float *w, int out,
                         const float *b, double *y)
{
    int N = xs->d[0], C = xs->d[1], D = xs->d[2], H = xs->d[3], W = xs->d[4];
    int F = C * D * H * W;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int c = 0; c < C; c++)
                for (int d = 0; d < D; d++)
                    for (int h = 0; h < H; h++)
                        for (int ww = 0; ww < W; ww++) {
                            size_t xi = ((((size_t)n * C + c) * D + d) * H + h) * W + ww;
                            size_t col = (((size_t)c * D + d) * H + h) * W + ww;
                            s += (double)x[xi] * w[(size_t)o * F + col];
                        }
            y[n * out + o] = s + (b ? b[o] : 0.0);
        }
}

static void check_linear(ss_shape xsh, int out, int bias, uint64_t seed)
{
    int F = xsh.d[1] * xsh.d[2] * xsh.d[3] * xsh.d[4];
    ss_shape xs[3] = {xsh, ss_shape5(out, F, 1, 1, 1), ss_shape5(out, 1, 1, 1, 1)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_LINEAR, NULL, 0, NULL, 0, bias ? 3 : 2, xs));
    ck_assert(ss_shape_eq(&o.ys[0], &(ss_shape){{xsh.d[0], out, 1, 1, 1}}));
    opc_randomize(&o, -1.f, 1.f, seed);
    TU_OK(opc_fwd(&o, 1));
    size_t ny = (size_t)xsh.d[0] * out;
    double *ref = calloc(ny, sizeof(double));
    float *reff = tu_alloc(ny);
    naive_linear(o.x[0], &xsh, o.x[1], out, bias ? o.x[2] : NULL, ref);
    for (size_t i = 0; i < ny; i++)
        reff[i] = (float)ref[i];
    /* both sum in double; only final rounding differs */
    TU_ASSERT_CLOSE(o.y[0], reff, ny, 1e-6, 1e-6);
    free(ref);
    free(reff);
    opc_free(&o);
}

START_TEST(test_linear_forward)
{
    check_linear(ss_shape5(3, 5, 3, 5, 7), 4, 1, 31); /* 3-D, F = 525 */
    check_linear(ss_shape5(3, 5, 1, 5, 7), 6, 1, 32); /* 2-D */
    check_linear(ss_shape5(3, 5, 1, 1, 1), 2, 0, 33); /* plain vectors, no bias */
}
END_TEST

START_TEST(test_linear_matches_matmul)
{
    /* y = x w^T + b equals MATMUL(x_flat, w, trans_b) plus the bias row */
    ss_shape xs[3] = {ss_shape5(3, 2, 1, 2, 3), ss_shape5(4, 12, 1, 1, 1),
                      ss_shape5(4, 1, 1, 1, 1)};
    opc l, m;
    TU_OK(opc_init(&l, SS_OP_LINEAR, NULL, 0, NULL, 0, 3, xs));
    opc_randomize(&l, -1.f, 1.f, 34);
    int ip[SS_MAX_IP] = {0, 1};
    ss_shape ms[2] = {ss_shape5(3, 12, 1, 1, 1), xs[1]};
    TU_OK(opc_init(&m, SS_OP_MATMUL, ip, 2, NULL, 0, 2, ms));
    memcpy(m.x[0], l.x[0], 36 * sizeof(float));
    memcpy(m.x[1], l.x[1], 48 * sizeof(float));
    memset(l.x[2], 0, 4 * sizeof(float));
    TU_OK(opc_fwd(&l, 1));
    TU_OK(opc_fwd(&m, 1));
    TU_ASSERT_CLOSE(l.y[0], m.y[0], 12, 0, 0); /* same double sums, bit-identical */
    opc_free(&l);
    opc_free(&m);
}
END_TEST

START_TEST(test_linear_grad)
{
    /* affine in each input: eps 1e-2, atol 1e-4, rtol 1e-3 (see matmul) */
    ss_shape xs[3] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(4, 12, 1, 1, 1),
                      ss_shape5(4, 1, 1, 1, 1)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_LINEAR, NULL, 0, NULL, 0, 3, xs));
    opc_randomize(&o, -1.f, 1.f, 41);
    TU_GRADCHECK(&o, 7u, 1e-2, 1e-4, 1e-3);
    opc_free(&o);
    ss_shape xs3[2] = {ss_shape5(3, 2, 2, 1, 2), ss_shape5(3, 8, 1, 1, 1)};
    TU_OK(opc_init(&o, SS_OP_LINEAR, NULL, 0, NULL, 0, 2, xs3));
    opc_randomize(&o, -1.f, 1.f, 42);
    TU_GRADCHECK(&o, 3u, 1e-2, 1e-4, 1e-3);
    opc_free(&o);
}
END_TEST

START_TEST(test_linear_bad)
{
    ss_shape wrong_f[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(4, 11, 1, 1, 1)};
    expect_infer_err(SS_OP_LINEAR, NULL, NULL, 2, wrong_f);
    ss_shape w_not_mat[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(4, 3, 1, 2, 2)};
    expect_infer_err(SS_OP_LINEAR, NULL, NULL, 2, w_not_mat);
    ss_shape bad_bias[3] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(4, 12, 1, 1, 1),
                            ss_shape5(3, 1, 1, 1, 1)};
    expect_infer_err(SS_OP_LINEAR, NULL, NULL, 3, bad_bias);
    ss_shape bad_bias2[3] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(4, 12, 1, 1, 1),
                             ss_shape5(1, 4, 1, 1, 1)};
    expect_infer_err(SS_OP_LINEAR, NULL, NULL, 3, bad_bias2);
    expect_infer_err(SS_OP_LINEAR, NULL, NULL, 1, wrong_f);
    ss_shape zero[2] = {ss_shape5(2, 0, 1, 2, 2), ss_shape5(4, 0, 1, 1, 1)};
    expect_infer_err(SS_OP_LINEAR, NULL, NULL, 2, zero);
}
END_TEST

START_TEST(test_linear_flops)
{
    ss_shape xs[3] = {ss_shape5(3, 5, 1, 5, 7), ss_shape5(6, 175, 1, 1, 1),
                      ss_shape5(6, 1, 1, 1, 1)};
    ss_op_args a = {.kind = SS_OP_LINEAR, .n_in = 3, .n_out = 1};
    for (int i = 0; i < 3; i++)
        a.xs[i] = xs[i];
    const ss_op_desc *d = ss_op_get(SS_OP_LINEAR);
    ck_assert_double_eq(d->flops(&a), 2.0 * 3 * 6 * 175 + 3 * 6);
    a.n_in = 2;
    ck_assert_double_eq(d->flops(&a), 2.0 * 3 * 6 * 175);
    ck_assert_uint_eq(d->diff_mask, 7u);
}
END_TEST

Suite *suite_matmul(void)
{
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("matmul");
    tcase_add_test(tc, test_matmul_forward);
    tcase_add_test(tc, test_matmul_hand);
    tcase_add_test(tc, test_matmul_grad);
    tcase_add_test(tc, test_matmul_bad);
    tcase_add_test(tc, test_matmul_flops);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("linear");
    tcase_add_test(tl, test_linear_forward);
    tcase_add_test(tl, test_linear_matches_matmul);
    tcase_add_test(tl, test_linear_grad);
    tcase_add_test(tl, test_linear_bad);
    tcase_add_test(tl, test_linear_flops);
    suite_add_tcase(s, tl);
    return s;
}
