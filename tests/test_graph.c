/* Graph: construction errors, gradient accumulation for shared tensors, views,
 * dynamic scalars, the liveness planner (no overlap, poisoning, peak below the
 * naive sum) and a whole small network's gradient against finite differences
 * taken through the graph. */
#include "harness/graph.h"
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int ONE3[3] = {1, 1, 1}, ZERO3[3] = {0, 0, 0};
static const int PAD2D[3] = {0, 1, 1};

/* dL/dx for L = sum(2x + exp(x)): x feeds two consumers, so its gradient must
 * be the sum 2 + exp(x) (checked against the closed form, tol 1e-6 rel). */
START_TEST(test_two_consumers_sum)
{
    ss_graph *g = graph_new();
    ss_shape s = ss_shape5(3, 2, 1, 1, 5);
    int x = g_param(g, "x", s);
    int a = g_scale(g, x, 2.f, 0.f);
    int b = g_exp(g, x);
    int loss = g_sum(g, g_add(g, a, b), 31);
    TU_OK(graph_backward(g, loss));
    int gx = graph_grad(g, x);
    ck_assert_int_ge(gx, 0);
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET | SS_PLAN_POISON, NULL));
    float xv[30], gv[30], want[30];
    tu_fill_uniform(xv, 30, -1.f, 1.f, 5);
    TU_OK(graph_upload(g, x, xv));
    TU_OK(graph_run(g));
    TU_OK(graph_download(g, gx, gv));
    for (int i = 0; i < 30; i++)
        want[i] = 2.f + expf(xv[i]);
    TU_ASSERT_CLOSE(gv, want, 30, 0.0, 1e-6);
    graph_free(g);
}
END_TEST

/* An ADD without broadcasting shares its output's gradient with its inputs
 * (no gradient node): L = sum((a + b + a) * c) + sum((x + x) * c) + sum((a +
 * bias) * c), bias broadcast over N, D, H, W. Then grad(b) is the same tensor
 * as grad(a + b), and the values are exact: grad(a) = 3c, grad(b) = c,
 * grad(x) = 2c, grad(bias) = the per-channel sums of c (a broadcast ADD keeps
 * its gradient node, so grad(a + bias) is not grad(a)). */
START_TEST(test_add_shares_gradient)
{
    ss_graph *g = graph_new();
    ss_shape s = ss_shape5(3, 2, 1, 1, 5);
    int a = g_param(g, "a", s), b = g_param(g, "b", s), x = g_param(g, "x", s);
    int bias = g_param(g, "bias", ss_shape5(1, 2, 1, 1, 1));
    int c = g_input(g, "c", s);
    int ab = g_add(g, a, b), aba = g_add(g, ab, a), xx = g_add(g, x, x), abias = g_add(g, a, bias);
    int l1 = g_sum(g, g_mul(g, aba, c), 31), l2 = g_sum(g, g_mul(g, xx, c), 31);
    int l3 = g_sum(g, g_mul(g, abias, c), 31);
    int loss = g_add(g, g_add(g, l1, l2), l3);
    TU_OK(graph_backward(g, loss));
    ck_assert_int_ge(graph_grad(g, ab), 0);
    ck_assert_int_eq(graph_grad(g, b), graph_grad(g, ab));
    ck_assert_int_eq(graph_grad(g, ab), graph_grad(g, aba));
    ck_assert_int_ne(graph_grad(g, bias), graph_grad(g, abias));
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET | SS_PLAN_POISON, NULL));
    float av[30], bv[30], xv[30], cv[30], biv[2] = {0.5f, -1.f}, got[30], want[30];
    tu_fill_uniform(av, 30, -1.f, 1.f, 21);
    tu_fill_uniform(bv, 30, -1.f, 1.f, 22);
    tu_fill_uniform(xv, 30, -1.f, 1.f, 23);
    tu_fill_uniform(cv, 30, -1.f, 1.f, 24);
    TU_OK(graph_upload(g, a, av));
    TU_OK(graph_upload(g, b, bv));
    TU_OK(graph_upload(g, x, xv));
    TU_OK(graph_upload(g, bias, biv));
    TU_OK(graph_upload(g, c, cv));
    TU_OK(graph_run(g));
    TU_OK(graph_download(g, graph_grad(g, a), got));
    for (int i = 0; i < 30; i++)
        want[i] = cv[i] + cv[i] + cv[i];
    TU_ASSERT_CLOSE(got, want, 30, 1e-6, 1e-6);
    TU_OK(graph_download(g, graph_grad(g, b), got));
    TU_ASSERT_CLOSE(got, cv, 30, 0.0, 0.0);
    TU_OK(graph_download(g, graph_grad(g, x), got));
    for (int i = 0; i < 30; i++)
        want[i] = cv[i] + cv[i];
    TU_ASSERT_CLOSE(got, want, 30, 0.0, 0.0);
    TU_OK(graph_download(g, graph_grad(g, bias), got));
    for (int ch = 0; ch < 2; ch++) {
        double sum = 0;
        for (int n = 0; n < 3; n++)
            for (int w = 0; w < 5; w++)
                sum += cv[(n * 2 + ch) * 5 + w];
        want[ch] = (float)sum;
    }
    TU_ASSERT_CLOSE(got, want, 2, 1e-6, 1e-6);
    graph_free(g);
}
END_TEST

/* The same tensor twice in one node (x*x) and through a view: L = sum(x*x) +
 * sum(view(x)) gives 2x + 1 (exact in FP32 up to one rounding). */
START_TEST(test_same_node_and_view)
{
    ss_graph *g = graph_new();
    int x = g_param(g, "x", ss_shape5(2, 3, 1, 2, 2));
    int sq = g_sum(g, g_mul(g, x, x), 31);
    int v = g_reshape(g, x, ss_shape5(24, 1, 1, 1, 1));
    int sv = g_sum(g, v, 31);
    int loss = g_add(g, sq, sv);
    TU_OK(graph_backward(g, loss));
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET | SS_PLAN_POISON, NULL));
    float xv[24], gv[24], want[24];
    tu_fill_uniform(xv, 24, -2.f, 2.f, 9);
    TU_OK(graph_upload(g, x, xv));
    TU_OK(graph_run(g));
    TU_OK(graph_download(g, graph_grad(g, x), gv));
    for (int i = 0; i < 24; i++)
        want[i] = 2.f * xv[i] + 1.f;
    TU_ASSERT_CLOSE(gv, want, 24, 1e-6, 1e-6);
    graph_free(g);
}
END_TEST

START_TEST(test_dynamic_scalar)
{
    ss_graph *g = graph_new();
    int w = g_scalar(g, "ramp", 0.5f);
    int x = g_input(g, "x", ss_shape5(1, 1, 1, 1, 4));
    int y = g_scale_dyn(g, x, w);
    graph_keep(g, y);
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    float xv[4] = {1, 2, 3, 4}, yv[4];
    TU_OK(graph_upload(g, x, xv));
    TU_OK(graph_run(g));
    TU_OK(graph_download(g, y, yv));
    ck_assert_float_eq(yv[3], 2.f);
    TU_OK(graph_set_scalar(g, w, 3.f));
    TU_OK(graph_run(g));
    TU_OK(graph_download(g, y, yv));
    ck_assert_float_eq(yv[1], 6.f);
    ck_assert_int_ne(graph_set_scalar(g, 5, 1.f), 0);
    graph_free(g);
}
END_TEST

/* A small 2-D segmentation net: conv-bn-relu, a residual branch, max pool,
 * upsample, conv, cross-entropy. */
typedef struct net {
    ss_graph *g;
    int x, lab, loss, w1, b1, w2, w3, b3, gam, bet;
} net;

static void build_net(net *n, int flags_bn_train)
{
    ss_graph *g = graph_new();
    n->g = g;
    const int N = 2, H = 6, W = 6, C = 3;
    n->x = g_input(g, "x", ss_shape5(N, 1, 1, H, W));
    n->lab = g_input(g, "label", ss_shape5(N, 1, 1, H, W));
    n->w1 = g_param(g, "conv1.weight", ss_shape5(C, 1, 1, 3, 3));
    n->b1 = g_param(g, "conv1.bias", ss_shape5(C, 1, 1, 1, 1));
    n->gam = g_param(g, "bn.weight", ss_shape5(C, 1, 1, 1, 1));
    n->bet = g_param(g, "bn.bias", ss_shape5(C, 1, 1, 1, 1));
    int rm = g_buffer(g, "bn.running_mean", ss_shape5(C, 1, 1, 1, 1), 0.f);
    int rv = g_buffer(g, "bn.running_var", ss_shape5(C, 1, 1, 1, 1), 1.f);
    n->w2 = g_param(g, "conv2.weight", ss_shape5(C, C, 1, 3, 3));
    n->w3 = g_param(g, "out.weight", ss_shape5(2, C, 1, 1, 1));
    n->b3 = g_param(g, "out.bias", ss_shape5(2, 1, 1, 1, 1));
    int h = g_conv(g, n->x, n->w1, n->b1, ONE3, PAD2D);
    h = flags_bn_train ? g_bn_train(g, h, n->gam, n->bet, rm, rv, 0.1f, 1e-5f)
                       : g_bn_eval(g, h, n->gam, n->bet, rm, rv, 1e-5f);
    h = g_tanh(g, h);
    int r = g_conv(g, h, n->w2, -1, ONE3, PAD2D);
    h = g_add(g, h, r); /* h has two consumers */
    int k[3] = {1, 2, 2}, st[3] = {1, 2, 2};
    int p = g_avgpool(g, h, k, st, ZERO3);
    int size[3] = {1, H, W};
    int u = g_upsample(g, p, 1, 0, size);
    int logits = g_conv(g, g_add(g, u, h), n->w3, n->b3, ONE3, ZERO3);
    n->loss = g_ce(g, logits, n->lab, -100);
    graph_keep(g, n->loss);
}

static void fill_net(net *n, uint64_t seed)
{
    float buf[128];
    int params[] = {n->w1, n->b1, n->w2, n->w3, n->b3, n->gam, n->bet};
    for (size_t i = 0; i < sizeof params / sizeof *params; i++) {
        ss_shape s = graph_shape(n->g, params[i]);
        size_t cnt = (size_t)ss_numel(&s);
        tu_fill_uniform(buf, cnt, -0.5f, 0.5f, seed + i);
        if (params[i] == n->gam)
            for (size_t k = 0; k < cnt; k++)
                buf[k] += 1.f;
        ck_assert_int_eq(graph_upload(n->g, params[i], buf), 0);
    }
    float xv[72], lv[72];
    tu_fill_uniform(xv, 72, -1.f, 1.f, seed + 100);
    for (int i = 0; i < 72; i++)
        lv[i] = xv[i] > 0.1f ? 1.f : 0.f;
    ck_assert_int_eq(graph_upload(n->g, n->x, xv), 0);
    ck_assert_int_eq(graph_upload(n->g, n->lab, lv), 0);
}

static float run_loss(net *n)
{
    float l;
    ck_assert_msg(graph_run(n->g) == 0, "%s", semiseg_error());
    ck_assert_int_eq(graph_download(n->g, n->loss, &l), 0);
    return l;
}

/* Planner with reuse and poisoning gives the same loss and gradients as every
 * tensor in its own range; no two live tensors overlap; peak < naive sum. */
START_TEST(test_planner_reuse_is_safe)
{
    net a, b;
    build_net(&a, 1);
    build_net(&b, 1);
    TU_OK(graph_backward(a.g, a.loss));
    TU_OK(graph_backward(b.g, b.loss));
    TU_OK(graph_plan(a.g, ss_backend_cpu(), SS_PLAN_QUIET | SS_PLAN_POISON, NULL));
    TU_OK(graph_plan(b.g, ss_backend_cpu(), SS_PLAN_QUIET | SS_PLAN_NO_REUSE, NULL));
    TU_OK(graph_check_plan(a.g));
    TU_OK(graph_check_plan(b.g));
    ck_assert_msg(graph_peak_bytes(a.g) < graph_naive_bytes(a.g), "peak %zu naive %zu",
                  graph_peak_bytes(a.g), graph_naive_bytes(a.g));
    ck_assert_uint_eq(graph_peak_bytes(b.g), graph_naive_bytes(b.g));
    fill_net(&a, 3);
    fill_net(&b, 3);
    float la = run_loss(&a), lb = run_loss(&b);
    ck_assert(isfinite(la));
    ck_assert_float_eq(la, lb);
    int params[] = {a.w1, a.b1, a.w2, a.w3, a.b3, a.gam, a.bet};
    for (size_t i = 0; i < sizeof params / sizeof *params; i++) {
        float ga[128], gb[128];
        int t = params[i];
        ck_assert_int_ge(graph_grad(a.g, t), 0);
        TU_OK(graph_download(a.g, graph_grad(a.g, t), ga));
        TU_OK(graph_download(b.g, graph_grad(b.g, t), gb));
        ss_shape s = graph_shape(a.g, t);
        /* identical kernels on identical data: bit-equal */
        ck_assert_int_eq(memcmp(ga, gb, (size_t)ss_numel(&s) * sizeof(float)), 0);
    }
    graph_free(a.g);
    graph_free(b.g);
}
END_TEST

/* Every parameter gradient of the small net against central differences of
 * the graph's loss (eval-mode BN so the loss is a fixed function of the
 * parameters): eps 1e-2, FP64 difference, |a - n| <= 2e-3 + 2e-2 |n|. */
START_TEST(test_net_gradient_fd)
{
    net n;
    build_net(&n, 0);
    TU_OK(graph_backward(n.g, n.loss));
    TU_OK(graph_plan(n.g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    fill_net(&n, 11);
    int params[] = {n.w1, n.b1, n.w2, n.w3, n.b3, n.gam, n.bet};
    for (size_t i = 0; i < sizeof params / sizeof *params; i++) {
        int t = params[i];
        ss_shape s = graph_shape(n.g, t);
        size_t cnt = (size_t)ss_numel(&s);
        float w[128], gw[128];
        run_loss(&n);
        TU_OK(graph_download(n.g, graph_grad(n.g, t), gw));
        TU_OK(graph_download(n.g, t, w));
        for (size_t k = 0; k < cnt; k++) {
            const float eps = 1e-2f;
            float keep = w[k];
            w[k] = keep + eps;
            graph_upload(n.g, t, w);
            double lp = run_loss(&n);
            w[k] = keep - eps;
            graph_upload(n.g, t, w);
            double lm = run_loss(&n);
            w[k] = keep;
            graph_upload(n.g, t, w);
            double num = (lp - lm) / ((double)(keep + eps) - (double)(keep - eps));
            ck_assert_msg(fabs(gw[k] - num) <= 2e-3 + 2e-2 * fabs(num),
                          "%s[%zu]: analytic %.7g numeric %.7g", graph_name(n.g, t), k, gw[k], num);
        }
    }
    graph_free(n.g);
}
END_TEST

START_TEST(test_construction_errors)
{
    ss_graph *g = graph_new();
    int x = g_input(g, "x", ss_shape5(2, 3, 4, 5, 6));
    int w = g_param(g, "w", ss_shape5(8, 4, 3, 3, 3)); /* wrong Ci */
    int y = g_conv(g, x, w, -1, ONE3, ONE3);
    ck_assert_int_eq(y, -1);
    const char *e = graph_error(g);
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(strstr(e, "conv") && strstr(e, "(2,3,4,5,6)"), "message: %s", e);
    /* later constructors propagate the failure, plan reports the first error */
    ck_assert_int_eq(g_relu(g, y), -1);
    ck_assert_int_ne(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL), 0);
    ck_assert_msg(strstr(semiseg_error(), "conv") != NULL, "%s", semiseg_error());
    graph_free(g);

    g = graph_new();
    ck_assert_int_eq(g_input(g, "neg", ss_shape5(2, -1, 1, 1, 1)), -1);
    ck_assert_msg(strstr(graph_error(g), "invalid shape") != NULL, "%s", graph_error(g));
    graph_free(g);

    g = graph_new();
    x = g_input(g, "x", ss_shape5(2, 3, 1, 1, 1));
    ck_assert_int_eq(g_input(g, "x", ss_shape5(1, 1, 1, 1, 1)), -1); /* duplicate name */
    graph_free(g);

    g = graph_new();
    x = g_input(g, "x", ss_shape5(2, 3, 1, 1, 1));
    ck_assert_int_eq(g_reshape(g, x, ss_shape5(5, 1, 1, 1, 1)), -1);
    graph_free(g);

    g = graph_new();
    x = g_param(g, "x", ss_shape5(2, 3, 1, 1, 1));
    ck_assert_int_ne(graph_backward(g, x), 0); /* loss must be a scalar */
    graph_free(g);
}
END_TEST

/* A loss whose input holds NaN fails at run time with the node named. */
START_TEST(test_runtime_error_names_node)
{
    ss_graph *g = graph_new();
    int a = g_input(g, "a", ss_shape5(1, 1, 1, 1, 3));
    int b = g_input(g, "b", ss_shape5(1, 1, 1, 1, 3));
    int l = g_mse(g, a, b);
    graph_keep(g, l);
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    float av[3] = {1, NAN, 3}, bv[3] = {0, 0, 0};
    graph_upload(g, a, av);
    graph_upload(g, b, bv);
    ck_assert_int_ne(graph_run(g), 0);
    ck_assert_msg(strstr(semiseg_error(), "mse") != NULL, "%s", semiseg_error());
    graph_free(g);
}
END_TEST

/* Timing counts every executed node; inputs and labels get no gradient. */
START_TEST(test_timing_and_grad_roles)
{
    net n;
    build_net(&n, 1);
    TU_OK(graph_backward(n.g, n.loss));
    ck_assert_int_eq(graph_grad(n.g, n.x), -1);
    ck_assert_int_eq(graph_grad(n.g, n.lab), -1);
    ck_assert_int_ge(graph_grad(n.g, n.w1), 0);
    TU_OK(graph_plan(n.g, ss_backend_cpu(), SS_PLAN_QUIET | SS_PLAN_TIMING, NULL));
    fill_net(&n, 4);
    run_loss(&n);
    run_loss(&n);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    graph_print_timing(n.g, f);
    fclose(f);
    ck_assert_msg(strstr(buf, "conv") && strstr(buf, "bwd") && strstr(buf, "ce"), "%s", buf);
    free(buf);
    graph_free(n.g);
}
END_TEST

Suite *suite_graph(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("graph");
    tcase_add_test(tc, test_two_consumers_sum);
    tcase_add_test(tc, test_same_node_and_view);
    tcase_add_test(tc, test_add_shares_gradient);
    tcase_add_test(tc, test_dynamic_scalar);
    tcase_add_test(tc, test_planner_reuse_is_safe);
    tcase_add_test(tc, test_net_gradient_fd);
    tcase_add_test(tc, test_construction_errors);
    tcase_add_test(tc, test_runtime_error_names_node);
    tcase_add_test(tc, test_timing_and_grad_roles);
    suite_add_tcase(s, tc);
    return s;
}
