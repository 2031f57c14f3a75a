/* Shape ops that move data without arithmetic.
 *   CONCAT  2..SS_MAX_IN inputs joined along axis ip[0] (0 = N, 1 = C); every
 *           other dim must match. Backward hands each input its part of gy.
 *   SLICE   the range [start ip[1], start + len ip[2]) of axis ip[0] (0 or 1);
 *           it must lie inside the input. Backward writes gy inside the range
 *           and zeros outside it.
 * In NCDHW order a tensor is `outer` blocks of (axis size * inner) elements,
 * outer = product of dims before the axis, inner = product after it; both ops
 * are block copies on that view. */
#include "../error.h"
#include "../op.h"

#include <stdint.h>
#include <string.h>

/* outer and inner element counts around axis `ax` of s. */
static void split_axis(const ss_shape *s, int ax, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < ax; i++)
        *outer *= s->d[i];
    for (int i = ax + 1; i < SS_NDIM; i++)
        *inner *= s->d[i];
}

static int concat_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                        ss_shape *out)
{
    (void)fp;
    if (n_in < 2 || n_in > SS_MAX_IN)
        return ss_op_err("concat", n_in < 0 ? 0 : n_in > SS_MAX_IN ? SS_MAX_IN : n_in, in,
                         "expected 2..%d inputs, got %d", SS_MAX_IN, n_in);
    const int ax = ip[0];
    if (ax != 0 && ax != 1)
        return ss_op_err("concat", n_in, in, "axis must be 0 (N) or 1 (C), got %d", ax);
    int64_t total = 0;
    for (int k = 0; k < n_in; k++) {
        if (!ss_shape_valid(&in[k]))
            return ss_op_err("concat", n_in, in, "input %d: every dim must be >= 1", k);
        for (int i = 0; i < SS_NDIM; i++)
            if (i != ax && in[k].d[i] != in[0].d[i])
                return ss_op_err("concat", n_in, in,
                                 "input %d differs from input 0 in dim %d (%d vs %d); only "
                                 "axis %d may differ",
                                 k, i, in[k].d[i], in[0].d[i], ax);
        total += in[k].d[ax];
    }
    if (total > INT32_MAX)
        return ss_op_err("concat", n_in, in, "joined axis too large (%lld)", (long long)total);
    out[0] = in[0];
    out[0].d[ax] = (int)total;
    *n_out = 1;
    return SS_OK;
}

/* Copies between the joined tensor Y and the pieces X[k]: to_y = 1 gathers
 * the pieces into Y (forward), 0 scatters Y back (backward; NULL pieces are
 * skipped). */
static void concat_copy(const ss_op_args *a, float *Y, float *const *X, int to_y)
{
    const int ax = a->ip[0];
    int64_t outer, inner;
    split_axis(&a->ys[0], ax, &outer, &inner);
    const int64_t yrow = (int64_t)a->ys[0].d[ax] * inner;
    int64_t off = 0; /* start of piece k inside one row of Y */
    for (int k = 0; k < a->n_in; k++) {
        const int64_t len = (int64_t)a->xs[k].d[ax] * inner;
        if (X[k]) {
            for (int64_t o = 0; o < outer; o++) {
                float *yp = Y + o * yrow + off, *xp = X[k] + o * len;
                if (to_y)
                    memcpy(yp, xp, (size_t)len * sizeof(float));
                else
                    memcpy(xp, yp, (size_t)len * sizeof(float));
            }
        }
        off += len;
    }
}

static int concat_fwd(const ss_op_args *a)
{
    concat_copy(a, a->y[0], a->x, 1);
    return SS_OK;
}

static int concat_bwd(const ss_op_args *a)
{
    concat_copy(a, a->gy[0], a->gx, 0);
    return SS_OK;
}

static int slice_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                       ss_shape *out)
{
    (void)fp;
    if (n_in != 1)
        return ss_op_err("slice", n_in < 0 ? 0 : n_in > SS_MAX_IN ? SS_MAX_IN : n_in, in,
                         "expected 1 input, got %d", n_in);
    if (!ss_shape_valid(&in[0]))
        return ss_op_err("slice", n_in, in, "every dim must be >= 1");
    const int ax = ip[0], start = ip[1], len = ip[2];
    if (ax != 0 && ax != 1)
        return ss_op_err("slice", n_in, in, "axis must be 0 (N) or 1 (C), got %d", ax);
    if (start < 0 || len < 1 || (int64_t)start + len > in[0].d[ax])
        return ss_op_err("slice", n_in, in,
                         "range start %d len %d must have start >= 0, len >= 1 and fit in "
                         "axis %d of size %d",
                         start, len, ax, in[0].d[ax]);
    out[0] = in[0];
    out[0].d[ax] = len;
    *n_out = 1;
    return SS_OK;
}

static int slice_fwd(const ss_op_args *a)
{
    const int ax = a->ip[0];
    int64_t outer, inner;
    split_axis(&a->xs[0], ax, &outer, &inner);
    const int64_t xrow = (int64_t)a->xs[0].d[ax] * inner, len = (int64_t)a->ip[2] * inner;
    const int64_t off = (int64_t)a->ip[1] * inner;
    for (int64_t o = 0; o < outer; o++)
        memcpy(a->y[0] + o * len, a->x[0] + o * xrow + off, (size_t)len * sizeof(float));
    return SS_OK;
}

static int slice_bwd(const ss_op_args *a)
{
    float *gx = a->gx[0];
    if (!gx)
        return SS_OK;
    const int ax = a->ip[0];
    int64_t outer, inner;
    split_axis(&a->xs[0], ax, &outer, &inner);
    const int64_t xrow = (int64_t)a->xs[0].d[ax] * inner, len = (int64_t)a->ip[2] * inner;
    const int64_t off = (int64_t)a->ip[1] * inner;
    for (int64_t o = 0; o < outer; o++) {
        float *row = gx + o * xrow;
        for (int64_t i = 0; i < off; i++)
            row[i] = 0.f;
        memcpy(row + off, a->gy[0] + o * len, (size_t)len * sizeof(float));
        for (int64_t i = off + len; i < xrow; i++)
            row[i] = 0.f;
    }
    return SS_OK;
}

/* Pure data movement: no FLOPs. */
static double zero_flops(const ss_op_args *a)
{
    (void)a;
    return 0.0;
}

const ss_op_desc ss_desc_concat = {
    .name = "concat",
    .min_in = 2,
    .max_in = SS_MAX_IN,
    .infer = concat_infer,
    .fwd = concat_fwd,
    .bwd = concat_bwd,
    .flops = zero_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = (1u << SS_MAX_IN) - 1u,
};

const ss_op_desc ss_desc_slice = {
    .name = "slice",
    .min_in = 1,
    .max_in = 1,
    .infer = slice_infer,
    .fwd = slice_fwd,
    .bwd = slice_bwd,
    .flops = zero_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 1u,
};
