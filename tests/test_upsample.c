/* UPSAMPLE: hand values from PyTorch's index rules (nearest, linear with both
 * align_corners settings), forward against a separable axis-by-axis
 * formulation, finite-difference gradients, bad inputs and FLOP counts. */
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int up_setup(opc *o, int N, int C, const int in[3], int mode, int align, const int out[3],
                    uint64_t seed)
{
    int ip[5] = {mode, align, out[0], out[1], out[2]};
    ss_shape xs = ss_shape5(N, C, in[0], in[1], in[2]);
    int rc = opc_init(o, SS_OP_UPSAMPLE, ip, 5, NULL, 0, 1, &xs);
    if (rc == SS_OK)
        opc_randomize(o, -1.f, 1.f, seed);
    return rc;
}

/* Runs a (1,1,1,1,W) -> (1,1,1,1,Wo) case and compares with want exactly up
 * to tol (relative). */
static void hand_w(int mode, int align, const float *x, int W, const float *want, int Wo,
                   double tol)
{
    opc o;
    const int in[3] = {1, 1, W}, out[3] = {1, 1, Wo};
    TU_OK(up_setup(&o, 1, 1, in, mode, align, out, 1));
    memcpy(o.x[0], x, sizeof(float) * (size_t)W);
    TU_OK(opc_fwd(&o, 1));
    TU_ASSERT_CLOSE(o.y[0], want, (size_t)Wo, 0, tol);
    opc_free(&o);
}

START_TEST(test_upsample_hand_linear)
{
    /* x = [1, 3], W 2 -> 4. Tolerance rtol 2e-7 (PyTorch computes the source
     * index in float; the weights carry ~1 ulp).
     * align_corners=True: src = dst * (2-1)/(4-1) = 0, 1/3, 2/3, 1
     *   y = [1, 1 + 2/3, 1 + 4/3, 3].
     * align_corners=False: src = (dst + 0.5) * 2/4 - 0.5 = -0.25 -> 0, 0.25,
     *   0.75, 1.25; the last has i0 = 1 = in-1, so i1 = 1 too:
     *   y = [1, 0.75*1 + 0.25*3, 0.25*1 + 0.75*3, 3] = [1, 1.5, 2.5, 3]. */
    const float x[2] = {1, 3};
    const float ya[4] = {1.f, 5.f / 3.f, 7.f / 3.f, 3.f};
    const float yn[4] = {1.f, 1.5f, 2.5f, 3.f};
    hand_w(1, 1, x, 2, ya, 4, 2e-7);
    hand_w(1, 0, x, 2, yn, 4, 0);
    /* W 3 -> 2 (downsampling), x = [2, 4, 8].
     * align True: src = 0, 2 -> y = [2, 8].
     * align False: src = (dst + 0.5) * 1.5 - 0.5 = 0.25, 1.75
     *   -> [0.75*2 + 0.25*4, 0.25*4 + 0.75*8] = [2.5, 7]. */
    const float x3[3] = {2, 4, 8};
    const float d_a[2] = {2, 8}, d_n[2] = {2.5f, 7.f};
    hand_w(1, 1, x3, 3, d_a, 2, 0);
    hand_w(1, 0, x3, 3, d_n, 2, 0);
    /* out == 1: align True -> src 0 -> x0; align False -> src = 0.5*3 - 0.5 = 1 -> x1. */
    const float o_a[1] = {2}, o_n[1] = {4};
    hand_w(1, 1, x3, 3, o_a, 1, 0);
    hand_w(1, 0, x3, 3, o_n, 1, 0);
}
END_TEST

START_TEST(test_upsample_hand_bilinear)
{
    /* H 2 -> 3, W 2 -> 4, align False, x = [[1, 3], [5, 7]] (bilinear, D = 1).
     * H: scale 2/3, src = (dst+0.5)*2/3 - 0.5 = -1/6 -> 0, 0.5, 7/6 (i0 = i1 = 1)
     *   -> row weights: [x0], [0.5 x0 + 0.5 x1], [x1].
     * W as in the 1-D case: [c0, 0.75 c0 + 0.25 c1, 0.25 c0 + 0.75 c1, c1].
     * Rows: r0 = [1, 1.5, 2.5, 3], r2 = [5, 5.5, 6.5, 7], r1 = mean = [3, 3.5, 4.5, 5]. */
    opc o;
    const int in[3] = {1, 2, 2}, out[3] = {1, 3, 4};
    TU_OK(up_setup(&o, 1, 1, in, 1, 0, out, 1));
    const float x[4] = {1, 3, 5, 7};
    memcpy(o.x[0], x, sizeof x);
    TU_OK(opc_fwd(&o, 1));
    const float want[12] = {1, 1.5f, 2.5f, 3, 3, 3.5f, 4.5f, 5, 5, 5.5f, 6.5f, 7};
    /* weights 2/3 in float give ~1 ulp error on the 0.5 row weight: rtol 2e-7 */
    TU_ASSERT_CLOSE(o.y[0], want, 12, 0, 2e-7);
    /* Backward (scatter-add of the same weights): gy = 1 everywhere ->
     * gx[h][w] = (row weight sum) * (col weight sum) = 1.5 * 2 = 3 each. */
    float gy[12];
    for (int i = 0; i < 12; i++)
        gy[i] = 1.f;
    float *gx[SS_MAX_IN] = {tu_alloc(4)};
    TU_OK(opc_bwd(&o, gy, gx, 1u));
    const float wg[4] = {3, 3, 3, 3};
    TU_ASSERT_CLOSE(gx[0], wg, 4, 0, 2e-7);
    free(gx[0]);
    opc_free(&o);
}
END_TEST

START_TEST(test_upsample_hand_backward_w)
{
    /* W 2 -> 4, align False, gy = [1, 2, 3, 4]: weights per output
     * (x0, x1) = (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1) [last: i0 = i1 = 1,
     * 0.75 + 0.25] -> gx = [1 + 1.5 + 0.75, 0.5 + 2.25 + 4] = [3.25, 6.75].
     * align True: weights (1,0), (2/3,1/3), (1/3,2/3), (0,1)
     * -> gx = [1 + 4/3 + 1, 2/3 + 2 + 4] = [10/3, 20/3]. */
    const float gy[4] = {1, 2, 3, 4};
    for (int align = 0; align < 2; align++) {
        opc o;
        const int in[3] = {1, 1, 2}, out[3] = {1, 1, 4};
        TU_OK(up_setup(&o, 1, 1, in, 1, align, out, 1));
        float *gx[SS_MAX_IN] = {tu_alloc(2)};
        TU_OK(opc_bwd(&o, gy, gx, 1u));
        const float wn[2] = {3.25f, 6.75f}, wa[2] = {10.f / 3.f, 20.f / 3.f};
        TU_ASSERT_CLOSE(gx[0], align ? wa : wn, 2, 0, 2e-7);
        free(gx[0]);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_upsample_hand_nearest)
{
    /* PyTorch 'nearest': src = floor(dst * in/out).
     * W 3 -> 5: scale 0.6 -> floor(0, 0.6, 1.2, 1.8, 2.4) = 0, 0, 1, 1, 2.
     * W 5 -> 3: scale 5/3 -> floor(0, 1.67, 3.33) = 0, 1, 3.
     * W 2 -> 4: 0, 0, 1, 1. Exact copies. */
    const float x3[3] = {10, 20, 30}, w35[5] = {10, 10, 20, 20, 30};
    hand_w(0, 0, x3, 3, w35, 5, 0);
    const float x5[5] = {1, 2, 3, 4, 5}, w53[3] = {1, 2, 4};
    hand_w(0, 0, x5, 5, w53, 3, 0);
    const float x2[2] = {-1, 7}, w24[4] = {-1, -1, 7, 7};
    hand_w(0, 0, x2, 2, w24, 4, 0);
    /* Backward: gx[i] sums gy over outputs reading i: 3 -> 5 with gy = 1..5
     * -> [1+2, 3+4, 5]. */
    opc o;
    const int in[3] = {1, 1, 3}, out[3] = {1, 1, 5};
    TU_OK(up_setup(&o, 1, 1, in, 0, 0, out, 1));
    const float gy[5] = {1, 2, 3, 4, 5};
    float *gx[SS_MAX_IN] = {tu_alloc(3)};
    TU_OK(opc_bwd(&o, gy, gx, 1u));
    const float wg[3] = {3, 7, 5};
    TU_ASSERT_CLOSE(gx[0], wg, 3, 0, 0);
    free(gx[0]);
    opc_free(&o);
}
END_TEST

/* Separable reference. Per axis, the PyTorch weights are recomputed here as a
 * dense (out x in) matrix M; the volume is then contracted with M along W, H
 * and D in turn (double). Nearest uses the exact integer rule
 * floor(dst*in/out), which equals PyTorch's float rule for these sizes. */
static double *axis_matrix(int in, int out, int mode, int align)
{
    double *m = calloc((size_t)in * (size_t)out, sizeof(double));
    ck_assert_ptr_nonnull(m);
    for (int o = 0; o < out; o++) {
        if (mode == 0) {
            int s = (int)(((long long)o * in) / out);
            m[(size_t)o * in + (s < in ? s : in - 1)] = 1.0;
            continue;
        }
        float src;
        if (align)
            src = out == 1 ? 0.f : ((float)(in - 1) / (float)(out - 1)) * (float)o;
        else
            src = fmaxf(((float)in / (float)out) * ((float)o + 0.5f) - 0.5f, 0.f);
        int lo = (int)src; /* src >= 0: truncation = floor */
        if (lo >= in - 1) {
            m[(size_t)o * in + (in - 1)] = 1.0;
            continue;
        }
        float frac = src - (float)lo;
        m[(size_t)o * in + lo] += 1.0f - frac;
        m[(size_t)o * in + lo + 1] += frac;
    }
    return m;
}

static void upsample_separable(const opc *o, float *y)
{
    int planes = o->xs[0].d[0] * o->xs[0].d[1];
    int dims[3] = {o->xs[0].d[2], o->xs[0].d[3], o->xs[0].d[4]};
    size_t nx = (size_t)ss_numel(&o->xs[0]);
    double *cur = malloc(nx * sizeof(double));
    ck_assert_ptr_nonnull(cur);
    for (size_t i = 0; i < nx; i++)
        cur[i] = o->x[0][i];
    for (int j = 2; j >= 0; j--) {
        int in = dims[j], out = o->ys[0].d[2 + j];
        double *m = axis_matrix(in, out, o->ip[0], o->ip[1]);
        size_t inner = 1, outer = (size_t)planes;
        for (int q = j + 1; q < 3; q++)
            inner *= (size_t)dims[q];
        for (int q = 0; q < j; q++)
            outer *= (size_t)dims[q];
        double *nxt = calloc(outer * (size_t)out * inner, sizeof(double));
        ck_assert_ptr_nonnull(nxt);
        for (size_t a = 0; a < outer; a++)
            for (int t = 0; t < out; t++)
                for (int i = 0; i < in; i++) {
                    double w = m[(size_t)t * in + i];
                    if (w == 0.0)
                        continue;
                    for (size_t b = 0; b < inner; b++)
                        nxt[(a * out + t) * inner + b] += w * cur[(a * in + i) * inner + b];
                }
        free(m);
        free(cur);
        cur = nxt;
        dims[j] = out;
    }
    size_t ny = (size_t)ss_numel(&o->ys[0]);
    for (size_t i = 0; i < ny; i++)
        y[i] = (float)cur[i];
    free(cur);
}

typedef struct ucfg {
    int N, C, in[3], out[3];
} ucfg;

static const ucfg fwd_cases[] = {
    {3, 5, {3, 5, 7}, {6, 10, 14}}, /* 2x trilinear, odd sizes */
    {2, 3, {3, 4, 5}, {5, 7, 4}},   /* mixed up/down */
    {2, 3, {1, 5, 7}, {1, 9, 11}},  /* 2-D bilinear */
    {1, 2, {1, 3, 2}, {4, 1, 5}},   /* D 1 -> 4 (trilinear), H -> 1 */
};

START_TEST(test_upsample_fwd_separable)
{
    /* Both sides use float weights and double sums; the kernel multiplies the
     * three axis weights per neighbour, the reference applies one axis at a
     * time: tolerance atol 1e-6 + rtol 1e-6. */
    for (size_t c = 0; c < sizeof fwd_cases / sizeof fwd_cases[0]; c++)
        for (int mode = 0; mode < 2; mode++)
            for (int align = 0; align <= mode; align++) {
                const ucfg *u = &fwd_cases[c];
                opc o;
                TU_OK(up_setup(&o, u->N, u->C, u->in, mode, align, u->out, 7 + c));
                TU_OK(opc_fwd(&o, 1));
                size_t n = (size_t)ss_numel(&o.ys[0]);
                float *ref = tu_alloc(n);
                upsample_separable(&o, ref);
                TU_ASSERT_CLOSE(o.y[0], ref, n, 1e-6, 1e-6);
                free(ref);
                opc_free(&o);
            }
}
END_TEST

START_TEST(test_upsample_gradcheck)
{
    /* The op is linear in x: central differences are exact up to FP32
     * rounding of y. eps 1e-2, atol 1e-4, rtol 1e-3. */
    const ucfg cases[] = {
        {2, 2, {2, 3, 2}, {4, 5, 3}},
        {1, 2, {1, 3, 4}, {1, 6, 7}},
        {1, 1, {3, 2, 4}, {2, 3, 3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int mode = 0; mode < 2; mode++)
            for (int align = 0; align <= mode; align++) {
                opc o;
                TU_OK(up_setup(&o, cases[c].N, cases[c].C, cases[c].in, mode, align,
                               cases[c].out, 17 + c));
                TU_GRADCHECK(&o, 1u, 1e-2, 1e-4, 1e-3);
                opc_free(&o);
            }
}
END_TEST

static void expect_err(const int *ip, int n_in, const ss_shape *xs, const char *what)
{
    opc o;
    ss_clearerr();
    int rc = opc_init(&o, SS_OP_UPSAMPLE, ip, 5, NULL, 0, n_in, xs);
    ck_assert_msg(rc == SS_ERR, "upsample: expected an error for %s", what);
    ck_assert_msg(strstr(semiseg_error(), "upsample") != NULL, "message '%s' should name upsample",
                  semiseg_error());
    ck_assert_msg(strstr(semiseg_error(), "(") != NULL, "message '%s' should show shapes",
                  semiseg_error());
}

START_TEST(test_upsample_bad_input)
{
    ss_shape xs[2] = {ss_shape5(2, 3, 4, 5, 6), ss_shape5(2, 3, 4, 5, 6)};
    int ok[5] = {1, 1, 8, 10, 12};
    opc o;
    TU_OK(opc_init(&o, SS_OP_UPSAMPLE, ok, 5, NULL, 0, 1, xs));
    ss_shape want = ss_shape5(2, 3, 8, 10, 12);
    ck_assert(ss_shape_eq(&o.ys[0], &want));
    opc_free(&o);
    int mode2[5] = {2, 0, 8, 10, 12};
    expect_err(mode2, 1, xs, "mode 2");
    int align_near[5] = {0, 1, 8, 10, 12};
    expect_err(align_near, 1, xs, "align_corners with nearest");
    int align2[5] = {1, 2, 8, 10, 12};
    expect_err(align2, 1, xs, "align_corners 2");
    int out0[5] = {1, 0, 8, 0, 12};
    expect_err(out0, 1, xs, "zero output size");
    expect_err(ok, 2, xs, "two inputs");
    xs[0].d[4] = 0;
    expect_err(ok, 1, xs, "empty input");
}
END_TEST

START_TEST(test_upsample_flops)
{
    /* 2 FLOPs per neighbour: trilinear 8, bilinear 4, nearest 0. */
    const int in3[3] = {3, 5, 7}, out3[3] = {6, 10, 14}, in2[3] = {1, 5, 7}, out2[3] = {1, 9, 11};
    const struct {
        const int *in, *out;
        int mode;
        double want;
    } cases[] = {
        {in3, out3, 1, 16.0 * 3 * 5 * 840},
        {in2, out2, 1, 8.0 * 3 * 5 * 99},
        {in3, out3, 0, 0.0},
    };
    for (int c = 0; c < 3; c++) {
        opc o;
        TU_OK(up_setup(&o, 3, 5, cases[c].in, cases[c].mode, 0, cases[c].out, 1));
        ss_op_args a;
        memset(&a, 0, sizeof a);
        a.kind = o.kind;
        a.ip = o.ip;
        a.n_in = 1;
        a.n_out = 1;
        a.xs[0] = o.xs[0];
        a.ys[0] = o.ys[0];
        ck_assert_double_eq(ss_op_get(o.kind)->flops(&a), cases[c].want);
        opc_free(&o);
    }
}
END_TEST

Suite *suite_upsample(void)
{
    Suite *s = suite_create("upsample");
    TCase *tc = tcase_create("upsample");
    tcase_add_test(tc, test_upsample_hand_linear);
    tcase_add_test(tc, test_upsample_hand_bilinear);
    tcase_add_test(tc, test_upsample_hand_backward_w);
    tcase_add_test(tc, test_upsample_hand_nearest);
    tcase_add_test(tc, test_upsample_fwd_separable);
    tcase_add_test(tc, test_upsample_gradcheck);
    tcase_add_test(tc, test_upsample_bad_input);
    tcase_add_test(tc, test_upsample_flops);
    suite_add_tcase(s, tc);
    return s;
}
