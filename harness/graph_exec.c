/* Executor: runs the node list on the planned backend, data transfer, timing. */
#include "graph_impl.h"

#include "kernels/error.h"

#include <math.h>
#include <string.h>

float *graph_ptr(const ss_graph *g, int t)
{
    int r = graph_root(g, t);
    const ss_gtensor *x = &g->t[r];
    char *base = x->role == SS_ROLE_ACT ? g->acts : g->persist;
    return (float *)(base + x->offset);
}

void graph_node_args(const ss_graph *g, int i, ss_op_args *a, int with_ptrs)
{
    const ss_gnode *n = &g->n[i];
    const ss_gnode *f = n->is_bwd ? &g->n[n->src] : n;
    memset(a, 0, sizeof *a);
    a->kind = f->kind;
    a->ip = f->ip;
    a->fp = f->fp;
    a->n_in = f->n_in;
    a->n_out = f->n_out;
    for (int k = 0; k < f->n_in; k++) {
        a->xs[k] = g->t[f->in[k]].shape;
        if (with_ptrs)
            a->x[k] = graph_ptr(g, f->in[k]);
    }
    for (int k = 0; k < f->n_out; k++) {
        a->ys[k] = g->t[f->out[k]].shape;
        if (with_ptrs)
            a->y[k] = graph_ptr(g, f->out[k]);
    }
    if (n->is_bwd && with_ptrs) {
        a->gy[0] = graph_ptr(g, n->in[n->n_in - 1]);
        for (int k = 0; k < n->n_out; k++)
            a->gx[n->gx_of[k]] = graph_ptr(g, n->out[k]);
    }
    a->step = g->step;
    if (f->slot >= 0) {
        a->dyn_used = 1;
        a->dyn = g->scalar[f->slot];
    }
    if (with_ptrs) {
        a->ws = g->ws;
        a->ws_size = g->ws_bytes;
    }
}

static void poison_dead(ss_graph *g, int i)
{
    const ss_gnode *n = &g->n[i];
    for (int k = 0; k < n->n_in + n->n_out; k++) {
        int t = k < n->n_in ? n->in[k] : n->out[k - n->n_in];
        if (k >= n->n_in && n->kind == SS_NODE_VIEW)
            continue;
        int r = graph_root(g, t);
        const ss_gtensor *x = &g->t[r];
        if (x->role == SS_ROLE_ACT && x->last == i)
            g->be->fill(graph_ptr(g, r), NAN, (size_t)ss_numel(&x->shape));
    }
}

int graph_run(ss_graph *g)
{
    if (!g->planned)
        return ss_seterr("graph_run: call graph_plan first");
    const ss_backend *b = g->be;
    int ref = (g->flags & SS_PLAN_REF) != 0, timing = (g->flags & SS_PLAN_TIMING) != 0;
    for (int i = 0; i < g->nn; i++) {
        ss_gnode *n = &g->n[i];
        if (n->kind > 0) { /* not a view or a fused-away node */
            ss_op_args a;
            graph_node_args(g, i, &a, 1);
            double t0 = 0;
            if (b->node_begin) {
                char label[64];
                snprintf(label, sizeof label, "%d %s%s", i, ss_op_name(n->kind),
                         n->is_bwd ? " bwd" : "");
                b->node_begin(label, timing);
            } else if (timing) {
                b->sync();
                t0 = b->now();
            }
            int rc = b->run(&a, n->is_bwd, ref);
            double dt = b->node_end ? b->node_end(timing) : 0;
            if (rc != SS_OK) {
                char msg[768];
                snprintf(msg, sizeof msg, "%s", semiseg_error());
                return ss_seterr("graph node %d (%s%s): %s", i, ss_op_name(n->kind),
                                 n->is_bwd ? " backward" : "", msg);
            }
            if (dt < 0)
                return SS_ERR;
            if (timing) {
                if (!b->node_end) {
                    b->sync();
                    dt = b->now() - t0;
                }
                n->seconds += dt;
                n->calls++;
            }
        }
        if (g->flags & SS_PLAN_POISON)
            poison_dead(g, i);
    }
    return b->sync();
}

static int check_xfer(const ss_graph *g, int t, const char *what)
{
    if (!g->planned)
        return ss_seterr("%s: graph is not planned", what);
    if (t < 0 || t >= g->nt)
        return ss_seterr("%s: invalid tensor %d", what, t);
    if (g->t[graph_root(g, t)].fused_away)
        return ss_seterr("%s: tensor '%s' was fused away at plan time (an intermediate of a fused "
                         "conv+bn node; graph_keep it before graph_plan to read it)",
                         what, g->t[t].name);
    return SS_OK;
}

int graph_upload(ss_graph *g, int t, const float *src)
{
    if (check_xfer(g, t, "graph_upload") != SS_OK)
        return SS_ERR;
    return g->be->upload(graph_ptr(g, t), src, (size_t)ss_numel(&g->t[t].shape));
}

int graph_download(ss_graph *g, int t, float *dst)
{
    if (check_xfer(g, t, "graph_download") != SS_OK)
        return SS_ERR;
    return g->be->download(dst, graph_ptr(g, t), (size_t)ss_numel(&g->t[t].shape));
}

float *graph_host_data(ss_graph *g, int t)
{
    if (!g->planned || t < 0 || t >= g->nt || !g->be->is_host)
        return NULL;
    return graph_ptr(g, t);
}

int graph_set_scalar(ss_graph *g, int slot, float v)
{
    if (slot < 0 || slot >= g->nscalar)
        return ss_seterr("graph_set_scalar: no slot %d", slot);
    g->scalar[slot] = v;
    return SS_OK;
}

void graph_set_step(ss_graph *g, uint64_t step) { g->step = step; }

void graph_print_timing(const ss_graph *g, FILE *f)
{
    double total = 0;
    for (int i = 0; i < g->nn; i++)
        total += g->n[i].seconds;
    fprintf(f, "%-5s %-14s %-4s %12s %8s\n", "node", "op", "dir", "ms/call", "%");
    for (int i = 0; i < g->nn; i++) {
        const ss_gnode *n = &g->n[i];
        if (n->kind == SS_NODE_VIEW || !n->calls)
            continue;
        fprintf(f, "%-5d %-14s %-4s %12.3f %7.1f%%\n", i, ss_op_name(n->kind),
                n->is_bwd ? "bwd" : "fwd", 1e3 * n->seconds / (double)n->calls,
                total > 0 ? 100.0 * n->seconds / total : 0.0);
    }
}

int graph_node_stat(const ss_graph *g, int i, ss_node_stat *out)
{
    if (i < 0 || i >= g->nn)
        return ss_seterr("graph_node_stat: node %d out of range (graph has %d)", i, g->nn);
    const ss_gnode *n = &g->n[i];
    memset(out, 0, sizeof *out);
    if (n->kind < 0) /* views, fused-away nodes */
        return SS_OK;
    out->kind = n->kind;
    out->is_bwd = n->is_bwd;
    out->seconds = n->seconds;
    out->calls = n->calls;
    const ss_op_desc *d = ss_op_get(n->kind);
    if (d && d->flops) {
        ss_op_args a;
        graph_node_args(g, i, &a, 0);
        out->flops = (n->is_bwd ? 2.0 : 1.0) * d->flops(&a);
    }
    return SS_OK;
}

double graph_flops(const ss_graph *g)
{
    double f = 0;
    ss_node_stat st;
    for (int i = 0; i < g->nn; i++)
        if (graph_node_stat(g, i, &st) == SS_OK)
            f += st.flops;
    return f;
}

void graph_reset_timing(ss_graph *g)
{
    for (int i = 0; i < g->nn; i++) {
        g->n[i].seconds = 0;
        g->n[i].calls = 0;
    }
}
