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
    if (graph_fuse(g) != SS_OK)
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
        char fused[96] = "";
        if (g->n_fused || g->n_fused_bn)
            snprintf(fused, sizeof fused, "; fused: %d conv+bn(+act), %d bn+act", g->n_fused,
                     g->n_fused_bn);
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
