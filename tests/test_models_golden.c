/* Whole-network golden tests: the model builders (harness/nn) against the
 * PyTorch modules of tests/golden/models.py, through the fixtures
 * tests/golden/fixtures/model_<name>.h5 written by
 * tests/golden/make_model_fixtures.py (its docstring describes the layout).
 * The folder is $SS_GOLDEN_DIR when set, else tests/golden/fixtures relative to
 * the current directory; a missing fixture FAILS. SS_GOLDEN_VERBOSE=1 prints
 * every compared tensor and a per-model summary.
 *
 * Per model: build with ss_model_build (cfg from the fixture, has_dropout 0),
 * check the key set (state_dict keys minus num_batches_tracked, PyTorch shapes,
 * parameter vs buffer; the BN prefixes against the fixture's
 * num_batches_tracked keys), upload the fixture's weights by key, then
 *   eval graph (nn train 0): every head;
 *   train graph (nn train 1, BN batch statistics): every head, the gradient of
 *   every parameter for L = sum_h sum(head_h * R_h), and the BN running
 *   statistics after the step.
 * Large weights, x and R are not stored but generated from their names by the
 * fixture's generator (gen_tensor below, bit-identical to the script); large
 * checked tensors are stored as a sample at generated indices plus two
 * full-tensor sums (sum t^2 and a random projection sum t_i P_i).
 *
 * The graphs run on the reference kernels (SS_PLAN_REF), the definition of
 * correct; the fast CPU paths are checked against them in test_fastpath.
 *
 * Tolerances, for every checked tensor (sample or full):
 *   NMSE = sum (got - want)^2 / sum want^2 <= 1e-10 over the stored elements;
 *   |got - want| <= 1e-5 * rms(want) + 1e-4 |want| for every stored element;
 *   projection: (p_got - p_want)^2 / (sum want^2 * mean P^2) <= 1e-10 — the
 *   NMSE along a random direction, an unbiased one-sample estimate of the
 *   NMSE of the whole tensor, so elements outside the sample are covered too.
 * Expected values are PyTorch's float64 results on the float32 weights and
 * input, rounded to float32; our kernels accumulate in double and round each
 * stored tensor to float32, so what remains is float32 rounding carried
 * through 20-40 layers: achieved NMSE <= 4e-14 on outputs, <= 6e-12 on
 * gradients (deepest encoder layers), <= 4e-15 on running statistics; float32
 * PyTorch itself is at <= 3e-10 on gradients. SS_GOLDEN_VERBOSE=1 prints
 * them. The element-wise
 * bound is relative to the tensor's RMS because gradients and ReLU outputs
 * have many elements near 0 whose absolute error is set by the tensor's
 * scale, not their own.
 *   Exception: the bias of a conv followed by train-mode BN has gradient 0
 * analytically (BN removes the per-channel mean). Its computed value is the
 * rounding residue of a sum of float32 terms that cancel, so it is checked
 * against the scale of those terms: max |got| <= 1e-5 * l1, l1 = max over
 * channels of sum |dL/dy_c| (y = the conv output), stored by the script.
 * We get <= 5e-7 * l1 (float32 PyTorch 3e-7); a sum that does not cancel
 * (a BN backward that fails to remove the mean) is >= l1 / sqrt(count),
 * i.e. >= 4e-3 * l1 even for the largest layer here.
 *   Why 1e-10 is reachable for train-mode gradients at all: the script sets
 * the BN biases that feed a ReLU/LeakyReLU to +-(2.5..3.5) gamma and picks the
 * input so that no pre-activation or MaxPool top-2 gap is within 2e-6
 * (relative) of its kink; otherwise float32 rounding flips a few mask
 * elements and moves gradients by O(1) locally (NMSE 1e-6..1e-4 even for
 * float32 PyTorch). */
#include "h5read.h"
#include "testutil.h"

#include "harness/nn/model.h"
#include "kernels/error.h"

#include <check.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M_NMSE 1e-10
#define M_ATOL_RMS 1e-5
#define M_RTOL 1e-4
#define M_ZERO_TOL 1e-5

#include "golden_gen.h"

static int str_index(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return (int)i;
    return -1;
}

/* ---- fixture contents ---- */

typedef struct rgroup { /* one record group: eval, train, grad, after */
    size_t n;
    char **names;
    int64_t *numel, *offset;
    float *values;
    double *sumsq, *proj, *l1;
    size_t nvalues;
} rgroup;

typedef struct fixture {
    const char *file, *model;
    char path[2048];
    int batch, in_ch, classes, dim, patch[3], x_seed, sample_out, sample_grad;
    size_t nkeys, nheads;
    char **keys, **heads;
    int32_t *key_rank, *key_shape, *head_rank, *head_shape;
    int8_t *key_is_param;
    float *key_gen, *key_values;
    int64_t *key_offset;
    rgroup eval, train, grad, after;
} fixture;

static void read_group(hid_t f, const char *grp, rgroup *r)
{
    char name[64];
    size_t n;
    snprintf(name, sizeof name, "%s/names", grp);
    r->names = h5_strings(f, name, &r->n);
    snprintf(name, sizeof name, "%s/numel", grp);
    r->numel = h5_array(f, name, H5T_NATIVE_INT64, 8, &n);
    snprintf(name, sizeof name, "%s/offset", grp);
    r->offset = h5_array(f, name, H5T_NATIVE_INT64, 8, &n);
    snprintf(name, sizeof name, "%s/values", grp);
    r->values = h5_array(f, name, H5T_NATIVE_FLOAT, 4, &r->nvalues);
    snprintf(name, sizeof name, "%s/sumsq", grp);
    r->sumsq = h5_array(f, name, H5T_NATIVE_DOUBLE, 8, &n);
    snprintf(name, sizeof name, "%s/proj", grp);
    r->proj = h5_array(f, name, H5T_NATIVE_DOUBLE, 8, &n);
    snprintf(name, sizeof name, "%s/l1", grp);
    r->l1 = h5_array(f, name, H5T_NATIVE_DOUBLE, 8, &n);
}

static void free_group(rgroup *r)
{
    free(r->names);
    free(r->numel);
    free(r->offset);
    free(r->values);
    free(r->sumsq);
    free(r->proj);
    free(r->l1);
}

static void load_fixture(fixture *fx)
{
    const char *dir = getenv("SS_GOLDEN_DIR");
    if (!dir || !*dir)
        dir = "tests/golden/fixtures";
    snprintf(fx->path, sizeof fx->path, "%s/%s", dir, fx->file);
    h5r_file *h = h5r_open(fx->path);
    ck_assert_msg(h != NULL,
                  "models_golden: %s. Generate the fixtures with "
                  "tests/golden/make_model_fixtures.py (see tests/golden/README.md) or set "
                  "SS_GOLDEN_DIR to their folder.",
                  semiseg_error());
    int ok = SS_OK;
    ok |= h5r_attr_ints(h, "batch", &fx->batch, 1);
    ok |= h5r_attr_ints(h, "in_ch", &fx->in_ch, 1);
    ok |= h5r_attr_ints(h, "classes", &fx->classes, 1);
    ok |= h5r_attr_ints(h, "dim", &fx->dim, 1);
    ok |= h5r_attr_ints(h, "patch", fx->patch, 3);
    ok |= h5r_attr_ints(h, "x_seed", &fx->x_seed, 1);
    ok |= h5r_attr_ints(h, "sample_out", &fx->sample_out, 1);
    ok |= h5r_attr_ints(h, "sample_grad", &fx->sample_grad, 1);
    ck_assert_msg(ok == SS_OK, "models_golden: %s", semiseg_error());
    h5r_close(h);

    hid_t f = H5Fopen(fx->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(f >= 0, "models_golden: cannot open %s", fx->path);
    size_t n;
    fx->keys = h5_strings(f, "keys", &fx->nkeys);
    fx->key_rank = h5_array(f, "key_rank", H5T_NATIVE_INT32, 4, &n);
    fx->key_shape = h5_array(f, "key_shape", H5T_NATIVE_INT32, 4, &n);
    ck_assert(n == 5 * fx->nkeys);
    fx->key_is_param = h5_array(f, "key_is_param", H5T_NATIVE_INT8, 1, &n);
    fx->key_gen = h5_array(f, "key_gen", H5T_NATIVE_FLOAT, 4, &n);
    fx->key_offset = h5_array(f, "key_offset", H5T_NATIVE_INT64, 8, &n);
    fx->key_values = h5_array(f, "key_values", H5T_NATIVE_FLOAT, 4, &n);
    fx->heads = h5_strings(f, "heads", &fx->nheads);
    fx->head_rank = h5_array(f, "head_rank", H5T_NATIVE_INT32, 4, &n);
    fx->head_shape = h5_array(f, "head_shape", H5T_NATIVE_INT32, 4, &n);
    read_group(f, "eval", &fx->eval);
    read_group(f, "train", &fx->train);
    read_group(f, "grad", &fx->grad);
    read_group(f, "after", &fx->after);
    H5Fclose(f);
}

static void free_fixture(fixture *fx)
{
    free(fx->keys);
    free(fx->heads);
    free(fx->key_rank);
    free(fx->key_shape);
    free(fx->key_is_param);
    free(fx->key_gen);
    free(fx->key_offset);
    free(fx->key_values);
    free(fx->head_rank);
    free(fx->head_shape);
    free_group(&fx->eval);
    free_group(&fx->train);
    free_group(&fx->grad);
    free_group(&fx->after);
}

static int verbose(void)
{
    const char *v = getenv("SS_GOLDEN_VERBOSE");
    return v && *v && strcmp(v, "0") != 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* ---- key fidelity ---- */

static void append(char *msg, size_t cap, int *count, const char *fmt, const char *a,
                   const char *b)
{
    if (++*count > 12)
        return;
    size_t len = strlen(msg);
    snprintf(msg + len, cap - len, fmt, a, b);
}

static const char *pt_shape_str(int rank, const int *s)
{
    static char buf[4][64];
    static int k;
    char *b = buf[k++ & 3];
    int len = snprintf(b, 64, "(");
    for (int i = 0; i < rank; i++)
        len += snprintf(b + len, (size_t)(64 - len), i ? ",%d" : "%d", s[i]);
    snprintf(b + len, (size_t)(64 - len), ")");
    return b;
}

/* Graph entries vs fixture keys: same set (fixture minus num_batches_tracked),
 * same PyTorch shapes and parameter/buffer role; BN prefixes vs the fixture's
 * num_batches_tracked keys. */
static void check_keys(const fixture *fx, const ss_nn *m)
{
    char msg[4096] = "";
    int bad = 0;
    for (int i = 0; i < m->n; i++) {
        const ss_nn_entry *e = &m->e[i];
        const char *key = graph_name(m->g, e->t);
        int k = str_index(fx->keys, fx->nkeys, key);
        if (k < 0) {
            append(msg, sizeof msg, &bad, "; extra key '%s'%s", key, "");
            continue;
        }
        const int *ps = fx->key_shape + 5 * k;
        int same = e->rank == fx->key_rank[k];
        for (int d = 0; same && d < e->rank; d++)
            same = e->shape[d] == ps[d];
        if (!same)
            append(msg, sizeof msg, &bad, "; key '%s': shape %s", key,
                   nn_name("%s, PyTorch %s", pt_shape_str(e->rank, e->shape),
                           pt_shape_str(fx->key_rank[k], ps)));
        if (e->is_param != fx->key_is_param[k])
            append(msg, sizeof msg, &bad, "; key '%s': %s", key,
                   e->is_param ? "parameter here, buffer in PyTorch"
                               : "buffer here, parameter in PyTorch");
    }
    for (size_t k = 0; k < fx->nkeys; k++) {
        const char *key = fx->keys[k];
        if (ends_with(key, ".num_batches_tracked")) {
            size_t plen = strlen(key) - strlen(".num_batches_tracked");
            int found = 0;
            for (int b = 0; b < m->nbn && !found; b++)
                found = strlen(m->bn[b]) == plen && !strncmp(m->bn[b], key, plen);
            if (!found)
                append(msg, sizeof msg, &bad, "; missing BN module '%s'%s", key, "");
        } else if (nn_find(m, key) < 0) {
            append(msg, sizeof msg, &bad, "; missing key '%s'%s", key, "");
        }
    }
    for (int b = 0; b < m->nbn; b++) {
        const char *nbt = nn_name("%s.num_batches_tracked", m->bn[b]);
        if (str_index(fx->keys, fx->nkeys, nbt) < 0)
            append(msg, sizeof msg, &bad, "; extra BN module '%s'%s", m->bn[b], "");
    }
    ck_assert_msg(bad == 0, "models_golden %s: %d key mismatches vs the PyTorch state_dict "
                  "(first 12)%s", fx->model, bad, msg);
}

/* ---- comparisons ---- */

typedef struct worst {
    double nmse, proj, zero;
} worst;

/* Compares tensor `got` (n elements) with record `name` of group r. */
static void check_record(const fixture *fx, const char *grp, const rgroup *r, int sample,
                         const char *name, const float *got, size_t n, worst *w)
{
    int k = str_index(r->names, r->n, name);
    ck_assert_msg(k >= 0, "models_golden %s: fixture has no %s/%s", fx->model, grp, name);
    ck_assert_msg((int64_t)n == r->numel[k], "models_golden %s: %s/%s has %zu elements, PyTorch %lld",
                  fx->model, grp, name, n, (long long)r->numel[k]);
    const float *want = r->values + r->offset[k];
    size_t m = n <= (size_t)sample ? n : (size_t)sample;
    char rec[256];
    snprintf(rec, sizeof rec, "%s/%s", grp, name);
    float *g = tu_alloc(m);
    uint64_t hs = fnv1a64(nn_name("S:%s", rec));
    for (size_t j = 0; j < m; j++)
        g[j] = got[n <= (size_t)sample ? j : hash64(hs, j) % n];

    if (r->l1[k] > 0) { /* analytically zero gradient */
        double mx = 0;
        for (size_t j = 0; j < m; j++)
            mx = fmax(mx, fabs((double)g[j] - want[j]));
        double ratio = mx / r->l1[k];
        if (verbose())
            printf("models_golden %-12s %-52s zero-grad max|got|/l1 %.2e\n", fx->model, rec,
                   ratio);
        ck_assert_msg(ratio <= M_ZERO_TOL && !isnan(mx),
                      "models_golden %s: %s should be 0 (conv bias before train-mode BN): "
                      "max|got| %.3e = %.2e * l1 (bound %g)",
                      fx->model, rec, mx, ratio, M_ZERO_TOL);
        w->zero = fmax(w->zero, ratio);
        free(g);
        return;
    }

    double e = tu_nmse(g, want, m);
    double ss = 0;
    for (size_t j = 0; j < m; j++)
        ss += (double)want[j] * want[j];
    double rms = sqrt(ss / (double)m);
    size_t worst_i = 0;
    size_t bad = tu_count_bad(g, want, m, M_ATOL_RMS * rms, M_RTOL, &worst_i);

    uint64_t hp = fnv1a64(nn_name("P:%s", rec));
    double pg = 0, pp = 0;
    for (size_t i = 0; i < n; i++) {
        double p = gen_unit(hp, i);
        pg += p * got[i];
        pp += p * p;
    }
    double dp = pg - r->proj[k];
    double pe = r->sumsq[k] > 0 ? dp * dp / (r->sumsq[k] * pp / (double)n) : fabs(dp);
    if (verbose())
        printf("models_golden %-12s %-52s NMSE %.2e  proj %.2e  (%zu of %zu elements)\n",
               fx->model, rec, e, pe, m, n);
    size_t jmax = 0;
    for (size_t j = 0; j < m; j++)
        if (!(fabs((double)g[j] - want[j]) <= fabs((double)g[jmax] - want[jmax])))
            jmax = j;
    ck_assert_msg(!isnan(e) && e <= M_NMSE,
                  "models_golden %s: %s NMSE %.3e > %g (largest diff: got %.9g want %.9g, "
                  "rms %.3g)",
                  fx->model, rec, e, M_NMSE, (double)g[jmax], (double)want[jmax], rms);
    ck_assert_msg(bad == 0,
                  "models_golden %s: %s: %zu of %zu stored elements off (atol %.3g = %g * rms, "
                  "rtol %g); worst got %.9g want %.9g",
                  fx->model, rec, bad, m, M_ATOL_RMS * rms, M_ATOL_RMS, M_RTOL,
                  (double)g[worst_i], (double)want[worst_i]);
    ck_assert_msg(!isnan(pe) && pe <= M_NMSE,
                  "models_golden %s: %s projection NMSE %.3e > %g (sum t*P got %.12g want %.12g)",
                  fx->model, rec, pe, M_NMSE, pg, r->proj[k]);
    w->nmse = fmax(w->nmse, e);
    w->proj = fmax(w->proj, pe);
    free(g);
}

static float *download(ss_graph *g, int t, size_t *n)
{
    ss_shape s = graph_shape(g, t);
    *n = (size_t)ss_numel(&s);
    float *buf = tu_alloc(*n);
    ck_assert_msg(graph_download(g, t, buf) == SS_OK, "models_golden: download: %s",
                  semiseg_error());
    return buf;
}

/* ---- one model ---- */

static void upload_weights(const fixture *fx, ss_nn *m)
{
    for (int i = 0; i < m->n; i++) {
        const char *key = graph_name(m->g, m->e[i].t);
        int k = str_index(fx->keys, fx->nkeys, key);
        ck_assert(k >= 0);
        ss_shape s = graph_shape(m->g, m->e[i].t);
        size_t n = (size_t)ss_numel(&s);
        float *buf = tu_alloc(n);
        if (fx->key_offset[k] >= 0)
            memcpy(buf, fx->key_values + fx->key_offset[k], n * sizeof(float));
        else
            gen_tensor(key, buf, n, fx->key_gen[2 * k], fx->key_gen[2 * k + 1]);
        ck_assert_msg(graph_upload(m->g, m->e[i].t, buf) == SS_OK, "models_golden: upload %s: %s",
                      key, semiseg_error());
        free(buf);
    }
}

static size_t head_numel(const fixture *fx, size_t h)
{
    size_t n = 1;
    for (int d = 0; d < fx->head_rank[h]; d++)
        n *= (size_t)fx->head_shape[5 * h + d];
    return n;
}

/* Output index of every fixture head (and their count must match). */
static void map_heads(const fixture *fx, ss_graph *g, const ss_model_out *out, int *idx)
{
    char names[512] = "";
    for (int o = 0; o < out->n; o++) {
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%s", o ? ", " : "", out->name[o]);
    }
    for (size_t h = 0; h < fx->nheads; h++) {
        idx[h] = -1;
        for (int o = 0; o < out->n; o++)
            if (!strcmp(out->name[o], fx->heads[h]))
                idx[h] = o;
        ck_assert_msg(idx[h] >= 0, "models_golden %s: no output '%s' (outputs: %s)", fx->model,
                      fx->heads[h], names);
        ss_shape s = graph_shape(g, out->t[idx[h]]);
        ck_assert_msg((size_t)ss_numel(&s) == head_numel(fx, h) && s.d[0] == fx->head_shape[5 * h] &&
                          s.d[1] == fx->head_shape[5 * h + 1],
                      "models_golden %s: output '%s' has shape %s, PyTorch %s", fx->model,
                      fx->heads[h], ss_shape_str(&s),
                      pt_shape_str(fx->head_rank[h], fx->head_shape + 5 * h));
    }
    ck_assert_msg((size_t)out->n == fx->nheads,
                  "models_golden %s: %d outputs (%s), the PyTorch module has %zu", fx->model,
                  out->n, names, fx->nheads);
}

static void run_graph(const fixture *fx, int train, worst *w)
{
    ss_model_cfg cfg = ss_model_defaults(fx->model);
    cfg.in_ch = fx->in_ch;
    cfg.classes = fx->classes;
    cfg.dim = fx->dim;
    cfg.has_dropout = 0;
    memcpy(cfg.patch, fx->patch, sizeof cfg.patch);

    ss_graph *g = graph_new();
    ss_nn m;
    nn_begin(&m, g, train, 1);
    ss_shape xs = ss_shape5(fx->batch, fx->in_ch, fx->patch[0], fx->patch[1], fx->patch[2]);
    int x = g_input(g, "x", xs);
    ss_model_out out;
    ck_assert_msg(ss_model_build(&m, &cfg, x, &out) == SS_OK, "models_golden %s: build: %s",
                  fx->model, semiseg_error());
    check_keys(fx, &m);
    int *idx = malloc(fx->nheads * sizeof *idx);
    int *rin = malloc(fx->nheads * sizeof *rin);
    ck_assert(idx && rin);
    map_heads(fx, g, &out, idx);
    for (size_t h = 0; h < fx->nheads; h++)
        graph_keep(g, out.t[idx[h]]);
    if (train) {
        int loss = -1;
        for (size_t h = 0; h < fx->nheads; h++) {
            int y = out.t[idx[h]];
            rin[h] = g_input(g, nn_name("R/%s", fx->heads[h]), graph_shape(g, y));
            int term = g_sum(g, g_mul(g, y, rin[h]), 31);
            loss = loss < 0 ? term : g_add(g, loss, term);
        }
        ck_assert_msg(graph_backward(g, loss) == SS_OK, "models_golden %s: backward: %s",
                      fx->model, semiseg_error());
        for (int i = 0; i < m.n; i++)
            if (m.e[i].is_param)
                graph_keep(g, graph_grad(g, m.e[i].t));
    }
    ck_assert_msg(graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET | SS_PLAN_REF, NULL) == SS_OK,
                  "models_golden %s: plan: %s", fx->model, semiseg_error());
    upload_weights(fx, &m);
    size_t nx = (size_t)ss_numel(&xs);
    float *buf = tu_alloc(nx);
    gen_tensor(fx->x_seed ? nn_name("x%d", fx->x_seed) : "x", buf, nx, 0.f, 1.f);
    ck_assert(graph_upload(g, x, buf) == SS_OK);
    free(buf);
    if (train)
        for (size_t h = 0; h < fx->nheads; h++) {
            size_t n = head_numel(fx, h);
            buf = tu_alloc(n);
            gen_tensor(nn_name("R/%s", fx->heads[h]), buf, n, 0.f, 1.f);
            ck_assert(graph_upload(g, rin[h], buf) == SS_OK);
            free(buf);
        }
    ck_assert_msg(graph_run(g) == SS_OK, "models_golden %s: run: %s", fx->model,
                  semiseg_error());

    const char *grp = train ? "train" : "eval";
    for (size_t h = 0; h < fx->nheads; h++) {
        size_t n;
        float *y = download(g, out.t[idx[h]], &n);
        check_record(fx, grp, train ? &fx->train : &fx->eval, fx->sample_out, fx->heads[h], y, n,
                     &w[0]);
        free(y);
    }
    if (train) {
        for (int i = 0; i < m.n; i++) {
            const char *key = graph_name(g, m.e[i].t);
            size_t n;
            if (m.e[i].is_param) {
                int gt = graph_grad(g, m.e[i].t);
                ck_assert_msg(gt >= 0, "models_golden %s: parameter %s gets no gradient",
                              fx->model, key);
                float *d = download(g, gt, &n);
                check_record(fx, "grad", &fx->grad, fx->sample_grad, key, d, n, &w[1]);
                free(d);
            } else if (ends_with(key, ".running_mean") || ends_with(key, ".running_var")) {
                float *d = download(g, m.e[i].t, &n);
                check_record(fx, "after", &fx->after, fx->sample_out, key, d, n, &w[3]);
                free(d);
            }
        }
    }
    free(idx);
    free(rin);
    nn_end(&m);
    graph_free(g);
}

static void run_model(const char *file, const char *model)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    fx.file = file;
    fx.model = model;
    load_fixture(&fx);
    worst ev[4] = {{0}}, tr[4] = {{0}};
    double t0 = ss_backend_cpu()->now();
    run_graph(&fx, 0, ev);
    double t1 = ss_backend_cpu()->now();
    run_graph(&fx, 1, tr);
    double t2 = ss_backend_cpu()->now();
    if (verbose())
        printf("models_golden %-12s eval graph %.1f s, train graph %.1f s\n", model, t1 - t0,
               t2 - t1);
    if (verbose())
        printf("models_golden %-12s max NMSE (sample / projection): eval outputs %.1e / %.1e, "
               "train outputs %.1e / %.1e, gradients %.1e / %.1e, running stats %.1e / %.1e; "
               "zero-gradient biases max|got|/l1 %.1e\n",
               model, ev[0].nmse, ev[0].proj, tr[0].nmse, tr[0].proj, tr[1].nmse, tr[1].proj,
               tr[3].nmse, tr[3].proj, tr[1].zero);
    free_fixture(&fx);
}

START_TEST(test_vnet) { run_model("model_vnet.h5", "vnet"); }
END_TEST

START_TEST(test_vnet_sdf) { run_model("model_vnet_sdf.h5", "vnet_sdf"); }
END_TEST

START_TEST(test_mcnet3d_v2) { run_model("model_mcnet3d_v2.h5", "mcnet3d_v2"); }
END_TEST

START_TEST(test_fbanet3d) { run_model("model_fbanet3d.h5", "fbanet3d"); }
END_TEST

START_TEST(test_unet) { run_model("model_unet.h5", "unet"); }
END_TEST

START_TEST(test_unet_deconv) { run_model("model_unet_deconv.h5", "unet_deconv"); }
END_TEST

/* The generator reproduces the script's values bit for bit (values printed by
 * make_model_fixtures.py's fnv1a64 / hash64 / gen_tensor). */
START_TEST(test_generator)
{
    ck_assert_uint_eq(fnv1a64("a"), 0xAF63DC4C8601EC8Cull);
    uint64_t h = fnv1a64("S:eval/seg1");
    ck_assert_uint_eq(hash64(h, 0), 0x729CFDE56BEB6BE0ull);
    ck_assert_uint_eq(hash64(h, 1), 0x208B89B9051DCDE3ull);
    const uint32_t xbits[3] = {3206085436u, 1058928440u, 1049805676u};
    float v[4];
    gen_tensor("x", v, 3, 0.f, 1.f);
    for (int i = 0; i < 3; i++) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        ck_assert_uint_eq(b, xbits[i]);
    }
    gen_tensor("block_one.conv.0.weight", v, 4, 0.f, 0.19245009f);
    ck_assert(v[0] == -0.13155362010002136f && v[1] == -0.1559111773967743f &&
              v[2] == -0.02818278782069683f && v[3] == 0.08000785112380981f);
    gen_tensor("w", v, 2, 1.f, 0.2f);
    ck_assert(v[0] == 1.158821702003479f && v[1] == 1.1116851568222046f);
}
END_TEST

Suite *suite_models_golden(void)
{
    Suite *s = suite_create("models_golden");
    TCase *tc = tcase_create("models_golden");
    tcase_add_test(tc, test_generator);
    tcase_add_test(tc, test_vnet);
    tcase_add_test(tc, test_vnet_sdf);
    tcase_add_test(tc, test_mcnet3d_v2);
    tcase_add_test(tc, test_fbanet3d);
    tcase_add_test(tc, test_unet);
    tcase_add_test(tc, test_unet_deconv);
    suite_add_tcase(s, tc);
    return s;
}
