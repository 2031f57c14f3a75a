/* Cross-entropy fast path. The reference works in double and, in its
 * backward, takes every exponential twice; here each voxel takes one float
 * exponential per class, the softmax comes from those, and the per-voxel
 * losses are still summed in double, voxel by voxel, over the reference's
 * fixed voxel blocks (the result does not depend on the thread count).
 * Four neighbouring voxels of one item go through SSE lanes at a time, with
 * SLEEF's 1-ulp expf / logf (Sleef_expf4_u10, Sleef_logf4_u10); voxels left
 * over at the end of an item or a block, and any group of four with a label
 * or logit the checks below do not pass, take the scalar path with libm.
 * Any input the reference rejects (a non-finite logit, a label that is
 * neither a class id nor the ignore index, every voxel ignored) is handed to
 * the reference, which reports it. */
#include "cpu_fast.h"

#include "../error.h"

#include <emmintrin.h>
#include <math.h>
#include <sleef.h>

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

/* Four voxels (logits x[j*sp + 0..3]) in lanes: 1 when every logit is finite
 * and every label is the ignore index or a class id; then e[j] =
 * exp(x_j - max) per class, *mx the maximum, *se the sum of e (classes added
 * in order, as softmax_terms), *ign the ignored lanes. 0: take the scalar
 * path for these voxels (it reports what is wrong). */
static inline int soft4(const float *x, const float *lab, const cegeo *g, __m128 *e, __m128 *mx,
                        __m128 *se, __m128 *ign, __m128 *lv)
{
    const __m128 zero = _mm_setzero_ps();
    __m128 l = _mm_loadu_ps(lab);
    __m128 ig = _mm_cmpeq_ps(l, _mm_set1_ps(g->ign));
    __m128 ok = _mm_and_ps(_mm_and_ps(_mm_cmpge_ps(l, zero), _mm_cmplt_ps(l, _mm_set1_ps((float)g->c))),
                           _mm_cmpeq_ps(_mm_cvtepi32_ps(_mm_cvttps_epi32(l)), l));
    __m128 m = _mm_loadu_ps(x);
    __m128 fin = _mm_cmpeq_ps(_mm_sub_ps(m, m), zero); /* inf - inf, NaN: not equal */
    for (int64_t j = 1; j < g->c; j++) {
        __m128 v = _mm_loadu_ps(x + j * g->sp);
        fin = _mm_and_ps(fin, _mm_cmpeq_ps(_mm_sub_ps(v, v), zero));
        m = _mm_max_ps(m, v);
    }
    if (_mm_movemask_ps(_mm_and_ps(fin, _mm_or_ps(ig, ok))) != 15)
        return 0;
    __m128 s = zero;
    for (int64_t j = 0; j < g->c; j++) {
        e[j] = Sleef_expf4_u10(_mm_sub_ps(_mm_loadu_ps(x + j * g->sp), m));
        s = _mm_add_ps(s, e[j]);
    }
    *mx = m;
    *se = s;
    *ign = ig;
    *lv = l;
    return 1;
}

/* One voxel on the scalar path: adds its loss to r or sets r->bad. */
static inline void voxel_loss(const float *x, float lab, const cegeo *g, ceb *r)
{
    float e[CE_MAXC], mx, se = softmax_terms(x, g->c, g->sp, e, &mx);
    if (se == 0.f || (lab != g->ign && !label_ok(lab, g->c))) {
        r->bad = 1;
        return;
    }
    if (lab == g->ign)
        return;
    r->count++;
    r->sum += (double)(mx + logf(se) - x[(int64_t)lab * g->sp]);
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
        __m128 e[CE_MAXC];
        int64_t v0 = g.nv * k / CE_BLOCKS, v1 = g.nv * (k + 1) / CE_BLOCKS;
        /* (n, q) of voxel v, stepped along instead of divided out per voxel */
        int64_t n = v0 / g.sp, q = v0 % g.sp;
        for (int64_t v = v0; v < v1 && !r.bad;) {
            if (q == g.sp) {
                n++;
                q = 0;
            }
            const float *x = X + n * g.c * g.sp + q;
            __m128 mx, se, ign, lv;
            if (q + 4 <= g.sp && v + 4 <= v1 && soft4(x, L + v, &g, e, &mx, &se, &ign, &lv)) {
                __m128 xl = _mm_setzero_ps(); /* the label's logit (0 where ignored) */
                for (int64_t j = 0; j < g.c; j++)
                    xl = _mm_or_ps(xl, _mm_and_ps(_mm_cmpeq_ps(lv, _mm_set1_ps((float)j)),
                                                  _mm_loadu_ps(x + j * g.sp)));
                float lo[4];
                _mm_storeu_ps(lo, _mm_sub_ps(_mm_add_ps(mx, Sleef_logf4_u10(se)), xl));
                int im = _mm_movemask_ps(ign);
                for (int k = 0; k < 4; k++)
                    if (!(im >> k & 1)) {
                        r.count++;
                        r.sum += (double)lo[k];
                    }
                v += 4;
                q += 4;
                continue;
            }
            voxel_loss(x, L[v], &g, &r);
            v++;
            q++;
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
    const int64_t per = (g.sp + 3) / 4; /* groups of four voxels per item */
#pragma omp parallel for schedule(static) reduction(| : nonfinite)
    for (int64_t t = 0; t < g.nv / g.sp * per; t++) {
        const int64_t n = t / per, q0 = t % per * 4;
        const int64_t off = n * g.c * g.sp + q0;
        __m128 e[CE_MAXC], mx, se, ign, lv;
        if (q0 + 4 <= g.sp && soft4(X + off, L + n * g.sp + q0, &g, e, &mx, &se, &ign, &lv)) {
            const __m128 inv = _mm_div_ps(_mm_set1_ps(1.f), se), sc = _mm_set1_ps(scale);
            /* ignored voxels (and a zero scale) get +0, as on the scalar path */
            const __m128 all = _mm_castsi128_ps(_mm_set1_epi32(-1));
            const __m128 keep = scale == 0.f ? _mm_setzero_ps() : _mm_andnot_ps(ign, all);
            for (int64_t j = 0; j < g.c; j++) {
                __m128 hot = _mm_and_ps(_mm_cmpeq_ps(lv, _mm_set1_ps((float)j)), _mm_set1_ps(1.f));
                __m128 d = _mm_mul_ps(sc, _mm_sub_ps(_mm_mul_ps(e[j], inv), hot));
                _mm_storeu_ps(GX + off + j * g.sp, _mm_and_ps(keep, d));
            }
            continue;
        }
        for (int64_t q = q0; q < q0 + 4 && q < g.sp; q++) {
            const float *x = X + n * g.c * g.sp + q;
            float *gx = GX + n * g.c * g.sp + q;
            float ev[CE_MAXC], m1, s1 = softmax_terms(x, g.c, g.sp, ev, &m1);
            nonfinite |= s1 == 0.f;
            float lab = L[n * g.sp + q];
            if (lab == g.ign || scale == 0.f || s1 == 0.f) {
                for (int64_t j = 0; j < g.c; j++)
                    gx[j * g.sp] = 0.f;
                continue;
            }
            float iv = 1.f / s1;
            int64_t li = (int64_t)lab;
            for (int64_t j = 0; j < g.c; j++)
                gx[j * g.sp] = scale * (ev[j] * iv - (j == li ? 1.f : 0.f));
        }
    }
    return nonfinite ? ss_op_get(a->kind)->bwd(a) : SS_OK;
}
