/* Eval-mode predictor graph; see predictor.h. */
#include "harness/predictor.h"
#include "harness/weights_h5.h"
#include "kernels/error.h"

#include <stdlib.h>
#include <string.h>

struct ss_predictor {
    ss_graph *g;
    ss_nn m;
    ss_model_cfg cfg;
    char model[64];
    char head[32];
    int batch, in_ch, dims;
    int x, prob;       /* graph input and probability output */
    int classes;       /* probability channels */
    long in_vol, vol;  /* per-sample input floats, spatial voxels */
    float *xbuf;       /* batch inputs (zero-filled tail) */
    float *pbuf;       /* batch probabilities */
};

int ss_predictor_create(const ss_predictor_opts *o, ss_predictor **out)
{
    *out = NULL;
    if (!o || !o->cfg.name)
        return ss_seterr("predictor: no model given");
    const ss_model_info *info = ss_model_find(o->cfg.name);
    if (!info)
        return SS_ERR;
    if (o->batch < 1)
        return ss_seterr("predictor: batch %d for model %s; want >= 1", o->batch, o->cfg.name);
    const char *head = o->head ? o->head : "seg1";
    ss_predictor *p = calloc(1, sizeof *p);
    if (!p)
        return ss_seterr("predictor: out of memory");
    p->cfg = o->cfg;
    snprintf(p->model, sizeof p->model, "%s", o->cfg.name);
    p->cfg.name = p->model;
    snprintf(p->head, sizeof p->head, "%s", head);
    p->batch = o->batch;
    p->in_ch = o->cfg.in_ch;
    p->dims = info->dims;
    if (info->dims == 2)
        p->cfg.patch[0] = 1;
    const int *pt = p->cfg.patch;
    if (pt[0] < 1 || pt[1] < 1 || pt[2] < 1 || p->in_ch < 1) {
        ss_seterr("predictor: model %s needs in_ch >= 1 and a patch, got in_ch %d patch "
                         "%dx%dx%d",
                         o->cfg.name, o->cfg.in_ch, pt[0], pt[1], pt[2]);
        ss_predictor_free(p);
        return SS_ERR;
    }
    p->vol = (long)pt[0] * pt[1] * pt[2];
    p->in_vol = p->vol * p->in_ch;
    p->g = graph_new();
    nn_begin(&p->m, p->g, 0, 0);
    ss_shape xs = {{p->batch, p->in_ch, pt[0], pt[1], pt[2]}};
    p->x = g_input(p->g, "input", xs);
    ss_model_out mo;
    if (ss_model_build(&p->m, &p->cfg, p->x, &mo))
        goto fail;
    int t = -1;
    for (int k = 0; k < mo.n; k++)
        if (!strcmp(mo.name[k], p->head))
            t = mo.t[k];
    if (t < 0) {
        char names[SS_MODEL_MAX_OUT * 33] = "";
        for (int k = 0; k < mo.n; k++) {
            strcat(names, k ? ", " : "");
            strcat(names, mo.name[k]);
        }
        ss_seterr("predictor: model %s has no output head '%s' (heads: %s)", p->model, p->head,
                  names);
        goto fail;
    }
    ss_shape hs = graph_shape(p->g, t);
    if (hs.d[0] != p->batch || hs.d[2] != pt[0] || hs.d[3] != pt[1] || hs.d[4] != pt[2]) {
        ss_seterr("predictor: head '%s' of %s has shape %dx%dx%dx%dx%d; want a full-resolution "
                  "segmentation map for patch %dx%dx%d",
                  p->head, p->model, hs.d[0], hs.d[1], hs.d[2], hs.d[3], hs.d[4], pt[0], pt[1],
                  pt[2]);
        goto fail;
    }
    if (hs.d[1] == 1) {
        p->prob = g_sigmoid(p->g, t);
        p->classes = 2;
    } else {
        p->prob = g_softmax(p->g, t);
        p->classes = hs.d[1];
    }
    graph_keep(p->g, p->prob);
    if (graph_plan(p->g, o->backend ? o->backend : ss_backend_default(),
                   o->log ? 0 : SS_PLAN_QUIET, o->log))
        goto fail;
    if (nn_init_params(&p->m))
        goto fail;
    p->xbuf = calloc((size_t)p->batch * p->in_vol, sizeof(float));
    p->pbuf = malloc((size_t)p->batch * (hs.d[1]) * p->vol * sizeof(float));
    if (!p->xbuf || !p->pbuf) {
        ss_seterr("predictor: out of memory for batch %d of %s", p->batch, p->model);
        goto fail;
    }
    *out = p;
    return SS_OK;
fail:
    if (p->g && graph_error(p->g) && *graph_error(p->g) && !*semiseg_error())
        ss_seterr("predictor: %s", graph_error(p->g));
    ss_predictor_free(p);
    return SS_ERR;
}

void ss_predictor_free(ss_predictor *p)
{
    if (!p)
        return;
    if (p->g) {
        nn_end(&p->m);
        graph_free(p->g);
    }
    free(p->xbuf);
    free(p->pbuf);
    free(p);
}

int ss_predictor_load(ss_predictor *p, const char *path, int strict)
{
    if (ss_weights_load(&p->m, path, strict))
        return SS_ERR;
    return SS_OK;
}

static long entry_numel(const ss_nn_entry *e)
{
    long n = 1;
    for (int i = 0; i < e->rank; i++)
        n *= e->shape[i];
    return n;
}

int ss_predictor_copy_from(ss_predictor *p, const ss_nn *src)
{
    if (!src || !src->g)
        return ss_seterr("predictor: no source graph to copy weights from");
    float *buf = NULL;
    long cap = 0;
    for (int i = 0; i < p->m.n; i++) {
        const ss_nn_entry *d = &p->m.e[i];
        const char *key = graph_name(p->g, d->t);
        int j = nn_find(src, key);
        if (j < 0) {
            free(buf);
            return ss_seterr("predictor: source graph lacks '%s' of model %s", key, p->model);
        }
        const ss_nn_entry *s = &src->e[j];
        int same = s->rank == d->rank;
        for (int k = 0; same && k < d->rank; k++)
            same = s->shape[k] == d->shape[k];
        if (!same) {
            free(buf);
            return ss_seterr("predictor: '%s' has a different shape in the source graph", key);
        }
        long n = entry_numel(d);
        if (n > cap) {
            float *nb = realloc(buf, (size_t)n * sizeof(float));
            if (!nb) {
                free(buf);
                return ss_seterr("predictor: out of memory copying '%s'", key);
            }
            buf = nb;
            cap = n;
        }
        if (graph_download(src->g, s->t, buf) || graph_upload(p->g, d->t, buf)) {
            free(buf);
            return SS_ERR;
        }
    }
    free(buf);
    return SS_OK;
}

int ss_predictor_classes(const ss_predictor *p)
{
    return p->classes;
}

const ss_nn *ss_predictor_nn(const ss_predictor *p)
{
    return &p->m;
}

int ss_predictor_predict(void *ctx, int n, const int in_shape[4], const float *x, float *prob)
{
    ss_predictor *p = ctx;
    const int *pt = p->cfg.patch;
    if (n < 1 || n > p->batch)
        return ss_seterr("predictor: %d inputs for a graph of batch %d (%s)", n, p->batch,
                         p->model);
    if (in_shape[0] != p->in_ch || in_shape[1] != pt[0] || in_shape[2] != pt[1] ||
        in_shape[3] != pt[2])
        return ss_seterr("predictor: input %dx%dx%dx%d; model %s was built for %dx%dx%dx%d "
                         "(C,D,H,W)",
                         in_shape[0], in_shape[1], in_shape[2], in_shape[3], p->model, p->in_ch,
                         pt[0], pt[1], pt[2]);
    const float *xin = x;
    if (n < p->batch) {
        memcpy(p->xbuf, x, (size_t)n * p->in_vol * sizeof(float));
        memset(p->xbuf + (long)n * p->in_vol, 0, (size_t)(p->batch - n) * p->in_vol * sizeof(float));
        xin = p->xbuf;
    }
    if (graph_upload(p->g, p->x, xin) || graph_run(p->g) || graph_download(p->g, p->prob, p->pbuf))
        return SS_ERR;
    const long pv = p->vol;
    ss_shape hs = graph_shape(p->g, p->prob);
    if (hs.d[1] == 1) { /* sigmoid head: (1 - p, p) */
        for (int b = 0; b < n; b++)
            for (long i = 0; i < pv; i++) {
                float q = p->pbuf[(long)b * pv + i];
                prob[(long)b * 2 * pv + i] = 1.0f - q;
                prob[(long)b * 2 * pv + pv + i] = q;
            }
    } else {
        memcpy(prob, p->pbuf, (size_t)n * p->classes * pv * sizeof(float));
    }
    return SS_OK;
}
