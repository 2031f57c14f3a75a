/* Golden tests: the reference kernels of conv, deconv, batch norm (train and
 * eval), softmax, cross-entropy and upsample against PyTorch. Each fixture in
 * tests/golden/fixtures/ (written by tests/golden/make_fixtures.py) holds the
 * inputs, a fixed random upstream gradient gy, and PyTorch's outputs and
 * input gradients (torch.autograd.grad(y, inputs, gy)). The folder is
 * $SS_GOLDEN_DIR when set, else tests/golden/fixtures relative to the current
 * directory (make test runs from the repo root). A missing fixture FAILS the
 * test. SS_GOLDEN_VERBOSE=1 prints the error of every compared tensor.
 *
 * Tolerance, for every compared tensor (outputs, saved statistics, updated
 * running statistics, gradients):
 *   NMSE = sum (got - want)^2 / sum want^2 <= 1e-10, and
 *   |got - want| <= 1e-5 + 1e-4 |want| for every element.
 * The expected values are PyTorch's float64 results on the float32 inputs,
 * rounded to float32, and our reference kernels accumulate in double, so what
 * is left is float32 rounding of outputs and stored intermediates (relative
 * ~1e-7 per element, NMSE ~1e-14; most tensors match bit for bit). The
 * largest gap is linear upsampling with align_corners=0 (NMSE ~1e-13): like
 * PyTorch's float32 kernel it computes source coordinates in float, so the
 * weights carry float rounding. PyTorch's own float32 results sit within NMSE
 * 2e-13 of the fixtures (make_fixtures.py prints this), so 1e-10 leaves room
 * for summation order but not for a wrong index, weight or normalisation. */
#include "h5read.h"
#include "testutil.h"

#include "kernels/error.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G_NMSE 1e-10
#define G_ATOL 1e-5
#define G_RTOL 1e-4

/* One op call checked against one fixture file. Dataset names per slot;
 * NULL = nothing there / not compared. */
typedef struct gspec {
    const char *file;
    int kind;
    const char *in[SS_MAX_IN];    /* inputs in the op's order */
    const char *out[SS_MAX_OUT];  /* expected outputs */
    const char *gy;               /* upstream gradient of output 0 */
    const char *grad[SS_MAX_IN];  /* expected input gradients */
    const char *after[SS_MAX_IN]; /* expected input values after the forward (in-place updates) */
} gspec;

#define CONV_SPEC(f, k)                                                                          \
    {f, k, {"x", "w", "b"}, {"y"}, "gy", {"gx", "gw", "gb"}, {NULL}}
#define UPS_SPEC(f) {f, SS_OP_UPSAMPLE, {"x"}, {"y"}, "gy", {"gx"}, {NULL}}
#define CE_SPEC(f)                                                                               \
    {f, SS_OP_CE, {"logits", "labels"}, {"loss"}, "gy_loss", {"gx_loss", NULL}, {NULL}}
#define BN_IN {"x", "gamma", "beta", "running_mean", "running_var"}
#define BN_AFTER {NULL, NULL, NULL, "running_mean_after", "running_var_after"}

static const gspec g_specs[] = {
    CONV_SPEC("conv3d_k3_s1_p1.h5", SS_OP_CONV),
    CONV_SPEC("conv3d_k312_s212_p011.h5", SS_OP_CONV),
    {"conv2d_k3_s2_p1_nobias.h5", SS_OP_CONV, {"x", "w"}, {"y"}, "gy", {"gx", "gw"}, {NULL}},
    CONV_SPEC("deconv3d_k2_s2.h5", SS_OP_DECONV),
    CONV_SPEC("deconv3d_k3_s2_p1_op1.h5", SS_OP_DECONV),
    {"bn3d_train.h5", SS_OP_BN_TRAIN, BN_IN, {"y", "saved_mean", "saved_invstd"}, "gy",
     {"gx", "ggamma", "gbeta"}, BN_AFTER},
    /* eval: running stats must come out unchanged (the fixture's *_after equal the inputs) */
    {"bn3d_eval.h5", SS_OP_BN_EVAL, BN_IN, {"y"}, "gy", {"gx", "ggamma", "gbeta"}, BN_AFTER},
    {"softmax_ce.h5", SS_OP_SOFTMAX, {"logits"}, {"softmax"}, "gy_softmax", {"gx_softmax"},
     {NULL}},
    CE_SPEC("softmax_ce.h5"),
    CE_SPEC("ce_ignore_index.h5"),
    UPS_SPEC("upsample_trilinear_ac0.h5"),
    UPS_SPEC("upsample_trilinear_ac1.h5"),
    UPS_SPEC("upsample_bilinear_ac0_x2.h5"),
    UPS_SPEC("upsample_nearest.h5"),
};
#define N_SPECS ((int)(sizeof g_specs / sizeof g_specs[0]))

static int verbose(void)
{
    const char *v = getenv("SS_GOLDEN_VERBOSE");
    return v && *v && strcmp(v, "0") != 0;
}

static void compare(const char *file, const char *op, const char *what, const float *got,
                    const ss_shape *gs, const float *want, const ss_shape *ws)
{
    ck_assert_msg(ss_shape_eq(gs, ws), "golden %s (%s): %s has shape %s, PyTorch %s", file, op,
                  what, ss_shape_str(gs), ss_shape_str(ws));
    size_t n = (size_t)ss_numel(ws);
    double e = tu_nmse(got, want, n);
    size_t imax = 0;
    double dmax = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > dmax || isnan(d)) {
            dmax = isnan(d) ? INFINITY : d;
            imax = i;
        }
    }
    if (verbose()) {
        printf("golden %-28s %-11s %-18s NMSE %.3e  max|diff| %.3e\n", file, op, what, e, dmax);
        fflush(stdout);
    }
    ck_assert_msg(e <= G_NMSE,
                  "golden %s (%s): %s NMSE %.3e > %g; largest diff at [%zu]: got %.9g want %.9g",
                  file, op, what, e, G_NMSE, imax, (double)got[imax], (double)want[imax]);
    size_t worst = 0;
    size_t bad = tu_count_bad(got, want, n, G_ATOL, G_RTOL, &worst);
    ck_assert_msg(bad == 0,
                  "golden %s (%s): %s: %zu of %zu elements off (atol %g rtol %g); worst [%zu] "
                  "got %.9g want %.9g",
                  file, op, what, bad, n, G_ATOL, G_RTOL, worst, (double)got[worst],
                  (double)want[worst]);
}

/* Reads the op's ip/fp from the fixture's attributes (conventions of op.h). */
static void read_params(h5r_file *f, int kind, int *ip, float *fp)
{
    int ok = SS_OK;
    double d[1];
    switch (kind) {
    case SS_OP_CONV:
    case SS_OP_DECONV:
        ok |= h5r_attr_ints(f, "stride", ip + 0, 3);
        ok |= h5r_attr_ints(f, "padding", ip + 3, 3);
        if (kind == SS_OP_DECONV)
            ok |= h5r_attr_ints(f, "output_padding", ip + 6, 3);
        break;
    case SS_OP_BN_TRAIN:
    case SS_OP_BN_EVAL:
        ok |= h5r_attr_doubles(f, "momentum", d, 1);
        fp[0] = (float)d[0];
        ok |= h5r_attr_doubles(f, "eps", d, 1);
        fp[1] = (float)d[0];
        break;
    case SS_OP_UPSAMPLE:
        ok |= h5r_attr_ints(f, "mode", ip + 0, 1);
        ok |= h5r_attr_ints(f, "align_corners", ip + 1, 1);
        ok |= h5r_attr_ints(f, "size", ip + 2, 3);
        break;
    case SS_OP_CE:
        ok |= h5r_attr_ints(f, "ignore_index", ip + 0, 1);
        break;
    default:
        break;
    }
    ck_assert_msg(ok == SS_OK, "golden: %s", semiseg_error());
}

static int count_names(const char *const *names, int max)
{
    int n = 0;
    while (n < max && names[n])
        n++;
    return n;
}

static void run_spec(const gspec *s)
{
    const char *dir = getenv("SS_GOLDEN_DIR");
    if (!dir || !*dir)
        dir = "tests/golden/fixtures";
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, s->file);
    h5r_file *f = h5r_open(path);
    ck_assert_msg(f != NULL,
                  "golden: %s. Generate the fixtures with tests/golden/make_fixtures.py (see "
                  "tests/golden/README.md) or set SS_GOLDEN_DIR to their folder.",
                  semiseg_error());
    const char *op = ss_op_name(s->kind);
    const ss_op_desc *desc = ss_op_get(s->kind);

    int n_in = count_names(s->in, SS_MAX_IN);
    float *in[SS_MAX_IN] = {0};
    ss_shape xs[SS_MAX_IN];
    for (int i = 0; i < n_in; i++) {
        in[i] = h5r_read(f, s->in[i], &xs[i]);
        ck_assert_msg(in[i] != NULL, "golden: %s", semiseg_error());
    }
    int ip[SS_MAX_IP] = {0};
    float fp[SS_MAX_FP] = {0};
    read_params(f, s->kind, ip, fp);

    opc o;
    int rc = opc_init(&o, s->kind, ip, SS_MAX_IP, fp, SS_MAX_FP, n_in, xs);
    ck_assert_msg(rc == SS_OK, "golden %s (%s): shape inference failed: %s", s->file, op,
                  semiseg_error());
    for (int i = 0; i < n_in; i++)
        memcpy(o.x[i], in[i], (size_t)ss_numel(&xs[i]) * sizeof(float));

    /* reference forward: outputs and in-place updates */
    rc = opc_fwd(&o, 1);
    ck_assert_msg(rc == SS_OK, "golden %s (%s): reference forward failed: %s", s->file, op,
                  semiseg_error());
    for (int i = 0; i < SS_MAX_OUT; i++) {
        if (!s->out[i])
            continue;
        ck_assert_msg(i < o.n_out, "golden %s (%s): op has %d outputs, fixture expects '%s'",
                      s->file, op, o.n_out, s->out[i]);
        ss_shape ws;
        float *want = h5r_read(f, s->out[i], &ws);
        ck_assert_msg(want != NULL, "golden: %s", semiseg_error());
        compare(s->file, op, s->out[i], o.y[i], &o.ys[i], want, &ws);
        free(want);
    }
    for (int i = 0; i < n_in; i++) {
        if (!s->after[i])
            continue;
        ss_shape ws;
        float *want = h5r_read(f, s->after[i], &ws);
        ck_assert_msg(want != NULL, "golden: %s", semiseg_error());
        compare(s->file, op, s->after[i], o.x[i], &o.xs[i], want, &ws);
        free(want);
    }

    /* reference backward with the fixture's upstream gradient */
    unsigned mask = 0;
    float *gx[SS_MAX_IN] = {0};
    for (int i = 0; i < n_in; i++)
        if (s->grad[i]) {
            mask |= 1u << i;
            gx[i] = tu_alloc((size_t)ss_numel(&o.xs[i]));
        }
    if (mask) {
        ck_assert_msg((desc->diff_mask & mask) == mask,
                      "golden %s (%s): diff_mask 0x%x lacks inputs 0x%x that PyTorch "
                      "differentiates",
                      s->file, op, desc->diff_mask, mask);
        ss_shape gs;
        float *gy = h5r_read(f, s->gy, &gs);
        ck_assert_msg(gy != NULL, "golden: %s", semiseg_error());
        ck_assert_msg(ss_shape_eq(&gs, &o.ys[0]), "golden %s (%s): gy shape %s, output %s",
                      s->file, op, ss_shape_str(&gs), ss_shape_str(&o.ys[0]));
        rc = opc_bwd(&o, gy, gx, mask);
        ck_assert_msg(rc == SS_OK, "golden %s (%s): reference backward failed: %s", s->file, op,
                      semiseg_error());
        for (int i = 0; i < n_in; i++) {
            if (!s->grad[i])
                continue;
            ss_shape ws;
            float *want = h5r_read(f, s->grad[i], &ws);
            ck_assert_msg(want != NULL, "golden: %s", semiseg_error());
            compare(s->file, op, s->grad[i], gx[i], &o.xs[i], want, &ws);
            free(want);
            free(gx[i]);
        }
        free(gy);
    }

    /* the dispatched fast forward, when the op has one, must match PyTorch too */
    if (desc->fwd_fast) {
        for (int i = 0; i < n_in; i++)
            memcpy(o.x[i], in[i], (size_t)ss_numel(&xs[i]) * sizeof(float));
        for (int i = 0; i < o.n_out; i++)
            memset(o.y[i], 0, (size_t)ss_numel(&o.ys[i]) * sizeof(float));
        rc = opc_fwd(&o, 0);
        ck_assert_msg(rc == SS_OK, "golden %s (%s): fast forward failed: %s", s->file, op,
                      semiseg_error());
        for (int i = 0; i < SS_MAX_OUT && i < o.n_out; i++) {
            if (!s->out[i])
                continue;
            ss_shape ws;
            float *want = h5r_read(f, s->out[i], &ws);
            ck_assert_msg(want != NULL, "golden: %s", semiseg_error());
            char what[64];
            snprintf(what, sizeof what, "%s (fast)", s->out[i]);
            compare(s->file, op, what, o.y[i], &o.ys[i], want, &ws);
            free(want);
        }
    }

    for (int i = 0; i < n_in; i++)
        free(in[i]);
    opc_free(&o);
    h5r_close(f);
}

START_TEST(test_golden_case)
{
    run_spec(&g_specs[_i]);
}
END_TEST

Suite *suite_golden(void)
{
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("pytorch");
    tcase_add_loop_test(tc, test_golden_case, 0, N_SPECS);
    suite_add_tcase(s, tc);
    return s;
}
