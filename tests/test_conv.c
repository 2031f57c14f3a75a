/* CONV and DECONV: forward against an im2col + matmul formulation (conv) and a
 * scatter formulation (deconv), the adjoint identity <conv(x;w), y> =
 * <x, deconv(y;w)>, hand-computed k2s2 transposed convolutions, finite-
 * difference gradients, bad inputs and FLOP counts. */
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cfg {
    int N, Ci, Co;
    int in[3], k[3], s[3], p[3], op[3];
    int bias;
} cfg;

static int conv_setup(opc *o, const cfg *c, uint64_t seed)
{
    int ip[6];
    ss_shape xs[3] = {ss_shape5(c->N, c->Ci, c->in[0], c->in[1], c->in[2]),
                      ss_shape5(c->Co, c->Ci, c->k[0], c->k[1], c->k[2]),
                      ss_shape5(c->Co, 1, 1, 1, 1)};
    for (int j = 0; j < 3; j++) {
        ip[j] = c->s[j];
        ip[3 + j] = c->p[j];
    }
    int rc = opc_init(o, SS_OP_CONV, ip, 6, NULL, 0, c->bias ? 3 : 2, xs);
    if (rc == SS_OK)
        opc_randomize(o, -1.f, 1.f, seed);
    return rc;
}

static int deconv_setup(opc *o, const cfg *c, uint64_t seed)
{
    int ip[9];
    ss_shape xs[3] = {ss_shape5(c->N, c->Ci, c->in[0], c->in[1], c->in[2]),
                      ss_shape5(c->Ci, c->Co, c->k[0], c->k[1], c->k[2]),
                      ss_shape5(c->Co, 1, 1, 1, 1)};
    for (int j = 0; j < 3; j++) {
        ip[j] = c->s[j];
        ip[3 + j] = c->p[j];
        ip[6 + j] = c->op[j];
    }
    int rc = opc_init(o, SS_OP_DECONV, ip, 9, NULL, 0, c->bias ? 3 : 2, xs);
    if (rc == SS_OK)
        opc_randomize(o, -1.f, 1.f, seed);
    return rc;
}

/* Conv as im2col + matmul: col[(ci,kd,kh,kw), o] holds the (zero-padded) input
 * under each kernel tap; y[co, o] = sum_r w[co, r] * col[r, o] + b[co]. */
static void conv_im2col(const opc *o, float *y)
{
    const ss_shape *xs = &o->xs[0], *ws = &o->xs[1], *ys = &o->ys[0];
    int N = xs->d[0], Ci = xs->d[1], Co = ws->d[0];
    int I[3] = {xs->d[2], xs->d[3], xs->d[4]}, O[3] = {ys->d[2], ys->d[3], ys->d[4]};
    int k[3] = {ws->d[2], ws->d[3], ws->d[4]};
    int R = Ci * k[0] * k[1] * k[2], P = O[0] * O[1] * O[2];
    double *col = malloc(sizeof(double) * (size_t)R * (size_t)P);
    ck_assert_ptr_nonnull(col);
    for (int n = 0; n < N; n++) {
        for (int r = 0; r < R; r++) {
            int kw = r % k[2], kh = (r / k[2]) % k[1], kd = (r / (k[2] * k[1])) % k[0];
            int ci = r / (k[0] * k[1] * k[2]);
            for (int q = 0; q < P; q++) {
                int ow = q % O[2], oh = (q / O[2]) % O[1], od = q / (O[2] * O[1]);
                int id = od * o->ip[0] - o->ip[3] + kd, ih = oh * o->ip[1] - o->ip[4] + kh,
                    iw = ow * o->ip[2] - o->ip[5] + kw;
                int in = id >= 0 && id < I[0] && ih >= 0 && ih < I[1] && iw >= 0 && iw < I[2];
                col[(size_t)r * P + q] =
                    in ? o->x[0][(((size_t)n * Ci + ci) * I[0] + id) * I[1] * I[2] +
                                 (size_t)ih * I[2] + iw]
                       : 0.0;
            }
        }
        for (int co = 0; co < Co; co++)
            for (int q = 0; q < P; q++) {
                double acc = o->n_in == 3 ? o->x[2][co] : 0.0;
                for (int r = 0; r < R; r++)
                    acc += (double)o->x[1][(size_t)co * R + r] * col[(size_t)r * P + q];
                y[((size_t)n * Co + co) * P + q] = (float)acc;
            }
    }
    free(col);
}

/* Deconv by scattering every input element through the kernel:
 * y[n,co,i*s-p+k] += x[n,ci,i] * w[ci,co,k], then + b[co]. */
static void deconv_scatter(const opc *o, float *y)
{
    const ss_shape *xs = &o->xs[0], *ws = &o->xs[1], *ys = &o->ys[0];
    int N = xs->d[0], Ci = xs->d[1], Co = ws->d[1];
    int I[3] = {xs->d[2], xs->d[3], xs->d[4]}, O[3] = {ys->d[2], ys->d[3], ys->d[4]};
    int k[3] = {ws->d[2], ws->d[3], ws->d[4]};
    size_t ny = (size_t)ss_numel(ys), P = (size_t)O[0] * O[1] * O[2];
    double *acc = calloc(ny, sizeof(double));
    ck_assert_ptr_nonnull(acc);
    for (int n = 0; n < N; n++)
        for (int ci = 0; ci < Ci; ci++)
            for (int id = 0; id < I[0]; id++)
                for (int ih = 0; ih < I[1]; ih++)
                    for (int iw = 0; iw < I[2]; iw++) {
                        double xv = o->x[0][((((size_t)n * Ci + ci) * I[0] + id) * I[1] + ih) *
                                                I[2] +
                                            iw];
                        for (int co = 0; co < Co; co++)
                            for (int kd = 0; kd < k[0]; kd++)
                                for (int kh = 0; kh < k[1]; kh++)
                                    for (int kw = 0; kw < k[2]; kw++) {
                                        int od = id * o->ip[0] - o->ip[3] + kd;
                                        int oh = ih * o->ip[1] - o->ip[4] + kh;
                                        int ow = iw * o->ip[2] - o->ip[5] + kw;
                                        if (od < 0 || od >= O[0] || oh < 0 || oh >= O[1] ||
                                            ow < 0 || ow >= O[2])
                                            continue;
                                        double wv = o->x[1][((((size_t)ci * Co + co) * k[0] + kd) *
                                                                 k[1] +
                                                             kh) *
                                                                k[2] +
                                                            kw];
                                        acc[((size_t)n * Co + co) * P +
                                            ((size_t)od * O[1] + oh) * O[2] + ow] += xv * wv;
                                    }
                    }
    for (size_t i = 0; i < ny; i++) {
        size_t co = (i / P) % (size_t)Co;
        y[i] = (float)(acc[i] + (o->n_in == 3 ? o->x[2][co] : 0.0));
    }
    free(acc);
}

static const cfg conv_cases[] = {
    /* 3-D, odd shapes, asymmetric kernel/stride/pad, bias */
    {3, 5, 4, {3, 5, 7}, {3, 2, 3}, {1, 2, 2}, {1, 0, 1}, {0, 0, 0}, 1},
    /* 2-D (D = 1), no bias */
    {2, 3, 6, {1, 7, 6}, {1, 3, 3}, {1, 1, 2}, {0, 1, 1}, {0, 0, 0}, 0},
    /* padding larger than the kernel (some windows fully in padding) */
    {1, 2, 3, {2, 3, 4}, {1, 2, 1}, {1, 3, 2}, {0, 2, 2}, {0, 0, 0}, 1},
    /* V-Net style k5 p2 and k2 s2 down-convolution */
    {2, 2, 3, {5, 4, 5}, {5, 5, 5}, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}, 1},
    {2, 3, 4, {4, 6, 5}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, 1},
};

START_TEST(test_conv_fwd_im2col)
{
    /* Both sides sum in double and round once: agreement to ~1 ulp; tolerance
     * atol 1e-5 + rtol 1e-5. */
    for (size_t c = 0; c < sizeof conv_cases / sizeof conv_cases[0]; c++) {
        opc o;
        TU_OK(conv_setup(&o, &conv_cases[c], 11 + c));
        TU_OK(opc_fwd(&o, 1));
        size_t n = (size_t)ss_numel(&o.ys[0]);
        float *ref = tu_alloc(n);
        conv_im2col(&o, ref);
        TU_ASSERT_CLOSE(o.y[0], ref, n, 1e-5, 1e-5);
        free(ref);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_conv_shape)
{
    opc o;
    const cfg c = {3, 5, 4, {3, 5, 7}, {3, 2, 3}, {1, 2, 2}, {1, 0, 1}, {0, 0, 0}, 1};
    TU_OK(conv_setup(&o, &c, 1));
    /* D: (3+2-3)/1+1 = 3, H: (5-2)/2+1 = 2, W: (7+2-3)/2+1 = 4 */
    ss_shape want = ss_shape5(3, 4, 3, 2, 4);
    ck_assert(ss_shape_eq(&o.ys[0], &want));
    opc_free(&o);
}
END_TEST

START_TEST(test_conv_gradcheck)
{
    /* Conv is linear in each single element of x, w and b, so the central
     * difference is exact up to FP32 rounding of y (~1e-7 relative); with
     * eps 1e-2 the numeric gradient is good to ~1e-5. Tolerance atol 1e-4,
     * rtol 1e-3. */
    const cfg cases[] = {
        {2, 2, 3, {3, 4, 3}, {2, 3, 2}, {2, 1, 2}, {1, 1, 0}, {0, 0, 0}, 1},
        {2, 3, 2, {1, 5, 4}, {1, 3, 2}, {1, 2, 1}, {0, 1, 1}, {0, 0, 0}, 0},
        {1, 2, 2, {3, 3, 3}, {1, 1, 2}, {2, 3, 1}, {0, 1, 1}, {0, 0, 0}, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        opc o;
        TU_OK(conv_setup(&o, &cases[c], 21 + c));
        TU_GRADCHECK(&o, cases[c].bias ? 7u : 3u, 1e-2, 1e-4, 1e-3);
        opc_free(&o);
    }
}
END_TEST

static void expect_err(int kind, const int *ip, int nip, int n_in, const ss_shape *xs,
                       const char *name, const char *what)
{
    opc o;
    ss_clearerr();
    int rc = opc_init(&o, kind, ip, nip, NULL, 0, n_in, xs);
    ck_assert_msg(rc == SS_ERR, "%s: expected an error for %s", name, what);
    ck_assert_msg(strstr(semiseg_error(), name) != NULL, "message '%s' should name %s",
                  semiseg_error(), name);
    ck_assert_msg(strstr(semiseg_error(), "(") != NULL, "message '%s' should show shapes",
                  semiseg_error());
}

START_TEST(test_conv_bad_input)
{
    int ip[6] = {1, 1, 1, 0, 1, 1};
    ss_shape x = ss_shape5(2, 3, 4, 5, 6), w = ss_shape5(4, 3, 3, 3, 3), b = ss_shape5(4, 1, 1, 1, 1);
    ss_shape in[3] = {x, w, b};
    opc o;
    TU_OK(opc_init(&o, SS_OP_CONV, ip, 6, NULL, 0, 3, in));
    opc_free(&o);
    in[1] = ss_shape5(4, 2, 3, 3, 3); /* Ci mismatch */
    expect_err(SS_OP_CONV, ip, 6, 3, in, "conv", "channel mismatch");
    in[1] = w;
    in[2] = ss_shape5(3, 1, 1, 1, 1); /* bias length != Co */
    expect_err(SS_OP_CONV, ip, 6, 3, in, "conv", "bias shape");
    in[2] = ss_shape5(4, 1, 1, 1, 2);
    expect_err(SS_OP_CONV, ip, 6, 3, in, "conv", "bias shape");
    in[2] = b;
    int bad_stride[6] = {1, 0, 1, 0, 1, 1};
    expect_err(SS_OP_CONV, bad_stride, 6, 3, in, "conv", "zero stride");
    int bad_pad[6] = {1, 1, 1, 0, -1, 1};
    expect_err(SS_OP_CONV, bad_pad, 6, 3, in, "conv", "negative pad");
    in[1] = ss_shape5(4, 3, 6, 3, 3); /* kD 6 > D 4 + 0 */
    expect_err(SS_OP_CONV, ip, 6, 3, in, "conv", "kernel larger than input");
    in[1] = w;
    in[0] = ss_shape5(2, 3, 0, 5, 6);
    expect_err(SS_OP_CONV, ip, 6, 3, in, "conv", "empty input");
    in[0] = x;
    expect_err(SS_OP_CONV, ip, 6, 1, in, "conv", "one input");
}
END_TEST


START_TEST(test_conv_flops)
{
    opc o;
    const cfg c = {3, 5, 4, {3, 5, 7}, {3, 2, 3}, {1, 2, 2}, {1, 0, 1}, {0, 0, 0}, 1};
    TU_OK(conv_setup(&o, &c, 1));
    /* y (3,4,3,2,4): 2 * N3 * Co4 * Ci5 * K18 * 24 + 288 bias adds */
    ck_assert_double_eq(opc_flops(&o), 2.0 * 3 * 4 * 5 * 18 * 24 + 3 * 4 * 24);
    opc_free(&o);
    const cfg d = {2, 3, 4, {4, 6, 5}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, 1};
    TU_OK(deconv_setup(&o, &d, 1));
    /* x (2,3,4,6,5) -> y (2,4,8,12,10): 2 * N2 * Ci3 * Co4 * K8 * 120 + |y| */
    ck_assert_int_eq(o.ys[0].d[2], 8);
    ck_assert_double_eq(opc_flops(&o), 2.0 * 2 * 3 * 4 * 8 * 120 + 2 * 4 * 960);
    opc_free(&o);
}
END_TEST

/* ---- DECONV ---------------------------------------------------------------- */

static const cfg deconv_cases[] = {
    /* 3-D, odd shapes, output padding, bias */
    {3, 5, 2, {3, 4, 2}, {3, 2, 3}, {2, 2, 1}, {1, 0, 1}, {1, 1, 0}, 1},
    /* 2-D, stride 3 with output padding 2 */
    {2, 3, 4, {1, 3, 5}, {1, 4, 2}, {1, 3, 2}, {0, 1, 0}, {0, 2, 1}, 0},
    /* V-Net k2 s2 up-convolution */
    {2, 4, 3, {3, 2, 3}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, 1},
    /* stride 1, large pad */
    {1, 2, 3, {4, 5, 3}, {3, 3, 3}, {1, 1, 1}, {2, 1, 1}, {0, 0, 0}, 1},
};

START_TEST(test_deconv_fwd_scatter)
{
    /* Both sides sum in double and round once; tolerance atol 1e-5 + rtol 1e-5. */
    for (size_t c = 0; c < sizeof deconv_cases / sizeof deconv_cases[0]; c++) {
        opc o;
        TU_OK(deconv_setup(&o, &deconv_cases[c], 31 + c));
        TU_OK(opc_fwd(&o, 1));
        size_t n = (size_t)ss_numel(&o.ys[0]);
        float *ref = tu_alloc(n);
        deconv_scatter(&o, ref);
        TU_ASSERT_CLOSE(o.y[0], ref, n, 1e-5, 1e-5);
        free(ref);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_deconv_adjoint)
{
    /* <conv(x; w), y> == <x, deconv(y; w)> with the same w, no bias, and
     * output_padding = (I + 2p - k) mod s so that deconv returns x's size.
     * Each side is a double sum of float products of values in [-1, 1); the
     * outputs carry FP32 rounding ~6e-8 relative, so tolerance 1e-5 of the sum
     * of |terms|. */
    const cfg cases[] = {
        {2, 3, 4, {5, 6, 7}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {0, 0, 0}, 0},
        {3, 2, 5, {4, 6, 5}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, 0},
        {2, 4, 3, {1, 9, 8}, {1, 3, 4}, {1, 3, 2}, {0, 1, 2}, {0, 0, 0}, 0},
        {1, 3, 2, {5, 5, 5}, {5, 5, 5}, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cfg cc = cases[c];
        opc cv, dc;
        TU_OK(conv_setup(&cv, &cc, 41 + c));
        TU_OK(opc_fwd(&cv, 1));
        cfg dd = cc;
        dd.Ci = cc.Co;
        dd.Co = cc.Ci;
        for (int j = 0; j < 3; j++) {
            dd.in[j] = cv.ys[0].d[2 + j];
            dd.op[j] = (cc.in[j] + 2 * cc.p[j] - cc.k[j]) % cc.s[j];
        }
        TU_OK(deconv_setup(&dc, &dd, 51 + c));
        for (int i = 0; i < 5; i++)
            ck_assert_int_eq(dc.ys[0].d[i], cv.xs[0].d[i]);
        memcpy(dc.x[1], cv.x[1], sizeof(float) * (size_t)ss_numel(&cv.xs[1]));
        TU_OK(opc_fwd(&dc, 1));
        double lhs = 0, rhs = 0, mag = 0;
        size_t ny = (size_t)ss_numel(&cv.ys[0]), nx = (size_t)ss_numel(&cv.xs[0]);
        for (size_t i = 0; i < ny; i++) {
            lhs += (double)cv.y[0][i] * dc.x[0][i];
            mag += fabs((double)cv.y[0][i] * dc.x[0][i]);
        }
        for (size_t i = 0; i < nx; i++)
            rhs += (double)cv.x[0][i] * dc.y[0][i];
        ck_assert_msg(fabs(lhs - rhs) <= 1e-5 * mag, "case %zu: <conv x, y> %.9g vs <x, deconv y> %.9g",
                      c, lhs, rhs);
        opc_free(&cv);
        opc_free(&dc);
    }
}
END_TEST

START_TEST(test_deconv_k2s2_hand)
{
    /* Exact small values: every output takes exactly one product (k = s). */
    /* 1) W: x c0 = [1, 2], c1 = [-1, 4]; w[0,0] = [3, 5], w[1,0] = [0.5, -2]; b = 0.25:
     *    y = [1*3 - 1*0.5, 1*5 - 1*(-2), 2*3 + 4*0.5, 2*5 + 4*(-2)] + 0.25 */
    {
        opc o;
        int ip[9] = {1, 1, 2, 0, 0, 0, 0, 0, 0};
        ss_shape xs[3] = {ss_shape5(1, 2, 1, 1, 2), ss_shape5(2, 1, 1, 1, 2),
                          ss_shape5(1, 1, 1, 1, 1)};
        TU_OK(opc_init(&o, SS_OP_DECONV, ip, 9, NULL, 0, 3, xs));
        const float x[4] = {1, 2, -1, 4}, w[4] = {3, 5, 0.5f, -2}, want[4] = {2.75f, 7.25f, 8.25f, 2.25f};
        memcpy(o.x[0], x, sizeof x);
        memcpy(o.x[1], w, sizeof w);
        o.x[2][0] = 0.25f;
        TU_OK(opc_fwd(&o, 1));
        ck_assert_int_eq(o.ys[0].d[4], 4);
        TU_ASSERT_CLOSE(o.y[0], want, 4, 0, 0);
        opc_free(&o);
    }
    /* 2) 3-D: x (1,1,2,1,1) = [1, -1], w (1,1,2,2,2) = 1..8, s 2:
     *    y (1,1,4,2,2)[d,h,w] = x[d/2] * w[d%2,h,w]. */
    {
        opc o;
        int ip[9] = {2, 2, 2, 0, 0, 0, 0, 0, 0};
        ss_shape xs[2] = {ss_shape5(1, 1, 2, 1, 1), ss_shape5(1, 1, 2, 2, 2)};
        TU_OK(opc_init(&o, SS_OP_DECONV, ip, 9, NULL, 0, 2, xs));
        o.x[0][0] = 1;
        o.x[0][1] = -1;
        for (int i = 0; i < 8; i++)
            o.x[1][i] = (float)(i + 1);
        TU_OK(opc_fwd(&o, 1));
        ss_shape ys = ss_shape5(1, 1, 4, 2, 2);
        ck_assert(ss_shape_eq(&o.ys[0], &ys));
        const float want[16] = {1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8};
        TU_ASSERT_CLOSE(o.y[0], want, 16, 0, 0);
        opc_free(&o);
    }
    /* 3) k2 s2 with output_padding 1 and pad 0 along W: x = [2], w = [1, 3] ->
     *    size (1-1)*2 + 2 + 1 = 3, y = [2, 6, 0] + b (b = -1) = [1, 5, -1]. */
    {
        opc o;
        int ip[9] = {1, 1, 2, 0, 0, 0, 0, 0, 1};
        ss_shape xs[3] = {ss_shape5(1, 1, 1, 1, 1), ss_shape5(1, 1, 1, 1, 2),
                          ss_shape5(1, 1, 1, 1, 1)};
        TU_OK(opc_init(&o, SS_OP_DECONV, ip, 9, NULL, 0, 3, xs));
        o.x[0][0] = 2;
        o.x[1][0] = 1;
        o.x[1][1] = 3;
        o.x[2][0] = -1;
        TU_OK(opc_fwd(&o, 1));
        const float want[3] = {1, 5, -1};
        ck_assert_int_eq(o.ys[0].d[4], 3);
        TU_ASSERT_CLOSE(o.y[0], want, 3, 0, 0);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_deconv_gradcheck)
{
    /* Linear in each element (see conv): eps 1e-2, atol 1e-4, rtol 1e-3. */
    const cfg cases[] = {
        {2, 2, 3, {2, 3, 2}, {3, 2, 3}, {2, 2, 1}, {1, 0, 1}, {1, 1, 0}, 1},
        {1, 3, 2, {1, 3, 4}, {1, 2, 2}, {1, 2, 2}, {0, 0, 0}, {0, 0, 0}, 0},
        {2, 2, 2, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 1, 0}, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        opc o;
        TU_OK(deconv_setup(&o, &cases[c], 61 + c));
        TU_GRADCHECK(&o, cases[c].bias ? 7u : 3u, 1e-2, 1e-4, 1e-3);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_deconv_bad_input)
{
    int ip[9] = {2, 2, 2, 0, 0, 0, 1, 1, 1};
    ss_shape x = ss_shape5(2, 3, 4, 5, 6), w = ss_shape5(3, 4, 2, 2, 2), b = ss_shape5(4, 1, 1, 1, 1);
    ss_shape in[3] = {x, w, b};
    opc o;
    TU_OK(opc_init(&o, SS_OP_DECONV, ip, 9, NULL, 0, 3, in));
    opc_free(&o);
    in[1] = ss_shape5(4, 3, 2, 2, 2); /* w dim 0 must be Ci = 3 */
    expect_err(SS_OP_DECONV, ip, 9, 3, in, "deconv", "channel mismatch");
    in[1] = w;
    in[2] = ss_shape5(3, 1, 1, 1, 1); /* bias must be Co = 4 */
    expect_err(SS_OP_DECONV, ip, 9, 3, in, "deconv", "bias shape");
    in[2] = b;
    int op_big[9] = {2, 2, 2, 0, 0, 0, 0, 2, 0}; /* output_padding == stride */
    expect_err(SS_OP_DECONV, op_big, 9, 3, in, "deconv", "output_padding >= stride");
    int op_neg[9] = {2, 2, 2, 0, 0, 0, 0, -1, 0};
    expect_err(SS_OP_DECONV, op_neg, 9, 3, in, "deconv", "negative output_padding");
    int s0[9] = {2, 0, 2, 0, 0, 0, 0, 0, 0};
    expect_err(SS_OP_DECONV, s0, 9, 3, in, "deconv", "zero stride");
    /* output size (1-1)*1 - 2*2 + 2 = -2 */
    int pad_big[9] = {1, 1, 1, 2, 0, 0, 0, 0, 0};
    in[0] = ss_shape5(2, 3, 1, 5, 6);
    expect_err(SS_OP_DECONV, pad_big, 9, 3, in, "deconv", "non-positive output size");
}
END_TEST

Suite *suite_conv(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_add_test(tc, test_conv_shape);
    tcase_add_test(tc, test_conv_fwd_im2col);
    tcase_add_test(tc, test_conv_gradcheck);
    tcase_add_test(tc, test_conv_bad_input);
    tcase_add_test(tc, test_conv_flops);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("deconv");
    tcase_add_test(td, test_deconv_fwd_scatter);
    tcase_add_test(td, test_deconv_adjoint);
    tcase_add_test(td, test_deconv_k2s2_hand);
    tcase_add_test(td, test_deconv_gradcheck);
    tcase_add_test(td, test_deconv_bad_input);
    suite_add_tcase(s, td);
    return s;
}
