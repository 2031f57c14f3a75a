/* SCALE, POW, EXP, LOG, CLAMP: forward against formulations written here
 * (series for exp/log, products and square roots for pow, fmin/fmax for
 * clamp), backward against finite differences, IEEE edge values, bad inputs
 * and FLOP counts. */
#include "kernels/error.h"
#include "kernels/op.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 3-D and 2-D (D = 1) odd shapes. */
static const ss_shape k_shapes[2] = {{{3, 5, 3, 5, 7}}, {{3, 5, 1, 5, 7}}};
static const ss_shape k_tiny = {{2, 3, 1, 2, 3}};
static const ss_shape k_tiny3d = {{1, 2, 2, 2, 3}};


/* Runs the reference forward on o and compares with want(x) element-wise. */
static void check_fwd(opc *o, double (*want)(double, const float *), double atol, double rtol)
{
    TU_OK(opc_fwd(o, 1));
    size_t n = (size_t)ss_numel(&o->xs[0]);
    float *w = tu_alloc(n);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)want(o->x[0][i], o->fp);
    TU_ASSERT_CLOSE(o->y[0], w, n, atol, rtol);
    free(w);
}

/* ---- SCALE -------------------------------------------------------------- */

START_TEST(test_scale_forward)
{
    /* Hand values: fp = {2.5, -0.75}: x = 2 -> 4.25; with dyn = -3 -> -6.75.
     * Random: against float s*x+b computed here, atol 1e-6 rtol 1e-6 (the
     * kernel rounds once from double, the test twice in float). */
    for (int si = 0; si < 2; si++) {
        const float fp[2] = {2.5f, -0.75f};
        opc o;
        TU_OK(opc_init(&o, SS_OP_SCALE, NULL, 0, fp, 2, 1, &k_shapes[si]));
        opc_randomize(&o, -3.f, 3.f, 1 + si);
        o.x[0][0] = 2.f;
        for (int dyn = 0; dyn < 3; dyn++) {
            /* dyn 0: fp[0]; dyn 1: dyn_used with dyn = -3; dyn 2: dyn set but unused */
            o.dyn_used = dyn == 1;
            o.dyn = -3.f;
            const float s = dyn == 1 ? -3.f : 2.5f;
            TU_OK(opc_fwd(&o, 1));
            ck_assert_float_eq(o.y[0][0], dyn == 1 ? -6.75f : 4.25f);
            size_t n = (size_t)ss_numel(&o.xs[0]);
            float *w = tu_alloc(n);
            for (size_t i = 0; i < n; i++)
                w[i] = s * o.x[0][i] + fp[1];
            TU_ASSERT_CLOSE(o.y[0], w, n, 1e-6, 1e-6);
            free(w);
        }
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_scale_gradcheck)
{
    /* linear: eps 1e-2, atol 1e-3, rtol 1e-2; both fp[0] and dyn */
    const float fp[2] = {1.75f, 0.5f};
    opc o;
    TU_OK(opc_init(&o, SS_OP_SCALE, NULL, 0, fp, 2, 1, &k_tiny));
    opc_randomize(&o, -1.f, 1.f, 3);
    TU_GRADCHECK(&o, 1u, 1e-2, 1e-3, 1e-2);
    o.dyn_used = 1;
    o.dyn = -0.6f;
    TU_GRADCHECK(&o, 1u, 1e-2, 1e-3, 1e-2);
    /* the gradient is dyn * gy exactly */
    size_t n = (size_t)ss_numel(&o.xs[0]);
    float *g = tu_alloc(n), *gx[SS_MAX_IN] = {tu_alloc(n)}, *w = tu_alloc(n);
    tu_fill_uniform(g, n, -1.f, 1.f, 4);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(-0.6f * (double)g[i]);
    TU_OK(opc_bwd(&o, g, gx, 1u));
    TU_ASSERT_CLOSE(gx[0], w, n, 0.0, 0.0);
    free(g);
    free(gx[0]);
    free(w);
    opc_free(&o);
}
END_TEST

/* ---- POW ---------------------------------------------------------------- */

static double pow_by_hand(double x, const float *fp)
{
    double e = fp[0];
    if (e == 0)
        return 1;
    if (e == 1)
        return x;
    if (e == 2)
        return x * x;
    if (e == 3)
        return x * x * x;
    if (e == 0.5)
        return sqrt(x);
    if (e == -1.5)
        return 1.0 / (x * sqrt(x));
    return NAN;
}

START_TEST(test_pow_forward)
{
    /* against products / square roots in double, rounded once:
     * atol 0, rtol 1e-6 (a few float ulps). Integer exponents also on
     * negative bases. */
    const float es[6] = {2.f, 3.f, 0.5f, -1.5f, 1.f, 0.f};
    for (int si = 0; si < 2; si++)
        for (int ei = 0; ei < 6; ei++) {
            const float fp[1] = {es[ei]};
            opc o;
            TU_OK(opc_init(&o, SS_OP_POW, NULL, 0, fp, 1, 1, &k_shapes[si]));
            int integer = es[ei] == floorf(es[ei]);
            opc_randomize(&o, integer ? -2.f : 0.1f, 2.f, 20 + ei);
            check_fwd(&o, pow_by_hand, 0.0, 1e-6);
            opc_free(&o);
        }
    /* negative base with a non-integer exponent is NaN, not an error */
    const float fp[1] = {0.5f};
    ss_shape s1 = ss_shape5(1, 1, 1, 1, 2);
    opc o;
    TU_OK(opc_init(&o, SS_OP_POW, NULL, 0, fp, 1, 1, &s1));
    o.x[0][0] = -4.f;
    o.x[0][1] = 4.f;
    TU_OK(opc_fwd(&o, 1));
    ck_assert(isnan(o.y[0][0]));
    ck_assert_float_eq(o.y[0][1], 2.f);
    opc_free(&o);
}
END_TEST

START_TEST(test_pow_gradcheck)
{
    /* positive inputs in [0.5, 2] (negative ones for integer exponents);
     * eps 1e-3, atol 1e-3, rtol 1e-2 */
    const float es[6] = {2.f, 3.f, 0.5f, -1.5f, 2.7f, 1.f};
    for (int ei = 0; ei < 6; ei++) {
        const float fp[1] = {es[ei]};
        opc o;
        TU_OK(opc_init(&o, SS_OP_POW, NULL, 0, fp, 1, 1, ei & 1 ? &k_tiny3d : &k_tiny));
        opc_randomize(&o, 0.5f, 2.f, 30 + ei);
        TU_GRADCHECK(&o, 1u, 1e-3, 1e-3, 1e-2);
        if (es[ei] == 3.f) {
            opc_randomize(&o, -2.f, -0.5f, 40);
            TU_GRADCHECK(&o, 1u, 1e-3, 1e-3, 1e-2);
        }
        opc_free(&o);
    }
    /* exponent 0: the gradient is 0 everywhere, x = 0 included */
    const float fp0[1] = {0.f};
    ss_shape s1 = ss_shape5(1, 1, 1, 1, 3);
    opc o;
    TU_OK(opc_init(&o, SS_OP_POW, NULL, 0, fp0, 1, 1, &s1));
    o.x[0][1] = 1.5f;
    o.x[0][2] = -2.f;
    float g[3] = {1, 1, 1}, *gx[SS_MAX_IN] = {tu_alloc(3)};
    gx[0][0] = gx[0][1] = gx[0][2] = 9.f;
    TU_OK(opc_bwd(&o, g, gx, 1u));
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(gx[0][i], 0.f);
    free(gx[0]);
    opc_free(&o);
}
END_TEST

/* ---- EXP / LOG ---------------------------------------------------------- */

/* exp by its Taylor series (|x| <= 4: 60 terms are past double precision). */
static double exp_series(double x, const float *fp)
{
    (void)fp;
    double term = 1, s = 1;
    for (int k = 1; k < 60; k++) {
        term *= x / k;
        s += term;
    }
    return s;
}

/* log x = 2 atanh(z), z = (x-1)/(x+1), by its series (|z| < 0.82 for x in
 * [0.1, 10]: 400 terms are past double precision). */
static double log_series(double x, const float *fp)
{
    (void)fp;
    double z = (x - 1) / (x + 1), z2 = z * z, p = z, s = 0;
    for (int k = 0; k < 400; k++) {
        s += p / (2 * k + 1);
        p *= z2;
    }
    return 2 * s;
}

START_TEST(test_exp_forward)
{
    /* series in double vs the kernel: atol 1e-30, rtol 1e-6; hand values */
    for (int si = 0; si < 2; si++) {
        opc o;
        TU_OK(opc_init(&o, SS_OP_EXP, NULL, 0, NULL, 0, 1, &k_shapes[si]));
        opc_randomize(&o, -4.f, 4.f, 50 + si);
        o.x[0][0] = 0.f;
        o.x[0][1] = 1.f;
        check_fwd(&o, exp_series, 1e-30, 1e-6);
        ck_assert_float_eq(o.y[0][0], 1.f);
        ck_assert_float_eq_tol(o.y[0][1], 2.7182818f, 3e-7f);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_log_forward)
{
    /* atanh series in double vs the kernel: atol 1e-7, rtol 1e-6; hand values;
     * IEEE edges: log 0 = -inf, log of a negative = NaN (not errors) */
    for (int si = 0; si < 2; si++) {
        opc o;
        TU_OK(opc_init(&o, SS_OP_LOG, NULL, 0, NULL, 0, 1, &k_shapes[si]));
        opc_randomize(&o, 0.1f, 10.f, 60 + si);
        o.x[0][0] = 1.f;
        o.x[0][1] = 2.7182818f;
        check_fwd(&o, log_series, 1e-7, 1e-6);
        ck_assert_float_eq(o.y[0][0], 0.f);
        ck_assert_float_eq_tol(o.y[0][1], 1.f, 1e-7f);
        o.x[0][0] = 0.f;
        o.x[0][1] = -1.f;
        TU_OK(opc_fwd(&o, 1));
        ck_assert(isinf(o.y[0][0]) && o.y[0][0] < 0);
        ck_assert(isnan(o.y[0][1]));
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_exp_log_gradcheck)
{
    /* eps 1e-3, atol 1e-3, rtol 1e-2; exp on [-2, 2], log on positive [0.5, 3] */
    for (int t = 0; t < 2; t++) {
        opc o;
        TU_OK(opc_init(&o, SS_OP_EXP, NULL, 0, NULL, 0, 1, t ? &k_tiny3d : &k_tiny));
        opc_randomize(&o, -2.f, 2.f, 70 + t);
        TU_GRADCHECK(&o, 1u, 1e-3, 1e-3, 1e-2);
        opc_free(&o);
        TU_OK(opc_init(&o, SS_OP_LOG, NULL, 0, NULL, 0, 1, t ? &k_tiny3d : &k_tiny));
        opc_randomize(&o, 0.5f, 3.f, 80 + t);
        TU_GRADCHECK(&o, 1u, 1e-3, 1e-3, 1e-2);
        opc_free(&o);
    }
}
END_TEST

/* ---- CLAMP -------------------------------------------------------------- */

static double clamp_minmax(double x, const float *fp) { return fmin(fmax(x, fp[0]), fp[1]); }

START_TEST(test_clamp_forward)
{
    /* against fmin(fmax()), exact; one-sided with an infinite bound; NaN
     * propagates */
    const float bounds[2][2] = {{-0.5f, 0.75f}, {-INFINITY, 0.25f}};
    for (int si = 0; si < 2; si++)
        for (int bi = 0; bi < 2; bi++) {
            opc o;
            TU_OK(opc_init(&o, SS_OP_CLAMP, NULL, 0, bounds[bi], 2, 1, &k_shapes[si]));
            opc_randomize(&o, -2.f, 2.f, 90 + si);
            check_fwd(&o, clamp_minmax, 0.0, 0.0);
            o.x[0][0] = NAN;
            TU_OK(opc_fwd(&o, 1));
            ck_assert(isnan(o.y[0][0]));
            opc_free(&o);
        }
}
END_TEST

START_TEST(test_clamp_backward)
{
    /* by hand: the gradient passes where lo <= x <= hi, bounds included */
    const float fp[2] = {-0.5f, 0.75f};
    ss_shape s = ss_shape5(1, 1, 1, 1, 6);
    opc o;
    TU_OK(opc_init(&o, SS_OP_CLAMP, NULL, 0, fp, 2, 1, &s));
    const float x[6] = {-0.6f, -0.5f, 0.f, 0.75f, 0.8f, NAN};
    const float g[6] = {1, 2, 3, 4, 5, 6}, want[6] = {0, 2, 3, 4, 0, 0};
    memcpy(o.x[0], x, sizeof x);
    float *gx[SS_MAX_IN] = {tu_alloc(6)};
    TU_OK(opc_bwd(&o, g, gx, 1u));
    TU_ASSERT_CLOSE(gx[0], want, 6, 0.0, 0.0);
    free(gx[0]);
    opc_free(&o);

    /* finite differences with inputs kept >= 0.05 from the bounds:
     * eps 1e-2, atol 1e-3, rtol 1e-2 */
    TU_OK(opc_init(&o, SS_OP_CLAMP, NULL, 0, fp, 2, 1, &k_tiny3d));
    opc_randomize(&o, -1.5f, 1.5f, 95);
    size_t n = (size_t)ss_numel(&o.xs[0]);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 2; b++)
            if (fabsf(o.x[0][i] - fp[b]) < 0.05f)
                o.x[0][i] = fp[b] + (o.x[0][i] < fp[b] ? -0.05f : 0.05f);
    TU_GRADCHECK(&o, 1u, 1e-2, 1e-3, 1e-2);
    opc_free(&o);
}
END_TEST

/* ---- shared: bad inputs, FLOPs ------------------------------------------ */

START_TEST(test_bad_inputs)
{
    static const int kinds[5] = {SS_OP_SCALE, SS_OP_POW, SS_OP_EXP, SS_OP_LOG, SS_OP_CLAMP};
    static const char *names[5] = {"scale", "pow", "exp", "log", "clamp"};
    const float fp_ok[2] = {0.f, 1.f};
    ss_shape two[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(2, 3, 1, 2, 2)};
    ss_shape zero = ss_shape5(2, 3, 0, 2, 2);
    for (int k = 0; k < 5; k++) {
        opc o;
        ck_assert_int_eq(opc_init(&o, kinds[k], NULL, 0, fp_ok, 2, 1, &zero), SS_ERR);
        ck_assert_ptr_nonnull(strstr(semiseg_error(), names[k]));
        ck_assert_ptr_nonnull(strstr(semiseg_error(), "(2,3,0,2,2)"));
        opc_free(&o);
        ck_assert_int_eq(opc_init(&o, kinds[k], NULL, 0, fp_ok, 2, 2, two), SS_ERR);
        ck_assert_ptr_nonnull(strstr(semiseg_error(), names[k]));
        opc_free(&o);
    }
    opc o;
    const float lo_gt_hi[2] = {1.f, 0.f}, nan_lo[2] = {NAN, 1.f}, inf_e[1] = {INFINITY};
    ck_assert_int_eq(opc_init(&o, SS_OP_CLAMP, NULL, 0, lo_gt_hi, 2, 1, two), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "clamp"));
    opc_free(&o);
    ck_assert_int_eq(opc_init(&o, SS_OP_CLAMP, NULL, 0, nan_lo, 2, 1, two), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "clamp"));
    opc_free(&o);
    ck_assert_int_eq(opc_init(&o, SS_OP_POW, NULL, 0, inf_e, 1, 1, two), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "pow"));
    opc_free(&o);
}
END_TEST

START_TEST(test_flops)
{
    /* per element: SCALE 2 (multiply-add), the others 1; (3,5,1,5,7) = 525 */
    static const int kinds[5] = {SS_OP_SCALE, SS_OP_POW, SS_OP_EXP, SS_OP_LOG, SS_OP_CLAMP};
    const float fp[2] = {1.f, 2.f};
    for (int k = 0; k < 5; k++) {
        opc o;
        TU_OK(opc_init(&o, kinds[k], NULL, 0, fp, 2, 1, &k_shapes[1]));
        ck_assert_double_eq(opc_flops(&o), k == 0 ? 1050.0 : 525.0);
        ck_assert_uint_eq(ss_op_get(kinds[k])->diff_mask, 1u);
        opc_free(&o);
    }
}
END_TEST

Suite *suite_unary(void)
{
    Suite *s = suite_create("unary");
    TCase *tc = tcase_create("unary");
    tcase_add_test(tc, test_scale_forward);
    tcase_add_test(tc, test_scale_gradcheck);
    tcase_add_test(tc, test_pow_forward);
    tcase_add_test(tc, test_pow_gradcheck);
    tcase_add_test(tc, test_exp_forward);
    tcase_add_test(tc, test_log_forward);
    tcase_add_test(tc, test_exp_log_gradcheck);
    tcase_add_test(tc, test_clamp_forward);
    tcase_add_test(tc, test_clamp_backward);
    tcase_add_test(tc, test_bad_inputs);
    tcase_add_test(tc, test_flops);
    suite_add_tcase(s, tc);
    return s;
}
