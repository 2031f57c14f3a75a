/* Private graph structures shared by the graph's construction, backward,
 * planner and executor files. */
#ifndef SS_GRAPH_IMPL_H
#define SS_GRAPH_IMPL_H

#include "graph.h"

#include <stddef.h>

#define SS_GNODE_MAX_IN (SS_MAX_IN + SS_MAX_OUT + 1)
#define SS_NODE_VIEW (-1) /* zero-cost reshape: output aliases input 0 */
/* A node absorbed at plan time into node `src`'s fused kernel (no inputs, no
 * outputs, nothing to run; harness/graph_fuse.c). */
#define SS_NODE_FUSED (-2)

typedef struct ss_gtensor {
    ss_shape shape;
    char name[96];
    int role;
    int requires_grad;
    int producer;  /* node index, -1 for leaves */
    int view_of;   /* root tensor of a view, -1 otherwise */
    int keep;
    int fused_away; /* an intermediate of a fused node: never materialised */
    float fill;    /* BUFFER / CONST initial value */
    int grad;      /* after graph_backward */
    /* planning */
    int first, last; /* node interval in which the root's bytes must stay intact */
    size_t offset;   /* byte offset in its arena */
} ss_gtensor;

typedef struct ss_gnode {
    int kind;    /* op kind, or SS_NODE_VIEW */
    int is_bwd;  /* gradient node of node `src` */
    int src;
    /* backward nodes: in[] = forward inputs, then forward outputs, then gy (in[n_in-1]);
     * out[k] is the gradient of forward input gx_of[k] */
    int n_in, in[SS_GNODE_MAX_IN];
    int n_out, out[SS_MAX_IN];
    int gx_of[SS_MAX_IN];
    int ip[SS_MAX_IP];
    float fp[SS_MAX_FP];
    int slot; /* dynamic scalar, -1 none */
    double seconds;
    long calls;
} ss_gnode;

struct ss_graph {
    ss_gtensor *t;
    int nt, capt;
    ss_gnode *n;
    int nn, capn;
    char err[512];
    int has_err;
    int backward_done;
    /* scalars */
    float scalar[64];
    char scalar_name[64][32];
    int nscalar;
    uint64_t step;
    /* plan */
    const ss_backend *be;
    int flags;
    int planned;
    int n_fused;    /* nodes running CONV_BN_ACT (inference fusion) */
    int n_fused_bn; /* nodes running BN_ACT (training fusion) */
    void *persist, *acts, *ws;
    size_t persist_bytes, acts_bytes, ws_bytes, naive_bytes;
};

/* Plan-time fusion (harness/graph_fuse.c): rewrites fusable node chains on
 * the CPU backend; a no-op elsewhere or when switched off. */
int graph_fuse(ss_graph *g);
/* Pointer of tensor t's data on the backend (views resolve to their root). */
float *graph_ptr(const ss_graph *g, int t);
int graph_root(const ss_graph *g, int t);
int graph_is_planned_role(int role);
int graph_new_tensor(ss_graph *g, const char *name, ss_shape s, int role);
int graph_new_node(ss_graph *g);
/* Fills args for node i (forward or backward) with shapes/params and, when
 * with_ptrs, data pointers. */
void graph_node_args(const ss_graph *g, int i, ss_op_args *a, int with_ptrs);
size_t graph_align(size_t b);

#endif
