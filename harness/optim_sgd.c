#include "optim_sgd.h"

#include "kernels/error.h"

#include <stdlib.h>
#include <string.h>

int sgd_init(ss_sgd *o, ss_graph *g, float lr, float momentum, float weight_decay)
{
    memset(o, 0, sizeof *o);
    o->g = g;
    o->lr = lr;
    o->momentum = momentum;
    o->weight_decay = weight_decay;
    int nt = graph_n_tensors(g);
    o->param = calloc((size_t)nt, sizeof(int));
    o->mom = calloc((size_t)nt, sizeof(float *));
    size_t maxn = 0;
    if (!o->param || !o->mom)
        goto oom;
    for (int t = 0; t < nt; t++) {
        if (graph_role(g, t) != SS_ROLE_PARAM || graph_grad(g, t) < 0)
            continue;
        ss_shape s = graph_shape(g, t);
        size_t n = (size_t)ss_numel(&s);
        if (n > maxn)
            maxn = n;
        o->mom[o->n] = calloc(n, sizeof(float));
        if (!o->mom[o->n])
            goto oom;
        o->param[o->n++] = t;
    }
    o->wbuf = malloc((maxn ? maxn : 1) * sizeof(float));
    o->gbuf = malloc((maxn ? maxn : 1) * sizeof(float));
    if (!o->wbuf || !o->gbuf)
        goto oom;
    return SS_OK;
oom:
    sgd_free(o);
    return ss_seterr("sgd: out of memory");
}

int sgd_step(ss_sgd *o)
{
    for (int i = 0; i < o->n; i++) {
        int t = o->param[i];
        ss_shape s = graph_shape(o->g, t);
        size_t n = (size_t)ss_numel(&s);
        if (graph_download(o->g, t, o->wbuf) != SS_OK ||
            graph_download(o->g, graph_grad(o->g, t), o->gbuf) != SS_OK)
            return SS_ERR;
        float *v = o->mom[i];
        for (size_t k = 0; k < n; k++) {
            float d = o->gbuf[k] + o->weight_decay * o->wbuf[k];
            v[k] = o->steps == 0 ? d : o->momentum * v[k] + d;
            o->wbuf[k] -= o->lr * (o->momentum != 0.f ? v[k] : d);
        }
        if (graph_upload(o->g, t, o->wbuf) != SS_OK)
            return SS_ERR;
    }
    o->steps++;
    return SS_OK;
}

void sgd_free(ss_sgd *o)
{
    if (o->mom)
        for (int i = 0; i < o->n; i++)
            free(o->mom[i]);
    free(o->mom);
    free(o->param);
    free(o->wbuf);
    free(o->gbuf);
    memset(o, 0, sizeof *o);
}
