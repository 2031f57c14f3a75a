/* CONV_BN_ACT: a convolution (or transposed convolution), evaluation-mode
 * batch norm and an optional ReLU / LeakyReLU as one op (kernels/op.h). The
 * graph planner forms it for inference graphs on the CPU backend
 * (harness/graph_plan.c); nothing builds it directly. The reference runs the
 * three reference kernels in turn, in place on the output, so it computes
 * exactly what the unfused nodes compute. The fast path
 * (kernels/cpu/fast_fused.c) folds the batch norm into the weights. */
#include "../cpu/cpu_fast.h"
#include "../error.h"
#include "../op.h"

#include <string.h>

/* Argument split of a CONV_BN_ACT call into its conv, BN and act calls. */
static int cba_has_bias(int n_in) { return n_in == 7; }

void ss_cba_conv_args(const ss_op_args *a, ss_op_args *c)
{
    memset(c, 0, sizeof *c);
    c->kind = a->ip[9];
    c->ip = a->ip;
    c->fp = a->fp;
    c->n_in = cba_has_bias(a->n_in) ? 3 : 2;
    c->xs[0] = a->xs[0];
    c->xs[1] = a->xs[1];
    c->x[0] = a->x[0];
    c->x[1] = a->x[1];
    if (c->n_in == 3) {
        c->xs[2] = a->xs[6];
        c->x[2] = a->x[6];
    }
    c->n_out = 1;
    c->ys[0] = a->ys[0];
    c->y[0] = a->y[0];
    c->ws = a->ws;
    c->ws_size = a->ws_size;
    c->step = a->step;
}

/* BN_EVAL (and with kind = act, the activation) in place on y. */
static void cba_post_args(const ss_op_args *a, int kind, ss_op_args *b)
{
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->ip = a->ip;
    b->fp = a->fp; /* slope fp[0] and eps fp[1] sit where LEAKY_RELU and BN_EVAL read them */
    b->n_in = kind == SS_OP_BN_EVAL ? 5 : 1;
    b->xs[0] = a->ys[0];
    b->x[0] = a->y[0];
    for (int i = 1; i < b->n_in; i++) {
        b->xs[i] = a->xs[1 + i];
        b->x[i] = a->x[1 + i];
    }
    b->n_out = 1;
    b->ys[0] = a->ys[0];
    b->y[0] = a->y[0];
}

static int cba_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                     ss_shape *out)
{
    if (ip[9] != SS_OP_CONV && ip[9] != SS_OP_DECONV)
        return ss_op_err("conv_bn_act", n_in, in, "conv kind ip[9] = %d is neither CONV nor DECONV",
                         ip[9]);
    if (ip[10] != 0 && ip[10] != SS_OP_RELU && ip[10] != SS_OP_LEAKY_RELU)
        return ss_op_err("conv_bn_act", n_in, in,
                         "activation ip[10] = %d is neither 0, RELU nor LEAKY_RELU", ip[10]);
    ss_shape cin[3] = {in[0], in[1], cba_has_bias(n_in) ? in[6] : in[0]};
    if (ss_op_get(ip[9])->infer(ip, fp, cba_has_bias(n_in) ? 3 : 2, cin, n_out, out) != SS_OK)
        return SS_ERR;
    ss_shape bin[5] = {out[0], in[2], in[3], in[4], in[5]};
    int nb;
    ss_shape by[SS_MAX_OUT];
    if (ss_op_get(SS_OP_BN_EVAL)->infer(ip, fp, 5, bin, &nb, by) != SS_OK)
        return SS_ERR;
    if (ip[10] == SS_OP_LEAKY_RELU &&
        ss_op_get(SS_OP_LEAKY_RELU)->infer(ip, fp, 1, out, &nb, by) != SS_OK)
        return SS_ERR;
    *n_out = 1;
    return SS_OK;
}

static int cba_fwd(const ss_op_args *a)
{
    ss_op_args c, b;
    ss_cba_conv_args(a, &c);
    if (ss_op_get(c.kind)->fwd(&c) != SS_OK)
        return SS_ERR;
    cba_post_args(a, SS_OP_BN_EVAL, &b);
    if (ss_op_get(SS_OP_BN_EVAL)->fwd(&b) != SS_OK)
        return SS_ERR;
    if (!a->ip[10])
        return SS_OK;
    cba_post_args(a, a->ip[10], &b);
    return ss_op_get(a->ip[10])->fwd(&b);
}

static double cba_flops(const ss_op_args *a)
{
    ss_op_args c, b;
    ss_cba_conv_args(a, &c);
    double f = ss_op_get(c.kind)->flops(&c);
    cba_post_args(a, SS_OP_BN_EVAL, &b);
    f += ss_op_get(SS_OP_BN_EVAL)->flops(&b);
    if (a->ip[10]) {
        cba_post_args(a, a->ip[10], &b);
        f += ss_op_get(a->ip[10])->flops(&b);
    }
    return f;
}

const ss_op_desc ss_desc_conv_bn_act = {
    .name = "conv_bn_act",
    .min_in = 6,
    .max_in = 7,
    .infer = cba_infer,
    .fwd = cba_fwd,
    .fwd_fast = ss_cpu_conv_bn_act_fwd,
    .ws = ss_cpu_conv_bn_act_ws,
    .flops = cba_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0u,
};
