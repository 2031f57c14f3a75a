/* Scalar losses with output (1,1,1,1,1):
 *  CE   cross entropy of logits (N,C,D,H,W) against integer class ids stored as
 *       floats in labels (N,1,D,H,W), mean over the voxels whose label is not
 *       ip[0] (ignore_index), as PyTorch F.cross_entropy(reduction='mean').
 *  MSE  mean((a - b)^2) over same-shaped a and b.
 * Both reject NaN/Inf inputs (and CE invalid labels) with an error naming the
 * value and its index. Sums run over a fixed number of voxel blocks, each in
 * double, added in block order: the result does not depend on the thread count. */
#include "../cpu/cpu_fast.h"
#include "../error.h"
#include "../op.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define LOSS_BLOCKS 64

/* Per-block state: partial sum, count, and the first offending element. */
typedef struct blk {
    double sum;
    int64_t count;
    int64_t bad;   /* flat index of the first offending element, -1 when none */
    int bad_kind;  /* CE: 1 label, 2 logit; MSE: input number */
} blk;

static int scalar_out(int *n_out, ss_shape *out)
{
    *n_out = 1;
    out[0] = ss_shape5(1, 1, 1, 1, 1);
    return SS_OK;
}

/* ---- CE -------------------------------------------------------------------- */

static int ce_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                    ss_shape *out)
{
    (void)ip;
    (void)fp;
    if (n_in != 2)
        return ss_op_err("ce", n_in, in, "expected 2 inputs (logits, labels), got %d", n_in);
    for (int i = 0; i < 2; i++)
        if (!ss_shape_valid(&in[i]))
            return ss_op_err("ce", n_in, in, "input %d has a dimension < 1", i);
    const ss_shape *x = &in[0], *l = &in[1];
    if (l->d[0] != x->d[0] || l->d[1] != 1 || l->d[2] != x->d[2] || l->d[3] != x->d[3] ||
        l->d[4] != x->d[4])
        return ss_op_err("ce", n_in, in, "labels must be (%d,1,%d,%d,%d) to match the logits",
                         x->d[0], x->d[2], x->d[3], x->d[4]);
    return scalar_out(n_out, out);
}

/* Validates labels and logits and counts the non-ignored voxels; with sum != NULL
 * also adds up -log_softmax(logits)[label]. Returns SS_ERR with a message naming
 * the first offending value. */
static int ce_scan(const ss_op_args *a, double *sum, int64_t *count)
{
    const ss_shape *s = &a->xs[0];
    int64_t c = s->d[1], sp = ss_spatial(s), nv = (int64_t)s->d[0] * sp;
    const float *X = a->x[0], *L = a->x[1];
    float ign = (float)a->ip[0];
    int want_sum = sum != NULL;
    blk b[LOSS_BLOCKS];
#pragma omp parallel for schedule(static)
    for (int k = 0; k < LOSS_BLOCKS; k++) {
        blk r = {0, 0, -1, 0};
        int64_t v0 = nv * k / LOSS_BLOCKS, v1 = nv * (k + 1) / LOSS_BLOCKS;
        for (int64_t v = v0; v < v1 && r.bad < 0; v++) {
            int64_t n = v / sp, q = v % sp;
            const float *x = X + n * c * sp + q;
            for (int64_t j = 0; j < c; j++)
                if (!isfinite(x[j * sp])) {
                    r.bad = n * c * sp + j * sp + q;
                    r.bad_kind = 2;
                    break;
                }
            if (r.bad >= 0)
                break;
            float lab = L[v];
            if (lab == ign)
                continue;
            if (!(lab >= 0.f && lab < (float)c && floorf(lab) == lab)) {
                r.bad = v;
                r.bad_kind = 1;
                break;
            }
            r.count++;
            if (!want_sum)
                continue;
            double mx = x[0];
            for (int64_t j = 1; j < c; j++)
                mx = fmax(mx, (double)x[j * sp]);
            double se = 0;
            for (int64_t j = 0; j < c; j++)
                se += exp((double)x[j * sp] - mx);
            r.sum += mx + log(se) - (double)x[(int64_t)lab * sp];
        }
        b[k] = r;
    }
    double tot = 0;
    int64_t cnt = 0;
    for (int k = 0; k < LOSS_BLOCKS; k++) {
        if (b[k].bad >= 0) {
            int64_t i = b[k].bad;
            if (b[k].bad_kind == 1)
                return ss_op_err("ce", a->n_in, a->xs,
                                 "label %g at index %lld (n %lld, voxel %lld) is not a class id "
                                 "in [0, %lld) nor the ignore index %d",
                                 (double)L[i], (long long)i, (long long)(i / sp),
                                 (long long)(i % sp), (long long)c, a->ip[0]);
            return ss_op_err("ce", a->n_in, a->xs,
                             "logit %g at index %lld (n %lld, class %lld, voxel %lld) is not "
                             "finite",
                             (double)X[i], (long long)i, (long long)(i / (c * sp)),
                             (long long)(i / sp % c), (long long)(i % sp));
        }
        tot += b[k].sum;
        cnt += b[k].count;
    }
    if (cnt == 0)
        return ss_op_err("ce", a->n_in, a->xs,
                         "all voxels ignored (every label equals ignore index %d); the mean "
                         "is undefined", a->ip[0]);
    if (sum)
        *sum = tot;
    *count = cnt;
    return SS_OK;
}

static int ce_fwd(const ss_op_args *a)
{
    double sum;
    int64_t cnt;
    if (ce_scan(a, &sum, &cnt) != SS_OK)
        return SS_ERR;
    a->y[0][0] = (float)(sum / (double)cnt);
    return SS_OK;
}

/* d/dx_j = g/count * (softmax_j - [j == label]) for counted voxels, 0 for ignored. */
static int ce_bwd(const ss_op_args *a)
{
    float *GX = a->gx[0];
    if (!GX)
        return SS_OK;
    int64_t cnt;
    if (ce_scan(a, NULL, &cnt) != SS_OK) /* also guards the label indexing below */
        return SS_ERR;
    const ss_shape *s = &a->xs[0];
    int64_t c = s->d[1], sp = ss_spatial(s), nb = s->d[0];
    const float *X = a->x[0], *L = a->x[1];
    float ign = (float)a->ip[0];
    double scale = a->gy[0] ? (double)a->gy[0][0] / (double)cnt : 0.0;
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < nb; n++)
        for (int64_t q = 0; q < sp; q++) {
            const float *x = X + n * c * sp + q;
            float *gx = GX + n * c * sp + q;
            float lab = L[n * sp + q];
            if (lab == ign || scale == 0.0) {
                for (int64_t j = 0; j < c; j++)
                    gx[j * sp] = 0.f;
                continue;
            }
            double mx = x[0];
            for (int64_t j = 1; j < c; j++)
                mx = fmax(mx, (double)x[j * sp]);
            double se = 0;
            for (int64_t j = 0; j < c; j++)
                se += exp((double)x[j * sp] - mx);
            int64_t li = (int64_t)lab;
            for (int64_t j = 0; j < c; j++) {
                double p = exp((double)x[j * sp] - mx) / se;
                gx[j * sp] = (float)(scale * (p - (j == li ? 1.0 : 0.0)));
            }
        }
    return SS_OK;
}

/* per voxel: C compares (max), C subtracts, C exps, C adds, a log and a subtract */
static double ce_flops(const ss_op_args *a)
{
    double c = a->xs[0].d[1], nv = (double)a->xs[0].d[0] * ss_spatial(&a->xs[0]);
    return nv * (4.0 * c + 2.0);
}

const ss_op_desc ss_desc_ce = {
    .name = "ce",
    .min_in = 2,
    .max_in = 2,
    .infer = ce_infer,
    .fwd = ce_fwd,
    .bwd = ce_bwd,
    .fwd_fast = ss_cpu_ce_fwd,
    .bwd_fast = ss_cpu_ce_bwd,
    .flops = ce_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 1u,
};

/* ---- MSE ------------------------------------------------------------------- */

static int mse_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                     ss_shape *out)
{
    (void)ip;
    (void)fp;
    if (n_in != 2)
        return ss_op_err("mse", n_in, in, "expected 2 inputs (a, b), got %d", n_in);
    for (int i = 0; i < 2; i++)
        if (!ss_shape_valid(&in[i]))
            return ss_op_err("mse", n_in, in, "input %d has a dimension < 1", i);
    if (!ss_shape_eq(&in[0], &in[1]))
        return ss_op_err("mse", n_in, in, "inputs must have the same shape");
    return scalar_out(n_out, out);
}

static int mse_fwd(const ss_op_args *a)
{
    int64_t ne = ss_numel(&a->xs[0]);
    const float *A = a->x[0], *B = a->x[1];
    blk b[LOSS_BLOCKS];
#pragma omp parallel for schedule(static)
    for (int k = 0; k < LOSS_BLOCKS; k++) {
        blk r = {0, 0, -1, 0};
        int64_t i0 = ne * k / LOSS_BLOCKS, i1 = ne * (k + 1) / LOSS_BLOCKS;
        for (int64_t i = i0; i < i1; i++) {
            if (!isfinite(A[i]) || !isfinite(B[i])) {
                r.bad = i;
                r.bad_kind = isfinite(A[i]) ? 1 : 0;
                break;
            }
            double d = (double)A[i] - B[i];
            r.sum += d * d;
        }
        b[k] = r;
    }
    double tot = 0;
    for (int k = 0; k < LOSS_BLOCKS; k++) {
        if (b[k].bad >= 0) {
            int64_t i = b[k].bad;
            return ss_op_err("mse", a->n_in, a->xs, "input %s value %g at index %lld is not finite",
                             b[k].bad_kind ? "b" : "a", (double)a->x[b[k].bad_kind][i],
                             (long long)i);
        }
        tot += b[k].sum;
    }
    a->y[0][0] = (float)(tot / (double)ne);
    return SS_OK;
}

/* dL/da = 2 g (a - b) / n, dL/db = -dL/da */
static int mse_bwd(const ss_op_args *a)
{
    int64_t ne = ss_numel(&a->xs[0]);
    const float *A = a->x[0], *B = a->x[1];
    float *GA = a->gx[0], *GB = a->gx[1];
    double scale = a->gy[0] ? 2.0 * (double)a->gy[0][0] / (double)ne : 0.0;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < ne; i++) {
        double g = scale * ((double)A[i] - B[i]);
        if (GA)
            GA[i] = (float)g;
        if (GB)
            GB[i] = (float)-g;
    }
    return SS_OK;
}

/* subtract, square, add per element */
static double mse_flops(const ss_op_args *a) { return 3.0 * (double)ss_numel(&a->xs[0]); }

const ss_op_desc ss_desc_mse = {
    .name = "mse",
    .min_in = 2,
    .max_in = 2,
    .infer = mse_infer,
    .fwd = mse_fwd,
    .bwd = mse_bwd,
    .flops = mse_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 3u,
};
