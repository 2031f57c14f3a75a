/* SGD and Adam with PyTorch semantics (see optim.h). */
#include "optim.h"

#include "kernels/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ss_optim_kind_parse(const char *s, ss_optim_kind *out)
{
    if (!strcmp(s, "sgd"))
        *out = SS_OPTIM_SGD;
    else if (!strcmp(s, "adam"))
        *out = SS_OPTIM_ADAM;
    else
        return ss_seterr("optimizer '%s' unknown (expected sgd or adam)", s);
    return SS_OK;
}

const char *ss_optim_kind_name(ss_optim_kind k) { return k == SS_OPTIM_ADAM ? "adam" : "sgd"; }

/* Tracks every parameter of g that has a gradient with one zeroed state
 * buffer (SGD: momentum) or two (Adam: exp_avg, exp_avg_sq) per parameter. */
static int track_params(ss_optim *o, ss_graph *g, int two)
{
    int nt = graph_n_tensors(g);
    o->g = g;
    o->param = calloc((size_t)nt + 1, sizeof(int));
    o->m = calloc((size_t)nt + 1, sizeof(float *));
    o->v = two ? calloc((size_t)nt + 1, sizeof(float *)) : NULL;
    if (!o->param || !o->m || (two && !o->v))
        return SS_ERR;
    size_t maxn = 1;
    for (int t = 0; t < nt; t++) {
        if (graph_role(g, t) != SS_ROLE_PARAM || graph_grad(g, t) < 0)
            continue;
        ss_shape s = graph_shape(g, t);
        size_t n = (size_t)ss_numel(&s);
        if (n > maxn)
            maxn = n;
        o->m[o->n] = calloc(n, sizeof(float));
        if (two)
            o->v[o->n] = calloc(n, sizeof(float));
        o->param[o->n++] = t;
        if (!o->m[o->n - 1] || (two && !o->v[o->n - 1]))
            return SS_ERR;
    }
    o->wbuf = malloc(maxn * sizeof(float));
    o->gbuf = malloc(maxn * sizeof(float));
    return o->wbuf && o->gbuf ? SS_OK : SS_ERR;
}

int ss_optim_init(ss_optim *o, ss_graph *g, const ss_optim_cfg *cfg)
{
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    if (!(cfg->lr >= 0) || !(cfg->weight_decay >= 0))
        return ss_seterr("optimizer: lr (%g) and weight decay (%g) must be >= 0", cfg->lr,
                         cfg->weight_decay);
    if (cfg->kind == SS_OPTIM_SGD) {
        if (track_params(o, g, 0) != SS_OK) {
            ss_optim_free(o);
            return ss_seterr("sgd: out of memory");
        }
        return SS_OK;
    }
    if (!(cfg->beta1 >= 0 && cfg->beta1 < 1 && cfg->beta2 >= 0 && cfg->beta2 < 1 && cfg->eps > 0))
        return ss_seterr("adam: betas must be in [0, 1) and eps > 0 (got %g, %g, %g)", cfg->beta1,
                         cfg->beta2, cfg->eps);
    if (track_params(o, g, 1) != SS_OK) {
        ss_optim_free(o);
        return ss_seterr("adam: out of memory");
    }
    return SS_OK;
}

/* The parameter tensor t and its gradient as host arrays: in place when the
 * backend's memory is host memory, else copied into wbuf/gbuf (put_back then
 * uploads wbuf). */
static int get_wg(ss_optim *o, int t, float **w, float **gr)
{
    *w = graph_host_data(o->g, t);
    *gr = graph_host_data(o->g, graph_grad(o->g, t));
    if (*w && *gr)
        return SS_OK;
    *w = o->wbuf;
    *gr = o->gbuf;
    if (graph_download(o->g, t, o->wbuf) != SS_OK ||
        graph_download(o->g, graph_grad(o->g, t), o->gbuf) != SS_OK)
        return SS_ERR;
    return SS_OK;
}

static int put_back(ss_optim *o, int t, const float *w)
{
    return w == o->wbuf ? graph_upload(o->g, t, o->wbuf) : SS_OK;
}

/* Element loops run threaded for large tensors; each element's arithmetic is
 * the same in any thread, so results do not depend on the thread count. */
#define OPTIM_PAR_MIN 32768

/* One SGD-with-momentum update of n elements: d = g + wd*w; v = d on the
 * first step, else mu*v + d; w -= lr*(mu != 0 ? v : d). The three cases are
 * separate loops over restrict pointers so that each one vectorises (a branch
 * per element kept the combined loop scalar); every element's arithmetic is
 * the same as in the combined form. */
static void sgd_update(float *restrict w, const float *restrict gr, float *restrict v, long n,
                       float lr, float mu, float wd, int first)
{
    if (mu == 0.f) {
#pragma omp parallel for simd schedule(static) if (n >= OPTIM_PAR_MIN)
        for (long k = 0; k < n; k++) {
            float d = gr[k] + wd * w[k];
            v[k] = first ? d : mu * v[k] + d;
            w[k] -= lr * d;
        }
    } else if (first) {
#pragma omp parallel for simd schedule(static) if (n >= OPTIM_PAR_MIN)
        for (long k = 0; k < n; k++) {
            float d = gr[k] + wd * w[k];
            v[k] = d;
            w[k] -= lr * d;
        }
    } else {
#pragma omp parallel for simd schedule(static) if (n >= OPTIM_PAR_MIN)
        for (long k = 0; k < n; k++) {
            float d = gr[k] + wd * w[k];
            float vk = mu * v[k] + d;
            v[k] = vk;
            w[k] -= lr * vk;
        }
    }
}

static int sgd_step(ss_optim *o)
{
    float lr = (float)o->cfg.lr, mu = (float)o->cfg.momentum, wd = (float)o->cfg.weight_decay;
    int first = o->steps == 0;
    for (int i = 0; i < o->n; i++) {
        int t = o->param[i];
        ss_shape s = graph_shape(o->g, t);
        long n = (long)ss_numel(&s);
        float *w, *gr;
        if (get_wg(o, t, &w, &gr) != SS_OK)
            return SS_ERR;
        sgd_update(w, gr, o->m[i], n, lr, mu, wd, first);
        if (put_back(o, t, w) != SS_OK)
            return SS_ERR;
    }
    o->steps++;
    return SS_OK;
}

static int adam_step(ss_optim *o)
{
    long t = o->steps + 1;
    const ss_optim_cfg *c = &o->cfg;
    double bc1 = 1.0 - pow(c->beta1, (double)t);
    double bc2 = 1.0 - pow(c->beta2, (double)t);
    float step_size = (float)(c->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    /* scalars as PyTorch passes them: Python floats cast to the tensor's float32 */
    float b2 = (float)c->beta2, one_b1 = (float)(1.0 - c->beta1), one_b2 = (float)(1.0 - c->beta2);
    float wd = (float)c->weight_decay, eps = (float)c->eps;
    for (int i = 0; i < o->n; i++) {
        int p = o->param[i];
        ss_shape s = graph_shape(o->g, p);
        size_t n = (size_t)ss_numel(&s);
        float *w, *gr;
        if (get_wg(o, p, &w, &gr) != SS_OK)
            return SS_ERR;
        float *m = o->m[i], *v = o->v[i];
#pragma omp parallel for schedule(static) if ((long)n >= OPTIM_PAR_MIN)
        for (size_t k = 0; k < n; k++) {
            float g = gr[k];
            if (wd != 0.f)
                g = g + wd * w[k];
            /* exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2) */
            m[k] = m[k] + one_b1 * (g - m[k]);
            v[k] = v[k] * b2 + one_b2 * g * g;
            float denom = sqrtf(v[k]) / bc2_sqrt + eps;
            w[k] = w[k] - step_size * (m[k] / denom);
        }
        if (put_back(o, p, w) != SS_OK)
            return SS_ERR;
    }
    o->steps = t;
    return SS_OK;
}

int ss_optim_step(ss_optim *o)
{
    return o->cfg.kind == SS_OPTIM_SGD ? sgd_step(o) : adam_step(o);
}

void ss_optim_set_lr(ss_optim *o, double lr) { o->cfg.lr = lr; }

double ss_optim_lr(const ss_optim *o) { return o->cfg.lr; }
long ss_optim_steps(const ss_optim *o) { return o->steps; }

void ss_optim_set_steps(ss_optim *o, long steps) { o->steps = steps; }

int ss_optim_n_state(const ss_optim *o)
{
    return o->cfg.kind == SS_OPTIM_SGD ? o->n : 2 * o->n;
}

int ss_optim_state(ss_optim *o, int i, int *tensor, const char **slot, float **data)
{
    if (i < 0 || i >= ss_optim_n_state(o))
        return ss_seterr("optimizer: no state buffer %d", i);
    if (o->cfg.kind == SS_OPTIM_SGD) {
        *tensor = o->param[i];
        *slot = "momentum_buffer";
        *data = o->m[i];
    } else {
        *tensor = o->param[i / 2];
        *slot = i % 2 ? "exp_avg_sq" : "exp_avg";
        *data = i % 2 ? o->v[i / 2] : o->m[i / 2];
    }
    return SS_OK;
}

void ss_optim_free(ss_optim *o)
{
    for (int i = 0; i < o->n; i++) {
        if (o->m)
            free(o->m[i]);
        if (o->v)
            free(o->v[i]);
    }
    free(o->m);
    free(o->v);
    free(o->param);
    free(o->wbuf);
    free(o->gbuf);
    memset(o, 0, sizeof *o);
}
