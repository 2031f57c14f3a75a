/* MAXPOOL and AVGPOOL: forward against separable formulations (a window max
 * or sum is a max/sum along W, then H, then D), first-max tie routing by hand,
 * finite-difference gradients, bad inputs and FLOP counts. */
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pcfg {
    int N, C, in[3], k[3], s[3], p[3];
} pcfg;

static int pool_setup(opc *o, int kind, const pcfg *c, uint64_t seed)
{
    int ip[9];
    for (int j = 0; j < 3; j++) {
        ip[j] = c->k[j];
        ip[3 + j] = c->s[j];
        ip[6 + j] = c->p[j];
    }
    ss_shape xs = ss_shape5(c->N, c->C, c->in[0], c->in[1], c->in[2]);
    int rc = opc_init(o, kind, ip, 9, NULL, 0, 1, &xs);
    if (rc == SS_OK)
        opc_randomize(o, -2.f, 2.f, seed);
    return rc;
}

/* One separable pass along axis j of a (planes, D, H, W) double volume:
 * out[.., o, ..] = reduce over t in [o*s-p, o*s-p+k) of in[.., t, ..], with
 * padding taking the value pad (max: -inf, sum: 0). */
static double *pass(const double *in, const int *dims, int j, int planes, int k, int s, int p,
                    int O, int is_max, int *odims)
{
    for (int q = 0; q < 3; q++)
        odims[q] = dims[q];
    odims[j] = O;
    size_t n = (size_t)planes * odims[0] * odims[1] * odims[2];
    double *out = malloc(n * sizeof(double));
    ck_assert_ptr_nonnull(out);
    size_t stride_in = 1, stride_out = 1;
    for (int q = 2; q > j; q--) {
        stride_in *= (size_t)dims[q];
        stride_out *= (size_t)odims[q];
    }
    size_t outer = (size_t)planes;
    for (int q = 0; q < j; q++)
        outer *= (size_t)dims[q];
    for (size_t a = 0; a < outer; a++)
        for (int o = 0; o < O; o++)
            for (size_t b = 0; b < stride_in; b++) {
                double r = is_max ? -INFINITY : 0.0;
                for (int t = o * s - p; t < o * s - p + k; t++) {
                    double v = (t < 0 || t >= dims[j])
                                   ? (is_max ? -INFINITY : 0.0)
                                   : in[(a * (size_t)dims[j] + (size_t)t) * stride_in + b];
                    r = is_max ? (v > r ? v : r) : r + v;
                }
                out[(a * (size_t)O + (size_t)o) * stride_out + b] = r;
            }
    return out;
}

static void pool_separable(const opc *o, int is_max, float *y)
{
    int planes = o->xs[0].d[0] * o->xs[0].d[1];
    int dims[3] = {o->xs[0].d[2], o->xs[0].d[3], o->xs[0].d[4]}, nd[3];
    size_t nx = (size_t)ss_numel(&o->xs[0]);
    double *cur = malloc(nx * sizeof(double));
    ck_assert_ptr_nonnull(cur);
    for (size_t i = 0; i < nx; i++)
        cur[i] = o->x[0][i];
    for (int j = 2; j >= 0; j--) {
        double *nxt = pass(cur, dims, j, planes, o->ip[j], o->ip[3 + j], o->ip[6 + j],
                           o->ys[0].d[2 + j], is_max, nd);
        free(cur);
        cur = nxt;
        memcpy(dims, nd, sizeof dims);
    }
    double K = (double)o->ip[0] * o->ip[1] * o->ip[2];
    size_t ny = (size_t)ss_numel(&o->ys[0]);
    for (size_t i = 0; i < ny; i++)
        y[i] = (float)(is_max ? cur[i] : cur[i] / K);
    free(cur);
}

static const pcfg fwd_cases[] = {
    {3, 5, {3, 5, 7}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}},    /* V-Net/UNet 2x2x2 */
    {3, 5, {3, 5, 7}, {3, 3, 3}, {2, 1, 2}, {1, 1, 1}},    /* overlapping, padded */
    {2, 3, {1, 7, 6}, {1, 3, 2}, {1, 2, 2}, {0, 1, 1}},    /* 2-D */
    {2, 2, {4, 5, 3}, {4, 2, 3}, {1, 3, 1}, {2, 1, 0}},    /* pad = kernel/2 exactly */
    {1, 3, {2, 3, 9}, {1, 1, 5}, {1, 1, 3}, {0, 0, 2}},
};

START_TEST(test_maxpool_fwd_separable)
{
    /* A max is exact: bitwise equality. */
    for (size_t c = 0; c < sizeof fwd_cases / sizeof fwd_cases[0]; c++) {
        opc o;
        TU_OK(pool_setup(&o, SS_OP_MAXPOOL, &fwd_cases[c], 3 + c));
        TU_OK(opc_fwd(&o, 1));
        size_t n = (size_t)ss_numel(&o.ys[0]);
        float *ref = tu_alloc(n);
        pool_separable(&o, 1, ref);
        TU_ASSERT_CLOSE(o.y[0], ref, n, 0, 0);
        free(ref);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_avgpool_fwd_separable)
{
    /* Both sum in double and round once; different order: atol 1e-6 + rtol 1e-6. */
    for (size_t c = 0; c < sizeof fwd_cases / sizeof fwd_cases[0]; c++) {
        opc o;
        TU_OK(pool_setup(&o, SS_OP_AVGPOOL, &fwd_cases[c], 13 + c));
        TU_OK(opc_fwd(&o, 1));
        size_t n = (size_t)ss_numel(&o.ys[0]);
        float *ref = tu_alloc(n);
        pool_separable(&o, 0, ref);
        TU_ASSERT_CLOSE(o.y[0], ref, n, 1e-6, 1e-6);
        free(ref);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_pool_shape)
{
    opc o;
    TU_OK(pool_setup(&o, SS_OP_MAXPOOL, &fwd_cases[1], 1));
    /* (3+2-3)/2+1 = 2, (5+2-3)/1+1 = 5, (7+2-3)/2+1 = 4 (floor mode) */
    ss_shape want = ss_shape5(3, 5, 2, 5, 4);
    ck_assert(ss_shape_eq(&o.ys[0], &want));
    opc_free(&o);
}
END_TEST

START_TEST(test_maxpool_ties_hand)
{
    /* 2x2 windows, stride 2, over a 2x6 plane:
     *   x = [1 3 | 3 0 | 7 7]
     *       [3 2 | 0 0 | 7 7]
     * window 0 max 3, first in (h, w) scan order at (0,1); window 1 max 3 at
     * (0,2); window 2 all equal -> (0,4). gy = [10, 20, 30]. */
    opc o;
    int ip[9] = {1, 2, 2, 1, 2, 2, 0, 0, 0};
    ss_shape xs = ss_shape5(1, 1, 1, 2, 6);
    TU_OK(opc_init(&o, SS_OP_MAXPOOL, ip, 9, NULL, 0, 1, &xs));
    const float x[12] = {1, 3, 3, 0, 7, 7, 3, 2, 0, 0, 7, 7};
    memcpy(o.x[0], x, sizeof x);
    TU_OK(opc_fwd(&o, 1));
    const float wy[3] = {3, 3, 7};
    TU_ASSERT_CLOSE(o.y[0], wy, 3, 0, 0);
    const float gy[3] = {10, 20, 30};
    float *gx[SS_MAX_IN] = {tu_alloc(12)};
    TU_OK(opc_bwd(&o, gy, gx, 1u));
    const float wgx[12] = {0, 10, 20, 0, 30, 0, 0, 0, 0, 0, 0, 0};
    TU_ASSERT_CLOSE(gx[0], wgx, 12, 0, 0);
    free(gx[0]);
    opc_free(&o);

    /* Padding never wins: W = 3 all -inf, k 3, s 2, p 1 -> 2 windows
     * [pad, x0, x1] and [x1, x2, pad]; first real element of each gets gy.
     * Overlapping windows both choosing x1 accumulate. */
    int ip2[9] = {1, 1, 3, 1, 1, 2, 0, 0, 1};
    xs = ss_shape5(1, 1, 1, 1, 3);
    TU_OK(opc_init(&o, SS_OP_MAXPOOL, ip2, 9, NULL, 0, 1, &xs));
    for (int i = 0; i < 3; i++)
        o.x[0][i] = -INFINITY;
    TU_OK(opc_fwd(&o, 1));
    ck_assert(isinf(o.y[0][0]) && o.y[0][0] < 0 && isinf(o.y[0][1]));
    const float g2[2] = {1.5f, -2.f};
    gx[0] = tu_alloc(3);
    TU_OK(opc_bwd(&o, g2, gx, 1u));
    const float w2[3] = {1.5f, -2.f, 0};
    TU_ASSERT_CLOSE(gx[0], w2, 3, 0, 0);
    /* x = [0, 5, 1]: both windows pick x1 -> gx = [0, 1.5 - 2, 0] */
    o.x[0][0] = 0;
    o.x[0][1] = 5;
    o.x[0][2] = 1;
    TU_OK(opc_bwd(&o, g2, gx, 1u));
    const float w3[3] = {0, -0.5f, 0};
    TU_ASSERT_CLOSE(gx[0], w3, 3, 0, 0);
    free(gx[0]);
    opc_free(&o);
}
END_TEST

START_TEST(test_avgpool_hand)
{
    /* count_include_pad: W = [1, 2, 3], k 3, s 2, p 1 -> [(0+1+2)/3, (2+3+0)/3]. */
    opc o;
    int ip[9] = {1, 1, 3, 1, 1, 2, 0, 0, 1};
    ss_shape xs = ss_shape5(1, 1, 1, 1, 3);
    TU_OK(opc_init(&o, SS_OP_AVGPOOL, ip, 9, NULL, 0, 1, &xs));
    o.x[0][0] = 1;
    o.x[0][1] = 2;
    o.x[0][2] = 3;
    TU_OK(opc_fwd(&o, 1));
    const float want[2] = {1.f, 5.f / 3.f};
    TU_ASSERT_CLOSE(o.y[0], want, 2, 0, 1e-7);
    /* gx = [g0/3, (g0+g1)/3, g1/3] with g = [3, 6] */
    const float g[2] = {3, 6};
    float *gx[SS_MAX_IN] = {tu_alloc(3)};
    TU_OK(opc_bwd(&o, g, gx, 1u));
    const float wg[3] = {1, 3, 2};
    TU_ASSERT_CLOSE(gx[0], wg, 3, 0, 1e-7);
    free(gx[0]);
    opc_free(&o);
}
END_TEST

/* Replaces x by distinct values 0.01 * rank (in random order), so every window
 * max is unique with a margin of 0.01 >> 2 eps. */
static void distinct_values(opc *o)
{
    size_t n = (size_t)ss_numel(&o->xs[0]);
    float *u = o->x[0];
    float *v = tu_alloc(n);
    for (size_t i = 0; i < n; i++) {
        size_t r = 0;
        for (size_t j = 0; j < n; j++)
            r += u[j] < u[i] || (u[j] == u[i] && j < i);
        v[i] = 0.01f * (float)r - 1.f;
    }
    memcpy(u, v, n * sizeof(float));
    free(v);
}

static const pcfg grad_cases[] = {
    {2, 2, {3, 4, 5}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}},
    {1, 2, {3, 4, 5}, {3, 3, 3}, {2, 1, 2}, {1, 1, 1}},
    {2, 1, {1, 5, 6}, {1, 3, 2}, {1, 2, 1}, {0, 1, 1}},
};

START_TEST(test_maxpool_gradcheck)
{
    /* Inputs are distinct with gaps 0.01, eps 1e-3 never changes an argmax, and
     * the op is piecewise linear: FD is exact up to FP32 rounding of x +- eps
     * (accounted for by the harness). atol 1e-4, rtol 1e-3. */
    for (size_t c = 0; c < sizeof grad_cases / sizeof grad_cases[0]; c++) {
        opc o;
        TU_OK(pool_setup(&o, SS_OP_MAXPOOL, &grad_cases[c], 23 + c));
        distinct_values(&o);
        TU_GRADCHECK(&o, 1u, 1e-3, 1e-4, 1e-3);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_avgpool_gradcheck)
{
    /* Linear: central differences exact up to FP32 rounding of y.
     * eps 1e-2, atol 1e-4, rtol 1e-3. */
    for (size_t c = 0; c < sizeof grad_cases / sizeof grad_cases[0]; c++) {
        opc o;
        TU_OK(pool_setup(&o, SS_OP_AVGPOOL, &grad_cases[c], 33 + c));
        TU_GRADCHECK(&o, 1u, 1e-2, 1e-4, 1e-3);
        opc_free(&o);
    }
}
END_TEST

static void expect_err(int kind, const int *ip, int n_in, const ss_shape *xs, const char *name,
                       const char *what)
{
    opc o;
    ss_clearerr();
    int rc = opc_init(&o, kind, ip, 9, NULL, 0, n_in, xs);
    ck_assert_msg(rc == SS_ERR, "%s: expected an error for %s", name, what);
    ck_assert_msg(strstr(semiseg_error(), name) != NULL, "message '%s' should name %s",
                  semiseg_error(), name);
    ck_assert_msg(strstr(semiseg_error(), "(") != NULL, "message '%s' should show shapes",
                  semiseg_error());
}

START_TEST(test_pool_bad_input)
{
    const int kinds[2] = {SS_OP_MAXPOOL, SS_OP_AVGPOOL};
    const char *names[2] = {"maxpool", "avgpool"};
    for (int t = 0; t < 2; t++) {
        ss_shape xs[2] = {ss_shape5(2, 3, 4, 5, 6), ss_shape5(2, 3, 4, 5, 6)};
        int ok[9] = {2, 2, 2, 2, 2, 2, 1, 1, 1};
        opc o;
        TU_OK(opc_init(&o, kinds[t], ok, 9, NULL, 0, 1, xs));
        opc_free(&o);
        int k0[9] = {2, 0, 2, 2, 2, 2, 0, 0, 0};
        expect_err(kinds[t], k0, 1, xs, names[t], "zero kernel");
        int s0[9] = {2, 2, 2, 2, 2, 0, 0, 0, 0};
        expect_err(kinds[t], s0, 1, xs, names[t], "zero stride");
        int pbig[9] = {3, 3, 3, 1, 1, 1, 1, 2, 1}; /* pad 2 > 3/2 */
        expect_err(kinds[t], pbig, 1, xs, names[t], "pad > kernel/2");
        int pneg[9] = {3, 3, 3, 1, 1, 1, 0, -1, 0};
        expect_err(kinds[t], pneg, 1, xs, names[t], "negative pad");
        int kbig[9] = {5, 2, 2, 1, 1, 1, 0, 0, 0}; /* kD 5 > D 4 */
        expect_err(kinds[t], kbig, 1, xs, names[t], "kernel larger than input");
        expect_err(kinds[t], ok, 2, xs, names[t], "two inputs");
        xs[0].d[1] = 0;
        expect_err(kinds[t], ok, 1, xs, names[t], "empty input");
    }
}
END_TEST

START_TEST(test_pool_flops)
{
    /* y (3,5,2,5,4) = 600 elements, kernel 27: 16200 for both. */
    for (int t = 0; t < 2; t++) {
        opc o;
        TU_OK(pool_setup(&o, t ? SS_OP_AVGPOOL : SS_OP_MAXPOOL, &fwd_cases[1], 1));
        ss_op_args a;
        memset(&a, 0, sizeof a);
        a.kind = o.kind;
        a.ip = o.ip;
        a.n_in = 1;
        a.n_out = 1;
        a.xs[0] = o.xs[0];
        a.ys[0] = o.ys[0];
        ck_assert_double_eq(ss_op_get(o.kind)->flops(&a), 600.0 * 27);
        opc_free(&o);
    }
}
END_TEST

Suite *suite_pool(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, test_pool_shape);
    tcase_add_test(tc, test_maxpool_fwd_separable);
    tcase_add_test(tc, test_avgpool_fwd_separable);
    tcase_add_test(tc, test_maxpool_ties_hand);
    tcase_add_test(tc, test_avgpool_hand);
    tcase_add_test(tc, test_maxpool_gradcheck);
    tcase_add_test(tc, test_avgpool_gradcheck);
    tcase_add_test(tc, test_pool_bad_input);
    tcase_add_test(tc, test_pool_flops);
    suite_add_tcase(s, tc);
    return s;
}
