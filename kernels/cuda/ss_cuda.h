/* Settings of the CUDA backend, callable from C in every build (with CUDA=0
 * they are stored and have no effect). The backend reads them at each op call,
 * so a change applies to the next call; cached convolution algorithms are keyed
 * by precision and determinism, so switching never reuses a stale choice.
 *
 * Precision modes (what each one changes; storage is always FP32):
 *   FP32  the reference: cuDNN convolutions with CUDNN_FMA_MATH (no tensor
 *         cores, no TF32), cuBLAS with CUBLAS_COMPUTE_32F_PEDANTIC.
 *   TF32  convolutions with CUDNN_TENSOR_OP_MATH and cuBLAS with
 *         CUBLAS_COMPUTE_32F_FAST_TF32: operands of conv/deconv/matmul/linear
 *         rounded to TF32 (10-bit mantissa) inside the tensor cores, FP32
 *         accumulation.
 *   BF16  matmul/linear with CUBLAS_COMPUTE_32F_FAST_16BF (BF16 tensor-core
 *         products, FP32 accumulation); conv/deconv operands are rounded to
 *         BF16 (round-to-nearest-even) into scratch copies and convolved with
 *         TF32 tensor-core math, which is exact for BF16 operands, so the
 *         numerics are those of a BF16 convolution with FP32 accumulation.
 * Every other op (norms, elementwise, reductions, losses) runs in FP32 with
 * double accumulators in all modes. Master weights stay FP32.
 *
 * Environment (read once when the backend starts):
 *   SS_CUDA_PRECISION=fp32|tf32|bf16   SS_CUDA_DETERMINISTIC=0|1
 *   SS_CUDA_WS_MB=<MiB of convolution workspace, default 512>
 *   SS_CUDA_LOG_ALGO=1  (log each convolution algorithm choice to stderr) */
#ifndef SS_CUDA_H
#define SS_CUDA_H

#include <stddef.h>
#include <stdio.h>

typedef enum ss_precision { SS_PREC_FP32 = 0, SS_PREC_TF32 = 1, SS_PREC_BF16 = 2 } ss_precision;

/* "fp32", "tf32", "bf16" (case-insensitive) -> *out; SS_ERR naming s otherwise. */
int ss_precision_parse(const char *s, ss_precision *out);
const char *ss_precision_name(ss_precision p);

int ss_cuda_set_precision(ss_precision p);
ss_precision ss_cuda_precision(void);
/* 1: convolutions use only algorithms cuDNN reports as deterministic (and
 * every own kernel is deterministic in any mode). */
void ss_cuda_set_deterministic(int on);
int ss_cuda_deterministic(void);
/* Upper bound of the one convolution workspace shared by every layer. */
int ss_cuda_set_workspace_limit(size_t bytes);
size_t ss_cuda_workspace_limit(void);
/* Where the chosen convolution algorithm is logged, once per parameter set
 * (NULL = not logged, the default). */
void ss_cuda_set_algo_log(FILE *f);
FILE *ss_cuda_algo_log(void);
/* Applies the SS_CUDA_* environment variables above; SS_ERR on a bad value. */
int ss_cuda_config_from_env(void);

#endif
