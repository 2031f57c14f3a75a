/* Separable squared EDT: the first axis is initialised to 0 / +inf, then each
 * axis in turn replaces every 1-D line f by min_q (s*(p-q))^2 + f(q), computed
 * as the lower envelope of the parabolas rooted at the finite samples. */
#include "harness/edt.h"
#include "kernels/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double *f;  /* line values in */
    double *z;  /* envelope boundaries, n + 1 */
    int *v;     /* parabola roots, n */
    double *d;  /* line values out */
} edt_buf;

/* In-place 1-D transform of f (length n, stride in elements) with spacing s. */
static void edt_line(double *line, long n, long stride, double s, edt_buf *b)
{
    long k = -1;
    for (long q = 0; q < n; q++) {
        double fq = line[q * stride];
        b->f[q] = fq;
        if (!isfinite(fq))
            continue;
        double xq = s * (double)q;
        while (k >= 0) {
            long v = b->v[k];
            double xv = s * (double)v;
            double sep = ((fq + xq * xq) - (b->f[v] + xv * xv)) / (2.0 * (xq - xv));
            if (sep <= b->z[k])
                k--;
            else {
                k++;
                b->v[k] = (int)q;
                b->z[k] = sep;
                b->z[k + 1] = INFINITY;
                break;
            }
        }
        if (k < 0) {
            k = 0;
            b->v[0] = (int)q;
            b->z[0] = -INFINITY;
            b->z[1] = INFINITY;
        }
    }
    if (k < 0)
        return; /* no finite sample: the line stays +inf */
    long j = 0;
    for (long q = 0; q < n; q++) {
        double x = s * (double)q;
        while (b->z[j + 1] < x)
            j++;
        double dx = x - s * (double)b->v[j];
        line[q * stride] = dx * dx + b->f[b->v[j]];
    }
}

int ss_edt_sq(const uint8_t *feature, int ndim, const int *dims, const double *spacing,
              double *out)
{
    if (!feature || !dims || !out || ndim < 1 || ndim > 3)
        return ss_seterr("edt: bad arguments (ndim %d; want 1..3 axes and non-NULL buffers)",
                         ndim);
    long total = 1, maxn = 1;
    for (int a = 0; a < ndim; a++) {
        if (dims[a] < 1)
            return ss_seterr("edt: axis %d has size %d; want >= 1", a, dims[a]);
        if (spacing && !(spacing[a] > 0.0 && isfinite(spacing[a])))
            return ss_seterr("edt: spacing[%d] = %g; want a positive finite value", a,
                             spacing[a]);
        total *= dims[a];
        if (dims[a] > maxn)
            maxn = dims[a];
    }
    for (long i = 0; i < total; i++)
        out[i] = feature[i] ? 0.0 : INFINITY;
    int fail = 0;
    for (int a = 0; a < ndim; a++) {
        long n = dims[a], stride = 1;
        for (int b = a + 1; b < ndim; b++)
            stride *= dims[b];
        long outer = total / (n * stride);
        double s = spacing ? spacing[a] : 1.0;
        long lines = outer * stride;
#pragma omp parallel reduction(| : fail)
        {
            edt_buf b;
            b.f = malloc((size_t)maxn * sizeof(double));
            b.z = malloc((size_t)(maxn + 1) * sizeof(double));
            b.v = malloc((size_t)maxn * sizeof(int));
            b.d = NULL;
            int ok = b.f && b.z && b.v;
#pragma omp for schedule(static)
            for (long l = 0; l < lines; l++) {
                if (!ok) {
                    fail = 1;
                    continue;
                }
                long o = l / stride, i = l % stride;
                edt_line(out + o * n * stride + i, n, stride, s, &b);
            }
            free(b.f);
            free(b.z);
            free(b.v);
        }
        if (fail)
            return ss_seterr("edt: out of memory for line buffers of %ld elements", maxn);
    }
    return SS_OK;
}

int ss_edt(const uint8_t *feature, int ndim, const int *dims, const double *spacing,
           double *out)
{
    if (ss_edt_sq(feature, ndim, dims, spacing, out))
        return SS_ERR;
    long total = 1;
    for (int a = 0; a < ndim; a++)
        total *= dims[a];
    for (long i = 0; i < total; i++)
        out[i] = sqrt(out[i]);
    return SS_OK;
}
