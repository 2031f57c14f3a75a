/* Maps every op kind to its descriptor; each family file defines its own. */
#include "../error.h"
#include "../op.h"

#include <stdarg.h>
#include <stdio.h>

#define SS_OP_LIST(X)                                                                          \
    X(CONV, conv) X(DECONV, deconv) X(BN_TRAIN, bn_train) X(BN_EVAL, bn_eval)                  \
    X(INSTNORM, instnorm) X(GROUPNORM, groupnorm) X(RELU, relu) X(LEAKY_RELU, leaky_relu)      \
    X(PRELU, prelu) X(SIGMOID, sigmoid) X(TANH, tanh) X(SOFTMAX, softmax)                      \
    X(LOG_SOFTMAX, log_softmax) X(DROPOUT, dropout) X(MAXPOOL, maxpool) X(AVGPOOL, avgpool)    \
    X(UPSAMPLE, upsample) X(ADD, add) X(SUB, sub) X(MUL, mul) X(DIV, div) X(SCALE, scale)      \
    X(POW, pow) X(EXP, exp) X(LOG, log) X(CLAMP, clamp) X(CONCAT, concat) X(SLICE, slice)      \
    X(SUM, sum) X(MEAN, mean) X(MATMUL, matmul) X(LINEAR, linear) X(L2NORM, l2norm)            \
    X(COSSIM, cossim) X(SORT, sort) X(RANK, rank) X(CE, ce) X(MSE, mse)                        \
    X(CONV_BN_ACT, conv_bn_act) X(BN_ACT, bn_act)

#define DECL(K, s) extern const ss_op_desc ss_desc_##s;
SS_OP_LIST(DECL)
#undef DECL

static const ss_op_desc *const g_table[SS_OP_COUNT] = {
#define ENTRY(K, s) [SS_OP_##K] = &ss_desc_##s,
    SS_OP_LIST(ENTRY)
#undef ENTRY
};

static const ss_op_desc g_none = {.name = "none"};

const ss_op_desc *ss_op_get(int kind)
{
    if (kind <= SS_OP_NONE || kind >= SS_OP_COUNT || !g_table[kind])
        return &g_none;
    return g_table[kind];
}

const char *ss_op_name(int kind) { return ss_op_get(kind)->name; }

double ss_op_bytes_default(const ss_op_args *a)
{
    double b = 0;
    for (int i = 0; i < a->n_in; i++)
        b += 4.0 * (double)ss_numel(&a->xs[i]);
    for (int i = 0; i < a->n_out; i++)
        b += 4.0 * (double)ss_numel(&a->ys[i]);
    return b;
}

int ss_op_err(const char *op, int n_in, const ss_shape *in, const char *fmt, ...)
{
    char msg[512], shapes[384] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t used = 0;
    for (int i = 0; i < n_in && used < sizeof shapes - 40; i++)
        used += (size_t)snprintf(shapes + used, sizeof shapes - used, "%s%s", i ? " " : "",
                                 ss_shape_str(&in[i]));
    return ss_seterr("%s: %s; inputs %s", op, msg, n_in ? shapes : "(none)");
}
