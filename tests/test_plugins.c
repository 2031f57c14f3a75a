/* The mutual-consistency plugins (mcnet, mcnet_plus, fbanet): their resolved
 * protocol constants, the three-decoder consistency pairing against a
 * hand-computed value (tolerance 1e-6), and one full training step of each
 * plugin in 3-D (16x16x16 patches, 2+2) and 2-D (16x16, 2+2) on the CPU:
 * every term finite and reported, the ramp weight of iteration 150 as the
 * 1-based sigmoid ramp gives it, and the total equal to
 * dice_weight*dice + w*cons + cm (relative 1e-5: the terms are float32 graph
 * values summed in a different order). */
#include "harness/losses.h"
#include "kernels/error.h"
#include "methods/method.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ss_spec *resolve(const char *method, int dims, const char *profile, int nsets,
                        const char *const *sets)
{
    const ss_method *m = ss_method_find(method);
    ck_assert_msg(m != NULL, "%s", semiseg_error());
    ss_spec_base b = dims == 3 ? (ss_spec_base){"synth-la", "la", 3, {80, 112, 112}, {4, 18, 18}, "test"}
                               : (ss_spec_base){"synth-acdc", "acdc", 2, {1, 256, 256}, {1, 1, 1}, "val"};
    ss_spec *s = NULL;
    ck_assert_msg(ss_method_resolve_spec(m, &b, profile, nsets, sets, &s) == SS_OK, "%s: %s", method,
                  semiseg_error());
    return s;
}

static void expect(const ss_spec *s, const char *key, const char *value)
{
    const char *v = ss_spec_get(s, key);
    ck_assert_msg(v && !strcmp(v, value), "%s = %s, expected %s", key, v ? v : "(unset)", value);
}

START_TEST(test_protocol_constants)
{
    ss_spec *s = resolve("mcnet", 3, "paper", 0, NULL);
    expect(s, "model.name", "mcnet3d_v1");
    expect(s, "method.dice", "binary");
    expect(s, "method.dice_weight", "0.5");
    expect(s, "method.ce_weight", "0");
    expect(s, "method.temperature", "0.1");
    expect(s, "method.consistency", "1");
    expect(s, "method.ramp_length", "40");
    expect(s, "method.ramp_every", "150");
    expect(s, "method.ramp_index", "one_based");
    expect(s, "method.cm", "0");
    expect(s, "train.iterations", "15000");
    expect(s, "train.schedule", "constant");
    expect(s, "train.lr", "0.01");
    expect(s, "data.batch", "4");
    expect(s, "data.labeled_bs", "2");
    ss_spec_free(s);
    s = resolve("mcnet_plus", 2, "paper", 0, NULL);
    expect(s, "model.name", "mcnet2d_v2");
    expect(s, "method.dice", "half");
    expect(s, "method.dice_first_class", "0");
    expect(s, "method.dice_weight", "1");
    expect(s, "method.consistency", "0.1");
    expect(s, "method.ramp_length", "200");
    expect(s, "train.iterations", "30000");
    expect(s, "data.batch", "24");
    expect(s, "data.labeled_bs", "12");
    ss_spec_free(s);
    s = resolve("fbanet", 3, "paper", 0, NULL);
    expect(s, "model.name", "fbanet3d");
    expect(s, "method.cm", "1");
    expect(s, "method.contrast", "fba");
    expect(s, "method.cm_weight", "1");
    expect(s, "method.alpha_pos", "0.25");
    expect(s, "method.alpha_neg", "2.5");
    expect(s, "method.sim_lo", "0.0005");
    expect(s, "method.sim_hi", "0.9995");
    expect(s, "method.dice_weight", "0.5");
    expect(s, "method.cm_dim", "128");
    ss_spec_free(s);
    s = resolve("fbanet", 2, "paper", 0, NULL);
    expect(s, "model.name", "fbanet2d");
    expect(s, "method.consistency", "1");
    expect(s, "method.ramp_length", "40");
    expect(s, "data.batch", "16");
    expect(s, "data.labeled_bs", "8");
    ss_spec_free(s);
    /* the +CM and Table-3 switches are spec keys */
    const char *sets[2] = {"method.cm=1", "method.contrast=infonce"};
    s = resolve("mcnet", 3, "paper", 2, sets);
    expect(s, "method.cm", "1");
    expect(s, "method.contrast", "infonce");
    ss_spec_free(s);
}
END_TEST

static int b_mc3(ss_graph *g, int x)
{
    int p[3];
    for (int i = 0; i < 3; i++)
        p[i] = g_slice(g, x, 0, i, 1);
    return ss_mutual_consistency(g, 3, p, 0.1f);
}

START_TEST(test_consistency_pairing)
{
    /* P1 = (.6, .4), P2 = (.9, .1), P3 = (.5, .5) (two channels, one voxel);
     * Σ_{i != j} mean((P_i - S(P_j))^2), S(p) = p^10 / (p^10 + (1-p)^10) */
    const float P[6] = {0.6f, 0.4f, 0.9f, 0.1f, 0.5f, 0.5f};
    ss_graph *g = graph_new();
    int x = g_param(g, "x", ss_shape5(3, 2, 1, 1, 1));
    int l = b_mc3(g, x);
    ck_assert_msg(l >= 0, "%s", graph_error(g));
    graph_keep(g, l);
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    TU_OK(graph_upload(g, x, P));
    TU_OK(graph_run(g));
    float v;
    TU_OK(graph_download(g, l, &v));
    ck_assert_double_eq_tol(v, 0.8201260138234467, 1e-6);
    graph_free(g);
    /* ramp on the 1-based iteration: floor(150/150) = 1 of 40 */
    ck_assert_double_eq_tol(ss_ramp_weight(1.0, 150, 150, 40, SS_RAMP_ONE_BASED),
                            0.008624700856245927, 1e-12);
    ck_assert_double_eq_tol(ss_ramp_weight(1.0, 149, 150, 40, SS_RAMP_ONE_BASED), exp(-5.0), 1e-12);
    ck_assert_double_eq_tol(ss_ramp_weight(1.0, 6000, 150, 40, SS_RAMP_ONE_BASED), 1.0, 1e-12);
}
END_TEST

typedef struct step_case {
    const char *method;
    int dims;
    const char *model; /* NULL: the plugin's default */
    const char *contrast;
    int cm;            /* expects contrastive terms */
    double w_ramp;     /* expected ramp weight at iteration 150 */
} step_case;

static double term_of(const ss_loss_terms *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->name[i], name))
            return t->value[i];
    ck_abort_msg("term %s not reported", name);
    return NAN;
}

static void one_step(const step_case *k)
{
    const char *sets[8];
    int ns = 0;
    char model[64], contrast[64];
    sets[ns++] = k->dims == 3 ? "data.patch=16,16,16" : "data.patch=1,16,16";
    sets[ns++] = "data.batch=4";
    sets[ns++] = "data.labeled_bs=2";
    sets[ns++] = "method.cm_dim=16";
    if (k->model) {
        snprintf(model, sizeof model, "model.name=%s", k->model);
        sets[ns++] = model;
    }
    if (k->contrast) {
        snprintf(contrast, sizeof contrast, "method.contrast=%s", k->contrast);
        sets[ns++] = contrast;
    }
    ss_spec *s = resolve(k->method, k->dims, "smoke", ns, sets);
    const ss_method *m = ss_method_find(k->method);
    ss_train_ctx c;
    memset(&c, 0, sizeof c);
    c.spec = s;
    c.be = ss_backend_cpu();
    c.dims = k->dims;
    c.in_ch = 1;
    c.classes = k->dims == 3 ? 2 : 4;
    TU_OK(ss_spec_int3(s, "data.patch", c.patch));
    TU_OK(ss_train_batch_shape(m, s, &c.batch, &c.labeled_bs));
    ck_assert_int_eq(c.batch, 4);
    c.seed = 1337;
    c.iterations = 200;
    c.log = fopen("/dev/null", "w");
    c.ramp = NAN;
    ck_assert_msg(m->build(&c) == SS_OK, "%s build: %s", k->method, semiseg_error());
    size_t vox = (size_t)c.patch[0] * c.patch[1] * c.patch[2];
    ss_batch b = {.n = 4, .labeled_bs = 2, .shape = {1, c.patch[0], c.patch[1], c.patch[2]}};
    b.image = tu_alloc(4 * vox);
    b.label = tu_alloc(4 * vox);
    tu_fill_uniform(b.image, 4 * vox, -1, 1, 11);
    tu_fill_uniform(b.label, 4 * vox, 0, (float)c.classes, 12);
    for (size_t i = 0; i < 4 * vox; i++)
        b.label[i] = floorf(b.label[i]);
    ss_loss_terms t;
    memset(&t, 0, sizeof t);
    ck_assert_msg(m->step(&c, &b, 150, &t) == SS_OK, "%s step: %s", k->method, semiseg_error());
    ck_assert_str_eq(t.name[0], "loss");
    for (int i = 0; i < t.n; i++)
        ck_assert_msg(isfinite(t.value[i]), "%s: term %s = %g", k->method, t.name[i], t.value[i]);
    ck_assert_double_eq_tol(c.ramp, k->w_ramp, 1e-9);
    double wd;
    TU_OK(ss_spec_double(s, "method.dice_weight", &wd));
    double dice = term_of(&t, "dice"), cons = term_of(&t, "cons"), ce = term_of(&t, "ce");
    ck_assert(dice > 0 && cons > 0 && ce > 0);
    double expect_total = wd * dice + c.ramp * cons;
    if (k->cm) {
        double cm = term_of(&t, "cm");
        ck_assert(cm > 0);
        expect_total += cm;
        if (!k->contrast) /* FBA form: cm = pos + neg */
            ck_assert_double_eq_tol(cm, term_of(&t, "cm_pos") + term_of(&t, "cm_neg"),
                                    1e-5 * cm);
    } else {
        for (int i = 0; i < t.n; i++)
            ck_assert_msg(strncmp(t.name[i], "cm", 2), "%s reports %s without cm", k->method,
                          t.name[i]);
    }
    ck_assert_msg(fabs(t.value[0] - expect_total) <= 1e-5 * fabs(expect_total) + 1e-6,
                  "%s %dD: loss %.9g, dice_weight*dice + w*cons (+cm) = %.9g", k->method, k->dims,
                  t.value[0], expect_total);
    ss_infer_net inet;
    TU_OK(m->infer_net(&c, &inet));
    ck_assert_str_eq(inet.head, "seg1");
    m->destroy(&c);
    ck_assert_ptr_null(c.priv);
    fclose(c.log);
    free(b.image);
    free(b.label);
    ss_spec_free(s);
}

static const double W3 = 0.008624700856245927;   /* exp(-5 (39/40)^2) */
static const double W2MC = 0.0007082523558272816; /* 0.1 exp(-5 (199/200)^2) */

START_TEST(test_step_3d)
{
    const step_case cases[] = {
        {"mcnet", 3, NULL, NULL, 0, W3},
        {"mcnet_plus", 3, NULL, NULL, 0, W3},
        {"fbanet", 3, NULL, NULL, 1, W3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        one_step(&cases[i]);
}
END_TEST

START_TEST(test_step_2d)
{
    /* fbanet2d's own network (its contrast Linear sized for the 16x16 patch) */
    const step_case cases[] = {
        {"mcnet", 2, NULL, NULL, 0, W2MC},
        {"mcnet_plus", 2, NULL, NULL, 0, W2MC},
        {"fbanet", 2, NULL, NULL, 1, W3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        one_step(&cases[i]);
}
END_TEST

START_TEST(test_plus_cm_on_mcnet)
{
    /* "+CM": the contrastive module attached to MC-Net's two decoders */
    const char *sets[5] = {"data.patch=16,16,16", "data.batch=4", "data.labeled_bs=2", "method.cm=1",
                           "method.cm_dim=8"};
    ss_spec *s = resolve("mcnet", 3, "smoke", 5, sets);
    const ss_method *m = ss_method_find("mcnet");
    ss_train_ctx c;
    memset(&c, 0, sizeof c);
    c.spec = s;
    c.be = ss_backend_cpu();
    c.dims = 3;
    c.in_ch = 1;
    c.classes = 2;
    c.patch[0] = c.patch[1] = c.patch[2] = 16;
    c.batch = 4;
    c.labeled_bs = 2;
    c.seed = 1;
    c.log = fopen("/dev/null", "w");
    ck_assert_msg(m->build(&c) == SS_OK, "%s", semiseg_error());
    ck_assert_int_ge(nn_find(c.nets[0], "decoder2.f_mlp.0.weight"), 0);
    ck_assert_int_ge(nn_find(c.nets[0], "decoder1.cm.activation_head.weight"), 0);
    ck_assert_int_lt(nn_find(c.nets[0], "decoder3.f_mlp.0.weight"), 0);
    m->destroy(&c);
    fclose(c.log);
    ss_spec_free(s);
    /* a bad switch value is refused with its key */
    const char *bad[2] = {"method.cm=2", "data.patch=16,16,16"};
    s = resolve("mcnet", 3, "smoke", 2, bad);
    memset(&c, 0, sizeof c);
    c.spec = s;
    c.be = ss_backend_cpu();
    c.dims = 3;
    c.in_ch = 1;
    c.classes = 2;
    c.patch[0] = c.patch[1] = c.patch[2] = 16;
    c.batch = 4;
    c.labeled_bs = 2;
    ck_assert_int_eq(m->build(&c), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "method.cm"));
    m->destroy(&c);
    ss_spec_free(s);
}
END_TEST

Suite *suite_plugins(void)
{
    Suite *s = suite_create("plugins");
    TCase *spec = tcase_create("spec"), *st3 = tcase_create("step3d"), *st2 = tcase_create("step2d");
    tcase_add_test(spec, test_protocol_constants);
    tcase_add_test(spec, test_consistency_pairing);
    tcase_add_test(spec, test_plus_cm_on_mcnet);
    tcase_add_test(st3, test_step_3d);
    tcase_add_test(st2, test_step_2d);
    tcase_set_timeout(spec, 120);
    tcase_set_timeout(st3, 120);
    tcase_set_timeout(st2, 120);
    suite_add_tcase(s, spec);
    suite_add_tcase(s, st3);
    suite_add_tcase(s, st2);
    return s;
}
