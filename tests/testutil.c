#include "testutil.h"

#include "kernels/backend.h"
#include "kernels/error.h"
#include "kernels/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

float *tu_alloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "test: out of memory (%zu floats)\n", n);
        abort();
    }
    return p;
}

void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * ss_rng_uniform(seed, 0x7e57u, 0, i);
}

double tu_nmse(const float *a, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return num / (den > 1e-300 ? den : 1e-300);
}

size_t tu_count_bad(const float *a, const float *ref, size_t n, double atol, double rtol,
                    size_t *worst)
{
    size_t bad = 0;
    double wv = -1;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        double lim = atol + rtol * fabs((double)ref[i]);
        double excess = isnan(d) ? INFINITY : d - lim;
        if (excess > 0 || isnan(d)) {
            bad++;
            if (excess > wv) {
                wv = excess;
                *worst = i;
            }
        }
    }
    return bad;
}

int opc_init(opc *o, int kind, const int *ip, int nip, const float *fp, int nfp, int n_in,
             const ss_shape *xs)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    if (ip)
        memcpy(o->ip, ip, (size_t)nip * sizeof(int));
    if (fp)
        memcpy(o->fp, fp, (size_t)nfp * sizeof(float));
    o->n_in = n_in;
    for (int i = 0; i < n_in; i++)
        o->xs[i] = xs[i];
    const ss_op_desc *d = ss_op_get(kind);
    if (!d->infer)
        return ss_seterr("%s: no shape rule", d->name);
    if (d->infer(o->ip, o->fp, n_in, o->xs, &o->n_out, o->ys) != SS_OK)
        return SS_ERR;
    for (int i = 0; i < n_in; i++)
        o->x[i] = tu_alloc((size_t)ss_numel(&o->xs[i]));
    for (int i = 0; i < o->n_out; i++)
        o->y[i] = tu_alloc((size_t)ss_numel(&o->ys[i]));
    return SS_OK;
}

void opc_randomize(opc *o, float lo, float hi, uint64_t seed)
{
    for (int i = 0; i < o->n_in; i++)
        tu_fill_uniform(o->x[i], (size_t)ss_numel(&o->xs[i]), lo, hi, seed * 131 + (uint64_t)i);
}

void opc_args(const opc *o, ss_op_args *a)
{
    memset(a, 0, sizeof *a);
    a->kind = o->kind;
    a->ip = o->ip;
    a->fp = o->fp;
    a->n_in = o->n_in;
    a->n_out = o->n_out;
    for (int i = 0; i < o->n_in; i++) {
        a->xs[i] = o->xs[i];
        a->x[i] = o->x[i];
    }
    for (int i = 0; i < o->n_out; i++) {
        a->ys[i] = o->ys[i];
        a->y[i] = o->y[i];
    }
    a->step = o->step;
    a->dyn_used = o->dyn_used;
    a->dyn = o->dyn;
}

static int opc_call(ss_op_args *a, int bwd, int ref)
{
    const ss_op_desc *d = ss_op_get(a->kind);
    size_t ws = d->ws ? d->ws(a, bwd) : 0;
    void *buf = ws ? malloc(ws) : NULL;
    if (ws && !buf)
        return ss_seterr("test: cannot allocate %zu bytes of workspace", ws);
    a->ws = buf;
    a->ws_size = ws;
    int rc = ss_backend_cpu()->run(a, bwd, ref);
    free(buf);
    return rc;
}

int opc_fwd(opc *o, int ref)
{
    ss_op_args a;
    opc_args(o, &a);
    return opc_call(&a, 0, ref);
}

int opc_bwd(opc *o, const float *g, float *gx[SS_MAX_IN], unsigned mask)
{
    ss_op_args a;
    opc_args(o, &a);
    a.gy[0] = (float *)g;
    for (int i = 0; i < o->n_in; i++)
        a.gx[i] = (mask >> i) & 1 ? gx[i] : NULL;
    return opc_call(&a, 1, 1);
}

double opc_flops(const opc *o)
{
    ss_op_args a;
    opc_args(o, &a);
    const ss_op_desc *d = ss_op_get(o->kind);
    return d->flops ? d->flops(&a) : -1.0;
}

void opc_free(opc *o)
{
    for (int i = 0; i < o->n_in; i++)
        free(o->x[i]);
    for (int i = 0; i < o->n_out; i++)
        free(o->y[i]);
    memset(o, 0, sizeof *o);
}

static double opc_loss(opc *o, const float *r)
{
    if (opc_fwd(o, 1) != SS_OK)
        return NAN;
    double l = 0;
    size_t n = (size_t)ss_numel(&o->ys[0]);
    for (size_t i = 0; i < n; i++)
        l += (double)r[i] * o->y[0][i];
    return l;
}

size_t opc_gradcheck(opc *o, unsigned mask, double eps, double atol, double rtol, char *msg,
                     size_t msglen)
{
    size_t ny = (size_t)ss_numel(&o->ys[0]);
    float *r = tu_alloc(ny);
    tu_fill_uniform(r, ny, -1.f, 1.f, 0xC0FFEEu);
    float *gx[SS_MAX_IN] = {0};
    snprintf(msg, msglen, "ok");
    if (opc_fwd(o, 1) != SS_OK || opc_bwd(o, r, gx, 0) != SS_OK) { /* shape/alloc sanity */
        snprintf(msg, msglen, "forward/backward failed: %s", semiseg_error());
        free(r);
        return 1;
    }
    for (int i = 0; i < o->n_in; i++)
        if ((mask >> i) & 1)
            gx[i] = tu_alloc((size_t)ss_numel(&o->xs[i]));
    size_t bad = 0;
    double worst = -INFINITY;
    if (opc_fwd(o, 1) != SS_OK || opc_bwd(o, r, gx, mask) != SS_OK) {
        snprintf(msg, msglen, "backward failed: %s", semiseg_error());
        bad = 1;
        goto out;
    }
    for (int i = 0; i < o->n_in && !bad; i++) {
        if (!((mask >> i) & 1))
            continue;
        size_t n = (size_t)ss_numel(&o->xs[i]);
        for (size_t k = 0; k < n; k++) {
            float keep = o->x[i][k];
            o->x[i][k] = keep + (float)eps;
            double lp = opc_loss(o, r);
            o->x[i][k] = keep - (float)eps;
            double lm = opc_loss(o, r);
            o->x[i][k] = keep;
            /* the perturbation actually applied in FP32 */
            double h = ((double)(keep + (float)eps) - (double)(keep - (float)eps));
            double num = (lp - lm) / h;
            double an = gx[i][k];
            double err = fabs(an - num) - (atol + rtol * fabs(num));
            if (!(err <= 0)) {
                bad++;
                if (err > worst || isnan(err)) {
                    worst = isnan(err) ? INFINITY : err;
                    snprintf(msg, msglen,
                             "%zu bad; worst input %d element %zu: analytic %.8g numeric %.8g "
                             "(eps %g atol %g rtol %g)",
                             bad, i, k, an, num, eps, atol, rtol);
                }
            }
        }
        if (bad)
            snprintf(msg + strlen(msg), msglen - strlen(msg), " [total bad %zu]", bad);
    }
out:
    opc_fwd(o, 1);
    for (int i = 0; i < o->n_in; i++)
        free(gx[i]);
    free(r);
    return bad;
}
