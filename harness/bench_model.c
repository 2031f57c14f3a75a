/* Forward+backward step timing of a registry model (see bench_model.h). */
#include "bench_model.h"

#include "harness/graph.h"
#include "harness/nn/model.h"
#include "harness/nn/nn.h"
#include "kernels/error.h"
#include "kernels/rng.h"

#include <stdlib.h>
#include <string.h>

int ss_bench_model(const ss_backend *be, const ss_bench_opts *o, ss_bench_result *r)
{
    memset(r, 0, sizeof *r);
    if (!be)
        return ss_seterr("bench: no backend given");
    if (!o->model || !ss_model_find(o->model))
        return ss_seterr("bench: unknown model '%s'", o->model ? o->model : "(null)");
    if (o->batch < 1 || o->iters < 1 || o->warmup < 0 || o->patch[0] < 1 || o->patch[1] < 1 ||
        o->patch[2] < 1)
        return ss_seterr("bench: batch %d, iters %d, warmup %d and patch %dx%dx%d must be "
                         "positive (warmup >= 0)",
                         o->batch, o->iters, o->warmup, o->patch[0], o->patch[1], o->patch[2]);
    ss_model_cfg cfg = ss_model_defaults(o->model);
    memcpy(cfg.patch, o->patch, sizeof cfg.patch);
    ss_graph *g = graph_new();
    if (!g)
        return ss_seterr("bench: out of memory creating the graph");
    ss_nn m;
    nn_begin(&m, g, 1, 1);
    float *img = NULL, *lab = NULL;
    int rc = SS_ERR;
    ss_shape xs = ss_shape5(o->batch, cfg.in_ch, o->patch[0], o->patch[1], o->patch[2]);
    ss_shape ls = ss_shape5(o->batch, 1, o->patch[0], o->patch[1], o->patch[2]);
    int x = g_input(g, "image", xs), y = g_input(g, "label", ls);
    ss_model_out out;
    if (x < 0 || y < 0 || ss_model_build(&m, &cfg, x, &out) != SS_OK)
        goto done;
    int loss = g_ce(g, out.t[0], y, -100);
    if (loss < 0)
        goto done;
    graph_keep(g, loss);
    int flags = SS_PLAN_QUIET | (o->timing ? SS_PLAN_TIMING : 0);
    if (graph_backward(g, loss) != SS_OK || graph_plan(g, be, flags, NULL) != SS_OK ||
        nn_init_params(&m) != SS_OK)
        goto done;
    size_t nx = (size_t)ss_numel(&xs), nl = (size_t)ss_numel(&ls);
    img = malloc(nx * sizeof *img);
    lab = malloc(nl * sizeof *lab);
    if (!img || !lab) {
        ss_seterr("bench: cannot allocate %zu input floats", nx + nl);
        goto done;
    }
    for (size_t i = 0; i < nx; i++)
        img[i] = 2.f * ss_rng_uniform(7, 1, 0, i) - 1.f;
    for (size_t i = 0; i < nl; i++)
        lab[i] = ss_rng_uniform(7, 2, 0, i) < 0.3f ? 1.f : 0.f;
    if (graph_upload(g, x, img) != SS_OK || graph_upload(g, y, lab) != SS_OK)
        goto done;
    for (int i = 0; i < o->warmup; i++)
        if (graph_run(g) != SS_OK)
            goto done;
    r->min_s = 1e300;
    double total = 0;
    for (int i = 0; i < o->iters; i++) {
        if (be->sync() != SS_OK)
            goto done;
        double t0 = be->now();
        if (graph_run(g) != SS_OK)
            goto done;
        double dt = be->now() - t0;
        total += dt;
        if (dt < r->min_s)
            r->min_s = dt;
    }
    r->mean_s = total / o->iters;
    r->act_bytes = graph_peak_bytes(g);
    r->params = nn_param_count(&m);
    r->nodes = graph_n_nodes(g);
    if (o->timing)
        graph_print_timing(g, o->log ? o->log : stderr);
    rc = SS_OK;
done:
    free(img);
    free(lab);
    nn_end(&m);
    graph_free(g);
    return rc;
}
