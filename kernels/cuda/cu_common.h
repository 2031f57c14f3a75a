/* Internal header of the CUDA backend: error macros, the shared handles and
 * scratch buffers, launch helpers and the per-family op entry points. Every
 * function here runs its work on cu_stream() and reports failures through
 * ss_seterr (naming the call, file and line) with an SS_ERR return. */
#ifndef SS_CU_COMMON_H
#define SS_CU_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdint.h>

extern "C" {
#include "../error.h"
#include "../op.h"
#include "ss_cuda.h"
}

#define CU_CHECK(call)                                                                         \
    do {                                                                                       \
        cudaError_t cu_e_ = (call);                                                            \
        if (cu_e_ != cudaSuccess)                                                              \
            return ss_seterr("CUDA %s failed: %s (%s:%d)", #call, cudaGetErrorString(cu_e_),   \
                             __FILE__, __LINE__);                                              \
    } while (0)

#define CUDNN_CHECK(call)                                                                      \
    do {                                                                                       \
        cudnnStatus_t cu_s_ = (call);                                                          \
        if (cu_s_ != CUDNN_STATUS_SUCCESS)                                                     \
            return ss_seterr("cuDNN %s failed: %s (%s:%d)", #call, cudnnGetErrorString(cu_s_), \
                             __FILE__, __LINE__);                                              \
    } while (0)

#define CUBLAS_CHECK(call)                                                                     \
    do {                                                                                       \
        cublasStatus_t cu_b_ = (call);                                                         \
        if (cu_b_ != CUBLAS_STATUS_SUCCESS)                                                    \
            return ss_seterr("cuBLAS %s failed: %s (%s:%d)", #call,                            \
                             cublasGetStatusString(cu_b_), __FILE__, __LINE__);                \
    } while (0)

/* After a kernel launch: a launch-configuration error names the kernel. */
#define CU_LAUNCHED(name)                                                                      \
    do {                                                                                       \
        cudaError_t cu_e_ = cudaGetLastError();                                                \
        if (cu_e_ != cudaSuccess)                                                              \
            return ss_seterr("CUDA launch of %s failed: %s (%s:%d)", name,                     \
                             cudaGetErrorString(cu_e_), __FILE__, __LINE__);                   \
    } while (0)

#define CU_THREADS 256

/* Blocks for a grid-stride loop over n items (at least 1). */
static inline unsigned cu_blocks(int64_t n)
{
    int64_t b = (n + CU_THREADS - 1) / CU_THREADS;
    if (b < 1)
        b = 1;
    if (b > 65535 * 8)
        b = 65535 * 8;
    return (unsigned)b;
}

#define CU_FOR(i, n)                                                                           \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                  \
         i += (int64_t)blockDim.x * gridDim.x)

/* Handles and state owned by backend_cuda.cu (valid once the backend is up). */
cudaStream_t cu_stream(void);
cudnnHandle_t cu_cudnn(void);
cublasHandle_t cu_cublas(void);
/* Scratch device memory of at least `bytes`, valid until the next cu_scratch
 * call (one stream orders every use). Grows by reallocation. */
int cu_scratch(size_t bytes, void **p);
/* The convolution workspace (bounded by ss_cuda_workspace_limit()). */
int cu_conv_ws(size_t bytes, void **p);
/* A second scratch for rounded (BF16-mode) operand copies. */
int cu_round_scratch(size_t bytes, void **p);
/* Copies n ints from the device and waits; used by the few ops whose CPU
 * reference reports data-dependent errors (CE, MSE, BN_EVAL). */
int cu_read_ints(const int *dev, int *host, int n);

/* Sum over a block (blockDim.x a multiple of 32, at most 1024) of one double
 * per thread, in a fixed order; every thread gets the result. */
static __device__ __forceinline__ double cu_block_sum(double v)
{
    __shared__ double part[32];
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    __syncthreads(); /* part[] may still be read by a previous call */
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    const unsigned nw = blockDim.x >> 5;
    double t = 0;
    if (warp == 0) {
        t = lane < nw ? part[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1)
            t += __shfl_down_sync(0xffffffffu, t, o);
        if (lane == 0)
            part[0] = t;
    }
    __syncthreads();
    return part[0];
}

/* Deterministic per-row double sums: rows of `len` contiguous floats, row r
 * starting at r*len, summed in chunks of CU_ROW_CHUNK (one block each) whose
 * partials are added in chunk order. `part` is caller scratch of
 * cu_row_part_count(rows, len) doubles.
 * out[r] (and out[rows + r] for CU_ROW_DY_XH) = sum over row r of:
 *  SUM     a                                  (b, mean, istd unused)
 *  SQDEV   (a - mean[g])^2
 *  DY_XH   a (= dy) and a * (b - mean[g]) * istd[g]  (b = x)
 * with g = group of row r: bn != 0: r % C; else (r / C) * G + (r % C) / (C / G). */
enum { CU_ROW_SUM = 0, CU_ROW_SQDEV = 1, CU_ROW_DY_XH = 2 };
#define CU_ROW_CHUNK 16384
int64_t cu_row_part_count(int64_t rows, int64_t len);
int cu_row_sums(int mode, const float *a, const float *b, int64_t rows, int64_t len, int C,
                int G, int bn, const double *mean, const double *istd, double *part,
                double *out);

/* A "box" reduction: each element j of a small shape sums a term over the box
 * of a big shape that maps onto it (the dims where small has size 1 and big
 * does not). Up to 3 address spaces (tensors) are tracked; fst[s][i] is the
 * stride of coordinate i in space s, rst[s][k] that of the k-th reduced dim. */
typedef struct cu_box {
    int small[5];
    int nr;
    int64_t rsize[5];
    int64_t fst[3][5], rst[3][5];
    int64_t count; /* elements per box */
} cu_box;

/* Row-major strides of d; broadcast = 1 zeroes the stride of size-1 dims. */
static inline void cu_strides(const int *d, int64_t *st, int broadcast)
{
    int64_t acc = 1;
    for (int i = 4; i >= 0; i--) {
        st[i] = broadcast && d[i] == 1 ? 0 : acc;
        acc *= d[i];
    }
}

/* Builds the box of small vs big; space s addresses a tensor whose (broadcast)
 * strides over big coordinates are sp[s] (nsp spaces). */
static inline cu_box cu_box_make(const int *small, const int *big, int nsp, int64_t sp[][5])
{
    cu_box b;
    b.nr = 0;
    b.count = 1;
    for (int i = 0; i < 5; i++) {
        b.small[i] = small[i];
        for (int s = 0; s < 3; s++)
            b.fst[s][i] = s < nsp ? sp[s][i] : 0;
        if (small[i] == 1 && big[i] > 1) {
            b.rsize[b.nr] = big[i];
            for (int s = 0; s < 3; s++)
                b.rst[s][b.nr] = s < nsp ? sp[s][i] : 0;
            b.nr++;
            b.count *= big[i];
        }
    }
    return b;
}

static __device__ __forceinline__ void cu_box_base(const cu_box &b, int64_t j, int64_t off[3])
{
    off[0] = off[1] = off[2] = 0;
    for (int i = 4; i >= 0; i--) {
        int64_t c = j % b.small[i];
        j /= b.small[i];
        off[0] += c * b.fst[0][i];
        off[1] += c * b.fst[1][i];
        off[2] += c * b.fst[2][i];
    }
}

static __device__ __forceinline__ void cu_box_at(const cu_box &b, const int64_t base[3],
                                                 int64_t t, int64_t off[3])
{
    off[0] = base[0];
    off[1] = base[1];
    off[2] = base[2];
    for (int k = b.nr - 1; k >= 0; k--) {
        int64_t c = t % b.rsize[k];
        t /= b.rsize[k];
        off[0] += c * b.rst[0][k];
        off[1] += c * b.rst[1][k];
        off[2] += c * b.rst[2][k];
    }
}

/* out[j] = scale * sum over the box of term(off) for j < nsmall. */
template <class T>
__global__ void cu_box_thread(cu_box b, int64_t nsmall, T term, double scale, float *out)
{
    CU_FOR(j, nsmall)
    {
        int64_t base[3], off[3];
        cu_box_base(b, j, base);
        double s = 0;
        for (int64_t t = 0; t < b.count; t++) {
            cu_box_at(b, base, t, off);
            s += term(off);
        }
        out[j] = (float)(s * scale);
    }
}

template <class T>
__global__ void cu_box_block(cu_box b, int64_t nsmall, T term, double scale, float *out)
{
    for (int64_t j = blockIdx.x; j < nsmall; j += gridDim.x) {
        int64_t base[3], off[3];
        cu_box_base(b, j, base);
        double s = 0;
        for (int64_t t = threadIdx.x; t < b.count; t += blockDim.x) {
            cu_box_at(b, base, t, off);
            s += term(off);
        }
        s = cu_block_sum(s);
        if (threadIdx.x == 0)
            out[j] = (float)(s * scale);
    }
}

/* Runs the box reduction with one thread per output when boxes are small,
 * one block per output when they are large. */
template <class T>
static int cu_box_run(const cu_box &b, int64_t nsmall, T term, double scale, float *out,
                      cudaStream_t st)
{
    if (nsmall <= 0)
        return SS_OK;
    if (b.count >= 2048 || (b.count >= 64 && nsmall < 4096)) {
        int64_t nb = nsmall < 65535 * 16 ? nsmall : 65535 * 16;
        cu_box_block<T><<<(unsigned)nb, CU_THREADS, 0, st>>>(b, nsmall, term, scale, out);
    } else {
        cu_box_thread<T><<<cu_blocks(nsmall), CU_THREADS, 0, st>>>(b, nsmall, term, scale, out);
    }
    CU_LAUNCHED("box reduction");
    return SS_OK;
}

/* Fills n floats with v. */
int cu_fill(float *p, float v, int64_t n);

/* Family entry points: SS_OK, SS_ERR, or 1 = kind not handled by this family. */
int cu_conv_run(const ss_op_args *a, int bwd);
int cu_elementwise_run(const ss_op_args *a, int bwd);
int cu_reduce_run(const ss_op_args *a, int bwd);
int cu_norm_run(const ss_op_args *a, int bwd);
int cu_pool_run(const ss_op_args *a, int bwd);
int cu_shape_run(const ss_op_args *a, int bwd);
int cu_matmul_run(const ss_op_args *a, int bwd);
int cu_sort_run(const ss_op_args *a, int bwd);
int cu_loss_run(const ss_op_args *a, int bwd);

#endif
