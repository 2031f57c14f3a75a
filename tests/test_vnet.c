/* V-Net family and SASSNet discriminator builders (harness/nn/vnet.c,
 * sassnet_disc.c): trainable parameter counts against protocol-3d.md §1.9,
 * state_dict keys and PyTorch shapes against the upstream modules, output
 * shapes, a train-mode forward + backward through the reference kernels, and
 * construction errors. Count/key tests only build graphs (no tensor data). */
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
    int x, rc;
} built;

static void build(built *b, const ss_model_cfg *cfg, int n, int d, int h, int w, int train)
{
    b->g = graph_new();
    ck_assert_ptr_nonnull(b->g);
    nn_begin(&b->m, b->g, train, 7);
    int c = cfg->in_ch + (strcmp(cfg->name, "sassnet_disc") ? 0 : 1);
    b->x = g_input(b->g, "x", ss_shape5(n, c, d, h, w));
    b->rc = ss_model_build(&b->m, cfg, b->x, &b->out);
}

static void build_ok(built *b, const ss_model_cfg *cfg, int n, int d, int h, int w, int train)
{
    build(b, cfg, n, d, h, w, train);
    ck_assert_msg(b->rc == SS_OK, "build %s: %s", cfg->name, semiseg_error());
}

static void drop(built *b)
{
    nn_end(&b->m);
    graph_free(b->g);
}

static int out_of(const built *b, const char *name)
{
    for (int i = 0; i < b->out.n; i++)
        if (!strcmp(b->out.name[i], name))
            return b->out.t[i];
    return -1;
}

/* Counts at the LA patch (112x112x80), batch norm, dropout on. */
static long long count(const char *name, int classes, int p0, int p1, int p2)
{
    ss_model_cfg cfg = ss_model_defaults(name);
    cfg.classes = classes;
    cfg.patch[0] = p0;
    cfg.patch[1] = p1;
    cfg.patch[2] = p2;
    built b;
    build_ok(&b, &cfg, 2, p0, p1, p2, 1);
    long long n = nn_param_count(&b.m);
    drop(&b);
    return n;
}

START_TEST(test_param_counts)
{
    ck_assert_int_eq(count("vnet", 2, 112, 112, 80), 9448866);
    ck_assert_int_eq(count("vnet_sdf", 1, 112, 112, 80), 9448866);
    ck_assert_int_eq(count("mcnet3d_v1", 2, 112, 112, 80), 12347716);
    ck_assert_int_eq(count("mcnet3d_v2", 2, 112, 112, 80), 15246566);
    ck_assert_int_eq(count("fbanet3d", 2, 112, 112, 80), 111585422);
    ck_assert_int_eq(count("fbanet3d", 2, 96, 96, 96), 100182158);
    ck_assert_int_eq(count("sassnet_disc", 2, 112, 112, 80), 11020290);
}
END_TEST

/* Every key in `have` exists (with the given PyTorch shape when rank > 0),
 * no key in `lack` does. */
typedef struct key {
    const char *k;
    int rank, s[5];
} key;

static void check_keys(const built *b, const key *have, const char *const *lack)
{
    for (; have && have->k; have++) {
        int i = nn_find(&b->m, have->k);
        ck_assert_msg(i >= 0, "missing key %s", have->k);
        if (have->rank) {
            const ss_nn_entry *e = &b->m.e[i];
            ck_assert_msg(e->rank == have->rank, "%s: rank %d", have->k, e->rank);
            for (int r = 0; r < e->rank; r++)
                ck_assert_msg(e->shape[r] == have->s[r], "%s: dim %d is %d, want %d", have->k, r,
                              e->shape[r], have->s[r]);
        }
    }
    for (; lack && *lack; lack++)
        ck_assert_msg(nn_find(&b->m, *lack) < 0, "unexpected key %s", *lack);
}

static ss_model_cfg cfg_of(const char *name, int norm)
{
    ss_model_cfg c = ss_model_defaults(name);
    c.norm = norm;
    c.patch[0] = c.patch[1] = 32;
    c.patch[2] = 16;
    return c;
}

/* UA-MT/DTC VNet keys with batch norm; the entry count is the state_dict
 * length without num_batches_tracked: 30 convs x 2 + 29 BN x 4 = 176. */
START_TEST(test_keys_vnet)
{
    static const key have[] = {
        {"block_one.conv.0.weight", 5, {16, 1, 3, 3, 3}},
        {"block_one.conv.0.bias", 1, {16}},
        {"block_one.conv.1.weight", 1, {16}},
        {"block_one.conv.1.bias", 1, {16}},
        {"block_one.conv.1.running_mean", 1, {16}},
        {"block_one.conv.1.running_var", 1, {16}},
        {"block_one_dw.conv.0.weight", 5, {32, 16, 2, 2, 2}},
        {"block_one_dw.conv.1.running_var", 1, {32}},
        {"block_two.conv.3.weight", 5, {32, 32, 3, 3, 3}},
        {"block_two.conv.4.running_mean", 1, {32}},
        {"block_five.conv.6.weight", 5, {256, 256, 3, 3, 3}},
        {"block_five.conv.7.bias", 1, {256}},
        {"block_five_up.conv.0.weight", 5, {256, 128, 2, 2, 2}},
        {"block_five_up.conv.0.bias", 1, {128}},
        {"block_five_up.conv.1.running_var", 1, {128}},
        {"block_eight_up.conv.0.weight", 5, {32, 16, 2, 2, 2}},
        {"block_nine.conv.0.weight", 5, {16, 16, 3, 3, 3}},
        {"block_nine.conv.1.weight", 1, {16}},
        {"out_conv.weight", 5, {2, 16, 1, 1, 1}},
        {"out_conv.bias", 1, {2}},
        {NULL, 0, {0}},
    };
    static const char *const lack[] = {"block_one.conv.2.weight", "block_nine.conv.3.weight",
                                       "out_conv2.weight", "encoder.block_one.conv.0.weight",
                                       NULL};
    ss_model_cfg cfg = cfg_of("vnet", SS_NORM_BATCH);
    built b;
    build_ok(&b, &cfg, 2, 32, 32, 16, 1);
    check_keys(&b, have, lack);
    ck_assert_int_eq(b.m.n, 176);
    ck_assert_int_eq(b.m.nbn, 29);
    ck_assert_str_eq(b.m.bn[0], "block_one.conv.1");
    /* The first and last entries follow the state_dict order. */
    ck_assert_str_eq(graph_name(b.g, b.m.e[0].t), "block_one.conv.0.weight");
    ck_assert_str_eq(graph_name(b.g, b.m.e[b.m.n - 1].t), "out_conv.bias");
    drop(&b);

    static const key sdf[] = {
        {"out_conv.weight", 5, {1, 16, 1, 1, 1}},
        {"out_conv2.weight", 5, {1, 16, 1, 1, 1}},
        {"out_conv2.bias", 1, {1}},
        {"block_five_up.conv.0.weight", 5, {256, 128, 2, 2, 2}},
        {NULL, 0, {0}},
    };
    cfg = cfg_of("vnet_sdf", SS_NORM_BATCH);
    cfg.classes = 1;
    build_ok(&b, &cfg, 2, 32, 32, 16, 1);
    check_keys(&b, sdf, NULL);
    ck_assert_int_eq(b.m.n, 178);
    drop(&b);
}
END_TEST

/* Sequential indices when the norm layer is absent (none), parameterless
 * (instance norm) or has weight/bias only (group norm). */
START_TEST(test_keys_norm_options)
{
    built b;
    ss_model_cfg cfg = cfg_of("vnet", SS_NORM_NONE);
    static const key none_have[] = {
        {"block_one.conv.0.weight", 0, {0}},   {"block_two.conv.2.weight", 0, {0}},
        {"block_five.conv.4.weight", 0, {0}},  {"block_one_dw.conv.0.weight", 0, {0}},
        {"block_five_up.conv.0.weight", 0, {0}}, {NULL, 0, {0}},
    };
    static const char *const none_lack[] = {"block_one.conv.1.weight", "block_two.conv.3.weight",
                                            "block_one_dw.conv.1.weight", NULL};
    build_ok(&b, &cfg, 1, 32, 32, 16, 1);
    check_keys(&b, none_have, none_lack);
    ck_assert_int_eq(b.m.n, 60);
    /* 29 BN layers gone: 2 x (3 x 16 + 6 x 32 + 8 x 64 + 8 x 128 + 4 x 256). */
    ck_assert_int_eq(nn_param_count(&b.m),
                     9448866 - 2 * (16 * 3 + 32 * 6 + 64 * 8 + 128 * 8 + 256 * 4));
    drop(&b);

    cfg = cfg_of("vnet", SS_NORM_INSTANCE);
    static const key inst_have[] = {
        {"block_two.conv.3.weight", 0, {0}}, {"block_five.conv.6.weight", 0, {0}}, {NULL, 0, {0}}};
    static const char *const inst_lack[] = {"block_one.conv.1.weight", "block_two.conv.2.weight",
                                            NULL};
    build_ok(&b, &cfg, 1, 32, 32, 16, 1);
    check_keys(&b, inst_have, inst_lack);
    ck_assert_int_eq(b.m.n, 60);
    drop(&b);

    cfg = cfg_of("mcnet3d_v2", SS_NORM_GROUP);
    static const key grp_have[] = {
        {"encoder.block_two.conv.4.weight", 1, {32}},
        {"encoder.block_two.conv.4.bias", 1, {32}},
        {"decoder2.block_six_up.conv.1.weight", 5, {64, 128, 3, 3, 3}},
        {"decoder2.block_six_up.conv.2.weight", 1, {64}},
        {NULL, 0, {0}}};
    static const char *const grp_lack[] = {"encoder.block_two.conv.4.running_mean",
                                           "decoder2.block_six_up.conv.2.running_var", NULL};
    build_ok(&b, &cfg, 1, 32, 32, 16, 1);
    check_keys(&b, grp_have, grp_lack);
    ck_assert_int_eq(b.m.nbn, 0);
    ck_assert_int_eq(nn_param_count(&b.m), 15246566);
    drop(&b);

    /* Upsampling_function with norm none: Upsample 0, Conv 1, ReLU 2. */
    cfg = cfg_of("mcnet3d_v1", SS_NORM_NONE);
    static const key up_have[] = {{"decoder1.block_five_up.conv.0.weight", 0, {0}},
                                  {"decoder2.block_five_up.conv.1.weight", 0, {0}},
                                  {NULL, 0, {0}}};
    static const char *const up_lack[] = {"decoder1.block_five_up.conv.1.weight",
                                          "decoder2.block_five_up.conv.0.weight",
                                          "decoder2.block_five_up.conv.2.weight", NULL};
    build_ok(&b, &cfg, 1, 32, 32, 16, 1);
    check_keys(&b, up_have, up_lack);
    drop(&b);
}
END_TEST

/* MC-Net keys: "encoder." + "decoder<d>."; modes 1/2 put the conv at
 * Sequential index 1 and its BN at 2. */
START_TEST(test_keys_mcnet)
{
    static const key have[] = {
        {"encoder.block_one.conv.0.weight", 5, {16, 1, 3, 3, 3}},
        {"encoder.block_one.conv.1.running_var", 1, {16}},
        {"encoder.block_four_dw.conv.0.weight", 5, {256, 128, 2, 2, 2}},
        {"encoder.block_five.conv.7.running_mean", 1, {256}},
        {"decoder1.block_five_up.conv.0.weight", 5, {256, 128, 2, 2, 2}},
        {"decoder1.block_five_up.conv.1.running_var", 1, {128}},
        {"decoder2.block_five_up.conv.1.weight", 5, {128, 256, 3, 3, 3}},
        {"decoder2.block_five_up.conv.1.bias", 1, {128}},
        {"decoder2.block_five_up.conv.2.weight", 1, {128}},
        {"decoder2.block_eight_up.conv.2.running_var", 1, {16}},
        {"decoder3.block_five_up.conv.1.weight", 5, {128, 256, 3, 3, 3}},
        {"decoder3.block_five_up.conv.2.running_mean", 1, {128}},
        {"decoder3.block_nine.conv.1.running_var", 1, {16}},
        {"decoder1.out_conv.weight", 5, {2, 16, 1, 1, 1}},
        {"decoder3.out_conv.bias", 1, {2}},
        {NULL, 0, {0}},
    };
    static const char *const lack[] = {"block_one.conv.0.weight",
                                       "decoder2.block_five_up.conv.0.weight",
                                       "decoder3.block_five_up.conv.3.weight",
                                       "decoder4.out_conv.weight", "out_conv.weight", NULL};
    ss_model_cfg cfg = cfg_of("mcnet3d_v2", SS_NORM_BATCH);
    built b;
    build_ok(&b, &cfg, 2, 32, 32, 16, 0);
    check_keys(&b, have, lack);
    ck_assert_int_eq(b.m.nbn, 16 + 3 * 13);
    drop(&b);
}
END_TEST

/* FBA-Net keys (FBAnet / ContraModule) and the Linear fan-in. */
START_TEST(test_keys_fbanet)
{
    static const key have[] = {
        {"encoder.block_one.conv.0.weight", 5, {16, 1, 3, 3, 3}},
        {"decoder3.block_five_up.conv.1.weight", 5, {128, 256, 3, 3, 3}},
        {"decoder1.cm.activation_head.weight", 5, {1, 2, 3, 3, 3}},
        {"decoder2.cm.bn_head.weight", 1, {1}},
        {"decoder2.cm.bn_head.bias", 1, {1}},
        {"decoder3.cm.bn_head.running_mean", 1, {1}},
        {"decoder3.cm.bn_head.running_var", 1, {1}},
        {"decoder1.f_mlp.0.weight", 2, {128, 2048}},
        {"decoder1.f_mlp.0.bias", 1, {128}},
        {"decoder3.b_mlp.0.weight", 2, {128, 2048}},
        {"decoder3.b_mlp.0.bias", 1, {128}},
        {NULL, 0, {0}},
    };
    static const char *const lack[] = {"decoder1.cm.activation_head.bias",
                                       "decoder1.f_mlp.1.weight", NULL};
    ss_model_cfg cfg = cfg_of("fbanet3d", SS_NORM_BATCH);
    built b;
    build_ok(&b, &cfg, 2, 32, 32, 16, 1);
    check_keys(&b, have, lack);
    ck_assert_str_eq(b.m.bn[b.m.nbn - 1], "decoder3.cm.bn_head");
    ck_assert_str_eq(graph_name(b.g, b.m.e[b.m.n - 1].t), "decoder3.b_mlp.0.bias");
    drop(&b);

    /* The contrastive BN stays a BatchNorm3d without batch norm elsewhere. */
    cfg = cfg_of("fbanet3d", SS_NORM_NONE);
    build_ok(&b, &cfg, 2, 32, 32, 16, 1);
    ck_assert_int_eq(b.m.nbn, 3);
    ck_assert_int_ge(nn_find(&b.m, "decoder1.cm.bn_head.running_var"), 0);
    drop(&b);
}
END_TEST

START_TEST(test_keys_disc)
{
    static const key have[] = {
        {"conv0.weight", 5, {64, 1, 4, 4, 4}},   {"conv0.bias", 1, {64}},
        {"conv1.weight", 5, {64, 1, 4, 4, 4}},   {"conv2.weight", 5, {128, 64, 4, 4, 4}},
        {"conv3.weight", 5, {256, 128, 4, 4, 4}}, {"conv4.weight", 5, {512, 256, 4, 4, 4}},
        {"conv4.bias", 1, {512}},                {"classifier.weight", 2, {2, 512}},
        {"classifier.bias", 1, {2}},             {NULL, 0, {0}},
    };
    ss_model_cfg cfg = cfg_of("sassnet_disc", SS_NORM_BATCH);
    built b;
    build_ok(&b, &cfg, 2, 32, 32, 16, 1);
    check_keys(&b, have, NULL);
    ck_assert_int_eq(b.m.n, 12);
    drop(&b);
}
END_TEST

static void want_shape(const built *b, const char *name, int n, int c, int d, int h, int w)
{
    int t = out_of(b, name);
    ck_assert_msg(t >= 0, "no output %s", name);
    ss_shape s = graph_shape(b->g, t), e = ss_shape5(n, c, d, h, w);
    ck_assert_msg(ss_shape_eq(&s, &e), "%s is %s", name, ss_shape_str(&s));
}

START_TEST(test_output_shapes)
{
    built b;
    ss_model_cfg cfg = cfg_of("vnet", SS_NORM_BATCH);
    for (int train = 0; train < 2; train++) {
        build_ok(&b, &cfg, 2, 32, 32, 16, train);
        ck_assert_int_eq(b.out.n, 1);
        want_shape(&b, "seg1", 2, 2, 32, 32, 16);
        drop(&b);
    }

    cfg = cfg_of("vnet_sdf", SS_NORM_BATCH);
    cfg.classes = 1;
    build_ok(&b, &cfg, 2, 32, 32, 16, 1);
    ck_assert_int_eq(b.out.n, 2);
    ck_assert_str_eq(b.out.name[0], "sdf");
    want_shape(&b, "sdf", 2, 1, 32, 32, 16);
    want_shape(&b, "seg1", 2, 1, 32, 32, 16);
    drop(&b);

    cfg = cfg_of("mcnet3d_v1", SS_NORM_BATCH);
    build_ok(&b, &cfg, 2, 32, 32, 16, 1);
    ck_assert_int_eq(b.out.n, 2);
    want_shape(&b, "seg1", 2, 2, 32, 32, 16);
    want_shape(&b, "seg2", 2, 2, 32, 32, 16);
    drop(&b);

    cfg = cfg_of("mcnet3d_v2", SS_NORM_BATCH);
    cfg.classes = 3;
    build_ok(&b, &cfg, 2, 32, 32, 16, 0);
    ck_assert_int_eq(b.out.n, 3);
    for (int d = 1; d <= 3; d++)
        want_shape(&b, d == 1 ? "seg1" : d == 2 ? "seg2" : "seg3", 2, 3, 32, 32, 16);
    drop(&b);

    cfg = cfg_of("fbanet3d", SS_NORM_BATCH);
    cfg.dim = 8;
    build_ok(&b, &cfg, 2, 32, 32, 16, 1);
    ck_assert_int_eq(b.out.n, 9);
    static const char *const names[9] = {"seg1", "fg1", "bg1", "seg2", "fg2",
                                         "bg2",  "seg3", "fg3", "bg3"};
    for (int i = 0; i < 9; i++) {
        ck_assert_str_eq(b.out.name[i], names[i]);
        if (i % 3 == 0)
            want_shape(&b, names[i], 2, 2, 32, 32, 16);
        else
            want_shape(&b, names[i], 2, 8, 1, 1, 1);
    }
    drop(&b);

    cfg = cfg_of("sassnet_disc", SS_NORM_BATCH);
    build_ok(&b, &cfg, 2, 32, 32, 16, 1);
    ck_assert_int_eq(b.out.n, 1);
    want_shape(&b, "logits", 2, 2, 1, 1, 1);
    drop(&b);
    build_ok(&b, &cfg, 1, 112, 112, 80, 0);
    want_shape(&b, "logits", 1, 2, 1, 1, 1);
    drop(&b);
}
END_TEST

/* V-Net in train mode (batch-statistics BN, both Dropout3d active) through the
 * reference kernels on a 2x1x32x16x16 batch with CE against random labels:
 * the loss is finite and near ln 2 (outputs start small), BN running stats
 * move, and every parameter gets a finite gradient: clearly nonzero (max |g|
 * > 1e-5; the smallest seen is ~7e-4) except the biases of convolutions that
 * feed a train-mode BN, whose gradient is zero in exact arithmetic (BN
 * subtracts the batch mean), seen here at rounding level (<= 1e-8), and
 * asserted below 1e-6. Not 1x1x16x16x16: its bottleneck is 1x1x1, and
 * train-mode BN over one value per channel (PyTorch refuses it) or two (the
 * normalized output is +-1 whatever the input) passes no usable gradient to
 * the layers below it. */
START_TEST(test_vnet_train_step)
{
    ss_model_cfg cfg = ss_model_defaults("vnet");
    built b;
    build_ok(&b, &cfg, 2, 32, 16, 16, 1);
    ss_graph *g = b.g;
    int lab = g_input(g, "labels", ss_shape5(2, 1, 32, 16, 16));
    int loss = g_ce(g, out_of(&b, "seg1"), lab, -100);
    graph_keep(g, loss);
    TU_OK(graph_backward(g, loss));
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET | SS_PLAN_REF, NULL));
    TU_OK(nn_init_params(&b.m));
    size_t nv = 2 * 32 * 16 * 16;
    float *xv = tu_alloc(nv), *lv = tu_alloc(nv);
    tu_fill_uniform(xv, nv, -1.f, 1.f, 11);
    tu_fill_uniform(lv, nv, 0.f, 2.f, 12);
    for (size_t i = 0; i < nv; i++)
        lv[i] = floorf(lv[i]);
    TU_OK(graph_upload(g, b.x, xv));
    TU_OK(graph_upload(g, lab, lv));
    TU_OK(graph_run(g));
    float l;
    TU_OK(graph_download(g, loss, &l));
    ck_assert_msg(isfinite(l) && fabsf(l - logf(2.f)) < 0.2f, "loss %g", l);
    int params = 0, before_bn = 0;
    for (int i = 0; i < b.m.n; i++) {
        const ss_nn_entry *e = &b.m.e[i];
        ss_shape s = graph_shape(g, e->t);
        size_t cnt = (size_t)ss_numel(&s);
        float *v = tu_alloc(cnt);
        const char *nm = graph_name(g, e->t);
        if (e->is_param) {
            int gt = graph_grad(g, e->t);
            ck_assert_msg(gt >= 0, "%s has no gradient", nm);
            TU_OK(graph_download(g, gt, v));
        } else {
            TU_OK(graph_download(g, e->t, v));
        }
        double mx = 0;
        int finite = 1, moved = 0;
        float init = strstr(nm, "running_var") ? 1.f : 0.f;
        for (size_t k = 0; k < cnt; k++) {
            finite &= isfinite(v[k]) != 0;
            mx = fmax(mx, fabs(v[k]));
            moved |= v[k] != init;
        }
        ck_assert_msg(finite, "%s: non-finite %s", nm, e->is_param ? "gradient" : "value");
        if (!e->is_param) {
            ck_assert_msg(moved, "%s: buffer did not change", nm);
        } else if (e->rank == 1 && i > 0 && b.m.e[i - 1].rank == 5 && strcmp(nm, "out_conv.bias")) {
            ck_assert_msg(mx < 1e-6, "%s: bias before BN has gradient %g", nm, mx);
            before_bn++;
        } else {
            ck_assert_msg(mx > 1e-5, "%s: gradient max %g", nm, mx);
        }
        params += e->is_param;
        free(v);
    }
    ck_assert_int_eq(params, 30 * 2 + 29 * 2);
    ck_assert_int_eq(before_bn, 29);
    free(xv);
    free(lv);
    drop(&b);
}
END_TEST

static void want_error(const char *name, int n, int c_extra, int d, int h, int w, int patch_ok,
                       const char *needle)
{
    ss_model_cfg cfg = ss_model_defaults(name);
    if (patch_ok) {
        cfg.patch[0] = d;
        cfg.patch[1] = h;
        cfg.patch[2] = w;
    }
    ss_graph *g = graph_new();
    ss_nn m;
    ss_model_out out;
    nn_begin(&m, g, 1, 1);
    int x = g_input(g, "x", ss_shape5(n, cfg.in_ch + c_extra, d, h, w));
    ck_assert_int_eq(ss_model_build(&m, &cfg, x, &out), SS_ERR);
    const char *e = semiseg_error();
    ck_assert_msg(strstr(e, name) && strstr(e, needle), "error for %s: %s", name, e);
    ck_assert_ptr_nonnull(graph_error(g));
    nn_end(&m);
    graph_free(g);
}

START_TEST(test_errors)
{
    want_error("vnet", 1, 0, 30, 32, 16, 1, "multiple of 16");
    want_error("vnet_sdf", 1, 0, 32, 32, 8, 1, "multiple of 16");
    want_error("mcnet3d_v1", 1, 0, 32, 40, 16, 1, "32x40x16");
    want_error("mcnet3d_v2", 1, 0, 48, 32, 24, 1, "multiple of 16");
    want_error("fbanet3d", 1, 0, 32, 32, 20, 1, "multiple of 16");
    want_error("vnet", 1, 1, 32, 32, 16, 1, "channels");
    /* FBA-Net's MLP fan-in is fixed by cfg.patch (default 112x112x80). */
    want_error("fbanet3d", 1, 0, 32, 32, 16, 0, "differs from cfg patch");
    want_error("sassnet_disc", 1, 0, 32, 32, 16, 1, "channels");
    want_error("sassnet_disc", 1, 1, 32, 8, 16, 1, ">= 16");
}
END_TEST

Suite *suite_vnet(void)
{
    Suite *s = suite_create("vnet");
    TCase *tc = tcase_create("vnet");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_param_counts);
    tcase_add_test(tc, test_keys_vnet);
    tcase_add_test(tc, test_keys_norm_options);
    tcase_add_test(tc, test_keys_mcnet);
    tcase_add_test(tc, test_keys_fbanet);
    tcase_add_test(tc, test_keys_disc);
    tcase_add_test(tc, test_output_shapes);
    tcase_add_test(tc, test_vnet_train_step);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
