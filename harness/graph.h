/* Static compute graph: built once by constructor calls that record nodes,
 * differentiated by graph_backward (which appends gradient nodes), planned
 * into arenas by liveness, executed on a backend.
 *
 * Tensors are referred to by integer handles (>= 0). A constructor that fails
 * (bad shapes or params) records the error in the graph and returns -1; every
 * constructor given a -1 input returns -1 as well, so a model can be built
 * without checking each call and the first error is reported by
 * graph_error()/graph_plan(). */
#ifndef SS_GRAPH_H
#define SS_GRAPH_H

#include "kernels/backend.h"
#include "kernels/op.h"

#include <stdio.h>

typedef struct ss_graph ss_graph;

enum ss_role {
    SS_ROLE_PARAM = 0, /* trainable, persistent */
    SS_ROLE_BUFFER,    /* persistent state (BN running stats), filled at plan time */
    SS_ROLE_INPUT,     /* persistent, uploaded before a run */
    SS_ROLE_CONST,     /* persistent, filled with a value at plan time */
    SS_ROLE_ACT,       /* planned activation or gradient */
};

ss_graph *graph_new(void);
void graph_free(ss_graph *g);

/* First construction error (NULL when none). */
const char *graph_error(const ss_graph *g);
/* Records a construction error (the first one wins) and returns -1; for
 * builders layered on the constructors. */
int graph_seterr(ss_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Leaf tensors. Names must be unique (they become checkpoint keys). */
int g_param(ss_graph *g, const char *name, ss_shape s);
int g_buffer(ss_graph *g, const char *name, ss_shape s, float fill);
int g_input(ss_graph *g, const char *name, ss_shape s);
int g_const(ss_graph *g, const char *name, ss_shape s, float fill);
/* A dynamic scalar (ramp weight, ...) settable between runs; returns a slot. */
int g_scalar(ss_graph *g, const char *name, float init);

/* Generic constructor: one node of `kind`; returns its output 0 and, when
 * outs is given, writes every output handle (up to SS_MAX_OUT). */
int g_op(ss_graph *g, int kind, int n_in, const int *in, const int *ip, int nip, const float *fp,
         int nfp, int *outs);

/* Typed constructors (parameter meaning: kernels/op.h). Spatial triples are
 * (D, H, W). b may be -1 (no bias). */
int g_conv(ss_graph *g, int x, int w, int b, const int stride[3], const int pad[3]);
int g_deconv(ss_graph *g, int x, int w, int b, const int stride[3], const int pad[3],
             const int outpad[3]);
int g_bn_train(ss_graph *g, int x, int gamma, int beta, int rmean, int rvar, float momentum,
               float eps);
int g_bn_eval(ss_graph *g, int x, int gamma, int beta, int rmean, int rvar, float eps);
int g_instnorm(ss_graph *g, int x, int gamma, int beta, float eps); /* gamma/beta -1: no affine */
int g_groupnorm(ss_graph *g, int x, int gamma, int beta, int groups, float eps);
int g_relu(ss_graph *g, int x);
int g_leaky_relu(ss_graph *g, int x, float slope);
int g_prelu(ss_graph *g, int x, int a);
int g_sigmoid(ss_graph *g, int x);
int g_tanh(ss_graph *g, int x);
int g_softmax(ss_graph *g, int x);
int g_log_softmax(ss_graph *g, int x);
int g_dropout(ss_graph *g, int x, float p, int channel, uint64_t seed, uint32_t stream);
int g_maxpool(ss_graph *g, int x, const int k[3], const int s[3], const int p[3]);
int g_avgpool(ss_graph *g, int x, const int k[3], const int s[3], const int p[3]);
int g_upsample(ss_graph *g, int x, int linear, int align_corners, const int size[3]);
int g_add(ss_graph *g, int a, int b);
int g_sub(ss_graph *g, int a, int b);
int g_mul(ss_graph *g, int a, int b);
int g_div(ss_graph *g, int a, int b);
int g_scale(ss_graph *g, int x, float a, float b); /* a*x + b */
int g_scale_dyn(ss_graph *g, int x, int slot);     /* scalar[slot] * x */
int g_pow(ss_graph *g, int x, float e);
int g_exp(ss_graph *g, int x);
int g_log(ss_graph *g, int x);
int g_clamp(ss_graph *g, int x, float lo, float hi);
int g_concat(ss_graph *g, int n, const int *xs, int axis);
int g_slice(ss_graph *g, int x, int axis, int start, int len);
int g_sum(ss_graph *g, int x, int axis_mask);
int g_mean(ss_graph *g, int x, int axis_mask);
int g_matmul(ss_graph *g, int a, int b, int trans_a, int trans_b);
int g_linear(ss_graph *g, int x, int w, int b);
int g_l2norm(ss_graph *g, int x, float eps);
int g_cossim(ss_graph *g, int a, int b, float eps);
int g_sort(ss_graph *g, int x, int descending);
int g_rank(ss_graph *g, int x, int descending);
int g_ce(ss_graph *g, int logits, int labels, int ignore_index);
int g_mse(ss_graph *g, int a, int b);
/* A view with another shape of the same element count; costs nothing. */
int g_reshape(ss_graph *g, int x, ss_shape s);

/* Appends gradient nodes for d(loss)/d(every tensor that needs one); loss must
 * have one element. Gradients of a tensor used by several consumers are summed. */
int graph_backward(ss_graph *g, int loss);
/* The gradient of t after graph_backward (-1 when t gets none). */
int graph_grad(const ss_graph *g, int t);
/* Keeps t alive (not reused) until the end of a run, so it can be read. */
void graph_keep(ss_graph *g, int t);

enum ss_plan_flags {
    SS_PLAN_QUIET = 1,    /* no start-up memory line */
    SS_PLAN_NO_REUSE = 2, /* every tensor its own range (for testing the planner) */
    SS_PLAN_POISON = 4,   /* fill ranges with NaN when their tensor dies (testing) */
    SS_PLAN_REF = 8,      /* always run the reference kernels */
    SS_PLAN_TIMING = 16,  /* per-node timing */
    SS_PLAN_NO_FUSE = 32, /* no plan-time fusion (see graph_plan) */
};
/* Assigns arena offsets by liveness and allocates the arenas on backend b.
 * Prints "graph: parameters X MiB, gradients Y MiB, activations Z MiB,
 * workspace W MiB" to log (stderr when NULL) unless SS_PLAN_QUIET.
 *
 * Inference fusion: on the CPU backend, for a graph without backward nodes,
 * unless SS_PLAN_REF or SS_PLAN_NO_FUSE is given or SEMISEG_FUSE=0 is set in
 * the environment, every CONV / DECONV whose output's only consumer is a
 * BN_EVAL (input 0), and that BN's output's only consumer when it is a RELU /
 * LEAKY_RELU, runs as one CONV_BN_ACT node (kernels/op.h): the BN and
 * activation nodes become no-ops and the intermediate tensors get no memory.
 * A tensor marked with graph_keep (or viewed by a reshape) is never fused
 * away; reading a fused-away tensor (graph_download) is an error.
 * Training fusion: under the same switches, in a graph with its backward,
 * every BN_TRAIN whose output only a ReLU / LeakyReLU (slope >= 0) reads (and
 * the gradient nodes of the two) runs as one BN_ACT node (kernels/op.h) with
 * one gradient node; the batch norm's output and its gradient get no memory. */
int graph_plan(ss_graph *g, const ss_backend *b, int flags, FILE *log);
int graph_run(ss_graph *g);

int graph_upload(ss_graph *g, int t, const float *src);
int graph_download(ss_graph *g, int t, float *dst);
/* t's data as a host array, for in-place updates, when the graph is planned on
 * a backend whose memory the CPU addresses directly; NULL otherwise (use
 * graph_download / graph_upload then). */
float *graph_host_data(ss_graph *g, int t);
int graph_set_scalar(ss_graph *g, int slot, float v);
void graph_set_step(ss_graph *g, uint64_t step);

/* Introspection. */
int graph_n_tensors(const ss_graph *g);
int graph_n_nodes(const ss_graph *g);
ss_shape graph_shape(const ss_graph *g, int t);
const char *graph_name(const ss_graph *g, int t);
int graph_role(const ss_graph *g, int t);
int graph_find(const ss_graph *g, const char *name);
int graph_requires_grad(const ss_graph *g, int t);
/* Bytes of the planned activation arena (peak) and the sum of all planned
 * tensors' sizes (what no reuse would need). */
size_t graph_peak_bytes(const ss_graph *g);
size_t graph_naive_bytes(const ss_graph *g);
/* Verifies that no two planned tensors whose lifetimes overlap share bytes.
 * Returns SS_OK or SS_ERR naming the pair. */
int graph_check_plan(const ss_graph *g);
/* Per-node timing table (SS_PLAN_TIMING): seconds summed over runs. */
void graph_print_timing(const ss_graph *g, FILE *f);
/* Per-node profile (after graph_plan). kind is the op kind; view nodes
 * (reshapes) report kind 0 and no cost. flops: the op's forward count, twice
 * that for a gradient node (an estimate: most backward passes do two
 * forward-sized products). seconds/calls accumulate while SS_PLAN_TIMING is on. */
typedef struct ss_node_stat {
    int kind, is_bwd;
    double flops, seconds;
    long calls;
} ss_node_stat;
int graph_node_stat(const ss_graph *g, int i, ss_node_stat *out);
/* Nodes that run a fused kernel after graph_plan (inference fusion; each
 * absorbed a BN_EVAL and possibly an activation node, which then report kind 0
 * in graph_node_stat). */
int graph_n_fused(const ss_graph *g);
/* Nodes that run BN_ACT after graph_plan (training fusion: a BN_TRAIN and the
 * ReLU / LeakyReLU after it, with their gradient nodes). */
int graph_n_fused_bn(const ss_graph *g);
/* Sum of the nodes' flops (as above) for one run of the graph. */
double graph_flops(const ss_graph *g);
/* Zeroes the accumulated per-node seconds and call counts. */
void graph_reset_timing(ss_graph *g);

#endif
