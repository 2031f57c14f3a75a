/* Cross-entropy fast path. The reference works in double and, in its
 * backward, takes every exponential twice; here each voxel takes one float
 * exponential per class, the softmax comes from those, and the per-voxel
 * losses are still summed in double over the reference's fixed voxel blocks
 * (the result does not depend on the thread count). Any input the reference
 * rejects (a non-finite logit, a label that is neither a class id nor the
 * ignore index, every voxel ignored) is handed to the reference, which
 * reports it. */
#include "cpu_fast.h"

#include "../error.h"

#include <math.h>

#define CE_BLOCKS 64 /* as the reference (kernels/ops/loss.c) */
#define CE_MAXC 64   /* more classes: the reference */

typedef struct ceb {
    double sum;
    int64_t count;
    int bad;
} ceb;

typedef struct cegeo {
    int64_t c, sp, nv;
    float ign;
} cegeo;

static cegeo geo(const ss_op_args *a)
{
    const ss_shape *s = &a->xs[0];
    cegeo g = {s->d[1], ss_spatial(s), 0, (float)a->ip[0]};
    g.nv = (int64_t)s->d[0] * g.sp;
    return g;
}

static int label_ok(float lab, int64_t c) { return lab >= 0.f && lab < (float)c && floorf(lab) == lab; }

/* e[j] = exp(x_j - max) for one voxel's logits (stride sp); returns their sum,
 * *mx the maximum; 0 when a logit is not finite. */
static inline float softmax_terms(const float *x, int64_t c, int64_t sp, float *e, float *mx)
{
    float m = x[0];
    int fin = isfinite(x[0]);
    for (int64_t j = 1; j < c; j++) {
        float v = x[j * sp];
        fin &= isfinite(v);
        m = v > m ? v : m;
    }
    if (!fin)
        return 0.f;
    float se = 0.f;
    for (int64_t j = 0; j < c; j++) {
        e[j] = expf(x[j * sp] - m);
        se += e[j];
    }
    *mx = m;
    return se;
}

int ss_cpu_ce_fwd(const ss_op_args *a)
{
    cegeo g = geo(a);
    if (g.c > CE_MAXC)
        return ss_op_get(a->kind)->fwd(a);
    const float *X = a->x[0], *L = a->x[1];
    ceb b[CE_BLOCKS];
#pragma omp parallel for schedule(static)
    for (int k = 0; k < CE_BLOCKS; k++) {
        ceb r = {0, 0, 0};
        float e[CE_MAXC];
        int64_t v0 = g.nv * k / CE_BLOCKS, v1 = g.nv * (k + 1) / CE_BLOCKS;
        /* (n, q) of voxel v, stepped along instead of divided out per voxel */
        int64_t n = v0 / g.sp, q = v0 % g.sp;
        for (int64_t v = v0; v < v1 && !r.bad; v++, q++) {
            if (q == g.sp) {
                n++;
                q = 0;
            }
            const float *x = X + n * g.c * g.sp + q;
            float mx, se = softmax_terms(x, g.c, g.sp, e, &mx);
            float lab = L[v];
            if (se == 0.f || (lab != g.ign && !label_ok(lab, g.c))) {
                r.bad = 1;
                break;
            }
            if (lab == g.ign)
                continue;
            r.count++;
            r.sum += (double)(mx + logf(se) - x[(int64_t)lab * g.sp]);
        }
        b[k] = r;
    }
    double tot = 0;
    int64_t cnt = 0;
    for (int k = 0; k < CE_BLOCKS; k++) {
        if (b[k].bad)
            return ss_op_get(a->kind)->fwd(a);
        tot += b[k].sum;
        cnt += b[k].count;
    }
    if (cnt == 0)
        return ss_op_get(a->kind)->fwd(a);
    a->y[0][0] = (float)(tot / (double)cnt);
    return SS_OK;
}

/* d/dx_j = g/count * (softmax_j - [j == label]); 0 for ignored voxels. */
int ss_cpu_ce_bwd(const ss_op_args *a)
{
    float *GX = a->gx[0];
    if (!GX)
        return SS_OK;
    cegeo g = geo(a);
    if (g.c > CE_MAXC)
        return ss_op_get(a->kind)->bwd(a);
    const float *X = a->x[0], *L = a->x[1];
    int64_t cnt = 0;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : cnt) reduction(| : bad)
    for (int64_t v = 0; v < g.nv; v++) {
        float lab = L[v];
        if (lab == g.ign)
            continue;
        cnt++;
        bad |= !label_ok(lab, g.c);
    }
    if (bad || cnt == 0)
        return ss_op_get(a->kind)->bwd(a);
    const float scale = a->gy[0] ? (float)((double)a->gy[0][0] / (double)cnt) : 0.f;
    int nonfinite = 0;
#pragma omp parallel for collapse(2) schedule(static) reduction(| : nonfinite)
    for (int64_t n = 0; n < g.nv / g.sp; n++)
    for (int64_t q = 0; q < g.sp; q++) {
        const int64_t v = n * g.sp + q;
        const float *x = X + n * g.c * g.sp + q;
        float *gx = GX + n * g.c * g.sp + q;
        float e[CE_MAXC], mx, se = softmax_terms(x, g.c, g.sp, e, &mx);
        nonfinite |= se == 0.f;
        float lab = L[v];
        if (lab == g.ign || scale == 0.f || se == 0.f) {
            for (int64_t j = 0; j < g.c; j++)
                gx[j * g.sp] = 0.f;
            continue;
        }
        float inv = 1.f / se;
        int64_t li = (int64_t)lab;
        for (int64_t j = 0; j < g.c; j++)
            gx[j * g.sp] = scale * (e[j] * inv - (j == li ? 1.f : 0.f));
    }
    return nonfinite ? ss_op_get(a->kind)->bwd(a) : SS_OK;
}
