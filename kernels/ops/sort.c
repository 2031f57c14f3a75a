/* Row-wise ordering of (M,N,1,1,1) tensors along dim 1: SORT writes the sorted
 * values, RANK the 1-based position each element takes in that order. The order
 * is ascending, or descending when ip[0] = 1; ties keep their original index
 * order (stable merge sort, O(N log N)). NaN counts as larger than every number
 * (last ascending, first descending, as torch.sort). Not differentiable. */
#include "../error.h"
#include "../op.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* ranks are stored as floats: exact only up to 2^24 */
#define SORT_MAX_N (1 << 24)

static int sort_infer_named(const char *name, const int *ip, int n_in, const ss_shape *in,
                            int *n_out, ss_shape *out)
{
    if (n_in != 1)
        return ss_op_err(name, n_in, in, "expected 1 input, got %d", n_in);
    if (!ss_shape_valid(&in[0]))
        return ss_op_err(name, n_in, in, "input has a dimension < 1");
    if (in[0].d[2] != 1 || in[0].d[3] != 1 || in[0].d[4] != 1)
        return ss_op_err(name, n_in, in, "input must be (M, N, 1, 1, 1)");
    if (in[0].d[1] > SORT_MAX_N)
        return ss_op_err(name, n_in, in, "rows longer than %d elements are not supported",
                         SORT_MAX_N);
    if (ip[0] != 0 && ip[0] != 1)
        return ss_op_err(name, n_in, in, "descending (ip[0] = %d) must be 0 or 1", ip[0]);
    *n_out = 1;
    out[0] = in[0];
    return SS_OK;
}

static int sort_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                      ss_shape *out)
{
    (void)fp;
    return sort_infer_named("sort", ip, n_in, in, n_out, out);
}

static int rank_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                      ss_shape *out)
{
    (void)fp;
    return sort_infer_named("rank", ip, n_in, in, n_out, out);
}

/* Scratch: an index permutation and a merge buffer per row. */
static size_t sort_ws(const ss_op_args *a, int bwd)
{
    (void)bwd;
    return 2 * (size_t)ss_numel(&a->xs[0]) * sizeof(int32_t);
}

/* 1 when u must come strictly before v (ascending: u < v; NaN is the largest). */
static inline int before(float u, float v, int desc)
{
    if (isnan(u) || isnan(v))
        return desc ? (isnan(u) && !isnan(v)) : (!isnan(u) && isnan(v));
    return desc ? u > v : u < v;
}

/* Stable bottom-up merge sort of the indices 0..n-1 of row x into idx. */
static void argsort_row(const float *x, int32_t n, int desc, int32_t *idx, int32_t *tmp)
{
    for (int32_t i = 0; i < n; i++)
        idx[i] = i;
    int32_t *src = idx, *dst = tmp;
    for (int32_t w = 1; w < n; w *= 2) {
        for (int32_t lo = 0; lo < n; lo += 2 * w) {
            int32_t mid = lo + w < n ? lo + w : n;
            int32_t hi = mid + w < n ? mid + w : n;
            int32_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                /* take from the right only when strictly before: keeps ties stable */
                dst[o++] = before(x[src[j]], x[src[i]], desc) ? src[j++] : src[i++];
            while (i < mid)
                dst[o++] = src[i++];
            while (j < hi)
                dst[o++] = src[j++];
        }
        int32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx)
        for (int32_t i = 0; i < n; i++)
            idx[i] = src[i];
}

static int sort_run(const ss_op_args *a, const char *name, int rank)
{
    int64_t m = a->xs[0].d[0];
    int32_t n = a->xs[0].d[1];
    int desc = a->ip[0];
    if (!a->ws || a->ws_size < sort_ws(a, 0))
        return ss_op_err(name, a->n_in, a->xs, "workspace of %zu bytes missing", sort_ws(a, 0));
    int32_t *ws = a->ws;
    const float *X = a->x[0];
    float *Y = a->y[0];
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < m; r++) {
        int32_t *idx = ws + 2 * r * n, *tmp = idx + n;
        const float *x = X + r * n;
        float *y = Y + r * n;
        argsort_row(x, n, desc, idx, tmp);
        for (int32_t p = 0; p < n; p++) {
            if (rank)
                y[idx[p]] = (float)(p + 1);
            else
                y[p] = x[idx[p]];
        }
    }
    return SS_OK;
}

static int sort_fwd(const ss_op_args *a) { return sort_run(a, "sort", 0); }
static int rank_fwd(const ss_op_args *a) { return sort_run(a, "rank", 1); }

/* comparisons: about N log2 N per row */
static double sort_flops(const ss_op_args *a)
{
    double m = a->xs[0].d[0], n = a->xs[0].d[1];
    return n > 1 ? m * n * ceil(log2(n)) : 0.0;
}

const ss_op_desc ss_desc_sort = {
    .name = "sort",
    .min_in = 1,
    .max_in = 1,
    .infer = sort_infer,
    .fwd = sort_fwd,
    .ws = sort_ws,
    .flops = sort_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0u,
};

const ss_op_desc ss_desc_rank = {
    .name = "rank",
    .min_in = 1,
    .max_in = 1,
    .infer = rank_infer,
    .fwd = rank_fwd,
    .ws = sort_ws,
    .flops = sort_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0u,
};
