/* Dropout: the mask is the rule of kernels/op.h evaluated here directly
 * (u(seed, stream, step, e) >= p), reproducible for a step and different across
 * steps/streams/seeds; the kept fraction is statistically 1 - p; channel mode
 * drops whole (n, c) planes; scaling by 1/(1-p); p = 0 and p = 1; backward. */
#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/rng.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* seed_lo = -5 checks that ip[1] is taken as its uint32 bit pattern. */
#define SEED_LO (-5)
#define SEED_HI 0x12345678
#define STREAM 7
static const uint64_t g_seed = (uint64_t)0xFFFFFFFBu | (uint64_t)0x12345678u << 32;

static void expect_bad(const int *ip, const float *fp, int n_in, const ss_shape *xs)
{
    opc o;
    ss_clearerr();
    ck_assert_int_eq(opc_init(&o, SS_OP_DROPOUT, ip, 4, fp, 1, n_in, xs), SS_ERR);
    const char *msg = semiseg_error();
    ck_assert_msg(strncmp(msg, "dropout:", 8) == 0, "error does not name dropout: %s", msg);
}

static void dropout_init(opc *o, int mode, float p, const ss_shape *xs, uint64_t step)
{
    int ip[4] = {mode, SEED_LO, SEED_HI, STREAM};
    TU_OK(opc_init(o, SS_OP_DROPOUT, ip, 4, &p, 1, 1, xs));
    /* strictly positive inputs, so a zero output means "dropped" */
    opc_randomize(o, 0.5f, 1.5f, 99);
    o->step = step;
}

/* Every element follows the rule; kept ones are x/(1-p) within one FP32
 * rounding (rtol 2e-7 against the double quotient). Returns the kept count. */
static size_t check_rule(const opc *o, int mode, float p)
{
    const ss_shape *s = &o->xs[0];
    size_t n = (size_t)ss_numel(s), S = (size_t)ss_spatial(s), kept = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t e = mode ? i / S : i; /* n*C + c for channel mode */
        int keep = ss_rng_uniform(g_seed, STREAM, o->step, e) >= p;
        float y = o->y[0][i];
        if (keep) {
            double want = o->x[0][i] / (1.0 - p);
            ck_assert_msg(fabs(y - want) <= 2e-7 * want, "[%zu] kept: got %.9g want %.9g", i,
                          (double)y, want);
            kept++;
        } else {
            ck_assert_msg(y == 0.f, "[%zu] dropped but y = %g", i, (double)y);
        }
    }
    return kept;
}

START_TEST(test_dropout_rule_and_fraction)
{
    /* 4*8*32*32 = 32768 elements; kept fraction sd sqrt(p(1-p)/n) ~ 0.0025 */
    const float ps[3] = {0.1f, 0.3f, 0.5f};
    ss_shape xs = ss_shape5(4, 8, 1, 32, 32);
    for (int k = 0; k < 3; k++) {
        opc o;
        dropout_init(&o, 0, ps[k], &xs, 3);
        TU_OK(opc_fwd(&o, 1));
        double n = (double)ss_numel(&xs), frac = (double)check_rule(&o, 0, ps[k]) / n;
        double sd = sqrt(ps[k] * (1.0 - ps[k]) / n);
        ck_assert_msg(fabs(frac - (1.0 - ps[k])) <= 5 * sd, "p %g: kept %g, want %g +- %g",
                      (double)ps[k], frac, 1.0 - ps[k], 5 * sd);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_dropout_reproducible)
{
    ss_shape xs = ss_shape5(3, 5, 3, 5, 7);
    size_t n = (size_t)ss_numel(&xs);
    opc o;
    dropout_init(&o, 0, 0.5f, &xs, 10);
    TU_OK(opc_fwd(&o, 1));
    float *y1 = tu_alloc(n);
    memcpy(y1, o.y[0], n * sizeof(float));
    TU_OK(opc_fwd(&o, 1)); /* same step: same mask */
    TU_ASSERT_CLOSE(o.y[0], y1, n, 0, 0);
    check_rule(&o, 0, 0.5f);
    o.step = 11; /* next step: a different mask */
    TU_OK(opc_fwd(&o, 1));
    check_rule(&o, 0, 0.5f);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += (o.y[0][i] == 0.f) != (y1[i] == 0.f);
    ck_assert_msg(differ > n / 4, "only %zu of %zu mask entries changed with the step", differ,
                  n);
    /* other stream and other seed_hi also change the mask */
    o.step = 10;
    o.ip[3] = STREAM + 1;
    TU_OK(opc_fwd(&o, 1));
    differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += (o.y[0][i] == 0.f) != (y1[i] == 0.f);
    ck_assert(differ > n / 4);
    o.ip[3] = STREAM;
    o.ip[2] = SEED_HI + 1;
    TU_OK(opc_fwd(&o, 1));
    differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += (o.y[0][i] == 0.f) != (y1[i] == 0.f);
    ck_assert(differ > n / 4);
    free(y1);
    opc_free(&o);
}
END_TEST

/* Channel mode: each (n, c) plane is all kept or all zero, decided by
 * u(e = n*C + c); 16*64 = 1024 channels put the kept fraction within 5 sd. */
START_TEST(test_dropout_channel)
{
    ss_shape shapes[2] = {ss_shape5(16, 64, 2, 2, 3), ss_shape5(16, 64, 1, 3, 3)};
    for (int t = 0; t < 2; t++) {
        opc o;
        float p = 0.4f;
        dropout_init(&o, 1, p, &shapes[t], 5);
        TU_OK(opc_fwd(&o, 1));
        size_t S = (size_t)ss_spatial(&shapes[t]), rows = 16 * 64;
        size_t kept = check_rule(&o, 1, p);
        ck_assert_uint_eq(kept % S, 0);
        for (size_t r = 0; r < rows; r++) {
            size_t nz = 0;
            for (size_t j = 0; j < S; j++)
                nz += o.y[0][r * S + j] != 0.f;
            ck_assert_msg(nz == 0 || nz == S, "channel %zu partly dropped (%zu of %zu)", r, nz,
                          S);
        }
        double frac = (double)(kept / S) / (double)rows, sd = sqrt(p * (1.0 - p) / rows);
        ck_assert_msg(fabs(frac - (1.0 - p)) <= 5 * sd, "kept channels %g", frac);
        opc_free(&o);
    }
}
END_TEST

/* The boundary: an element whose u equals p exactly is kept (u >= p). */
START_TEST(test_dropout_boundary)
{
    ss_shape xs = ss_shape5(2, 3, 1, 2, 2);
    for (int mode = 0; mode < 2; mode++) {
        uint64_t e = 5; /* element 5, or channel (n=1, c=2) in channel mode */
        float p = ss_rng_uniform(g_seed, STREAM, 4, e);
        opc o;
        dropout_init(&o, mode, p, &xs, 4);
        TU_OK(opc_fwd(&o, 1));
        check_rule(&o, mode, p);
        size_t i = mode ? 5 * 4 : 5;
        ck_assert_msg(o.y[0][i] != 0.f, "u == p must keep (p %.9g)", (double)p);
        opc_free(&o);
    }
}
END_TEST

/* p = 0 is the identity; p = 1 gives zeros (no division by zero). */
START_TEST(test_dropout_p_edges)
{
    ss_shape xs = ss_shape5(2, 3, 1, 4, 5);
    size_t n = (size_t)ss_numel(&xs);
    for (int mode = 0; mode < 2; mode++) {
        opc o;
        dropout_init(&o, mode, 0.f, &xs, 1);
        TU_OK(opc_fwd(&o, 1));
        TU_ASSERT_CLOSE(o.y[0], o.x[0], n, 0, 0);
        o.fp[0] = 1.f;
        TU_OK(opc_fwd(&o, 1));
        for (size_t i = 0; i < n; i++)
            ck_assert_float_eq(o.y[0][i], 0.f);
        float *g = tu_alloc(n), *dx = tu_alloc(n), *gx[SS_MAX_IN] = {dx};
        tu_fill_uniform(g, n, -1.f, 1.f, 3);
        TU_OK(opc_bwd(&o, g, gx, 0x1));
        for (size_t i = 0; i < n; i++)
            ck_assert_float_eq(dx[i], 0.f);
        free(g);
        free(dx);
        opc_free(&o);
    }
}
END_TEST

/* Backward regenerates the mask: dx = dropout(dy) with the same step, exactly,
 * and agrees with finite differences (the op is linear: eps 1e-2, atol 1e-3,
 * rtol 1e-2). */
START_TEST(test_dropout_backward)
{
    ss_shape xs = ss_shape5(2, 3, 2, 3, 3);
    size_t n = (size_t)ss_numel(&xs);
    for (int mode = 0; mode < 2; mode++) {
        opc o;
        dropout_init(&o, mode, 0.3f, &xs, 42);
        TU_OK(opc_fwd(&o, 1));
        float *g = tu_alloc(n), *dx = tu_alloc(n), *gx[SS_MAX_IN] = {dx};
        tu_fill_uniform(g, n, -1.f, 1.f, 8);
        TU_OK(opc_bwd(&o, g, gx, 0x1));
        memcpy(o.x[0], g, n * sizeof(float));
        TU_OK(opc_fwd(&o, 1));
        TU_ASSERT_CLOSE(dx, o.y[0], n, 0, 0);
        opc_randomize(&o, -1.f, 1.f, 9);
        TU_GRADCHECK(&o, 0x1, 1e-2, 1e-3, 1e-2);
        free(g);
        free(dx);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_dropout_bad)
{
    ss_shape xs[2] = {ss_shape5(2, 3, 1, 4, 4), ss_shape5(2, 3, 1, 4, 4)};
    ss_shape empty[1] = {ss_shape5(2, 3, 0, 4, 4)};
    int ip[4] = {0, 1, 2, 3}, ip2[4] = {2, 1, 2, 3}, ipm[4] = {-1, 1, 2, 3};
    float p = 0.5f, pbig = 1.5f, pneg = -0.1f, pnan = NAN;
    expect_bad(ip2, &p, 1, xs);    /* mode 2 */
    expect_bad(ipm, &p, 1, xs);    /* mode -1 */
    expect_bad(ip, &pbig, 1, xs);  /* p > 1 */
    expect_bad(ip, &pneg, 1, xs);  /* p < 0 */
    expect_bad(ip, &pnan, 1, xs);  /* p NaN */
    expect_bad(ip, &p, 2, xs);     /* two inputs */
    expect_bad(ip, &p, 1, empty);  /* empty dim */
    /* FLOPs: one multiply per element */
    ss_op_args a;
    memset(&a, 0, sizeof a);
    a.kind = SS_OP_DROPOUT;
    a.ip = ip;
    a.fp = &p;
    a.n_in = 1;
    a.xs[0] = xs[0];
    ck_assert_double_eq(ss_op_get(SS_OP_DROPOUT)->flops(&a), 96.0);
}
END_TEST

Suite *suite_dropout(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("dropout");
    tcase_add_test(tc, test_dropout_rule_and_fraction);
    tcase_add_test(tc, test_dropout_reproducible);
    tcase_add_test(tc, test_dropout_channel);
    tcase_add_test(tc, test_dropout_boundary);
    tcase_add_test(tc, test_dropout_p_edges);
    tcase_add_test(tc, test_dropout_backward);
    tcase_add_test(tc, test_dropout_bad);
    suite_add_tcase(s, tc);
    return s;
}
