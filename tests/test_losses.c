/* Loss builders, sharpening, ramp-up and EMA update (harness/losses.h,
 * harness/ema.h): values against hand/NumPy-computed numbers on tiny tensors
 * (tolerance 1e-6 absolute on float32 graph results, 1e-12 on double
 * functions), and the composite builders' graph gradients against central
 * finite differences of the same float32 graph (eps 1e-2 on inputs of order
 * 0.1..1; passes when |analytic - numeric| <= 2e-3 + 2e-2 |numeric|: float32
 * loss evaluation limits FD accuracy to ~1e-5 / eps). */
#include "harness/ema.h"
#include "harness/graph.h"
#include "harness/losses.h"
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef int (*builder)(ss_graph *g, int x, int aux);

/* Builds builder(x, aux) with x a parameter, runs it, returns the loss. */
static double eval_builder(builder b, ss_shape xs, const float *x, ss_shape as, const float *aux)
{
    ss_graph *g = graph_new();
    int xt = g_param(g, "x", xs);
    int at = g_input(g, "aux", as);
    int l = b(g, xt, at);
    ck_assert_msg(l >= 0, "%s", graph_error(g));
    graph_keep(g, l);
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    TU_OK(graph_upload(g, xt, x));
    TU_OK(graph_upload(g, at, aux));
    TU_OK(graph_run(g));
    float v;
    TU_OK(graph_download(g, l, &v));
    graph_free(g);
    return v;
}

static void grad_check(builder b, ss_shape xs, const float *x0, ss_shape as, const float *aux)
{
    ss_graph *g = graph_new();
    int xt = g_param(g, "x", xs);
    int at = g_input(g, "aux", as);
    int l = b(g, xt, at);
    ck_assert_msg(l >= 0, "%s", graph_error(g));
    graph_keep(g, l);
    TU_OK(graph_backward(g, l));
    int gx = graph_grad(g, xt);
    ck_assert_int_ge(gx, 0);
    graph_keep(g, gx);
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    size_t n = (size_t)ss_numel(&xs);
    float *x = tu_alloc(n), *ga = tu_alloc(n);
    memcpy(x, x0, n * sizeof(float));
    TU_OK(graph_upload(g, at, aux));
    TU_OK(graph_upload(g, xt, x));
    TU_OK(graph_run(g));
    TU_OK(graph_download(g, gx, ga));
    const float eps = 1e-2f;
    for (size_t i = 0; i < n; i++) {
        float lp, lm, keep = x[i];
        x[i] = keep + eps;
        TU_OK(graph_upload(g, xt, x));
        TU_OK(graph_run(g));
        TU_OK(graph_download(g, l, &lp));
        x[i] = keep - eps;
        TU_OK(graph_upload(g, xt, x));
        TU_OK(graph_run(g));
        TU_OK(graph_download(g, l, &lm));
        x[i] = keep;
        double num = ((double)lp - (double)lm) / (2.0 * eps);
        ck_assert_msg(fabs(ga[i] - num) <= 2e-3 + 2e-2 * fabs(num),
                      "element %zu: graph gradient %.6g, finite difference %.6g", i, (double)ga[i],
                      num);
    }
    free(x);
    free(ga);
    graph_free(g);
}

static const float P4[4] = {0.2f, 0.8f, 0.6f, 0.4f}, Y4[4] = {0, 1, 1, 0};

static int b_dice_binary(ss_graph *g, int x, int a) { return ss_loss_dice(g, x, a, SS_DICE_BINARY); }
static int b_dice_squared(ss_graph *g, int x, int a) { return ss_loss_dice(g, x, a, SS_DICE_SQUARED); }
static int b_dice_half(ss_graph *g, int x, int a) { return ss_loss_dice(g, x, a, SS_DICE_HALF); }

START_TEST(test_dice_forms)
{
    ss_shape s = ss_shape5(1, 1, 1, 1, 4);
    /* 1 - (2*1.4 + 1e-8)/(2 + 2 + 1e-8) */
    ck_assert_double_eq_tol(eval_builder(b_dice_binary, s, P4, s, Y4), 0.2999999992500001, 1e-6);
    /* 1 - (2*1.4 + 1e-5)/(1.2 + 2 + 1e-5) */
    ck_assert_double_eq_tol(eval_builder(b_dice_squared, s, P4, s, Y4), 0.12499960937622079, 1e-6);
    /* 1 - 1.4/(1.2 + 2 + 1e-10): a perfect prediction would give 0.5 */
    ck_assert_double_eq_tol(eval_builder(b_dice_half, s, P4, s, Y4), 0.562500000013672, 1e-6);
    float perfect[4] = {0, 1, 1, 0};
    ck_assert_double_eq_tol(eval_builder(b_dice_half, s, perfect, s, Y4), 0.5, 1e-6);
    ck_assert_double_eq_tol(eval_builder(b_dice_binary, s, perfect, s, Y4), 0.0, 1e-6);
    ss_dice_form f;
    TU_OK(ss_dice_form_parse("Binary_dice_loss", &f));
    ck_assert_int_eq(f, SS_DICE_BINARY);
    TU_OK(ss_dice_form_parse("dice_loss", &f));
    ck_assert_int_eq(f, SS_DICE_SQUARED);
    ck_assert_int_eq(ss_dice_form_parse("soft", &f), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "soft"));
}
END_TEST

/* prob (1,3,1,1,4) given directly; labels 0,1,2,1. */
static const float PM[12] = {0.7f, 0.1f, 0.2f, 0.3f, 0.2f, 0.6f, 0.1f, 0.5f, 0.1f, 0.3f, 0.7f, 0.2f};
static const float LM[4] = {0, 1, 2, 1};
static int b_mc_sq(ss_graph *g, int x, int a) { return ss_loss_dice_mc(g, x, a, 3, 0, SS_DICE_SQUARED); }
static int b_mc_half(ss_graph *g, int x, int a) { return ss_loss_dice_mc(g, x, a, 3, 0, SS_DICE_HALF); }
static int b_mc_soft(ss_graph *g, int x, int a)
{
    return ss_loss_dice_mc(g, g_softmax(g, x), a, 3, 0, SS_DICE_SQUARED);
}
static int b_fg_binary(ss_graph *g, int x, int a)
{
    return ss_loss_dice_mc(g, g_softmax(g, x), a, 2, 1, SS_DICE_BINARY);
}
static int b_onehot2(ss_graph *g, int x, int a) { return g_sum(g, g_mul(g, x, ss_onehot(g, a, 2)), 31); }

START_TEST(test_dice_multiclass)
{
    ss_shape ps = ss_shape5(1, 3, 1, 1, 4), ls = ss_shape5(1, 1, 1, 1, 4);
    ck_assert_double_eq_tol(eval_builder(b_mc_sq, ps, PM, ls, LM), 0.15171284611153588, 1e-6);
    ck_assert_double_eq_tol(eval_builder(b_mc_half, ps, PM, ls, LM), 0.575856819986767, 1e-6);
    /* onehot(labels, 2) selects element 2 only: sum = PM[0..3] . [0,0,1,0] */
    ck_assert_double_eq_tol(eval_builder(b_onehot2, ls, PM, ls, LM), 0.2, 1e-6);
    float lg[12];
    tu_fill_uniform(lg, 12, -1, 1, 7);
    grad_check(b_mc_soft, ps, lg, ls, LM);
    ss_shape bs = ss_shape5(2, 2, 1, 1, 3), bl = ss_shape5(2, 1, 1, 1, 3);
    float lb[12], yb[6] = {0, 1, 1, 0, 0, 1};
    tu_fill_uniform(lb, 12, -1, 1, 8);
    grad_check(b_fg_binary, bs, lb, bl, yb);
    grad_check(b_dice_binary, ls, P4, ls, Y4);
    grad_check(b_dice_squared, ls, P4, ls, Y4);
    grad_check(b_dice_half, ls, P4, ls, Y4);
}
END_TEST

static int b_ce(ss_graph *g, int x, int a) { return ss_loss_ce(g, x, a); }

START_TEST(test_ce_mse)
{
    /* logits per voxel (c0, c1): (1, .3) (2, -1) (.5, 2) (-.5, 0); labels 0 1 1 0 */
    float lg[8] = {1.0f, 2.0f, 0.5f, -0.5f, 0.3f, -1.0f, 2.0f, 0.0f};
    ss_shape s = ss_shape5(1, 2, 1, 1, 4), ls = ss_shape5(1, 1, 1, 1, 4);
    ck_assert_double_eq_tol(eval_builder(b_ce, s, lg, ls, Y4), 1.156816005706787, 1e-6);
    grad_check(b_ce, s, lg, ls, Y4);
}
END_TEST

static int b_sharp05(ss_graph *g, int x, int a) { return g_sum(g, g_mul(g, ss_sharpen(g, x, 0.5f), a), 31); }
static int b_sharp01(ss_graph *g, int x, int a) { return g_sum(g, g_mul(g, ss_sharpen(g, x, 0.1f), a), 31); }
static int b_mutual(ss_graph *g, int x, int a)
{
    (void)a;
    int p[2] = {g_slice(g, x, 0, 0, 1), g_slice(g, x, 0, 1, 1)};
    return ss_mutual_consistency(g, 2, p, 0.1f);
}
static int b_mutual_soft(ss_graph *g, int x, int a)
{
    (void)a;
    int sm = g_softmax(g, x);
    int p[3] = {g_slice(g, sm, 0, 0, 1), g_slice(g, sm, 0, 1, 1), g_slice(g, sm, 0, 2, 1)};
    return ss_mutual_consistency(g, 3, p, 0.1f);
}

START_TEST(test_sharpen_consistency)
{
    ss_shape s1 = ss_shape5(1, 1, 1, 1, 1);
    float one = 1.f, p06 = 0.6f, p03 = 0.3f;
    ck_assert_double_eq_tol(eval_builder(b_sharp05, s1, &p06, s1, &one), 0.6923076923076923, 1e-6);
    ck_assert_double_eq_tol(eval_builder(b_sharp01, s1, &p06, s1, &one), 0.9829540725450702, 1e-6);
    ck_assert_double_eq_tol(eval_builder(b_sharp01, s1, &p03, s1, &one), 0.00020899763468716994,
                            1e-9);
    /* A = (.2 .7 .5 .9), B = (.4 .6 .1 .8): mean((A - S(B))^2) + mean((B - S(A))^2), T = 0.1 */
    float ab[8] = {0.2f, 0.7f, 0.5f, 0.9f, 0.4f, 0.6f, 0.1f, 0.8f};
    ss_shape s2 = ss_shape5(2, 1, 1, 1, 4);
    ck_assert_double_eq_tol(eval_builder(b_mutual, s2, ab, s1, &one), 0.22334177283245632, 1e-6);
    float r[4] = {0.3f, -0.7f, 1.0f, 0.5f}, pv[4] = {0.35f, 0.55f, 0.62f, 0.45f};
    ss_shape s4 = ss_shape5(1, 1, 1, 1, 4);
    grad_check(b_sharp05, s4, pv, s4, r);
    /* three decoders' softmax over 2 classes, 2 voxels; both sides get gradients */
    float lg[12];
    tu_fill_uniform(lg, 12, -0.5f, 0.5f, 11);
    grad_check(b_mutual_soft, ss_shape5(3, 2, 1, 1, 2), lg, s1, &one);
}
END_TEST

START_TEST(test_ramp)
{
    ck_assert_double_eq_tol(ss_sigmoid_rampup(20, 40), 0.2865047968601901, 1e-12);
    ck_assert_double_eq_tol(ss_sigmoid_rampup(50, 40), 1.0, 1e-15);
    ck_assert_double_eq_tol(ss_sigmoid_rampup(3, 0), 1.0, 1e-15);
    ck_assert_double_eq_tol(ss_sigmoid_rampup(0, 40), exp(-5.0), 1e-15);
    /* step 150: [MC]/[FBA] (one-based) use floor(150/150) = 1, [UAMT] floor(149/150) = 0 */
    ck_assert_double_eq_tol(ss_ramp_weight(1.0, 150, 150, 40, SS_RAMP_ONE_BASED),
                            0.008624700856245927, 1e-12);
    ck_assert_double_eq_tol(ss_ramp_weight(1.0, 150, 150, 40, SS_RAMP_ZERO_BASED), exp(-5.0), 1e-12);
    ck_assert_double_eq_tol(ss_ramp_weight(0.1, 6000, 150, 40, SS_RAMP_ONE_BASED), 0.1, 1e-12);
    ck_assert_double_eq_tol(ss_ramp_weight(0.1, 6000, 150, 40, SS_RAMP_ZERO_BASED),
                            0.1 * exp(-5.0 / 1600.0), 1e-12);
    ss_ramp_index ix;
    TU_OK(ss_ramp_index_parse("zero_based", &ix));
    ck_assert_int_eq(ix, SS_RAMP_ZERO_BASED);
    ck_assert_int_eq(ss_ramp_index_parse("two", &ix), SS_ERR);
}
END_TEST

START_TEST(test_ema)
{
    ck_assert_double_eq_tol(ss_ema_alpha(0, 0.99), 0.0, 1e-15);
    ck_assert_double_eq_tol(ss_ema_alpha(1, 0.99), 0.5, 1e-15);
    ck_assert_double_eq_tol(ss_ema_alpha(3, 0.99), 0.75, 1e-15);
    ck_assert_double_eq_tol(ss_ema_alpha(1000, 0.99), 0.99, 1e-15);
    ss_graph *t = graph_new(), *s = graph_new();
    int tw = g_param(t, "w", ss_shape5(3, 1, 1, 1, 1)), tb = g_buffer(t, "rm", ss_shape5(1, 1, 1, 1, 1), 5);
    int sw = g_param(s, "w", ss_shape5(3, 1, 1, 1, 1)), sb = g_buffer(s, "rm", ss_shape5(1, 1, 1, 1, 1), 9);
    TU_OK(graph_plan(t, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    TU_OK(graph_plan(s, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    float a[3] = {1, 2, 3}, b[3] = {5, -2, 0}, out[3], rm;
    TU_OK(graph_upload(t, tw, a));
    TU_OK(graph_upload(s, sw, b));
    ss_ema e;
    TU_OK(ss_ema_init(&e, t, s));
    ck_assert_int_eq(e.n, 1);
    TU_OK(ss_ema_update(&e, 0.75));
    TU_OK(graph_download(t, tw, out));
    ck_assert_float_eq_tol(out[0], 2.0f, 1e-6f);  /* .75*1 + .25*5 */
    ck_assert_float_eq_tol(out[1], 1.0f, 1e-6f);  /* .75*2 - .5 */
    ck_assert_float_eq_tol(out[2], 2.25f, 1e-6f);
    TU_OK(graph_download(t, tb, &rm));
    ck_assert_float_eq(rm, 5.0f); /* buffers are not averaged */
    (void)sb;
    TU_OK(ss_ema_copy(&e));
    TU_OK(graph_download(t, tw, out));
    ck_assert_float_eq(out[1], -2.0f);
    ss_ema_free(&e);
    ss_graph *u = graph_new();
    g_param(u, "v", ss_shape5(3, 1, 1, 1, 1));
    TU_OK(graph_plan(u, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    ck_assert_int_eq(ss_ema_init(&e, u, s), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "'v'"));
    graph_free(u);
    graph_free(t);
    graph_free(s);
}
END_TEST

Suite *suite_losses(void)
{
    Suite *s = suite_create("losses");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_dice_forms);
    tcase_add_test(tc, test_dice_multiclass);
    tcase_add_test(tc, test_ce_mse);
    tcase_add_test(tc, test_sharpen_consistency);
    tcase_add_test(tc, test_ramp);
    tcase_add_test(tc, test_ema);
    suite_add_tcase(s, tc);
    return s;
}
