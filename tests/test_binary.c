/* ADD, SUB, MUL, DIV with broadcasting: forward against a coordinate-modulo
 * formulation written here, backward against finite differences, the
 * reduction over broadcast dims by hand, IEEE division by zero, bad shapes and
 * FLOP counts. */
#include "kernels/error.h"
#include "kernels/op.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int k_kinds[4] = {SS_OP_ADD, SS_OP_SUB, SS_OP_MUL, SS_OP_DIV};


/* Moves values of x away from zero: |x| in [0.5, 1.5), sign kept. */
static void away_from_zero(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] < 0 ? x[i] - 0.5f : x[i] + 0.5f;
}

/* Independent forward: loop over output coordinates, read each input at
 * (coordinate mod its size), which is 0 in a broadcast dim. */
static void naive_binary(int kind, const ss_shape *sa, const float *A, const ss_shape *sb,
                         const float *B, float *Y)
{
    int o[5];
    for (int i = 0; i < 5; i++)
        o[i] = sa->d[i] > sb->d[i] ? sa->d[i] : sb->d[i];
    size_t k = 0;
    for (int n = 0; n < o[0]; n++)
        for (int c = 0; c < o[1]; c++)
            for (int d = 0; d < o[2]; d++)
                for (int h = 0; h < o[3]; h++)
                    for (int w = 0; w < o[4]; w++, k++) {
                        int q[5] = {n, c, d, h, w};
                        size_t ia = 0, ib = 0;
                        for (int i = 0; i < 5; i++) {
                            ia = ia * (size_t)sa->d[i] + (size_t)(q[i] % sa->d[i]);
                            ib = ib * (size_t)sb->d[i] + (size_t)(q[i] % sb->d[i]);
                        }
                        float p = A[ia], r = B[ib];
                        Y[k] = kind == SS_OP_ADD   ? p + r
                               : kind == SS_OP_SUB ? p - r
                               : kind == SS_OP_MUL ? p * r
                                                   : p / r;
                    }
}

/* Pairs of shapes: same (3-D and 2-D), per-channel both ways, scalar both
 * ways, both sides broadcasting. */
static const ss_shape k_fwd_pairs[][2] = {
    {{{3, 5, 3, 5, 7}}, {{3, 5, 3, 5, 7}}},
    {{{3, 5, 1, 5, 7}}, {{3, 5, 1, 5, 7}}},
    {{{3, 5, 3, 5, 7}}, {{1, 5, 1, 1, 1}}},
    {{{1, 5, 1, 1, 1}}, {{3, 5, 1, 5, 7}}},
    {{{3, 5, 3, 5, 7}}, {{1, 1, 1, 1, 1}}},
    {{{1, 1, 1, 1, 1}}, {{3, 5, 1, 5, 7}}},
    {{{3, 1, 5, 1, 1}}, {{1, 4, 1, 2, 1}}},
    {{{3, 5, 1, 1, 7}}, {{1, 1, 3, 5, 1}}},
};

START_TEST(test_forward_broadcast)
{
    /* Tolerance: exact (atol 0, rtol 0): one IEEE float operation per element
     * on both sides. */
    for (int kk = 0; kk < 4; kk++)
        for (size_t p = 0; p < sizeof k_fwd_pairs / sizeof k_fwd_pairs[0]; p++) {
            opc o;
            TU_OK(opc_init(&o, k_kinds[kk], NULL, 0, NULL, 0, 2, k_fwd_pairs[p]));
            opc_randomize(&o, -1.f, 1.f, 10 + p);
            if (k_kinds[kk] == SS_OP_DIV)
                away_from_zero(o.x[1], (size_t)ss_numel(&o.xs[1]));
            for (int i = 0; i < 5; i++)
                ck_assert_int_eq(o.ys[0].d[i], k_fwd_pairs[p][0].d[i] > k_fwd_pairs[p][1].d[i]
                                                   ? k_fwd_pairs[p][0].d[i]
                                                   : k_fwd_pairs[p][1].d[i]);
            TU_OK(opc_fwd(&o, 1));
            size_t n = (size_t)ss_numel(&o.ys[0]);
            float *want = tu_alloc(n);
            naive_binary(o.kind, &o.xs[0], o.x[0], &o.xs[1], o.x[1], want);
            TU_ASSERT_CLOSE(o.y[0], want, n, 0.0, 0.0);
            free(want);
            opc_free(&o);
        }
}
END_TEST

START_TEST(test_forward_hand_values)
{
    /* (1,2,1,1,1) op (2,1,1,1,1) -> (2,2,1,1,1), by hand; exact. */
    ss_shape xs[2] = {ss_shape5(1, 2, 1, 1, 1), ss_shape5(2, 1, 1, 1, 1)};
    const float a[2] = {3.f, -6.f}, b[2] = {2.f, 4.f};
    const float want[4][4] = {{5, -4, 7, -2}, {1, -8, -1, -10}, {6, -12, 12, -24},
                              {1.5f, -3, 0.75f, -1.5f}};
    for (int kk = 0; kk < 4; kk++) {
        opc o;
        TU_OK(opc_init(&o, k_kinds[kk], NULL, 0, NULL, 0, 2, xs));
        memcpy(o.x[0], a, sizeof a);
        memcpy(o.x[1], b, sizeof b);
        TU_OK(opc_fwd(&o, 1));
        TU_ASSERT_CLOSE(o.y[0], want[kk], 4, 0.0, 0.0);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_div_by_zero_is_ieee)
{
    /* Not an error: x/0 = +-inf, 0/0 = NaN; the gradient of a is g/0 = inf. */
    ss_shape xs[2] = {ss_shape5(4, 1, 1, 1, 1), ss_shape5(4, 1, 1, 1, 1)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_DIV, NULL, 0, NULL, 0, 2, xs));
    const float a[4] = {1.f, -1.f, 0.f, 2.f}, b[4] = {0.f, 0.f, 0.f, -0.f};
    memcpy(o.x[0], a, sizeof a);
    memcpy(o.x[1], b, sizeof b);
    TU_OK(opc_fwd(&o, 1));
    ck_assert(isinf(o.y[0][0]) && o.y[0][0] > 0);
    ck_assert(isinf(o.y[0][1]) && o.y[0][1] < 0);
    ck_assert(isnan(o.y[0][2]));
    ck_assert(isinf(o.y[0][3]) && o.y[0][3] < 0);
    float g[4] = {1, 1, 1, 1}, *gx[SS_MAX_IN] = {tu_alloc(4), NULL};
    TU_OK(opc_bwd(&o, g, gx, 1u));
    ck_assert(isinf(gx[0][0]));
    free(gx[0]);
    opc_free(&o);
}
END_TEST

/* Tiny pairs for finite differences. */
static const ss_shape k_grad_pairs[][2] = {
    {{{2, 3, 1, 2, 3}}, {{2, 3, 1, 2, 3}}},
    {{{2, 3, 2, 1, 2}}, {{2, 3, 2, 1, 2}}},
    {{{2, 3, 1, 2, 3}}, {{1, 3, 1, 1, 1}}},
    {{{1, 3, 1, 1, 1}}, {{2, 3, 1, 2, 3}}},
    {{{2, 3, 1, 2, 1}}, {{1, 1, 1, 1, 1}}},
    {{{1, 1, 1, 1, 1}}, {{2, 3, 1, 2, 1}}},
    {{{3, 1, 2, 1, 1}}, {{1, 2, 1, 2, 1}}},
};

START_TEST(test_gradcheck)
{
    /* eps 1e-2 for ADD/SUB/MUL (linear in each input: no truncation error),
     * 1e-3 for DIV (|b| >= 0.5 keeps the third derivative small);
     * atol 1e-3, rtol 1e-2. */
    for (int kk = 0; kk < 4; kk++)
        for (size_t p = 0; p < sizeof k_grad_pairs / sizeof k_grad_pairs[0]; p++) {
            opc o;
            TU_OK(opc_init(&o, k_kinds[kk], NULL, 0, NULL, 0, 2, k_grad_pairs[p]));
            opc_randomize(&o, -1.f, 1.f, 100 + p);
            double eps = 1e-2;
            if (k_kinds[kk] == SS_OP_DIV) {
                away_from_zero(o.x[1], (size_t)ss_numel(&o.xs[1]));
                eps = 1e-3;
            }
            TU_GRADCHECK(&o, 3u, eps, 1e-3, 1e-2);
            opc_free(&o);
        }
}
END_TEST

START_TEST(test_backward_reduces_broadcast_dims)
{
    /* a (1,C,1,1,1) against b (N,C,D,H,W) with gy = 1: for ADD every ga[c] is
     * N*D*H*W = 2*3*2*2 = 24 and gb = 1; for SUB gb = -1; for MUL ga[c] is the
     * sum of b over its channel. Exact up to float rounding (atol 1e-5). */
    ss_shape xs[2] = {ss_shape5(1, 3, 1, 1, 1), ss_shape5(2, 3, 3, 2, 2)};
    for (int kk = 0; kk < 3; kk++) {
        opc o;
        TU_OK(opc_init(&o, k_kinds[kk], NULL, 0, NULL, 0, 2, xs));
        opc_randomize(&o, -1.f, 1.f, 7);
        size_t ny = (size_t)ss_numel(&o.ys[0]), nb = ny;
        float *g = tu_alloc(ny);
        for (size_t i = 0; i < ny; i++)
            g[i] = 1.f;
        float *gx[SS_MAX_IN] = {tu_alloc(3), tu_alloc(nb)};
        TU_OK(opc_fwd(&o, 1));
        TU_OK(opc_bwd(&o, g, gx, 3u));
        float wa[3], *wb = tu_alloc(nb);
        for (int c = 0; c < 3; c++) {
            double s = 0;
            for (int n = 0; n < 2; n++)
                for (int v = 0; v < 12; v++)
                    s += k_kinds[kk] == SS_OP_MUL ? o.x[1][(n * 3 + c) * 12 + v] : 1.0;
            wa[c] = (float)s;
        }
        for (size_t i = 0; i < nb; i++) {
            int c = (int)(i / 12) % 3;
            wb[i] = k_kinds[kk] == SS_OP_ADD ? 1.f : k_kinds[kk] == SS_OP_SUB ? -1.f : o.x[0][c];
        }
        TU_ASSERT_CLOSE(gx[0], wa, 3, 1e-5, 0.0);
        TU_ASSERT_CLOSE(gx[1], wb, nb, 0.0, 0.0);
        /* only one gradient requested: the other pointer is NULL */
        float *only_b[SS_MAX_IN] = {NULL, gx[1]};
        TU_OK(opc_bwd(&o, g, only_b, 2u));
        TU_ASSERT_CLOSE(gx[1], wb, nb, 0.0, 0.0);
        free(wb);
        free(gx[0]);
        free(gx[1]);
        free(g);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_large_parallel_path)
{
    /* above the kernels' parallel threshold (32768 elements): MUL of
     * (2,4,8,32,33) by a per-channel (1,4,1,1,1); forward against the naive
     * loop, ga = gy*b and gb[c] = sum gy*a; exact except gb (double sums
     * rounded once vs here: atol 1e-4, rtol 1e-6) */
    ss_shape xs[2] = {ss_shape5(2, 4, 8, 32, 33), ss_shape5(1, 4, 1, 1, 1)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_MUL, NULL, 0, NULL, 0, 2, xs));
    opc_randomize(&o, -1.f, 1.f, 77);
    TU_OK(opc_fwd(&o, 1));
    size_t n = (size_t)ss_numel(&o.ys[0]), v = n / 8;
    float *want = tu_alloc(n), *g = tu_alloc(n);
    naive_binary(SS_OP_MUL, &o.xs[0], o.x[0], &o.xs[1], o.x[1], want);
    TU_ASSERT_CLOSE(o.y[0], want, n, 0.0, 0.0);
    tu_fill_uniform(g, n, -1.f, 1.f, 78);
    float *gx[SS_MAX_IN] = {tu_alloc(n), tu_alloc(4)}, wb[4];
    TU_OK(opc_bwd(&o, g, gx, 3u));
    for (int c = 0; c < 4; c++) {
        double s = 0;
        for (int nn = 0; nn < 2; nn++)
            for (size_t i = 0; i < v; i++) {
                size_t k = (size_t)(nn * 4 + c) * v + i;
                want[k] = g[k] * o.x[1][c];
                s += (double)g[k] * o.x[0][k];
            }
        wb[c] = (float)s;
    }
    TU_ASSERT_CLOSE(gx[0], want, n, 0.0, 0.0);
    TU_ASSERT_CLOSE(gx[1], wb, 4, 1e-4, 1e-6);
    free(gx[0]);
    free(gx[1]);
    free(g);
    free(want);
    opc_free(&o);
}
END_TEST

START_TEST(test_bad_inputs)
{
    static const char *names[4] = {"add", "sub", "mul", "div"};
    for (int kk = 0; kk < 4; kk++) {
        opc o;
        /* 3 vs 2 in dim 0: neither is 1 */
        ss_shape bad1[2] = {ss_shape5(3, 5, 1, 4, 4), ss_shape5(2, 5, 1, 4, 4)};
        ck_assert_int_eq(opc_init(&o, k_kinds[kk], NULL, 0, NULL, 0, 2, bad1), SS_ERR);
        ck_assert_ptr_nonnull(strstr(semiseg_error(), names[kk]));
        ck_assert_ptr_nonnull(strstr(semiseg_error(), "(3,5,1,4,4)"));
        opc_free(&o);
        /* channel mismatch 4 vs 3 */
        ss_shape bad2[2] = {ss_shape5(1, 4, 1, 1, 1), ss_shape5(2, 3, 1, 4, 4)};
        ck_assert_int_eq(opc_init(&o, k_kinds[kk], NULL, 0, NULL, 0, 2, bad2), SS_ERR);
        ck_assert_ptr_nonnull(strstr(semiseg_error(), names[kk]));
        opc_free(&o);
        /* a zero dim */
        ss_shape bad3[2] = {ss_shape5(2, 0, 1, 4, 4), ss_shape5(2, 1, 1, 4, 4)};
        ck_assert_int_eq(opc_init(&o, k_kinds[kk], NULL, 0, NULL, 0, 2, bad3), SS_ERR);
        ck_assert_ptr_nonnull(strstr(semiseg_error(), names[kk]));
        opc_free(&o);
        /* one input only */
        ck_assert_int_eq(opc_init(&o, k_kinds[kk], NULL, 0, NULL, 0, 1, bad3 + 1), SS_ERR);
        ck_assert_ptr_nonnull(strstr(semiseg_error(), names[kk]));
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_flops)
{
    /* one FLOP per output element: (3,1,5,1,1) with (1,4,1,2,1) -> 3*4*5*2 = 120 */
    ss_shape xs[2] = {ss_shape5(3, 1, 5, 1, 1), ss_shape5(1, 4, 1, 2, 1)};
    for (int kk = 0; kk < 4; kk++) {
        opc o;
        TU_OK(opc_init(&o, k_kinds[kk], NULL, 0, NULL, 0, 2, xs));
        ck_assert_double_eq(opc_flops(&o), 120.0);
        ck_assert_uint_eq(ss_op_get(k_kinds[kk])->diff_mask, 3u);
        opc_free(&o);
    }
}
END_TEST

Suite *suite_binary(void)
{
    Suite *s = suite_create("binary");
    TCase *tc = tcase_create("binary");
    tcase_add_test(tc, test_forward_broadcast);
    tcase_add_test(tc, test_forward_hand_values);
    tcase_add_test(tc, test_div_by_zero_is_ieee);
    tcase_add_test(tc, test_gradcheck);
    tcase_add_test(tc, test_backward_reduces_broadcast_dims);
    tcase_add_test(tc, test_large_parallel_path);
    tcase_add_test(tc, test_bad_inputs);
    tcase_add_test(tc, test_flops);
    suite_add_tcase(s, tc);
    return s;
}
