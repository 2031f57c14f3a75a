/* 2-D U-Net family (harness/nn/unet.c): parameter counts, state_dict keys and
 * PyTorch shapes, output names and shapes, a train-mode step through the
 * reference ops, and input errors. Graph construction only except the step.
 *
 * Parameter counts by arithmetic (ConvBlock(ci, co) = 9 co (ci + co) + 6 co:
 * two conv3x3 with bias and two BN of 2 co each):
 *   encoder  ConvBlock(1,16) 2 544 + (16,32) 14 016 + (32,64) 55 680
 *            + (64,128) 221 952 + (128,256) 886 272              = 1 180 464
 *   decoder  UpBlock(c1, c2) ConvBlock(2 c2, c2) = 27 c2^2 + 6 c2:
 *            443 136 + 110 976 + 27 840 + 7 008 = 588 960; out_conv 16*4*9 + 4 = 580
 *            1x1 conv c1 c2 + c2: 32 896 + 8 256 + 2 080 + 528   =    43 760
 *            transposed 4 c1 c2 + c2: 131 200 + 32 832 + 8 224 + 2 064 = 174 320
 *            bilinear / nearest decoder 588 960 + 580 + 43 760    =   633 300
 *            transposed decoder 588 960 + 580 + 174 320           =   763 860
 *   unet         1 180 464 + 633 300                               = 1 813 764
 *   unet_deconv  1 180 464 + 763 860                               = 1 944 324
 *   mcnet2d_v1   1 180 464 + 633 300 + 763 860                     = 2 577 624
 *   mcnet2d_v2   2 577 624 + 633 300                               = 3 210 924
 *   fbanet2d     contrast module per decoder: activation head 4*4*9 = 144 (no bias)
 *                + Linear 16 384*128 + 128 = 2 097 280  ->  2 097 424;
 *                1 180 464 + 2*633 300 + 763 860 + 3*2 097 424     = 9 503 196
 * (the same totals as PyTorch's sum of numel over the upstream modules'
 * parameters, checked once outside the suite). */
#include "harness/nn/model.h"
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct built {
    ss_graph *g;
    ss_nn m;
    ss_model_out out;
    int x;
    int rc;
} built;

static void build(built *b, const char *name, int train, int n, int c, int d, int h, int w,
                  int has_dropout)
{
    b->g = graph_new();
    nn_begin(&b->m, b->g, train, 7);
    ss_model_cfg cfg = ss_model_defaults(name);
    cfg.has_dropout = has_dropout;
    b->x = g_input(b->g, "x", ss_shape5(n, c, d, h, w));
    b->rc = ss_model_build(&b->m, &cfg, b->x, &b->out);
}

static void release(built *b)
{
    nn_end(&b->m);
    graph_free(b->g);
}

static long long prefix_count(const ss_nn *m, const char *pfx)
{
    long long s = 0;
    for (int i = 0; i < m->n; i++)
        if (m->e[i].is_param && !strncmp(graph_name(m->g, m->e[i].t), pfx, strlen(pfx))) {
            ss_shape sh = graph_shape(m->g, m->e[i].t);
            s += ss_numel(&sh);
        }
    return s;
}

/* Counts above; state_dict sizes (params + running stats + one
 * num_batches_tracked per BN) are those of the upstream modules' state_dict(). */
START_TEST(test_param_counts)
{
    static const struct {
        const char *name;
        int hw;
        long long params;
        int keys;
    } want[] = {
        {"unet", 64, 1813764, 136},       {"unet_deconv", 64, 1944324, 136},
        {"mcnet2d_v1", 64, 2577624, 202}, {"mcnet2d_v2", 64, 3210924, 268},
        {"fbanet2d", 256, 9503196, 277},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        built b;
        build(&b, want[i].name, 1, 2, 1, 1, want[i].hw, want[i].hw, 1);
        ck_assert_msg(b.rc == SS_OK, "%s: %s", want[i].name, semiseg_error());
        ck_assert_msg(nn_param_count(&b.m) == want[i].params, "%s: %lld params, want %lld",
                      want[i].name, nn_param_count(&b.m), want[i].params);
        ck_assert_int_eq(prefix_count(&b.m, "encoder."), 1180464);
        ck_assert_msg(b.m.n + b.m.nbn == want[i].keys, "%s: %d keys, want %d", want[i].name,
                      b.m.n + b.m.nbn, want[i].keys);
        release(&b);
    }
}
END_TEST

/* Key present with this PyTorch shape (rank 1, 2 or 4). */
static void has_key(const ss_nn *m, const char *key, int rank, int s0, int s1, int s2, int s3)
{
    int i = nn_find(m, key);
    ck_assert_msg(i >= 0, "missing key %s", key);
    const ss_nn_entry *e = &m->e[i];
    int want[4] = {s0, s1, s2, s3};
    ck_assert_msg(e->rank == rank, "%s: rank %d, want %d", key, e->rank, rank);
    for (int k = 0; k < rank; k++)
        ck_assert_msg(e->shape[k] == want[k], "%s: dim %d is %d, want %d", key, k, e->shape[k],
                      want[k]);
}

static void no_key(const ss_nn *m, const char *key)
{
    ck_assert_msg(nn_find(m, key) < 0, "unexpected key %s", key);
}

START_TEST(test_keys)
{
    built b;
    build(&b, "unet", 1, 2, 1, 1, 64, 64, 1);
    ck_assert_int_eq(b.rc, SS_OK);
    has_key(&b.m, "encoder.in_conv.conv_conv.0.weight", 4, 16, 1, 3, 3);
    has_key(&b.m, "encoder.in_conv.conv_conv.0.bias", 1, 16, 0, 0, 0);
    has_key(&b.m, "encoder.in_conv.conv_conv.1.running_var", 1, 16, 0, 0, 0);
    has_key(&b.m, "encoder.in_conv.conv_conv.4.weight", 4, 16, 16, 3, 3);
    has_key(&b.m, "encoder.down1.maxpool_conv.1.conv_conv.0.weight", 4, 32, 16, 3, 3);
    has_key(&b.m, "encoder.down4.maxpool_conv.1.conv_conv.5.running_mean", 1, 256, 0, 0, 0);
    has_key(&b.m, "decoder.up1.conv1x1.weight", 4, 128, 256, 1, 1);
    has_key(&b.m, "decoder.up1.conv1x1.bias", 1, 128, 0, 0, 0);
    has_key(&b.m, "decoder.up1.conv.conv_conv.0.weight", 4, 128, 256, 3, 3);
    has_key(&b.m, "decoder.up4.conv.conv_conv.5.weight", 1, 16, 0, 0, 0);
    has_key(&b.m, "decoder.out_conv.weight", 4, 4, 16, 3, 3);
    has_key(&b.m, "decoder.out_conv.bias", 1, 4, 0, 0, 0);
    no_key(&b.m, "decoder.up1.up.weight");
    no_key(&b.m, "encoder.in_conv.conv_conv.3.weight");
    ck_assert_str_eq(b.m.bn[0], "encoder.in_conv.conv_conv.1");
    release(&b);

    build(&b, "unet_deconv", 1, 2, 1, 1, 64, 64, 1);
    ck_assert_int_eq(b.rc, SS_OK);
    has_key(&b.m, "decoder.up1.up.weight", 4, 256, 128, 2, 2); /* (Ci, Co, k, k) */
    has_key(&b.m, "decoder.up4.up.bias", 1, 16, 0, 0, 0);
    no_key(&b.m, "decoder.up1.conv1x1.weight");
    release(&b);

    build(&b, "mcnet2d_v2", 1, 2, 1, 1, 64, 64, 1);
    ck_assert_int_eq(b.rc, SS_OK);
    has_key(&b.m, "decoder1.up1.conv1x1.weight", 4, 128, 256, 1, 1);
    has_key(&b.m, "decoder2.up2.up.weight", 4, 128, 64, 2, 2);
    has_key(&b.m, "decoder3.up3.conv1x1.weight", 4, 32, 64, 1, 1);
    has_key(&b.m, "decoder3.out_conv.weight", 4, 4, 16, 3, 3);
    no_key(&b.m, "decoder.out_conv.weight");
    no_key(&b.m, "decoder2.up1.conv1x1.weight");
    release(&b);

    build(&b, "fbanet2d", 1, 2, 1, 1, 256, 256, 1);
    ck_assert_int_eq(b.rc, SS_OK);
    has_key(&b.m, "decoder1.up1.conv1x1.weight", 4, 128, 256, 1, 1);
    has_key(&b.m, "decoder2.up1.conv1x1.weight", 4, 128, 256, 1, 1);
    has_key(&b.m, "decoder3.up1.up.weight", 4, 256, 128, 2, 2);
    for (int d = 1; d <= 3; d++) {
        has_key(&b.m, nn_name("decoder%d.cm.activation_head.weight", d), 4, 4, 4, 3, 3);
        no_key(&b.m, nn_name("decoder%d.cm.activation_head.bias", d));
        has_key(&b.m, nn_name("decoder%d.cm.mlp.0.weight", d), 2, 128, 16384, 0, 0);
        has_key(&b.m, nn_name("decoder%d.cm.mlp.0.bias", d), 1, 128, 0, 0, 0);
    }
    release(&b);
}
END_TEST

static void out_is(const built *b, int i, const char *name, int n, int c, int d, int h, int w)
{
    ck_assert_int_gt(b->out.n, i);
    ck_assert_str_eq(b->out.name[i], name);
    ss_shape s = graph_shape(b->g, b->out.t[i]);
    int want[5] = {n, c, d, h, w};
    for (int k = 0; k < 5; k++)
        ck_assert_msg(s.d[k] == want[k], "%s dim %d: %d, want %d", name, k, s.d[k], want[k]);
}

START_TEST(test_output_shapes)
{
    static const struct {
        const char *name;
        int nseg;
    } seg[] = {{"unet", 1}, {"unet_deconv", 1}, {"mcnet2d_v1", 2}, {"mcnet2d_v2", 3}};
    for (int train = 0; train < 2; train++)
        for (size_t i = 0; i < sizeof seg / sizeof seg[0]; i++) {
            built b;
            build(&b, seg[i].name, train, 2, 1, 1, 64, 64, 1);
            ck_assert_msg(b.rc == SS_OK, "%s", semiseg_error());
            ck_assert_int_eq(b.out.n, seg[i].nseg);
            for (int k = 0; k < seg[i].nseg; k++)
                out_is(&b, k, nn_name("seg%d", k + 1), 2, 4, 1, 64, 64);
            release(&b);
        }
    built b;
    build(&b, "fbanet2d", 1, 2, 1, 1, 256, 256, 1);
    ck_assert_msg(b.rc == SS_OK, "%s", semiseg_error());
    ck_assert_int_eq(b.out.n, 15);
    for (int d = 1, i = 0; d <= 3; d++) {
        out_is(&b, i++, nn_name("seg%d", d), 2, 4, 1, 256, 256);
        for (int c = 0; c < 4; c++)
            out_is(&b, i++, nn_name("emb%d_%d", d, c), 2, 128, 1, 1, 1);
    }
    release(&b);
}
END_TEST

/* Dropout exists only in train form with has_dropout: the five encoder
 * dropouts add five nodes; eval form has none either way. */
START_TEST(test_dropout_nodes)
{
    int nodes[2][2];
    for (int train = 0; train < 2; train++)
        for (int dr = 0; dr < 2; dr++) {
            built b;
            build(&b, "unet", train, 2, 1, 1, 32, 32, dr);
            ck_assert_int_eq(b.rc, SS_OK);
            nodes[train][dr] = graph_n_nodes(b.g);
            release(&b);
        }
    ck_assert_int_eq(nodes[0][0], nodes[0][1]);
    ck_assert_int_eq(nodes[1][1], nodes[1][0] + 5);
}
END_TEST

/* Pre-BN conv biases ("conv_conv.0/.4.bias") get a gradient that is zero
 * mathematically (batch-statistics BN removes a per-channel shift); only
 * rounding is left. */
static int ends_with(const char *s, const char *suffix)
{
    size_t l = strlen(s), k = strlen(suffix);
    return l >= k && !strcmp(s + l - k, suffix);
}

static int pre_bn_bias(const char *name)
{
    return ends_with(name, "conv_conv.0.bias") || ends_with(name, "conv_conv.4.bias");
}

/* unet, train form with dropout, batch 2 at 32 x 32, CE on random labels,
 * reference ops: finite loss near ln 4 (PyTorch-default init gives small
 * logits), and every parameter gets a gradient, nonzero except the pre-BN
 * biases, whose gradient must be tiny relative to their layer's weight
 * gradient. */
START_TEST(test_train_step)
{
    built b;
    build(&b, "unet", 1, 2, 1, 1, 32, 32, 1);
    ck_assert_msg(b.rc == SS_OK, "%s", semiseg_error());
    int lab = g_input(b.g, "label", ss_shape5(2, 1, 1, 32, 32));
    int loss = g_ce(b.g, b.out.t[0], lab, -100);
    TU_OK(graph_backward(b.g, loss));
    graph_keep(b.g, loss);
    for (int i = 0; i < b.m.n; i++)
        if (b.m.e[i].is_param) {
            int gr = graph_grad(b.g, b.m.e[i].t);
            ck_assert_msg(gr >= 0, "no gradient for %s", graph_name(b.g, b.m.e[i].t));
            graph_keep(b.g, gr);
        }
    TU_OK(graph_plan(b.g, ss_backend_cpu(), SS_PLAN_QUIET | SS_PLAN_REF, NULL));
    TU_OK(nn_init_params(&b.m));
    float *x = tu_alloc(2 * 32 * 32), *l = tu_alloc(2 * 32 * 32);
    tu_fill_uniform(x, 2 * 32 * 32, -1.f, 1.f, 11);
    tu_fill_uniform(l, 2 * 32 * 32, 0.f, 4.f, 12);
    for (int i = 0; i < 2 * 32 * 32; i++)
        l[i] = floorf(l[i]);
    TU_OK(graph_upload(b.g, b.x, x));
    TU_OK(graph_upload(b.g, lab, l));
    TU_OK(graph_run(b.g));
    float lv;
    TU_OK(graph_download(b.g, loss, &lv));
    ck_assert_msg(isfinite(lv) && lv > 0.5f && lv < 5.f, "loss %g", lv);
    double wmax = 0; /* largest |grad| of the weight just before each pre-BN bias */
    for (int i = 0; i < b.m.n; i++) {
        if (!b.m.e[i].is_param)
            continue;
        const char *name = graph_name(b.g, b.m.e[i].t);
        ss_shape s = graph_shape(b.g, b.m.e[i].t);
        size_t n = (size_t)ss_numel(&s);
        float *gv = tu_alloc(n);
        TU_OK(graph_download(b.g, graph_grad(b.g, b.m.e[i].t), gv));
        double mx = 0;
        for (size_t k = 0; k < n; k++) {
            ck_assert_msg(isfinite(gv[k]), "%s: non-finite gradient", name);
            mx = fmax(mx, fabs(gv[k]));
        }
        if (pre_bn_bias(name))
            ck_assert_msg(mx <= 1e-3 * wmax, "%s: |grad| %g vs weight %g", name, mx, wmax);
        else
            ck_assert_msg(mx > 0, "%s: zero gradient", name);
        wmax = mx;
        free(gv);
    }
    free(x);
    free(l);
    release(&b);
}
END_TEST

/* Errors name the model and the problem; nothing is built past them. */
START_TEST(test_errors)
{
    static const struct {
        const char *name;
        int c, d, h, w;
        const char *want;
    } bad[] = {
        {"unet", 1, 1, 60, 64, "divisible by 16"},
        {"unet_deconv", 1, 1, 64, 40, "divisible by 16"},
        {"mcnet2d_v2", 2, 1, 64, 64, "(N, 1, 1, H, W)"},
        {"mcnet2d_v1", 1, 4, 64, 64, "(N, 1, 1, H, W)"},
        {"fbanet2d", 1, 1, 64, 64, "cfg patch 256 x 256"},
        {"fbanet2d", 1, 1, 256, 128, "cfg patch 256 x 256"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        built b;
        build(&b, bad[i].name, 1, 2, bad[i].c, bad[i].d, bad[i].h, bad[i].w, 1);
        ck_assert_int_eq(b.rc, SS_ERR);
        const char *e = semiseg_error();
        ck_assert_msg(strstr(e, bad[i].name) && strstr(e, bad[i].want), "%s: '%s'", bad[i].name,
                      e);
        ck_assert_int_eq(b.m.n, 0);
        release(&b);
    }
    /* more classes than the output table holds (3 seg + 3 * classes emb) */
    ss_graph *g = graph_new();
    ss_nn m;
    nn_begin(&m, g, 1, 1);
    ss_model_cfg cfg = ss_model_defaults("fbanet2d");
    cfg.classes = 5;
    ss_model_out out;
    int x = g_input(g, "x", ss_shape5(1, 1, 1, 256, 256));
    ck_assert_int_eq(ss_model_build(&m, &cfg, x, &out), SS_ERR);
    ck_assert_msg(strstr(semiseg_error(), "outputs"), "%s", semiseg_error());
    nn_end(&m);
    graph_free(g);
}
END_TEST

/* FBA-Net 2-D built for a smaller patch: the contrast Linear's fan-in is the
 * half-resolution map of that patch ((64/2) * (48/2) = 768 inputs). */
START_TEST(test_fbanet2d_patch)
{
    ss_graph *g = graph_new();
    ss_nn m;
    nn_begin(&m, g, 1, 1);
    ss_model_cfg cfg = ss_model_defaults("fbanet2d");
    cfg.patch[1] = 64;
    cfg.patch[2] = 48;
    ss_model_out out;
    int x = g_input(g, "x", ss_shape5(2, 1, 1, 64, 48));
    ck_assert_msg(ss_model_build(&m, &cfg, x, &out) == SS_OK, "%s", semiseg_error());
    int w = nn_find(&m, "decoder1.cm.mlp.0.weight");
    ck_assert_msg(w >= 0, "decoder1.cm.mlp.0.weight missing");
    ck_assert_int_eq(m.e[w].shape[1], 32 * 24);
    ck_assert_int_eq(m.e[w].shape[0], cfg.dim);
    nn_end(&m);
    graph_free(g);
}
END_TEST

Suite *suite_unet(void)
{
    Suite *s = suite_create("unet");
    TCase *tc = tcase_create("unet");
    tcase_add_test(tc, test_param_counts);
    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_fbanet2d_patch);
    tcase_add_test(tc, test_output_shapes);
    tcase_add_test(tc, test_dropout_nodes);
    tcase_add_test(tc, test_train_step);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
