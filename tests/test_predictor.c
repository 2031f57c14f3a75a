/* Suite predictor: the eval-mode predictor graph on tiny patches. Checked:
 * probabilities are the softmax (or sigmoid pair) of the named head's logits
 * from an independently built eval graph with the same weights (1e-6
 * absolute: float softmax vs a double reference of the same logits); weights
 * copied by key from a training graph equal weights loaded from the file that
 * graph saved (exact); a short batch gives the same values as a full one
 * (eval-mode BN is per sample; 1e-6 absolute); unknown heads are refused. */
#include "harness/predictor.h"
#include "harness/weights_h5.h"
#include "kernels/error.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fill(float *x, long n, unsigned seed)
{
    for (long i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
    }
}

/* Logits of HEAD from an eval graph of cfg loaded from PATH. */
static float *ref_logits(const ss_model_cfg *cfg, int batch, const char *head, const char *path,
                         const float *x, ss_shape *hs)
{
    ss_graph *g = graph_new();
    ss_nn m;
    nn_begin(&m, g, 0, 0);
    ss_shape xs = {{batch, cfg->in_ch, cfg->patch[0], cfg->patch[1], cfg->patch[2]}};
    int xi = g_input(g, "input", xs);
    ss_model_out mo;
    ck_assert_msg(ss_model_build(&m, cfg, xi, &mo) == 0, "%s", semiseg_error());
    int t = -1;
    for (int k = 0; k < mo.n; k++)
        if (!strcmp(mo.name[k], head))
            t = mo.t[k];
    ck_assert(t >= 0);
    graph_keep(g, t);
    ck_assert(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL) == 0);
    ck_assert_msg(ss_weights_load(&m, path, 1) == 0, "%s", semiseg_error());
    *hs = graph_shape(g, t);
    float *y = malloc((size_t)ss_numel(hs) * sizeof(float));
    ck_assert(graph_upload(g, xi, x) == 0 && graph_run(g) == 0 && graph_download(g, t, y) == 0);
    nn_end(&m);
    graph_free(g);
    return y;
}

/* A training-mode graph of cfg with seed-7 weights, saved to path. */
static void train_graph(const ss_model_cfg *cfg, int batch, ss_graph **g, ss_nn *m, const char *path)
{
    *g = graph_new();
    nn_begin(m, *g, 1, 7);
    ss_shape xs = {{batch, cfg->in_ch, cfg->patch[0], cfg->patch[1], cfg->patch[2]}};
    int xi = g_input(*g, "input", xs);
    ss_model_out mo;
    ck_assert_msg(ss_model_build(m, cfg, xi, &mo) == 0, "%s", semiseg_error());
    for (int k = 0; k < mo.n; k++)
        graph_keep(*g, mo.t[k]);
    ck_assert(graph_plan(*g, ss_backend_cpu(), SS_PLAN_QUIET, NULL) == 0);
    ck_assert(nn_init_params(m) == 0);
    /* move BN running statistics off their defaults so copying them matters */
    for (int i = 0; i < m->n; i++)
        if (!m->e[i].is_param) {
            ss_shape s = graph_shape(*g, m->e[i].t);
            long n = ss_numel(&s);
            float *b = malloc((size_t)n * sizeof(float));
            for (long j = 0; j < n; j++)
                b[j] = 0.5f + 0.01f * (float)(j % 7);
            graph_upload(*g, m->e[i].t, b);
            free(b);
        }
    ck_assert_msg(ss_weights_save(m, path, 3) == 0, "%s", semiseg_error());
}

static void check_model(const char *name, int classes, int in_ch, const int patch[3],
                        const char *head)
{
    char path[] = "/tmp/ss_test_predictor_XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ss_model_cfg cfg = ss_model_defaults(name);
    cfg.classes = classes;
    cfg.in_ch = in_ch;
    memcpy(cfg.patch, patch, sizeof cfg.patch);
    const int B = 2;
    ss_graph *tg;
    ss_nn tm;
    train_graph(&cfg, B, &tg, &tm, path);

    ss_predictor_opts o = {cfg, B, head, ss_backend_cpu(), NULL};
    ss_predictor *pc, *pf;
    ck_assert_msg(ss_predictor_create(&o, &pc) == 0, "%s", semiseg_error());
    ck_assert_msg(ss_predictor_create(&o, &pf) == 0, "%s", semiseg_error());
    const int K = ss_predictor_classes(pc);
    ck_assert_int_eq(K, classes == 1 ? 2 : classes);
    long vol = (long)patch[0] * patch[1] * patch[2];
    float *x = malloc((size_t)B * in_ch * vol * sizeof(float));
    float *p0 = malloc((size_t)B * K * vol * sizeof(float)), *p1 = malloc(sizeof(float) * B * K * vol),
          *p2 = malloc(sizeof(float) * B * K * vol);
    fill(x, (long)B * in_ch * vol, 3);
    const int in_shape[4] = {in_ch, patch[0], patch[1], patch[2]};

    /* default init differs from the seed-7 weights */
    ck_assert(ss_predictor_predict(pc, B, in_shape, x, p0) == 0);
    ck_assert_msg(ss_predictor_copy_from(pc, &tm) == 0, "%s", semiseg_error());
    ck_assert_msg(ss_predictor_load(pf, path, 1) == 0, "%s", semiseg_error());
    ck_assert(ss_predictor_predict(pc, B, in_shape, x, p1) == 0);
    ck_assert(ss_predictor_predict(pf, B, in_shape, x, p2) == 0);
    ck_assert_msg(!memcmp(p1, p2, sizeof(float) * B * K * vol), "%s: copy != load", name);
    ck_assert_msg(memcmp(p0, p1, sizeof(float) * B * K * vol), "%s: copy had no effect", name);

    /* against the head's logits */
    ss_shape hs;
    float *y = ref_logits(&cfg, B, head ? head : "seg1", path, x, &hs);
    double worst = 0;
    for (int b = 0; b < B; b++)
        for (long i = 0; i < vol; i++) {
            double want[16], s = 0;
            if (hs.d[1] == 1) {
                double q = 1.0 / (1.0 + exp(-(double)y[(long)b * vol + i]));
                want[0] = 1 - q, want[1] = q;
            } else {
                double mx = -INFINITY;
                for (int k = 0; k < K; k++)
                    mx = fmax(mx, y[((long)b * K + k) * vol + i]);
                for (int k = 0; k < K; k++)
                    s += want[k] = exp(y[((long)b * K + k) * vol + i] - mx);
                for (int k = 0; k < K; k++)
                    want[k] /= s;
            }
            for (int k = 0; k < K; k++)
                worst = fmax(worst, fabs(p1[((long)b * K + k) * vol + i] - want[k]));
        }
    ck_assert_msg(worst <= 1e-6, "%s head %s: probabilities off by %g", name, head ? head : "seg1",
                  worst);

    /* short batch: sample 1 alone gives the same values as in the full batch */
    ck_assert(ss_predictor_predict(pc, 1, in_shape, x + (long)in_ch * vol, p2) == 0);
    double bw = 0;
    for (long i = 0; i < K * vol; i++)
        bw = fmax(bw, fabs(p2[i] - p1[(long)K * vol + i]));
    ck_assert_msg(bw <= 1e-6, "%s: short batch differs by %g", name, bw);
    ck_assert_int_eq(ss_predictor_predict(pc, B + 1, in_shape, x, p2), -1);

    free(x), free(p0), free(p1), free(p2), free(y);
    ss_predictor_free(pc);
    ss_predictor_free(pf);
    nn_end(&tm);
    graph_free(tg);
    unlink(path);
}

START_TEST(predictor_vnet)
{
    check_model("vnet", 2, 1, (const int[]){16, 16, 16}, NULL);
}
END_TEST

START_TEST(predictor_sigmoid_head_and_second_decoder)
{
    check_model("vnet_sdf", 1, 1, (const int[]){16, 16, 16}, NULL);
    check_model("mcnet3d_v1", 2, 1, (const int[]){16, 16, 16}, "seg2");
}
END_TEST

START_TEST(predictor_unet_2d)
{
    check_model("unet", 4, 1, (const int[]){1, 32, 32}, NULL);
}
END_TEST

START_TEST(predictor_errors)
{
    ss_model_cfg cfg = ss_model_defaults("vnet");
    cfg.patch[0] = cfg.patch[1] = cfg.patch[2] = 16;
    ss_predictor_opts o = {cfg, 1, "seg9", ss_backend_cpu(), NULL};
    ss_predictor *p;
    ck_assert_int_eq(ss_predictor_create(&o, &p), -1);
    ck_assert_msg(strstr(semiseg_error(), "seg9") && strstr(semiseg_error(), "seg1"), "%s",
                  semiseg_error());
    o.head = NULL;
    o.cfg.name = "no_such_model";
    ck_assert_int_eq(ss_predictor_create(&o, &p), -1);
    o.cfg = cfg;
    ck_assert_int_eq(ss_predictor_create(&o, &p), 0);
    ck_assert_int_eq(ss_predictor_load(p, "/nonexistent/w.h5", 1), -1);
    ck_assert_msg(strstr(semiseg_error(), "/nonexistent/w.h5"), "%s", semiseg_error());
    float x[4096] = {0}, y[8192];
    ck_assert_int_eq(ss_predictor_predict(p, 1, (const int[]){1, 16, 16, 8}, x, y), -1);
    ss_predictor_free(p);
}
END_TEST

Suite *suite_predictor(void)
{
    Suite *s = suite_create("predictor");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, predictor_vnet);
    tcase_add_test(t, predictor_sigmoid_head_and_second_decoder);
    tcase_add_test(t, predictor_unet_2d);
    tcase_add_test(t, predictor_errors);
    suite_add_tcase(s, t);
    return s;
}
