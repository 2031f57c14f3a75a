/* FBA-Net's contrastive module and its losses as graph builders
 * (protocol-3d.md §1.7, §2.7; protocol-2d.md §5.1-5.2), plus a multi-positive
 * InfoNCE over the same embeddings (the FBA-Net Table-3 comparison).
 *
 * Embedding sets are (N, K, 1, 1, 1) tensors: one K-vector per batch item.
 * Similarities are S_ij = clamp(ẑ_i·ŷ_j, lo, hi) with rows L2-normalised
 * (eps 1e-12, F.normalize). Rank weights: within row i, r_ij in 0..M-1 is the
 * position of column j in descending order (ties broken by column index), and
 * w_ij = exp(-alpha (r_ij - 1)); they carry no gradient (upstream takes them
 * from an argsort).
 *   sim_max(X)    = mean_ij w_ij (-log S_ij),      S = sim(X, X), alpha_pos
 *   sim_min(X, Y) = mean_ij w_ij (-log(1 - S_ij)), S = sim(X, Y), alpha_neg
 * (the mean runs over all N*M entries, the diagonal included). Upstream
 * zeroes negative per-entry losses; after the clamp none can occur, so the
 * builders do not. */
#ifndef SS_CONTRASTIVE_H
#define SS_CONTRASTIVE_H

#include "harness/experiment.h"
#include "harness/graph.h"
#include "harness/nn/nn.h"

typedef enum ss_cm_loss_kind { SS_CM_FBA = 0, SS_CM_INFONCE } ss_cm_loss_kind;

/* "fba" / "infonce"; -1 with an error otherwise. */
int ss_cm_loss_parse(const char *s, ss_cm_loss_kind *out);

typedef struct ss_cm_params {
    ss_cm_loss_kind kind;
    float alpha_pos; /* 0.25 (SimMaxLoss default) */
    float alpha_neg; /* 2.5 (SimMinLoss default) */
    float lo, hi;    /* similarity clamp, 0.0005 and 0.9995 */
    float tau;       /* InfoNCE temperature */
} ss_cm_params;

/* Clamped cosine matrix (N, M, 1, 1, 1) of x (N,K,..) against y (M,K,..). */
int ss_cm_similarity(ss_graph *g, int x, int y, float lo, float hi);
/* Rank weights of a similarity matrix s (N, M, 1, 1, 1); no gradient. */
int ss_cm_rank_weights(ss_graph *g, int s, float alpha);
int ss_cm_sim_max(ss_graph *g, int x, const ss_cm_params *p);
int ss_cm_sim_min(ss_graph *g, int x, int y, const ss_cm_params *p);

/* Multi-positive InfoNCE over G groups of embeddings (each (N, K, 1, 1, 1),
 * N >= 2): every row i of group a is an anchor, its positives are the other
 * N-1 rows of group a, its denominator every other row of every group:
 *   l_ai = log Σ_{(c,j) != (a,i)} exp(s(a_i, c_j)/tau)
 *          - (1/(N-1)) Σ_{j != i} s(a_i, a_j)/tau,
 * s the unclamped cosine; the loss is the mean of l over the G*N anchors. */
int ss_infonce_groups(ss_graph *g, int n_groups, const int *emb, float tau);

/* The 3-D FBA-Net term of one decoder: sim_max(f) + sim_max(b) + sim_min(f, b)
 * (kind FBA), or ss_infonce_groups over {f, b} (kind INFONCE). pos/neg (may be
 * NULL) receive the positive and negative parts (FBA; -1 for InfoNCE). */
int ss_cm_loss_fgbg(ss_graph *g, int f, int b, const ss_cm_params *p, int *pos, int *neg);

/* The 2-D FBA-Net term of one decoder with one embedding set per class:
 * Σ_c [sim_max(E_c) + Σ_{c' != c} sim_min(E_c, E_c')] (kind FBA; the caller
 * divides the sum over decoders by C(C-1), upstream's 12 for C = 4), or
 * ss_infonce_groups over the classes (kind INFONCE). */
int ss_cm_loss_classes(ss_graph *g, int n, const int *emb, const ss_cm_params *p, int *pos,
                       int *neg);

/* Heads of one attached contrastive module. */
#define SS_CM_MAX_CLASSES 8
typedef struct ss_cm_heads {
    int dims;              /* 3: fg/bg form, 2: per-class form */
    int fg, bg;            /* 3-D */
    int n_emb;             /* 2-D: classes */
    int emb[SS_CM_MAX_CLASSES];
} ss_cm_heads;

/* Attaches FBA-Net's contrastive module to segmentation logits seg
 * (N, classes, D, H, W) of the network being built in m, with parameter keys
 * under PREFIX ("decoder1." gives FBA-Net's own keys):
 *   3-D (ContraModule): A = sigmoid(BN(conv3d(classes -> 1, k3, s2, p1, no
 *       bias)(seg))) as <prefix>cm.activation_head / <prefix>cm.bn_head,
 *       M = voxels of A, fg = ReLU(<prefix>f_mlp.0(A/M)),
 *       bg = ReLU(<prefix>b_mlp.0((1-A)/M)), each Linear(M -> dim);
 *   2-D (ContraModuleNew): A = sigmoid(conv(classes -> classes, k3, s2, p1, no
 *       bias)(seg)) as <prefix>cm.activation_head, one Linear(H/2*W/2 -> dim)
 *       <prefix>cm.mlp.0 + ReLU shared by the classes: emb[c] per class.
 * The MLP fan-in is fixed by the patch the graph is built for. */
int ss_cm_attach(ss_nn *m, const char *prefix, int seg, int dims, int classes, int dim,
                 ss_cm_heads *out);

/* The contrastive term of n decoders (heads h[0..n-1], all of one form):
 * 3-D Σ_d ss_cm_loss_fgbg; 2-D Σ_d ss_cm_loss_classes, divided once by
 * C(C-1) for the FBA kind (upstream's 12 with C = 4; the InfoNCE kind is
 * summed undivided). pos/neg (may be NULL) get the summed parts (-1 for
 * InfoNCE). */
int ss_cm_loss_decoders(ss_graph *g, int n, const ss_cm_heads *h, const ss_cm_params *p, int *pos,
                        int *neg);

/* The "+CM" switch and settings as spec keys, for any plugin's [method]
 * section (FBA-Net's values): cm 0|1, contrast fba|infonce, cm_weight,
 * alpha_pos, alpha_neg, sim_lo, sim_hi, tau, cm_dim. */
#define SS_CM_SPEC_KEYS                                                                            \
    "contrast = fba\n"                                                                             \
    "cm_weight = 1\n"                                                                              \
    "alpha_pos = 0.25\n"                                                                           \
    "alpha_neg = 2.5\n"                                                                            \
    "sim_lo = 0.0005\n"                                                                            \
    "sim_hi = 0.9995\n"                                                                            \
    "tau = 0.1\n"                                                                                  \
    "cm_dim = 128\n"

typedef struct ss_cm_opts {
    int on;          /* method.cm */
    ss_cm_params p;
    double weight;   /* method.cm_weight */
    int dim;         /* method.cm_dim */
} ss_cm_opts;

/* Reads method.cm and the SS_CM_SPEC_KEYS keys; errors name the key. */
int ss_cm_opts_from_spec(const ss_spec *s, ss_cm_opts *o);

#endif
