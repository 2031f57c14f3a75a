/* The op interface: one enum of op kinds, and per kind a descriptor with its
 * shape rule, CPU reference forward/backward, optional fast CPU paths, and
 * FLOP/byte counts. Kernels see only raw float pointers and shapes (ss_op_args);
 * nothing here knows about graphs or models.
 *
 * Parameter conventions (ip = integer params, fp = float params). Spatial
 * triples are always in (D, H, W) order; 2-D data uses D = 1 with k/stride 1,
 * pad 0 in D.
 *
 *  CONV        in: x (N,Ci,D,H,W), w (Co,Ci,kD,kH,kW), [b (Co,1,1,1,1)]
 *              ip: stride[0..2], pad[3..5]          out: y (N,Co,D',H',W')
 *  DECONV      in: x (N,Ci,..), w (Ci,Co,kD,kH,kW) (PyTorch layout), [b (Co,1,1,1,1)]
 *              ip: stride[0..2], pad[3..5], output_padding[6..8]
 *              out size = (in-1)*s - 2p + k + op
 *  BN_TRAIN    in: x, gamma (C), beta (C), running_mean (C), running_var (C) — all
 *              per-channel vectors have shape (C,1,1,1,1)
 *              fp: momentum[0] (0.1), eps[1] (1e-5)
 *              out: y, saved_mean (C,1,1,1,1), saved_invstd (C,1,1,1,1)
 *              updates running stats in place (unbiased variance), as PyTorch.
 *  BN_EVAL     in: x, gamma, beta, running_mean, running_var; fp: eps[1]; out: y
 *  INSTNORM    in: x, [gamma (C), beta (C)]; fp: eps[1]
 *              out: y, saved_mean (N*C,1,1,1,1), saved_invstd (N*C,1,1,1,1)
 *  GROUPNORM   in: x, gamma (C), beta (C); ip: groups[0]; fp: eps[1]
 *              out: y, saved_mean (N*G,1,1,1,1), saved_invstd (N*G,1,1,1,1)
 *  RELU, SIGMOID, TANH, EXP, LOG          in: x; out: y (same shape)
 *  LEAKY_RELU  fp: slope[0]
 *  PRELU       in: x, a (1,1,1,1,1) or (C,1,1,1,1)
 *  SOFTMAX, LOG_SOFTMAX                   over C (dim 1)
 *  DROPOUT     ip: mode[0] (0 element, 1 channel = Dropout3d/2d), seed_lo[1],
 *              seed_hi[2], stream[3]; fp: p[0]. Keeps an element when its Philox
 *              uniform u (kernels/rng.h, counter = (element, step)) satisfies u >= p,
 *              scales kept values by 1/(1-p). Element index: flat index of y for mode 0,
 *              n*C + c for mode 1. The step comes from ss_op_args.step.
 *  MAXPOOL, AVGPOOL  ip: kernel[0..2], stride[3..5], pad[6..8]
 *              (max pads with -inf; avg counts padding, as PyTorch's defaults)
 *  UPSAMPLE    ip: mode[0] (0 nearest, 1 linear: bilinear when D==1 else trilinear),
 *              align_corners[1], out size D,H,W [2..4]
 *              nearest follows PyTorch: src = floor(dst * in/out)
 *  ADD, SUB, MUL, DIV  in: a, b; numpy-style broadcasting per dim (size 1 vs n)
 *              out shape = broadcast(a, b)
 *  SCALE       y = fp[0] * x + fp[1]; when ss_op_args.dyn_used, the multiplier is
 *              ss_op_args.dyn (a dynamic scalar such as a ramp weight) instead of fp[0]
 *  POW         fp: exponent[0]  (y = x^e; x must be > 0 unless e is an integer)
 *  CLAMP       fp: lo[0], hi[1]; gradient passes where lo <= x <= hi
 *  CONCAT      in: 2..SS_MAX_IN tensors; ip: axis[0] (0 = N or 1 = C)
 *  SLICE       ip: axis[0] (0 or 1), start[1], len[2]
 *  SUM, MEAN   ip: axis mask[0] (bit i = reduce dim i; 31 = all); dims kept as 1
 *  MATMUL      in: a, b as matrices (rows = dim0, cols = dim1, other dims 1)
 *              ip: trans_a[0], trans_b[1]; y = op(a) @ op(b)
 *  LINEAR      in: x (N, F = C*D*H*W flattened), w (Out, F, 1,1,1), [b (Out,1,1,1,1)]
 *              out: (N, Out, 1, 1, 1)
 *  L2NORM      over C per (n, voxel): y = x / max(||x||, eps); fp: eps[0] (1e-12)
 *  COSSIM      in: a (M,K), b (Nb,K) matrices; out: (M,Nb,1,1,1);
 *              s_ij = a_i.b_j / max(||a_i|| ||b_j||, eps); fp: eps[0] (1e-8). (FBA-Net's
 *              cosine matrix is L2NORM (eps 1e-12) followed by MATMUL, not this op.)
 *  SORT        along dim 1 of (M,N,1,1,1); ip: descending[0]; no gradient
 *  RANK        along dim 1 of (M,N,1,1,1); 1-based rank of each element in the sorted
 *              order (ip: descending[0]); ties broken by index; no gradient
 *  CE          in: logits (N,C,D,H,W), labels (N,1,D,H,W) holding class ids as floats
 *              out: (1,1,1,1,1) mean over the voxels whose label is not ignore_index
 *              (PyTorch reduction='mean'); all ignored is an error;
 *              ip: ignore_index[0] (-100 = none matches); differentiable in logits only
 *  MSE         in: a, b same shape; out: mean((a-b)^2), gradient for both
 *  CONV_BN_ACT internal: CONV or DECONV, then BN_EVAL, then an optional ReLU /
 *              LeakyReLU, as one node (the planner's inference fusion,
 *              harness/graph_plan.c; never built by model code).
 *              in: x, w, gamma, beta, running_mean, running_var, [b]
 *              ip: the conv's ip[0..8] (its kernels/op.h meaning), conv kind[9]
 *              (SS_OP_CONV or SS_OP_DECONV), activation[10] (0 none, SS_OP_RELU,
 *              SS_OP_LEAKY_RELU); fp: slope[0] (LeakyReLU), eps[1] (BN)
 *              out: y = act(BN_EVAL(conv(x, w, b))); no gradient. The reference
 *              runs the three reference kernels in turn; the fast CPU path folds
 *              BN into the weights and bias (kernels/cpu/fast_fused.c).
 *  BN_ACT      internal: BN_TRAIN, then ReLU or LeakyReLU (slope >= 0), as one
 *              node (the planner's training fusion, harness/graph_fuse.c).
 *              in: as BN_TRAIN; ip: activation[0] (SS_OP_RELU or
 *              SS_OP_LEAKY_RELU); fp: momentum[0], eps[1], slope[2]
 *              out: r = act(BN_TRAIN(x)), saved_mean, saved_invstd; running stats
 *              updated as BN_TRAIN. Gradients for x, gamma, beta; the backward
 *              takes the activation's mask from r (kernels/ops/norm_act.c).
 */
#ifndef SS_OP_H
#define SS_OP_H

#include "tensor.h"

#define SS_MAX_IN 8
#define SS_MAX_OUT 3
#define SS_MAX_IP 16
#define SS_MAX_FP 8

typedef enum ss_op_kind {
    SS_OP_NONE = 0,
    SS_OP_CONV,
    SS_OP_DECONV,
    SS_OP_BN_TRAIN,
    SS_OP_BN_EVAL,
    SS_OP_INSTNORM,
    SS_OP_GROUPNORM,
    SS_OP_RELU,
    SS_OP_LEAKY_RELU,
    SS_OP_PRELU,
    SS_OP_SIGMOID,
    SS_OP_TANH,
    SS_OP_SOFTMAX,
    SS_OP_LOG_SOFTMAX,
    SS_OP_DROPOUT,
    SS_OP_MAXPOOL,
    SS_OP_AVGPOOL,
    SS_OP_UPSAMPLE,
    SS_OP_ADD,
    SS_OP_SUB,
    SS_OP_MUL,
    SS_OP_DIV,
    SS_OP_SCALE,
    SS_OP_POW,
    SS_OP_EXP,
    SS_OP_LOG,
    SS_OP_CLAMP,
    SS_OP_CONCAT,
    SS_OP_SLICE,
    SS_OP_SUM,
    SS_OP_MEAN,
    SS_OP_MATMUL,
    SS_OP_LINEAR,
    SS_OP_L2NORM,
    SS_OP_COSSIM,
    SS_OP_SORT,
    SS_OP_RANK,
    SS_OP_CE,
    SS_OP_MSE,
    SS_OP_CONV_BN_ACT,
    SS_OP_BN_ACT,
    SS_OP_COUNT
} ss_op_kind;

/* What a kernel sees. For a forward call x/y are the node's inputs/outputs.
 * For a backward call x/y are the forward node's inputs/outputs, gy the
 * gradients of its outputs (NULL where an output has no gradient) and gx the
 * gradients to WRITE (overwrite, not accumulate) for its inputs (NULL where not
 * needed). */
typedef struct ss_op_args {
    int kind;
    const int *ip;
    const float *fp;
    int n_in;
    ss_shape xs[SS_MAX_IN];
    float *x[SS_MAX_IN]; /* non-const: BN_TRAIN updates running stats in place */
    int n_out;
    ss_shape ys[SS_MAX_OUT];
    float *y[SS_MAX_OUT];
    float *gy[SS_MAX_OUT];
    float *gx[SS_MAX_IN];
    void *ws;       /* scratch of the size the descriptor's ws() asked for */
    size_t ws_size;
    uint64_t step;  /* RNG step counter (dropout) */
    int dyn_used;   /* SCALE: use dyn instead of fp[0] */
    float dyn;
} ss_op_args;

typedef int (*ss_kernel_fn)(const ss_op_args *a);

typedef struct ss_op_desc {
    const char *name;
    int min_in, max_in;
    /* Validates inputs and params, writes output shapes. On failure sets an
     * error naming the op and the shapes and returns SS_ERR. */
    int (*infer)(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                 ss_shape *out);
    ss_kernel_fn fwd;      /* CPU reference forward (required) */
    ss_kernel_fn bwd;      /* CPU reference backward (NULL: not differentiable) */
    ss_kernel_fn fwd_fast; /* optional fast CPU paths, tested against the reference */
    ss_kernel_fn bwd_fast;
    /* Scratch bytes for a forward (bwd = 0) or backward (bwd = 1) call; NULL = 0.
     * Only shapes/params of the args are valid when this is called. */
    size_t (*ws)(const ss_op_args *a, int bwd);
    /* FLOPs and bytes moved of a forward call (backward is counted as 2x by
     * callers unless bwd_flops is given). Only shapes/params are valid. */
    double (*flops)(const ss_op_args *a);
    double (*bytes)(const ss_op_args *a);
    /* Bit i set: input i can receive a gradient. */
    unsigned diff_mask;
} ss_op_desc;

/* Descriptor of a kind (never NULL for a valid kind). */
const ss_op_desc *ss_op_get(int kind);
const char *ss_op_name(int kind);

/* Default byte count: every input and output read/written once. */
double ss_op_bytes_default(const ss_op_args *a);
/* Error helper: "OP: message; inputs (..) (..)". Returns SS_ERR. */
int ss_op_err(const char *op, int n_in, const ss_shape *in, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
