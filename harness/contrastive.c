/* FBA-Net contrastive module and losses (see contrastive.h). */
#include "contrastive.h"

#include "kernels/error.h"

#include <stdio.h>
#include <string.h>

#define ALL_AXES 31
#define AXIS_C 2 /* reduce dim 1 */

int ss_cm_loss_parse(const char *s, ss_cm_loss_kind *out)
{
    if (!strcmp(s, "fba"))
        *out = SS_CM_FBA;
    else if (!strcmp(s, "infonce"))
        *out = SS_CM_INFONCE;
    else
        return ss_seterr("contrastive loss '%s' unknown (expected fba or infonce)", s);
    return SS_OK;
}

static int check_emb(ss_graph *g, int x, const char *what)
{
    if (x < 0)
        return -1;
    ss_shape s = graph_shape(g, x);
    if (s.d[2] != 1 || s.d[3] != 1 || s.d[4] != 1)
        return graph_seterr(g, "%s: embeddings must be (N, K, 1, 1, 1), got (%d,%d,%d,%d,%d)",
                            what, s.d[0], s.d[1], s.d[2], s.d[3], s.d[4]);
    return SS_OK;
}

int ss_cm_similarity(ss_graph *g, int x, int y, float lo, float hi)
{
    if (check_emb(g, x, "similarity") || check_emb(g, y, "similarity"))
        return -1;
    if (!(lo < hi))
        return graph_seterr(g, "similarity: clamp [%g, %g] is empty", (double)lo, (double)hi);
    int xn = g_l2norm(g, x, 1e-12f);
    int yn = x == y ? xn : g_l2norm(g, y, 1e-12f);
    return g_clamp(g, g_matmul(g, xn, yn, 0, 1), lo, hi);
}

int ss_cm_rank_weights(ss_graph *g, int s, float alpha)
{
    /* g_rank is 1-based (R = r + 1): w = exp(-alpha (R - 2)) */
    int r = g_rank(g, s, 1);
    return g_exp(g, g_scale(g, r, -alpha, 2.f * alpha));
}

int ss_cm_sim_max(ss_graph *g, int x, const ss_cm_params *p)
{
    int s = ss_cm_similarity(g, x, x, p->lo, p->hi);
    int w = ss_cm_rank_weights(g, s, p->alpha_pos);
    return g_mean(g, g_mul(g, w, g_scale(g, g_log(g, s), -1.f, 0.f)), ALL_AXES);
}

int ss_cm_sim_min(ss_graph *g, int x, int y, const ss_cm_params *p)
{
    int s = ss_cm_similarity(g, x, y, p->lo, p->hi);
    int w = ss_cm_rank_weights(g, s, p->alpha_neg);
    int l = g_scale(g, g_log(g, g_scale(g, s, -1.f, 1.f)), -1.f, 0.f);
    return g_mean(g, g_mul(g, w, l), ALL_AXES);
}

int ss_infonce_groups(ss_graph *g, int n_groups, const int *emb, float tau)
{
    enum { MAXG = 16 };
    if (n_groups < 1 || n_groups > MAXG)
        return graph_seterr(g, "infonce: 1..%d groups, got %d", MAXG, n_groups);
    if (!(tau > 0))
        return graph_seterr(g, "infonce: temperature must be > 0, got %g", (double)tau);
    int en[MAXG];
    ss_shape s0 = {{0}};
    for (int a = 0; a < n_groups; a++) {
        if (check_emb(g, emb[a], "infonce"))
            return -1;
        ss_shape s = graph_shape(g, emb[a]);
        if (a == 0)
            s0 = s;
        else if (s.d[0] != s0.d[0] || s.d[1] != s0.d[1])
            return graph_seterr(g, "infonce: group %d is (%d, %d), group 0 (%d, %d)", a, s.d[0],
                                s.d[1], s0.d[0], s0.d[1]);
        en[a] = g_l2norm(g, emb[a], 1e-12f);
    }
    int n = s0.d[0];
    if (n < 2)
        return graph_seterr(g, "infonce: needs at least 2 rows per group, got %d", n);
    float it = 1.f / tau;
    int total = -1;
    for (int a = 0; a < n_groups; a++) {
        int den = -1, pos = -1;
        for (int c = 0; c < n_groups; c++) {
            int s = g_scale(g, g_matmul(g, en[a], en[c], 0, 1), it, 0.f);
            int e = g_sum(g, g_exp(g, s), AXIS_C);
            den = den < 0 ? e : g_add(g, den, e);
            if (c == a)
                pos = g_sum(g, s, AXIS_C);
        }
        /* self-similarity s_ii / tau, taken from the same normalised rows */
        int self = g_scale(g, g_sum(g, g_mul(g, en[a], en[a]), AXIS_C), it, 0.f);
        den = g_sub(g, den, g_exp(g, self));
        pos = g_scale(g, g_sub(g, pos, self), 1.f / (float)(n - 1), 0.f);
        int l = g_mean(g, g_sub(g, g_log(g, den), pos), ALL_AXES);
        total = total < 0 ? l : g_add(g, total, l);
    }
    return n_groups == 1 ? total : g_scale(g, total, 1.f / (float)n_groups, 0.f);
}

int ss_cm_loss_fgbg(ss_graph *g, int f, int b, const ss_cm_params *p, int *pos, int *neg)
{
    if (pos)
        *pos = -1;
    if (neg)
        *neg = -1;
    if (p->kind == SS_CM_INFONCE) {
        int e[2] = {f, b};
        return ss_infonce_groups(g, 2, e, p->tau);
    }
    int lp = g_add(g, ss_cm_sim_max(g, f, p), ss_cm_sim_max(g, b, p));
    int ln = ss_cm_sim_min(g, f, b, p);
    if (pos)
        *pos = lp;
    if (neg)
        *neg = ln;
    return g_add(g, lp, ln);
}

int ss_cm_loss_classes(ss_graph *g, int n, const int *emb, const ss_cm_params *p, int *pos,
                       int *neg)
{
    if (pos)
        *pos = -1;
    if (neg)
        *neg = -1;
    if (n < 2)
        return graph_seterr(g, "contrastive loss: needs at least 2 classes, got %d", n);
    if (p->kind == SS_CM_INFONCE)
        return ss_infonce_groups(g, n, emb, p->tau);
    int lp = -1, ln = -1;
    for (int c = 0; c < n; c++) {
        int m = ss_cm_sim_max(g, emb[c], p);
        lp = lp < 0 ? m : g_add(g, lp, m);
        for (int k = 0; k < n; k++) {
            if (k == c)
                continue;
            int q = ss_cm_sim_min(g, emb[c], emb[k], p);
            ln = ln < 0 ? q : g_add(g, ln, q);
        }
    }
    if (pos)
        *pos = lp;
    if (neg)
        *neg = ln;
    return g_add(g, lp, ln);
}

int ss_cm_attach(ss_nn *m, const char *prefix, int seg, int dims, int classes, int dim,
                 ss_cm_heads *out)
{
    memset(out, 0, sizeof *out);
    out->dims = dims;
    out->fg = out->bg = -1;
    ss_graph *g = m->g;
    if (seg < 0)
        return -1;
    if (dim < 1)
        return graph_seterr(g, "contrastive module: projection dim %d must be >= 1", dim);
    ss_shape s = graph_shape(g, seg);
    if (s.d[1] != classes)
        return graph_seterr(g, "contrastive module: logits have %d channels, expected %d",
                            s.d[1], classes);
    char nm[128];
    if (dims == 3) {
        static const int K[3] = {3, 3, 3}, S[3] = {2, 2, 2}, P[3] = {1, 1, 1};
        snprintf(nm, sizeof nm, "%scm.activation_head", prefix);
        int a = nn_conv(m, nm, seg, classes, 1, K, S, P, 0, 0);
        snprintf(nm, sizeof nm, "%scm.bn_head", prefix);
        a = g_sigmoid(g, nn_bn(m, nm, a, 1));
        if (a < 0)
            return -1;
        ss_shape as = graph_shape(g, a);
        int vox = (int)ss_spatial(&as);
        float inv = 1.f / (float)vox;
        int fg = g_scale(g, a, inv, 0.f);
        int bg = g_scale(g, g_scale(g, a, -1.f, 1.f), inv, 0.f);
        snprintf(nm, sizeof nm, "%sf_mlp.0", prefix);
        out->fg = g_relu(g, nn_linear(m, nm, fg, vox, dim, 1));
        snprintf(nm, sizeof nm, "%sb_mlp.0", prefix);
        out->bg = g_relu(g, nn_linear(m, nm, bg, vox, dim, 1));
        return out->fg < 0 || out->bg < 0 ? -1 : SS_OK;
    }
    if (dims != 2)
        return graph_seterr(g, "contrastive module: dims must be 2 or 3, got %d", dims);
    if (classes > SS_CM_MAX_CLASSES)
        return graph_seterr(g, "contrastive module: at most %d classes, got %d",
                            SS_CM_MAX_CLASSES, classes);
    static const int K[3] = {1, 3, 3}, S[3] = {1, 2, 2}, P[3] = {0, 1, 1};
    snprintf(nm, sizeof nm, "%scm.activation_head", prefix);
    int a = g_sigmoid(g, nn_conv(m, nm, seg, classes, classes, K, S, P, 0, 1));
    if (a < 0)
        return -1;
    ss_shape as = graph_shape(g, a);
    int n = as.d[0], hw = as.d[3] * as.d[4];
    int flat = g_reshape(g, a, ss_shape5(n * classes, hw, 1, 1, 1));
    snprintf(nm, sizeof nm, "%scm.mlp.0", prefix);
    int e = g_relu(g, nn_linear(m, nm, flat, hw, dim, 1));
    int e3 = g_reshape(g, e, ss_shape5(n, classes, dim, 1, 1));
    out->n_emb = classes;
    for (int c = 0; c < classes; c++) {
        out->emb[c] = g_reshape(g, g_slice(g, e3, 1, c, 1), ss_shape5(n, dim, 1, 1, 1));
        if (out->emb[c] < 0)
            return -1;
    }
    return SS_OK;
}

int ss_cm_loss_decoders(ss_graph *g, int n, const ss_cm_heads *h, const ss_cm_params *p, int *pos,
                        int *neg)
{
    int total = -1, tp = -1, tn = -1;
    if (pos)
        *pos = -1;
    if (neg)
        *neg = -1;
    if (n < 1)
        return graph_seterr(g, "contrastive loss: no decoder heads");
    for (int d = 0; d < n; d++) {
        if (h[d].dims != h[0].dims)
            return graph_seterr(g, "contrastive loss: decoder heads mix 2-D and 3-D forms");
        int lp, ln;
        int l = h[d].dims == 3 ? ss_cm_loss_fgbg(g, h[d].fg, h[d].bg, p, &lp, &ln)
                               : ss_cm_loss_classes(g, h[d].n_emb, h[d].emb, p, &lp, &ln);
        if (l < 0)
            return -1;
        total = total < 0 ? l : g_add(g, total, l);
        if (lp >= 0)
            tp = tp < 0 ? lp : g_add(g, tp, lp);
        if (ln >= 0)
            tn = tn < 0 ? ln : g_add(g, tn, ln);
    }
    if (h[0].dims == 2 && p->kind == SS_CM_FBA) {
        int c = h[0].n_emb;
        float k = 1.f / (float)(c * (c - 1));
        total = g_scale(g, total, k, 0.f);
        tp = g_scale(g, tp, k, 0.f);
        tn = g_scale(g, tn, k, 0.f);
    }
    if (pos)
        *pos = tp;
    if (neg)
        *neg = tn;
    return total;
}

int ss_cm_opts_from_spec(const ss_spec *s, ss_cm_opts *o)
{
    memset(o, 0, sizeof *o);
    const char *kind;
    long on, dim;
    double ap, an, lo, hi, tau;
    if (ss_spec_long(s, "method.cm", &on) || ss_spec_str(s, "method.contrast", &kind) ||
        ss_cm_loss_parse(kind, &o->p.kind) || ss_spec_double(s, "method.cm_weight", &o->weight) ||
        ss_spec_double(s, "method.alpha_pos", &ap) || ss_spec_double(s, "method.alpha_neg", &an) ||
        ss_spec_double(s, "method.sim_lo", &lo) || ss_spec_double(s, "method.sim_hi", &hi) ||
        ss_spec_double(s, "method.tau", &tau) || ss_spec_long(s, "method.cm_dim", &dim))
        return SS_ERR;
    if (on != 0 && on != 1)
        return ss_seterr("spec: method.cm = %ld, expected 0 or 1", on);
    if (dim < 1 || !(lo > 0) || !(hi < 1) || !(lo < hi) || !(tau > 0))
        return ss_seterr("spec: contrastive settings out of range (method.cm_dim %ld >= 1, "
                         "0 < method.sim_lo %g < method.sim_hi %g < 1, method.tau %g > 0)",
                         dim, lo, hi, tau);
    o->on = (int)on;
    o->dim = (int)dim;
    o->p.alpha_pos = (float)ap;
    o->p.alpha_neg = (float)an;
    o->p.lo = (float)lo;
    o->p.hi = (float)hi;
    o->p.tau = (float)tau;
    return SS_OK;
}
