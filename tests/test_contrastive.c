/* FBA-Net contrastive losses and module (harness/contrastive.h): rank weights
 * on the published alpha values and on ties, the similarity clamp, Lmax,
 * Lmin and the multi-positive InfoNCE against hand-derived and NumPy float64
 * values (tolerance 1e-5 relative + 1e-6 absolute on float32 graph results),
 * graph gradients against central finite differences (eps 1e-3 on
 * embeddings in [0.1, 1), whose similarity ranks stay fixed under that
 * perturbation; passes when |analytic - numeric| <= 2e-3 + 2e-2 |numeric|),
 * and the attached module's parameter keys and shapes against FBA-Net's own
 * model (fbanet3d / fbanet2d). */
#include "harness/contrastive.h"
#include "harness/graph.h"
#include "harness/nn/model.h"
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL(ref) (1e-6 + 1e-5 * fabs(ref))

static const ss_cm_params FBA = {SS_CM_FBA, 0.25f, 2.5f, 0.0005f, 0.9995f, 0.1f};
static const ss_cm_params NCE = {SS_CM_INFONCE, 0.25f, 2.5f, 0.0005f, 0.9995f, 0.1f};

typedef int (*builder2)(ss_graph *g, int a, int b);

/* Runs builder(a, b) on parameters a (shape sa) and b (shape sb); writes the
 * whole output (n_out elements) to out. */
static void run2(builder2 f, ss_shape sa, const float *a, ss_shape sb, const float *b, float *out,
                 size_t n_out)
{
    ss_graph *g = graph_new();
    int ta = g_param(g, "a", sa), tb = g_param(g, "b", sb);
    int l = f(g, ta, tb);
    ck_assert_msg(l >= 0, "%s", graph_error(g));
    ss_shape so = graph_shape(g, l);
    ck_assert_int_eq((int)ss_numel(&so), (int)n_out);
    graph_keep(g, l);
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    TU_OK(graph_upload(g, ta, a));
    TU_OK(graph_upload(g, tb, b));
    TU_OK(graph_run(g));
    TU_OK(graph_download(g, l, out));
    graph_free(g);
}

static double run_scalar(builder2 f, ss_shape sa, const float *a, ss_shape sb, const float *b)
{
    float v;
    run2(f, sa, a, sb, b, &v, 1);
    return v;
}

/* Gradient of the scalar builder output w.r.t. both inputs vs central FD. */
static void grad_check2(const char *what, builder2 f, ss_shape sa, const float *a0, ss_shape sb,
                        const float *b0)
{
    ss_graph *g = graph_new();
    int t[2] = {g_param(g, "a", sa), g_param(g, "b", sb)};
    int l = f(g, t[0], t[1]);
    ck_assert_msg(l >= 0, "%s", graph_error(g));
    graph_keep(g, l);
    TU_OK(graph_backward(g, l));
    int gt[2];
    for (int k = 0; k < 2; k++) {
        gt[k] = graph_grad(g, t[k]);
        if (gt[k] >= 0)
            graph_keep(g, gt[k]);
    }
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    size_t n[2] = {(size_t)ss_numel(&sa), (size_t)ss_numel(&sb)};
    float *x[2] = {tu_alloc(n[0]), tu_alloc(n[1])};
    memcpy(x[0], a0, n[0] * sizeof(float));
    memcpy(x[1], b0, n[1] * sizeof(float));
    TU_OK(graph_upload(g, t[0], x[0]));
    TU_OK(graph_upload(g, t[1], x[1]));
    TU_OK(graph_run(g));
    float *gav[2] = {tu_alloc(n[0]), tu_alloc(n[1])};
    for (int k = 0; k < 2; k++)
        if (gt[k] >= 0)
            TU_OK(graph_download(g, gt[k], gav[k]));
    const float eps = 1e-3f;
    for (int k = 0; k < 2; k++) {
        float *ga = gav[k];
        for (size_t i = 0; i < n[k]; i++) {
            float lp, lm, keep = x[k][i];
            x[k][i] = keep + eps;
            TU_OK(graph_upload(g, t[k], x[k]));
            TU_OK(graph_run(g));
            TU_OK(graph_download(g, l, &lp));
            x[k][i] = keep - eps;
            TU_OK(graph_upload(g, t[k], x[k]));
            TU_OK(graph_run(g));
            TU_OK(graph_download(g, l, &lm));
            x[k][i] = keep;
            TU_OK(graph_upload(g, t[k], x[k]));
            double num = ((double)lp - (double)lm) / (2.0 * eps);
            ck_assert_msg(fabs(ga[i] - num) <= 2e-3 + 2e-2 * fabs(num),
                          "%s: input %d element %zu: graph gradient %.6g, finite difference %.6g",
                          what, k, i,
                          (double)ga[i], num);
        }
        free(ga);
    }
    free(x[0]);
    free(x[1]);
    graph_free(g);
}

static float g_alpha;
static int b_rank(ss_graph *g, int a, int b)
{
    (void)b;
    return ss_cm_rank_weights(g, a, g_alpha);
}

START_TEST(test_rank_weights)
{
    /* rows: distinct values, a row of ties, another order */
    const float S[12] = {0.9f, 0.5f, 0.7f, 0.1f, 0.5f, 0.5f, 0.5f, 0.2f, 0.1f, 0.2f, 0.3f, 0.4f};
    ss_shape s = ss_shape5(3, 4, 1, 1, 1), one = ss_shape5(1, 1, 1, 1, 1);
    float dummy = 0, w[12];
    /* 0-based descending ranks: row 0: 0 2 1 3; row 1 (ties by index): 0 1 2 3;
     * row 2: 3 2 1 0; w = exp(-alpha (r - 1)) */
    const int r[12] = {0, 2, 1, 3, 0, 1, 2, 3, 3, 2, 1, 0};
    const float alphas[2] = {0.25f, 2.5f};
    for (int k = 0; k < 2; k++) {
        g_alpha = alphas[k];
        run2(b_rank, s, S, one, &dummy, w, 12);
        for (int i = 0; i < 12; i++) {
            double ref = exp(-(double)alphas[k] * (r[i] - 1));
            ck_assert_msg(fabs(w[i] - ref) <= TOL(ref), "alpha %g entry %d: %g, expected %g",
                          (double)alphas[k], i, (double)w[i], ref);
        }
    }
    /* the published N = 4 ladders: 1.284 1 0.779 0.607 and 12.18 1 0.082 0.0067 */
    g_alpha = 0.25f;
    run2(b_rank, s, S, one, &dummy, w, 12);
    ck_assert_double_eq_tol(w[4], 1.2840254166877414, 1e-6);
    ck_assert_double_eq_tol(w[6], 0.7788007830714049, 1e-6);
    ck_assert_double_eq_tol(w[7], 0.6065306597126334, 1e-6);
    g_alpha = 2.5f;
    run2(b_rank, s, S, one, &dummy, w, 12);
    ck_assert_double_eq_tol(w[4], 12.182493960703473, 1e-5);
    ck_assert_double_eq_tol(w[6], 0.0820849986238988, 1e-6);
    ck_assert_double_eq_tol(w[7], 0.006737946999085467, 1e-7);
}
END_TEST

static int b_sim(ss_graph *g, int a, int b) { return ss_cm_similarity(g, a, b, 0.0005f, 0.9995f); }

START_TEST(test_similarity_clamp)
{
    /* x rows (1,0), (0.6,0.8), (3,4); y rows (2,0), (0,1), (-1,0) */
    const float x[6] = {1, 0, 0.6f, 0.8f, 3, 4}, y[6] = {2, 0, 0, 1, -1, 0};
    float s[9];
    run2(b_sim, ss_shape5(3, 2, 1, 1, 1), x, ss_shape5(3, 2, 1, 1, 1), y, s, 9);
    /* cos: 1 -> 0.9995, 0 -> 0.0005, -1 -> 0.0005; 0.6, 0.8, -0.6 -> 0.0005 */
    const double ref[9] = {0.9995, 0.0005, 0.0005, 0.6, 0.8, 0.0005, 0.6, 0.8, 0.0005};
    for (int i = 0; i < 9; i++)
        ck_assert_msg(fabs(s[i] - ref[i]) <= TOL(ref[i]), "entry %d: %g, expected %g", i,
                      (double)s[i], ref[i]);
}
END_TEST

/* f = (1,0), (0.6,0.8); b = (0,1), (1,0) */
static const float F2[4] = {1, 0, 0.6f, 0.8f}, B2[4] = {0, 1, 1, 0};
/* N = 4, K = 5 embeddings */
static const float F4[20] = {0.177f, 0.313f, 0.821f, 0.624f, 0.185f, 0.49f,  0.531f,
                             0.244f, 0.761f, 0.202f, 0.452f, 0.565f, 0.488f, 0.628f,
                             0.764f, 0.961f, 0.356f, 0.684f, 0.727f, 0.363f};
static const float B4[20] = {0.101f, 0.976f, 0.369f, 0.383f, 0.903f, 0.627f, 0.524f,
                             0.796f, 0.127f, 0.736f, 0.437f, 0.182f, 0.694f, 0.938f,
                             0.286f, 0.667f, 0.368f, 0.768f, 0.75f,  0.297f};

static int b_max(ss_graph *g, int a, int b)
{
    (void)b;
    return ss_cm_sim_max(g, a, &FBA);
}
static int b_min(ss_graph *g, int a, int b) { return ss_cm_sim_min(g, a, b, &FBA); }
static int b_fgbg(ss_graph *g, int a, int b) { return ss_cm_loss_fgbg(g, a, b, &FBA, NULL, NULL); }
static int b_fgbg_pos(ss_graph *g, int a, int b)
{
    int p, n;
    ss_cm_loss_fgbg(g, a, b, &FBA, &p, &n);
    return p;
}
static int b_nce(ss_graph *g, int a, int b) { return ss_cm_loss_fgbg(g, a, b, &NCE, NULL, NULL); }
/* three classes: a, b and b with its rows reversed */
static int b_classes(ss_graph *g, int a, int b)
{
    int rev[4];
    for (int i = 0; i < 4; i++)
        rev[i] = g_slice(g, b, 0, 3 - i, 1);
    int e[3] = {a, b, g_concat(g, 4, rev, 0)};
    return ss_cm_loss_classes(g, 3, e, &FBA, NULL, NULL);
}

START_TEST(test_fba_losses)
{
    ss_shape s2 = ss_shape5(2, 2, 1, 1, 1), s4 = ss_shape5(4, 5, 1, 1, 1);
    /* S(f,f) = [[.9995 .6] [.6 .9995]]: each row's diagonal ranks first:
     * (2 e^0.25 (-log .9995) + 2 (-log .6)) / 4 */
    double lmax = (2 * exp(0.25) * -log(0.9995) + 2 * -log(0.6)) / 4;
    ck_assert_double_eq_tol(run_scalar(b_max, s2, F2, s2, B2), lmax, TOL(lmax));
    /* S(f,b) = [[.0005 .9995] [.8 .6]]: ranks (1 0) (0 1):
     * (-log .9995 + e^2.5 (-log .0005) + e^2.5 (-log .2) - log .4) / 4 */
    double lmin = (-log(0.9995) + exp(2.5) * -log(0.0005) + exp(2.5) * -log(0.2) - log(0.4)) / 4;
    ck_assert_double_eq_tol(run_scalar(b_min, s2, F2, s2, B2), lmin, TOL(lmin));
    /* InfoNCE over {f, b}: anchor f_0: log(e^6 + e^0 + e^10) - 6, ... (NumPy) */
    ck_assert_double_eq_tol(run_scalar(b_nce, s2, F2, s2, B2), 6.069151121767538,
                            TOL(6.069151121767538));
    /* N = 4, K = 5 (NumPy float64 reference with a stable argsort) */
    ck_assert_double_eq_tol(run_scalar(b_fgbg, s4, F4, s4, B4), 9.523874295244601,
                            TOL(9.523874295244601));
    ck_assert_double_eq_tol(run_scalar(b_fgbg_pos, s4, F4, s4, B4), 0.24883040948506793,
                            TOL(0.24883040948506793));
    ck_assert_double_eq_tol(run_scalar(b_nce, s4, F4, s4, B4), 2.461257884319129,
                            TOL(2.461257884319129));
    ck_assert_double_eq_tol(run_scalar(b_classes, s4, F4, s4, B4), 84.80055701314107,
                            TOL(84.80055701314107));
}
END_TEST

/* two decoders with the same heads: 3-D sums, 2-D (FBA) divides once by C(C-1) */
static int b_dec3(ss_graph *g, int a, int b)
{
    ss_cm_heads h[2] = {{.dims = 3, .fg = a, .bg = b}, {.dims = 3, .fg = a, .bg = b}};
    return ss_cm_loss_decoders(g, 2, h, &FBA, NULL, NULL);
}
static int b_dec2(ss_graph *g, int a, int b)
{
    int rev[4];
    for (int i = 0; i < 4; i++)
        rev[i] = g_slice(g, b, 0, 3 - i, 1);
    ss_cm_heads h = {.dims = 2, .fg = -1, .bg = -1, .n_emb = 3,
                     .emb = {a, b, g_concat(g, 4, rev, 0)}};
    ss_cm_heads hh[2] = {h, h};
    return ss_cm_loss_decoders(g, 2, hh, &FBA, NULL, NULL);
}

START_TEST(test_decoder_sum)
{
    ss_shape s4 = ss_shape5(4, 5, 1, 1, 1);
    ck_assert_double_eq_tol(run_scalar(b_dec3, s4, F4, s4, B4), 2 * 9.523874295244601,
                            TOL(2 * 9.523874295244601));
    ck_assert_double_eq_tol(run_scalar(b_dec2, s4, F4, s4, B4), 2 * 84.80055701314107 / 6,
                            TOL(2 * 84.80055701314107 / 6));
}
END_TEST

START_TEST(test_fba_gradients)
{
    ss_shape s4 = ss_shape5(4, 5, 1, 1, 1);
    grad_check2("max", b_max, s4, F4, s4, B4);
    grad_check2("min", b_min, s4, F4, s4, B4);
    grad_check2("fgbg", b_fgbg, s4, F4, s4, B4);
    grad_check2("nce", b_nce, s4, F4, s4, B4);
    grad_check2("classes", b_classes, s4, F4, s4, B4);
}
END_TEST

START_TEST(test_parse_and_errors)
{
    ss_cm_loss_kind k;
    TU_OK(ss_cm_loss_parse("fba", &k));
    ck_assert_int_eq(k, SS_CM_FBA);
    TU_OK(ss_cm_loss_parse("infonce", &k));
    ck_assert_int_eq(k, SS_CM_INFONCE);
    ck_assert_int_eq(ss_cm_loss_parse("ntxent", &k), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "ntxent"));
    ss_graph *g = graph_new();
    int a = g_param(g, "a", ss_shape5(1, 4, 1, 1, 1));
    int e[2] = {a, a};
    ck_assert_int_lt(ss_infonce_groups(g, 2, e, 0.1f), 0);
    ck_assert_ptr_nonnull(strstr(graph_error(g), "at least 2 rows"));
    graph_free(g);
    g = graph_new();
    a = g_param(g, "a", ss_shape5(2, 4, 2, 1, 1));
    ck_assert_int_lt(ss_cm_sim_max(g, a, &FBA), 0);
    ck_assert_ptr_nonnull(strstr(graph_error(g), "(N, K, 1, 1, 1)"));
    graph_free(g);
}
END_TEST

/* Every "decoder1." contrastive key of model `name` built on x, with shapes,
 * equals the keys ss_cm_attach creates on a plain seg tensor. */
static void compare_keys(const char *name, ss_shape xs, ss_shape seg_s, int dims, int classes)
{
    ss_model_cfg cfg = ss_model_defaults(name);
    cfg.classes = classes;
    cfg.dim = 8;
    cfg.patch[0] = xs.d[2];
    cfg.patch[1] = xs.d[3];
    cfg.patch[2] = xs.d[4];
    ss_graph *g1 = graph_new(), *g2 = graph_new();
    ss_nn m1, m2;
    nn_begin(&m1, g1, 1, 1);
    nn_begin(&m2, g2, 1, 1);
    ss_model_out out;
    memset(&out, 0, sizeof out);
    TU_OK(ss_model_build(&m1, &cfg, g_input(g1, "x", xs), &out));
    ss_cm_heads h;
    int seg = g_input(g2, "seg", seg_s);
    ck_assert_msg(ss_cm_attach(&m2, "decoder1.", seg, dims, classes, 8, &h) == SS_OK, "%s",
                  graph_error(g2));
    int n_cm = 0;
    for (int i = 0; i < m1.n; i++) {
        const char *k = graph_name(g1, m1.e[i].t);
        if (strncmp(k, "decoder1.", 9) || (!strstr(k, ".cm.") && !strstr(k, "_mlp.")))
            continue;
        n_cm++;
        int j = nn_find(&m2, k);
        ck_assert_msg(j >= 0, "%s: key %s missing from the attached module", name, k);
        ck_assert_int_eq(m1.e[i].rank, m2.e[j].rank);
        for (int r = 0; r < m1.e[i].rank; r++)
            ck_assert_int_eq(m1.e[i].shape[r], m2.e[j].shape[r]);
    }
    ck_assert_int_eq(n_cm, m2.n);
    ck_assert_int_gt(n_cm, 0);
    if (dims == 3) {
        ss_shape f = graph_shape(g2, h.fg), b = graph_shape(g2, h.bg);
        ck_assert_int_eq(f.d[0], seg_s.d[0]);
        ck_assert_int_eq(f.d[1], 8);
        ck_assert_int_eq(b.d[1], 8);
    } else {
        ck_assert_int_eq(h.n_emb, classes);
        ss_shape e = graph_shape(g2, h.emb[classes - 1]);
        ck_assert_int_eq(e.d[0], seg_s.d[0]);
        ck_assert_int_eq(e.d[1], 8);
    }
    nn_end(&m1);
    nn_end(&m2);
    graph_free(g1);
    graph_free(g2);
}

START_TEST(test_attach_matches_fbanet)
{
    compare_keys("fbanet3d", ss_shape5(2, 1, 16, 16, 16), ss_shape5(2, 2, 16, 16, 16), 3, 2);
    compare_keys("fbanet2d", ss_shape5(1, 1, 1, 256, 256), ss_shape5(1, 4, 1, 256, 256), 2, 4);
}
END_TEST

/* The 3-D module's forward with a zeroed activation conv: the conv output is
 * 0 everywhere, training-mode BN maps a constant channel to its bias 0, so
 * A = 0.5 and fg = ReLU(W 0.5/M + bias), bg = ReLU(W_b 0.5/M + bias_b). */
START_TEST(test_attach_forward)
{
    ss_graph *g = graph_new();
    ss_nn m;
    nn_begin(&m, g, 1, 3);
    int seg = g_input(g, "seg", ss_shape5(2, 2, 4, 4, 4));
    ss_cm_heads h;
    TU_OK(ss_cm_attach(&m, "", seg, 3, 2, 3, &h));
    graph_keep(g, h.fg);
    graph_keep(g, h.bg);
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    TU_OK(nn_init_params(&m));
    float x[256], fg[6], bg[6], w[24], b[3], zero[54] = {0};
    tu_fill_uniform(x, 256, -2, 2, 5);
    int cw = graph_find(g, "cm.activation_head.weight");
    ck_assert_int_ge(cw, 0);
    TU_OK(graph_upload(g, cw, zero));
    TU_OK(graph_upload(g, seg, x));
    TU_OK(graph_run(g));
    TU_OK(graph_download(g, h.fg, fg));
    TU_OK(graph_download(g, h.bg, bg));
    for (int side = 0; side < 2; side++) {
        const float *e = side ? bg : fg;
        TU_OK(graph_download(g, graph_find(g, side ? "b_mlp.0.weight" : "f_mlp.0.weight"), w));
        TU_OK(graph_download(g, graph_find(g, side ? "b_mlp.0.bias" : "f_mlp.0.bias"), b));
        for (int n = 0; n < 2; n++)
            for (int o = 0; o < 3; o++) {
                double acc = b[o];
                for (int k = 0; k < 8; k++)
                    acc += w[o * 8 + k] * 0.5 / 8;
                double ref = acc > 0 ? acc : 0;
                ck_assert_msg(fabs(e[n * 3 + o] - ref) <= 1e-6, "%s[%d][%d] = %g, expected %g",
                              side ? "bg" : "fg", n, o, (double)e[n * 3 + o], ref);
            }
    }
    ck_assert_int_ge(graph_find(g, "cm.bn_head.running_var"), 0);
    nn_end(&m);
    graph_free(g);
}
END_TEST

Suite *suite_contrastive(void)
{
    Suite *s = suite_create("contrastive");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rank_weights);
    tcase_add_test(tc, test_similarity_clamp);
    tcase_add_test(tc, test_fba_losses);
    tcase_add_test(tc, test_decoder_sum);
    tcase_add_test(tc, test_fba_gradients);
    tcase_add_test(tc, test_parse_and_errors);
    tcase_add_test(tc, test_attach_matches_fbanet);
    tcase_add_test(tc, test_attach_forward);
    suite_add_tcase(s, tc);
    return s;
}
