/* Dense products and feature normalisation on the GPU: MATMUL and LINEAR
 * through cuBLAS (compute type from the precision mode; see ss_cuda.h), L2NORM
 * and COSSIM with own kernels in double (kernels/ops/matmul.c and
 * similarity.c give the semantics).
 *
 * Row-major <-> column-major: a row-major (r x c) matrix is, read column-major,
 * its transpose (c x r) with leading dimension c. So a row-major
 * C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T, i.e.
 * cublasGemmEx(opB, opA, N, M, K, B, ldb = cols(B), A, lda = cols(A), C, ldc = N). */
#include "cu_common.h"

#include <math.h>

static cublasComputeType_t compute_type(void)
{
    switch (ss_cuda_precision()) {
    case SS_PREC_TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case SS_PREC_BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    default: return CUBLAS_COMPUTE_32F_PEDANTIC;
    }
}

/* Row-major C (M x N) = op(A) op(B), op(A) M x K, op(B) K x N; ca, cb the
 * stored column counts of A and B. */
static int rm_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t ca,
                   const float *B, int64_t cb, float *C)
{
    if (M <= 0 || N <= 0)
        return SS_OK;
    if (K <= 0)
        return cu_fill(C, 0.f, M * N);
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return ss_seterr("matmul: a dimension exceeds cuBLAS's int range (%lld x %lld x %lld)",
                         (long long)M, (long long)N, (long long)K);
    const float one = 1.f, zero = 0.f;
    CUBLAS_CHECK(cublasGemmEx(cu_cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                              ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, B,
                              CUDA_R_32F, (int)cb, A, CUDA_R_32F, (int)ca, &zero, C, CUDA_R_32F,
                              (int)N, compute_type(), CUBLAS_GEMM_DEFAULT));
    return SS_OK;
}

static int matmul_run(const ss_op_args *a, int bwd)
{
    int ta = a->ip[0], tb = a->ip[1];
    int64_t ra = a->xs[0].d[0], ca = a->xs[0].d[1], rb = a->xs[1].d[0], cb = a->xs[1].d[1];
    int64_t m = ta ? ca : ra, k = ta ? ra : ca, n = tb ? rb : cb;
    const float *A = a->x[0], *B = a->x[1], *G = a->gy[0];
    if (!bwd)
        return rm_gemm(ta, tb, m, n, k, A, ca, B, cb, a->y[0]);
    if (a->gx[0]) {
        if (!G) {
            if (cu_fill(a->gx[0], 0.f, ra * ca) != SS_OK)
                return SS_ERR;
        } else if (!ta) { /* GA (m x k) = G op(b)^T */
            if (rm_gemm(0, !tb, m, k, n, G, n, B, cb, a->gx[0]) != SS_OK)
                return SS_ERR;
        } else { /* GA (k x m) = op(b) G^T */
            if (rm_gemm(tb, 1, k, m, n, B, cb, G, n, a->gx[0]) != SS_OK)
                return SS_ERR;
        }
    }
    if (a->gx[1]) {
        if (!G) {
            if (cu_fill(a->gx[1], 0.f, rb * cb) != SS_OK)
                return SS_ERR;
        } else if (!tb) { /* GB (k x n) = op(a)^T G */
            if (rm_gemm(!ta, 0, k, n, m, A, ca, G, n, a->gx[1]) != SS_OK)
                return SS_ERR;
        } else { /* GB (n x k) = G^T op(a) */
            if (rm_gemm(1, ta, n, k, m, G, n, A, ca, a->gx[1]) != SS_OK)
                return SS_ERR;
        }
    }
    return SS_OK;
}

__global__ void k_add_rowvec(float *y, const float *b, int64_t rows, int64_t cols)
{
    CU_FOR(i, rows * cols) y[i] += b[i % cols];
}

/* db[o] = sum_n G[n, o] in double. */
__global__ void k_col_sums(const float *G, float *db, int64_t rows, int64_t cols)
{
    CU_FOR(o, cols)
    {
        double s = 0;
        for (int64_t r = 0; r < rows; r++)
            s += G[r * cols + o];
        db[o] = (float)s;
    }
}

static int linear_run(const ss_op_args *a, int bwd)
{
    int64_t nb = a->xs[0].d[0], f = (int64_t)a->xs[0].d[1] * ss_spatial(&a->xs[0]);
    int64_t no = a->xs[1].d[0];
    const float *X = a->x[0], *W = a->x[1], *G = a->gy[0];
    if (!bwd) {
        if (rm_gemm(0, 1, nb, no, f, X, f, W, f, a->y[0]) != SS_OK)
            return SS_ERR;
        if (a->n_in > 2) {
            k_add_rowvec<<<cu_blocks(nb * no), CU_THREADS, 0, cu_stream()>>>(a->y[0], a->x[2], nb,
                                                                             no);
            CU_LAUNCHED("k_add_rowvec");
        }
        return SS_OK;
    }
    float *GX = a->gx[0], *GW = a->gx[1], *GB = a->n_in > 2 ? a->gx[2] : NULL;
    if (!G) {
        if ((GX && cu_fill(GX, 0.f, nb * f) != SS_OK) || (GW && cu_fill(GW, 0.f, no * f) != SS_OK) ||
            (GB && cu_fill(GB, 0.f, no) != SS_OK))
            return SS_ERR;
        return SS_OK;
    }
    if (GX && rm_gemm(0, 0, nb, f, no, G, no, W, f, GX) != SS_OK)
        return SS_ERR;
    if (GW && rm_gemm(1, 0, no, f, nb, G, no, X, f, GW) != SS_OK)
        return SS_ERR;
    if (GB) {
        k_col_sums<<<cu_blocks(no), CU_THREADS, 0, cu_stream()>>>(G, GB, nb, no);
        CU_LAUNCHED("k_col_sums");
    }
    return SS_OK;
}

/* ---- L2NORM over C ---------------------------------------------------------------- */

__global__ void k_l2_fwd(const float *X, float *Y, int64_t cols, int64_t C, int64_t S, double eps)
{
    CU_FOR(col, cols)
    {
        int64_t base = (col / S) * C * S + col % S;
        double ss = 0;
        for (int64_t k = 0; k < C; k++)
            ss += (double)X[base + k * S] * X[base + k * S];
        double den = fmax(sqrt(ss), eps);
        for (int64_t k = 0; k < C; k++)
            Y[base + k * S] = (float)(X[base + k * S] / den);
    }
}

__global__ void k_l2_bwd(const float *X, const float *G, float *GX, int64_t cols, int64_t C,
                         int64_t S, double eps)
{
    CU_FOR(col, cols)
    {
        int64_t base = (col / S) * C * S + col % S;
        double ss = 0, gdx = 0;
        for (int64_t k = 0; k < C; k++) {
            double x = X[base + k * S];
            ss += x * x;
            gdx += (double)G[base + k * S] * x;
        }
        double r = sqrt(ss);
        if (r >= eps) {
            double r3 = r * r * r;
            for (int64_t k = 0; k < C; k++)
                GX[base + k * S] = (float)(G[base + k * S] / r - X[base + k * S] * gdx / r3);
        } else {
            for (int64_t k = 0; k < C; k++)
                GX[base + k * S] = (float)(G[base + k * S] / eps);
        }
    }
}

static int l2norm_run(const ss_op_args *a, int bwd)
{
    int64_t C = a->xs[0].d[1], S = ss_spatial(&a->xs[0]), cols = (int64_t)a->xs[0].d[0] * S;
    double eps = a->fp[0] == 0.f ? 1e-12 : (double)a->fp[0];
    if (!bwd) {
        k_l2_fwd<<<cu_blocks(cols), CU_THREADS, 0, cu_stream()>>>(a->x[0], a->y[0], cols, C, S,
                                                                  eps);
        CU_LAUNCHED("k_l2_fwd");
        return SS_OK;
    }
    if (!a->gx[0])
        return SS_OK;
    if (!a->gy[0])
        return cu_fill(a->gx[0], 0.f, ss_numel(&a->xs[0]));
    k_l2_bwd<<<cu_blocks(cols), CU_THREADS, 0, cu_stream()>>>(a->x[0], a->gy[0], a->gx[0], cols, C,
                                                              S, eps);
    CU_LAUNCHED("k_l2_bwd");
    return SS_OK;
}

/* ---- COSSIM ------------------------------------------------------------------------ */

__global__ void k_row_norms(const float *P, int64_t rows, int64_t K, double *out)
{
    CU_FOR(r, rows)
    {
        double s = 0;
        for (int64_t i = 0; i < K; i++)
            s += (double)P[r * K + i] * P[r * K + i];
        out[r] = sqrt(s);
    }
}

static __device__ __forceinline__ double dotk(const float *p, const float *q, int64_t K)
{
    double s = 0;
    for (int64_t i = 0; i < K; i++)
        s += (double)p[i] * q[i];
    return s;
}

__global__ void k_cs_fwd(const float *A, const float *B, const double *na, const double *nb,
                         float *Y, int64_t M, int64_t N, int64_t K, double eps)
{
    CU_FOR(ij, M * N)
    {
        int64_t i = ij / N, j = ij % N;
        Y[ij] = (float)(dotk(A + i * K, B + j * K, K) / fmax(na[i] * nb[j], eps));
    }
}

/* d[u] = sum over unclamped pairs r of g(u, r) * (u.v_r / p) / ||u||^2. */
__global__ void k_cs_d(const float *U, const double *nu, const float *V, const double *nv,
                       const float *G, int64_t gsu, int64_t gsr, int64_t RU, int64_t RV, int64_t K,
                       double eps, double *d)
{
    CU_FOR(u, RU)
    {
        double s = 0;
        for (int64_t r = 0; r < RV; r++) {
            double p = nu[u] * nv[r];
            if (p >= eps)
                s += (double)G[u * gsu + r * gsr] * (dotk(U + u * K, V + r * K, K) / p) /
                     (nu[u] * nu[u]);
        }
        d[u] = s;
    }
}

/* gu[u, t] = sum_r g(u, r) / max(p, eps) * v_r[t] - d[u] * u[t]. */
__global__ void k_cs_grad(const float *U, const double *nu, const float *V, const double *nv,
                          const float *G, int64_t gsu, int64_t gsr, int64_t RU, int64_t RV,
                          int64_t K, double eps, const double *d, float *GU)
{
    CU_FOR(ut, RU * K)
    {
        int64_t u = ut / K, t = ut % K;
        double s = 0;
        for (int64_t r = 0; r < RV; r++) {
            double p = nu[u] * nv[r];
            s += (double)G[u * gsu + r * gsr] / (p >= eps ? p : eps) * V[r * K + t];
        }
        GU[ut] = (float)(s - d[u] * U[ut]);
    }
}

static int cossim_run(const ss_op_args *a, int bwd)
{
    int64_t M = a->xs[0].d[0], N = a->xs[1].d[0], K = a->xs[0].d[1];
    double eps = a->fp[0] == 0.f ? 1e-8 : (double)a->fp[0];
    float *GA = bwd ? a->gx[0] : NULL, *GB = bwd ? a->gx[1] : NULL;
    if (bwd && !GA && !GB)
        return SS_OK;
    if (bwd && !a->gy[0]) {
        if ((GA && cu_fill(GA, 0.f, M * K) != SS_OK) || (GB && cu_fill(GB, 0.f, N * K) != SS_OK))
            return SS_ERR;
        return SS_OK;
    }
    void *p;
    int64_t dn = M > N ? M : N;
    if (cu_scratch((size_t)(M + N + dn) * sizeof(double), &p) != SS_OK)
        return SS_ERR;
    double *na = (double *)p, *nb = na + M, *d = nb + N;
    cudaStream_t st = cu_stream();
    k_row_norms<<<cu_blocks(M), CU_THREADS, 0, st>>>(a->x[0], M, K, na);
    CU_LAUNCHED("k_row_norms");
    k_row_norms<<<cu_blocks(N), CU_THREADS, 0, st>>>(a->x[1], N, K, nb);
    CU_LAUNCHED("k_row_norms");
    const float *A = a->x[0], *B = a->x[1], *G = a->gy[0];
    if (!bwd) {
        k_cs_fwd<<<cu_blocks(M * N), CU_THREADS, 0, st>>>(A, B, na, nb, a->y[0], M, N, K, eps);
        CU_LAUNCHED("k_cs_fwd");
        return SS_OK;
    }
    if (GA) { /* g(i, r) = G[i*N + r] */
        k_cs_d<<<cu_blocks(M), CU_THREADS, 0, st>>>(A, na, B, nb, G, N, 1, M, N, K, eps, d);
        CU_LAUNCHED("k_cs_d");
        k_cs_grad<<<cu_blocks(M * K), CU_THREADS, 0, st>>>(A, na, B, nb, G, N, 1, M, N, K, eps, d,
                                                           GA);
        CU_LAUNCHED("k_cs_grad");
    }
    if (GB) { /* g(j, r) = G[r*N + j] */
        k_cs_d<<<cu_blocks(N), CU_THREADS, 0, st>>>(B, nb, A, na, G, 1, N, N, M, K, eps, d);
        CU_LAUNCHED("k_cs_d");
        k_cs_grad<<<cu_blocks(N * K), CU_THREADS, 0, st>>>(B, nb, A, na, G, 1, N, N, M, K, eps, d,
                                                           GB);
        CU_LAUNCHED("k_cs_grad");
    }
    return SS_OK;
}

int cu_matmul_run(const ss_op_args *a, int bwd)
{
    switch (a->kind) {
    case SS_OP_MATMUL: return matmul_run(a, bwd);
    case SS_OP_LINEAR: return linear_run(a, bwd);
    case SS_OP_L2NORM: return l2norm_run(a, bwd);
    case SS_OP_COSSIM: return cossim_run(a, bwd);
    default: return 1;
    }
}
