/* Shared test helpers: deterministic random data, comparisons with stated
 * tolerances, and an op harness that runs a kernel's reference forward and
 * checks its backward against central finite differences. */
#ifndef SS_TESTUTIL_H
#define SS_TESTUTIL_H

#include "kernels/op.h"

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Uniform values in [lo, hi) from Philox keyed by seed. */
void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);
float *tu_alloc(size_t n); /* zeroed; abort on failure */

/* Normalized MSE sum((a-b)^2) / max(sum(b^2), tiny). */
double tu_nmse(const float *a, const float *ref, size_t n);
/* Number of i with |a-ref| > atol + rtol*|ref|; writes the worst index. */
size_t tu_count_bad(const float *a, const float *ref, size_t n, double atol, double rtol,
                    size_t *worst);
/* ck_assert wrapper: every element within atol + rtol*|ref|. */
#define TU_ASSERT_CLOSE(a, ref, n, atol, rtol)                                                  \
    do {                                                                                         \
        size_t tu_w_ = 0;                                                                        \
        size_t tu_bad_ = tu_count_bad((a), (ref), (n), (atol), (rtol), &tu_w_);                   \
        ck_assert_msg(tu_bad_ == 0, "%zu of %zu elements off (atol %g rtol %g); worst [%zu] got %.9g want %.9g", \
                      tu_bad_, (size_t)(n), (double)(atol), (double)(rtol), tu_w_,               \
                      (double)(a)[tu_w_], (double)(ref)[tu_w_]);                                 \
    } while (0)

/* One op call with host buffers it owns. */
typedef struct opc {
    int kind;
    int ip[SS_MAX_IP];
    float fp[SS_MAX_FP];
    int n_in;
    ss_shape xs[SS_MAX_IN];
    float *x[SS_MAX_IN];
    int n_out;
    ss_shape ys[SS_MAX_OUT];
    float *y[SS_MAX_OUT];
    uint64_t step;
    int dyn_used;
    float dyn;
} opc;

/* ss_op_args of the op call o (shapes, parameters, host pointers). */
void opc_args(const opc *o, ss_op_args *a);

/* Infers output shapes and allocates zeroed inputs/outputs. ip/fp may be NULL
 * (zeros). Returns SS_OK or SS_ERR (message in semiseg_error()). */
int opc_init(opc *o, int kind, const int *ip, int nip, const float *fp, int nfp, int n_in,
             const ss_shape *xs);
/* Fills every input with uniform [lo, hi) from seed (per-input seeds differ). */
void opc_randomize(opc *o, float lo, float hi, uint64_t seed);
/* Runs the reference forward (ref = 1) or the dispatched path (ref = 0). */
int opc_fwd(opc *o, int ref);
/* Runs the reference backward with gy[0] = g (other outputs no gradient) and
 * writes input gradients into gx[i] for inputs whose bit is in mask. */
int opc_bwd(opc *o, const float *g, float *gx[SS_MAX_IN], unsigned mask);
void opc_free(opc *o);
/* The descriptor's FLOP count for this call's shapes and params. */
double opc_flops(const opc *o);

/* Checks the reference backward against central finite differences. The loss
 * is L = sum_i r_i * y0_i with fixed random r in [-1, 1); the numeric gradient
 * dL/dx = (L(x+eps) - L(x-eps)) / (2 eps) perturbs each FP32 input element and
 * accumulates L in FP64. Passes when |analytic - numeric| <= atol + rtol*|numeric|
 * for every element of every input in mask. Returns the number of failing
 * elements and describes the worst one in msg. */
size_t opc_gradcheck(opc *o, unsigned mask, double eps, double atol, double rtol, char *msg,
                     size_t msglen);
#define TU_GRADCHECK(o, mask, eps, atol, rtol)                                                  \
    do {                                                                                         \
        char tu_msg_[512];                                                                       \
        size_t tu_n_ = opc_gradcheck((o), (mask), (eps), (atol), (rtol), tu_msg_, sizeof tu_msg_); \
        ck_assert_msg(tu_n_ == 0, "gradcheck %s: %s", ss_op_name((o)->kind), tu_msg_);           \
    } while (0)

/* ck_assert that opc_init/opc_fwd succeeded, printing the error message. */
#define TU_OK(expr)                                                                              \
    do {                                                                                         \
        int tu_rc_ = (expr);                                                                     \
        ck_assert_msg(tu_rc_ == 0, "%s failed: %s", #expr, semiseg_error());                    \
    } while (0)

#endif
