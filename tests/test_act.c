/* Activations: ReLU, LeakyReLU, PReLU, sigmoid, tanh. Forward against
 * algebraically different formulations written here; backward by finite
 * differences with inputs kept away from the kink at 0; the x == 0 gradient
 * convention (PyTorch's); shape/parameter errors; FLOP counts. */
#include "kernels/error.h"
#include "kernels/op.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Backward: central differences, eps 1e-3, on inputs of size <= 3. */
#define G_EPS 1e-3
#define G_ATOL 1e-3
#define G_RTOL 1e-2

static void expect_bad(int kind, const float *fp, int nfp, int n_in, const ss_shape *xs)
{
    opc o;
    ss_clearerr();
    ck_assert_int_eq(opc_init(&o, kind, NULL, 0, fp, nfp, n_in, xs), SS_ERR);
    const char *name = ss_op_name(kind), *msg = semiseg_error();
    ck_assert_msg(strncmp(msg, name, strlen(name)) == 0 && msg[strlen(name)] == ':',
                  "error does not name %s: %s", name, msg);
}

static double flops_of(int kind, int n_in, const ss_shape *xs)
{
    ss_op_args a;
    float fp[SS_MAX_FP] = {0};
    int ip[SS_MAX_IP] = {0};
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.ip = ip;
    a.fp = fp;
    a.n_in = n_in;
    for (int i = 0; i < n_in; i++)
        a.xs[i] = xs[i];
    return ss_op_get(kind)->flops(&a);
}

/* Moves values with |x| < m out to |x| >= m, keeping the sign. */
static void away_from_zero(float *x, size_t n, float m)
{
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) < m)
            x[i] += x[i] >= 0 ? m : -m;
}

static const ss_shape g_shapes[2] = {{{3, 5, 3, 5, 7}}, {{3, 5, 1, 5, 7}}}; /* 3-D, 2-D */

/* ---- ReLU / LeakyReLU ---------------------------------------------------- */

/* relu = (x + |x|) / 2 and leaky = max(x,0) + slope*min(x,0): both exact in
 * FP32, so the comparison is exact. */
START_TEST(test_relu_leaky_forward)
{
    const float slopes[3] = {0.01f, 0.2f, -0.5f};
    for (int t = 0; t < 2; t++) {
        size_t n = (size_t)ss_numel(&g_shapes[t]);
        opc o;
        TU_OK(opc_init(&o, SS_OP_RELU, NULL, 0, NULL, 0, 1, &g_shapes[t]));
        opc_randomize(&o, -3.f, 3.f, 1 + (uint64_t)t);
        o.x[0][0] = 0.f;
        TU_OK(opc_fwd(&o, 1));
        float *y = tu_alloc(n);
        for (size_t i = 0; i < n; i++)
            y[i] = 0.5f * (o.x[0][i] + fabsf(o.x[0][i]));
        TU_ASSERT_CLOSE(o.y[0], y, n, 0, 0);
        for (int k = 0; k < 3; k++) {
            opc l;
            TU_OK(opc_init(&l, SS_OP_LEAKY_RELU, NULL, 0, &slopes[k], 1, 1, &g_shapes[t]));
            memcpy(l.x[0], o.x[0], n * sizeof(float));
            TU_OK(opc_fwd(&l, 1));
            for (size_t i = 0; i < n; i++)
                y[i] = fmaxf(l.x[0][i], 0.f) + slopes[k] * fminf(l.x[0][i], 0.f);
            TU_ASSERT_CLOSE(l.y[0], y, n, 0, 0);
            opc_free(&l);
        }
        free(y);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_relu_leaky_grad)
{
    ss_shape shapes[2] = {ss_shape5(2, 3, 1, 2, 3), ss_shape5(2, 2, 2, 2, 2)};
    float slope = 0.1f;
    for (int t = 0; t < 2; t++) {
        opc o;
        TU_OK(opc_init(&o, SS_OP_RELU, NULL, 0, NULL, 0, 1, &shapes[t]));
        opc_randomize(&o, -1.f, 1.f, 11 + (uint64_t)t);
        away_from_zero(o.x[0], (size_t)ss_numel(&shapes[t]), 0.1f);
        TU_GRADCHECK(&o, 0x1, G_EPS, G_ATOL, G_RTOL);
        opc_free(&o);
        TU_OK(opc_init(&o, SS_OP_LEAKY_RELU, NULL, 0, &slope, 1, 1, &shapes[t]));
        opc_randomize(&o, -1.f, 1.f, 13 + (uint64_t)t);
        away_from_zero(o.x[0], (size_t)ss_numel(&shapes[t]), 0.1f);
        TU_GRADCHECK(&o, 0x1, G_EPS, G_ATOL, G_RTOL);
        opc_free(&o);
    }
}
END_TEST

/* At x == 0 the gradient is the negative-side one (PyTorch): 0 for ReLU,
 * slope for LeakyReLU and a for PReLU (whose da gets 0 from x == 0). */
START_TEST(test_kink_convention)
{
    ss_shape xs[2] = {ss_shape5(1, 1, 1, 1, 2), ss_shape5(1, 1, 1, 1, 1)};
    float g[2] = {1.f, 1.f}, dx[2], da[1], *gx[SS_MAX_IN] = {dx, da};
    float slope = 0.25f;
    opc o;
    TU_OK(opc_init(&o, SS_OP_RELU, NULL, 0, NULL, 0, 1, xs));
    o.x[0][0] = 0.f, o.x[0][1] = -0.f;
    TU_OK(opc_bwd(&o, g, gx, 0x1));
    ck_assert_float_eq(dx[0], 0.f);
    ck_assert_float_eq(dx[1], 0.f);
    opc_free(&o);
    TU_OK(opc_init(&o, SS_OP_LEAKY_RELU, NULL, 0, &slope, 1, 1, xs));
    TU_OK(opc_bwd(&o, g, gx, 0x1));
    ck_assert_float_eq(dx[0], 0.25f);
    opc_free(&o);
    TU_OK(opc_init(&o, SS_OP_PRELU, NULL, 0, NULL, 0, 2, xs));
    o.x[1][0] = 0.3f;
    o.x[0][1] = -2.f;
    TU_OK(opc_bwd(&o, g, gx, 0x3));
    ck_assert_float_eq(dx[0], 0.3f);
    ck_assert_float_eq(dx[1], 0.3f);
    ck_assert_float_eq(da[0], -2.f);
    opc_free(&o);
}
END_TEST

START_TEST(test_relu_leaky_bad)
{
    ss_shape xs[2] = {ss_shape5(2, 3, 1, 4, 4), ss_shape5(2, 3, 1, 4, 4)};
    ss_shape empty[1] = {ss_shape5(2, 3, 1, 0, 4)};
    float slope = 0.1f, nan = NAN, inf = INFINITY;
    expect_bad(SS_OP_RELU, NULL, 0, 2, xs);
    expect_bad(SS_OP_RELU, NULL, 0, 1, empty);
    expect_bad(SS_OP_LEAKY_RELU, &slope, 1, 2, xs);
    expect_bad(SS_OP_LEAKY_RELU, &nan, 1, 1, xs);
    expect_bad(SS_OP_LEAKY_RELU, &inf, 1, 1, xs);
    /* FLOPs per element: relu 1 (compare), leaky 2 (compare, multiply) */
    ck_assert_double_eq(flops_of(SS_OP_RELU, 1, xs), 96.0);
    ck_assert_double_eq(flops_of(SS_OP_LEAKY_RELU, 1, xs), 192.0);
}
END_TEST

/* ---- PReLU --------------------------------------------------------------- */

/* Reference: max(x,0) + a_c*min(x,0) with a shared or per channel. */
START_TEST(test_prelu_forward)
{
    for (int t = 0; t < 2; t++) {
        const ss_shape *xs0 = &g_shapes[t];
        int C = xs0->d[SS_C];
        size_t n = (size_t)ss_numel(xs0), S = (size_t)ss_spatial(xs0);
        for (int per_c = 0; per_c < 2; per_c++) {
            ss_shape xs[2] = {*xs0, ss_shape5(per_c ? C : 1, 1, 1, 1, 1)};
            opc o;
            TU_OK(opc_init(&o, SS_OP_PRELU, NULL, 0, NULL, 0, 2, xs));
            opc_randomize(&o, -2.f, 2.f, 21 + (uint64_t)(2 * t + per_c));
            TU_OK(opc_fwd(&o, 1));
            float *y = tu_alloc(n);
            for (size_t i = 0; i < n; i++) {
                float a = o.x[1][per_c ? (i / S) % (size_t)C : 0];
                y[i] = fmaxf(o.x[0][i], 0.f) + a * fminf(o.x[0][i], 0.f);
            }
            TU_ASSERT_CLOSE(o.y[0], y, n, 0, 0);
            free(y);
            opc_free(&o);
        }
    }
}
END_TEST

START_TEST(test_prelu_grad)
{
    ss_shape shapes[3] = {ss_shape5(2, 3, 1, 2, 3), ss_shape5(2, 2, 2, 2, 2),
                          ss_shape5(3, 1, 1, 2, 2)};
    for (int t = 0; t < 3; t++)
        for (int per_c = 0; per_c < 2; per_c++) {
            ss_shape xs[2] = {shapes[t], ss_shape5(per_c ? shapes[t].d[SS_C] : 1, 1, 1, 1, 1)};
            opc o;
            TU_OK(opc_init(&o, SS_OP_PRELU, NULL, 0, NULL, 0, 2, xs));
            opc_randomize(&o, -1.f, 1.f, 31 + (uint64_t)(2 * t + per_c));
            away_from_zero(o.x[0], (size_t)ss_numel(&xs[0]), 0.1f);
            TU_GRADCHECK(&o, 0x3, G_EPS, G_ATOL, G_RTOL);
            opc_free(&o);
        }
}
END_TEST

START_TEST(test_prelu_bad)
{
    ss_shape x = ss_shape5(2, 5, 1, 3, 3);
    ss_shape b1[2] = {x, ss_shape5(2, 1, 1, 1, 1)}; /* neither 1 nor C */
    ss_shape b2[2] = {x, ss_shape5(1, 5, 1, 1, 1)}; /* laid out along C */
    ss_shape b3[1] = {x};
    expect_bad(SS_OP_PRELU, NULL, 0, 2, b1);
    expect_bad(SS_OP_PRELU, NULL, 0, 2, b2);
    expect_bad(SS_OP_PRELU, NULL, 0, 1, b3);
    ss_shape ok[2] = {x, ss_shape5(5, 1, 1, 1, 1)};
    ck_assert_double_eq(flops_of(SS_OP_PRELU, 2, ok), 2.0 * 90);
}
END_TEST

/* ---- sigmoid / tanh ------------------------------------------------------ */

/* sigmoid(x) = (1 + tanh(x/2))/2 and tanh(x) = sign(x) (1-e^-2|x|)/(1+e^-2|x|)
 * in double. Tolerance atol 1e-7 + rtol 1e-6 (one FP32 rounding). Values of
 * +-1000 must saturate without NaN. */
START_TEST(test_sigmoid_tanh_forward)
{
    for (int t = 0; t < 2; t++) {
        size_t n = (size_t)ss_numel(&g_shapes[t]);
        opc s, h;
        TU_OK(opc_init(&s, SS_OP_SIGMOID, NULL, 0, NULL, 0, 1, &g_shapes[t]));
        TU_OK(opc_init(&h, SS_OP_TANH, NULL, 0, NULL, 0, 1, &g_shapes[t]));
        opc_randomize(&s, -20.f, 20.f, 41 + (uint64_t)t);
        s.x[0][0] = -1000.f, s.x[0][1] = 1000.f, s.x[0][2] = 0.f, s.x[0][3] = -80.f;
        memcpy(h.x[0], s.x[0], n * sizeof(float));
        TU_OK(opc_fwd(&s, 1));
        TU_OK(opc_fwd(&h, 1));
        float *ys = tu_alloc(n), *yh = tu_alloc(n);
        for (size_t i = 0; i < n; i++) {
            double v = s.x[0][i], e = exp(-2.0 * fabs(v));
            ys[i] = (float)(0.5 * (1.0 + tanh(0.5 * v)));
            yh[i] = (float)((v < 0 ? -1.0 : 1.0) * (1.0 - e) / (1.0 + e));
        }
        TU_ASSERT_CLOSE(s.y[0], ys, n, 1e-7, 1e-6);
        TU_ASSERT_CLOSE(h.y[0], yh, n, 1e-7, 1e-6);
        ck_assert_float_eq(s.y[0][0], 0.f);
        ck_assert_float_eq(s.y[0][1], 1.f);
        ck_assert_float_eq(s.y[0][2], 0.5f);
        ck_assert(s.y[0][3] > 0.f); /* e^-80 is a normal float: no flush to 0 */
        ck_assert_float_eq(h.y[0][0], -1.f);
        ck_assert_float_eq(h.y[0][1], 1.f);
        free(ys);
        free(yh);
        opc_free(&s);
        opc_free(&h);
    }
}
END_TEST

START_TEST(test_sigmoid_tanh_grad)
{
    ss_shape shapes[2] = {ss_shape5(2, 3, 1, 2, 3), ss_shape5(2, 2, 2, 2, 2)};
    for (int t = 0; t < 2; t++) {
        int kinds[2] = {SS_OP_SIGMOID, SS_OP_TANH};
        for (int k = 0; k < 2; k++) {
            opc o;
            TU_OK(opc_init(&o, kinds[k], NULL, 0, NULL, 0, 1, &shapes[t]));
            opc_randomize(&o, -3.f, 3.f, 51 + (uint64_t)(2 * t + k));
            TU_GRADCHECK(&o, 0x1, G_EPS, G_ATOL, G_RTOL);
            opc_free(&o);
        }
    }
}
END_TEST

START_TEST(test_sigmoid_tanh_bad)
{
    ss_shape xs[2] = {ss_shape5(2, 3, 1, 4, 4), ss_shape5(2, 3, 1, 4, 4)};
    ss_shape neg[1] = {ss_shape5(2, -3, 1, 4, 4)};
    expect_bad(SS_OP_SIGMOID, NULL, 0, 2, xs);
    expect_bad(SS_OP_SIGMOID, NULL, 0, 1, neg);
    expect_bad(SS_OP_TANH, NULL, 0, 0, xs);
    expect_bad(SS_OP_TANH, NULL, 0, 1, neg);
    ck_assert_double_eq(flops_of(SS_OP_SIGMOID, 1, xs), 4.0 * 96);
    ck_assert_double_eq(flops_of(SS_OP_TANH, 1, xs), 4.0 * 96);
}
END_TEST

Suite *suite_act(void)
{
    Suite *s = suite_create("act");
    TCase *tc = tcase_create("act");
    tcase_add_test(tc, test_relu_leaky_forward);
    tcase_add_test(tc, test_relu_leaky_grad);
    tcase_add_test(tc, test_kink_convention);
    tcase_add_test(tc, test_relu_leaky_bad);
    tcase_add_test(tc, test_prelu_forward);
    tcase_add_test(tc, test_prelu_grad);
    tcase_add_test(tc, test_prelu_bad);
    tcase_add_test(tc, test_sigmoid_tanh_forward);
    tcase_add_test(tc, test_sigmoid_tanh_bad);
    tcase_add_test(tc, test_sigmoid_tanh_grad);
    suite_add_tcase(s, tc);
    return s;
}
