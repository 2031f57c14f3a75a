/* CE and MSE: forward against formulations written here and hand values,
 * finite-difference gradients, ignore_index handling, runtime errors for NaN/Inf
 * inputs and bad labels (SS_ERR with a message, no crash), shape errors, thread
 * count independence, FLOP counts. */
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static void expect_infer_err(int kind, const int *ip, int n_in, const ss_shape *xs)
{
    opc o;
    ss_clearerr();
    int rc = opc_init(&o, kind, ip, ip ? SS_MAX_IP : 0, NULL, 0, n_in, xs);
    ck_assert_int_eq(rc, SS_ERR);
    const char *name = ss_op_name(kind);
    ck_assert_msg(strncmp(semiseg_error(), name, strlen(name)) == 0, "message '%s' lacks '%s'",
                  semiseg_error(), name);
}

/* The forward must fail with a message starting "op:" and containing each of
 * the given fragments. */
static void expect_run_err(opc *o, const char *f1, const char *f2)
{
    ss_clearerr();
    ck_assert_int_eq(opc_fwd(o, 1), SS_ERR);
    const char *msg = semiseg_error(), *name = ss_op_name(o->kind);
    ck_assert_msg(strncmp(msg, name, strlen(name)) == 0, "message '%s' lacks '%s'", msg, name);
    ck_assert_msg(!f1 || strstr(msg, f1), "message '%s' lacks '%s'", msg, f1);
    ck_assert_msg(!f2 || strstr(msg, f2), "message '%s' lacks '%s'", msg, f2);
}

/* ---- CE -------------------------------------------------------------------- */

/* Reference: explicit softmax probabilities per voxel (class-outer loops over a
 * per-voxel max / sum array), then the mean of -log p[label] over counted voxels. */
static double naive_ce(const float *x, const float *lab, const ss_shape *s, int ignore)
{
    int N = s->d[0], C = s->d[1];
    size_t sp = (size_t)s->d[2] * s->d[3] * s->d[4], nv = (size_t)N * sp;
    double *mx = malloc(nv * sizeof(double)), *se = calloc(nv, sizeof(double));
    for (size_t v = 0; v < nv; v++)
        mx[v] = -INFINITY;
    for (int c = 0; c < C; c++)
        for (size_t v = 0; v < nv; v++) {
            double t = x[((v / sp) * C + c) * sp + v % sp];
            mx[v] = t > mx[v] ? t : mx[v];
        }
    for (int c = 0; c < C; c++)
        for (size_t v = 0; v < nv; v++)
            se[v] += exp(x[((v / sp) * C + c) * sp + v % sp] - mx[v]);
    double loss = 0;
    size_t cnt = 0;
    for (size_t v = 0; v < nv; v++) {
        if (lab[v] == (float)ignore)
            continue;
        int l = (int)lab[v];
        double p = exp(x[((v / sp) * C + l) * sp + v % sp] - mx[v]) / se[v];
        loss -= log(p);
        cnt++;
    }
    free(mx);
    free(se);
    return loss / (double)cnt;
}

/* logits uniform in [-3, 3), labels uniform class ids with about one in five set
 * to the ignore index */
static void ce_setup(opc *o, const ss_shape *s, int ignore, uint64_t seed)
{
    int ip[SS_MAX_IP] = {ignore};
    ss_shape xs[2] = {*s, ss_shape5(s->d[0], 1, s->d[2], s->d[3], s->d[4])};
    TU_OK(opc_init(o, SS_OP_CE, ip, 1, NULL, 0, 2, xs));
    ck_assert(ss_shape_eq(&o->ys[0], &(ss_shape){{1, 1, 1, 1, 1}}));
    opc_randomize(o, -3.f, 3.f, seed);
    size_t nv = (size_t)ss_numel(&xs[1]);
    float *u = tu_alloc(nv);
    tu_fill_uniform(u, nv, 0.f, 1.f, seed + 7);
    for (size_t v = 0; v < nv; v++) {
        o->x[1][v] = floorf(u[v] * (float)s->d[1]);
        if (u[v] * 5.f - floorf(u[v] * 5.f) < 0.2f) /* fractional part: ~20% */
            o->x[1][v] = (float)ignore;
    }
    free(u);
}

START_TEST(test_ce_forward)
{
    /* 3-D and 2-D, default ignore -100; also ignore_index = 2 (a real class).
     * Tolerance: a mean of O(1) values, both in double: 1e-6 relative. */
    const ss_shape shapes[2] = {ss_shape5(3, 5, 3, 5, 7), ss_shape5(3, 5, 1, 5, 7)};
    const int ignores[2] = {-100, 2};
    for (int t = 0; t < 2; t++)
        for (int g = 0; g < 2; g++) {
            opc o;
            ce_setup(&o, &shapes[t], ignores[g], 200 + t * 2 + g);
            TU_OK(opc_fwd(&o, 1));
            float want = (float)naive_ce(o.x[0], o.x[1], &o.xs[0], ignores[g]);
            TU_ASSERT_CLOSE(o.y[0], &want, 1, 0, 1e-6);
            opc_free(&o);
        }
}
END_TEST

START_TEST(test_ce_hand)
{
    /* voxel 0: logits (0, 0), label 0 -> log 2; voxel 1: logits (1, 3), label 1
     * -> log(1 + e^-2); voxel 2 ignored (label -100) with huge logits.
     * mean = (log 2 + log(1 + e^-2)) / 2 */
    ss_shape xs[2] = {ss_shape5(1, 2, 1, 1, 3), ss_shape5(1, 1, 1, 1, 3)};
    int ip[SS_MAX_IP] = {-100};
    opc o;
    TU_OK(opc_init(&o, SS_OP_CE, ip, 1, NULL, 0, 2, xs));
    const float x[6] = {0, 1, 1e30f, 0, 3, -1e30f}, l[3] = {0, 1, -100};
    memcpy(o.x[0], x, sizeof x);
    memcpy(o.x[1], l, sizeof l);
    TU_OK(opc_fwd(&o, 1));
    float want = (float)((log(2.0) + log1p(exp(-2.0))) / 2);
    TU_ASSERT_CLOSE(o.y[0], &want, 1, 0, 1e-6);
    /* gradient: (softmax - onehot) / 2; ignored voxel 0 */
    float g = 1.f, *gx[SS_MAX_IN] = {tu_alloc(6)};
    TU_OK(opc_bwd(&o, &g, gx, 1u));
    double s1 = 1 / (1 + exp(-2.0)); /* p(class 1) at voxel 1 */
    const float wg[6] = {(0.5f - 1.f) / 2, (float)((1 - s1) / 2), 0, 0.5f / 2,
                         (float)((s1 - 1) / 2), 0};
    TU_ASSERT_CLOSE(gx[0], wg, 6, 1e-7, 1e-6);
    free(gx[0]);
    opc_free(&o);
}
END_TEST

START_TEST(test_ce_grad)
{
    /* Smooth; eps 1e-2: truncation ~eps^2 * |f'''| / 6 ~ 1e-6 per voxel, FP32
     * rounding of L (~1) ~6e-8 / 2e-2 = 3e-6; atol 2e-5, rtol 1e-3. */
    ss_shape s = ss_shape5(2, 3, 1, 2, 2);
    opc o;
    ce_setup(&o, &s, -100, 301);
    TU_GRADCHECK(&o, 1u, 1e-2, 2e-5, 1e-3);
    opc_free(&o);
    ss_shape s3 = ss_shape5(1, 4, 2, 2, 2);
    ce_setup(&o, &s3, 1, 302); /* ignore class 1 */
    TU_GRADCHECK(&o, 1u, 1e-2, 2e-5, 1e-3);
    opc_free(&o);
}
END_TEST

START_TEST(test_ce_runtime_errors)
{
    ss_shape s = ss_shape5(2, 3, 1, 2, 2);
    opc o;
    ce_setup(&o, &s, -100, 401);
    TU_OK(opc_fwd(&o, 1));
    /* NaN logit at flat index 7 = (n 0, class 1, voxel 3) */
    float keep = o.x[0][7];
    o.x[0][7] = NAN;
    expect_run_err(&o, "index 7", "nan");
    o.x[0][7] = INFINITY;
    expect_run_err(&o, "index 7", "inf");
    o.x[0][7] = keep;
    /* labels: out of range (3 with C = 3), negative non-ignore, fractional, NaN */
    keep = o.x[1][5];
    o.x[1][5] = 3.f;
    expect_run_err(&o, "label 3 at index 5", "[0, 3)");
    float g = 1.f, *gx[SS_MAX_IN] = {tu_alloc(12)};
    ck_assert_int_eq(opc_bwd(&o, &g, gx, 1u), SS_ERR); /* backward refuses it too */
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "label 3 at index 5"));
    o.x[1][5] = -1.f;
    expect_run_err(&o, "label -1 at index 5", NULL);
    o.x[1][5] = 1.5f;
    expect_run_err(&o, "label 1.5 at index 5", NULL);
    o.x[1][5] = NAN;
    expect_run_err(&o, "label nan at index 5", NULL);
    o.x[1][5] = keep;
    TU_OK(opc_fwd(&o, 1));
    /* every voxel ignored */
    for (int v = 0; v < 4 * 2; v++)
        o.x[1][v] = -100.f;
    expect_run_err(&o, "all voxels ignored", NULL);
    free(gx[0]);
    opc_free(&o);
}
END_TEST

START_TEST(test_ce_bad)
{
    int ip[SS_MAX_IP] = {-100};
    ss_shape two_ch[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(2, 2, 1, 2, 2)};
    expect_infer_err(SS_OP_CE, ip, 2, two_ch);
    ss_shape sp_mis[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(2, 1, 1, 2, 3)};
    expect_infer_err(SS_OP_CE, ip, 2, sp_mis);
    ss_shape n_mis[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(1, 1, 1, 2, 2)};
    expect_infer_err(SS_OP_CE, ip, 2, n_mis);
    expect_infer_err(SS_OP_CE, ip, 1, n_mis);
    ss_shape zero[2] = {ss_shape5(2, 0, 1, 2, 2), ss_shape5(2, 1, 1, 2, 2)};
    expect_infer_err(SS_OP_CE, ip, 2, zero);
}
END_TEST

START_TEST(test_ce_flops)
{
    ss_op_args a = {.kind = SS_OP_CE, .n_in = 2, .n_out = 1};
    a.xs[0] = ss_shape5(3, 5, 1, 5, 7);
    a.xs[1] = ss_shape5(3, 1, 1, 5, 7);
    const ss_op_desc *d = ss_op_get(SS_OP_CE);
    ck_assert_double_eq(d->flops(&a), 3.0 * 35 * (4 * 5 + 2)); /* (4C + 2) per voxel */
    ck_assert_uint_eq(d->diff_mask, 1u);
}
END_TEST

/* ---- MSE ------------------------------------------------------------------- */

START_TEST(test_mse_forward)
{
    /* Reference: the expansion (sum a^2 - 2 sum ab + sum b^2) / n in long double,
     * a different algorithm from the kernel's sum of squared differences; with
     * values in [-1, 1) cancellation is mild: 1e-6 relative. */
    const ss_shape shapes[2] = {ss_shape5(3, 5, 3, 5, 7), ss_shape5(3, 5, 1, 5, 7)};
    for (int t = 0; t < 2; t++) {
        ss_shape xs[2] = {shapes[t], shapes[t]};
        opc o;
        TU_OK(opc_init(&o, SS_OP_MSE, NULL, 0, NULL, 0, 2, xs));
        ck_assert(ss_shape_eq(&o.ys[0], &(ss_shape){{1, 1, 1, 1, 1}}));
        opc_randomize(&o, -1.f, 1.f, 500 + t);
        TU_OK(opc_fwd(&o, 1));
        size_t n = (size_t)ss_numel(&shapes[t]);
        long double aa = 0, ab = 0, bb = 0;
        for (size_t i = 0; i < n; i++) {
            aa += (long double)o.x[0][i] * o.x[0][i];
            ab += (long double)o.x[0][i] * o.x[1][i];
            bb += (long double)o.x[1][i] * o.x[1][i];
        }
        float want = (float)((aa - 2 * ab + bb) / n);
        TU_ASSERT_CLOSE(o.y[0], &want, 1, 0, 1e-6);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_mse_hand)
{
    /* a = (1, 2, 3), b = (1, 0, 0): (0 + 4 + 9) / 3; grads 2 (a - b) / 3 * g */
    ss_shape xs[2] = {ss_shape5(1, 3, 1, 1, 1), ss_shape5(1, 3, 1, 1, 1)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_MSE, NULL, 0, NULL, 0, 2, xs));
    const float a[3] = {1, 2, 3}, b[3] = {1, 0, 0};
    memcpy(o.x[0], a, sizeof a);
    memcpy(o.x[1], b, sizeof b);
    TU_OK(opc_fwd(&o, 0));
    float want = 13.f / 3.f;
    TU_ASSERT_CLOSE(o.y[0], &want, 1, 0, 1e-7);
    float g = 0.5f, *gx[SS_MAX_IN] = {tu_alloc(3), tu_alloc(3)};
    TU_OK(opc_bwd(&o, &g, gx, 3u));
    const float ga[3] = {0, 2.f / 3.f, 1.f}, gb[3] = {0, -2.f / 3.f, -1.f};
    TU_ASSERT_CLOSE(gx[0], ga, 3, 0, 1e-6);
    TU_ASSERT_CLOSE(gx[1], gb, 3, 0, 1e-6);
    free(gx[0]);
    free(gx[1]);
    opc_free(&o);
}
END_TEST

START_TEST(test_mse_grad)
{
    /* quadratic: central differences exact up to FP32 rounding of L (~0.5):
     * ~3e-8 / 2e-2 ~ 2e-6; eps 1e-2, atol 2e-5, rtol 1e-3 */
    ss_shape xs[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(2, 3, 1, 2, 2)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_MSE, NULL, 0, NULL, 0, 2, xs));
    opc_randomize(&o, -1.f, 1.f, 601);
    TU_GRADCHECK(&o, 3u, 1e-2, 2e-5, 1e-3);
    opc_free(&o);
}
END_TEST

START_TEST(test_mse_runtime_errors)
{
    ss_shape xs[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(2, 3, 1, 2, 2)};
    opc o;
    TU_OK(opc_init(&o, SS_OP_MSE, NULL, 0, NULL, 0, 2, xs));
    opc_randomize(&o, -1.f, 1.f, 701);
    o.x[0][9] = NAN;
    expect_run_err(&o, "input a", "nan at index 9");
    o.x[0][9] = 0.f;
    o.x[1][4] = -INFINITY;
    expect_run_err(&o, "input b", "-inf at index 4");
    o.x[1][4] = 0.f;
    TU_OK(opc_fwd(&o, 1));
    opc_free(&o);
}
END_TEST

START_TEST(test_mse_bad)
{
    ss_shape mis[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(2, 3, 1, 2, 1)};
    expect_infer_err(SS_OP_MSE, NULL, 2, mis);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "same shape"));
    expect_infer_err(SS_OP_MSE, NULL, 1, mis);
    ss_shape zero[2] = {ss_shape5(2, 3, 0, 2, 2), ss_shape5(2, 3, 0, 2, 2)};
    expect_infer_err(SS_OP_MSE, NULL, 2, zero);
}
END_TEST

START_TEST(test_mse_flops)
{
    ss_op_args a = {.kind = SS_OP_MSE, .n_in = 2, .n_out = 1};
    a.xs[0] = a.xs[1] = ss_shape5(3, 5, 3, 5, 7);
    const ss_op_desc *d = ss_op_get(SS_OP_MSE);
    ck_assert_double_eq(d->flops(&a), 3.0 * 3 * 5 * 105); /* sub, square, add */
    ck_assert_uint_eq(d->diff_mask, 3u);
}
END_TEST

/* ---- both ------------------------------------------------------------------ */

START_TEST(test_loss_thread_independent)
{
    /* the block-ordered double sums give bit-identical results for 1 and 3 threads */
    ss_shape s = ss_shape5(2, 4, 3, 5, 7);
    opc ce, mse;
    ce_setup(&ce, &s, -100, 801);
    ss_shape ms[2] = {s, s};
    TU_OK(opc_init(&mse, SS_OP_MSE, NULL, 0, NULL, 0, 2, ms));
    opc_randomize(&mse, -1.f, 1.f, 802);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    TU_OK(opc_fwd(&ce, 1));
    TU_OK(opc_fwd(&mse, 1));
    float c1 = ce.y[0][0], m1 = mse.y[0][0];
    omp_set_num_threads(3);
    TU_OK(opc_fwd(&ce, 1));
    TU_OK(opc_fwd(&mse, 1));
    omp_set_num_threads(saved);
    ck_assert(c1 == ce.y[0][0] && m1 == mse.y[0][0]);
    opc_free(&ce);
    opc_free(&mse);
}
END_TEST

Suite *suite_loss(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("ce");
    tcase_add_test(tc, test_ce_forward);
    tcase_add_test(tc, test_ce_hand);
    tcase_add_test(tc, test_ce_grad);
    tcase_add_test(tc, test_ce_runtime_errors);
    tcase_add_test(tc, test_ce_bad);
    tcase_add_test(tc, test_ce_flops);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("mse");
    tcase_add_test(tm, test_mse_forward);
    tcase_add_test(tm, test_mse_hand);
    tcase_add_test(tm, test_mse_grad);
    tcase_add_test(tm, test_mse_runtime_errors);
    tcase_add_test(tm, test_mse_bad);
    tcase_add_test(tm, test_mse_flops);
    tcase_add_test(tm, test_loss_thread_independent);
    suite_add_tcase(s, tm);
    return s;
}
