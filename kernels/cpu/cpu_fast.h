/* Fast CPU paths of the ops (oneDNN convolutions; threaded element-wise,
 * batch-norm, dropout, pooling and upsampling kernels). Each one computes what the
 * op's reference kernel in kernels/ops/ computes, within the tolerances stated
 * in tests/test_fastpath.c, and falls back to the reference for shapes it does
 * not cover. Op descriptors point their fwd_fast / bwd_fast / ws fields here. */
#ifndef SS_CPU_FAST_H
#define SS_CPU_FAST_H

#include "../op.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* b rounded up to a multiple of 64 bytes (workspace offsets of the fast paths) */
static inline size_t ss_cpu_al64(size_t b) { return (b + 63) & ~(size_t)63; }

/* A path's on/off switch: *flag (-1 until first read) is taken from the
 * environment variable `env` ("0": off, anything else or unset: on) unless a
 * setter stored 0 / 1 before. */
static inline int ss_cpu_path_on(int *flag, const char *env)
{
    int on = __atomic_load_n(flag, __ATOMIC_RELAXED);
    if (on < 0) {
        const char *e = getenv(env);
        on = !(e && !strcmp(e, "0"));
        __atomic_store_n(flag, on, __ATOMIC_RELAXED);
    }
    return on;
}

/* CONV and DECONV through oneDNN (primitives cached per shape; reorders between
 * the plain NCDHW tensors and the blocked layouts oneDNN prefers go through the
 * op's workspace, so a planned step allocates nothing; 1x1x1 convolutions are
 * plain-layout GEMMs through dnnl_sgemm). Thread-safe; one execution of a
 * given shape at a time. */
int ss_cpu_conv_fwd(const ss_op_args *a);
int ss_cpu_conv_bwd(const ss_op_args *a);
int ss_cpu_deconv_fwd(const ss_op_args *a);
int ss_cpu_deconv_bwd(const ss_op_args *a);
size_t ss_cpu_conv_ws(const ss_op_args *a, int bwd);
/* Layout oneDNN convolutions use: 0 = let oneDNN choose (blocked, default),
 * 1 = plain NCDHW (no reorders). Initialised from SEMISEG_CONV_LAYOUT=plain. */
void ss_cpu_conv_set_layout(int plain);
/* Number of oneDNN primitive executions so far (tests check the fast path ran). */
long ss_cpu_conv_dnnl_calls(void);
/* backward-data passes run as a forward convolution of gy with the flipped,
 * transposed weights (stride-1 16 -> 16 convolutions) */
long ss_cpu_conv_tfwd_calls(void);
/* Kernel == stride, pad 0 CONV / DECONV (V-Net's k2 s2 down and up
 * convolutions, 2-D k 1x2x2): plain-layout GEMMs on a space-to-depth view
 * (kernels/cpu/fast_conv_s2.c), dispatched from the functions above before
 * oneDNN. match: 1 when the op has that form (and the path is enabled);
 * fwd / bwd: 0 when they ran (status in *rc), 1 when the caller must use
 * another path (workspace too small). */
int ss_cpu_conv_s2_match(const ss_op_args *a);
size_t ss_cpu_conv_s2_ws(const ss_op_args *a, int bwd);
int ss_cpu_conv_s2_fwd(const ss_op_args *a, int *rc);
int ss_cpu_conv_s2_bwd(const ss_op_args *a, int *rc);
/* Enables (default) or disables the path; initialised from SEMISEG_CONV_S2=0. */
void ss_cpu_conv_set_s2(int on);
/* Number of passes the path ran (forward 1, backward 1 per gradient of x / w). */
long ss_cpu_conv_s2_calls(void);
/* CONV with one input channel, stride 1, kernel 3x3x3 pad 1 or 1x3x3 pad
 * 0,1,1 (the models' first layer), in NCDHW with AVX2 + FMA
 * (kernels/cpu/fast_conv_c1.c), dispatched from the functions above before
 * oneDNN: the forward, and the backward when no input gradient is wanted.
 * match: 1 when the op has that form, the path is enabled and the CPU has
 * AVX2 + FMA; fwd / bwd: 0 when they ran, 1 when the caller must use another
 * path (workspace too small, an input gradient wanted). */
int ss_cpu_conv_c1_match(const ss_op_args *a);
int ss_cpu_conv_c1_available(void);
size_t ss_cpu_conv_c1_ws(const ss_op_args *a, int bwd);
int ss_cpu_conv_c1_fwd(const ss_op_args *a);
int ss_cpu_conv_c1_bwd(const ss_op_args *a);
/* Enables (default) or disables the path (tests). */
void ss_cpu_conv_set_c1(int on);
/* Number of passes the path ran (forward 1, backward 1). */
long ss_cpu_conv_c1_calls(void);
/* CONV 3x3x3, stride 1, pad 1, input and output channels multiples of 16,
 * even D, H, W (V-Net's ConvBlocks) by Winograd F(2x2x2, 3x3x3) with AVX-512
 * transforms (kernels/cpu/fast_conv_wg.c), dispatched from the functions
 * above before oneDNN: forward and every backward gradient (the backward only
 * below 128 x 128 channels). match: 1 when the op's forward (bwd = 0) or
 * backward (bwd = 1) has that form, the path is enabled and the CPU has
 * AVX-512F/VL, AVX2 and FMA; fwd / bwd: 0 when they ran, 1 when the caller
 * must use another path (workspace too small). */
int ss_cpu_conv_wg_match(const ss_op_args *a, int bwd);
int ss_cpu_conv_wg_available(void);
size_t ss_cpu_conv_wg_ws(const ss_op_args *a, int bwd);
int ss_cpu_conv_wg_fwd(const ss_op_args *a);
int ss_cpu_conv_wg_bwd(const ss_op_args *a);
/* Enables (default) or disables the path (tests; SEMISEG_CONV_WG=0). */
void ss_cpu_conv_set_wg(int on);
/* Number of passes the path ran (forward 1, backward 1). */
long ss_cpu_conv_wg_calls(void);
/* Frees every cached primitive (tests; the cache is rebuilt on demand). */
void ss_cpu_conv_cache_clear(void);

/* CONV / DECONV forward (a the op's call) with a ReLU post-op of negative
 * slope `slope` (0: ReLU, else LeakyReLU) inside the oneDNN primitive.
 * Returns 1 when this path does not handle the call (DECONV, the 1x1x1 and
 * kernel == stride GEMM shapes, no oneDNN plan, workspace too small: the
 * caller runs the plain forward and the activation itself), else 0 with the
 * status in *rc. ss_cpu_conv_ws_relu:
 * the workspace it needs; -1 when it would not handle such a call. */
int ss_cpu_conv_fwd_relu(const ss_op_args *a, float slope, int *rc);
int ss_cpu_conv_ws_relu(const ss_op_args *a, float slope, size_t *ws);

/* CONV_BN_ACT (kernels/ops/fused.c): batch norm folded into the weights and
 * bias at run time (in the workspace), activation as a post-op. */
int ss_cpu_conv_bn_act_fwd(const ss_op_args *a);
size_t ss_cpu_conv_bn_act_ws(const ss_op_args *a, int bwd);
/* The conv part of a CONV_BN_ACT call (kind, ip, x, w, [b], y, ws). */
void ss_cba_conv_args(const ss_op_args *a, ss_op_args *c);

/* Batch norm (training: batch statistics + running-stat update; evaluation). */
int ss_cpu_bn_train_fwd(const ss_op_args *a);
int ss_cpu_bn_train_bwd(const ss_op_args *a);
int ss_cpu_bn_eval_fwd(const ss_op_args *a);
/* BN_ACT: the BN_TRAIN fast path with the activation applied on the way out
 * and its mask (from the output) applied on the way in; bit-identical to the
 * BN_TRAIN and activation fast paths run in turn. */
int ss_cpu_bn_act_fwd(const ss_op_args *a);
int ss_cpu_bn_act_bwd(const ss_op_args *a);

/* ReLU. */
int ss_cpu_relu_fwd(const ss_op_args *a);
int ss_cpu_relu_bwd(const ss_op_args *a);

/* Leaky ReLU. */
int ss_cpu_leaky_relu_fwd(const ss_op_args *a);
int ss_cpu_leaky_relu_bwd(const ss_op_args *a);

/* Element-wise dropout (mode 0); channel mode uses the reference. */
int ss_cpu_dropout_fwd(const ss_op_args *a);
int ss_cpu_dropout_bwd(const ss_op_args *a);
/* Enables (default) or disables the AVX2 path (tests compare both). */
void ss_cpu_dropout_set_vector(int on);

/* UPSAMPLE (nearest and linear), forward and backward. */
int ss_cpu_upsample_fwd(const ss_op_args *a);
int ss_cpu_upsample_bwd(const ss_op_args *a);

/* MAXPOOL with kernel == stride and no padding; others use the reference. */
int ss_cpu_maxpool_fwd(const ss_op_args *a);
int ss_cpu_maxpool_bwd(const ss_op_args *a);

/* ADD / SUB / MUL of equal shapes; broadcasts and DIV use the reference. */
/* CE in float, one exponential per class and voxel (kernels/cpu/fast_loss.c). */
int ss_cpu_ce_fwd(const ss_op_args *a);
int ss_cpu_ce_bwd(const ss_op_args *a);

int ss_cpu_binary_fwd(const ss_op_args *a);
int ss_cpu_binary_bwd(const ss_op_args *a);

#endif
