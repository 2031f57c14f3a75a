/* CONCAT and SLICE on the GPU: strided block copies (cudaMemcpy2DAsync) on the
 * view of a tensor as `outer` rows of (axis size * inner) elements, exactly the
 * copies of kernels/ops/shape.c. */
#include "cu_common.h"

static void split_axis(const ss_shape *s, int ax, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < ax; i++)
        *outer *= s->d[i];
    for (int i = ax + 1; i < SS_NDIM; i++)
        *inner *= s->d[i];
}

/* rows of len floats from src (row pitch sp) to dst (row pitch dp). */
static int copy2d(float *dst, int64_t dp, const float *src, int64_t sp, int64_t len, int64_t rows)
{
    if (len <= 0 || rows <= 0)
        return SS_OK;
    CU_CHECK(cudaMemcpy2DAsync(dst, (size_t)dp * sizeof(float), src, (size_t)sp * sizeof(float),
                               (size_t)len * sizeof(float), (size_t)rows,
                               cudaMemcpyDeviceToDevice, cu_stream()));
    return SS_OK;
}

static int concat_run(const ss_op_args *a, int bwd)
{
    const int ax = a->ip[0];
    int64_t outer, inner;
    split_axis(&a->ys[0], ax, &outer, &inner);
    const int64_t yrow = (int64_t)a->ys[0].d[ax] * inner;
    float *Y = bwd ? a->gy[0] : a->y[0];
    int64_t off = 0;
    for (int k = 0; k < a->n_in; k++) {
        const int64_t len = (int64_t)a->xs[k].d[ax] * inner;
        if (!bwd) {
            if (copy2d(Y + off, yrow, a->x[k], len, len, outer) != SS_OK)
                return SS_ERR;
        } else if (a->gx[k]) {
            if (!Y) {
                if (cu_fill(a->gx[k], 0.f, len * outer) != SS_OK)
                    return SS_ERR;
            } else if (copy2d(a->gx[k], len, Y + off, yrow, len, outer) != SS_OK) {
                return SS_ERR;
            }
        }
        off += len;
    }
    return SS_OK;
}

static int slice_run(const ss_op_args *a, int bwd)
{
    const int ax = a->ip[0];
    int64_t outer, inner;
    split_axis(&a->xs[0], ax, &outer, &inner);
    const int64_t xrow = (int64_t)a->xs[0].d[ax] * inner, len = (int64_t)a->ip[2] * inner;
    const int64_t off = (int64_t)a->ip[1] * inner;
    if (!bwd)
        return copy2d(a->y[0], len, a->x[0] + off, xrow, len, outer);
    if (!a->gx[0])
        return SS_OK;
    if (cu_fill(a->gx[0], 0.f, ss_numel(&a->xs[0])) != SS_OK)
        return SS_ERR;
    if (!a->gy[0])
        return SS_OK;
    return copy2d(a->gx[0] + off, xrow, a->gy[0], len, len, outer);
}

int cu_shape_run(const ss_op_args *a, int bwd)
{
    switch (a->kind) {
    case SS_OP_CONCAT: return concat_run(a, bwd);
    case SS_OP_SLICE: return slice_run(a, bwd);
    default: return 1;
    }
}
