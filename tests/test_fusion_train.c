/* Training fusion (harness/graph_fuse.c, kernels/ops/norm_act.c,
 * kernels/cpu/fast_norm.c): BN_TRAIN -> RELU / LEAKY_RELU and their gradient
 * nodes planned as one BN_ACT node and its gradient node on the CPU backend.
 *
 * The fast BN_ACT kernels run the BN_TRAIN fast path's float operations in the
 * same order with the activation folded in, so fused and unfused fast paths
 * must agree bit for bit: op by op, and for a whole training step (loss, every
 * parameter gradient, running statistics). The BN_ACT reference is checked
 * against the fast path with the BN fast path's tolerances (forward 2e-5 abs +
 * 1e-5 rel, backward 5e-5 abs + 1e-4 rel, tests/test_fastpath.c) and against
 * finite differences. */
#include "harness/graph.h"
#include "harness/nn/model.h"
#include "kernels/backend.h"
#include "kernels/error.h"
#include "testutil.h"
#include "train_step.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S5 ss_shape5

/* ---- the op ------------------------------------------------------------------- */

typedef struct bna_case {
    int act;
    float slope;
    int d[5];
} bna_case;

static const bna_case g_bna[] = {
    {SS_OP_RELU, 0.f, {2, 5, 3, 7, 9}},
    {SS_OP_LEAKY_RELU, 0.01f, {3, 3, 1, 17, 19}},
    {SS_OP_LEAKY_RELU, 0.f, {1, 2, 1, 1, 2}}, /* two values per channel */
    {SS_OP_RELU, 0.f, {2, 4, 5, 9, 11}},      /* odd spatial size: vector tails */
};

/* One call through the CPU backend with a fresh workspace poisoned with 0xff. */
static void call(ss_op_args *a, int bwd, int ref)
{
    const ss_op_desc *d = ss_op_get(a->kind);
    size_t ws = d->ws ? d->ws(a, bwd) : 0;
    void *buf = ws ? malloc(ws) : NULL;
    if (buf)
        memset(buf, 0xff, ws);
    a->ws = buf;
    a->ws_size = ws;
    TU_OK(ss_backend_cpu()->run(a, bwd, ref));
    free(buf);
}

/* BN inputs: x = 3 + U(-1, 1) per element, gamma 1 + U(-.5, .5), beta U(-1, 1),
 * running mean U(-1, 1), running var 0.5 + |U(-1, 1)|. */
static void bn_inputs(opc *o, uint64_t seed)
{
    opc_randomize(o, -1.f, 1.f, seed);
    for (int64_t i = 0; i < ss_numel(&o->xs[0]); i++)
        o->x[0][i] += 3.f;
    for (int c = 0; c < o->xs[1].d[0]; c++) {
        o->x[1][c] = 1.f + 0.5f * o->x[1][c];
        o->x[4][c] = 0.5f + fabsf(o->x[4][c]);
    }
}

typedef struct bna_out {
    float *y[3], *rs[2], *gx[3];
} bna_out;

static void out_alloc(bna_out *r, const opc *o)
{
    for (int k = 0; k < 3; k++) {
        r->y[k] = tu_alloc((size_t)ss_numel(&o->ys[k]));
        r->gx[k] = tu_alloc((size_t)ss_numel(&o->xs[k]));
    }
    for (int k = 0; k < 2; k++)
        r->rs[k] = tu_alloc((size_t)ss_numel(&o->xs[3 + k]));
}

static void out_free(bna_out *r)
{
    for (int k = 0; k < 3; k++) {
        free(r->y[k]);
        free(r->gx[k]);
    }
    free(r->rs[0]);
    free(r->rs[1]);
}

/* o0 with its own copies of the running statistics (inputs 3, 4), which a
 * forward updates in place; the caller frees them. */
static opc own_stats(const opc *o0)
{
    opc o = *o0;
    for (int i = 3; i < 5; i++) {
        size_t n = (size_t)ss_numel(&o.xs[i]);
        o.x[i] = tu_alloc(n);
        memcpy(o.x[i], o0->x[i], n * sizeof(float));
    }
    return o;
}

/* BN_ACT forward and backward (gy = g) on a copy of o's inputs, into r. */
static void run_fused(const opc *o0, const float *g, int ref, bna_out *r)
{
    opc o = own_stats(o0);
    ss_op_args a;
    opc_args(&o, &a);
    for (int k = 0; k < 3; k++)
        a.y[k] = r->y[k];
    call(&a, 0, ref);
    memcpy(r->rs[0], o.x[3], (size_t)ss_numel(&o.xs[3]) * sizeof(float));
    memcpy(r->rs[1], o.x[4], (size_t)ss_numel(&o.xs[4]) * sizeof(float));
    opc_args(&o, &a);
    for (int k = 0; k < 3; k++) {
        a.y[k] = r->y[k];
        memset(r->gx[k], 0xff, (size_t)ss_numel(&o.xs[k]) * sizeof(float)); /* must be written */
        a.gx[k] = r->gx[k];
    }
    a.gy[0] = (float *)g;
    call(&a, 1, ref);
    free(o.x[3]);
    free(o.x[4]);
}

/* The same through the BN_TRAIN and activation fast paths in turn. */
static void run_unfused(const opc *o0, const bna_case *k, const float *g, bna_out *r)
{
    opc o = own_stats(o0);
    o.kind = SS_OP_BN_TRAIN;
    size_t n = (size_t)ss_numel(&o.xs[0]);
    float *ybn = tu_alloc(n), *gbn = tu_alloc(n);
    ss_op_args a, b;
    opc_args(&o, &a);
    a.y[0] = ybn;
    a.y[1] = r->y[1];
    a.y[2] = r->y[2];
    call(&a, 0, 0);
    const float slope[1] = {k->slope};
    memset(&b, 0, sizeof b);
    b.kind = k->act;
    b.fp = slope;
    b.n_in = b.n_out = 1;
    b.xs[0] = b.ys[0] = o.xs[0];
    b.x[0] = ybn;
    b.y[0] = r->y[0];
    call(&b, 0, 0);
    b.gy[0] = (float *)g;
    b.gx[0] = gbn;
    call(&b, 1, 0);
    for (int j = 0; j < 3; j++)
        a.gx[j] = r->gx[j];
    a.gy[0] = gbn;
    call(&a, 1, 0);
    memcpy(r->rs[0], o.x[3], (size_t)ss_numel(&o.xs[3]) * sizeof(float));
    memcpy(r->rs[1], o.x[4], (size_t)ss_numel(&o.xs[4]) * sizeof(float));
    free(ybn);
    free(gbn);
    free(o.x[3]);
    free(o.x[4]);
}

static void bna_opc(opc *o, const bna_case *k, uint64_t seed)
{
    ss_shape x = S5(k->d[0], k->d[1], k->d[2], k->d[3], k->d[4]), v = S5(k->d[1], 1, 1, 1, 1);
    ss_shape xs[5] = {x, v, v, v, v};
    int ip[1] = {k->act};
    float fp[3] = {0.1f, 1e-5f, k->slope};
    TU_OK(opc_init(o, SS_OP_BN_ACT, ip, 1, fp, 3, 5, xs));
    bn_inputs(o, seed);
}

/* fast BN_ACT == BN_TRAIN fast then activation fast, bit for bit; the
 * reference within the BN tolerances */
START_TEST(test_bn_act_op)
{
    const bna_case *k = &g_bna[_i];
    opc o;
    bna_opc(&o, k, 40 + (uint64_t)_i);
    size_t n = (size_t)ss_numel(&o.xs[0]);
    float *g = tu_alloc(n);
    tu_fill_uniform(g, n, -1.f, 1.f, 90 + (uint64_t)_i);
    bna_out f, u, r;
    out_alloc(&f, &o);
    out_alloc(&u, &o);
    out_alloc(&r, &o);
    run_fused(&o, g, 0, &f);
    run_unfused(&o, k, g, &u);
    run_fused(&o, g, 1, &r);
    int negatives = 0;
    for (size_t i = 0; i < n; i++)
        negatives += f.y[0][i] <= 0.f;
    ck_assert_int_gt(negatives, 0); /* the activation's mask matters */
    for (int j = 0; j < 3; j++) {
        size_t ny = (size_t)ss_numel(&o.ys[j]), nx = (size_t)ss_numel(&o.xs[j]);
        ck_assert_msg(memcmp(f.y[j], u.y[j], ny * sizeof(float)) == 0, "output %d differs", j);
        ck_assert_msg(memcmp(f.gx[j], u.gx[j], nx * sizeof(float)) == 0, "gradient %d differs", j);
        TU_ASSERT_CLOSE(f.y[j], r.y[j], ny, 2e-5, 1e-5);
        TU_ASSERT_CLOSE(f.gx[j], r.gx[j], nx, 5e-5, 1e-4);
    }
    for (int j = 0; j < 2; j++) {
        size_t nc = (size_t)ss_numel(&o.xs[3 + j]);
        ck_assert(memcmp(f.rs[j], u.rs[j], nc * sizeof(float)) == 0);
        TU_ASSERT_CLOSE(f.rs[j], r.rs[j], nc, 2e-5, 1e-5);
    }
    out_free(&f);
    out_free(&u);
    out_free(&r);
    free(g);
    opc_free(&o);
}
END_TEST

/* the reference backward against central differences (x, gamma, beta) */
START_TEST(test_bn_act_gradcheck)
{
    static const bna_case k[2] = {{SS_OP_RELU, 0.f, {2, 3, 1, 3, 4}},
                                  {SS_OP_LEAKY_RELU, 0.2f, {2, 3, 2, 2, 3}}};
    opc o;
    bna_opc(&o, &k[_i], 7 + (uint64_t)_i);
    TU_GRADCHECK(&o, 0x7u, 1e-3, 1e-3, 1e-2);
    opc_free(&o);
}
END_TEST

START_TEST(test_bn_act_infer)
{
    ss_shape x = S5(2, 3, 1, 4, 4), v = S5(3, 1, 1, 1, 1);
    ss_shape xs[5] = {x, v, v, v, v};
    int n_out;
    ss_shape out[SS_MAX_OUT];
    const ss_op_desc *d = ss_op_get(SS_OP_BN_ACT);
    int ip[1] = {SS_OP_SIGMOID};
    float fp[3] = {0.1f, 1e-5f, 0.01f};
    ck_assert_int_eq(d->infer(ip, fp, 5, xs, &n_out, out), SS_ERR);
    ip[0] = SS_OP_LEAKY_RELU;
    fp[2] = -0.1f; /* a negative slope: the mask cannot come from the output */
    ck_assert_int_eq(d->infer(ip, fp, 5, xs, &n_out, out), SS_ERR);
    fp[2] = 0.01f;
    TU_OK(d->infer(ip, fp, 5, xs, &n_out, out));
    ck_assert_int_eq(n_out, 3);
    ck_assert(ss_shape_eq(&out[0], &x) && ss_shape_eq(&out[1], &v));
}
END_TEST

/* ---- small graphs -------------------------------------------------------------- */

enum { T_PLAIN = 0, T_BN_REUSED, T_BN_KEPT, T_NEG_SLOPE, T_NO_GRAD, T_TWO };

typedef struct sg {
    ss_graph *g;
    int x, ga, be, rm, rv, loss;
} sg;

static void sg_build(sg *s, int topo, int flags)
{
    memset(s, 0, sizeof *s);
    ss_graph *g = s->g = graph_new();
    s->x = g_param(g, "x", S5(2, 4, 3, 6, 5));
    s->ga = g_param(g, "ga", S5(4, 1, 1, 1, 1));
    s->be = g_param(g, "be", S5(4, 1, 1, 1, 1));
    s->rm = g_buffer(g, "rm", S5(4, 1, 1, 1, 1), 0.f);
    s->rv = g_buffer(g, "rv", S5(4, 1, 1, 1, 1), 1.f);
    int bn = g_bn_train(g, s->x, s->ga, s->be, s->rm, s->rv, 0.1f, 1e-5f);
    int y = topo == T_NEG_SLOPE ? g_leaky_relu(g, bn, -0.1f) : topo == T_PLAIN || topo == T_TWO
                                                               ? g_relu(g, bn)
                                                               : g_leaky_relu(g, bn, 0.01f);
    if (topo == T_BN_REUSED)
        y = g_mul(g, y, bn);
    else if (topo == T_BN_KEPT)
        graph_keep(g, bn);
    else if (topo == T_TWO) /* a second BN + act on the first one's output */
        y = g_leaky_relu(g, g_bn_train(g, y, s->ga, s->be, s->rm, s->rv, 0.1f, 1e-5f), 0.02f);
    s->loss = g_mean(g, g_mul(g, y, y), 31);
    graph_keep(g, s->loss);
    if (topo != T_NO_GRAD)
        TU_OK(graph_backward(g, s->loss));
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET | flags, NULL));
    float v[2 * 4 * 3 * 6 * 5];
    tu_fill_uniform(v, sizeof v / sizeof v[0], -1.f, 1.f, 5);
    TU_OK(graph_upload(g, s->x, v));
    tu_fill_uniform(v, 4, 0.5f, 1.5f, 6);
    TU_OK(graph_upload(g, s->ga, v));
    tu_fill_uniform(v, 4, -0.5f, 0.5f, 7);
    TU_OK(graph_upload(g, s->be, v));
}

/* Downloads loss, gradients of x, gamma, beta (when there is a backward) and
 * the running statistics into v (at most 1 + 720 + 4 * 4 floats); returns the
 * count. */
static size_t sg_state(sg *s, float *v)
{
    size_t n = 0;
    TU_OK(graph_download(s->g, s->loss, v + n++));
    const int t[5] = {s->x, s->ga, s->be, s->rm, s->rv};
    for (int k = 0; k < 5; k++) {
        int src = k < 3 ? graph_grad(s->g, t[k]) : t[k];
        if (src < 0)
            continue;
        ss_shape sh = graph_shape(s->g, src);
        TU_OK(graph_download(s->g, src, v + n));
        n += (size_t)ss_numel(&sh);
    }
    return n;
}

START_TEST(test_fusion_train_graphs)
{
    static const int want[] = {1, 0, 0, 0, 0, 2};
    sg f, u;
    sg_build(&f, _i, SS_PLAN_POISON);
    sg_build(&u, _i, SS_PLAN_NO_FUSE);
    ck_assert_msg(graph_n_fused_bn(f.g) == want[_i], "topology %d: %d fused, want %d", _i,
                  graph_n_fused_bn(f.g), want[_i]);
    ck_assert_int_eq(graph_n_fused_bn(u.g), 0);
    ck_assert_int_eq(graph_n_fused(f.g), 0);
    for (int rep = 0; rep < 2; rep++) { /* running stats move: the second run differs */
        TU_OK(graph_run(f.g));
        TU_OK(graph_run(u.g));
    }
    float a[800], b[800];
    size_t na = sg_state(&f, a), nb = sg_state(&u, b);
    ck_assert(na == nb && na > 1);
    ck_assert_msg(memcmp(a, b, na * sizeof(float)) == 0, "fused and unfused runs differ");
    if (want[_i])
        ck_assert(graph_naive_bytes(f.g) < graph_naive_bytes(u.g));
    TU_OK(graph_check_plan(f.g));
    graph_free(f.g);
    graph_free(u.g);
}
END_TEST

/* ---- whole training steps ------------------------------------------------------
 * Model, CE on head 1, backward; fused vs unfused fast path bit for bit. */

typedef struct mcase {
    const char *model;
    int n, patch[3], fused;
} mcase;

/* V-Net: every conv / deconv is followed by BN + ReLU (29); U-Net: 18 BN +
 * LeakyReLU (tests/test_fusion.c counts the same layers for inference). */
static const mcase g_msteps[] = {
    {"vnet", 2, {16, 16, 16}, 29},
    {"unet", 2, {1, 32, 32}, 18},
};

START_TEST(test_fusion_train_models)
{
    const mcase *c = &g_msteps[_i];
    tu_step f, u;
    tu_step_build(&f, c->model, c->n, c->patch, 0);
    tu_step_build(&u, c->model, c->n, c->patch, SS_PLAN_NO_FUSE);
    ck_assert_msg(graph_n_fused_bn(f.g) == c->fused, "%s: %d fused, want %d", c->model,
                  graph_n_fused_bn(f.g), c->fused);
    TU_OK(graph_run(f.g));
    TU_OK(graph_run(u.g));
    size_t na, nb;
    float *a = tu_step_state(&f, &na), *b = tu_step_state(&u, &nb);
    ck_assert(na == nb && na > 100);
    ck_assert_msg(memcmp(a, b, na * sizeof(float)) == 0, "%s: fused and unfused steps differ",
                  c->model);
    ck_assert(graph_peak_bytes(f.g) < graph_peak_bytes(u.g));
    free(a);
    free(b);
    tu_step_free(&f);
    tu_step_free(&u);
}
END_TEST

Suite *suite_fusion_train(void)
{
    Suite *s = suite_create("fusion_train");
    TCase *to = tcase_create("op");
    tcase_add_loop_test(to, test_bn_act_op, 0, (int)(sizeof g_bna / sizeof g_bna[0]));
    tcase_add_loop_test(to, test_bn_act_gradcheck, 0, 2);
    tcase_add_test(to, test_bn_act_infer);
    suite_add_tcase(s, to);
    TCase *tg = tcase_create("graphs");
    tcase_set_timeout(tg, 600);
    tcase_add_loop_test(tg, test_fusion_train_graphs, 0, T_TWO + 1);
    tcase_add_loop_test(tg, test_fusion_train_models, 0,
                        (int)(sizeof g_msteps / sizeof g_msteps[0]));
    suite_add_tcase(s, tg);
    return s;
}
