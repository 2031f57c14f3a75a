/* medpy-identical binary metrics; see metrics.h for the definitions. The EDT
 * runs on the bounding box of both masks only: distances between voxels of
 * the box do not depend on the grid outside it. */
#include "harness/metrics.h"
#include "harness/edt.h"
#include "kernels/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ss_empty_policy_name(ss_empty_policy p)
{
    switch (p) {
    case SS_EMPTY_ZERO:
        return "zero";
    case SS_EMPTY_NAN:
        return "nan";
    case SS_EMPTY_ERROR:
        return "error";
    }
    return "?";
}

int ss_empty_policy_parse(const char *s, ss_empty_policy *out)
{
    if (s && !strcmp(s, "zero"))
        *out = SS_EMPTY_ZERO;
    else if (s && !strcmp(s, "nan"))
        *out = SS_EMPTY_NAN;
    else if (s && !strcmp(s, "error"))
        *out = SS_EMPTY_ERROR;
    else
        return ss_seterr("empty-mask policy '%s' is unknown; want zero, nan or error",
                         s ? s : "(null)");
    return SS_OK;
}

static int check_dims(const int dims[3], const char *what)
{
    if (!dims || dims[0] < 1 || dims[1] < 1 || dims[2] < 1)
        return ss_seterr("%s: grid dims must be positive (D,H,W)", what);
    return SS_OK;
}

/* surf[i] = 1 for object voxels with a face neighbour outside the object or
 * outside the grid (the D axis is ignored when d == 1: a 2-D image). */
static void surface(const uint8_t *m, const int dims[3], uint8_t *surf)
{
    const long d = dims[0], h = dims[1], w = dims[2], hw = h * w;
    const int twod = d == 1;
#pragma omp parallel for schedule(static)
    for (long z = 0; z < d; z++)
        for (long y = 0; y < h; y++)
            for (long x = 0; x < w; x++) {
                long i = z * hw + y * w + x;
                if (!m[i]) {
                    surf[i] = 0;
                    continue;
                }
                int in = x > 0 && x < w - 1 && y > 0 && y < h - 1 && m[i - 1] && m[i + 1] &&
                         m[i - w] && m[i + w];
                if (in && !twod)
                    in = z > 0 && z < d - 1 && m[i - hw] && m[i + hw];
                surf[i] = (uint8_t)!in;
            }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile(a, q) with the default 'linear' method, a sorted in place. */
static double percentile_linear(double *a, long n, double q)
{
    qsort(a, (size_t)n, sizeof(double), cmp_double);
    double vi = (q / 100.0) * (double)(n - 1);
    double lo = floor(vi);
    long i = (long)lo;
    long j = i + 1 < n ? i + 1 : n - 1;
    double t = vi - lo, x = a[i], y = a[j], diff = y - x;
    /* numpy's _lerp: a + diff*t, or b - diff*(1-t) for t >= 0.5 */
    return t >= 0.5 ? y - diff * (1.0 - t) : x + diff * t;
}

static double mean_of(const double *a, long n)
{
    /* pairwise-free compensated sum; n > 0 */
    double s = 0.0, c = 0.0;
    for (long i = 0; i < n; i++) {
        double y = a[i] - c, t = s + y;
        c = (t - s) - y;
        s = t;
    }
    return s / (double)n;
}

/* Distances from the surface voxels of A (sa) to the surface of B (sb) inside
 * box [lo, hi) into dist (count returned in *n). work: box-sized doubles;
 * feat: box-sized bytes. */
static int directed(const uint8_t *sa, const uint8_t *sb, const int dims[3], const int lo[3],
                    const int hi[3], int ndim, const double *sp, double *work, uint8_t *feat,
                    double *dist, long *n)
{
    const long h = dims[1], w = dims[2];
    const int bd[3] = {hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]};
    long k = 0;
    for (int z = lo[0]; z < hi[0]; z++)
        for (int y = lo[1]; y < hi[1]; y++) {
            const uint8_t *row = sb + ((long)z * h + y) * w;
            memcpy(feat + k, row + lo[2], (size_t)bd[2]);
            k += bd[2];
        }
    int edims[3];
    double esp[3];
    if (ndim == 2) {
        edims[0] = bd[1], edims[1] = bd[2];
        esp[0] = sp[1], esp[1] = sp[2];
    } else {
        memcpy(edims, bd, sizeof edims);
        memcpy(esp, sp, sizeof esp);
    }
    if (ss_edt(feat, ndim, edims, esp, work))
        return SS_ERR;
    long m = 0;
    k = 0;
    for (int z = lo[0]; z < hi[0]; z++)
        for (int y = lo[1]; y < hi[1]; y++) {
            const uint8_t *row = sa + ((long)z * h + y) * w;
            for (int x = lo[2]; x < hi[2]; x++, k++)
                if (row[x])
                    dist[m++] = work[k];
        }
    *n = m;
    return SS_OK;
}

int ss_metrics_binary(const uint8_t *pred, const uint8_t *gt, const int dims[3],
                      const double spacing[3], ss_empty_policy policy, ss_metrics *out)
{
    if (!pred || !gt || !out)
        return ss_seterr("metrics: NULL mask or output");
    if (check_dims(dims, "metrics"))
        return SS_ERR;
    double sp[3] = {1.0, 1.0, 1.0};
    if (spacing)
        for (int a = 0; a < 3; a++) {
            if (!(spacing[a] > 0.0 && isfinite(spacing[a])))
                return ss_seterr("metrics: spacing[%d] = %g; want a positive finite value", a,
                                 spacing[a]);
            sp[a] = spacing[a];
        }
    const long n = (long)dims[0] * dims[1] * dims[2];
    long np_ = 0, ng = 0, ni = 0;
    int lo[3] = {dims[0], dims[1], dims[2]}, hi[3] = {0, 0, 0};
    const long hw = (long)dims[1] * dims[2];
    for (long i = 0; i < n; i++) {
        int p = pred[i] != 0, g = gt[i] != 0;
        np_ += p;
        ng += g;
        ni += p & g;
        if (p | g) {
            int c[3] = {(int)(i / hw), (int)(i / dims[2] % dims[1]), (int)(i % dims[2])};
            for (int a = 0; a < 3; a++) {
                if (c[a] < lo[a])
                    lo[a] = c[a];
                if (c[a] + 1 > hi[a])
                    hi[a] = c[a] + 1;
            }
        }
    }
    memset(out, 0, sizeof *out);
    double dice = np_ + ng ? 2.0 * (double)ni / (double)(np_ + ng) : 1.0;
    double jac = np_ + ng - ni ? (double)ni / (double)(np_ + ng - ni) : 1.0;
    if (np_ == 0 || ng == 0) {
        if (policy == SS_EMPTY_ERROR)
            return ss_seterr("metrics: the %s mask is empty (%ld voxels of %dx%dx%d); surface "
                             "distances are undefined (empty policy 'error')",
                             np_ == 0 ? "predicted" : "reference", n, dims[0], dims[1], dims[2]);
        if (policy == SS_EMPTY_ZERO)
            return SS_OK; /* all zero */
        out->dice = dice;
        out->jaccard = jac;
        out->hd95 = out->asd = out->assd = out->asd_rcps = NAN;
        return SS_OK;
    }
    out->dice = dice;
    out->jaccard = jac;

    const int ndim = dims[0] == 1 ? 2 : 3;
    const long box = (long)(hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);
    uint8_t *sp_ = malloc((size_t)n), *sg = malloc((size_t)n), *feat = malloc((size_t)box);
    double *work = malloc((size_t)box * sizeof(double));
    long cp = 0, cg = 0;
    double *dist = NULL;
    int rc = SS_ERR;
    if (!sp_ || !sg || !feat || !work) {
        ss_seterr("metrics: out of memory for a %dx%dx%d grid", dims[0], dims[1], dims[2]);
        goto done;
    }
    surface(pred, dims, sp_);
    surface(gt, dims, sg);
    for (long i = 0; i < n; i++) {
        cp += sp_[i];
        cg += sg[i];
    }
    dist = malloc((size_t)(cp + cg) * sizeof(double));
    if (!dist) {
        ss_seterr("metrics: out of memory for %ld surface distances", cp + cg);
        goto done;
    }
    long n1, n2;
    if (directed(sp_, sg, dims, lo, hi, ndim, sp, work, feat, dist, &n1) ||
        directed(sg, sp_, dims, lo, hi, ndim, sp, work, feat, dist + n1, &n2))
        goto done;
    double m1 = mean_of(dist, n1), m2 = mean_of(dist + n1, n2);
    out->asd = m1;
    out->assd = (m1 + m2) / 2.0;
    out->asd_rcps = mean_of(dist, n1 + n2);
    out->hd95 = percentile_linear(dist, n1 + n2, 95.0);
    rc = SS_OK;
done:
    free(sp_);
    free(sg);
    free(feat);
    free(work);
    free(dist);
    return rc;
}

int ss_metrics_classes(const uint8_t *pred, const uint8_t *gt, const int dims[3],
                       const double spacing[3], int classes, ss_empty_policy policy,
                       ss_metrics *out)
{
    if (!pred || !gt || !out)
        return ss_seterr("metrics: NULL label map or output");
    if (check_dims(dims, "metrics"))
        return SS_ERR;
    if (classes < 2 || classes > 256)
        return ss_seterr("metrics: %d classes; want 2..256", classes);
    const long n = (long)dims[0] * dims[1] * dims[2];
    for (long i = 0; i < n; i++)
        if (pred[i] >= classes || gt[i] >= classes)
            return ss_seterr("metrics: label %d at voxel %ld of the %s is not below the class "
                             "count %d",
                             pred[i] >= classes ? pred[i] : gt[i], i,
                             pred[i] >= classes ? "prediction" : "reference", classes);
    if (classes == 2)
        return ss_metrics_binary(pred, gt, dims, spacing, policy, out);
    uint8_t *p = malloc((size_t)n), *g = malloc((size_t)n);
    if (!p || !g) {
        free(p);
        free(g);
        return ss_seterr("metrics: out of memory for a %dx%dx%d grid", dims[0], dims[1],
                         dims[2]);
    }
    int rc = SS_OK;
    for (int c = 1; c < classes && rc == SS_OK; c++) {
        for (long i = 0; i < n; i++) {
            p[i] = pred[i] == c;
            g[i] = gt[i] == c;
        }
        if (ss_metrics_binary(p, g, dims, spacing, policy, &out[c - 1])) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", semiseg_error());
            rc = ss_seterr("class %d: %s", c, msg);
        }
    }
    free(p);
    free(g);
    return rc;
}

/* Labels 26-connected components of (m == value) (value 0: any nonzero) in C
 * order of their first voxel; returns the index of the largest (first on
 * ties) as lab value, 0 when there is none, -1 on allocation failure. */
static int largest_label(const uint8_t *m, int value, const int dims[3], int32_t *lab,
                         int32_t *queue)
{
    const long d = dims[0], h = dims[1], w = dims[2], hw = h * w, n = d * hw;
    memset(lab, 0, (size_t)n * sizeof(int32_t));
    int32_t next = 0, best = 0;
    long best_size = 0;
    for (long s = 0; s < n; s++) {
        int in = value ? m[s] == value : m[s] != 0;
        if (!in || lab[s])
            continue;
        next++;
        long head = 0, tail = 0, size = 0;
        lab[s] = next;
        queue[tail++] = (int32_t)s;
        while (head < tail) {
            long i = queue[head++];
            size++;
            long z = i / hw, y = i / w % h, x = i % w;
            for (long dz = -1; dz <= 1; dz++) {
                long zz = z + dz;
                if (zz < 0 || zz >= d)
                    continue;
                for (long dy = -1; dy <= 1; dy++) {
                    long yy = y + dy;
                    if (yy < 0 || yy >= h)
                        continue;
                    for (long dx = -1; dx <= 1; dx++) {
                        long xx = x + dx;
                        if (xx < 0 || xx >= w)
                            continue;
                        long j = zz * hw + yy * w + xx;
                        int jin = value ? m[j] == value : m[j] != 0;
                        if (jin && !lab[j]) {
                            lab[j] = next;
                            queue[tail++] = (int32_t)j;
                        }
                    }
                }
            }
        }
        if (size > best_size) {
            best_size = size;
            best = next;
        }
    }
    return best;
}

static int lcc_impl(uint8_t *m, const int dims[3], int classes)
{
    if (!m)
        return ss_seterr("largest component: NULL mask");
    if (check_dims(dims, "largest component"))
        return SS_ERR;
    const long n = (long)dims[0] * dims[1] * dims[2];
    if (n > INT32_MAX)
        return ss_seterr("largest component: grid of %ld voxels is too large", n);
    int32_t *lab = malloc((size_t)n * sizeof(int32_t)), *queue = malloc((size_t)n * sizeof(int32_t));
    if (!lab || !queue) {
        free(lab);
        free(queue);
        return ss_seterr("largest component: out of memory for a %dx%dx%d grid", dims[0],
                         dims[1], dims[2]);
    }
    for (int c = classes ? 1 : 0; c < (classes ? classes : 1); c++) {
        int best = largest_label(m, c, dims, lab, queue);
        for (long i = 0; i < n; i++)
            if ((c ? m[i] == c : m[i] != 0) && lab[i] != best)
                m[i] = 0;
    }
    free(lab);
    free(queue);
    return SS_OK;
}

int ss_largest_cc(uint8_t *mask, const int dims[3])
{
    return lcc_impl(mask, dims, 0);
}

int ss_largest_cc_classes(uint8_t *labels, const int dims[3], int classes)
{
    if (classes < 2 || classes > 256)
        return ss_seterr("largest component: %d classes; want 2..256", classes);
    if (classes == 2)
        return lcc_impl(labels, dims, 0);
    return lcc_impl(labels, dims, classes);
}
