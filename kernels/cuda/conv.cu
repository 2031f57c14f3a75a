/* CONV and DECONV through cuDNN (kernels/ops/conv.c gives the semantics).
 *
 * Both ops are one cuDNN convolution "problem" X (N,C,..) * W (K,C,k..) -> Y
 * (N,K,..), cross-correlation, with three directions:
 *   CONV    fwd: Y = fwd(X=x, W=w)          bwd: gx = bwd_data(W, dY=gy),
 *                                                gw = bwd_filter(X=x, dY=gy)
 *   DECONV  (w is (Ci,Co,k) = (K,C,k), X has the deconv OUTPUT's shape)
 *           fwd: y = bwd_data(W, dY=x)       bwd: gx = fwd(X=gy, W),
 *                                                gw = bwd_filter(X=gy, dY=x)
 * output_padding needs nothing special: X simply has the larger extent.
 * Bias (add and gradient) uses own kernels; the bias gradient is a fixed-order
 * double sum.
 *
 * Descriptors: 2-D data (D == 1 in X, Y and W) uses 4-D NCHW descriptors and a
 * 2-D convolution (cuDNN's 2-D kernels are faster), everything else 5-D NCDHW
 * descriptors and a 3-D convolution.
 *
 * Algorithm policy: per parameter set (shapes, stride, pad, precision mode,
 * deterministic flag) and direction, the first call runs cudnnFind*Ex on the
 * real buffers with the shared bounded workspace (ss_cuda_workspace_limit())
 * and keeps the fastest result that (a) succeeded, (b) fits the workspace,
 * (c) is deterministic when ss_cuda_deterministic() is set, (d) uses a math
 * type allowed by the precision mode (FP32: FMA or default math, always run
 * with CUDNN_FMA_MATH so no TF32 tensor cores; never the FP16 down-conversion
 * math). The choice is cached, logged once to
 * ss_cuda_algo_log() when set, and reused by every later call. */
#include "cu_common.h"

#include <cuda_bf16.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DIR_FWD = 0, DIR_BWD_DATA = 1, DIR_BWD_FILTER = 2 };
static const char *const g_dir_names[3] = {"fwd", "bwd-data", "bwd-filter"};

typedef struct ckey {
    int x[5], w[5], y[5], s[3], p[3];
    int prec, det;
} ckey;

typedef struct centry {
    ckey key;
    int nd; /* 4 or 5 */
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    int have[3], algo[3];
    cudnnMathType_t math[3];
    size_t ws[3];
} centry;

static centry *g_cache;
static int g_ncache, g_capcache;

static int set_descs(centry *e)
{
    const ckey *k = &e->key;
    int two_d = k->x[2] == 1 && k->y[2] == 1 && k->w[2] == 1;
    e->nd = two_d ? 4 : 5;
    int xd[5], yd[5], wd[5], xs[5], ys[5], pad[3], str[3], dil[3] = {1, 1, 1};
    int off = two_d ? 1 : 0; /* skip D */
    for (int i = 0, j = 0; i < 5; i++) {
        if (two_d && i == 2)
            continue;
        xd[j] = k->x[i];
        yd[j] = k->y[i];
        wd[j] = k->w[i];
        j++;
    }
    for (int j = 0; j < 3 - off; j++) {
        pad[j] = k->p[j + off];
        str[j] = k->s[j + off];
    }
    xs[e->nd - 1] = ys[e->nd - 1] = 1;
    for (int j = e->nd - 2; j >= 0; j--) {
        xs[j] = xs[j + 1] * xd[j + 1];
        ys[j] = ys[j + 1] * yd[j + 1];
    }
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->xd));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->yd));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&e->wd));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&e->cd));
    CUDNN_CHECK(cudnnSetTensorNdDescriptor(e->xd, CUDNN_DATA_FLOAT, e->nd, xd, xs));
    CUDNN_CHECK(cudnnSetTensorNdDescriptor(e->yd, CUDNN_DATA_FLOAT, e->nd, yd, ys));
    CUDNN_CHECK(cudnnSetFilterNdDescriptor(e->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, e->nd, wd));
    CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(e->cd, e->nd - 2, pad, str, dil,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    return SS_OK;
}

static int lookup(const ckey *k, centry **out)
{
    for (int i = 0; i < g_ncache; i++)
        if (memcmp(&g_cache[i].key, k, sizeof *k) == 0) {
            *out = &g_cache[i];
            return SS_OK;
        }
    if (g_ncache == g_capcache) {
        int cap = g_capcache ? 2 * g_capcache : 64;
        centry *n = (centry *)realloc(g_cache, (size_t)cap * sizeof *n);
        if (!n)
            return ss_seterr("conv: cannot grow the algorithm cache to %d entries", cap);
        g_cache = n;
        g_capcache = cap;
    }
    centry *e = &g_cache[g_ncache];
    memset(e, 0, sizeof *e);
    e->key = *k;
    if (set_descs(e) != SS_OK)
        return SS_ERR;
    g_ncache++;
    *out = e;
    return SS_OK;
}

static cudnnMathType_t base_math(int prec)
{
    return prec == SS_PREC_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
}

/* FP32: results reported with FMA or default math are accepted and always run
 * with CUDNN_FMA_MATH (default math would allow TF32 on Ampere and later);
 * TF32/BF16: anything but the FP16 down-conversion math, run as reported. */
static int math_ok(int prec, cudnnMathType_t m)
{
    if (m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
        return 0;
    return prec != SS_PREC_FP32 || m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH;
}

static cudnnMathType_t run_math(int prec, cudnnMathType_t found)
{
    return prec == SS_PREC_FP32 ? CUDNN_FMA_MATH : found;
}

static const char *shape5(const int *d, char *buf, size_t n)
{
    snprintf(buf, n, "(%d,%d,%d,%d,%d)", d[0], d[1], d[2], d[3], d[4]);
    return buf;
}

/* Picks the first acceptable result of a Find (sorted fastest first). */
template <class P>
static int pick(centry *e, int dir, const P *r, int nr, size_t lim)
{
    const ckey *k = &e->key;
    for (int i = 0; i < nr; i++) {
        if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].memory > lim)
            continue;
        if (k->det && r[i].determinism != CUDNN_DETERMINISTIC)
            continue;
        if (!math_ok(k->prec, r[i].mathType))
            continue;
        e->algo[dir] = (int)r[i].algo;
        e->math[dir] = run_math(k->prec, r[i].mathType);
        e->ws[dir] = r[i].memory;
        e->have[dir] = 1;
        FILE *log = ss_cuda_algo_log();
        if (log) {
            char b1[64], b2[64], b3[64];
            fprintf(log,
                    "cuda: conv %s x%s w%s y%s stride (%d,%d,%d) pad (%d,%d,%d) %s%s: algo %d "
                    "math %d, %.3f ms, workspace %zu B\n",
                    g_dir_names[dir], shape5(k->x, b1, sizeof b1), shape5(k->w, b2, sizeof b2),
                    shape5(k->y, b3, sizeof b3), k->s[0], k->s[1], k->s[2], k->p[0], k->p[1],
                    k->p[2], ss_precision_name((ss_precision)k->prec),
                    k->det ? " deterministic" : "", (int)r[i].algo, (int)r[i].mathType,
                    (double)r[i].time, r[i].memory);
        }
        return SS_OK;
    }
    char b1[64], b2[64], b3[64];
    return ss_seterr("conv %s: no cuDNN algorithm for x%s w%s y%s within a workspace of %zu "
                     "bytes%s in %s mode (%d candidates tried)",
                     g_dir_names[dir], shape5(k->x, b1, sizeof b1), shape5(k->w, b2, sizeof b2),
                     shape5(k->y, b3, sizeof b3), lim, k->det ? " (deterministic only)" : "",
                     ss_precision_name((ss_precision)k->prec), nr);
}

/* Runs one direction: X, W, Y are the problem's tensors (Y = dY for the
 * backward directions; the output is Y for fwd, X for bwd-data, W for
 * bwd-filter). */
static int conv_dir(centry *e, int dir, const float *X, const float *W, const float *Y, float *out)
{
    cudnnHandle_t h = cu_cudnn();
    size_t lim = ss_cuda_workspace_limit();
    const float one = 1.f, zero = 0.f;
    void *ws;
    if (!e->have[dir]) {
        if (cu_conv_ws(lim, &ws) != SS_OK)
            return SS_ERR;
        CUDNN_CHECK(cudnnSetConvolutionMathType(e->cd, base_math(e->key.prec)));
        int nr = 0;
        if (dir == DIR_FWD) {
            cudnnConvolutionFwdAlgoPerf_t r[16];
            CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, e->xd, X, e->wd, W, e->cd, e->yd,
                                                               out, 16, &nr, r, ws, lim));
            if (pick(e, dir, r, nr, lim) != SS_OK)
                return SS_ERR;
        } else if (dir == DIR_BWD_DATA) {
            cudnnConvolutionBwdDataAlgoPerf_t r[16];
            CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
                h, e->wd, W, e->yd, Y, e->cd, e->xd, out, 16, &nr, r, ws, lim));
            if (pick(e, dir, r, nr, lim) != SS_OK)
                return SS_ERR;
        } else {
            cudnnConvolutionBwdFilterAlgoPerf_t r[16];
            CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                h, e->xd, X, e->yd, Y, e->cd, e->wd, out, 16, &nr, r, ws, lim));
            if (pick(e, dir, r, nr, lim) != SS_OK)
                return SS_ERR;
        }
    }
    if (cu_conv_ws(e->ws[dir], &ws) != SS_OK)
        return SS_ERR;
    CUDNN_CHECK(cudnnSetConvolutionMathType(e->cd, e->math[dir]));
    if (dir == DIR_FWD)
        CUDNN_CHECK(cudnnConvolutionForward(h, &one, e->xd, X, e->wd, W, e->cd,
                                            (cudnnConvolutionFwdAlgo_t)e->algo[dir], ws,
                                            e->ws[dir], &zero, e->yd, out));
    else if (dir == DIR_BWD_DATA)
        CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, e->wd, W, e->yd, Y, e->cd,
                                                 (cudnnConvolutionBwdDataAlgo_t)e->algo[dir], ws,
                                                 e->ws[dir], &zero, e->xd, out));
    else
        CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, e->xd, X, e->yd, Y, e->cd,
                                                   (cudnnConvolutionBwdFilterAlgo_t)e->algo[dir],
                                                   ws, e->ws[dir], &zero, e->wd, out));
    return SS_OK;
}

/* ---- BF16 operand rounding ------------------------------------------------------ */

__global__ void k_round_bf16(const float *src, float *dst, int64_t n)
{
    CU_FOR(i, n) dst[i] = __bfloat162float(__float2bfloat16_rn(src[i]));
}

/* In BF16 mode, replaces *p and *q by rounded copies (na, nb floats). */
static int round_pair(const float **p, int64_t na, const float **q, int64_t nb)
{
    if (ss_cuda_precision() != SS_PREC_BF16)
        return SS_OK;
    void *s;
    size_t a_bytes = ((size_t)na * sizeof(float) + 255) & ~(size_t)255;
    if (cu_round_scratch(a_bytes + (size_t)nb * sizeof(float), &s) != SS_OK)
        return SS_ERR;
    float *ra = (float *)s, *rb = (float *)((char *)s + a_bytes);
    k_round_bf16<<<cu_blocks(na), CU_THREADS, 0, cu_stream()>>>(*p, ra, na);
    CU_LAUNCHED("k_round_bf16");
    k_round_bf16<<<cu_blocks(nb), CU_THREADS, 0, cu_stream()>>>(*q, rb, nb);
    CU_LAUNCHED("k_round_bf16");
    *p = ra;
    *q = rb;
    return SS_OK;
}

/* ---- bias ------------------------------------------------------------------------ */

__global__ void k_bias_add(float *y, const float *b, int64_t C, int64_t S, int64_t n)
{
    CU_FOR(i, n) y[i] += b[(i / S) % C];
}

__global__ void k_bias_grad(const double *rs, int64_t N, int64_t C, float *db)
{
    CU_FOR(c, C)
    {
        double s = 0;
        for (int64_t n = 0; n < N; n++)
            s += rs[n * C + c];
        db[c] = (float)s;
    }
}

static int bias_grad(const float *gy, const ss_shape *ys, float *db)
{
    int64_t N = ys->d[0], C = ys->d[1], S = ss_spatial(ys), rows = N * C;
    int64_t np = cu_row_part_count(rows, S);
    void *p;
    if (cu_scratch((size_t)(np + rows) * sizeof(double), &p) != SS_OK)
        return SS_ERR;
    double *part = (double *)p, *rs = part + np;
    if (cu_row_sums(CU_ROW_SUM, gy, NULL, rows, S, (int)C, 1, 1, NULL, NULL, part, rs) != SS_OK)
        return SS_ERR;
    k_bias_grad<<<cu_blocks(C), CU_THREADS, 0, cu_stream()>>>(rs, N, C, db);
    CU_LAUNCHED("k_bias_grad");
    return SS_OK;
}

/* ---- ops --------------------------------------------------------------------------- */

int cu_conv_run(const ss_op_args *a, int bwd)
{
    if (a->kind != SS_OP_CONV && a->kind != SS_OP_DECONV)
        return 1;
    int de = a->kind == SS_OP_DECONV;
    const ss_shape *xs = &a->xs[0], *ws = &a->xs[1], *ys = &a->ys[0];
    if (ss_numel(xs) > INT32_MAX || ss_numel(ys) > INT32_MAX)
        return ss_op_err(de ? "deconv" : "conv", a->n_in, a->xs,
                         "tensors above %d elements exceed cuDNN's 32-bit strides", INT32_MAX);
    ckey k;
    memset(&k, 0, sizeof k);
    for (int i = 0; i < 5; i++) {
        k.x[i] = (de ? ys : xs)->d[i];
        k.y[i] = (de ? xs : ys)->d[i];
        k.w[i] = ws->d[i];
    }
    for (int j = 0; j < 3; j++) {
        k.s[j] = a->ip[j];
        k.p[j] = a->ip[3 + j];
    }
    k.prec = (int)ss_cuda_precision();
    k.det = ss_cuda_deterministic();
    centry *e = NULL;
    if (lookup(&k, &e) != SS_OK)
        return SS_ERR;
    int64_t nw = ss_numel(ws), nx = ss_numel(xs), ny = ss_numel(ys);
    const float *W = a->x[1];
    if (!bwd) {
        const float *in = a->x[0];
        if (round_pair(&in, nx, &W, nw) != SS_OK)
            return SS_ERR;
        if (conv_dir(e, de ? DIR_BWD_DATA : DIR_FWD, in, W, in, a->y[0]) != SS_OK)
            return SS_ERR;
        if (a->n_in == 3) {
            k_bias_add<<<cu_blocks(ny), CU_THREADS, 0, cu_stream()>>>(a->y[0], a->x[2], ys->d[1],
                                                                      ss_spatial(ys), ny);
            CU_LAUNCHED("k_bias_add");
        }
        return SS_OK;
    }
    const float *gy = a->gy[0];
    if (!gy) {
        for (int i = 0; i < a->n_in; i++)
            if (a->gx[i] && cu_fill(a->gx[i], 0.f, ss_numel(&a->xs[i])) != SS_OK)
                return SS_ERR;
        return SS_OK;
    }
    if (a->gx[0]) {
        const float *g = gy, *w = W;
        if (round_pair(&g, ny, &w, nw) != SS_OK)
            return SS_ERR;
        if (conv_dir(e, de ? DIR_FWD : DIR_BWD_DATA, g, w, g, a->gx[0]) != SS_OK)
            return SS_ERR;
    }
    if (a->gx[1]) {
        /* CONV: X = x, dY = gy; DECONV: X = gy, dY = x */
        const float *X = de ? gy : a->x[0], *dY = de ? a->x[0] : gy;
        if (round_pair(&X, de ? ny : nx, &dY, de ? nx : ny) != SS_OK)
            return SS_ERR;
        if (conv_dir(e, DIR_BWD_FILTER, X, NULL, dY, a->gx[1]) != SS_OK)
            return SS_ERR;
    }
    if (a->n_in == 3 && a->gx[2] && bias_grad(gy, ys, a->gx[2]) != SS_OK)
        return SS_ERR;
    return SS_OK;
}
