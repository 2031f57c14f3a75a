/* One full training step of the mutual-consistency plugins against an
 * independent PyTorch implementation of the published methods: fbanet 3-D
 * and 2-D, mcnet_plus 3-D and 2-D (baselines/mcnet.c, methods/fbanet.c),
 * through the fixtures tests/golden/fixtures/plugin_<case>.h5 written by
 * tests/golden/make_plugin_fixtures.py (its docstring gives the loss
 * definitions, taken from protocol-2d.md / protocol-3d.md, and the layout).
 * The folder is $SS_GOLDEN_DIR when set, else tests/golden/fixtures relative
 * to the current directory; a missing fixture FAILS. SS_GOLDEN_VERBOSE=1
 * prints every case's largest errors.
 *
 * Per case: the plugin is built from its resolved "paper" spec with the
 * fixture's batch shape (4 rows, 2 labeled), patch, projection width
 * (method.cm_dim) and model.dropout = 0 (dropout off; BN in training mode);
 * every parameter is overwritten with the fixture's weights (generated from
 * the key by the script's hash generator, bit-identical here, or stored),
 * then m->step runs once at the fixture's iteration on the fixture's batch.
 * Checked: the ramp weight, every loss term the fixture has (loss, dice,
 * cons; fbanet also cm, cm_pos, cm_neg) and, per parameter tensor, the SGD
 * update (lr 0.01, momentum 0.9, weight decay 1e-4, first step):
 *   u = -lr * momentum_buffer (= -lr (grad + wd w), the step before it is
 *       rounded into w): sum, sum of squares and 8 sampled entries;
 *   dw = w_after - w_before as stored: its sum and the sampled entries.
 *
 * Tolerances. The reference is PyTorch in float64 on the same float32
 * weights and batch; the plugin runs float32 through the fast CPU paths
 * (oneDNN convolutions, OpenMP reductions), so its error is float32 rounding
 * carried through a 20-40 layer forward and backward, with a different
 * summation order and conv algorithm than PyTorch's. Measured (single
 * thread; SS_GOLDEN_VERBOSE=1 prints them): float32 PyTorch vs the fixture,
 * which make_plugin_fixtures.py prints, and this plugin vs the fixture:
 *                      float32 PyTorch    plugin (worst of the 4 cases)
 *   loss terms         <= 7.6e-7 rel      <= 6.9e-7 rel
 *   sum of u           <= 3.2e-5 of l1    <= 5.9e-6 of l1
 *   sum of squares     <= 3.5e-5 rel      <= 2.1e-5 rel
 *   u entries          <= 8.1e-4 of rms   <= 3.7e-4 of rms
 * and the limits are a few times the float32 PyTorch level:
 *   loss terms   |got - want| <= TERM_RTOL |want|; any change of a constant
 *                (alpha, a clamp bound, the ramp, the 1/12, lambda) moves a
 *                term by orders of magnitude more.
 *   u, ordinary tensors: |sum - want| <= SUM_TOL * sum|u_want| (a sum may
 *                cancel, so it is measured against the l1 norm);
 *                |sumsq / want - 1| <= SQ_TOL; each sample within
 *                SAMPLE_ATOL * rms(u_want) + SAMPLE_RTOL |u_want|. The
 *                entries are the least accurate: the Dice gradient reaching
 *                a decoder's last BN is nearly uniform per channel, and the
 *                train-mode BN backward subtracts its mean, so float32
 *                rounding of the logit gradients (~5e-7) grows to ~1e-3 of
 *                the rms in some weight gradients behind it (float32 PyTorch:
 *                8.1e-4 in decoder3.block_eight_up of mcnet_plus 3-D, 1.1e-4
 *                from the Dice term alone at NMSE level); relative to the rms
 *                because elements near 0 carry their neighbours' absolute
 *                error.
 *   u, conv biases followed by train-mode BN (gradient 0 analytically; u =
 *                -lr wd b plus the rounding residue of a cancelling sum):
 *                each entry and sum/n within ZERO_TOL * zscale, zscale =
 *                lr * max_c sum |dL/dy_c| over the conv output y (stored by
 *                the script), the scale the residue is relative to
 *                (measured <= 2.1e-6 zscale; float32 PyTorch <= 2.4e-6); a
 *                BN backward that fails to remove the mean is off by
 *                >= zscale / sqrt(count), i.e. >= 2.7e-3 zscale here.
 *   dw:          as u, plus the float32 quantization of w_after: each entry
 *                + ulp(w), the sum + sum_i ulp(w_i) (w ~ 1 for BN weights
 *                makes ulp(w) ~ 1e-7 comparable to u itself).
 * The fixture's batch is chosen so that no ReLU / LeakyReLU input or MaxPool
 * top-2 gap lies within 2e-6 (relative) of its kink, no similarity within
 * 1e-4 of a clamp bound or of its neighbour in the row's sorted order, so
 * rounding cannot flip a mask, a clamp or a rank (which would change the
 * step by O(1) locally). */
#include "testutil.h"

#include "harness/nn/model.h"
#include "harness/optim.h"
#include "harness/train.h"
#include "kernels/error.h"
#include "methods/method.h"

#include <check.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TERM_RTOL 2e-5
#define SUM_TOL 1e-4
#define SQ_TOL 1e-4
#define SAMPLE_ATOL 2e-3
#define SAMPLE_RTOL 1e-4
#define ZERO_TOL 1e-5

#include "golden_gen.h"

static void h5_attr(hid_t f, const char *name, hid_t mem_type, void *out)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    ck_assert_msg(a >= 0, "plugin_golden: fixture has no attribute '%s'", name);
    ck_assert_msg(H5Aread(a, mem_type, out) >= 0, "plugin_golden: cannot read attribute '%s'",
                  name);
    H5Aclose(a);
}

/* ---- the plugin ---- */

static ss_spec *resolve(const char *method, int dims, int nsets, const char *const *sets)
{
    const ss_method *m = ss_method_find(method);
    ck_assert_msg(m != NULL, "%s", semiseg_error());
    ss_spec_base b = dims == 3
                         ? (ss_spec_base){"synth-la", "la", 3, {80, 112, 112}, {4, 18, 18}, "test"}
                         : (ss_spec_base){"synth-acdc", "acdc", 2, {1, 256, 256}, {1, 1, 1}, "val"};
    ss_spec *s = NULL;
    ck_assert_msg(ss_method_resolve_spec(m, &b, "paper", nsets, sets, &s) == SS_OK, "%s: %s",
                  method, semiseg_error());
    return s;
}

static double rel_err(double got, double want)
{
    return fabs(got - want) / fmax(fabs(want), 1e-300);
}

static float ulpf(float w)
{
    float a = fabsf(w);
    return nextafterf(a, INFINITY) - a;
}

typedef struct worst {
    double term, sum, sq, sample, zero, dw_sum, dw_sample;
    char term_name[24], sum_key[128], sq_key[128], sample_key[128];
} worst;

static void note(double *w, double v, char *key, const char *k)
{
    if (v > *w) {
        *w = v;
        if (key)
            snprintf(key, 128, "%s", k);
    }
}

static void run_case(const char *file, const char *method, int dims)
{
    const char *dir = getenv("SS_GOLDEN_DIR");
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/golden/fixtures", file);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(f >= 0, "plugin_golden: cannot open fixture %s (regenerate with "
                          "tests/golden/make_plugin_fixtures.py)", path);
    int fdims, classes, batch, lbs, patch[3], dim, iter;
    double ramp, lr, mom, wd;
    h5_attr(f, "dims", H5T_NATIVE_INT, &fdims);
    h5_attr(f, "classes", H5T_NATIVE_INT, &classes);
    h5_attr(f, "batch", H5T_NATIVE_INT, &batch);
    h5_attr(f, "labeled_bs", H5T_NATIVE_INT, &lbs);
    h5_attr(f, "patch", H5T_NATIVE_INT, patch);
    h5_attr(f, "dim", H5T_NATIVE_INT, &dim);
    h5_attr(f, "iteration", H5T_NATIVE_INT, &iter);
    h5_attr(f, "ramp_weight", H5T_NATIVE_DOUBLE, &ramp);
    h5_attr(f, "lr", H5T_NATIVE_DOUBLE, &lr);
    h5_attr(f, "momentum", H5T_NATIVE_DOUBLE, &mom);
    h5_attr(f, "weight_decay", H5T_NATIVE_DOUBLE, &wd);
    ck_assert_int_eq(fdims, dims);

    /* the plugin's paper spec with the fixture's shapes, dropout off */
    char s_patch[64], s_batch[32], s_lbs[32], s_dim[32];
    snprintf(s_patch, sizeof s_patch, "data.patch=%d,%d,%d", patch[0], patch[1], patch[2]);
    snprintf(s_batch, sizeof s_batch, "data.batch=%d", batch);
    snprintf(s_lbs, sizeof s_lbs, "data.labeled_bs=%d", lbs);
    snprintf(s_dim, sizeof s_dim, "method.cm_dim=%d", dim);
    const char *sets[] = {s_patch, s_batch, s_lbs, s_dim, "model.dropout=0"};
    ss_spec *s = resolve(method, dims, 5, sets);
    const char *opt;
    double v;
    TU_OK(ss_spec_str(s, "train.optimizer", &opt));
    ck_assert_str_eq(opt, "sgd");
    TU_OK(ss_spec_double(s, "train.lr", &v));
    ck_assert_double_eq(v, lr);
    TU_OK(ss_spec_double(s, "train.momentum", &v));
    ck_assert_double_eq(v, mom);
    TU_OK(ss_spec_double(s, "train.weight_decay", &v));
    ck_assert_double_eq(v, wd);

    const ss_method *m = ss_method_find(method);
    ss_train_ctx c;
    memset(&c, 0, sizeof c);
    c.spec = s;
    c.be = ss_backend_cpu();
    c.dims = dims;
    c.in_ch = 1;
    c.classes = classes;
    TU_OK(ss_spec_int3(s, "data.patch", c.patch));
    TU_OK(ss_train_batch_shape(m, s, &c.batch, &c.labeled_bs));
    ck_assert_int_eq(c.batch, batch);
    ck_assert_int_eq(c.labeled_bs, lbs);
    c.seed = 1337;
    c.iterations = 15000;
    c.log = fopen("/dev/null", "w");
    c.ramp = NAN;
    ck_assert_msg(m->build(&c) == SS_OK, "%s build: %s", method, semiseg_error());
    ck_assert_int_eq(c.n_nets, 1);
    ck_assert_int_eq(c.n_opts, 1);
    ss_nn *nn = c.nets[0];
    ss_graph *g = nn->g;
    ss_optim *o = c.opts[0];

    /* weights: every parameter of the plugin's network, by key */
    size_t nk, n1;
    char **keys = h5_strings(f, "keys", &nk);
    float *gen = h5_array(f, "key_gen", H5T_NATIVE_FLOAT, sizeof(float), &n1);
    ck_assert_uint_eq(n1, 2 * nk);
    int64_t *koff = h5_array(f, "key_offset", H5T_NATIVE_INT64, sizeof(int64_t), &n1);
    size_t nkv;
    float *kval = h5_array(f, "key_values", H5T_NATIVE_FLOAT, sizeof(float), &nkv);
    int64_t *numel = h5_array(f, "upd/numel", H5T_NATIVE_INT64, sizeof(int64_t), &n1);
    int n_params = 0;
    for (int i = 0; i < nn->n; i++)
        n_params += nn->e[i].is_param;
    ck_assert_msg((size_t)n_params == nk, "%s: the plugin's network has %d parameters, the "
                  "fixture %zu", file, n_params, nk);
    float **before = calloc(nk, sizeof *before);
    int *tens = calloc(nk, sizeof *tens);
    ck_assert(before && tens);
    for (size_t k = 0; k < nk; k++) {
        int e = nn_find(nn, keys[k]);
        ck_assert_msg(e >= 0 && nn->e[e].is_param, "%s: parameter %s not in the plugin's network",
                      file, keys[k]);
        tens[k] = nn->e[e].t;
        ss_shape sh = graph_shape(g, tens[k]);
        size_t n = (size_t)ss_numel(&sh);
        ck_assert_msg((int64_t)n == numel[k], "%s: %s has %zu elements, fixture %lld", file,
                      keys[k], n, (long long)numel[k]);
        before[k] = tu_alloc(n);
        if (koff[k] >= 0) {
            ck_assert((size_t)koff[k] + n <= nkv);
            memcpy(before[k], kval + koff[k], n * sizeof(float));
        } else {
            gen_tensor(keys[k], before[k], n, gen[2 * k], gen[2 * k + 1]);
        }
        TU_OK(graph_upload(g, tens[k], before[k]));
    }

    /* the batch: labels stored; image[n, i] = (offset[n] + level[n, label]) +
     * 0.25 (2 u(noise, n * vox + i) - 1) in float32 (only the last addition
     * rounds: bit-identical to the script) */
    size_t nx, ny, no, nl;
    float *lab = h5_array(f, "label", H5T_NATIVE_FLOAT, sizeof(float), &ny);
    float *off = h5_array(f, "image_offset", H5T_NATIVE_FLOAT, sizeof(float), &no);
    float *lev = h5_array(f, "image_level", H5T_NATIVE_FLOAT, sizeof(float), &nl);
    int bseed;
    char noise[32];
    h5_attr(f, "batch_seed", H5T_NATIVE_INT, &bseed);
    snprintf(noise, sizeof noise, "noise%d", bseed);
    size_t vox = (size_t)patch[0] * patch[1] * patch[2];
    nx = (size_t)batch * vox;
    ck_assert_uint_eq(ny, nx);
    ck_assert_uint_eq(no, (size_t)batch);
    ck_assert_uint_eq(nl, (size_t)batch * classes);
    float *img = tu_alloc(nx);
    uint64_t nh = fnv1a64(noise);
    for (size_t i = 0; i < nx; i++) {
        int cls = (int)lab[i];
        ck_assert(cls >= 0 && cls < classes);
        size_t r = i / vox;
        float base = off[r] + lev[r * classes + cls];
        float nz = 0.25f * gen_unit(nh, i);
        img[i] = base + nz;
    }
    ss_batch b = {.n = batch, .labeled_bs = lbs, .shape = {1, patch[0], patch[1], patch[2]},
                  .image = img, .label = lab};

    ss_loss_terms t;
    memset(&t, 0, sizeof t);
    ck_assert_msg(m->step(&c, &b, iter, &t) == SS_OK, "%s step: %s", method, semiseg_error());
    ck_assert_msg(rel_err(c.ramp, ramp) <= 1e-12, "%s: ramp weight %.17g, fixture %.17g", file,
                  c.ramp, ramp);

    worst w;
    memset(&w, 0, sizeof w);
    size_t nt, ntv;
    char **tn = h5_strings(f, "terms/names", &nt);
    double *tv = h5_array(f, "terms/values", H5T_NATIVE_DOUBLE, sizeof(double), &ntv);
    ck_assert_uint_eq(nt, ntv);
    for (size_t i = 0; i < nt; i++) {
        int j = 0;
        while (j < t.n && strcmp(t.name[j], tn[i]))
            j++;
        ck_assert_msg(j < t.n, "%s: the plugin reports no term '%s'", file, tn[i]);
        double e = rel_err(t.value[j], tv[i]);
        note(&w.term, e, w.term_name, tn[i]);
        ck_assert_msg(e <= TERM_RTOL, "%s: term %s = %.9g, PyTorch %.9g (rel %.2e > %g)", file,
                      tn[i], t.value[j], tv[i], e, TERM_RTOL);
    }

    /* the update */
    double *usum = h5_array(f, "upd/sum", H5T_NATIVE_DOUBLE, sizeof(double), &n1);
    double *usq = h5_array(f, "upd/sumsq", H5T_NATIVE_DOUBLE, sizeof(double), &n1);
    double *ul1 = h5_array(f, "upd/l1", H5T_NATIVE_DOUBLE, sizeof(double), &n1);
    double *zsc = h5_array(f, "upd/zscale", H5T_NATIVE_DOUBLE, sizeof(double), &n1);
    size_t nidx;
    int64_t *idx = h5_array(f, "upd/idx", H5T_NATIVE_INT64, sizeof(int64_t), &nidx);
    double *uval = h5_array(f, "upd/values", H5T_NATIVE_DOUBLE, sizeof(double), &n1);
    ck_assert_uint_eq(nidx % nk, 0);
    size_t S = nidx / nk;
    int nst = ss_optim_n_state(o);
    for (size_t k = 0; k < nk; k++) {
        size_t n = (size_t)numel[k];
        float *mb = NULL;
        for (int i = 0; i < nst && !mb; i++) {
            int tt;
            const char *slot;
            float *data;
            TU_OK(ss_optim_state(o, i, &tt, &slot, &data));
            if (tt == tens[k] && !strcmp(slot, "momentum_buffer"))
                mb = data;
        }
        ck_assert_msg(mb != NULL, "%s: no momentum buffer for %s", file, keys[k]);
        float *after = tu_alloc(n);
        TU_OK(graph_download(g, tens[k], after));
        double s_u = 0, sq_u = 0, s_dw = 0, ulps = 0;
        for (size_t i = 0; i < n; i++) {
            double u = -lr * (double)mb[i];
            s_u += u;
            sq_u += u * u;
            s_dw += (double)after[i] - (double)before[k][i];
            ulps += ulpf(before[k][i]);
        }
        double rms = sqrt(usq[k] / (double)n);
        if (zsc[k] > 0) {
            /* gradient 0 analytically: absolute, relative to the scale zscale */
            double tol = ZERO_TOL * zsc[k];
            double e = fabs(s_u - usum[k]) / (double)n;
            for (size_t j = 0; j < S; j++) {
                size_t i = (size_t)idx[k * S + j];
                e = fmax(e, fabs(-lr * (double)mb[i] - uval[k * S + j]));
                double edw = fabs((double)after[i] - before[k][i] - uval[k * S + j]) -
                             ulpf(before[k][i]);
                ck_assert_msg(edw <= tol, "%s: %s[%zu]: w_after - w_before = %.9g, PyTorch "
                              "%.9g (zscale %.3g)", file, keys[k], i,
                              (double)after[i] - before[k][i], uval[k * S + j], zsc[k]);
            }
            note(&w.zero, e / zsc[k], NULL, keys[k]);
            ck_assert_msg(e <= tol, "%s: %s (gradient 0 analytically): update off by %.3g, "
                          "tolerance %.3g (zscale %.3g)", file, keys[k], e, tol, zsc[k]);
            free(after);
            continue;
        }
        double e_sum = fabs(s_u - usum[k]) / ul1[k];
        double e_sq = rel_err(sq_u, usq[k]);
        double e_dw = (fabs(s_dw - usum[k]) - ulps) / ul1[k];
        note(&w.sum, e_sum, w.sum_key, keys[k]);
        note(&w.sq, e_sq, w.sq_key, keys[k]);
        note(&w.dw_sum, e_dw, NULL, keys[k]);
        ck_assert_msg(e_sum <= SUM_TOL, "%s: %s: sum of the update %.9g, PyTorch %.9g "
                      "(off by %.2e of sum|u| > %g)", file, keys[k], s_u, usum[k], e_sum, SUM_TOL);
        ck_assert_msg(e_sq <= SQ_TOL, "%s: %s: sum of squares of the update %.9g, PyTorch "
                      "%.9g (rel %.2e > %g)", file, keys[k], sq_u, usq[k], e_sq, SQ_TOL);
        ck_assert_msg(e_dw <= SUM_TOL, "%s: %s: sum of w_after - w_before %.9g, PyTorch %.9g "
                      "(beyond the ulp allowance by %.2e of sum|u|)", file, keys[k], s_dw,
                      usum[k], e_dw);
        for (size_t j = 0; j < S; j++) {
            size_t i = (size_t)idx[k * S + j];
            double want = uval[k * S + j];
            double tol = SAMPLE_ATOL * rms + SAMPLE_RTOL * fabs(want);
            double got = -lr * (double)mb[i];
            double dw = (double)after[i] - (double)before[k][i];
            note(&w.sample, fabs(got - want) / rms, w.sample_key, keys[k]);
            note(&w.dw_sample, (fabs(dw - want) - ulpf(before[k][i])) / rms, NULL, keys[k]);
            ck_assert_msg(fabs(got - want) <= tol, "%s: %s[%zu]: update %.9g, PyTorch %.9g "
                          "(tolerance %.3g)", file, keys[k], i, got, want, tol);
            ck_assert_msg(fabs(dw - want) <= tol + ulpf(before[k][i]),
                          "%s: %s[%zu]: w_after - w_before %.9g, PyTorch %.9g (tolerance %.3g "
                          "+ ulp %.3g)", file, keys[k], i, dw, want, tol, ulpf(before[k][i]));
        }
        free(after);
    }
    const char *verbose = getenv("SS_GOLDEN_VERBOSE");
    if (verbose && *verbose && strcmp(verbose, "0"))
        printf("plugin_golden %-24s terms max rel %.2e (%s); update u: sum %.2e of l1 (%s), "
               "sumsq rel %.2e (%s), samples %.2e of rms (%s), zero-grad biases %.2e of "
               "zscale; dw beyond ulp: sum %.2e of l1, samples %.2e of rms\n",
               file, w.term, w.term_name, w.sum, w.sum_key, w.sq, w.sq_key, w.sample,
               w.sample_key, w.zero, w.dw_sum, w.dw_sample);

    m->destroy(&c);
    fclose(c.log);
    for (size_t k = 0; k < nk; k++)
        free(before[k]);
    free(before);
    free(tens);
    free(keys);
    free(gen);
    free(koff);
    free(kval);
    free(numel);
    free(img);
    free(lab);
    free(off);
    free(lev);
    free(tn);
    free(tv);
    free(usum);
    free(usq);
    free(ul1);
    free(zsc);
    free(idx);
    free(uval);
    ss_spec_free(s);
    H5Fclose(f);
}

START_TEST(test_fbanet_3d) { run_case("plugin_fbanet3d.h5", "fbanet", 3); }
END_TEST

START_TEST(test_mcnet_plus_3d) { run_case("plugin_mcnet_plus3d.h5", "mcnet_plus", 3); }
END_TEST

START_TEST(test_fbanet_2d) { run_case("plugin_fbanet2d.h5", "fbanet", 2); }
END_TEST

START_TEST(test_mcnet_plus_2d) { run_case("plugin_mcnet_plus2d.h5", "mcnet_plus", 2); }
END_TEST

Suite *suite_plugin_golden(void)
{
    Suite *s = suite_create("plugin_golden");
    TCase *tc = tcase_create("step");
    tcase_add_test(tc, test_fbanet_3d);
    tcase_add_test(tc, test_mcnet_plus_3d);
    tcase_add_test(tc, test_fbanet_2d);
    tcase_add_test(tc, test_mcnet_plus_2d);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
