#include "nn.h"

#include "kernels/error.h"
#include "kernels/rng.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nn_begin(ss_nn *m, ss_graph *g, int train, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->g = g;
    m->train = train;
    m->seed = seed;
}

void nn_end(ss_nn *m)
{
    free(m->e);
    free(m->bn);
    memset(m, 0, sizeof *m);
}

const char *nn_name(const char *fmt, ...)
{
    static _Thread_local char buf[8][160];
    static _Thread_local int k;
    char *b = buf[k++ & 7];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof buf[0], fmt, ap);
    va_end(ap);
    return b;
}

/* Records tensor t (when valid) with its PyTorch shape and init rule. */
static int record(ss_nn *m, int t, int is_param, int rank, const int *shape, int init, float bound,
                  float value)
{
    if (t < 0)
        return -1;
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 64;
        ss_nn_entry *e = realloc(m->e, (size_t)cap * sizeof *e);
        if (!e)
            return graph_seterr(m->g, "nn: out of memory");
        m->e = e;
        m->cap = cap;
    }
    ss_nn_entry *e = &m->e[m->n++];
    memset(e, 0, sizeof *e);
    e->t = t;
    e->is_param = is_param;
    e->rank = rank;
    memcpy(e->shape, shape, (size_t)rank * sizeof(int));
    e->init = init;
    e->bound = bound;
    e->value = value;
    return t;
}

static int vec_param(ss_nn *m, const char *name, int c, int init, float bound, float value)
{
    int t = g_param(m->g, name, ss_shape5(c, 1, 1, 1, 1));
    int shape[1] = {c};
    return record(m, t, 1, 1, shape, init, bound, value);
}

/* Conv-like weight (a, b, kD, kH, kW) with PyTorch shape dropping kD for 2-D. */
static int conv_weight(ss_nn *m, const char *name, int a, int b, const int k[3], int dims2,
                       float bound)
{
    int t = g_param(m->g, name, ss_shape5(a, b, k[0], k[1], k[2]));
    int shape[5] = {a, b, k[0], k[1], k[2]};
    if (dims2) {
        shape[2] = k[1];
        shape[3] = k[2];
    }
    return record(m, t, 1, dims2 ? 4 : 5, shape, 0, bound, 0);
}

static int conv_like(ss_nn *m, int kind, const char *name, int x, int cin, int cout,
                     const int k[3], const int s[3], const int p[3], int bias, int dims2)
{
    if (dims2 && k[0] != 1)
        return graph_seterr(m->g, "nn %s: a 2-D layer needs kernel depth 1", name);
    /* PyTorch's fan_in is weight.size(1) * kernel volume: Ci for conv, Co for
     * transposed conv (weight (Ci, Co, k...)). */
    int vol = k[0] * k[1] * k[2];
    int fan_in = (kind == SS_OP_CONV ? cin : cout) * vol;
    float bound = 1.0f / sqrtf((float)fan_in);
    int w = kind == SS_OP_CONV
                ? conv_weight(m, nn_name("%s.weight", name), cout, cin, k, dims2, bound)
                : conv_weight(m, nn_name("%s.weight", name), cin, cout, k, dims2, bound);
    int b = bias ? vec_param(m, nn_name("%s.bias", name), cout, 0, bound, 0) : -1;
    if (w < 0 || (bias && b < 0))
        return -1;
    if (kind == SS_OP_CONV)
        return g_conv(m->g, x, w, b, s, p);
    int op[3] = {0, 0, 0};
    return g_deconv(m->g, x, w, b, s, p, op);
}

int nn_conv(ss_nn *m, const char *name, int x, int cin, int cout, const int k[3], const int s[3],
            const int p[3], int bias, int dims2)
{
    return conv_like(m, SS_OP_CONV, name, x, cin, cout, k, s, p, bias, dims2);
}

int nn_deconv(ss_nn *m, const char *name, int x, int cin, int cout, const int k[3],
              const int s[3], const int p[3], int bias, int dims2)
{
    return conv_like(m, SS_OP_DECONV, name, x, cin, cout, k, s, p, bias, dims2);
}

int nn_bn(ss_nn *m, const char *name, int x, int c)
{
    int ga = vec_param(m, nn_name("%s.weight", name), c, 1, 0, 1.f);
    int be = vec_param(m, nn_name("%s.bias", name), c, 1, 0, 0.f);
    int shape[1] = {c};
    int rm = record(m, g_buffer(m->g, nn_name("%s.running_mean", name), ss_shape5(c, 1, 1, 1, 1), 0.f),
                    0, 1, shape, 1, 0, 0.f);
    int rv = record(m, g_buffer(m->g, nn_name("%s.running_var", name), ss_shape5(c, 1, 1, 1, 1), 1.f),
                    0, 1, shape, 1, 0, 1.f);
    if (ga < 0 || be < 0 || rm < 0 || rv < 0)
        return -1;
    if (m->nbn == m->capbn) {
        int cap = m->capbn ? 2 * m->capbn : 32;
        char(*bn)[96] = realloc(m->bn, (size_t)cap * sizeof *bn);
        if (!bn)
            return graph_seterr(m->g, "nn: out of memory");
        m->bn = bn;
        m->capbn = cap;
    }
    snprintf(m->bn[m->nbn++], 96, "%s", name);
    return m->train ? g_bn_train(m->g, x, ga, be, rm, rv, 0.1f, 1e-5f)
                    : g_bn_eval(m->g, x, ga, be, rm, rv, 1e-5f);
}

int nn_norm(ss_nn *m, int norm, const char *name, int x, int c)
{
    switch (norm) {
    case SS_NORM_NONE:
        return x;
    case SS_NORM_BATCH:
        return nn_bn(m, name, x, c);
    case SS_NORM_INSTANCE:
        return g_instnorm(m->g, x, -1, -1, 1e-5f);
    case SS_NORM_GROUP: {
        int ga = vec_param(m, nn_name("%s.weight", name), c, 1, 0, 1.f);
        int be = vec_param(m, nn_name("%s.bias", name), c, 1, 0, 0.f);
        return g_groupnorm(m->g, x, ga, be, 16, 1e-5f);
    }
    }
    return graph_seterr(m->g, "nn %s: unknown norm kind %d", name, norm);
}

int nn_linear(ss_nn *m, const char *name, int x, int fin, int fout, int bias)
{
    float bound = 1.0f / sqrtf((float)fin);
    int w = g_param(m->g, nn_name("%s.weight", name), ss_shape5(fout, fin, 1, 1, 1));
    int shape[2] = {fout, fin};
    if (record(m, w, 1, 2, shape, 0, bound, 0) < 0)
        return -1;
    int b = bias ? vec_param(m, nn_name("%s.bias", name), fout, 0, bound, 0) : -1;
    if (bias && b < 0)
        return -1;
    return g_linear(m->g, x, w, b);
}

int nn_dropout(ss_nn *m, int x, float p, int channel)
{
    uint32_t stream = m->next_stream++;
    if (!m->train)
        return x;
    return g_dropout(m->g, x, p, channel, m->seed, 0x40000000u + stream);
}

int nn_init_params(ss_nn *m)
{
    for (int i = 0; i < m->n; i++) {
        const ss_nn_entry *e = &m->e[i];
        ss_shape s = graph_shape(m->g, e->t);
        size_t cnt = (size_t)ss_numel(&s);
        float *buf = malloc(cnt * sizeof(float));
        if (!buf)
            return ss_seterr("nn_init_params: out of memory");
        for (size_t k = 0; k < cnt; k++)
            buf[k] = e->init == 1 ? e->value
                                  : e->bound * (2.f * ss_rng_uniform(m->seed, (uint32_t)i, 0, k) - 1.f);
        int rc = graph_upload(m->g, e->t, buf);
        free(buf);
        if (rc != SS_OK)
            return rc;
    }
    return SS_OK;
}

long long nn_param_count(const ss_nn *m)
{
    long long n = 0;
    for (int i = 0; i < m->n; i++)
        if (m->e[i].is_param) {
            ss_shape s = graph_shape(m->g, m->e[i].t);
            n += ss_numel(&s);
        }
    return n;
}

int nn_find(const ss_nn *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(graph_name(m->g, m->e[i].t), key))
            return i;
    return -1;
}
