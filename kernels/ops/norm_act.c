/* BN_ACT: training-mode batch norm followed by ReLU or LeakyReLU as one op
 * (kernels/op.h). The graph planner forms it on the CPU backend when nobody
 * but the activation reads the batch norm's output (harness/graph_fuse.c);
 * model code never builds it. The activation's input is then never stored:
 * the backward takes the activation's mask from its output (r > 0 exactly
 * when the batch-norm output is > 0, for ReLU and for LeakyReLU with a slope
 * >= 0). The reference runs the BN_TRAIN and activation reference kernels in
 * turn, in place on the output, and in the backward forms the batch norm's
 * output gradient in the workspace before the BN_TRAIN reference backward. */
#include "../cpu/cpu_fast.h"
#include "../error.h"
#include "../op.h"

#include <math.h>

static int bna_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                     ss_shape *out)
{
    if (ip[0] != SS_OP_RELU && ip[0] != SS_OP_LEAKY_RELU)
        return ss_op_err("bn_act", n_in, in, "activation ip[0] = %d is neither RELU nor LEAKY_RELU",
                         ip[0]);
    if (ip[0] == SS_OP_LEAKY_RELU && !(isfinite(fp[2]) && fp[2] >= 0.f))
        return ss_op_err("bn_act", n_in, in, "LeakyReLU slope fp[2] = %g must be finite and >= 0",
                         (double)fp[2]);
    return ss_op_get(SS_OP_BN_TRAIN)->infer(ip, fp, n_in, in, n_out, out);
}

static int bna_fwd(const ss_op_args *a)
{
    if (ss_op_get(SS_OP_BN_TRAIN)->fwd(a) != SS_OK)
        return SS_ERR;
    ss_op_args b = {0};
    const float slope[1] = {a->fp[2]};
    b.kind = a->ip[0];
    b.fp = slope;
    b.n_in = b.n_out = 1;
    b.xs[0] = b.ys[0] = a->ys[0];
    b.x[0] = b.y[0] = a->y[0];
    return ss_op_get(b.kind)->fwd(&b);
}

static int bna_bwd(const ss_op_args *a)
{
    if (!a->gy[0])
        return ss_op_get(SS_OP_BN_TRAIN)->bwd(a);
    int64_t n = ss_numel(&a->xs[0]);
    if (!a->ws || a->ws_size < (size_t)n * sizeof(float))
        return ss_op_err("bn_act", a->n_in, a->xs, "workspace of %zu bytes is too small",
                         a->ws_size);
    const float *r = a->y[0], *gr = a->gy[0];
    const float s = a->ip[0] == SS_OP_LEAKY_RELU ? a->fp[2] : 0.f;
    const int leaky = a->ip[0] == SS_OP_LEAKY_RELU;
    float *gbn = a->ws;
    for (int64_t i = 0; i < n; i++)
        gbn[i] = r[i] > 0 ? gr[i] : leaky ? gr[i] * s : 0.f;
    ss_op_args b = *a;
    b.gy[0] = gbn;
    b.ws = NULL;
    b.ws_size = 0;
    return ss_op_get(SS_OP_BN_TRAIN)->bwd(&b);
}

static size_t bna_ws(const ss_op_args *a, int bwd)
{
    return bwd ? (size_t)ss_numel(&a->xs[0]) * sizeof(float)
               : ss_op_get(SS_OP_BN_TRAIN)->ws(a, 0);
}

/* the batch norm's 8 and the activation's 1 per element */
static double bna_flops(const ss_op_args *a) { return 9.0 * (double)ss_numel(&a->xs[0]); }

const ss_op_desc ss_desc_bn_act = {
    .name = "bn_act",
    .min_in = 5,
    .max_in = 5,
    .infer = bna_infer,
    .fwd = bna_fwd,
    .bwd = bna_bwd,
    .fwd_fast = ss_cpu_bn_act_fwd,
    .bwd_fast = ss_cpu_bn_act_bwd,
    .ws = bna_ws,
    .flops = bna_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x7,
};
