/* Memory planner: persistent tensors (parameters, buffers, inputs, constants)
 * get one arena; every other tensor gets a range in the activation arena that
 * is reused once the tensor is dead (best-fit over the gaps between live
 * ranges). A node's outputs are placed before its dead inputs are released,
 * so no kernel ever reads and writes the same bytes. */
#include "graph_impl.h"

#include "kernels/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct range {
    size_t off, size;
    int t;
} range;

typedef struct live_set {
    range *r;
    int n, cap;
    size_t top;
} live_set;

static int live_alloc(live_set *s, int t, size_t size, size_t *off)
{
    /* best fit among gaps between sorted live ranges, else the top */
    size_t best = (size_t)-1, best_gap = (size_t)-1, prev_end = 0;
    int pos = s->n;
    for (int i = 0; i <= s->n; i++) {
        size_t start = i < s->n ? s->r[i].off : (size_t)-1;
        if (i < s->n && start >= prev_end && start - prev_end >= size) {
            size_t gap = start - prev_end;
            if (gap < best_gap) {
                best_gap = gap;
                best = prev_end;
                pos = i;
            }
        }
        if (i < s->n)
            prev_end = s->r[i].off + s->r[i].size;
    }
    if (best == (size_t)-1) {
        best = prev_end;
        pos = s->n;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        range *r = realloc(s->r, (size_t)cap * sizeof *r);
        if (!r)
            return SS_ERR;
        s->r = r;
        s->cap = cap;
    }
    memmove(&s->r[pos + 1], &s->r[pos], (size_t)(s->n - pos) * sizeof *s->r);
    s->r[pos] = (range){best, size, t};
    s->n++;
    if (best + size > s->top)
        s->top = best + size;
    *off = best;
    return SS_OK;
}

static void live_free(live_set *s, int t)
{
    for (int i = 0; i < s->n; i++)
        if (s->r[i].t == t) {
            memmove(&s->r[i], &s->r[i + 1], (size_t)(s->n - i - 1) * sizeof *s->r);
            s->n--;
            return;
        }
}

static size_t tbytes(const ss_gtensor *t) { return graph_align((size_t)ss_numel(&t->shape) * 4); }

static void liveness(ss_graph *g)
{
    for (int t = 0; t < g->nt; t++) {
        g->t[t].first = -1;
        g->t[t].last = -1;
    }
    for (int i = 0; i < g->nn; i++) {
        const ss_gnode *n = &g->n[i];
        if (n->kind != SS_NODE_VIEW)
            for (int k = 0; k < n->n_out; k++) {
                ss_gtensor *t = &g->t[n->out[k]];
                t->first = i;
                if (t->last < i)
                    t->last = i;
            }
        for (int k = 0; k < n->n_in; k++) {
            ss_gtensor *r = &g->t[graph_root(g, n->in[k])];
            if (r->last < i)
                r->last = i;
        }
    }
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].keep)
            g->t[graph_root(g, t)].last = g->nn;
}

static int plan_acts(ss_graph *g)
{
    live_set s = {0};
    g->naive_bytes = 0;
    /* release lists: tensors dying after node i */
    for (int i = 0; i < g->nn; i++) {
        const ss_gnode *n = &g->n[i];
        if (n->kind != SS_NODE_VIEW)
            for (int k = 0; k < n->n_out; k++) {
                ss_gtensor *t = &g->t[n->out[k]];
                g->naive_bytes += tbytes(t);
                if (live_alloc(&s, n->out[k], tbytes(t), &t->offset) != SS_OK) {
                    free(s.r);
                    return graph_seterr(g, "graph_plan: out of memory");
                }
            }
        if (g->flags & SS_PLAN_NO_REUSE)
            continue;
        for (int k = 0; k < n->n_out; k++)
            if (n->kind != SS_NODE_VIEW && g->t[n->out[k]].last == i)
                live_free(&s, n->out[k]);
        for (int k = 0; k < n->n_in; k++) {
            int r = graph_root(g, n->in[k]);
            if (g->t[r].role == SS_ROLE_ACT && g->t[r].last == i)
                live_free(&s, r);
        }
    }
    g->acts_bytes = s.top;
    free(s.r);
    return SS_OK;
}

static size_t plan_workspace(const ss_graph *g)
{
    size_t ws = 0;
    for (int i = 0; i < g->nn; i++) {
        if (g->n[i].kind < 0) /* views, fused-away nodes */
            continue;
        const ss_op_desc *d = ss_op_get(g->n[i].kind);
        if (!d->ws)
            continue;
        ss_op_args a;
        graph_node_args(g, i, &a, 0);
        size_t w = d->ws(&a, g->n[i].is_bwd);
        if (w > ws)
            ws = w;
    }
    return graph_align(ws);
}

/* ---- inference fusion: CONV/DECONV -> BN_EVAL [-> RELU/LEAKY_RELU] ---------
 * Runs before liveness. The conv node becomes a CONV_BN_ACT node writing the
 * last fused node's output; the BN (and activation) node becomes
 * SS_NODE_FUSED with no inputs or outputs, so the intermediate tensors are
 * neither produced nor read and the planner gives them no memory. Fusion needs
 * an intermediate that no one else sees: exactly one use as an input (views
 * count as uses), not kept. Moving the BN and activation work up to the conv
 * is safe because their other inputs are persistent parameters and buffers,
 * which only a BN_TRAIN node could change inside a run (none may sit between). */

static int fusion_wanted(const ss_graph *g)
{
    if (g->flags & (SS_PLAN_REF | SS_PLAN_NO_FUSE))
        return 0;
    if (g->be != ss_backend_cpu() || g->backward_done)
        return 0;
    const char *e = getenv("SEMISEG_FUSE");
    if (e && !strcmp(e, "0"))
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

static int fuse_conv_bn_act(ss_graph *g)
{
    int *uses = calloc((size_t)g->nt, sizeof(int)), *user = malloc((size_t)g->nt * sizeof(int));
    if (!uses || !user) {
        free(uses);
        free(user);
        return graph_seterr(g, "graph_plan: out of memory");
    }
    for (int i = 0; i < g->nn; i++)
        for (int k = 0; k < g->n[i].n_in; k++) {
            int t = g->n[i].in[k];
            uses[t]++;
            user[t] = i;
            if (g->t[t].view_of >= 0)
                uses[g->t[t].view_of] += 2; /* a viewed tensor never vanishes */
        }
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

static int fill_persistent(ss_graph *g)
{
    for (int t = 0; t < g->nt; t++) {
        const ss_gtensor *x = &g->t[t];
        if (x->view_of >= 0 || x->role == SS_ROLE_ACT)
            continue;
        if (g->be->fill(graph_ptr(g, t), x->fill, (size_t)ss_numel(&x->shape)) != SS_OK)
            return SS_ERR;
    }
    return SS_OK;
}

int graph_plan(ss_graph *g, const ss_backend *b, int flags, FILE *log)
{
    if (g->has_err)
        return ss_seterr("%s", g->err);
    if (g->planned)
        return graph_seterr(g, "graph_plan: graph is already planned");
    g->be = b;
    g->flags = flags;
    size_t pbytes = 0, param_bytes = 0, grad_bytes = 0;
    for (int t = 0; t < g->nt; t++) {
        ss_gtensor *x = &g->t[t];
        if (x->view_of >= 0 || x->role == SS_ROLE_ACT)
            continue;
        x->offset = pbytes;
        pbytes += tbytes(x);
        if (x->role == SS_ROLE_PARAM) {
            param_bytes += tbytes(x);
            if (x->grad >= 0)
                grad_bytes += tbytes(&g->t[x->grad]);
        }
    }
    g->persist_bytes = pbytes;
    if (fusion_wanted(g) && fuse_conv_bn_act(g) != SS_OK)
        return SS_ERR;
    liveness(g);
    if (plan_acts(g) != SS_OK)
        return SS_ERR;
    g->ws_bytes = plan_workspace(g);
    if (b->alloc_arena(g->persist_bytes, &g->persist) != SS_OK ||
        b->alloc_arena(g->acts_bytes, &g->acts) != SS_OK ||
        b->alloc_arena(g->ws_bytes, &g->ws) != SS_OK)
        return graph_seterr(g, "graph_plan: %s", semiseg_error());
    g->planned = 1;
    if (fill_persistent(g) != SS_OK)
        return graph_seterr(g, "graph_plan: %s", semiseg_error());
    if (!(flags & SS_PLAN_QUIET)) {
        const double mib = 1.0 / (1024.0 * 1024.0);
        char fused[64] = "";
        if (g->n_fused)
            snprintf(fused, sizeof fused, "; %d conv+bn(+act) fused", g->n_fused);
        fprintf(log ? log : stderr,
                "graph: %d nodes on %s; parameters %.2f MiB, gradients %.2f MiB, activations %.2f MiB "
                "(%.2f MiB without reuse), workspace %.2f MiB, other persistent %.2f MiB%s\n",
                g->nn, b->name, param_bytes * mib, grad_bytes * mib, g->acts_bytes * mib,
                g->naive_bytes * mib, g->ws_bytes * mib, (pbytes - param_bytes) * mib, fused);
    }
    return SS_OK;
}

size_t graph_peak_bytes(const ss_graph *g) { return g->acts_bytes; }
size_t graph_naive_bytes(const ss_graph *g) { return g->naive_bytes; }

int graph_check_plan(const ss_graph *g)
{
    for (int a = 0; a < g->nt; a++) {
        const ss_gtensor *x = &g->t[a];
        if (x->role != SS_ROLE_ACT || x->view_of >= 0 || x->first < 0)
            continue;
        for (int b = a + 1; b < g->nt; b++) {
            const ss_gtensor *y = &g->t[b];
            if (y->role != SS_ROLE_ACT || y->view_of >= 0 || y->first < 0)
                continue;
            int time_overlap = x->first <= y->last && y->first <= x->last;
            int mem_overlap =
                x->offset < y->offset + tbytes(y) && y->offset < x->offset + tbytes(x);
            if (time_overlap && mem_overlap)
                return ss_seterr("graph plan: '%s' [nodes %d..%d, bytes %zu+%zu] overlaps '%s' "
                                 "[nodes %d..%d, bytes %zu+%zu]",
                                 x->name, x->first, x->last, x->offset, tbytes(x), y->name,
                                 y->first, y->last, y->offset, tbytes(y));
        }
    }
    return SS_OK;
}
