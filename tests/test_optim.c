/* Optimisers and lr schedules against PyTorch (tests/golden/make_optim_fixtures.py):
 * torch.optim.SGD (momentum 0.9, wd 1e-4) under constant, step (x0.1 every 3
 * in the fixture), poly 0.9 and warm-up + poly schedules, and torch.optim.Adam
 * with and without weight decay, 7 steps each with fixed gradients. A graph
 * whose loss is sum_i sum(w_i * G_i) makes each parameter's gradient exactly
 * the fixture's G_i.
 * Tolerances: the lr of every step within 1e-12 relative of the script's value
 * (double arithmetic on both sides; the fixture stores it as float64, read back
 * as float32, so 1e-7 relative there); weights after every step within
 * atol 1e-6 + rtol 1e-5 of PyTorch's float32 result (float32 updates in both,
 * rounding of the scalar factors differs by at most an ulp per step). */
#include "harness/graph.h"
#include "harness/optim.h"
#include "harness/schedule.h"
#include "kernels/error.h"
#include "h5read.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fixture_dir(void)
{
    const char *d = getenv("SS_GOLDEN_DIR");
    return d ? d : "tests/golden/fixtures";
}

static void run_case(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/optim_%s.h5", fixture_dir(), name);
    h5r_file *f = h5r_open(path);
    ck_assert_msg(f, "%s", semiseg_error());
    int kind, sched, steps, np_, step_size, max_iter, warm;
    double lr, mom, wd, b1, b2, eps, gamma, power, wstart;
    TU_OK(h5r_attr_ints(f, "kind_id", &kind, 1));
    TU_OK(h5r_attr_ints(f, "schedule_id", &sched, 1));
    TU_OK(h5r_attr_ints(f, "steps", &steps, 1));
    TU_OK(h5r_attr_ints(f, "nparams", &np_, 1));
    TU_OK(h5r_attr_ints(f, "step_size", &step_size, 1));
    TU_OK(h5r_attr_ints(f, "max_iter", &max_iter, 1));
    TU_OK(h5r_attr_ints(f, "warmup_iters", &warm, 1));
    TU_OK(h5r_attr_doubles(f, "lr", &lr, 1));
    TU_OK(h5r_attr_doubles(f, "momentum", &mom, 1));
    TU_OK(h5r_attr_doubles(f, "weight_decay", &wd, 1));
    TU_OK(h5r_attr_doubles(f, "beta1", &b1, 1));
    TU_OK(h5r_attr_doubles(f, "beta2", &b2, 1));
    TU_OK(h5r_attr_doubles(f, "eps", &eps, 1));
    TU_OK(h5r_attr_doubles(f, "gamma", &gamma, 1));
    TU_OK(h5r_attr_doubles(f, "power", &power, 1));
    TU_OK(h5r_attr_doubles(f, "warmup_start", &wstart, 1));
    ck_assert_int_le(np_, 4);

    ss_graph *g = graph_new();
    int p[4], gin[4], n[4];
    int loss = -1;
    for (int i = 0; i < np_; i++) {
        char key[32];
        snprintf(key, sizeof key, "w0_%d", i);
        ss_shape s;
        float *w0 = h5r_read(f, key, &s);
        ck_assert_msg(w0, "%s", semiseg_error());
        n[i] = s.d[0];
        free(w0);
        char pn[16], gn[16];
        snprintf(pn, sizeof pn, "p%d", i);
        snprintf(gn, sizeof gn, "g%d", i);
        p[i] = g_param(g, pn, ss_shape5(n[i], 1, 1, 1, 1));
        gin[i] = g_input(g, gn, ss_shape5(n[i], 1, 1, 1, 1));
        int l = g_sum(g, g_mul(g, p[i], gin[i]), 31);
        loss = loss < 0 ? l : g_add(g, loss, l);
    }
    ck_assert_msg(loss >= 0, "%s", graph_error(g));
    TU_OK(graph_backward(g, loss));
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    for (int i = 0; i < np_; i++) {
        char key[32];
        snprintf(key, sizeof key, "w0_%d", i);
        ss_shape s;
        float *w0 = h5r_read(f, key, &s);
        TU_OK(graph_upload(g, p[i], w0));
        free(w0);
    }
    ss_optim_cfg cfg = {.kind = kind ? SS_OPTIM_ADAM : SS_OPTIM_SGD, .lr = lr, .momentum = mom,
                        .weight_decay = wd, .beta1 = b1, .beta2 = b2, .eps = eps};
    ss_optim o;
    TU_OK(ss_optim_init(&o, g, &cfg));
    ck_assert_int_eq(o.n, np_);
    ss_schedule sc = {.kind = (ss_sched_kind)sched, .base = lr, .step_size = step_size,
                      .gamma = gamma, .power = power, .max_iter = max_iter,
                      .warmup_iters = warm, .warmup_start = wstart};
    TU_OK(ss_schedule_check(&sc));
    ss_shape ls;
    float *lrs = h5r_read(f, "lr", &ls);
    ck_assert_msg(lrs && ls.d[0] == steps, "lr dataset");
    for (int t = 1; t <= steps; t++) {
        double l = ss_schedule_lr(&sc, t);
        ck_assert_msg(fabs(l - lrs[t - 1]) <= 1e-7 * fabs(lrs[t - 1]),
                      "%s step %d: lr %.10g, PyTorch script %.10g", name, t, l, (double)lrs[t - 1]);
        ss_optim_set_lr(&o, l);
        for (int i = 0; i < np_; i++) {
            char key[32];
            snprintf(key, sizeof key, "g_%d_%d", t, i);
            ss_shape s;
            float *gv = h5r_read(f, key, &s);
            ck_assert_msg(gv, "%s", semiseg_error());
            TU_OK(graph_upload(g, gin[i], gv));
            free(gv);
        }
        TU_OK(graph_run(g));
        TU_OK(ss_optim_step(&o));
        for (int i = 0; i < np_; i++) {
            char key[32];
            snprintf(key, sizeof key, "w_%d_%d", t, i);
            ss_shape s;
            float *ref = h5r_read(f, key, &s);
            float *got = tu_alloc((size_t)n[i]);
            TU_OK(graph_download(g, p[i], got));
            TU_ASSERT_CLOSE(got, ref, (size_t)n[i], 1e-6, 1e-5);
            free(ref);
            free(got);
        }
    }
    ck_assert_int_eq(ss_optim_steps(&o), steps);
    free(lrs);
    ss_optim_free(&o);
    graph_free(g);
    h5r_close(f);
}

START_TEST(test_sgd_constant) { run_case("sgd_constant"); }
END_TEST
START_TEST(test_sgd_step) { run_case("sgd_step"); }
END_TEST
START_TEST(test_sgd_poly) { run_case("sgd_poly"); }
END_TEST
START_TEST(test_sgd_warmup) { run_case("sgd_warmup"); }
END_TEST
START_TEST(test_adam) { run_case("adam"); }
END_TEST
START_TEST(test_adam_wd) { run_case("adam_wd"); }
END_TEST

/* The SGD rule element by element, with and without momentum, on a tensor
 * large enough for the threaded loop: three steps against the update written
 * out here in float32 in PyTorch's order (d = g + wd*w; buf = d on the first
 * step, else mu*buf + d; w -= lr*buf, or lr*d without momentum); the same
 * float operations in the same order, so the weights must match exactly. */
static void sgd_rule_case(float mu)
{
    enum { N = 40000, STEPS = 3 };
    const float lr = 0.05f, wd = 1e-3f;
    ss_graph *g = graph_new();
    int p = g_param(g, "p", ss_shape5(N, 1, 1, 1, 1));
    int gi = g_input(g, "g", ss_shape5(N, 1, 1, 1, 1));
    int loss = g_sum(g, g_mul(g, p, gi), 31);
    ck_assert_msg(loss >= 0, "%s", graph_error(g));
    TU_OK(graph_backward(g, loss));
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    float *w = tu_alloc(N), *buf = tu_alloc(N), *gv = tu_alloc(N), *got = tu_alloc(N);
    for (int k = 0; k < N; k++)
        w[k] = (float)((k * 7919) % 2001 - 1000) / 997.f;
    TU_OK(graph_upload(g, p, w));
    ss_optim_cfg cfg = {.kind = SS_OPTIM_SGD, .lr = lr, .momentum = mu, .weight_decay = wd};
    ss_optim o;
    TU_OK(ss_optim_init(&o, g, &cfg));
    for (int t = 0; t < STEPS; t++) {
        for (int k = 0; k < N; k++)
            gv[k] = (float)(((long)k * 104729 + 31 * t) % 1999 - 999) / 1013.f;
        TU_OK(graph_upload(g, gi, gv));
        TU_OK(graph_run(g));
        TU_OK(ss_optim_step(&o));
        for (int k = 0; k < N; k++) {
            float d = gv[k] + wd * w[k];
            if (mu != 0.f) {
                buf[k] = t == 0 ? d : mu * buf[k] + d;
                d = buf[k];
            }
            w[k] -= lr * d;
        }
        TU_OK(graph_download(g, p, got));
        for (int k = 0; k < N; k++)
            ck_assert_msg(got[k] == w[k], "momentum %g step %d element %d: %.9g, expected %.9g",
                          (double)mu, t + 1, k, (double)got[k], (double)w[k]);
    }
    free(w);
    free(buf);
    free(gv);
    free(got);
    ss_optim_free(&o);
    graph_free(g);
}

START_TEST(test_sgd_rule)
{
    sgd_rule_case(0.f);
    sgd_rule_case(0.9f);
}
END_TEST

/* Hand values of the protocol schedules at their published constants. */
START_TEST(test_schedule_protocol)
{
    ss_schedule st = {.kind = SS_SCHED_STEP, .base = 0.01, .step_size = 2500, .gamma = 0.1};
    TU_OK(ss_schedule_check(&st));
    ck_assert_double_eq_tol(ss_schedule_lr(&st, 1), 0.01, 1e-15);
    ck_assert_double_eq_tol(ss_schedule_lr(&st, 2500), 0.01, 1e-15);
    ck_assert_double_eq_tol(ss_schedule_lr(&st, 2501), 0.001, 1e-15);
    ck_assert_double_eq_tol(ss_schedule_lr(&st, 5000), 0.001, 1e-15);
    ck_assert_double_eq_tol(ss_schedule_lr(&st, 5001), 0.0001, 1e-15);
    ss_schedule po = {.kind = SS_SCHED_POLY, .base = 0.01, .power = 0.9, .max_iter = 30000};
    ck_assert_double_eq_tol(ss_schedule_lr(&po, 1), 0.01, 1e-15);
    /* after 15000 steps: 0.01 * 0.5^0.9 = 0.005358867312681466 */
    ck_assert_double_eq_tol(ss_schedule_lr(&po, 15001), 0.005358867312681466, 1e-15);
    ss_schedule c = {.kind = SS_SCHED_CONSTANT, .base = 0.01};
    ck_assert_double_eq_tol(ss_schedule_lr(&c, 14999), 0.01, 1e-15);
    ss_schedule w = {.kind = SS_SCHED_CONSTANT, .base = 1.0, .warmup_iters = 4, .warmup_start = 0.2};
    ck_assert_double_eq_tol(ss_schedule_lr(&w, 1), 0.2, 1e-15);
    ck_assert_double_eq_tol(ss_schedule_lr(&w, 3), 0.6, 1e-15);
    ck_assert_double_eq_tol(ss_schedule_lr(&w, 5), 1.0, 1e-15);
    ss_schedule bad = {.kind = SS_SCHED_STEP, .base = 0.01, .step_size = 0, .gamma = 0.1};
    ck_assert_int_eq(ss_schedule_check(&bad), SS_ERR);
    ss_sched_kind k;
    ck_assert_int_eq(ss_sched_kind_parse("cosine", &k), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "cosine"));
}
END_TEST

Suite *suite_optim(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_sgd_constant);
    tcase_add_test(tc, test_sgd_step);
    tcase_add_test(tc, test_sgd_poly);
    tcase_add_test(tc, test_sgd_warmup);
    tcase_add_test(tc, test_adam);
    tcase_add_test(tc, test_adam_wd);
    tcase_add_test(tc, test_sgd_rule);
    tcase_add_test(tc, test_schedule_protocol);
    suite_add_tcase(s, tc);
    return s;
}
