/* Normalisation ops: batch norm (train/eval), instance norm, group norm.
 * Forward against one-pass (sum, sum of squares) formulations written here,
 * hand-computed values and cross-op identities; backward by finite
 * differences; shape/parameter errors; FLOP counts. */
#include "kernels/error.h"
#include "kernels/op.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Forward comparisons: y is rounded to float once by the kernel and the
 * reference differs only in how the variance is summed, so atol 1e-5 plus
 * rtol 1e-5 is ample for |y| <= ~10. */
#define F_ATOL 1e-5
#define F_RTOL 1e-5
/* Backward: central differences with eps 1e-3 on inputs of size ~1; the FP32
 * rounding of y contributes ~1e-4 of noise to the numeric gradient. */
#define G_EPS 1e-3
#define G_ATOL 1e-3
#define G_RTOL 1e-2

static void expect_bad(int kind, const int *ip, int nip, const float *fp, int nfp, int n_in,
                       const ss_shape *xs)
{
    opc o;
    ss_clearerr();
    ck_assert_int_eq(opc_init(&o, kind, ip, nip, fp, nfp, n_in, xs), SS_ERR);
    const char *name = ss_op_name(kind), *msg = semiseg_error();
    ck_assert_msg(strncmp(msg, name, strlen(name)) == 0 && msg[strlen(name)] == ':',
                  "error does not name %s: %s", name, msg);
}

static double flops_of(int kind, const int *ip, const float *fp, int n_in, const ss_shape *xs)
{
    ss_op_args a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.ip = ip;
    a.fp = fp;
    a.n_in = n_in;
    for (int i = 0; i < n_in; i++)
        a.xs[i] = xs[i];
    return ss_op_get(kind)->flops(&a);
}

/* Reference statistics by one pass of sum and sum of squares (double) over
 * the elements selected by a group map; loops run in storage order and scatter
 * into per-group accumulators. grp(n, c) gives the group of row (n, c). */
typedef int (*grp_fn)(int n, int c, int C, int G);
static int grp_bn(int n, int c, int C, int G)
{
    (void)n;
    (void)C;
    (void)G;
    return c;
}
static int grp_gn(int n, int c, int C, int G) { return n * G + c / (C / G); }

static void ref_norm(const float *x, int N, int C, int S, int G, grp_fn grp, int ngroups,
                     const float *gamma, const float *beta, double eps, float *y, double *mean,
                     double *varb, double *cnt)
{
    double *s1 = calloc((size_t)ngroups, sizeof(double));
    double *s2 = calloc((size_t)ngroups, sizeof(double));
    for (int k = 0; k < ngroups; k++)
        cnt[k] = 0;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int s = 0; s < S; s++) {
                double v = x[((size_t)n * C + c) * S + s];
                int k = grp(n, c, C, G);
                s1[k] += v;
                s2[k] += v * v;
                cnt[k] += 1;
            }
    for (int k = 0; k < ngroups; k++) {
        mean[k] = s1[k] / cnt[k];
        varb[k] = s2[k] / cnt[k] - mean[k] * mean[k];
        if (varb[k] < 0)
            varb[k] = 0;
    }
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            int k = grp(n, c, C, G);
            double sc = (gamma ? gamma[c] : 1.0) / sqrt(varb[k] + eps);
            double sh = (beta ? beta[c] : 0.0) - mean[k] * sc;
            for (int s = 0; s < S; s++) {
                size_t i = ((size_t)n * C + c) * S + s;
                y[i] = (float)(x[i] * sc + sh);
            }
        }
    free(s1);
    free(s2);
}

static void to_float(const double *d, float *f, int n)
{
    for (int i = 0; i < n; i++)
        f[i] = (float)d[i];
}

/* ---- BN_TRAIN ------------------------------------------------------------ */

static void bn_train_case(int N, int C, int D, int H, int W, uint64_t seed)
{
    ss_shape v = ss_shape5(C, 1, 1, 1, 1);
    ss_shape xs[5] = {ss_shape5(N, C, D, H, W), v, v, v, v};
    float fp[2] = {0.1f, 1e-5f};
    opc o;
    TU_OK(opc_init(&o, SS_OP_BN_TRAIN, NULL, 0, fp, 2, 5, xs));
    int S = D * H * W;
    size_t n = (size_t)N * C * S;
    tu_fill_uniform(o.x[0], n, -2.f, 3.f, seed);
    tu_fill_uniform(o.x[1], (size_t)C, 0.5f, 1.5f, seed + 1);
    tu_fill_uniform(o.x[2], (size_t)C, -1.f, 1.f, seed + 2);
    tu_fill_uniform(o.x[3], (size_t)C, -1.f, 1.f, seed + 3);
    tu_fill_uniform(o.x[4], (size_t)C, 0.5f, 2.f, seed + 4);
    float *rm0 = tu_alloc((size_t)C), *rv0 = tu_alloc((size_t)C);
    memcpy(rm0, o.x[3], (size_t)C * sizeof(float));
    memcpy(rv0, o.x[4], (size_t)C * sizeof(float));
    TU_OK(opc_fwd(&o, 1));

    float *y = tu_alloc(n), *f = tu_alloc((size_t)C);
    double *mean = calloc((size_t)C, sizeof(double)), *var = calloc((size_t)C, sizeof(double));
    double *cnt = calloc((size_t)C, sizeof(double));
    ref_norm(o.x[0], N, C, S, 1, grp_bn, C, o.x[1], o.x[2], 1e-5f, y, mean, var, cnt);
    TU_ASSERT_CLOSE(o.y[0], y, n, F_ATOL, F_RTOL);
    to_float(mean, f, C);
    TU_ASSERT_CLOSE(o.y[1], f, (size_t)C, 1e-6, 1e-6);
    for (int c = 0; c < C; c++)
        f[c] = (float)(1.0 / sqrt(var[c] + 1e-5f));
    TU_ASSERT_CLOSE(o.y[2], f, (size_t)C, 1e-6, 1e-6);
    /* running stats: (1-m) r + m stat, unbiased variance */
    for (int c = 0; c < C; c++)
        f[c] = (float)(0.9 * rm0[c] + 0.1 * mean[c]);
    TU_ASSERT_CLOSE(o.x[3], f, (size_t)C, 1e-6, 1e-6);
    for (int c = 0; c < C; c++)
        f[c] = (float)(0.9 * rv0[c] + 0.1 * var[c] * cnt[c] / (cnt[c] - 1));
    TU_ASSERT_CLOSE(o.x[4], f, (size_t)C, 1e-6, 1e-6);
    free(rm0);
    free(rv0);
    free(y);
    free(f);
    free(mean);
    free(var);
    free(cnt);
    opc_free(&o);
}

START_TEST(test_bn_train_forward)
{
    bn_train_case(3, 5, 3, 5, 7, 11); /* 3-D */
    bn_train_case(3, 5, 1, 5, 7, 12); /* 2-D */
    bn_train_case(1, 2, 1, 1, 2, 13); /* two values per channel */
}
END_TEST

/* Hand-computed: channel 0 holds {1,2,3,4} (mean 2.5, biased var 1.25,
 * unbiased 5/3), channel 1 {10,10,10,14} (mean 11, var 3, unbiased 4);
 * eps = 0, momentum 0.1. */
START_TEST(test_bn_train_hand)
{
    ss_shape v = ss_shape5(2, 1, 1, 1, 1);
    ss_shape xs[5] = {ss_shape5(2, 2, 1, 1, 2), v, v, v, v};
    float fp[2] = {0.1f, 0.f};
    opc o;
    TU_OK(opc_init(&o, SS_OP_BN_TRAIN, NULL, 0, fp, 2, 5, xs));
    const float x[8] = {1, 2, 10, 10, 3, 4, 10, 14};
    memcpy(o.x[0], x, sizeof x);
    o.x[1][0] = 2, o.x[1][1] = 1;     /* gamma */
    o.x[2][0] = 0, o.x[2][1] = 1;     /* beta */
    o.x[3][0] = 0.5f, o.x[3][1] = -1; /* running mean */
    o.x[4][0] = 1, o.x[4][1] = 2;     /* running var */
    TU_OK(opc_fwd(&o, 1));
    double i0 = 1 / sqrt(1.25), i1 = 1 / sqrt(3.0);
    const float y[8] = {(float)(-1.5 * i0 * 2), (float)(-0.5 * i0 * 2), (float)(1 - i1),
                        (float)(1 - i1),        (float)(0.5 * i0 * 2),  (float)(1.5 * i0 * 2),
                        (float)(1 - i1),        (float)(1 + 3 * i1)};
    TU_ASSERT_CLOSE(o.y[0], y, 8, 1e-6, 1e-6);
    const float sm[2] = {2.5f, 11.f}, si[2] = {(float)i0, (float)i1};
    TU_ASSERT_CLOSE(o.y[1], sm, 2, 1e-7, 1e-7);
    TU_ASSERT_CLOSE(o.y[2], si, 2, 1e-7, 1e-6);
    const float rm1[2] = {0.7f, 0.2f}, rv1[2] = {(float)(0.9 + 0.1 * 5.0 / 3.0), 2.2f};
    TU_ASSERT_CLOSE(o.x[3], rm1, 2, 1e-6, 1e-6);
    TU_ASSERT_CLOSE(o.x[4], rv1, 2, 1e-6, 1e-6);
    /* a second call on the same batch keeps moving the running stats */
    TU_OK(opc_fwd(&o, 1));
    const float rm2[2] = {0.88f, 1.28f},
                rv2[2] = {(float)(0.9 * (0.9 + 0.1 * 5.0 / 3.0) + 0.1 * 5.0 / 3.0), 2.38f};
    TU_ASSERT_CLOSE(o.x[3], rm2, 2, 1e-6, 1e-6);
    TU_ASSERT_CLOSE(o.x[4], rv2, 2, 1e-6, 1e-6);
    /* momentum 0 leaves them, momentum 1 replaces them */
    float keep[2] = {o.x[3][0], o.x[3][1]};
    o.fp[0] = 0.f;
    TU_OK(opc_fwd(&o, 1));
    TU_ASSERT_CLOSE(o.x[3], keep, 2, 0, 0);
    o.fp[0] = 1.f;
    TU_OK(opc_fwd(&o, 1));
    const float rv3[2] = {(float)(5.0 / 3.0), 4.f};
    TU_ASSERT_CLOSE(o.x[3], sm, 2, 0, 0);
    TU_ASSERT_CLOSE(o.x[4], rv3, 2, 1e-7, 1e-7);
    opc_free(&o);
}
END_TEST

static void bn_grad_case(int kind, int N, int C, int D, int H, int W, uint64_t seed)
{
    ss_shape v = ss_shape5(C, 1, 1, 1, 1);
    ss_shape xs[5] = {ss_shape5(N, C, D, H, W), v, v, v, v};
    float fp[2] = {0.1f, 1e-5f};
    opc o;
    TU_OK(opc_init(&o, kind, NULL, 0, fp, 2, 5, xs));
    opc_randomize(&o, -1.f, 1.f, seed);
    tu_fill_uniform(o.x[1], (size_t)C, 0.5f, 1.5f, seed + 7);
    tu_fill_uniform(o.x[4], (size_t)C, 0.5f, 2.f, seed + 8);
    TU_GRADCHECK(&o, 0x7, G_EPS, G_ATOL, G_RTOL);
    opc_free(&o);
}

START_TEST(test_bn_train_grad)
{
    bn_grad_case(SS_OP_BN_TRAIN, 2, 3, 1, 2, 2, 21); /* 2-D */
    bn_grad_case(SS_OP_BN_TRAIN, 2, 2, 2, 2, 1, 22); /* 3-D */
    bn_grad_case(SS_OP_BN_TRAIN, 1, 2, 1, 1, 3, 23); /* batch 1 */
    ck_assert_uint_eq(ss_op_get(SS_OP_BN_TRAIN)->diff_mask, 0x7);
}
END_TEST

/* The running statistics never receive a gradient, even when a caller asks. */
START_TEST(test_bn_train_no_running_grad)
{
    ss_shape v = ss_shape5(2, 1, 1, 1, 1);
    ss_shape xs[5] = {ss_shape5(2, 2, 1, 1, 3), v, v, v, v};
    float fp[2] = {0.1f, 1e-5f};
    opc o;
    TU_OK(opc_init(&o, SS_OP_BN_TRAIN, NULL, 0, fp, 2, 5, xs));
    opc_randomize(&o, 0.5f, 1.5f, 31);
    TU_OK(opc_fwd(&o, 1));
    float *g = tu_alloc(12), *gx[SS_MAX_IN] = {0};
    tu_fill_uniform(g, 12, -1, 1, 32);
    for (int i = 0; i < 5; i++) {
        gx[i] = tu_alloc((size_t)ss_numel(&xs[i]));
        for (int k = 0; k < ss_numel(&xs[i]); k++)
            gx[i][k] = 123.f;
    }
    TU_OK(opc_bwd(&o, g, gx, 0x1f));
    for (int k = 0; k < 2; k++) {
        ck_assert_float_eq(gx[3][k], 0.f);
        ck_assert_float_eq(gx[4][k], 0.f);
    }
    /* dbeta = sum dy per channel */
    for (int c = 0; c < 2; c++) {
        double s = 0;
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 3; j++)
                s += g[(n * 2 + c) * 3 + j];
        ck_assert_double_lt(fabs(gx[2][c] - s), 1e-6);
    }
    for (int i = 0; i < 5; i++)
        free(gx[i]);
    free(g);
    opc_free(&o);
}
END_TEST

START_TEST(test_bn_train_bad)
{
    ss_shape v = ss_shape5(4, 1, 1, 1, 1);
    ss_shape xs[5] = {ss_shape5(2, 4, 1, 3, 3), v, v, v, v};
    float fp[2] = {0.1f, 1e-5f};
    int k = SS_OP_BN_TRAIN;
    expect_bad(k, NULL, 0, fp, 2, 4, xs); /* missing running_var */
    ss_shape b[5] = {xs[0], v, ss_shape5(3, 1, 1, 1, 1), v, v};
    expect_bad(k, NULL, 0, fp, 2, 5, b); /* beta of 3 channels */
    ss_shape b2[5] = {xs[0], v, v, ss_shape5(1, 4, 1, 1, 1), v};
    expect_bad(k, NULL, 0, fp, 2, 5, b2); /* running_mean laid out along C */
    ss_shape b3[5] = {ss_shape5(1, 4, 1, 1, 1), v, v, v, v};
    expect_bad(k, NULL, 0, fp, 2, 5, b3); /* one value per channel */
    ss_shape b4[5] = {ss_shape5(2, 4, 0, 3, 3), v, v, v, v};
    expect_bad(k, NULL, 0, fp, 2, 5, b4); /* empty dim */
    float bm[2] = {1.5f, 1e-5f}, be[2] = {0.1f, -1e-5f}, bn[2] = {0.1f, NAN};
    expect_bad(k, NULL, 0, bm, 2, 5, xs);
    expect_bad(k, NULL, 0, be, 2, 5, xs);
    expect_bad(k, NULL, 0, bn, 2, 5, xs);
    /* FLOPs: 4 per element for the statistics, 4 for the normalisation */
    ck_assert_double_eq(flops_of(k, NULL, fp, 5, xs), 8.0 * 2 * 4 * 9);
}
END_TEST

/* ---- BN_EVAL ------------------------------------------------------------- */

/* Reference: y = x * s + t with s = gamma/sqrt(rv+eps), t = beta - rm*s. */
static void bn_eval_case(int N, int C, int D, int H, int W, uint64_t seed)
{
    ss_shape v = ss_shape5(C, 1, 1, 1, 1);
    ss_shape xs[5] = {ss_shape5(N, C, D, H, W), v, v, v, v};
    float fp[2] = {0.1f, 1e-3f};
    opc o;
    TU_OK(opc_init(&o, SS_OP_BN_EVAL, NULL, 0, fp, 2, 5, xs));
    opc_randomize(&o, -2.f, 2.f, seed);
    tu_fill_uniform(o.x[4], (size_t)C, 0.1f, 3.f, seed + 9);
    float *rm0 = tu_alloc((size_t)C), *rv0 = tu_alloc((size_t)C);
    memcpy(rm0, o.x[3], (size_t)C * sizeof(float));
    memcpy(rv0, o.x[4], (size_t)C * sizeof(float));
    TU_OK(opc_fwd(&o, 1));
    size_t n = (size_t)ss_numel(&xs[0]), S = (size_t)D * H * W;
    float *y = tu_alloc(n);
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i / S % (size_t)C);
        double s = o.x[1][c] / sqrt((double)o.x[4][c] + 1e-3f), t = o.x[2][c] - o.x[3][c] * s;
        y[i] = (float)(o.x[0][i] * s + t);
    }
    TU_ASSERT_CLOSE(o.y[0], y, n, F_ATOL, F_RTOL);
    /* running stats are read, not written */
    TU_ASSERT_CLOSE(o.x[3], rm0, (size_t)C, 0, 0);
    TU_ASSERT_CLOSE(o.x[4], rv0, (size_t)C, 0, 0);
    free(rm0);
    free(rv0);
    free(y);
    opc_free(&o);
}

START_TEST(test_bn_eval_forward)
{
    bn_eval_case(3, 5, 3, 5, 7, 41);
    bn_eval_case(3, 5, 1, 5, 7, 42);
    bn_eval_case(1, 1, 1, 1, 1, 43);
}
END_TEST

START_TEST(test_bn_eval_grad)
{
    bn_grad_case(SS_OP_BN_EVAL, 2, 3, 1, 2, 2, 51);
    bn_grad_case(SS_OP_BN_EVAL, 2, 2, 2, 2, 1, 52);
    ck_assert_uint_eq(ss_op_get(SS_OP_BN_EVAL)->diff_mask, 0x7);
}
END_TEST

START_TEST(test_bn_eval_bad)
{
    ss_shape v = ss_shape5(4, 1, 1, 1, 1);
    ss_shape xs[5] = {ss_shape5(2, 4, 1, 3, 3), v, v, v, v};
    float fp[2] = {0.f, 1e-5f};
    int k = SS_OP_BN_EVAL;
    expect_bad(k, NULL, 0, fp, 2, 3, xs);
    ss_shape b[5] = {xs[0], v, v, v, ss_shape5(5, 1, 1, 1, 1)};
    expect_bad(k, NULL, 0, fp, 2, 5, b);
    float be[2] = {0.f, -1.f};
    expect_bad(k, NULL, 0, be, 2, 5, xs);
    /* a negative running variance is a runtime error naming the op */
    opc o;
    TU_OK(opc_init(&o, k, NULL, 0, fp, 2, 5, xs));
    o.x[4][2] = -1.f;
    ck_assert_int_eq(opc_fwd(&o, 1), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "bn_eval"));
    opc_free(&o);
    /* FLOPs: subtract, scale, gamma, beta per element */
    ck_assert_double_eq(flops_of(k, NULL, fp, 5, xs), 4.0 * 72);
}
END_TEST

/* ---- INSTNORM ------------------------------------------------------------ */

static void instnorm_case(int N, int C, int D, int H, int W, int affine, uint64_t seed)
{
    ss_shape v = ss_shape5(C, 1, 1, 1, 1);
    ss_shape xs[3] = {ss_shape5(N, C, D, H, W), v, v};
    float fp[2] = {0.f, 1e-5f};
    int n_in = affine ? 3 : 1;
    opc o;
    TU_OK(opc_init(&o, SS_OP_INSTNORM, NULL, 0, fp, 2, n_in, xs));
    opc_randomize(&o, -1.f, 2.f, seed);
    TU_OK(opc_fwd(&o, 1));
    int S = D * H * W, NC = N * C;
    size_t n = (size_t)NC * S;
    float *y = tu_alloc(n), *f = tu_alloc((size_t)NC);
    double *mean = calloc((size_t)NC, sizeof(double)), *var = calloc((size_t)NC, sizeof(double));
    double *cnt = calloc((size_t)NC, sizeof(double));
    ref_norm(o.x[0], N, C, S, C, grp_gn, NC, affine ? o.x[1] : NULL, affine ? o.x[2] : NULL,
             1e-5f, y, mean, var, cnt);
    TU_ASSERT_CLOSE(o.y[0], y, n, F_ATOL, F_RTOL);
    to_float(mean, f, NC);
    TU_ASSERT_CLOSE(o.y[1], f, (size_t)NC, 1e-6, 1e-6);
    for (int k = 0; k < NC; k++)
        f[k] = (float)(1.0 / sqrt(var[k] + 1e-5f));
    TU_ASSERT_CLOSE(o.y[2], f, (size_t)NC, 1e-6, 1e-6);
    free(y);
    free(f);
    free(mean);
    free(var);
    free(cnt);
    opc_free(&o);
}

START_TEST(test_instnorm_forward)
{
    instnorm_case(3, 5, 3, 5, 7, 1, 61);
    instnorm_case(3, 5, 1, 5, 7, 1, 62);
    instnorm_case(3, 5, 3, 5, 7, 0, 63);
    instnorm_case(2, 3, 1, 1, 2, 0, 64);
}
END_TEST

/* Instance norm of (N,C,..) = training batch norm of the same memory viewed as
 * (1, N*C, ..) with gamma/beta tiled over N. */
START_TEST(test_instnorm_is_bn_of_view)
{
    int N = 3, C = 2, D = 2, H = 3, W = 5;
    ss_shape v = ss_shape5(C, 1, 1, 1, 1), w = ss_shape5(N * C, 1, 1, 1, 1);
    ss_shape xi[3] = {ss_shape5(N, C, D, H, W), v, v};
    ss_shape xb[5] = {ss_shape5(1, N * C, D, H, W), w, w, w, w};
    float fp[2] = {0.1f, 1e-5f};
    opc a, b;
    TU_OK(opc_init(&a, SS_OP_INSTNORM, NULL, 0, fp, 2, 3, xi));
    TU_OK(opc_init(&b, SS_OP_BN_TRAIN, NULL, 0, fp, 2, 5, xb));
    opc_randomize(&a, -3.f, 1.f, 71);
    memcpy(b.x[0], a.x[0], (size_t)ss_numel(&xi[0]) * sizeof(float));
    for (int k = 0; k < N * C; k++) {
        b.x[1][k] = a.x[1][k % C];
        b.x[2][k] = a.x[2][k % C];
        b.x[4][k] = 1.f;
    }
    TU_OK(opc_fwd(&a, 1));
    TU_OK(opc_fwd(&b, 1));
    size_t n = (size_t)ss_numel(&xi[0]);
    TU_ASSERT_CLOSE(a.y[0], b.y[0], n, 0, 0); /* same arithmetic: bit-identical */
    TU_ASSERT_CLOSE(a.y[1], b.y[1], (size_t)(N * C), 0, 0);
    TU_ASSERT_CLOSE(a.y[2], b.y[2], (size_t)(N * C), 0, 0);
    opc_free(&a);
    opc_free(&b);
}
END_TEST

START_TEST(test_instnorm_grad)
{
    for (int affine = 0; affine < 2; affine++) {
        ss_shape v = ss_shape5(3, 1, 1, 1, 1);
        ss_shape shapes[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(2, 3, 2, 1, 2)};
        for (int t = 0; t < 2; t++) {
            ss_shape xs[3] = {shapes[t], v, v};
            float fp[2] = {0.f, 1e-5f};
            opc o;
            TU_OK(opc_init(&o, SS_OP_INSTNORM, NULL, 0, fp, 2, affine ? 3 : 1, xs));
            opc_randomize(&o, -1.f, 1.f, 81 + (uint64_t)t);
            if (affine)
                tu_fill_uniform(o.x[1], 3, 0.5f, 1.5f, 83);
            TU_GRADCHECK(&o, affine ? 0x7u : 0x1u, G_EPS, G_ATOL, G_RTOL);
            opc_free(&o);
        }
    }
}
END_TEST

START_TEST(test_instnorm_bad)
{
    ss_shape v = ss_shape5(4, 1, 1, 1, 1);
    ss_shape xs[3] = {ss_shape5(2, 4, 1, 3, 3), v, v};
    float fp[2] = {0.f, 1e-5f};
    int k = SS_OP_INSTNORM;
    expect_bad(k, NULL, 0, fp, 2, 2, xs); /* gamma without beta */
    ss_shape b[3] = {xs[0], v, ss_shape5(2, 1, 1, 1, 1)};
    expect_bad(k, NULL, 0, fp, 2, 3, b);
    ss_shape b1[1] = {ss_shape5(2, 4, 1, 1, 1)};
    expect_bad(k, NULL, 0, fp, 2, 1, b1); /* one voxel per instance */
    float be[2] = {0.f, INFINITY};
    expect_bad(k, NULL, 0, be, 2, 1, xs);
    /* FLOPs: 8 per element with the affine, 6 without */
    ck_assert_double_eq(flops_of(k, NULL, fp, 3, xs), 8.0 * 72);
    ck_assert_double_eq(flops_of(k, NULL, fp, 1, xs), 6.0 * 72);
}
END_TEST

/* ---- GROUPNORM ----------------------------------------------------------- */

static void groupnorm_case(int N, int C, int D, int H, int W, int G, uint64_t seed)
{
    ss_shape v = ss_shape5(C, 1, 1, 1, 1);
    ss_shape xs[3] = {ss_shape5(N, C, D, H, W), v, v};
    float fp[2] = {0.f, 1e-5f};
    int ip[1] = {G};
    opc o;
    TU_OK(opc_init(&o, SS_OP_GROUPNORM, ip, 1, fp, 2, 3, xs));
    opc_randomize(&o, -1.f, 2.f, seed);
    TU_OK(opc_fwd(&o, 1));
    int S = D * H * W, NG = N * G;
    size_t n = (size_t)N * C * S;
    float *y = tu_alloc(n), *f = tu_alloc((size_t)NG);
    double *mean = calloc((size_t)NG, sizeof(double)), *var = calloc((size_t)NG, sizeof(double));
    double *cnt = calloc((size_t)NG, sizeof(double));
    ref_norm(o.x[0], N, C, S, G, grp_gn, NG, o.x[1], o.x[2], 1e-5f, y, mean, var, cnt);
    TU_ASSERT_CLOSE(o.y[0], y, n, F_ATOL, F_RTOL);
    to_float(mean, f, NG);
    TU_ASSERT_CLOSE(o.y[1], f, (size_t)NG, 1e-6, 1e-6);
    for (int k = 0; k < NG; k++)
        f[k] = (float)(1.0 / sqrt(var[k] + 1e-5f));
    TU_ASSERT_CLOSE(o.y[2], f, (size_t)NG, 1e-6, 1e-6);
    free(y);
    free(f);
    free(mean);
    free(var);
    free(cnt);
    opc_free(&o);
}

START_TEST(test_groupnorm_forward)
{
    groupnorm_case(3, 6, 3, 5, 7, 3, 91); /* 3-D, 2 channels per group */
    groupnorm_case(3, 6, 1, 5, 7, 2, 92); /* 2-D, 3 channels per group */
    groupnorm_case(3, 5, 1, 3, 5, 1, 93); /* one group (LayerNorm-like) */
    groupnorm_case(3, 5, 3, 1, 3, 5, 94); /* one channel per group */
    groupnorm_case(2, 4, 1, 1, 1, 4, 95); /* single element groups: y = beta */
}
END_TEST

/* Group norm with G = C equals affine instance norm. */
START_TEST(test_groupnorm_is_instnorm)
{
    ss_shape v = ss_shape5(5, 1, 1, 1, 1);
    ss_shape xs[3] = {ss_shape5(3, 5, 2, 3, 3), v, v};
    float fp[2] = {0.f, 1e-5f};
    int ip[1] = {5};
    opc a, b;
    TU_OK(opc_init(&a, SS_OP_GROUPNORM, ip, 1, fp, 2, 3, xs));
    TU_OK(opc_init(&b, SS_OP_INSTNORM, NULL, 0, fp, 2, 3, xs));
    opc_randomize(&a, -1.f, 1.f, 96);
    for (int i = 0; i < 3; i++)
        memcpy(b.x[i], a.x[i], (size_t)ss_numel(&xs[i]) * sizeof(float));
    TU_OK(opc_fwd(&a, 1));
    TU_OK(opc_fwd(&b, 1));
    TU_ASSERT_CLOSE(a.y[0], b.y[0], (size_t)ss_numel(&xs[0]), 0, 0);
    opc_free(&a);
    opc_free(&b);
}
END_TEST

START_TEST(test_groupnorm_grad)
{
    const int g[3] = {2, 1, 4};
    ss_shape shapes[3] = {ss_shape5(2, 4, 1, 2, 2), ss_shape5(2, 4, 2, 1, 2),
                          ss_shape5(1, 4, 2, 2, 1)};
    for (int t = 0; t < 3; t++) {
        ss_shape v = ss_shape5(4, 1, 1, 1, 1);
        ss_shape xs[3] = {shapes[t], v, v};
        float fp[2] = {0.f, 1e-5f};
        int ip[1] = {g[t]};
        opc o;
        TU_OK(opc_init(&o, SS_OP_GROUPNORM, ip, 1, fp, 2, 3, xs));
        opc_randomize(&o, -1.f, 1.f, 101 + (uint64_t)t);
        tu_fill_uniform(o.x[1], 4, 0.5f, 1.5f, 104);
        TU_GRADCHECK(&o, 0x7, G_EPS, G_ATOL, G_RTOL);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_groupnorm_bad)
{
    ss_shape v = ss_shape5(6, 1, 1, 1, 1);
    ss_shape xs[3] = {ss_shape5(2, 6, 1, 3, 3), v, v};
    float fp[2] = {0.f, 1e-5f};
    int k = SS_OP_GROUPNORM;
    int g4[1] = {4}, g0[1] = {0}, gm[1] = {-2}, g3[1] = {3};
    expect_bad(k, g4, 1, fp, 2, 3, xs); /* 6 % 4 != 0 */
    expect_bad(k, g0, 1, fp, 2, 3, xs);
    expect_bad(k, gm, 1, fp, 2, 3, xs);
    expect_bad(k, g3, 1, fp, 2, 1, xs); /* gamma and beta are required */
    ss_shape b[3] = {xs[0], ss_shape5(3, 1, 1, 1, 1), v};
    expect_bad(k, g3, 1, fp, 2, 3, b);
    float be[2] = {0.f, -1e-3f};
    expect_bad(k, g3, 1, be, 2, 3, xs);
    ck_assert_double_eq(flops_of(k, g3, fp, 3, xs), 8.0 * 108);
}
END_TEST

Suite *suite_norm(void)
{
    Suite *s = suite_create("norm");
    TCase *tc = tcase_create("norm");
    tcase_add_test(tc, test_bn_train_forward);
    tcase_add_test(tc, test_bn_train_hand);
    tcase_add_test(tc, test_bn_train_grad);
    tcase_add_test(tc, test_bn_train_no_running_grad);
    tcase_add_test(tc, test_bn_train_bad);
    tcase_add_test(tc, test_bn_eval_forward);
    tcase_add_test(tc, test_bn_eval_grad);
    tcase_add_test(tc, test_bn_eval_bad);
    tcase_add_test(tc, test_instnorm_forward);
    tcase_add_test(tc, test_instnorm_is_bn_of_view);
    tcase_add_test(tc, test_instnorm_grad);
    tcase_add_test(tc, test_instnorm_bad);
    tcase_add_test(tc, test_groupnorm_forward);
    tcase_add_test(tc, test_groupnorm_is_instnorm);
    tcase_add_test(tc, test_groupnorm_grad);
    tcase_add_test(tc, test_groupnorm_bad);
    suite_add_tcase(s, tc);
    return s;
}
