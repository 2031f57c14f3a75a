/* SORT and RANK on the GPU: one stable LSD radix sort (CUB) of 64-bit keys
 * (row << 32 | order key of the value) with the element index as payload, so
 * rows stay apart and ties keep index order, as the CPU's stable merge sort.
 * The order key maps floats to unsigned integers monotonically with -0 == +0
 * and every NaN equal and above +inf (torch.sort's order); descending sorts
 * use the bitwise complement, which reverses the order and keeps ties stable. */
#include "cu_common.h"

#include <cub/device/device_radix_sort.cuh>
#include <limits.h>

static __device__ __forceinline__ uint32_t order_key(float f, int desc)
{
    uint32_t u;
    if (isnan(f)) {
        u = 0xffffffffu;
    } else {
        if (f == 0.f)
            f = 0.f; /* -0 -> +0 */
        u = __float_as_uint(f);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    }
    return desc ? ~u : u;
}

__global__ void k_sort_keys(const float *x, int64_t M, int64_t N, int desc, uint64_t *keys,
                            int32_t *vals)
{
    CU_FOR(i, M * N)
    {
        int64_t r = i / N, c = i % N;
        keys[i] = ((uint64_t)r << 32) | order_key(x[i], desc);
        vals[i] = (int32_t)c;
    }
}

__global__ void k_sort_out(const float *x, const int32_t *idx, int64_t M, int64_t N, int rank,
                           float *y)
{
    CU_FOR(p, M * N)
    {
        int64_t r = p / N, pos = p % N, i = idx[p];
        if (rank)
            y[r * N + i] = (float)(pos + 1);
        else
            y[p] = x[r * N + i];
    }
}

static int sort_run(const ss_op_args *a, int rank)
{
    int64_t M = a->xs[0].d[0], N = a->xs[0].d[1], n = M * N;
    if (n > INT_MAX || M > (int64_t)UINT32_MAX)
        return ss_op_err(rank ? "rank" : "sort", a->n_in, a->xs,
                         "%lld elements exceed the GPU sort's limit of %d", (long long)n, INT_MAX);
    int end_bit = 32;
    while (end_bit < 64 && ((uint64_t)(M - 1) >> (end_bit - 32)) != 0)
        end_bit++;
    size_t temp = 0;
    CU_CHECK(cub::DeviceRadixSort::SortPairs(NULL, temp, (const uint64_t *)NULL, (uint64_t *)NULL,
                                             (const int32_t *)NULL, (int32_t *)NULL, (int)n, 0,
                                             end_bit, cu_stream()));
    size_t kb = ((size_t)n * sizeof(uint64_t) + 255) & ~(size_t)255;
    size_t vb = ((size_t)n * sizeof(int32_t) + 255) & ~(size_t)255;
    void *p;
    if (cu_scratch(2 * kb + 2 * vb + temp, &p) != SS_OK)
        return SS_ERR;
    char *c = (char *)p;
    uint64_t *k_in = (uint64_t *)c, *k_out = (uint64_t *)(c + kb);
    int32_t *v_in = (int32_t *)(c + 2 * kb), *v_out = (int32_t *)(c + 2 * kb + vb);
    void *tmp = c + 2 * kb + 2 * vb;
    k_sort_keys<<<cu_blocks(n), CU_THREADS, 0, cu_stream()>>>(a->x[0], M, N, a->ip[0], k_in, v_in);
    CU_LAUNCHED("k_sort_keys");
    CU_CHECK(cub::DeviceRadixSort::SortPairs(tmp, temp, k_in, k_out, v_in, v_out, (int)n, 0,
                                             end_bit, cu_stream()));
    k_sort_out<<<cu_blocks(n), CU_THREADS, 0, cu_stream()>>>(a->x[0], v_out, M, N, rank, a->y[0]);
    CU_LAUNCHED("k_sort_out");
    return SS_OK;
}

int cu_sort_run(const ss_op_args *a, int bwd)
{
    if (a->kind != SS_OP_SORT && a->kind != SS_OP_RANK)
        return 1;
    if (bwd)
        return ss_op_err(ss_op_name(a->kind), a->n_in, a->xs, "has no gradient");
    return sort_run(a, a->kind == SS_OP_RANK);
}
