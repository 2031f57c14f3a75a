/* Reverse-mode differentiation: walks the forward nodes backwards and appends
 * one gradient node per differentiable node; a tensor that feeds several
 * consumers gets the sum of their contributions (an ADD node per extra one).
 * An ADD without broadcasting gets no gradient node: its inputs' gradients
 * are its output's gradient tensor (several tensors may then share one
 * gradient tensor; gradients are only read, never updated in place). */
#include "graph_impl.h"

#include "kernels/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int accumulate(ss_graph *g, int *acc, int t, int contrib)
{
    if (contrib < 0)
        return -1;
    if (acc[t] < 0) {
        acc[t] = contrib;
        return 0;
    }
    int sum = g_add(g, acc[t], contrib);
    if (sum < 0)
        return -1;
    acc[t] = sum;
    return 0;
}

static int view_backward(ss_graph *g, int *acc, int ni)
{
    int x = g->n[ni].in[0], y = g->n[ni].out[0];
    if (!g->t[x].requires_grad)
        return 0;
    int gv = g_reshape(g, acc[y], g->t[x].shape);
    return accumulate(g, acc, x, gv);
}

static int op_backward(ss_graph *g, int *acc, int ni)
{
    ss_gnode fw = g->n[ni]; /* copy: g->n may move while nodes are appended */
    const ss_op_desc *d = ss_op_get(fw.kind);
    int need[SS_MAX_IN], nneed = 0;
    for (int i = 0; i < fw.n_in; i++)
        if (g->t[fw.in[i]].requires_grad && ((d->diff_mask >> i) & 1))
            need[nneed++] = i;
    if (!nneed)
        return 0;
    if (fw.kind == SS_OP_ADD && ss_shape_eq(&g->t[fw.in[0]].shape, &g->t[fw.out[0]].shape) &&
        ss_shape_eq(&g->t[fw.in[1]].shape, &g->t[fw.out[0]].shape)) {
        /* no broadcast: each input's gradient is the output's gradient
         * itself, shared rather than copied by a gradient node */
        for (int k = 0; k < nneed; k++)
            if (accumulate(g, acc, fw.in[need[k]], acc[fw.out[0]]) < 0)
                return -1;
        return 0;
    }
    if (!d->bwd)
        return graph_seterr(g, "%s: no backward in this build", d->name);
    int bi = graph_new_node(g);
    if (bi < 0)
        return -1;
    int outs[SS_MAX_IN];
    for (int k = 0; k < nneed; k++) {
        char name[160];
        int src = fw.in[need[k]];
        snprintf(name, sizeof name, "grad:%.80s@%d", g->t[src].name, bi);
        outs[k] = graph_new_tensor(g, name, g->t[src].shape, SS_ROLE_ACT);
        if (outs[k] < 0)
            return -1;
        g->t[outs[k]].producer = bi;
    }
    ss_gnode *b = &g->n[bi];
    b->kind = fw.kind;
    b->is_bwd = 1;
    b->src = ni;
    b->slot = fw.slot;
    b->n_in = 0;
    for (int i = 0; i < fw.n_in; i++)
        b->in[b->n_in++] = fw.in[i];
    for (int k = 0; k < fw.n_out; k++)
        b->in[b->n_in++] = fw.out[k];
    b->in[b->n_in++] = acc[fw.out[0]];
    b->n_out = nneed;
    for (int k = 0; k < nneed; k++) {
        b->out[k] = outs[k];
        b->gx_of[k] = need[k];
    }
    for (int k = 0; k < nneed; k++)
        if (accumulate(g, acc, fw.in[need[k]], outs[k]) < 0)
            return -1;
    return 0;
}

int graph_backward(ss_graph *g, int loss)
{
    if (g->has_err)
        return ss_seterr("%s", g->err);
    if (g->backward_done)
        return graph_seterr(g, "graph_backward: already called on this graph");
    if (loss < 0 || loss >= g->nt)
        return graph_seterr(g, "graph_backward: invalid loss tensor");
    if (ss_numel(&g->t[loss].shape) != 1)
        return graph_seterr(g, "graph_backward: loss must have one element, has shape %s",
                            ss_shape_str(&g->t[loss].shape));
    if (!g->t[loss].requires_grad)
        return graph_seterr(g, "graph_backward: loss does not depend on any parameter");
    int nfwd = g->nn;
    int *acc = malloc((size_t)(g->nt + 1) * 4 * sizeof(int));
    if (!acc)
        return graph_seterr(g, "graph_backward: out of memory");
    /* the accumulator map grows with the graph: size it for the worst case */
    int cap = (g->nt + 1) * 4;
    for (int i = 0; i < cap; i++)
        acc[i] = -1;
    acc[loss] = g_const(g, "grad:loss", g->t[loss].shape, 1.0f);
    int rc = acc[loss] < 0 ? -1 : 0;
    for (int ni = nfwd - 1; ni >= 0 && rc == 0; ni--) {
        const ss_gnode *n = &g->n[ni];
        if (acc[n->out[0]] < 0)
            continue;
        if (g->nt + 2 * SS_MAX_IN + 4 > cap) {
            int ncap = 2 * cap + 2 * SS_MAX_IN + 4;
            int *a2 = realloc(acc, (size_t)ncap * sizeof(int));
            if (!a2) {
                rc = graph_seterr(g, "graph_backward: out of memory");
                break;
            }
            for (int i = cap; i < ncap; i++)
                a2[i] = -1;
            acc = a2;
            cap = ncap;
        }
        rc = n->kind == SS_NODE_VIEW ? view_backward(g, acc, ni) : op_backward(g, acc, ni);
    }
    if (rc == 0) {
        for (int t = 0; t < g->nt && t < cap; t++) {
            if (!g->t[t].requires_grad || acc[t] < 0)
                continue;
            g->t[t].grad = acc[t];
            if (g->t[t].role == SS_ROLE_PARAM)
                g->t[acc[t]].keep = 1;
        }
        g->backward_done = 1;
    }
    free(acc);
    return rc == 0 ? SS_OK : ss_seterr("%s", g->err);
}
