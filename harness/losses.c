/* Loss and consistency builders (see losses.h). */
#include "losses.h"

#include "kernels/error.h"

#include <math.h>
#include <string.h>

#define ALL_AXES 31

int ss_dice_form_parse(const char *s, ss_dice_form *out)
{
    if (!strcmp(s, "binary") || !strcmp(s, "Binary_dice_loss"))
        *out = SS_DICE_BINARY;
    else if (!strcmp(s, "squared") || !strcmp(s, "dice_loss"))
        *out = SS_DICE_SQUARED;
    else if (!strcmp(s, "half"))
        *out = SS_DICE_HALF;
    else
        return ss_seterr("dice form '%s' unknown (expected binary, squared or half)", s);
    return SS_OK;
}

const char *ss_dice_form_name(ss_dice_form f)
{
    switch (f) {
    case SS_DICE_BINARY: return "binary";
    case SS_DICE_SQUARED: return "squared";
    case SS_DICE_HALF: return "half";
    }
    return "?";
}

int ss_onehot(ss_graph *g, int labels, int c)
{
    int d = g_scale(g, labels, 1.f, -(float)c);
    return g_clamp(g, g_scale(g, g_mul(g, d, d), -1.f, 1.f), 0.f, 1.f);
}

int ss_loss_dice(ss_graph *g, int p, int y, ss_dice_form form)
{
    int inter = g_sum(g, g_mul(g, p, y), ALL_AXES);
    int a, b, num, den;
    switch (form) {
    case SS_DICE_BINARY:
        a = g_sum(g, p, ALL_AXES);
        b = g_sum(g, y, ALL_AXES);
        num = g_scale(g, inter, 2.f, 1e-8f);
        den = g_scale(g, g_add(g, a, b), 1.f, 1e-8f);
        break;
    case SS_DICE_SQUARED:
        a = g_sum(g, g_mul(g, p, p), ALL_AXES);
        b = g_sum(g, g_mul(g, y, y), ALL_AXES);
        num = g_scale(g, inter, 2.f, 1e-5f);
        den = g_scale(g, g_add(g, a, b), 1.f, 1e-5f);
        break;
    case SS_DICE_HALF:
        a = g_sum(g, g_mul(g, p, p), ALL_AXES);
        b = g_sum(g, g_mul(g, y, y), ALL_AXES);
        num = inter;
        den = g_scale(g, g_add(g, a, b), 1.f, 1e-10f);
        break;
    default:
        return graph_seterr(g, "dice loss: unknown form %d", (int)form);
    }
    return g_scale(g, g_div(g, num, den), -1.f, 1.f);
}

int ss_loss_dice_mc(ss_graph *g, int prob, int labels, int classes, int c0, ss_dice_form form)
{
    if (prob < 0 || labels < 0)
        return -1;
    ss_shape s = graph_shape(g, prob);
    if (classes < 1 || c0 < 0 || c0 >= classes || s.d[SS_C] != classes)
        return graph_seterr(g, "dice loss: prob has %d channels, classes %d, first class %d",
                            s.d[SS_C], classes, c0);
    int total = -1;
    for (int c = c0; c < classes; c++) {
        int l = ss_loss_dice(g, g_slice(g, prob, 1, c, 1), ss_onehot(g, labels, c), form);
        total = total < 0 ? l : g_add(g, total, l);
    }
    int n = classes - c0;
    return n == 1 ? total : g_scale(g, total, 1.f / (float)n, 0.f);
}

int ss_loss_ce(ss_graph *g, int logits, int labels) { return g_ce(g, logits, labels, -100); }

int ss_loss_mse(ss_graph *g, int a, int b) { return g_mse(g, a, b); }

int ss_sharpen(ss_graph *g, int p, float T)
{
    if (!(T > 0))
        return graph_seterr(g, "sharpen: temperature must be > 0, got %g", (double)T);
    float e = 1.f / T;
    int a = g_pow(g, p, e);
    int b = g_pow(g, g_scale(g, p, -1.f, 1.f), e);
    return g_div(g, a, g_add(g, a, b));
}

int ss_mutual_consistency(ss_graph *g, int n, const int *probs, float T)
{
    if (n < 2 || n > 8)
        return graph_seterr(g, "mutual consistency: needs 2..8 decoders, got %d", n);
    int sh[8];
    for (int j = 0; j < n; j++)
        sh[j] = ss_sharpen(g, probs[j], T);
    int total = -1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j)
                continue;
            int l = g_mse(g, probs[i], sh[j]);
            total = total < 0 ? l : g_add(g, total, l);
        }
    return total;
}

double ss_sigmoid_rampup(double t, double length)
{
    if (length == 0)
        return 1.0;
    if (t < 0)
        t = 0;
    if (t > length)
        t = length;
    double phase = 1.0 - t / length;
    return exp(-5.0 * phase * phase);
}

int ss_ramp_index_parse(const char *s, ss_ramp_index *out)
{
    if (!strcmp(s, "one_based") || !strcmp(s, "1"))
        *out = SS_RAMP_ONE_BASED;
    else if (!strcmp(s, "zero_based") || !strcmp(s, "0"))
        *out = SS_RAMP_ZERO_BASED;
    else
        return ss_seterr("ramp index '%s' unknown (expected one_based or zero_based)", s);
    return SS_OK;
}

double ss_ramp_weight(double w_max, long iter, int every, double length, ss_ramp_index ix)
{
    long k = ix == SS_RAMP_ZERO_BASED ? iter - 1 : iter;
    if (k < 0)
        k = 0;
    long e = every > 0 ? k / every : k;
    return w_max * ss_sigmoid_rampup((double)e, length);
}
