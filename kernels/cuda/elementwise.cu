/* Elementwise ops on the GPU with the CPU reference's arithmetic: activations
 * (RELU, LEAKY_RELU, PRELU, SIGMOID, TANH), unary math (SCALE with the dynamic
 * scalar, POW, EXP, LOG, CLAMP; computed in double and rounded once, with
 * explicit _rn intrinsics where the CPU does a separate multiply and add),
 * binary ops with numpy broadcasting (backward = box sums over the broadcast
 * dims) and Philox dropout (kernels/rng.h, the same function as the CPU). */
#include "cu_common.h"

#include "dropout_rule.h"

#include <math.h>

static int zero_grads(const ss_op_args *a)
{
    for (int i = 0; i < a->n_in; i++)
        if (a->gx[i] && cu_fill(a->gx[i], 0.f, ss_numel(&a->xs[i])) != SS_OK)
            return SS_ERR;
    return SS_OK;
}

/* ---- activations ------------------------------------------------------------ */

enum { A_RELU, A_LEAKY, A_SIGMOID, A_TANH };

__global__ void k_act_fwd(int op, const float *x, float *y, float s, int64_t n)
{
    CU_FOR(i, n)
    {
        float v = x[i];
        switch (op) {
        case A_RELU: y[i] = v > 0 ? v : 0.f; break;
        case A_LEAKY: y[i] = v > 0 ? v : v * s; break;
        case A_SIGMOID: {
            double d = v;
            if (d >= 0) {
                y[i] = (float)(1.0 / (1.0 + exp(-d)));
            } else {
                double e = exp(d);
                y[i] = (float)(e / (1.0 + e));
            }
            break;
        }
        default: y[i] = (float)tanh((double)v); break;
        }
    }
}

__global__ void k_act_bwd(int op, const float *x, const float *y, const float *dy, float *dx,
                          float s, int64_t n)
{
    CU_FOR(i, n)
    {
        switch (op) {
        case A_RELU: dx[i] = x[i] > 0 ? dy[i] : 0.f; break;
        case A_LEAKY: dx[i] = x[i] > 0 ? dy[i] : dy[i] * s; break;
        case A_SIGMOID: dx[i] = (float)((double)dy[i] * y[i] * (1.0 - y[i])); break;
        default: dx[i] = (float)((double)dy[i] * (1.0 - (double)y[i] * y[i])); break;
        }
    }
}

static int act_run(const ss_op_args *a, int bwd, int op)
{
    int64_t n = ss_numel(&a->xs[0]);
    float s = op == A_LEAKY ? a->fp[0] : 0.f;
    if (!bwd) {
        k_act_fwd<<<cu_blocks(n), CU_THREADS, 0, cu_stream()>>>(op, a->x[0], a->y[0], s, n);
        CU_LAUNCHED("k_act_fwd");
        return SS_OK;
    }
    if (!a->gy[0])
        return zero_grads(a);
    if (!a->gx[0])
        return SS_OK;
    k_act_bwd<<<cu_blocks(n), CU_THREADS, 0, cu_stream()>>>(op, a->x[0], a->y[0], a->gy[0],
                                                            a->gx[0], s, n);
    CU_LAUNCHED("k_act_bwd");
    return SS_OK;
}

/* PReLU: slope w[c] (per channel) or w[0]; S voxels per (n, c) row. */
__global__ void k_prelu(const float *x, const float *w, const float *dy, float *out, int C,
                        int per_c, int64_t S, int64_t n)
{
    CU_FOR(i, n)
    {
        float sl = w[per_c ? (i / S) % C : 0];
        float v = dy ? dy[i] : x[i];
        out[i] = x[i] > 0 ? v : v * sl;
    }
}

struct TermPreluA {
    const float *x, *dy;
    __device__ double operator()(const int64_t *off) const
    {
        float v = x[off[0]];
        return v > 0 ? 0.0 : (double)dy[off[0]] * v;
    }
};

static int prelu_run(const ss_op_args *a, int bwd)
{
    const ss_shape *xs = &a->xs[0];
    int C = xs->d[SS_C], per_c = a->xs[1].d[SS_N] == C;
    int64_t n = ss_numel(xs), S = ss_spatial(xs);
    if (!bwd) {
        k_prelu<<<cu_blocks(n), CU_THREADS, 0, cu_stream()>>>(a->x[0], a->x[1], NULL, a->y[0],
                                                              C, per_c, S, n);
        CU_LAUNCHED("k_prelu");
        return SS_OK;
    }
    if (!a->gy[0])
        return zero_grads(a);
    if (a->gx[0]) {
        k_prelu<<<cu_blocks(n), CU_THREADS, 0, cu_stream()>>>(a->x[0], a->x[1], a->gy[0],
                                                              a->gx[0], C, per_c, S, n);
        CU_LAUNCHED("k_prelu");
    }
    if (a->gx[1]) {
        int small[5] = {1, per_c ? C : 1, 1, 1, 1};
        int64_t sp[1][5];
        cu_strides(xs->d, sp[0], 0);
        cu_box b = cu_box_make(small, xs->d, 1, sp);
        TermPreluA t = {a->x[0], a->gy[0]};
        return cu_box_run(b, per_c ? C : 1, t, 1.0, a->gx[1], cu_stream());
    }
    return SS_OK;
}

/* ---- unary math -------------------------------------------------------------- */

__global__ void k_un_fwd(int kind, const float *x, float *y, double s, double b, float lo,
                         float hi, int64_t n)
{
    CU_FOR(i, n)
    {
        float xv = x[i];
        double d = xv;
        float r;
        switch (kind) {
        case SS_OP_SCALE: r = (float)__dadd_rn(__dmul_rn(s, d), b); break;
        case SS_OP_POW: r = (float)pow(d, s); break;
        case SS_OP_EXP: r = (float)exp(d); break;
        case SS_OP_LOG: r = (float)log(d); break;
        default: r = xv < lo ? lo : (xv > hi ? hi : xv); break;
        }
        y[i] = r;
    }
}

__global__ void k_un_bwd(int kind, const float *x, const float *g, float *gx, double s, float lo,
                         float hi, int64_t n)
{
    CU_FOR(i, n)
    {
        float xv = x[i], gv = g[i];
        double d = xv, gd = gv;
        float r;
        switch (kind) {
        case SS_OP_SCALE: r = (float)(s * gd); break;
        case SS_OP_POW: r = s == 0 ? 0.f : (float)(__dmul_rn(gd, s) * pow(d, s - 1)); break;
        case SS_OP_EXP: r = (float)(gd * exp(d)); break;
        case SS_OP_LOG: r = (float)(gd / d); break;
        default: r = xv >= lo && xv <= hi ? gv : 0.f; break;
        }
        gx[i] = r;
    }
}

static int unary_run(const ss_op_args *a, int bwd)
{
    int64_t n = ss_numel(&a->xs[0]);
    double s = a->kind == SS_OP_SCALE ? (a->dyn_used ? (double)a->dyn : (double)a->fp[0])
               : a->kind == SS_OP_POW ? (double)a->fp[0]
                                      : 0.0;
    double b = a->kind == SS_OP_SCALE ? (double)a->fp[1] : 0.0;
    float lo = a->kind == SS_OP_CLAMP ? a->fp[0] : 0.f, hi = a->kind == SS_OP_CLAMP ? a->fp[1] : 0.f;
    if (!bwd) {
        k_un_fwd<<<cu_blocks(n), CU_THREADS, 0, cu_stream()>>>(a->kind, a->x[0], a->y[0], s, b,
                                                               lo, hi, n);
        CU_LAUNCHED("k_un_fwd");
        return SS_OK;
    }
    if (!a->gx[0])
        return SS_OK;
    if (!a->gy[0])
        return zero_grads(a);
    k_un_bwd<<<cu_blocks(n), CU_THREADS, 0, cu_stream()>>>(a->kind, a->x[0], a->gy[0], a->gx[0],
                                                           s, lo, hi, n);
    CU_LAUNCHED("k_un_bwd");
    return SS_OK;
}

/* ---- binary ops with broadcasting --------------------------------------------- */

struct Bin5 {
    int o[5];
    int64_t sa[5], sb[5];
};

static __device__ __forceinline__ float bin_apply(int kind, float p, float q)
{
    switch (kind) {
    case SS_OP_ADD: return p + q;
    case SS_OP_SUB: return p - q;
    case SS_OP_MUL: return p * q;
    default: return p / q;
    }
}

__global__ void k_bin_fwd(int kind, Bin5 g, const float *A, const float *B, float *Y, int64_t n)
{
    CU_FOR(i, n)
    {
        int64_t r = i, ia = 0, ib = 0;
        for (int k = 4; k >= 0; k--) {
            int64_t c = r % g.o[k];
            r /= g.o[k];
            ia += c * g.sa[k];
            ib += c * g.sb[k];
        }
        Y[i] = bin_apply(kind, A[ia], B[ib]);
    }
}

struct TermBin {
    int kind, which;
    const float *G, *A, *B;
    __device__ double operator()(const int64_t *off) const
    {
        double g = G[off[0]], p = A[off[1]], q = B[off[2]];
        switch (kind) {
        case SS_OP_ADD: return g;
        case SS_OP_SUB: return which ? -g : g;
        case SS_OP_MUL: return which ? g * p : g * q;
        default: return which ? -g * p / (q * q) : g / q;
        }
    }
};

static int binary_run(const ss_op_args *a, int bwd)
{
    const ss_shape *ys = &a->ys[0];
    if (!bwd) {
        Bin5 g;
        for (int k = 0; k < 5; k++)
            g.o[k] = ys->d[k];
        cu_strides(a->xs[0].d, g.sa, 1);
        cu_strides(a->xs[1].d, g.sb, 1);
        int64_t n = ss_numel(ys);
        k_bin_fwd<<<cu_blocks(n), CU_THREADS, 0, cu_stream()>>>(a->kind, g, a->x[0], a->x[1],
                                                                a->y[0], n);
        CU_LAUNCHED("k_bin_fwd");
        return SS_OK;
    }
    if (!a->gy[0])
        return zero_grads(a);
    int64_t sp[3][5];
    cu_strides(ys->d, sp[0], 0);
    cu_strides(a->xs[0].d, sp[1], 1);
    cu_strides(a->xs[1].d, sp[2], 1);
    for (int k = 0; k < 2; k++) {
        if (!a->gx[k])
            continue;
        cu_box b = cu_box_make(a->xs[k].d, ys->d, 3, sp);
        TermBin t = {a->kind, k, a->gy[0], a->x[0], a->x[1]};
        if (cu_box_run(b, ss_numel(&a->xs[k]), t, 1.0, a->gx[k], cu_stream()) != SS_OK)
            return SS_ERR;
    }
    return SS_OK;
}

/* ---- dropout ------------------------------------------------------------------ */

/* dst = src * (keep ? scale : 0) per kernels/cuda/dropout_rule.h, the rule of
 * kernels/ops/dropout.c. */
__global__ void k_dropout(const float *src, float *dst, uint64_t seed, uint32_t stream,
                          uint64_t step, int chan, float p, float scale, int64_t S, int64_t n)
{
    CU_FOR(j, n) dst[j] = ss_dropout_elem(src[j], seed, stream, step, chan, S, j, p, scale);
}

static int dropout_run(const ss_op_args *a, int bwd)
{
    int64_t n = ss_numel(&a->xs[0]);
    const float *src = a->x[0];
    float *dst = a->y[0];
    if (bwd) {
        if (!a->gx[0])
            return SS_OK;
        if (!a->gy[0])
            return cu_fill(a->gx[0], 0.f, n);
        src = a->gy[0];
        dst = a->gx[0];
    }
    uint64_t seed = (uint64_t)(uint32_t)a->ip[1] | (uint64_t)(uint32_t)a->ip[2] << 32;
    float p = a->fp[0];
    float scale = ss_dropout_scale(p);
    k_dropout<<<cu_blocks(n), CU_THREADS, 0, cu_stream()>>>(src, dst, seed, (uint32_t)a->ip[3],
                                                            a->step, a->ip[0] == 1, p, scale,
                                                            ss_spatial(&a->xs[0]), n);
    CU_LAUNCHED("k_dropout");
    return SS_OK;
}

int cu_elementwise_run(const ss_op_args *a, int bwd)
{
    switch (a->kind) {
    case SS_OP_RELU: return act_run(a, bwd, A_RELU);
    case SS_OP_LEAKY_RELU: return act_run(a, bwd, A_LEAKY);
    case SS_OP_SIGMOID: return act_run(a, bwd, A_SIGMOID);
    case SS_OP_TANH: return act_run(a, bwd, A_TANH);
    case SS_OP_PRELU: return prelu_run(a, bwd);
    case SS_OP_SCALE:
    case SS_OP_POW:
    case SS_OP_EXP:
    case SS_OP_LOG:
    case SS_OP_CLAMP: return unary_run(a, bwd);
    case SS_OP_ADD:
    case SS_OP_SUB:
    case SS_OP_MUL:
    case SS_OP_DIV: return binary_run(a, bwd);
    case SS_OP_DROPOUT: return dropout_run(a, bwd);
    default: return 1;
    }
}
