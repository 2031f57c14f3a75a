/* Plan-time fusion passes on the CPU backend (graph_fuse, called by
 * graph_plan before liveness). Each rewrites a chain of nodes into one node
 * of an internal fused op; the absorbed nodes become SS_NODE_FUSED (no
 * inputs, no outputs, nothing to run) and the intermediates they made are
 * neither produced nor read, so the planner gives them no memory. */
#include "graph_impl.h"

#include "kernels/error.h"

#include <stdlib.h>
#include <string.h>

/* ---- inference fusion: CONV/DECONV -> BN_EVAL [-> RELU/LEAKY_RELU] ---------
 * Runs before liveness. The conv node becomes a CONV_BN_ACT node writing the
 * last fused node's output; the BN (and activation) node becomes
 * SS_NODE_FUSED with no inputs or outputs, so the intermediate tensors are
 * neither produced nor read and the planner gives them no memory. Fusion needs
 * an intermediate that no one else sees: exactly one use as an input (views
 * count as uses), not kept. Moving the BN and activation work up to the conv
 * is safe because their other inputs are persistent parameters and buffers,
 * which only a BN_TRAIN node could change inside a run (none may sit between). */

/* Fusion at all: the CPU fast path, not switched off. */
static int fusion_allowed(const ss_graph *g)
{
    if (g->flags & (SS_PLAN_REF | SS_PLAN_NO_FUSE))
        return 0;
    if (g->be != ss_backend_cpu())
        return 0;
    const char *e = getenv("SEMISEG_FUSE");
    return !(e && !strcmp(e, "0"));
}

static int inference_graph(const ss_graph *g)
{
    if (g->backward_done)
        return 0;
    for (int i = 0; i < g->nn; i++)
        if (g->n[i].is_bwd)
            return 0;
    return 1;
}

static int bn_train_between(const ss_graph *g, int i, int j)
{
    for (int k = i + 1; k < j; k++)
        if (g->n[k].kind == SS_OP_BN_TRAIN)
            return 1;
    return 0;
}

/* Node consuming tensor t when t has exactly one use and may vanish, else -1. */
static int sole_user(const ss_graph *g, const int *uses, const int *user, int t)
{
    if (g->t[t].keep || uses[t] != 1)
        return -1;
    return user[t];
}

static void fuse_node(ss_graph *g, int i, int j, int k)
{
    ss_gnode *c = &g->n[i], *bn = &g->n[j];
    int x = c->in[0], w = c->in[1], b = c->n_in == 3 ? c->in[2] : -1;
    int last = k >= 0 ? k : j, y = g->n[last].out[0];
    int act = k >= 0 ? g->n[k].kind : 0;
    float slope = act == SS_OP_LEAKY_RELU ? g->n[k].fp[0] : 0.f;
    g->t[c->out[0]].fused_away = 1;
    g->t[c->out[0]].producer = -1;
    if (k >= 0) {
        g->t[bn->out[0]].fused_away = 1;
        g->t[bn->out[0]].producer = -1;
    }
    int in[7] = {x, w, bn->in[1], bn->in[2], bn->in[3], bn->in[4], b};
    c->ip[9] = c->kind;
    c->ip[10] = act;
    memset(c->fp, 0, sizeof c->fp);
    c->fp[0] = slope;
    c->fp[1] = bn->fp[1];
    c->kind = SS_OP_CONV_BN_ACT;
    c->n_in = b >= 0 ? 7 : 6;
    memcpy(c->in, in, (size_t)c->n_in * sizeof(int));
    c->out[0] = y;
    g->t[y].producer = i;
    for (int f = j; f >= 0; f = f == j ? k : -1) {
        ss_gnode *n = &g->n[f];
        n->kind = SS_NODE_FUSED;
        n->src = i;
        n->n_in = n->n_out = 0;
    }
    g->n_fused++;
}

/* uses[t]: how many node inputs read tensor t (a viewed tensor counts 2
 * extra: it never vanishes); user[t]: the last node that reads it. */
static int count_uses(ss_graph *g, int **uses, int **user)
{
    *uses = calloc((size_t)g->nt, sizeof(int));
    *user = malloc((size_t)g->nt * sizeof(int));
    if (!*uses || !*user) {
        free(*uses);
        free(*user);
        return graph_seterr(g, "graph_plan: out of memory");
    }
    for (int i = 0; i < g->nn; i++)
        for (int k = 0; k < g->n[i].n_in; k++) {
            int t = g->n[i].in[k];
            (*uses)[t]++;
            (*user)[t] = i;
            if (g->t[t].view_of >= 0)
                (*uses)[g->t[t].view_of] += 2;
        }
    return SS_OK;
}

static int fuse_conv_bn_act(ss_graph *g)
{
    int *uses, *user;
    if (count_uses(g, &uses, &user) != SS_OK)
        return SS_ERR;
    for (int i = 0; i < g->nn; i++) {
        const ss_gnode *c = &g->n[i];
        if ((c->kind != SS_OP_CONV && c->kind != SS_OP_DECONV) || c->n_out != 1 || c->slot >= 0)
            continue;
        int j = sole_user(g, uses, user, c->out[0]);
        if (j < 0 || g->n[j].kind != SS_OP_BN_EVAL || g->n[j].in[0] != c->out[0] ||
            bn_train_between(g, i, j))
            continue;
        int k = sole_user(g, uses, user, g->n[j].out[0]);
        if (k >= 0 && ((g->n[k].kind != SS_OP_RELU && g->n[k].kind != SS_OP_LEAKY_RELU) ||
                       g->n[k].in[0] != g->n[j].out[0] || bn_train_between(g, j, k)))
            k = -1;
        fuse_node(g, i, j, k);
    }
    free(uses);
    free(user);
    return SS_OK;
}

int graph_n_fused(const ss_graph *g) { return g->n_fused; }

/* ---- training fusion: BN_TRAIN -> RELU / LEAKY_RELU (slope >= 0) ----------
 * In a graph with its backward, a BN_TRAIN node j whose output y is read only
 * by an activation node k, by k's gradient node kb (as k's forward input) and
 * by j's gradient node jb (as j's forward output), with kb's result read only
 * by jb, becomes one BN_ACT node writing k's output r; jb becomes BN_ACT's
 * gradient node, reading r and k's output gradient; k and kb become no-ops.
 * y and its gradient are never materialised. Moving the activation up to j
 * is safe: it reads nothing but y. */

static int grad_node_of(const ss_graph *g, int f)
{
    for (int i = f + 1; i < g->nn; i++)
        if (g->n[i].is_bwd && g->n[i].src == f)
            return i;
    return -1;
}

static void absorb(ss_graph *g, int f, int into)
{
    ss_gnode *n = &g->n[f];
    n->kind = SS_NODE_FUSED;
    n->src = into;
    n->is_bwd = 0;
    n->n_in = n->n_out = 0;
}

static int fuse_bn_act(ss_graph *g)
{
    int *uses, *user;
    if (count_uses(g, &uses, &user) != SS_OK)
        return SS_ERR;
    for (int j = 0; j < g->nn; j++) {
        const ss_gnode *bn = &g->n[j];
        if (bn->kind != SS_OP_BN_TRAIN || bn->is_bwd || bn->n_out != 3)
            continue;
        int y = bn->out[0];
        if (g->t[y].keep)
            continue;
        int k = -1;
        for (int i = j + 1; i < g->nn && k < 0; i++)
            if (!g->n[i].is_bwd && g->n[i].n_in >= 1 && g->n[i].in[0] == y)
                k = i;
        if (k < 0)
            continue;
        const ss_gnode *act = &g->n[k];
        if (act->n_in != 1 || act->n_out != 1 ||
            !(act->kind == SS_OP_RELU || (act->kind == SS_OP_LEAKY_RELU && act->fp[0] >= 0.f)))
            continue;
        int jb = grad_node_of(g, j), kb = grad_node_of(g, k);
        if (jb < 0 || kb < 0 || uses[y] != 3)
            continue;
        const ss_gnode *nkb = &g->n[kb];
        ss_gnode *njb = &g->n[jb];
        if (nkb->n_out != 1 || nkb->gx_of[0] != 0 || njb->in[5] != y)
            continue;
        int gyy = nkb->out[0], gyr = nkb->in[nkb->n_in - 1];
        if (g->t[gyy].keep || uses[gyy] != 1 || user[gyy] != jb || njb->in[njb->n_in - 1] != gyy)
            continue;
        int r = act->out[0];
        int kind = act->kind;
        float slope = kind == SS_OP_LEAKY_RELU ? act->fp[0] : 0.f;
        ss_gnode *n = &g->n[j];
        n->kind = SS_OP_BN_ACT;
        n->ip[0] = kind;
        n->fp[2] = slope;
        n->out[0] = r;
        g->t[r].producer = j;
        njb->kind = SS_OP_BN_ACT;
        njb->in[5] = r;
        njb->in[njb->n_in - 1] = gyr;
        for (int t = y; t >= 0; t = t == y ? gyy : -1) {
            g->t[t].fused_away = 1;
            g->t[t].producer = -1;
        }
        absorb(g, k, j);
        absorb(g, kb, jb);
        g->n_fused_bn++;
    }
    free(uses);
    free(user);
    return SS_OK;
}

int graph_n_fused_bn(const ss_graph *g) { return g->n_fused_bn; }

int graph_fuse(ss_graph *g)
{
    if (!fusion_allowed(g))
        return SS_OK;
    if (inference_graph(g))
        return fuse_conv_bn_act(g);
    return g->backward_done ? fuse_bn_act(g) : SS_OK;
}
