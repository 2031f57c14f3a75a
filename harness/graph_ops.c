/* Typed op constructors: pack each op's parameters as kernels/op.h documents. */
#include "graph_impl.h"

static int op1(ss_graph *g, int kind, int x) { return g_op(g, kind, 1, &x, 0, 0, 0, 0, 0); }

static int op2(ss_graph *g, int kind, int a, int b)
{
    int in[2] = {a, b};
    return g_op(g, kind, 2, in, 0, 0, 0, 0, 0);
}

/* Inputs with an optional trailing tensor (bias): -1 drops it. */
static int opt_inputs(int *in, int n, int extra)
{
    if (extra >= 0)
        in[n++] = extra;
    return n;
}

int g_conv(ss_graph *g, int x, int w, int b, const int stride[3], const int pad[3])
{
    int in[3] = {x, w};
    int ip[6] = {stride[0], stride[1], stride[2], pad[0], pad[1], pad[2]};
    return g_op(g, SS_OP_CONV, opt_inputs(in, 2, b), in, ip, 6, 0, 0, 0);
}

int g_deconv(ss_graph *g, int x, int w, int b, const int stride[3], const int pad[3],
             const int outpad[3])
{
    int in[3] = {x, w};
    int ip[9] = {stride[0], stride[1], stride[2], pad[0],    pad[1],
                 pad[2],    outpad[0], outpad[1], outpad[2]};
    return g_op(g, SS_OP_DECONV, opt_inputs(in, 2, b), in, ip, 9, 0, 0, 0);
}

int g_bn_train(ss_graph *g, int x, int gamma, int beta, int rmean, int rvar, float momentum,
               float eps)
{
    int in[5] = {x, gamma, beta, rmean, rvar};
    float fp[2] = {momentum, eps};
    return g_op(g, SS_OP_BN_TRAIN, 5, in, 0, 0, fp, 2, 0);
}

int g_bn_eval(ss_graph *g, int x, int gamma, int beta, int rmean, int rvar, float eps)
{
    int in[5] = {x, gamma, beta, rmean, rvar};
    float fp[2] = {0.f, eps};
    return g_op(g, SS_OP_BN_EVAL, 5, in, 0, 0, fp, 2, 0);
}

int g_instnorm(ss_graph *g, int x, int gamma, int beta, float eps)
{
    int in[3] = {x, gamma, beta};
    float fp[2] = {0.f, eps};
    int n = gamma >= 0 ? 3 : 1;
    return g_op(g, SS_OP_INSTNORM, n, in, 0, 0, fp, 2, 0);
}

int g_groupnorm(ss_graph *g, int x, int gamma, int beta, int groups, float eps)
{
    int in[3] = {x, gamma, beta};
    float fp[2] = {0.f, eps};
    return g_op(g, SS_OP_GROUPNORM, 3, in, &groups, 1, fp, 2, 0);
}

int g_relu(ss_graph *g, int x) { return op1(g, SS_OP_RELU, x); }
int g_sigmoid(ss_graph *g, int x) { return op1(g, SS_OP_SIGMOID, x); }
int g_tanh(ss_graph *g, int x) { return op1(g, SS_OP_TANH, x); }
int g_softmax(ss_graph *g, int x) { return op1(g, SS_OP_SOFTMAX, x); }
int g_log_softmax(ss_graph *g, int x) { return op1(g, SS_OP_LOG_SOFTMAX, x); }
int g_exp(ss_graph *g, int x) { return op1(g, SS_OP_EXP, x); }
int g_log(ss_graph *g, int x) { return op1(g, SS_OP_LOG, x); }

int g_leaky_relu(ss_graph *g, int x, float slope)
{
    return g_op(g, SS_OP_LEAKY_RELU, 1, &x, 0, 0, &slope, 1, 0);
}

int g_prelu(ss_graph *g, int x, int a) { return op2(g, SS_OP_PRELU, x, a); }

int g_dropout(ss_graph *g, int x, float p, int channel, uint64_t seed, uint32_t stream)
{
    int ip[4] = {channel ? 1 : 0, (int)(uint32_t)seed, (int)(uint32_t)(seed >> 32), (int)stream};
    return g_op(g, SS_OP_DROPOUT, 1, &x, ip, 4, &p, 1, 0);
}

static int pool(ss_graph *g, int kind, int x, const int k[3], const int s[3], const int p[3])
{
    int ip[9] = {k[0], k[1], k[2], s[0], s[1], s[2], p[0], p[1], p[2]};
    return g_op(g, kind, 1, &x, ip, 9, 0, 0, 0);
}

int g_maxpool(ss_graph *g, int x, const int k[3], const int s[3], const int p[3])
{
    return pool(g, SS_OP_MAXPOOL, x, k, s, p);
}

int g_avgpool(ss_graph *g, int x, const int k[3], const int s[3], const int p[3])
{
    return pool(g, SS_OP_AVGPOOL, x, k, s, p);
}

int g_upsample(ss_graph *g, int x, int linear, int align_corners, const int size[3])
{
    int ip[5] = {linear ? 1 : 0, align_corners ? 1 : 0, size[0], size[1], size[2]};
    return g_op(g, SS_OP_UPSAMPLE, 1, &x, ip, 5, 0, 0, 0);
}

int g_add(ss_graph *g, int a, int b) { return op2(g, SS_OP_ADD, a, b); }
int g_sub(ss_graph *g, int a, int b) { return op2(g, SS_OP_SUB, a, b); }
int g_mul(ss_graph *g, int a, int b) { return op2(g, SS_OP_MUL, a, b); }
int g_div(ss_graph *g, int a, int b) { return op2(g, SS_OP_DIV, a, b); }
int g_mse(ss_graph *g, int a, int b) { return op2(g, SS_OP_MSE, a, b); }
int g_cossim(ss_graph *g, int a, int b, float eps)
{
    int in[2] = {a, b};
    return g_op(g, SS_OP_COSSIM, 2, in, 0, 0, &eps, 1, 0);
}

int g_scale(ss_graph *g, int x, float a, float b)
{
    float fp[2] = {a, b};
    return g_op(g, SS_OP_SCALE, 1, &x, 0, 0, fp, 2, 0);
}

int g_scale_dyn(ss_graph *g, int x, int slot)
{
    if (slot < 0 || slot >= g->nscalar)
        return graph_seterr(g, "scale: dynamic scalar slot %d does not exist", slot);
    float fp[2] = {1.f, 0.f};
    int y = g_op(g, SS_OP_SCALE, 1, &x, 0, 0, fp, 2, 0);
    if (y >= 0)
        g->n[g->t[y].producer].slot = slot;
    return y;
}

int g_pow(ss_graph *g, int x, float e) { return g_op(g, SS_OP_POW, 1, &x, 0, 0, &e, 1, 0); }

int g_clamp(ss_graph *g, int x, float lo, float hi)
{
    float fp[2] = {lo, hi};
    return g_op(g, SS_OP_CLAMP, 1, &x, 0, 0, fp, 2, 0);
}

int g_concat(ss_graph *g, int n, const int *xs, int axis)
{
    return g_op(g, SS_OP_CONCAT, n, xs, &axis, 1, 0, 0, 0);
}

int g_slice(ss_graph *g, int x, int axis, int start, int len)
{
    int ip[3] = {axis, start, len};
    return g_op(g, SS_OP_SLICE, 1, &x, ip, 3, 0, 0, 0);
}

int g_sum(ss_graph *g, int x, int mask) { return g_op(g, SS_OP_SUM, 1, &x, &mask, 1, 0, 0, 0); }
int g_mean(ss_graph *g, int x, int mask) { return g_op(g, SS_OP_MEAN, 1, &x, &mask, 1, 0, 0, 0); }

int g_matmul(ss_graph *g, int a, int b, int trans_a, int trans_b)
{
    int in[2] = {a, b}, ip[2] = {trans_a, trans_b};
    return g_op(g, SS_OP_MATMUL, 2, in, ip, 2, 0, 0, 0);
}

int g_linear(ss_graph *g, int x, int w, int b)
{
    int in[3] = {x, w};
    return g_op(g, SS_OP_LINEAR, opt_inputs(in, 2, b), in, 0, 0, 0, 0, 0);
}

int g_l2norm(ss_graph *g, int x, float eps) { return g_op(g, SS_OP_L2NORM, 1, &x, 0, 0, &eps, 1, 0); }

int g_sort(ss_graph *g, int x, int desc) { return g_op(g, SS_OP_SORT, 1, &x, &desc, 1, 0, 0, 0); }
int g_rank(ss_graph *g, int x, int desc) { return g_op(g, SS_OP_RANK, 1, &x, &desc, 1, 0, 0, 0); }

int g_ce(ss_graph *g, int logits, int labels, int ignore_index)
{
    int in[2] = {logits, labels};
    return g_op(g, SS_OP_CE, 2, in, &ignore_index, 1, 0, 0, 0);
}
