/* Inference fusion (harness/graph_plan.c, kernels/ops/fused.c,
 * kernels/cpu/fast_fused.c): CONV/DECONV -> BN_EVAL [-> RELU/LEAKY_RELU]
 * planned as one CONV_BN_ACT node on the CPU backend, batch norm folded into
 * the weights at run time. Fused fast graphs are compared with the reference
 * graph (SS_PLAN_REF, never fused) and with the unfused fast graph
 * (SS_PLAN_NO_FUSE).
 *
 * Tolerances. One fused layer: |fused - ref| <= 2e-5 + 2e-5 |ref|; the folded
 * weights carry one extra float rounding each and the shift (b - mean) * s is
 * added inside the float accumulation instead of in double after it, which
 * for the O(1) values here costs a few ulps of the pre-activation scale (the
 * unfused fast path against the reference is within the same bound). Whole
 * networks (random weights, running statistics away from 0 / 1): logits within
 * NMSE 1e-9 of the reference and of the unfused fast graph, every element within
 * 1e-4 max|ref| (observed NMSE ~1e-14 .. 1e-12); a BN folded wrongly (variance
 * instead of standard deviation, bias not shifted by the mean) gives NMSE far
 * above that. A dropped eps (1e-5) shows only where running_var is small: the
 * chain cases re-run with running_var in [0.05, 0.5) and catch it. */
#include "harness/graph.h"
#include "harness/nn/model.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_fast.h"
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- small chains -------------------------------------------------------------
 * x -> conv/deconv (+bias) -> bn_eval -> act, with a variant topology. */

enum { TOPO_CHAIN = 0, TOPO_CONV_REUSED, TOPO_BN_REUSED, TOPO_CONV_KEPT, TOPO_CONV_VIEWED };

typedef struct chain_case {
    const char *name;
    int deconv, bias, act; /* act: 0, SS_OP_RELU, SS_OP_LEAKY_RELU */
    ss_shape x;
    int co, k[3], s[3], p[3];
    int topo;
    int want_fused;
} chain_case;

#define S5 ss_shape5
static const chain_case g_chains[] = {
    {"3-D conv bn relu", 0, 1, SS_OP_RELU, {{2, 3, 7, 9, 8}}, 5, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, TOPO_CHAIN, 1},
    {"2-D conv bn leaky", 0, 1, SS_OP_LEAKY_RELU, {{3, 4, 1, 17, 15}}, 6, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, TOPO_CHAIN, 1},
    {"3-D conv k2 s2 bn relu", 0, 1, SS_OP_RELU, {{2, 4, 8, 6, 10}}, 8, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, TOPO_CHAIN, 1},
    {"3-D deconv bn relu", 1, 1, SS_OP_RELU, {{2, 8, 4, 3, 5}}, 4, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, TOPO_CHAIN, 1},
    {"2-D deconv bn leaky", 1, 1, SS_OP_LEAKY_RELU, {{2, 6, 1, 7, 9}}, 3, {1, 2, 2}, {1, 2, 2}, {0, 0, 0}, TOPO_CHAIN, 1},
    {"3-D conv no bias bn", 0, 0, 0, {{1, 3, 5, 6, 7}}, 4, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, TOPO_CHAIN, 1},
    {"1x1x1 conv bn relu", 0, 1, SS_OP_RELU, {{2, 5, 3, 4, 5}}, 7, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, TOPO_CHAIN, 1},
    {"conv output reused", 0, 1, SS_OP_RELU, {{2, 3, 5, 6, 7}}, 3, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, TOPO_CONV_REUSED, 0},
    {"bn output reused", 0, 1, SS_OP_RELU, {{2, 3, 5, 6, 7}}, 3, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, TOPO_BN_REUSED, 1},
    {"conv output kept", 0, 1, SS_OP_LEAKY_RELU, {{2, 3, 1, 9, 7}}, 4, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, TOPO_CONV_KEPT, 0},
    {"conv output viewed", 0, 1, SS_OP_RELU, {{2, 3, 5, 6, 7}}, 4, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, TOPO_CONV_VIEWED, 0},
};

typedef struct chain {
    ss_graph *g;
    int x, w, b, ga, be, rm, rv;
    int conv, bn, out;
} chain;

/* Uploads deterministic values: x, w, b in [-1, 1); gamma [0.5, 1.5), beta
 * [-0.5, 0.5), running mean [-0.5, 0.5), running var [0.2, 2). */
static void upload(ss_graph *g, int t, float lo, float hi, uint64_t seed)
{
    ss_shape s = graph_shape(g, t);
    size_t n = (size_t)ss_numel(&s);
    float *v = tu_alloc(n);
    tu_fill_uniform(v, n, lo, hi, seed);
    TU_OK(graph_upload(g, t, v));
    free(v);
}

static void chain_build(chain *c, const chain_case *k, int flags)
{
    memset(c, 0, sizeof *c);
    ss_graph *g = c->g = graph_new();
    int ci = k->x.d[1];
    c->x = g_input(g, "x", k->x);
    c->w = g_param(g, "w", k->deconv ? S5(ci, k->co, k->k[0], k->k[1], k->k[2])
                                     : S5(k->co, ci, k->k[0], k->k[1], k->k[2]));
    c->b = k->bias ? g_param(g, "b", S5(k->co, 1, 1, 1, 1)) : -1;
    c->ga = g_param(g, "gamma", S5(k->co, 1, 1, 1, 1));
    c->be = g_param(g, "beta", S5(k->co, 1, 1, 1, 1));
    c->rm = g_buffer(g, "mean", S5(k->co, 1, 1, 1, 1), 0.f);
    c->rv = g_buffer(g, "var", S5(k->co, 1, 1, 1, 1), 1.f);
    static const int zero[3] = {0, 0, 0};
    c->conv = k->deconv ? g_deconv(g, c->x, c->w, c->b, k->s, k->p, zero)
                        : g_conv(g, c->x, c->w, c->b, k->s, k->p);
    int h = c->conv;
    if (k->topo == TOPO_CONV_VIEWED) {
        ss_shape s = graph_shape(g, h);
        h = g_reshape(g, h, s); /* the BN reads a view of the conv output */
    }
    c->bn = g_bn_eval(g, h, c->ga, c->be, c->rm, c->rv, 1e-5f);
    int y = k->act == SS_OP_RELU ? g_relu(g, c->bn)
            : k->act == SS_OP_LEAKY_RELU ? g_leaky_relu(g, c->bn, 0.01f)
                                         : c->bn;
    if (k->topo == TOPO_CONV_REUSED)
        y = g_add(g, y, c->conv);
    else if (k->topo == TOPO_BN_REUSED)
        y = g_mul(g, y, c->bn);
    else if (k->topo == TOPO_CONV_KEPT)
        graph_keep(g, c->conv);
    c->out = y;
    graph_keep(g, c->out);
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET | flags, NULL));
    upload(g, c->x, -1.f, 1.f, 11);
    upload(g, c->w, -1.f, 1.f, 12);
    if (c->b >= 0)
        upload(g, c->b, -1.f, 1.f, 13);
    upload(g, c->ga, 0.5f, 1.5f, 14);
    upload(g, c->be, -0.5f, 0.5f, 15);
    upload(g, c->rm, -0.5f, 0.5f, 16);
    upload(g, c->rv, 0.2f, 2.f, 17);
}

static float *chain_run(chain *c, size_t *n)
{
    TU_OK(graph_run(c->g));
    ss_shape s = graph_shape(c->g, c->out);
    *n = (size_t)ss_numel(&s);
    float *v = tu_alloc(*n);
    TU_OK(graph_download(c->g, c->out, v));
    return v;
}

/* (a), (b), (c): fused fast vs reference (and vs unfused fast), fused-node
 * count, activation bytes, poisoned dead ranges. */
START_TEST(test_fusion_chain)
{
    const chain_case *k = &g_chains[_i];
    chain f, u, r, p;
    chain_build(&f, k, 0);
    chain_build(&u, k, SS_PLAN_NO_FUSE);
    chain_build(&r, k, SS_PLAN_REF);
    chain_build(&p, k, SS_PLAN_POISON);
    ck_assert_msg(graph_n_fused(f.g) == k->want_fused, "%s: %d fused nodes, want %d", k->name,
                  graph_n_fused(f.g), k->want_fused);
    ck_assert_int_eq(graph_n_fused(u.g), 0);
    ck_assert_int_eq(graph_n_fused(r.g), 0);
    size_t n, n2;
    /* the fused graph runs the fast convolution (oneDNN, or the kernel ==
     * stride GEMMs; the 1x1x1 GEMMs count as oneDNN calls) */
    long before = ss_cpu_conv_dnnl_calls() + ss_cpu_conv_s2_calls();
    float *yf = chain_run(&f, &n);
    ck_assert(ss_cpu_conv_dnnl_calls() + ss_cpu_conv_s2_calls() > before);
    float *yu = chain_run(&u, &n2), *yr = chain_run(&r, &n2), *yp = chain_run(&p, &n2);
    TU_ASSERT_CLOSE(yf, yr, n, 2e-5, 2e-5);
    TU_ASSERT_CLOSE(yu, yr, n, 2e-5, 2e-5);
    TU_ASSERT_CLOSE(yp, yf, n, 0, 0); /* poisoning dead ranges changes nothing */
    /* a second run (refolded from the same weights) is bit-identical */
    float *yf2 = chain_run(&f, &n2);
    ck_assert(memcmp(yf, yf2, n * sizeof(float)) == 0);
    if (k->want_fused) {
        /* a plain chain needs one tensor at a time instead of two */
        if (k->topo == TOPO_CHAIN)
            ck_assert_msg(graph_peak_bytes(f.g) < graph_peak_bytes(u.g),
                          "%s: peak %zu vs unfused %zu", k->name, graph_peak_bytes(f.g),
                          graph_peak_bytes(u.g));
        ck_assert(graph_peak_bytes(f.g) <= graph_peak_bytes(u.g));
        ck_assert(graph_naive_bytes(f.g) < graph_naive_bytes(u.g));
        ss_node_stat st;
        int cba = 0, bn = 0;
        for (int i = 0; i < graph_n_nodes(f.g); i++) {
            TU_OK(graph_node_stat(f.g, i, &st));
            cba += st.kind == SS_OP_CONV_BN_ACT;
            bn += st.kind == SS_OP_BN_EVAL;
        }
        ck_assert_int_eq(cba, 1);
        ck_assert_int_eq(bn, 0);
        /* same work counted: FLOPs of the fused node = conv + bn + act */
        ck_assert(fabs(graph_flops(f.g) - graph_flops(u.g)) <= 1e-9 * graph_flops(u.g));
        /* the conv output is gone; reading it is an error naming it */
        float tmp;
        ck_assert(graph_download(f.g, f.conv, &tmp) != SS_OK);
        ck_assert(strstr(semiseg_error(), "fused away") != NULL);
    } else {
        ck_assert_int_eq(graph_peak_bytes(f.g), graph_peak_bytes(u.g));
    }
    if (k->topo == TOPO_CONV_KEPT) { /* the kept conv output is readable and right */
        ss_shape s = graph_shape(f.g, f.conv);
        size_t m = (size_t)ss_numel(&s);
        float *a = tu_alloc(m), *b = tu_alloc(m);
        TU_OK(graph_download(f.g, f.conv, a));
        TU_OK(graph_download(r.g, r.conv, b));
        TU_ASSERT_CLOSE(a, b, m, 2e-5, 2e-5);
        free(a);
        free(b);
    }
    /* new running statistics between runs are picked up (folded per run) */
    upload(f.g, f.rv, 0.05f, 0.5f, 99);
    upload(r.g, r.rv, 0.05f, 0.5f, 99);
    upload(f.g, f.ga, -1.f, 1.f, 98);
    upload(r.g, r.ga, -1.f, 1.f, 98);
    free(yf);
    free(yr);
    yf = chain_run(&f, &n);
    yr = chain_run(&r, &n);
    TU_ASSERT_CLOSE(yf, yr, n, 5e-5, 2e-5);
    free(yf);
    free(yf2);
    free(yu);
    free(yr);
    free(yp);
    graph_free(f.g);
    graph_free(u.g);
    graph_free(r.g);
    graph_free(p.g);
}
END_TEST

/* The op itself: the fast kernel with too small a workspace (unfolded path)
 * and without a workspace matches the reference; a non-positive running_var +
 * eps is reported like BN_EVAL reports it. */
START_TEST(test_fusion_op_fallbacks)
{
    ss_shape xs[7] = {S5(2, 3, 4, 5, 6), S5(4, 3, 3, 3, 3), S5(4, 1, 1, 1, 1), S5(4, 1, 1, 1, 1),
                      S5(4, 1, 1, 1, 1), S5(4, 1, 1, 1, 1), S5(4, 1, 1, 1, 1)};
    int ip[11] = {1, 1, 1, 1, 1, 1, 0, 0, 0, SS_OP_CONV, SS_OP_LEAKY_RELU};
    float fp[2] = {0.1f, 1e-5f};
    opc o;
    TU_OK(opc_init(&o, SS_OP_CONV_BN_ACT, ip, 11, fp, 2, 7, xs));
    opc_randomize(&o, -1.f, 1.f, 5);
    for (int c = 0; c < 4; c++)
        o.x[5][c] = 0.3f + 0.4f * (float)c; /* running_var > 0 */
    size_t n = (size_t)ss_numel(&o.ys[0]);
    TU_OK(opc_fwd(&o, 1));
    float *ref = tu_alloc(n);
    memcpy(ref, o.y[0], n * sizeof(float));
    ss_op_args a;
    memset(&a, 0, sizeof a);
    a.kind = SS_OP_CONV_BN_ACT;
    a.ip = o.ip;
    a.fp = o.fp;
    a.n_in = 7;
    a.n_out = 1;
    for (int i = 0; i < 7; i++) {
        a.xs[i] = o.xs[i];
        a.x[i] = o.x[i];
    }
    a.ys[0] = o.ys[0];
    a.y[0] = o.y[0];
    /* no workspace: conv unfolded, BN + act in one pass */
    memset(o.y[0], 0, n * sizeof(float));
    TU_OK(ss_cpu_conv_bn_act_fwd(&a));
    TU_ASSERT_CLOSE(o.y[0], ref, n, 2e-5, 2e-5);
    /* the workspace the descriptor asks for: folded */
    size_t wsz = ss_cpu_conv_bn_act_ws(&a, 0);
    ck_assert(wsz >= (size_t)(4 * 3 * 27 + 4) * sizeof(float));
    void *ws = NULL;
    ck_assert(posix_memalign(&ws, 64, wsz) == 0);
    a.ws = ws;
    a.ws_size = wsz;
    memset(o.y[0], 0, n * sizeof(float));
    TU_OK(ss_cpu_conv_bn_act_fwd(&a));
    TU_ASSERT_CLOSE(o.y[0], ref, n, 2e-5, 2e-5);
    /* invalid running variance: same message as BN_EVAL */
    o.x[5][2] = -1.f;
    ck_assert(ss_cpu_conv_bn_act_fwd(&a) != SS_OK);
    ck_assert(strstr(semiseg_error(), "running_var[2]") != NULL);
    free(ws);
    free(ref);
    opc_free(&o);
}
END_TEST

/* Shape rule of the internal op. */
START_TEST(test_fusion_op_infer)
{
    const ss_op_desc *d = ss_op_get(SS_OP_CONV_BN_ACT);
    ss_shape xs[7] = {S5(2, 3, 4, 5, 6), S5(4, 3, 3, 3, 3), S5(4, 1, 1, 1, 1), S5(4, 1, 1, 1, 1),
                      S5(4, 1, 1, 1, 1), S5(4, 1, 1, 1, 1), S5(4, 1, 1, 1, 1)};
    int ip[SS_MAX_IP] = {1, 1, 1, 1, 1, 1, 0, 0, 0, SS_OP_CONV, SS_OP_RELU};
    float fp[SS_MAX_FP] = {0.f, 1e-5f};
    int n_out;
    ss_shape ys[SS_MAX_OUT];
    TU_OK(d->infer(ip, fp, 7, xs, &n_out, ys));
    ck_assert_int_eq(n_out, 1);
    ck_assert(ss_shape_eq(&ys[0], &(ss_shape){{2, 4, 4, 5, 6}}));
    TU_OK(d->infer(ip, fp, 6, xs, &n_out, ys)); /* no bias */
    xs[3] = S5(5, 1, 1, 1, 1);                   /* beta of the wrong size */
    ck_assert(d->infer(ip, fp, 7, xs, &n_out, ys) != SS_OK);
    xs[3] = S5(4, 1, 1, 1, 1);
    ip[9] = SS_OP_RELU; /* not a conv kind */
    ck_assert(d->infer(ip, fp, 7, xs, &n_out, ys) != SS_OK);
    ip[9] = SS_OP_CONV;
    ip[10] = SS_OP_SIGMOID;
    ck_assert(d->infer(ip, fp, 7, xs, &n_out, ys) != SS_OK);
    ck_assert_ptr_null(d->bwd);
}
END_TEST

/* ---- whole eval graphs of registry models (d), (e) --------------------------- */

typedef struct mgraph {
    ss_graph *g;
    ss_nn m;
    ss_model_out out;
    int x;
} mgraph;

/* Eval graph of `name` on batch n, patch p; PyTorch-default weights, then BN
 * affine parameters, running statistics and every bias drawn away from their
 * defaults (gamma [0.5, 1.5), beta and biases [-0.2, 0.2), mean [-0.2, 0.2),
 * var [0.5, 2)). Every head is kept. */
static void mgraph_build(mgraph *mg, const char *name, int n, const int p[3], int flags)
{
    memset(mg, 0, sizeof *mg);
    mg->g = graph_new();
    nn_begin(&mg->m, mg->g, 0, 3);
    ss_model_cfg cfg = ss_model_defaults(name);
    memcpy(cfg.patch, p, sizeof cfg.patch);
    int ch = cfg.in_ch + !strcmp(name, "sassnet_disc"); /* SDM + image */
    mg->x = g_input(mg->g, "image", S5(n, ch, p[0], p[1], p[2]));
    TU_OK(ss_model_build(&mg->m, &cfg, mg->x, &mg->out));
    for (int k = 0; k < mg->out.n; k++)
        graph_keep(mg->g, mg->out.t[k]);
    TU_OK(graph_plan(mg->g, ss_backend_cpu(), SS_PLAN_QUIET | flags, NULL));
    TU_OK(nn_init_params(&mg->m));
    for (int i = 0; i < mg->m.n; i++) {
        const ss_nn_entry *e = &mg->m.e[i];
        const char *key = graph_name(mg->g, e->t);
        size_t len = strlen(key);
#define ENDS(s) (len >= strlen(s) && !strcmp(key + len - strlen(s), s))
        if (ENDS(".running_mean"))
            upload(mg->g, e->t, -0.2f, 0.2f, 500 + (uint64_t)i);
        else if (ENDS(".running_var"))
            upload(mg->g, e->t, 0.5f, 2.f, 500 + (uint64_t)i);
        else if (e->rank == 1 && ENDS(".weight"))
            upload(mg->g, e->t, 0.5f, 1.5f, 500 + (uint64_t)i);
        else if (e->rank == 1 && ENDS(".bias"))
            upload(mg->g, e->t, -0.2f, 0.2f, 500 + (uint64_t)i);
#undef ENDS
    }
    upload(mg->g, mg->x, -1.f, 1.f, 77);
}

static void mgraph_free(mgraph *mg)
{
    nn_end(&mg->m);
    graph_free(mg->g);
}

/* Compares every head of a and b (same model); returns the worst NMSE. */
static double compare_heads(mgraph *a, mgraph *b, const char *what)
{
    double worst = 0;
    for (int k = 0; k < a->out.n; k++) {
        ss_shape s = graph_shape(a->g, a->out.t[k]);
        size_t n = (size_t)ss_numel(&s);
        float *ya = tu_alloc(n), *yb = tu_alloc(n);
        TU_OK(graph_download(a->g, a->out.t[k], ya));
        TU_OK(graph_download(b->g, b->out.t[k], yb));
        double mx = 0;
        for (size_t i = 0; i < n; i++)
            mx = fmax(mx, fabs((double)yb[i]));
        double e = tu_nmse(ya, yb, n);
        ck_assert_msg(e <= 1e-9, "%s head %s: NMSE %.3g (%s)", "model", a->out.name[k], e, what);
        TU_ASSERT_CLOSE(ya, yb, n, 1e-4 * mx, 0);
        if (getenv("SS_FUSION_VERBOSE"))
            fprintf(stderr, "%s head %s: NMSE %.3g, max|ref| %.3g\n", what, a->out.name[k], e, mx);
        worst = fmax(worst, e);
        free(ya);
        free(yb);
    }
    return worst;
}

static int count_kind(const ss_graph *g, int kind)
{
    int c = 0;
    ss_node_stat st;
    for (int i = 0; i < graph_n_nodes(g); i++)
        if (graph_node_stat(g, i, &st) == SS_OK && st.kind == kind)
            c++;
    return c;
}

typedef struct model_case {
    const char *name;
    int n, patch[3];
    int fused; /* expected fused nodes */
} model_case;

/* V-Net: 12 encoder convs + 4 down convs + 4 up deconvs + 9 decoder convs, each
 * followed by BN and ReLU. U-Net: 2 convs (each BN + LeakyReLU) in each of the
 * 5 encoder and 4 decoder blocks. */
static const model_case g_models[] = {
    {"vnet", 1, {32, 32, 16}, 29},
    {"unet", 2, {1, 64, 48}, 18},
};

START_TEST(test_fusion_model_vs_reference)
{
    const model_case *c = &g_models[_i];
    mgraph f, u, r;
    mgraph_build(&f, c->name, c->n, c->patch, 0);
    mgraph_build(&u, c->name, c->n, c->patch, SS_PLAN_NO_FUSE);
    mgraph_build(&r, c->name, c->n, c->patch, SS_PLAN_REF);
    TU_OK(graph_run(f.g));
    TU_OK(graph_run(u.g));
    TU_OK(graph_run(r.g));
    compare_heads(&f, &r, "fused vs reference");
    compare_heads(&f, &u, "fused vs unfused");
    /* (e) fusion happened, everywhere it could */
    ck_assert_msg(graph_n_fused(f.g) == c->fused, "%s: %d fused nodes, want %d", c->name,
                  graph_n_fused(f.g), c->fused);
    ck_assert_int_eq(count_kind(f.g, SS_OP_CONV_BN_ACT), c->fused);
    ck_assert_int_eq(count_kind(f.g, SS_OP_BN_EVAL), 0);
    ck_assert_int_eq(count_kind(f.g, SS_OP_RELU) + count_kind(f.g, SS_OP_LEAKY_RELU), 0);
    ck_assert_int_eq(count_kind(u.g, SS_OP_BN_EVAL), c->fused);
    ck_assert_int_eq(graph_n_fused(r.g), 0);
    /* the planned activation bytes shrink: the sum of planned tensors by the
     * two intermediates of every fused node, the peak never grows */
    ck_assert(graph_naive_bytes(f.g) < graph_naive_bytes(u.g));
    ck_assert(graph_peak_bytes(f.g) <= graph_peak_bytes(u.g));
    TU_OK(graph_check_plan(f.g));
    if (getenv("SS_FUSION_VERBOSE"))
        fprintf(stderr, "%s: activations %zu -> %zu bytes (%zu -> %zu without reuse)\n", c->name,
                graph_peak_bytes(u.g), graph_peak_bytes(f.g), graph_naive_bytes(u.g),
                graph_naive_bytes(f.g));
    mgraph_free(&f);
    mgraph_free(&u);
    mgraph_free(&r);
}
END_TEST

/* Every registry model's eval graph: fused vs unfused fast path. */
START_TEST(test_fusion_every_model)
{
    const ss_model_info *list = ss_model_list();
    int checked = 0;
    for (int i = 0; list[i].name; i++) {
        int p3[3] = {32, 32, 16}, p2[3] = {1, 32, 32};
        const int *p = list[i].dims == 2 ? p2 : p3;
        mgraph f, u;
        mgraph_build(&f, list[i].name, 2, p, 0);
        mgraph_build(&u, list[i].name, 2, p, SS_PLAN_NO_FUSE);
        TU_OK(graph_run(f.g));
        TU_OK(graph_run(u.g));
        compare_heads(&f, &u, list[i].name);
        ck_assert(graph_naive_bytes(f.g) + (graph_n_fused(f.g) ? 1 : 0) <= graph_naive_bytes(u.g));
        checked += graph_n_fused(f.g) > 0;
        mgraph_free(&f);
        mgraph_free(&u);
    }
    ck_assert_int_ge(checked, 8);
}
END_TEST

/* A graph with a backward pass is never fused (its BN_EVAL inputs are needed
 * by the gradient nodes). */
START_TEST(test_fusion_not_with_backward)
{
    ss_graph *g = graph_new();
    int x = g_input(g, "x", S5(2, 3, 4, 5, 6));
    int w = g_param(g, "w", S5(4, 3, 3, 3, 3));
    int ga = g_param(g, "ga", S5(4, 1, 1, 1, 1)), be = g_param(g, "be", S5(4, 1, 1, 1, 1));
    int rm = g_buffer(g, "rm", S5(4, 1, 1, 1, 1), 0.f), rv = g_buffer(g, "rv", S5(4, 1, 1, 1, 1), 1.f);
    const int s[3] = {1, 1, 1}, p[3] = {1, 1, 1};
    int y = g_relu(g, g_bn_eval(g, g_conv(g, x, w, -1, s, p), ga, be, rm, rv, 1e-5f));
    int l = g_mean(g, y, 31);
    graph_keep(g, l);
    TU_OK(graph_backward(g, l));
    TU_OK(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL));
    ck_assert_int_eq(graph_n_fused(g), 0);
    graph_free(g);
}
END_TEST

Suite *suite_fusion(void)
{
    Suite *s = suite_create("fusion");
    TCase *tc = tcase_create("chain");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_fusion_chain, 0, (int)(sizeof g_chains / sizeof g_chains[0]));
    tcase_add_test(tc, test_fusion_op_fallbacks);
    tcase_add_test(tc, test_fusion_op_infer);
    tcase_add_test(tc, test_fusion_not_with_backward);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("models");
    tcase_set_timeout(tm, 600);
    tcase_add_loop_test(tm, test_fusion_model_vs_reference, 0,
                        (int)(sizeof g_models / sizeof g_models[0]));
    tcase_add_test(tm, test_fusion_every_model);
    suite_add_tcase(s, tm);
    return s;
}
