/* Softmax and log-softmax over channels: forward against the textbook formula
 * (no max shift, double) on moderate inputs, stability on huge ones,
 * finite-difference backward, shape errors, FLOP counts. */
#include "kernels/error.h"
#include "kernels/op.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define G_EPS 1e-3
#define G_ATOL 1e-3
#define G_RTOL 1e-2

static void expect_bad(int kind, int n_in, const ss_shape *xs)
{
    opc o;
    ss_clearerr();
    ck_assert_int_eq(opc_init(&o, kind, NULL, 0, NULL, 0, n_in, xs), SS_ERR);
    const char *name = ss_op_name(kind), *msg = semiseg_error();
    ck_assert_msg(strncmp(msg, name, strlen(name)) == 0 && msg[strlen(name)] == ':',
                  "error does not name %s: %s", name, msg);
}

/* Textbook: softmax_c = e^x_c / sum_k e^x_k, log_softmax_c = x_c - log sum_k e^x_k,
 * computed voxel-major (the kernel is column-major over C). */
static void ref_softmax(const float *x, int N, int C, int S, float *sm, float *lsm)
{
    for (int n = 0; n < N; n++)
        for (int s = 0; s < S; s++) {
            double z = 0;
            for (int c = 0; c < C; c++)
                z += exp((double)x[((size_t)n * C + c) * S + s]);
            for (int c = 0; c < C; c++) {
                size_t i = ((size_t)n * C + c) * S + s;
                sm[i] = (float)(exp((double)x[i]) / z);
                lsm[i] = (float)(x[i] - log(z));
            }
        }
}

/* Tolerance: atol 1e-6 + rtol 1e-5; both sides round once to FP32. */
static void fwd_case(int N, int C, int D, int H, int W, uint64_t seed)
{
    ss_shape xs = ss_shape5(N, C, D, H, W);
    size_t n = (size_t)ss_numel(&xs);
    opc a, b;
    TU_OK(opc_init(&a, SS_OP_SOFTMAX, NULL, 0, NULL, 0, 1, &xs));
    TU_OK(opc_init(&b, SS_OP_LOG_SOFTMAX, NULL, 0, NULL, 0, 1, &xs));
    opc_randomize(&a, -5.f, 5.f, seed);
    memcpy(b.x[0], a.x[0], n * sizeof(float));
    TU_OK(opc_fwd(&a, 1));
    TU_OK(opc_fwd(&b, 1));
    float *sm = tu_alloc(n), *lsm = tu_alloc(n);
    ref_softmax(a.x[0], N, C, D * H * W, sm, lsm);
    TU_ASSERT_CLOSE(a.y[0], sm, n, 1e-6, 1e-5);
    TU_ASSERT_CLOSE(b.y[0], lsm, n, 1e-6, 1e-5);
    free(sm);
    free(lsm);
    opc_free(&a);
    opc_free(&b);
}

START_TEST(test_softmax_forward)
{
    fwd_case(3, 5, 3, 5, 7, 1); /* 3-D */
    fwd_case(3, 5, 1, 5, 7, 2); /* 2-D */
    fwd_case(2, 1, 1, 2, 3, 3); /* one channel: softmax 1, log-softmax 0 */
    fwd_case(2, 7, 1, 1, 1, 4); /* logits vectors */
}
END_TEST

/* Inputs of +-1000 overflow a naive exp; the max shift keeps them exact:
 * softmax is shift invariant, and a spread of 1000 gives one-hot. */
START_TEST(test_softmax_stable)
{
    ss_shape xs = ss_shape5(1, 3, 1, 1, 3);
    opc a, b;
    TU_OK(opc_init(&a, SS_OP_SOFTMAX, NULL, 0, NULL, 0, 1, &xs));
    TU_OK(opc_init(&b, SS_OP_LOG_SOFTMAX, NULL, 0, NULL, 0, 1, &xs));
    /* columns: {1000, 0, -1000}, {1001, 1002, 1000}, {0, 1000, -1000} */
    const float x[9] = {1000.f, 1001.f, 0.f, 0.f, 1002.f, 1000.f, -1000.f, 1000.f, -1000.f};
    memcpy(a.x[0], x, sizeof x);
    memcpy(b.x[0], x, sizeof x);
    TU_OK(opc_fwd(&a, 1));
    TU_OK(opc_fwd(&b, 1));
    double z = exp(-1.0) + 1.0 + exp(-2.0);
    const float sm[9] = {1.f, (float)(exp(-1.0) / z), 0.f, 0.f, (float)(1.0 / z), 1.f,
                         0.f, (float)(exp(-2.0) / z), 0.f};
    const float lsm[9] = {0.f,     (float)(-1.0 - log(z)), -1000.f,
                          -1000.f, (float)(-log(z)),       0.f,
                          -2000.f, (float)(-2.0 - log(z)), -2000.f};
    TU_ASSERT_CLOSE(a.y[0], sm, 9, 1e-7, 1e-6);
    TU_ASSERT_CLOSE(b.y[0], lsm, 9, 1e-6, 1e-6);
    opc_free(&a);
    opc_free(&b);
}
END_TEST

/* Per voxel the softmax sums to 1 and is unchanged by adding a constant. */
START_TEST(test_softmax_properties)
{
    ss_shape xs = ss_shape5(2, 4, 2, 3, 3);
    size_t n = (size_t)ss_numel(&xs);
    int S = 18, C = 4;
    opc a, b;
    TU_OK(opc_init(&a, SS_OP_SOFTMAX, NULL, 0, NULL, 0, 1, &xs));
    TU_OK(opc_init(&b, SS_OP_SOFTMAX, NULL, 0, NULL, 0, 1, &xs));
    opc_randomize(&a, -4.f, 4.f, 5);
    for (size_t i = 0; i < n; i++) { /* on a 1/256 grid, so x + 64 is exact */
        a.x[0][i] = roundf(a.x[0][i] * 256.f) / 256.f;
        b.x[0][i] = a.x[0][i] + 64.f;
    }
    TU_OK(opc_fwd(&a, 1));
    TU_OK(opc_fwd(&b, 1));
    for (int k = 0; k < 2 * S; k++) {
        double s = 0;
        for (int c = 0; c < C; c++)
            s += a.y[0][(size_t)(k / S * C + c) * S + k % S];
        ck_assert_double_lt(fabs(s - 1.0), 1e-6);
    }
    /* same shifted values: only FP32 rounding of the results differs */
    TU_ASSERT_CLOSE(b.y[0], a.y[0], n, 1e-7, 1e-6);
    opc_free(&a);
    opc_free(&b);
}
END_TEST

START_TEST(test_softmax_grad)
{
    ss_shape shapes[3] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(2, 4, 2, 1, 2),
                          ss_shape5(3, 2, 1, 1, 1)};
    int kinds[2] = {SS_OP_SOFTMAX, SS_OP_LOG_SOFTMAX};
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < 2; k++) {
            opc o;
            TU_OK(opc_init(&o, kinds[k], NULL, 0, NULL, 0, 1, &shapes[t]));
            opc_randomize(&o, -2.f, 2.f, 11 + (uint64_t)(2 * t + k));
            TU_GRADCHECK(&o, 0x1, G_EPS, G_ATOL, G_RTOL);
            opc_free(&o);
        }
}
END_TEST

START_TEST(test_softmax_bad)
{
    ss_shape xs[2] = {ss_shape5(2, 3, 1, 4, 4), ss_shape5(2, 3, 1, 4, 4)};
    ss_shape empty[1] = {ss_shape5(2, 0, 1, 4, 4)};
    int kinds[2] = {SS_OP_SOFTMAX, SS_OP_LOG_SOFTMAX};
    for (int k = 0; k < 2; k++) {
        expect_bad(kinds[k], 2, xs);
        expect_bad(kinds[k], 1, empty);
        /* FLOPs: 5 per element (max, subtract, exp, sum, divide/subtract) */
        ss_op_args a;
        memset(&a, 0, sizeof a);
        a.kind = kinds[k];
        a.n_in = 1;
        a.xs[0] = xs[0];
        ck_assert_double_eq(ss_op_get(kinds[k])->flops(&a), 5.0 * 96);
    }
}
END_TEST

Suite *suite_softmax(void)
{
    Suite *s = suite_create("softmax");
    TCase *tc = tcase_create("softmax");
    tcase_add_test(tc, test_softmax_forward);
    tcase_add_test(tc, test_softmax_stable);
    tcase_add_test(tc, test_softmax_properties);
    tcase_add_test(tc, test_softmax_grad);
    tcase_add_test(tc, test_softmax_bad);
    suite_add_tcase(s, tc);
    return s;
}
