/* Dense products: MATMUL (y = op(a) @ op(b) on (rows, cols, 1, 1, 1) matrices,
 * op = optional transpose) and LINEAR (PyTorch nn.Linear: y = x w^T + b with x
 * flattened per sample to F = C*D*H*W features). Sums accumulate in double. */
#include "../error.h"
#include "../op.h"

#include <stddef.h>
#include <stdint.h>

/* ---- MATMUL ---------------------------------------------------------------- */

static int is_matrix(const ss_shape *s) { return s->d[2] == 1 && s->d[3] == 1 && s->d[4] == 1; }

/* Logical sizes of op(a) (M x K) and op(b) (K x N). */
static void mm_dims(const int *ip, const ss_shape *sa, const ss_shape *sb, int64_t *m,
                    int64_t *k, int64_t *kb, int64_t *n)
{
    *m = ip[0] ? sa->d[1] : sa->d[0];
    *k = ip[0] ? sa->d[0] : sa->d[1];
    *kb = ip[1] ? sb->d[1] : sb->d[0];
    *n = ip[1] ? sb->d[0] : sb->d[1];
}

static int mm_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                    ss_shape *out)
{
    (void)fp;
    if (n_in != 2)
        return ss_op_err("matmul", n_in, in, "expected 2 inputs (a, b), got %d", n_in);
    for (int i = 0; i < 2; i++) {
        if (!ss_shape_valid(&in[i]))
            return ss_op_err("matmul", n_in, in, "input %d has a dimension < 1", i);
        if (!is_matrix(&in[i]))
            return ss_op_err("matmul", n_in, in,
                             "input %d must be a matrix (rows, cols, 1, 1, 1)", i);
    }
    if ((ip[0] != 0 && ip[0] != 1) || (ip[1] != 0 && ip[1] != 1))
        return ss_op_err("matmul", n_in, in, "trans_a (ip[0] = %d) and trans_b (ip[1] = %d) "
                         "must be 0 or 1", ip[0], ip[1]);
    int64_t m, k, kb, n;
    mm_dims(ip, &in[0], &in[1], &m, &k, &kb, &n);
    if (k != kb)
        return ss_op_err("matmul", n_in, in,
                         "inner dimensions differ: op(a) is %lld x %lld, op(b) is %lld x %lld "
                         "(trans_a %d, trans_b %d)",
                         (long long)m, (long long)k, (long long)kb, (long long)n, ip[0], ip[1]);
    *n_out = 1;
    out[0] = ss_shape5((int)m, (int)n, 1, 1, 1);
    return SS_OK;
}

/* Element (i, j) of op(p) where p is stored row-major with `cols` columns. */
static inline float opel(const float *p, int64_t cols, int trans, int64_t i, int64_t j)
{
    return trans ? p[j * cols + i] : p[i * cols + j];
}

static int mm_fwd(const ss_op_args *a)
{
    int ta = a->ip[0], tb = a->ip[1];
    int64_t m, k, kb, n;
    mm_dims(a->ip, &a->xs[0], &a->xs[1], &m, &k, &kb, &n);
    int64_t ca = a->xs[0].d[1], cb = a->xs[1].d[1];
    const float *A = a->x[0], *B = a->x[1];
    float *Y = a->y[0];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += (double)opel(A, ca, ta, i, p) * opel(B, cb, tb, p, j);
            Y[i * n + j] = (float)s;
        }
    return SS_OK;
}

/* With G = dL/dY (M x N): dL/dop(a) = G op(b)^T, dL/dop(b) = op(a)^T G; a transposed
 * operand receives the transpose, written here by iterating over its storage. */
static int mm_bwd(const ss_op_args *a)
{
    int ta = a->ip[0], tb = a->ip[1];
    int64_t m, k, kb, n;
    mm_dims(a->ip, &a->xs[0], &a->xs[1], &m, &k, &kb, &n);
    int64_t ra = a->xs[0].d[0], ca = a->xs[0].d[1];
    int64_t rb = a->xs[1].d[0], cb = a->xs[1].d[1];
    const float *A = a->x[0], *B = a->x[1], *G = a->gy[0];
    float *GA = a->gx[0], *GB = a->gx[1];
    if (GA) {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < ra; r++)
            for (int64_t c = 0; c < ca; c++) {
                int64_t i = ta ? c : r, p = ta ? r : c; /* element (i, p) of op(a) */
                double s = 0;
                if (G)
                    for (int64_t j = 0; j < n; j++)
                        s += (double)G[i * n + j] * opel(B, cb, tb, p, j);
                GA[r * ca + c] = (float)s;
            }
    }
    if (GB) {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rb; r++)
            for (int64_t c = 0; c < cb; c++) {
                int64_t p = tb ? c : r, j = tb ? r : c; /* element (p, j) of op(b) */
                double s = 0;
                if (G)
                    for (int64_t i = 0; i < m; i++)
                        s += (double)opel(A, ca, ta, i, p) * G[i * n + j];
                GB[r * cb + c] = (float)s;
            }
    }
    return SS_OK;
}

static double mm_flops(const ss_op_args *a)
{
    int64_t m, k, kb, n;
    mm_dims(a->ip, &a->xs[0], &a->xs[1], &m, &k, &kb, &n);
    return 2.0 * (double)m * (double)n * (double)k;
}

const ss_op_desc ss_desc_matmul = {
    .name = "matmul",
    .min_in = 2,
    .max_in = 2,
    .infer = mm_infer,
    .fwd = mm_fwd,
    .bwd = mm_bwd,
    .flops = mm_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 3u,
};

/* ---- LINEAR ---------------------------------------------------------------- */

static int lin_infer(const int *ip, const float *fp, int n_in, const ss_shape *in, int *n_out,
                     ss_shape *out)
{
    (void)ip;
    (void)fp;
    if (n_in != 2 && n_in != 3)
        return ss_op_err("linear", n_in, in, "expected 2 or 3 inputs (x, w, [b]), got %d", n_in);
    for (int i = 0; i < n_in; i++)
        if (!ss_shape_valid(&in[i]))
            return ss_op_err("linear", n_in, in, "input %d has a dimension < 1", i);
    int64_t f = (int64_t)in[0].d[1] * ss_spatial(&in[0]);
    const ss_shape *w = &in[1];
    if (!is_matrix(w) || w->d[1] != f)
        return ss_op_err("linear", n_in, in,
                         "weight must be (Out, %lld, 1, 1, 1) for %lld input features", (long long)f,
                         (long long)f);
    if (n_in == 3) {
        const ss_shape *b = &in[2];
        if (b->d[0] != w->d[0] || b->d[1] != 1 || !is_matrix(b))
            return ss_op_err("linear", n_in, in, "bias must be (%d, 1, 1, 1, 1)", w->d[0]);
    }
    *n_out = 1;
    out[0] = ss_shape5(in[0].d[0], w->d[0], 1, 1, 1);
    return SS_OK;
}

static void lin_dims(const ss_op_args *a, int64_t *n, int64_t *f, int64_t *o)
{
    *n = a->xs[0].d[0];
    *f = (int64_t)a->xs[0].d[1] * ss_spatial(&a->xs[0]);
    *o = a->xs[1].d[0];
}

static int lin_fwd(const ss_op_args *a)
{
    int64_t nb, f, no;
    lin_dims(a, &nb, &f, &no);
    const float *X = a->x[0], *W = a->x[1], *B = a->n_in > 2 ? a->x[2] : NULL;
    float *Y = a->y[0];
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < nb; n++)
        for (int64_t o = 0; o < no; o++) {
            double s = B ? (double)B[o] : 0.0;
            for (int64_t i = 0; i < f; i++)
                s += (double)X[n * f + i] * W[o * f + i];
            Y[n * no + o] = (float)s;
        }
    return SS_OK;
}

/* dL/dx = G w, dL/dw = G^T x, dL/db = column sums of G (G = dL/dy, N x Out). */
static int lin_bwd(const ss_op_args *a)
{
    int64_t nb, f, no;
    lin_dims(a, &nb, &f, &no);
    const float *X = a->x[0], *W = a->x[1], *G = a->gy[0];
    float *GX = a->gx[0], *GW = a->gx[1], *GB = a->n_in > 2 ? a->gx[2] : NULL;
    if (GX) {
#pragma omp parallel for schedule(static)
        for (int64_t n = 0; n < nb; n++)
            for (int64_t i = 0; i < f; i++) {
                double s = 0;
                if (G)
                    for (int64_t o = 0; o < no; o++)
                        s += (double)G[n * no + o] * W[o * f + i];
                GX[n * f + i] = (float)s;
            }
    }
    if (GW) {
#pragma omp parallel for schedule(static)
        for (int64_t o = 0; o < no; o++)
            for (int64_t i = 0; i < f; i++) {
                double s = 0;
                if (G)
                    for (int64_t n = 0; n < nb; n++)
                        s += (double)G[n * no + o] * X[n * f + i];
                GW[o * f + i] = (float)s;
            }
    }
    if (GB)
        for (int64_t o = 0; o < no; o++) {
            double s = 0;
            if (G)
                for (int64_t n = 0; n < nb; n++)
                    s += G[n * no + o];
            GB[o] = (float)s;
        }
    return SS_OK;
}

static double lin_flops(const ss_op_args *a)
{
    int64_t nb, f, no;
    lin_dims(a, &nb, &f, &no);
    return 2.0 * (double)nb * (double)no * (double)f + (a->n_in > 2 ? (double)nb * no : 0.0);
}

const ss_op_desc ss_desc_linear = {
    .name = "linear",
    .min_in = 2,
    .max_in = 3,
    .infer = lin_infer,
    .fwd = lin_fwd,
    .bwd = lin_bwd,
    .flops = lin_flops,
    .bytes = ss_op_bytes_default,
    .diff_mask = 7u,
};
