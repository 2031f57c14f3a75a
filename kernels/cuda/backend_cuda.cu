/* The CUDA backend: device detection and start-up (stream, cuDNN and cuBLAS
 * handles), arenas (one cudaMalloc each, never managed memory), transfers,
 * dispatch of op calls to the family files, and the node brackets (NVTX
 * ranges, CUDA-event timing) used by the graph executor.
 *
 * Activation layout: tensors are NCDHW on the device exactly as on the host
 * (cuDNN is given NCDHW descriptors); kernels/layout.h and layout.cu provide
 * the NCDHW <-> NDHWC conversions for a channels-last convolution path. */
#include "cu_common.h"

#include <nvtx3/nvToolsExt.h>
#include <stdio.h>
#include <time.h>

extern "C" {
#include "../backend.h"
}

static struct {
    int state; /* 0 not tried, 1 up, -1 failed */
    char why[512];
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    cudaEvent_t ev0, ev1;
    void *scratch, *convws, *rounds;
    size_t scratch_n, convws_n, rounds_n;
} g;

cudaStream_t cu_stream(void) { return g.stream; }
cudnnHandle_t cu_cudnn(void) { return g.cudnn; }
cublasHandle_t cu_cublas(void) { return g.cublas; }

/* Grows *buf to at least bytes (rounded up to 1 MiB); waits for the stream
 * before freeing the old buffer, since queued kernels may still read it. */
static int grow(void **buf, size_t *have, size_t bytes, const char *what)
{
    if (bytes <= *have && *buf)
        return SS_OK;
    size_t want = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
    if (want == 0)
        want = (size_t)1 << 20;
    if (*buf) {
        CU_CHECK(cudaStreamSynchronize(g.stream));
        CU_CHECK(cudaFree(*buf));
        *buf = NULL;
        *have = 0;
    }
    cudaError_t e = cudaMalloc(buf, want);
    if (e != cudaSuccess) {
        *buf = NULL;
        return ss_seterr("CUDA cudaMalloc of %zu bytes for the %s failed: %s (%s:%d)", want, what,
                         cudaGetErrorString(e), __FILE__, __LINE__);
    }
    *have = want;
    return SS_OK;
}

int cu_scratch(size_t bytes, void **p)
{
    if (grow(&g.scratch, &g.scratch_n, bytes, "op scratch") != SS_OK)
        return SS_ERR;
    *p = g.scratch;
    return SS_OK;
}

int cu_conv_ws(size_t bytes, void **p)
{
    size_t lim = ss_cuda_workspace_limit();
    if (bytes > lim)
        return ss_seterr("convolution workspace of %zu bytes exceeds the limit of %zu bytes "
                         "(SS_CUDA_WS_MB)", bytes, lim);
    if (bytes == 0) {
        *p = NULL;
        return SS_OK;
    }
    if (grow(&g.convws, &g.convws_n, bytes, "convolution workspace") != SS_OK)
        return SS_ERR;
    *p = g.convws;
    return SS_OK;
}

int cu_round_scratch(size_t bytes, void **p)
{
    if (grow(&g.rounds, &g.rounds_n, bytes, "BF16 operand scratch") != SS_OK)
        return SS_ERR;
    *p = g.rounds;
    return SS_OK;
}

int cu_read_ints(const int *dev, int *host, int n)
{
    CU_CHECK(cudaMemcpyAsync(host, dev, (size_t)n * sizeof(int), cudaMemcpyDeviceToHost,
                             g.stream));
    CU_CHECK(cudaStreamSynchronize(g.stream));
    return SS_OK;
}

__global__ void k_fill(float *p, float v, int64_t n)
{
    CU_FOR(i, n) p[i] = v;
}

int cu_fill(float *p, float v, int64_t n)
{
    if (n <= 0)
        return SS_OK;
    k_fill<<<cu_blocks(n), CU_THREADS, 0, g.stream>>>(p, v, n);
    CU_LAUNCHED("k_fill");
    return SS_OK;
}

/* ---- backend table ------------------------------------------------------- */

static int be_alloc(size_t bytes, void **mem)
{
    *mem = NULL;
    if (bytes == 0)
        bytes = 256;
    cudaError_t e = cudaMalloc(mem, bytes);
    if (e != cudaSuccess) {
        *mem = NULL;
        return ss_seterr("cuda backend: cannot allocate an arena of %zu bytes: %s", bytes,
                         cudaGetErrorString(e));
    }
    return SS_OK;
}

static void be_free(void *mem)
{
    if (mem) {
        cudaStreamSynchronize(g.stream);
        cudaFree(mem);
    }
}

static int be_upload(void *dst, const float *src, size_t n)
{
    CU_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, g.stream));
    /* the host buffer may be reused as soon as we return */
    CU_CHECK(cudaStreamSynchronize(g.stream));
    return SS_OK;
}

static int be_download(float *dst, const void *src, size_t n)
{
    CU_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, g.stream));
    CU_CHECK(cudaStreamSynchronize(g.stream));
    return SS_OK;
}

static int be_fill(void *dst, float v, size_t n) { return cu_fill((float *)dst, v, (int64_t)n); }

static int be_sync(void)
{
    CU_CHECK(cudaStreamSynchronize(g.stream));
    return SS_OK;
}

static double be_now(void)
{
    cudaStreamSynchronize(g.stream);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int be_run(const ss_op_args *a, int bwd, int ref)
{
    (void)ref; /* the GPU kernels are the only path; ref selects nothing here */
    const ss_op_desc *d = ss_op_get(a->kind);
    if (bwd && !d->bwd)
        return ss_op_err(d->name, a->n_in, a->xs, "backward (op is not differentiable)");
    int (*fam[])(const ss_op_args *, int) = {cu_conv_run,    cu_elementwise_run, cu_reduce_run,
                                              cu_norm_run,    cu_pool_run,        cu_shape_run,
                                              cu_matmul_run,  cu_sort_run,        cu_loss_run};
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) {
        int rc = fam[i](a, bwd);
        if (rc != 1)
            return rc;
    }
    return ss_op_err(d->name, a->n_in, a->xs, "%s is not available on the CUDA backend",
                     bwd ? "backward" : "forward");
}

static void be_node_begin(const char *label, int timed)
{
    nvtxRangePushA(label);
    if (timed)
        cudaEventRecord(g.ev0, g.stream);
}

static double be_node_end(int timed)
{
    double s = 0;
    if (timed) {
        float ms = 0;
        cudaError_t e = cudaEventRecord(g.ev1, g.stream);
        if (e == cudaSuccess)
            e = cudaEventSynchronize(g.ev1);
        if (e == cudaSuccess)
            e = cudaEventElapsedTime(&ms, g.ev0, g.ev1);
        if (e != cudaSuccess) {
            nvtxRangePop();
            ss_seterr("CUDA event timing failed: %s (%s:%d)", cudaGetErrorString(e), __FILE__,
                      __LINE__);
            return -1;
        }
        s = 1e-3 * (double)ms;
    }
    nvtxRangePop();
    return s;
}

static const ss_backend g_cuda = {
    "cuda",        0,          be_alloc, be_free, be_upload,     be_download,
    be_fill,       be_sync,    be_run,   be_now,  be_node_begin, be_node_end,
};

/* ---- start-up ------------------------------------------------------------- */

static int start(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return ss_seterr("no CUDA device (%s)",
                         e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    if (ss_cuda_config_from_env() != SS_OK)
        return SS_ERR;
    CU_CHECK(cudaSetDevice(0));
    CU_CHECK(cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking));
    CU_CHECK(cudaEventCreate(&g.ev0));
    CU_CHECK(cudaEventCreate(&g.ev1));
    CUDNN_CHECK(cudnnCreate(&g.cudnn));
    CUDNN_CHECK(cudnnSetStream(g.cudnn, g.stream));
    CUBLAS_CHECK(cublasCreate(&g.cublas));
    CUBLAS_CHECK(cublasSetStream(g.cublas, g.stream));
    CUBLAS_CHECK(cublasSetPointerMode(g.cublas, CUBLAS_POINTER_MODE_HOST));
    return SS_OK;
}

extern "C" const ss_backend *ss_backend_cuda(void)
{
    if (g.state == 0) {
        g.state = start() == SS_OK ? 1 : -1;
        if (g.state < 0)
            snprintf(g.why, sizeof g.why, "%s", semiseg_error());
    }
    if (g.state < 0) {
        ss_seterr("%s", g.why);
        return NULL;
    }
    return &g_cuda;
}
