/* The CUDA backend against the CPU reference.
 *
 * GPU tests (each prints "cuda: SKIP <test>: no CUDA device (...)" and passes
 * when no device or no CUDA build is available): every op of kernels/op.h runs
 * forward and backward on the CPU reference and on the GPU from the same
 * random inputs and the same output gradient; outputs (and BN_TRAIN's updated
 * running statistics) and input gradients must agree by
 *   normalized MSE  sum((gpu-cpu)^2) / sum(cpu^2) <= nmse, and
 *   every element   |gpu - cpu| <= atol + rtol * |cpu|.
 * Tolerances (stated per class below):
 *   EXACT  atol 0, rtol 0: ops whose GPU kernel does the reference's float
 *          operations in the same order (dropout, sort/rank, relu, maxpool
 *          forward, concat/slice, nearest upsampling).
 *   FP32   atol 1e-5, rtol 1e-5, nmse 1e-10: ops computed in double on both
 *          sides and rounded once (norms, softmax, losses, reductions, ...);
 *          differences are summation order in double plus one float rounding.
 *   GEMM   (conv, deconv, matmul, linear in FP32 mode, TF32 off): FP32
 *          accumulation in cuDNN/cuBLAS vs double on the CPU; with K <= 216
 *          products of magnitude <= 1 the worst-case bound is about
 *          K * 2^-24 * sum|terms|, so atol 1e-4, rtol 1e-4, nmse 1e-10.
 *   TF32   operands rounded to a 10-bit mantissa (relative error 2^-11 each):
 *          atol 1e-3 * sqrt(K), rtol 5e-3, nmse 1e-5.
 *   BF16   operands rounded to an 7-bit mantissa (2^-8 each): atol
 *          8e-3 * sqrt(K), rtol 2e-2, nmse 1e-4.
 * K is the largest number of products summed into one element over the
 * forward and both backward products (gemm_K below). With operands of
 * magnitude <= 1 (RMS 1/3 per product) and per-operand rounding RMS
 * 2^-11/sqrt(3) (TF32) or 2^-8/sqrt(3) (BF16), the error of one output has an
 * RMS of about 1.3e-4*sqrt(K) (TF32) or 1.1e-3*sqrt(K) (BF16): the atol above
 * is about 7 of those.
 *
 * A whole V-Net training step (batch 2, 32x32x16, dropout on, BN in train
 * mode) is also run through the graph executor on both backends: the loss must
 * agree to rtol 1e-4 and the gradients of the first and last conv weights to
 * normalized MSE 1e-6 (FP32 differences compound over ~20 layers and batch
 * norms, so only an aggregate bound is stated there).
 *
 * CPU-side tests (run everywhere): the dropout rule the CUDA kernel evaluates
 * (kernels/cuda/dropout_rule.h) called on the host gives exactly the CPU
 * dropout op's output; the NCDHW <-> NDHWC reference conversions; parsing of
 * the precision settings. */
#include "harness/bench_model.h"
#include "harness/graph.h"
#include "harness/nn/model.h"
#include "harness/nn/nn.h"
#include "kernels/backend.h"
#include "kernels/cuda/dropout_rule.h"
#include "kernels/cuda/ss_cuda.h"
#include "kernels/error.h"
#include "kernels/layout.h"
#include "kernels/op.h"
#include "kernels/rng.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- GPU availability ----------------------------------------------------------- */

static const ss_backend *gpu_or_skip(const char *test)
{
    const ss_backend *b = ss_backend_cuda();
    if (!b) {
        const char *why = semiseg_error();
        if (strncmp(why, "no CUDA device", 14) == 0)
            printf("cuda: SKIP %s: %s\n", test, why);
        else
            printf("cuda: SKIP %s: no CUDA device (%s)\n", test, why);
        fflush(stdout);
    }
    return b;
}

/* ---- tolerances ------------------------------------------------------------------ */

typedef enum { T_EXACT, T_FP32, T_GEMM } tclass;

typedef struct tol {
    double nmse, atol, rtol;
} tol;

static tol tol_for(tclass c, ss_precision p, double K)
{
    tol t = {1e-10, 1e-5, 1e-5};
    if (c == T_EXACT) {
        t.nmse = 0;
        t.atol = 0;
        t.rtol = 0;
    } else if (c == T_GEMM) {
        if (p == SS_PREC_TF32) {
            t.nmse = 1e-5;
            t.atol = 1e-3 * sqrt(K);
            t.rtol = 5e-3;
        } else if (p == SS_PREC_BF16) {
            t.nmse = 1e-4;
            t.atol = 8e-3 * sqrt(K);
            t.rtol = 2e-2;
        } else {
            t.atol = 1e-4;
            t.rtol = 1e-4;
        }
    }
    return t;
}

static void check_close(const char *what, const float *got, const float *want, size_t n, tol t)
{
    size_t worst = 0;
    double nm = tu_nmse(got, want, n);
    size_t bad = tu_count_bad(got, want, n, t.atol, t.rtol, &worst);
    ck_assert_msg(bad == 0 && nm <= t.nmse,
                  "%s: nmse %.3g (max %.3g), %zu of %zu elements off (atol %g rtol %g); worst "
                  "[%zu] gpu %.9g cpu %.9g",
                  what, nm, t.nmse, bad, n, t.atol, t.rtol, worst, (double)got[worst],
                  (double)want[worst]);
}

/* ---- running one op on the GPU ------------------------------------------------------ */

typedef struct gop {
    const ss_backend *b;
    void *x[SS_MAX_IN], *y[SS_MAX_OUT], *gx[SS_MAX_IN], *gy, *ws;
} gop;

static void *dev_alloc(const ss_backend *b, size_t n)
{
    void *p = NULL;
    ck_assert_msg(b->alloc_arena(n * sizeof(float) + 16, &p) == SS_OK, "alloc: %s",
                  semiseg_error());
    return p;
}

static void gop_free(gop *g)
{
    for (int i = 0; i < SS_MAX_IN; i++) {
        if (g->x[i])
            g->b->free_arena(g->x[i]);
        if (g->gx[i])
            g->b->free_arena(g->gx[i]);
    }
    for (int i = 0; i < SS_MAX_OUT; i++)
        if (g->y[i])
            g->b->free_arena(g->y[i]);
    if (g->gy)
        g->b->free_arena(g->gy);
    if (g->ws)
        g->b->free_arena(g->ws);
}

static void gop_args(const gop *g, const opc *o, ss_op_args *a, size_t ws_bytes)
{
    opc_args(o, a);
    for (int i = 0; i < o->n_in; i++)
        a->x[i] = g->x[i];
    for (int i = 0; i < o->n_out; i++)
        a->y[i] = g->y[i];
    a->ws = g->ws;
    a->ws_size = ws_bytes;
}

/* Uploads o's inputs and allocates outputs and workspace. */
static size_t gop_init(gop *g, const ss_backend *b, const opc *o)
{
    memset(g, 0, sizeof *g);
    g->b = b;
    for (int i = 0; i < o->n_in; i++) {
        size_t n = (size_t)ss_numel(&o->xs[i]);
        g->x[i] = dev_alloc(b, n);
        ck_assert_msg(b->upload(g->x[i], o->x[i], n) == SS_OK, "upload: %s", semiseg_error());
    }
    for (int i = 0; i < o->n_out; i++)
        g->y[i] = dev_alloc(b, (size_t)ss_numel(&o->ys[i]));
    ss_op_args a;
    gop_args(g, o, &a, 0);
    const ss_op_desc *d = ss_op_get(o->kind);
    size_t w0 = d->ws ? d->ws(&a, 0) : 0, w1 = d->ws ? d->ws(&a, 1) : 0;
    size_t ws = w0 > w1 ? w0 : w1;
    g->ws = dev_alloc(b, ws / sizeof(float) + 1);
    return ws;
}

static float *download(const ss_backend *b, const void *p, size_t n)
{
    float *h = tu_alloc(n);
    ck_assert_msg(b->download(h, p, n) == SS_OK, "download: %s", semiseg_error());
    return h;
}

/* ---- the op cases ------------------------------------------------------------------- */

typedef struct ocase {
    const char *name;
    int kind;
    int ip[SS_MAX_IP];
    float fp[SS_MAX_FP];
    int n_in;
    ss_shape xs[4];
    float lo, hi;      /* input range */
    tclass fwd_tc, bwd_tc;
    void (*prep)(opc *o);
    int dyn_used;
    float dyn;
} ocase;

#define S5(n, c, d, h, w) {{n, c, d, h, w}}

static void prep_bn(opc *o) /* running_var in [0.5, 1.5) */
{
    tu_fill_uniform(o->x[4], (size_t)ss_numel(&o->xs[4]), 0.5f, 1.5f, 4242);
}

static void prep_div(opc *o) /* denominators away from 0 */
{
    tu_fill_uniform(o->x[1], (size_t)ss_numel(&o->xs[1]), 0.5f, 2.0f, 777);
}

static void prep_ties(opc *o) /* quantised values: many ties, plus -0 and +0 */
{
    size_t n = (size_t)ss_numel(&o->xs[0]);
    for (size_t i = 0; i < n; i++)
        o->x[0][i] = floorf(o->x[0][i] * 3.f) / 3.f;
    o->x[0][0] = -0.f;
    o->x[0][1] = 0.f;
}

static void prep_ce(opc *o) /* class ids in [0, C) with some voxels at ignore 255 */
{
    size_t n = (size_t)ss_numel(&o->xs[1]);
    int C = o->xs[0].d[1];
    for (size_t i = 0; i < n; i++) {
        float u = ss_rng_uniform(99, 1, 0, i);
        o->x[1][i] = u < 0.15f ? 255.f : floorf(u * (float)C * 0.999f);
    }
}

static const ocase g_cases[] = {
    {"conv3d_bias", SS_OP_CONV, {1, 1, 1, 1, 1, 1}, {0}, 3,
     {S5(2, 3, 6, 7, 5), S5(4, 3, 3, 3, 3), S5(4, 1, 1, 1, 1)}, -1, 1, T_GEMM, T_GEMM, NULL, 0, 0},
    {"conv3d_s2", SS_OP_CONV, {2, 2, 2, 0, 0, 0}, {0}, 2,
     {S5(2, 4, 8, 8, 6), S5(5, 4, 2, 2, 2)}, -1, 1, T_GEMM, T_GEMM, NULL, 0, 0},
    {"conv2d", SS_OP_CONV, {1, 1, 1, 0, 1, 1}, {0}, 3,
     {S5(2, 3, 1, 9, 8), S5(4, 3, 1, 3, 3), S5(4, 1, 1, 1, 1)}, -1, 1, T_GEMM, T_GEMM, NULL, 0, 0},
    {"deconv3d", SS_OP_DECONV, {2, 2, 2, 0, 0, 0, 0, 0, 0}, {0}, 3,
     {S5(2, 4, 3, 4, 3), S5(4, 3, 2, 2, 2), S5(3, 1, 1, 1, 1)}, -1, 1, T_GEMM, T_GEMM, NULL, 0, 0},
    {"deconv3d_outpad", SS_OP_DECONV, {2, 2, 2, 1, 1, 1, 1, 1, 1}, {0}, 2,
     {S5(1, 3, 3, 3, 3), S5(3, 2, 3, 3, 3)}, -1, 1, T_GEMM, T_GEMM, NULL, 0, 0},
    {"deconv2d", SS_OP_DECONV, {1, 2, 2, 0, 0, 0, 0, 0, 0}, {0}, 2,
     {S5(2, 3, 1, 4, 5), S5(3, 2, 1, 2, 2)}, -1, 1, T_GEMM, T_GEMM, NULL, 0, 0},
    {"bn_train", SS_OP_BN_TRAIN, {0}, {0.1f, 1e-5f}, 5,
     {S5(3, 4, 2, 3, 5), S5(4, 1, 1, 1, 1), S5(4, 1, 1, 1, 1), S5(4, 1, 1, 1, 1)}, -1, 1, T_FP32,
     T_FP32, prep_bn, 0, 0},
    {"bn_eval", SS_OP_BN_EVAL, {0}, {0.1f, 1e-5f}, 5,
     {S5(3, 4, 2, 3, 5), S5(4, 1, 1, 1, 1), S5(4, 1, 1, 1, 1), S5(4, 1, 1, 1, 1)}, -1, 1, T_FP32,
     T_FP32, prep_bn, 0, 0},
    {"instnorm_affine", SS_OP_INSTNORM, {0}, {0, 1e-5f}, 3,
     {S5(2, 3, 2, 4, 4), S5(3, 1, 1, 1, 1), S5(3, 1, 1, 1, 1)}, -1, 1, T_FP32, T_FP32, NULL, 0, 0},
    {"instnorm", SS_OP_INSTNORM, {0}, {0, 1e-5f}, 1, {S5(2, 3, 2, 4, 4)}, -1, 1, T_FP32, T_FP32,
     NULL, 0, 0},
    {"groupnorm", SS_OP_GROUPNORM, {3}, {0, 1e-5f}, 3,
     {S5(2, 6, 2, 3, 4), S5(6, 1, 1, 1, 1), S5(6, 1, 1, 1, 1)}, -1, 1, T_FP32, T_FP32, NULL, 0, 0},
    {"relu", SS_OP_RELU, {0}, {0}, 1, {S5(2, 3, 2, 4, 5)}, -2, 2, T_EXACT, T_EXACT, NULL, 0, 0},
    {"leaky_relu", SS_OP_LEAKY_RELU, {0}, {0.2f}, 1, {S5(2, 3, 2, 4, 5)}, -2, 2, T_EXACT, T_EXACT,
     NULL, 0, 0},
    {"prelu_channel", SS_OP_PRELU, {0}, {0}, 2, {S5(2, 3, 2, 4, 5), S5(3, 1, 1, 1, 1)}, -2, 2, T_EXACT,
     T_FP32, NULL, 0, 0},
    {"prelu_shared", SS_OP_PRELU, {0}, {0}, 2, {S5(2, 3, 2, 4, 5), S5(1, 1, 1, 1, 1)}, -2, 2, T_EXACT,
     T_FP32, NULL, 0, 0},
    {"sigmoid", SS_OP_SIGMOID, {0}, {0}, 1, {S5(2, 3, 2, 4, 5)}, -6, 6, T_FP32, T_FP32, NULL, 0, 0},
    {"tanh", SS_OP_TANH, {0}, {0}, 1, {S5(2, 3, 2, 4, 5)}, -3, 3, T_FP32, T_FP32, NULL, 0, 0},
    {"softmax", SS_OP_SOFTMAX, {0}, {0}, 1, {S5(2, 4, 2, 3, 5)}, -4, 4, T_FP32, T_FP32, NULL, 0, 0},
    {"log_softmax", SS_OP_LOG_SOFTMAX, {0}, {0}, 1, {S5(2, 4, 2, 3, 5)}, -4, 4, T_FP32, T_FP32,
     NULL, 0, 0},
    {"dropout_elem", SS_OP_DROPOUT, {0, -5, 0x12345678, 7}, {0.3f}, 1, {S5(2, 3, 2, 4, 5)}, -2, 2,
     T_EXACT, T_EXACT, NULL, 0, 0},
    {"dropout_chan", SS_OP_DROPOUT, {1, 11, 3, 2}, {0.5f}, 1, {S5(3, 8, 2, 3, 3)}, -2, 2, T_EXACT,
     T_EXACT, NULL, 0, 0},
    {"maxpool_k2", SS_OP_MAXPOOL, {2, 2, 2, 2, 2, 2, 0, 0, 0}, {0}, 1, {S5(2, 3, 4, 6, 6)}, -1, 1,
     T_EXACT, T_FP32, NULL, 0, 0},
    {"maxpool_k3p1", SS_OP_MAXPOOL, {3, 3, 3, 2, 2, 2, 1, 1, 1}, {0}, 1, {S5(1, 2, 5, 7, 6)}, -1, 1,
     T_EXACT, T_FP32, prep_ties, 0, 0},
    {"avgpool_k3p1", SS_OP_AVGPOOL, {3, 3, 3, 1, 1, 1, 1, 1, 1}, {0}, 1, {S5(1, 2, 5, 7, 6)}, -1, 1,
     T_FP32, T_FP32, NULL, 0, 0},
    {"upsample_nearest", SS_OP_UPSAMPLE, {0, 0, 4, 7, 9}, {0}, 1, {S5(2, 3, 2, 3, 4)}, -1, 1, T_EXACT,
     T_FP32, NULL, 0, 0},
    {"upsample_trilinear", SS_OP_UPSAMPLE, {1, 0, 4, 6, 8}, {0}, 1, {S5(2, 3, 2, 3, 4)}, -1, 1, T_FP32,
     T_FP32, NULL, 0, 0},
    {"upsample_trilinear_ac", SS_OP_UPSAMPLE, {1, 1, 5, 7, 7}, {0}, 1, {S5(1, 2, 2, 3, 4)}, -1, 1,
     T_FP32, T_FP32, NULL, 0, 0},
    {"upsample_bilinear", SS_OP_UPSAMPLE, {1, 0, 1, 10, 8}, {0}, 1, {S5(2, 3, 1, 5, 4)}, -1, 1, T_FP32,
     T_FP32, NULL, 0, 0},
    {"add_bcast", SS_OP_ADD, {0}, {0}, 2, {S5(2, 3, 4, 5, 6), S5(1, 3, 1, 1, 1)}, -1, 1, T_EXACT,
     T_FP32, NULL, 0, 0},
    {"sub_bcast2", SS_OP_SUB, {0}, {0}, 2, {S5(2, 1, 4, 5, 6), S5(2, 3, 4, 1, 6)}, -1, 1, T_EXACT,
     T_FP32, NULL, 0, 0},
    {"mul", SS_OP_MUL, {0}, {0}, 2, {S5(2, 3, 4, 5, 6), S5(2, 3, 4, 5, 6)}, -1, 1, T_EXACT, T_FP32,
     NULL, 0, 0},
    {"div_bcast", SS_OP_DIV, {0}, {0}, 2, {S5(2, 3, 4, 5, 6), S5(1, 3, 4, 1, 1)}, -1, 1, T_EXACT,
     T_FP32, prep_div, 0, 0},
    {"scale", SS_OP_SCALE, {0}, {1.5f, 0.25f}, 1, {S5(2, 3, 2, 4, 5)}, -1, 1, T_EXACT, T_EXACT,
     NULL, 0, 0},
    {"scale_dyn", SS_OP_SCALE, {0}, {1.5f, 0.25f}, 1, {S5(2, 3, 2, 4, 5)}, -1, 1, T_EXACT, T_EXACT,
     NULL, 1, 0.7f},
    {"pow_frac", SS_OP_POW, {0}, {2.5f}, 1, {S5(2, 3, 2, 4, 5)}, 0.2f, 2, T_FP32, T_FP32, NULL, 0,
     0},
    {"pow_int", SS_OP_POW, {0}, {3.f}, 1, {S5(2, 3, 2, 4, 5)}, -2, 2, T_FP32, T_FP32, NULL, 0, 0},
    {"exp", SS_OP_EXP, {0}, {0}, 1, {S5(2, 3, 2, 4, 5)}, -3, 3, T_FP32, T_FP32, NULL, 0, 0},
    {"log", SS_OP_LOG, {0}, {0}, 1, {S5(2, 3, 2, 4, 5)}, 0.1f, 3, T_FP32, T_FP32, NULL, 0, 0},
    {"clamp", SS_OP_CLAMP, {0}, {-0.3f, 0.4f}, 1, {S5(2, 3, 2, 4, 5)}, -1, 1, T_EXACT, T_EXACT,
     NULL, 0, 0},
    {"concat_c", SS_OP_CONCAT, {1}, {0}, 3, {S5(2, 2, 2, 3, 4), S5(2, 1, 2, 3, 4), S5(2, 3, 2, 3, 4)},
     -1, 1, T_EXACT, T_EXACT, NULL, 0, 0},
    {"concat_n", SS_OP_CONCAT, {0}, {0}, 2, {S5(1, 3, 2, 3, 4), S5(2, 3, 2, 3, 4)}, -1, 1, T_EXACT,
     T_EXACT, NULL, 0, 0},
    {"slice_c", SS_OP_SLICE, {1, 1, 2}, {0}, 1, {S5(2, 4, 2, 3, 4)}, -1, 1, T_EXACT, T_EXACT, NULL,
     0, 0},
    {"slice_n", SS_OP_SLICE, {0, 1, 1}, {0}, 1, {S5(3, 2, 2, 3, 4)}, -1, 1, T_EXACT, T_EXACT, NULL,
     0, 0},
    {"sum_all", SS_OP_SUM, {31}, {0}, 1, {S5(2, 3, 4, 5, 6)}, -1, 1, T_FP32, T_EXACT, NULL, 0, 0},
    {"sum_c_h", SS_OP_SUM, {(1 << 1) | (1 << 3)}, {0}, 1, {S5(2, 3, 4, 5, 6)}, -1, 1, T_FP32, T_EXACT,
     NULL, 0, 0},
    {"sum_ndw", SS_OP_SUM, {21}, {0}, 1, {S5(2, 3, 4, 5, 6)}, -1, 1, T_FP32, T_EXACT, NULL, 0, 0},
    {"mean_spatial", SS_OP_MEAN, {28}, {0}, 1, {S5(2, 3, 4, 5, 6)}, -1, 1, T_FP32, T_FP32, NULL, 0,
     0},
    {"mean_n", SS_OP_MEAN, {1}, {0}, 1, {S5(3, 3, 4, 5, 6)}, -1, 1, T_FP32, T_FP32, NULL, 0, 0},
    {"matmul_nn", SS_OP_MATMUL, {0, 0}, {0}, 2, {S5(5, 7, 1, 1, 1), S5(7, 6, 1, 1, 1)}, -1, 1, T_GEMM,
     T_GEMM, NULL, 0, 0},
    {"matmul_tn", SS_OP_MATMUL, {1, 0}, {0}, 2, {S5(7, 5, 1, 1, 1), S5(7, 6, 1, 1, 1)}, -1, 1, T_GEMM,
     T_GEMM, NULL, 0, 0},
    {"matmul_nt", SS_OP_MATMUL, {0, 1}, {0}, 2, {S5(5, 7, 1, 1, 1), S5(6, 7, 1, 1, 1)}, -1, 1, T_GEMM,
     T_GEMM, NULL, 0, 0},
    {"matmul_tt", SS_OP_MATMUL, {1, 1}, {0}, 2, {S5(7, 5, 1, 1, 1), S5(6, 7, 1, 1, 1)}, -1, 1, T_GEMM,
     T_GEMM, NULL, 0, 0},
    {"linear", SS_OP_LINEAR, {0}, {0}, 3, {S5(3, 4, 2, 2, 2), S5(5, 32, 1, 1, 1), S5(5, 1, 1, 1, 1)},
     -1, 1, T_GEMM, T_GEMM, NULL, 0, 0},
    {"l2norm", SS_OP_L2NORM, {0}, {0}, 1, {S5(2, 5, 2, 3, 3)}, -1, 1, T_FP32, T_FP32, NULL, 0, 0},
    {"cossim", SS_OP_COSSIM, {0}, {0}, 2, {S5(6, 8, 1, 1, 1), S5(5, 8, 1, 1, 1)}, -1, 1, T_FP32, T_FP32, NULL, 0, 0},
    {"sort_asc", SS_OP_SORT, {0}, {0}, 1, {S5(3, 37, 1, 1, 1)}, -1, 1, T_EXACT, T_EXACT, prep_ties,
     0, 0},
    {"sort_desc", SS_OP_SORT, {1}, {0}, 1, {S5(3, 37, 1, 1, 1)}, -1, 1, T_EXACT, T_EXACT, prep_ties,
     0, 0},
    {"rank_asc", SS_OP_RANK, {0}, {0}, 1, {S5(3, 37, 1, 1, 1)}, -1, 1, T_EXACT, T_EXACT, prep_ties,
     0, 0},
    {"rank_desc", SS_OP_RANK, {1}, {0}, 1, {S5(3, 37, 1, 1, 1)}, -1, 1, T_EXACT, T_EXACT, prep_ties,
     0, 0},
    {"ce", SS_OP_CE, {255}, {0}, 2, {S5(2, 3, 2, 3, 4), S5(2, 1, 2, 3, 4)}, -3, 3, T_FP32, T_FP32,
     prep_ce, 0, 0},
    {"mse", SS_OP_MSE, {0}, {0}, 2, {S5(2, 3, 2, 3, 4), S5(2, 3, 2, 3, 4)}, -1, 1, T_FP32, T_FP32,
     NULL, 0, 0},
};
#define N_CASES ((int)(sizeof g_cases / sizeof g_cases[0]))

/* Largest reduction length of the GEMM-like products of o (see the header). */
static double gemm_K(const opc *o)
{
    const ss_shape *x = &o->xs[0], *w = &o->xs[1], *y = &o->ys[0];
    double K = 1, t;
    switch (o->kind) {
    case SS_OP_CONV:
    case SS_OP_DECONV: {
        double kv = (double)w->d[2] * w->d[3] * w->d[4];
        K = fmax((double)w->d[0] * kv, (double)w->d[1] * kv); /* data directions */
        t = (double)x->d[0] * (double)(o->kind == SS_OP_CONV ? ss_spatial(y) : ss_spatial(x));
        K = fmax(K, t); /* weight gradient */
        break;
    }
    case SS_OP_MATMUL:
        K = fmax(fmax((double)x->d[0], (double)x->d[1]), fmax((double)w->d[0], (double)w->d[1]));
        break;
    case SS_OP_LINEAR:
        K = fmax(fmax((double)x->d[0], (double)w->d[0]), (double)w->d[1]);
        break;
    default: break;
    }
    return K;
}

/* Runs case c on CPU and GPU in precision p and compares forward and backward. */
static void run_case(const ocase *c, ss_precision p, const char *test)
{
    const ss_backend *b = gpu_or_skip(test);
    if (!b)
        return;
    ck_assert_int_eq(ss_cuda_set_precision(p), SS_OK);
    opc o;
    TU_OK(opc_init(&o, c->kind, c->ip, SS_MAX_IP, c->fp, SS_MAX_FP, c->n_in, c->xs));
    opc_randomize(&o, c->lo, c->hi, 2024);
    if (c->prep)
        c->prep(&o);
    o.step = 5;
    o.dyn_used = c->dyn_used;
    o.dyn = c->dyn;
    gop g;
    size_t ws = gop_init(&g, b, &o); /* uploads the inputs before the CPU updates any */
    TU_OK(opc_fwd(&o, 1));
    ss_op_args a;
    gop_args(&g, &o, &a, ws);
    ck_assert_msg(b->run(&a, 0, 0) == SS_OK, "%s gpu forward: %s", c->name, semiseg_error());
    double K = gemm_K(&o);
    tol tf = tol_for(c->fwd_tc, p, K), tb = tol_for(c->bwd_tc, p, K);
    char what[128];
    for (int i = 0; i < o.n_out; i++) {
        size_t n = (size_t)ss_numel(&o.ys[i]);
        float *y = download(b, g.y[i], n);
        snprintf(what, sizeof what, "%s %s forward output %d", c->name, ss_precision_name(p), i);
        check_close(what, y, o.y[i], n, tf);
        free(y);
    }
    if (c->kind == SS_OP_BN_TRAIN)
        for (int i = 3; i < 5; i++) {
            size_t n = (size_t)ss_numel(&o.xs[i]);
            float *r = download(b, g.x[i], n);
            snprintf(what, sizeof what, "%s running stat (input %d)", c->name, i);
            check_close(what, r, o.x[i], n, tol_for(T_FP32, p, 0));
            free(r);
        }
    const ss_op_desc *d = ss_op_get(c->kind);
    unsigned mask = d->diff_mask & ((1u << o.n_in) - 1u);
    if (d->bwd && mask) {
        size_t ny = (size_t)ss_numel(&o.ys[0]);
        float *gy = tu_alloc(ny);
        tu_fill_uniform(gy, ny, -1, 1, 31337);
        float *gx[SS_MAX_IN] = {0};
        for (int i = 0; i < o.n_in; i++)
            if ((mask >> i) & 1)
                gx[i] = tu_alloc((size_t)ss_numel(&o.xs[i]));
        TU_OK(opc_bwd(&o, gy, gx, mask));
        g.gy = dev_alloc(b, ny);
        ck_assert(b->upload(g.gy, gy, ny) == SS_OK);
        gop_args(&g, &o, &a, ws);
        a.gy[0] = g.gy;
        for (int i = 0; i < o.n_in; i++)
            if ((mask >> i) & 1) {
                g.gx[i] = dev_alloc(b, (size_t)ss_numel(&o.xs[i]));
                a.gx[i] = g.gx[i];
            }
        ck_assert_msg(b->run(&a, 1, 0) == SS_OK, "%s gpu backward: %s", c->name,
                      semiseg_error());
        for (int i = 0; i < o.n_in; i++) {
            if (!gx[i])
                continue;
            size_t n = (size_t)ss_numel(&o.xs[i]);
            float *h = download(b, g.gx[i], n);
            snprintf(what, sizeof what, "%s %s gradient of input %d", c->name,
                     ss_precision_name(p), i);
            check_close(what, h, gx[i], n, tb);
            free(h);
            free(gx[i]);
        }
        free(gy);
    }
    gop_free(&g);
    opc_free(&o);
    ss_cuda_set_precision(SS_PREC_FP32);
}

START_TEST(test_op_fp32)
{
    char name[96];
    snprintf(name, sizeof name, "op %s fp32", g_cases[_i].name);
    run_case(&g_cases[_i], SS_PREC_FP32, name);
}
END_TEST

/* The cases whose math the precision mode changes (conv, deconv, matmul,
 * linear), in TF32 and BF16 with the looser tolerances. */
static int gemm_case(int k)
{
    int n = 0;
    for (int i = 0; i < N_CASES; i++)
        if (g_cases[i].fwd_tc == T_GEMM && n++ == k)
            return i;
    return -1;
}

static int n_gemm_cases(void)
{
    int n = 0;
    for (int i = 0; i < N_CASES; i++)
        n += g_cases[i].fwd_tc == T_GEMM;
    return n;
}

START_TEST(test_op_reduced_precision)
{
    int ci = gemm_case(_i / 2);
    ck_assert_int_ge(ci, 0);
    ss_precision p = _i % 2 ? SS_PREC_BF16 : SS_PREC_TF32;
    char name[96];
    snprintf(name, sizeof name, "op %s %s", g_cases[ci].name, ss_precision_name(p));
    run_case(&g_cases[ci], p, name);
}
END_TEST

/* Deterministic mode: two backward passes of a conv give identical bits. */
START_TEST(test_conv_deterministic)
{
    const ss_backend *b = gpu_or_skip("conv deterministic mode");
    if (!b)
        return;
    ss_cuda_set_deterministic(1);
    const ocase *c = &g_cases[0];
    opc o;
    TU_OK(opc_init(&o, c->kind, c->ip, SS_MAX_IP, c->fp, SS_MAX_FP, c->n_in, c->xs));
    opc_randomize(&o, -1, 1, 7);
    gop g;
    size_t ws = gop_init(&g, b, &o);
    size_t ny = (size_t)ss_numel(&o.ys[0]), nw = (size_t)ss_numel(&o.xs[1]);
    float *gy = tu_alloc(ny), *r[2];
    tu_fill_uniform(gy, ny, -1, 1, 8);
    g.gy = dev_alloc(b, ny);
    g.gx[1] = dev_alloc(b, nw);
    ck_assert(b->upload(g.gy, gy, ny) == SS_OK);
    for (int rep = 0; rep < 2; rep++) {
        ss_op_args a;
        gop_args(&g, &o, &a, ws);
        a.gy[0] = g.gy;
        a.gx[1] = g.gx[1];
        ck_assert_msg(b->run(&a, 1, 0) == SS_OK, "conv backward: %s", semiseg_error());
        r[rep] = download(b, g.gx[1], nw);
    }
    ck_assert_msg(memcmp(r[0], r[1], nw * sizeof(float)) == 0,
                  "deterministic conv weight gradients differ between two runs");
    free(r[0]);
    free(r[1]);
    free(gy);
    gop_free(&g);
    opc_free(&o);
    ss_cuda_set_deterministic(0);
}
END_TEST

/* Data-dependent errors are reported as on the CPU: CE with every label
 * ignored, MSE with a NaN, BN_EVAL with running_var + eps <= 0. */
static void expect_gpu_error(const char *test, int kind, const int *ip, const float *fp, int n_in,
                             const ss_shape *xs, void (*spoil)(opc *), const char *prefix)
{
    const ss_backend *b = gpu_or_skip(test);
    if (!b)
        return;
    opc o;
    TU_OK(opc_init(&o, kind, ip, SS_MAX_IP, fp, SS_MAX_FP, n_in, xs));
    opc_randomize(&o, 0.5f, 1, 3);
    spoil(&o);
    gop g;
    size_t ws = gop_init(&g, b, &o);
    ss_op_args a;
    gop_args(&g, &o, &a, ws);
    ss_clearerr();
    ck_assert_int_eq(b->run(&a, 0, 0), SS_ERR);
    ck_assert_msg(strncmp(semiseg_error(), prefix, strlen(prefix)) == 0,
                  "error does not start with '%s': %s", prefix, semiseg_error());
    gop_free(&g);
    opc_free(&o);
}

static void spoil_ce(opc *o)
{
    for (int64_t i = 0; i < ss_numel(&o->xs[1]); i++)
        o->x[1][i] = 255.f;
}
static void spoil_mse(opc *o) { o->x[1][5] = NAN; }
static void spoil_bn(opc *o) { o->x[4][1] = -1.f; }

START_TEST(test_data_errors)
{
    const int ign[SS_MAX_IP] = {255};
    const float fz[SS_MAX_FP] = {0};
    const float fbn[SS_MAX_FP] = {0.1f, 1e-5f};
    ss_shape ce[2] = {ss_shape5(1, 3, 1, 2, 2), ss_shape5(1, 1, 1, 2, 2)};
    ss_shape mse[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(2, 3, 1, 2, 2)};
    ss_shape bn[5] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(3, 1, 1, 1, 1), ss_shape5(3, 1, 1, 1, 1),
                      ss_shape5(3, 1, 1, 1, 1), ss_shape5(3, 1, 1, 1, 1)};
    expect_gpu_error("ce all ignored", SS_OP_CE, ign, fz, 2, ce, spoil_ce, "ce:");
    expect_gpu_error("mse NaN input", SS_OP_MSE, ign, fz, 2, mse, spoil_mse, "mse:");
    expect_gpu_error("bn_eval negative variance", SS_OP_BN_EVAL, ign, fbn, 5, bn, spoil_bn,
                     "bn_eval:");
}
END_TEST

/* Layout conversions on the device equal the CPU reference (GPU only). */
#ifdef SS_HAVE_CUDA
#include "kernels/cuda/layout_cuda.h"
#endif

START_TEST(test_layout_device)
{
    const ss_backend *b = gpu_or_skip("layout device conversion");
    if (!b)
        return;
#ifdef SS_HAVE_CUDA
    ss_shape s = ss_shape5(2, 5, 3, 4, 3);
    size_t n = (size_t)ss_numel(&s);
    float *x = tu_alloc(n), *ref = tu_alloc(n), *back = tu_alloc(n);
    tu_fill_uniform(x, n, -1, 1, 5);
    ss_ncdhw_to_ndhwc(x, ref, &s);
    void *dx = dev_alloc(b, n), *dy = dev_alloc(b, n);
    ck_assert(b->upload(dx, x, n) == SS_OK);
    ck_assert_int_eq(ss_cuda_ncdhw_to_ndhwc(dx, dy, &s), SS_OK);
    float *got = download(b, dy, n);
    ck_assert_int_eq(memcmp(got, ref, n * sizeof(float)), 0);
    ck_assert_int_eq(ss_cuda_ndhwc_to_ncdhw(dy, dx, &s), SS_OK);
    float *rt = download(b, dx, n);
    ck_assert_int_eq(memcmp(rt, x, n * sizeof(float)), 0);
    b->free_arena(dx);
    b->free_arena(dy);
    free(x);
    free(ref);
    free(back);
    free(got);
    free(rt);
#endif
}
END_TEST

/* ---- whole-model step through the graph executor --------------------------------------- */

typedef struct step_out {
    float loss;
    float *g[2];
    size_t n[2];
    int nodes;
} step_out;

static void vnet_step(const ss_backend *b, step_out *so)
{
    memset(so, 0, sizeof *so);
    ss_model_cfg cfg = ss_model_defaults("vnet");
    int P[3] = {32, 32, 16};
    memcpy(cfg.patch, P, sizeof P);
    ss_graph *g = graph_new();
    ss_nn m;
    nn_begin(&m, g, 1, 3);
    ss_shape xs = ss_shape5(2, cfg.in_ch, P[0], P[1], P[2]), ls = ss_shape5(2, 1, P[0], P[1], P[2]);
    int x = g_input(g, "image", xs), y = g_input(g, "label", ls);
    ss_model_out out;
    TU_OK(ss_model_build(&m, &cfg, x, &out));
    int loss = g_ce(g, out.t[0], y, -100);
    ck_assert_int_ge(loss, 0);
    graph_keep(g, loss);
    TU_OK(graph_backward(g, loss));
    int w[2] = {m.e[0].t, -1};
    for (int i = 0; i < m.n; i++)
        if (m.e[i].is_param && m.e[i].rank == 5)
            w[1] = m.e[i].t; /* the last conv weight */
    int gw[2];
    for (int k = 0; k < 2; k++) {
        gw[k] = graph_grad(g, w[k]);
        ck_assert_int_ge(gw[k], 0);
        graph_keep(g, gw[k]);
    }
    TU_OK(graph_plan(g, b, SS_PLAN_QUIET | SS_PLAN_TIMING, NULL));
    TU_OK(nn_init_params(&m));
    size_t nx = (size_t)ss_numel(&xs), nl = (size_t)ss_numel(&ls);
    float *img = tu_alloc(nx), *lab = tu_alloc(nl);
    tu_fill_uniform(img, nx, -1, 1, 71);
    for (size_t i = 0; i < nl; i++)
        lab[i] = ss_rng_uniform(72, 0, 0, i) < 0.3f ? 1.f : 0.f;
    TU_OK(graph_upload(g, x, img));
    TU_OK(graph_upload(g, y, lab));
    graph_set_step(g, 9);
    TU_OK(graph_run(g));
    TU_OK(graph_download(g, loss, &so->loss));
    for (int k = 0; k < 2; k++) {
        ss_shape gs = graph_shape(g, gw[k]);
        so->n[k] = (size_t)ss_numel(&gs);
        so->g[k] = tu_alloc(so->n[k]);
        TU_OK(graph_download(g, gw[k], so->g[k]));
    }
    so->nodes = graph_n_nodes(g);
    free(img);
    free(lab);
    nn_end(&m);
    graph_free(g);
}

START_TEST(test_vnet_step)
{
    const ss_backend *b = gpu_or_skip("vnet training step (graph executor)");
    if (!b)
        return;
    step_out c, d;
    vnet_step(ss_backend_cpu(), &c);
    vnet_step(b, &d);
    ck_assert_msg(fabs(d.loss - c.loss) <= 1e-4 * fabs(c.loss), "loss gpu %.9g cpu %.9g",
                  (double)d.loss, (double)c.loss);
    for (int k = 0; k < 2; k++) {
        ck_assert_uint_eq(c.n[k], d.n[k]);
        double nm = tu_nmse(d.g[k], c.g[k], c.n[k]);
        ck_assert_msg(nm <= 1e-6, "weight gradient %d: nmse %.3g > 1e-6", k, nm);
        free(c.g[k]);
        free(d.g[k]);
    }
}
END_TEST

/* The bench hook runs (CPU, tiny V-Net) and reports plausible figures; no
 * timing threshold is asserted. */
START_TEST(test_bench_hook_cpu)
{
    ss_bench_opts o = {"vnet", 2, {16, 16, 16}, 0, 1, 0, NULL};
    ss_bench_result r;
    TU_OK(ss_bench_model(ss_backend_cpu(), &o, &r));
    ck_assert_msg(r.mean_s > 0 && r.min_s > 0 && r.min_s <= r.mean_s, "mean %g min %g", r.mean_s,
                  r.min_s);
    ck_assert_int_gt(r.nodes, 50);
    ck_assert_int_gt(r.params, 1000000);
    ck_assert_uint_gt(r.act_bytes, 0);
    o.model = "no_such_model";
    ck_assert_int_eq(ss_bench_model(ss_backend_cpu(), &o, &r), SS_ERR);
    ck_assert_msg(strstr(semiseg_error(), "no_such_model") != NULL, "%s", semiseg_error());
}
END_TEST

/* ---- node brackets in the graph executor (CPU backend with counting hooks) ------------ */

static int g_begins, g_ends, g_timed_calls;
static char g_last_label[64];

static void fake_begin(const char *label, int timed)
{
    g_begins++;
    g_timed_calls += timed;
    snprintf(g_last_label, sizeof g_last_label, "%s", label);
}

static double fake_end(int timed)
{
    g_ends++;
    return timed ? 0.25 : 0.0;
}

/* graph_run brackets every node with node_begin/node_end, passes the timing
 * flag, labels the range "<node> <op>[ bwd]" and books node_end's seconds. */
START_TEST(test_node_brackets)
{
    ss_backend fake = *ss_backend_cpu();
    fake.node_begin = fake_begin;
    fake.node_end = fake_end;
    ss_graph *g = graph_new();
    int x = g_input(g, "x", ss_shape5(2, 3, 1, 4, 4));
    int w = g_param(g, "w", ss_shape5(1, 3, 1, 1, 1));
    int y = g_relu(g, g_mul(g, x, w));
    int l = g_mean(g, y, 31);
    graph_keep(g, l);
    TU_OK(graph_backward(g, l));
    TU_OK(graph_plan(g, &fake, SS_PLAN_QUIET | SS_PLAN_TIMING, NULL));
    float xv[96];
    tu_fill_uniform(xv, 96, -1, 1, 3);
    TU_OK(graph_upload(g, x, xv));
    g_begins = g_ends = g_timed_calls = 0;
    TU_OK(graph_run(g));
    ck_assert_int_gt(g_begins, 3);
    ck_assert_int_eq(g_begins, g_ends);
    ck_assert_int_eq(g_timed_calls, g_begins);
    ck_assert_msg(strstr(g_last_label, " bwd") != NULL, "last node label '%s' is not a backward",
                  g_last_label);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    graph_print_timing(g, f);
    fclose(f);
    ck_assert_msg(strstr(buf, "250.000") != NULL, "node_end seconds not booked:\n%s", buf);
    free(buf);
    graph_free(g);
}
END_TEST

/* ---- CPU-side tests ------------------------------------------------------------------ */

/* The host path of ss_dropout_elem (what the CUDA kernel evaluates per element)
 * reproduces the CPU dropout op bit for bit, both modes, several p and steps. */
START_TEST(test_dropout_rule_matches_cpu)
{
    const float ps[3] = {0.f, 0.3f, 0.5f};
    for (int mode = 0; mode < 2; mode++)
        for (int k = 0; k < 3; k++)
            for (uint64_t step = 0; step < 3; step++) {
                int ip[SS_MAX_IP] = {mode, -5, 0x12345678, 7 + mode};
                float fp[SS_MAX_FP] = {ps[k]};
                ss_shape xs = ss_shape5(3, 4, 2, 3, 5);
                opc o;
                TU_OK(opc_init(&o, SS_OP_DROPOUT, ip, SS_MAX_IP, fp, SS_MAX_FP, 1, &xs));
                opc_randomize(&o, 0.5f, 1.5f, 11);
                o.step = step * 1000 + 1;
                TU_OK(opc_fwd(&o, 1));
                uint64_t seed = (uint64_t)(uint32_t)ip[1] | (uint64_t)(uint32_t)ip[2] << 32;
                float scale = ss_dropout_scale(ps[k]);
                int64_t n = ss_numel(&xs), S = ss_spatial(&xs);
                int64_t kept = 0;
                for (int64_t j = 0; j < n; j++) {
                    float want = ss_dropout_elem(o.x[0][j], seed, (uint32_t)ip[3], o.step, mode,
                                                 S, j, ps[k], scale);
                    ck_assert_msg(memcmp(&want, &o.y[0][j], sizeof want) == 0,
                                  "mode %d p %g step %llu [%lld]: rule %.9g cpu op %.9g", mode,
                                  (double)ps[k], (unsigned long long)o.step, (long long)j,
                                  (double)want, (double)o.y[0][j]);
                    kept += want != 0.f;
                }
                if (ps[k] == 0.f)
                    ck_assert_int_eq(kept, n);
                else
                    ck_assert_msg(kept > 0 && kept < n, "mode %d p %g: kept %lld of %lld", mode,
                                  (double)ps[k], (long long)kept, (long long)n);
                opc_free(&o);
            }
}
END_TEST

/* NCDHW -> NDHWC puts x[n,c,s] at ((n*S + s)*C + c); the inverse restores x. */
START_TEST(test_layout_reference)
{
    ss_shape s = ss_shape5(2, 3, 2, 3, 4);
    int64_t N = 2, C = 3, S = 24, n = N * C * S;
    float *x = tu_alloc((size_t)n), *y = tu_alloc((size_t)n), *z = tu_alloc((size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)i; /* value = its NCDHW index */
    ss_ncdhw_to_ndhwc(x, y, &s);
    for (int64_t b = 0; b < N; b++)
        for (int64_t v = 0; v < S; v++)
            for (int64_t c = 0; c < C; c++)
                ck_assert_msg(y[(b * S + v) * C + c] == (float)((b * C + c) * S + v),
                              "n %lld voxel %lld c %lld: got %g", (long long)b, (long long)v,
                              (long long)c, (double)y[(b * S + v) * C + c]);
    ss_ndhwc_to_ncdhw(y, z, &s);
    ck_assert_int_eq(memcmp(x, z, (size_t)n * sizeof(float)), 0);
    /* C == 1: both layouts are the same bytes */
    ss_shape s1 = ss_shape5(2, 1, 2, 3, 4);
    ss_ncdhw_to_ndhwc(x, y, &s1);
    ck_assert_int_eq(memcmp(x, y, 48 * sizeof(float)), 0);
    free(x);
    free(y);
    free(z);
}
END_TEST

START_TEST(test_precision_settings)
{
    ss_precision p;
    ck_assert_int_eq(ss_precision_parse("fp32", &p), SS_OK);
    ck_assert_int_eq(p, SS_PREC_FP32);
    ck_assert_int_eq(ss_precision_parse("TF32", &p), SS_OK);
    ck_assert_int_eq(p, SS_PREC_TF32);
    ck_assert_int_eq(ss_precision_parse("bf16", &p), SS_OK);
    ck_assert_int_eq(p, SS_PREC_BF16);
    ck_assert_int_eq(ss_precision_parse("fp16", &p), SS_ERR);
    ck_assert_msg(strstr(semiseg_error(), "fp16") != NULL, "error does not name the value: %s",
                  semiseg_error());
    ck_assert_int_eq(ss_cuda_set_precision((ss_precision)7), SS_ERR);
    ck_assert_int_eq(ss_cuda_set_workspace_limit(1000), SS_ERR);
    size_t lim = ss_cuda_workspace_limit();
    setenv("SS_CUDA_PRECISION", "bf16", 1);
    setenv("SS_CUDA_WS_MB", "64", 1);
    ck_assert_int_eq(ss_cuda_config_from_env(), SS_OK);
    ck_assert_int_eq(ss_cuda_precision(), SS_PREC_BF16);
    ck_assert_uint_eq(ss_cuda_workspace_limit(), (size_t)64 << 20);
    setenv("SS_CUDA_DETERMINISTIC", "yes", 1);
    ck_assert_int_eq(ss_cuda_config_from_env(), SS_ERR);
    ck_assert_msg(strstr(semiseg_error(), "SS_CUDA_DETERMINISTIC") != NULL, "%s",
                  semiseg_error());
    unsetenv("SS_CUDA_PRECISION");
    unsetenv("SS_CUDA_WS_MB");
    unsetenv("SS_CUDA_DETERMINISTIC");
    ss_cuda_set_precision(SS_PREC_FP32);
    ss_cuda_set_workspace_limit(lim);
}
END_TEST

Suite *suite_cuda(void)
{
    Suite *s = suite_create("cuda");
    TCase *cpu = tcase_create("cpu_side");
    tcase_add_test(cpu, test_dropout_rule_matches_cpu);
    tcase_add_test(cpu, test_layout_reference);
    tcase_add_test(cpu, test_precision_settings);
    tcase_add_test(cpu, test_bench_hook_cpu);
    tcase_add_test(cpu, test_node_brackets);
    suite_add_tcase(s, cpu);
    TCase *gpu = tcase_create("gpu");
    tcase_add_loop_test(gpu, test_op_fp32, 0, N_CASES);
    tcase_add_loop_test(gpu, test_op_reduced_precision, 0, 2 * n_gemm_cases());
    tcase_add_test(gpu, test_conv_deterministic);
    tcase_add_test(gpu, test_data_errors);
    tcase_add_test(gpu, test_layout_device);
    tcase_add_test(gpu, test_vnet_step);
    suite_add_tcase(s, gpu);
    return s;
}
