/* Graph construction: tensors, leaves, the generic op constructor, views. */
#include "graph_impl.h"

#include "kernels/error.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

ss_graph *graph_new(void)
{
    ss_graph *g = calloc(1, sizeof *g);
    return g;
}

void graph_free(ss_graph *g)
{
    if (!g)
        return;
    if (g->be) {
        if (g->persist)
            g->be->free_arena(g->persist);
        if (g->acts)
            g->be->free_arena(g->acts);
        if (g->ws)
            g->be->free_arena(g->ws);
    }
    free(g->t);
    free(g->n);
    free(g);
}

const char *graph_error(const ss_graph *g) { return g->has_err ? g->err : NULL; }

int graph_seterr(ss_graph *g, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!g->has_err) {
        g->has_err = 1;
        snprintf(g->err, sizeof g->err, "%s", msg);
    }
    ss_seterr("%s", g->err);
    return -1;
}

size_t graph_align(size_t b) { return (b + 63) & ~(size_t)63; }

int graph_is_planned_role(int role) { return role == SS_ROLE_ACT; }

int graph_new_tensor(ss_graph *g, const char *name, ss_shape s, int role)
{
    if (g->planned)
        return graph_seterr(g, "graph: cannot add tensor '%s' after graph_plan", name);
    if (!ss_shape_valid(&s))
        return graph_seterr(g, "graph: tensor '%s' has invalid shape %s", name, ss_shape_str(&s));
    if (g->nt == g->capt) {
        int cap = g->capt ? 2 * g->capt : 64;
        ss_gtensor *t = realloc(g->t, (size_t)cap * sizeof *t);
        if (!t)
            return graph_seterr(g, "graph: out of memory");
        g->t = t;
        g->capt = cap;
    }
    ss_gtensor *t = &g->t[g->nt];
    memset(t, 0, sizeof *t);
    t->shape = s;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->role = role;
    t->producer = -1;
    t->view_of = -1;
    t->grad = -1;
    t->requires_grad = role == SS_ROLE_PARAM;
    return g->nt++;
}

int graph_new_node(ss_graph *g)
{
    if (g->nn == g->capn) {
        int cap = g->capn ? 2 * g->capn : 64;
        ss_gnode *n = realloc(g->n, (size_t)cap * sizeof *n);
        if (!n)
            return graph_seterr(g, "graph: out of memory");
        g->n = n;
        g->capn = cap;
    }
    ss_gnode *n = &g->n[g->nn];
    memset(n, 0, sizeof *n);
    n->slot = -1;
    n->src = -1;
    return g->nn++;
}

static int leaf(ss_graph *g, const char *name, ss_shape s, int role, float fill)
{
    if (g->has_err)
        return -1;
    if (!name || !*name)
        return graph_seterr(g, "graph: a leaf tensor needs a name");
    if (graph_find(g, name) >= 0)
        return graph_seterr(g, "graph: duplicate tensor name '%s'", name);
    int t = graph_new_tensor(g, name, s, role);
    if (t >= 0)
        g->t[t].fill = fill;
    return t;
}

int g_param(ss_graph *g, const char *name, ss_shape s) { return leaf(g, name, s, SS_ROLE_PARAM, 0); }
int g_buffer(ss_graph *g, const char *name, ss_shape s, float fill)
{
    return leaf(g, name, s, SS_ROLE_BUFFER, fill);
}
int g_input(ss_graph *g, const char *name, ss_shape s) { return leaf(g, name, s, SS_ROLE_INPUT, 0); }
int g_const(ss_graph *g, const char *name, ss_shape s, float fill)
{
    return leaf(g, name, s, SS_ROLE_CONST, fill);
}

int g_scalar(ss_graph *g, const char *name, float init)
{
    if (g->has_err)
        return -1;
    if (g->nscalar == 64)
        return graph_seterr(g, "graph: too many dynamic scalars (64)");
    g->scalar[g->nscalar] = init;
    snprintf(g->scalar_name[g->nscalar], sizeof g->scalar_name[0], "%s", name);
    return g->nscalar++;
}

static int valid_handle(const ss_graph *g, int t) { return t >= 0 && t < g->nt; }

int g_op(ss_graph *g, int kind, int n_in, const int *in, const int *ip, int nip, const float *fp,
         int nfp, int *outs)
{
    if (g->has_err)
        return -1;
    const ss_op_desc *d = ss_op_get(kind);
    if (kind <= SS_OP_NONE || kind >= SS_OP_COUNT)
        return graph_seterr(g, "graph: unknown op kind %d", kind);
    if (g->backward_done)
        return graph_seterr(g, "%s: cannot add forward nodes after graph_backward", d->name);
    if (n_in < d->min_in || n_in > d->max_in || n_in > SS_MAX_IN)
        return graph_seterr(g, "%s: takes %d..%d inputs, got %d", d->name, d->min_in, d->max_in,
                            n_in);
    if (nip > SS_MAX_IP || nfp > SS_MAX_FP || nip < 0 || nfp < 0)
        return graph_seterr(g, "%s: too many parameters", d->name);
    ss_shape xs[SS_MAX_IN], ys[SS_MAX_OUT];
    for (int i = 0; i < n_in; i++) {
        if (!valid_handle(g, in[i]))
            return graph_seterr(g, "%s: input %d is not a valid tensor (an earlier error?)",
                                d->name, i);
        xs[i] = g->t[in[i]].shape;
    }
    int ipv[SS_MAX_IP] = {0};
    float fpv[SS_MAX_FP] = {0};
    if (nip)
        memcpy(ipv, ip, (size_t)nip * sizeof(int));
    if (nfp)
        memcpy(fpv, fp, (size_t)nfp * sizeof(float));
    int n_out = 0;
    if (!d->infer)
        return graph_seterr(g, "%s: op has no implementation in this build", d->name);
    if (d->infer(ipv, fpv, n_in, xs, &n_out, ys) != SS_OK)
        return graph_seterr(g, "%s", semiseg_error());
    int ni = graph_new_node(g);
    if (ni < 0)
        return -1;
    int rg = 0;
    for (int i = 0; i < n_in; i++)
        if (g->t[in[i]].requires_grad && ((d->diff_mask >> i) & 1) && d->bwd)
            rg = 1;
    char name[96];
    int first = -1;
    for (int k = 0; k < n_out; k++) {
        snprintf(name, sizeof name, "%s#%d.%d", d->name, ni, k);
        int t = graph_new_tensor(g, name, ys[k], SS_ROLE_ACT);
        if (t < 0)
            return -1;
        g->t[t].producer = ni;
        g->t[t].requires_grad = rg && k == 0;
        if (k == 0)
            first = t;
        if (outs)
            outs[k] = t;
    }
    ss_gnode *n = &g->n[ni];
    n->kind = kind;
    n->n_in = n_in;
    memcpy(n->in, in, (size_t)n_in * sizeof(int));
    n->n_out = n_out;
    for (int k = 0; k < n_out; k++)
        n->out[k] = first + k;
    memcpy(n->ip, ipv, sizeof ipv);
    memcpy(n->fp, fpv, sizeof fpv);
    return first;
}

int graph_root(const ss_graph *g, int t)
{
    return g->t[t].view_of >= 0 ? g->t[t].view_of : t;
}

int g_reshape(ss_graph *g, int x, ss_shape s)
{
    if (g->has_err)
        return -1;
    if (!valid_handle(g, x))
        return graph_seterr(g, "reshape: input is not a valid tensor (an earlier error?)");
    if (!ss_shape_valid(&s) || ss_numel(&s) != ss_numel(&g->t[x].shape))
        return graph_seterr(g, "reshape: cannot view %s as %s", ss_shape_str(&g->t[x].shape),
                            ss_shape_str(&s));
    int ni = graph_new_node(g);
    if (ni < 0)
        return -1;
    char name[96];
    snprintf(name, sizeof name, "view#%d", ni);
    int t = graph_new_tensor(g, name, s, g->t[graph_root(g, x)].role);
    if (t < 0)
        return -1;
    g->t[t].view_of = graph_root(g, x);
    g->t[t].producer = ni;
    g->t[t].requires_grad = g->t[x].requires_grad;
    ss_gnode *n = &g->n[ni];
    n->kind = SS_NODE_VIEW;
    n->n_in = 1;
    n->in[0] = x;
    n->n_out = 1;
    n->out[0] = t;
    return t;
}

void graph_keep(ss_graph *g, int t)
{
    if (valid_handle(g, t))
        g->t[t].keep = 1;
}

int graph_grad(const ss_graph *g, int t) { return valid_handle(g, t) ? g->t[t].grad : -1; }

int graph_n_tensors(const ss_graph *g) { return g->nt; }
int graph_n_nodes(const ss_graph *g) { return g->nn; }
ss_shape graph_shape(const ss_graph *g, int t) { return g->t[t].shape; }
const char *graph_name(const ss_graph *g, int t) { return g->t[t].name; }
int graph_role(const ss_graph *g, int t) { return g->t[t].role; }
int graph_requires_grad(const ss_graph *g, int t) { return g->t[t].requires_grad; }

int graph_find(const ss_graph *g, const char *name)
{
    for (int i = 0; i < g->nt; i++)
        if (!strcmp(g->t[i].name, name))
            return i;
    return -1;
}
