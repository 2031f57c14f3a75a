/* Dropout with a counter-based mask: element e is kept when its Philox uniform
 * u(seed, stream, step, e) >= p, and kept values are scaled by 1/(1-p). Mode 0
 * draws one u per element (e = flat index of y); mode 1 one per (n, c)
 * (e = n*C + c), dropping whole channels as PyTorch's Dropout3d/Dropout2d.
 * The backward regenerates the same mask, so nothing is stored; p == 1 gives
 * zeros (x * 0, so a non-finite x still gives NaN, as in PyTorch). The CUDA twin must use the same rule and the same float scale. */
#include "../cpu/cpu_fast.h"
#include "../error.h"
#include "../op.h"
#include "../rng.h"

#include <math.h>
#include <string.h>

static int dropout_infer(const int *ip, const float *fp, int n_in, const ss_shape *in,
                         int *n_out, ss_shape *out)
{
    const char *op = "dropout";
    if (n_in != 1)
        return ss_op_err(op, n_in < 0 || n_in > SS_MAX_IN ? 0 : n_in, in,
                         "expects 1 input, got %d", n_in);
    if (!ss_shape_valid(&in[0]))
        return ss_op_err(op, n_in, in, "x must have every dim >= 1");
    if (ip[0] != 0 && ip[0] != 1)
        return ss_op_err(op, n_in, in, "mode ip[0] must be 0 (element) or 1 (channel), got %d",
                         ip[0]);
    if (!(fp[0] >= 0 && fp[0] <= 1))
        return ss_op_err(op, n_in, in, "p fp[0] must be in [0, 1], got %g", (double)fp[0]);
    *n_out = 1;
    out[0] = in[0];
    return SS_OK;
}

/* y = x * mask * scale, or dx = dy * mask * scale: the same linear map. */
static void dropout_apply(const ss_op_args *a, const float *src, float *dst)
{
    uint64_t seed = (uint64_t)(uint32_t)a->ip[1] | (uint64_t)(uint32_t)a->ip[2] << 32;
    uint32_t stream = (uint32_t)a->ip[3];
    uint64_t step = a->step;
    int chan = a->ip[0] == 1;
    float p = a->fp[0];
    float scale = p < 1 ? (float)(1.0 / (1.0 - (double)p)) : 0.f;
    int64_t rows = (int64_t)a->xs[0].d[SS_N] * a->xs[0].d[SS_C], s = ss_spatial(&a->xs[0]);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int keep_row = !chan || ss_rng_uniform(seed, stream, step, (uint64_t)r) >= p;
        for (int64_t j = r * s; j < (r + 1) * s; j++) {
            int keep = chan ? keep_row : ss_rng_uniform(seed, stream, step, (uint64_t)j) >= p;
            dst[j] = src[j] * (keep ? scale : 0.f); /* as PyTorch: inf/NaN * 0 = NaN */
        }
    }
}

static int dropout_fwd(const ss_op_args *a)
{
    dropout_apply(a, a->x[0], a->y[0]);
    return SS_OK;
}

static int dropout_bwd(const ss_op_args *a)
{
    if (!a->gx[0])
        return SS_OK;
    if (!a->gy[0]) {
        memset(a->gx[0], 0, (size_t)ss_numel(&a->xs[0]) * sizeof(float));
        return SS_OK;
    }
    dropout_apply(a, a->gy[0], a->gx[0]);
    return SS_OK;
}

/* One multiply per element (the mask draw is integer work). */
static double dropout_flops(const ss_op_args *a) { return (double)ss_numel(&a->xs[0]); }

const ss_op_desc ss_desc_dropout = {
    .name = "dropout",
    .min_in = 1,
    .max_in = 1,
    .infer = dropout_infer,
    .fwd = dropout_fwd,
    .bwd = dropout_bwd,
    .fwd_fast = ss_cpu_dropout_fwd,
    .bwd_fast = ss_cpu_dropout_bwd,
    .flops = dropout_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 0x1,
};
