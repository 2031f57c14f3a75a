/* The training loop: bit-exact resume (N + M iterations in one go vs N, stop,
 * resume, M: every weight, BN statistic and optimizer buffer identical, with
 * dropout and SGD momentum / Adam moments in play), a damaged checkpoint as a
 * clear error, a checkpoint from another method refused, and the supervised
 * plugin end to end on a tiny 2-D problem (selection evaluation, best/last
 * checkpoints, metrics.csv and summary.json for both). Data comes from an
 * in-memory source that is a pure function of the batch cursor. */
#include "harness/checkpoint.h"
#include "harness/experiment.h"
#include "harness/train.h"
#include "kernels/error.h"
#include "kernels/rng.h"
#include "methods/method.h"
#include "datasets/dataset.h"
#include "h5read.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- in-memory data: disc-like blobs in noise, keyed by the cursor ---------- */
typedef struct mem_data {
    uint64_t cursor;
    int n, d, h, w;
} mem_data;

static void fill_item(float *img, float *lab, int d, int h, int w, uint64_t key)
{
    float cy = 3 + 10 * ss_rng_uniform(99, 1, key, 0), cx = 3 + 10 * ss_rng_uniform(99, 1, key, 1);
    for (int z = 0; z < d; z++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t i = ((size_t)z * h + y) * w + x;
                int in = (y - cy) * (y - cy) + (x - cx) * (x - cx) <= 16;
                img[i] = (in ? 1.f : 0.f) + 0.5f * (ss_rng_uniform(99, 2, key, i) - 0.5f);
                lab[i] = in ? 1.f : 0.f;
            }
}

static int mem_next(void *ctx, ss_batch *b)
{
    mem_data *m = ctx;
    size_t v = (size_t)m->d * m->h * m->w;
    for (int r = 0; r < b->n; r++)
        fill_item(b->image + r * v, b->label + r * v, m->d, m->h, m->w, m->cursor * 16 + (uint64_t)r);
    m->cursor++;
    return SS_OK;
}
static uint64_t mem_cursor(void *ctx) { return ((mem_data *)ctx)->cursor; }
static int mem_seek(void *ctx, uint64_t c)
{
    ((mem_data *)ctx)->cursor = c;
    return SS_OK;
}

/* ---- a tiny plugin: conv-BN-ReLU-dropout-conv, CE, optimizer from the spec --- */
typedef struct tiny {
    ss_graph *g;
    ss_nn nn;
    ss_optim opt;
    int x, y, loss;
} tiny;

static int tiny_build(ss_train_ctx *c)
{
    tiny *t = calloc(1, sizeof *t);
    c->priv = t;
    t->g = graph_new();
    nn_begin(&t->nn, t->g, 1, c->seed);
    int k3[3] = {1, 3, 3}, one[3] = {1, 1, 1}, p[3] = {0, 1, 1}, zero[3] = {0, 0, 0};
    t->x = g_input(t->g, "image", ss_shape5(c->batch, 1, 1, c->patch[1], c->patch[2]));
    t->y = g_input(t->g, "label", ss_shape5(c->batch, 1, 1, c->patch[1], c->patch[2]));
    int h = nn_conv(&t->nn, "c1", t->x, 1, 4, k3, one, p, 1, 1);
    h = g_relu(t->g, nn_bn(&t->nn, "bn1", h, 4));
    h = nn_dropout(&t->nn, h, 0.3f, 0);
    int lg = nn_conv(&t->nn, "head", h, 4, 2, one, one, zero, 1, 1);
    t->loss = g_ce(t->g, lg, t->y, -100);
    graph_keep(t->g, t->loss);
    ss_optim_cfg oc;
    if (graph_backward(t->g, t->loss) || graph_plan(t->g, c->be, SS_PLAN_QUIET, NULL) ||
        nn_init_params(&t->nn) || ss_train_optim_cfg(c->spec, &oc) || ss_optim_init(&t->opt, t->g, &oc))
        return SS_ERR;
    return ss_train_add_net(c, "model", &t->nn) || ss_train_add_optim(c, "optimizer", &t->opt, 1);
}

static int tiny_step(ss_train_ctx *c, const ss_batch *b, long iter, ss_loss_terms *terms)
{
    (void)iter;
    tiny *t = c->priv;
    float l;
    if (graph_upload(t->g, t->x, b->image) || graph_upload(t->g, t->y, b->label) ||
        graph_run(t->g) || ss_optim_step(&t->opt) || graph_download(t->g, t->loss, &l))
        return SS_ERR;
    return ss_terms_add(terms, "loss", l);
}

static int tiny_infer(ss_train_ctx *c, ss_infer_net *out)
{
    tiny *t = c->priv;
    out->nn = &t->nn;
    out->cfg = ss_model_defaults("unet");
    out->head = "seg1";
    return SS_OK;
}

static void tiny_destroy(ss_train_ctx *c)
{
    tiny *t = c->priv;
    if (!t)
        return;
    ss_optim_free(&t->opt);
    nn_end(&t->nn);
    graph_free(t->g);
    free(t);
    c->priv = NULL;
}

static const ss_method tiny_method = {
    .name = "tiny", .cite = "test", .defaults = "", .build = tiny_build, .step = tiny_step,
    .infer_net = tiny_infer, .destroy = tiny_destroy,
};

static const char *TINY_SPEC = "[data]\npatch = 1,12,12\nbatch = 2\nlabeled_bs = 2\n"
                               "[train]\niterations = 11\nlr = 0.05\nmomentum = 0.9\n"
                               "weight_decay = 0.0001\nschedule = step\nstep_size = 4\n"
                               "checkpoint_every = 4\nlog_every = 1\n";

static void make_run_dir(char *dir, size_t n, const char *tag)
{
    snprintf(dir, n, "/tmp/ss_train_%s_XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_rf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int run_tiny(const char *dir, const char *optimizer, long stop_after, int resume)
{
    ss_spec *s = ss_spec_new();
    TU_OK(ss_spec_layer(s, TINY_SPEC, "test", 0));
    TU_OK(ss_spec_set(s, "train.optimizer", optimizer, "test"));
    mem_data md = {0, 2, 1, 12, 12};
    ss_train_opts o = {.method = &tiny_method, .spec = s, .spec_text = TINY_SPEC, .run_dir = dir,
                       .dims = 2, .in_ch = 1, .classes = 2, .seed = 5,
                       .backend = ss_backend_cpu(),
                       .data = {&md, mem_next, mem_cursor, mem_seek},
                       .resume = resume, .stop_after = stop_after, .progress = 0};
    int rc = ss_train_run(&o);
    ss_spec_free(s);
    return rc;
}

/* Every dataset under /nets/model and /optim/optimizer/<slot> of two checkpoints: bitwise equal. */
static void compare_ckpt(const char *a, const char *b, const char *slot)
{
    const char *keys[] = {"c1.weight", "c1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean",
                          "bn1.running_var", "head.weight", "head.bias"};
    h5r_file *fa = h5r_open(a), *fb = h5r_open(b);
    ck_assert_msg(fa && fb, "%s", semiseg_error());
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            char name[128];
            if (pass == 0)
                snprintf(name, sizeof name, "nets/model/%s", keys[k]);
            else if (strstr(keys[k], "running"))
                continue;
            else
                snprintf(name, sizeof name, "optim/optimizer/%s/%s", slot, keys[k]);
            ss_shape sa, sb;
            float *x = h5r_read(fa, name, &sa), *y = h5r_read(fb, name, &sb);
            ck_assert_msg(x && y, "%s: %s", name, semiseg_error());
            ck_assert(ss_shape_eq(&sa, &sb));
            ck_assert_msg(!memcmp(x, y, (size_t)ss_numel(&sa) * sizeof(float)),
                          "%s differs between the uninterrupted and the resumed run", name);
            free(x);
            free(y);
        }
    h5r_close(fa);
    h5r_close(fb);
}

static void resume_case(const char *optimizer, const char *slot)
{
    char a[64], b[64], pa[128], pb[128];
    make_run_dir(a, sizeof a, "a");
    make_run_dir(b, sizeof b, "b");
    TU_OK(run_tiny(a, optimizer, 0, 0));
    TU_OK(run_tiny(b, optimizer, 6, 0)); /* "killed" after iteration 6 (not a checkpoint multiple) */
    snprintf(pb, sizeof pb, "%s/checkpoints/last.h5", b);
    h5r_file *f = h5r_open(pb);
    int it;
    TU_OK(h5r_attr_ints(f, "iteration", &it, 1));
    h5r_close(f);
    ck_assert_int_eq(it, 6);
    TU_OK(run_tiny(b, optimizer, 0, 1));
    snprintf(pa, sizeof pa, "%s/checkpoints/last.h5", a);
    compare_ckpt(pa, pb, slot);
    /* and the run really trained: weights moved away from the initial ones */
    f = h5r_open(pa);
    TU_OK(h5r_attr_ints(f, "iteration", &it, 1));
    ck_assert_int_eq(it, 11);
    h5r_close(f);
    rm_rf(a);
    rm_rf(b);
}

START_TEST(test_resume_sgd) { resume_case("sgd", "momentum_buffer"); }
END_TEST
START_TEST(test_resume_adam) { resume_case("adam", "exp_avg_sq"); }
END_TEST

START_TEST(test_corrupt_checkpoint)
{
    char a[64], p[128];
    make_run_dir(a, sizeof a, "c");
    TU_OK(run_tiny(a, "sgd", 3, 0));
    snprintf(p, sizeof p, "%s/checkpoints/last.h5", a);
    FILE *f = fopen(p, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_SET);
    fwrite("garbage!", 1, 8, f); /* destroys the HDF5 signature */
    fclose(f);
    ck_assert_int_eq(run_tiny(a, "sgd", 0, 1), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "not a readable HDF5 file"));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), p));
    remove(p);
    ck_assert_int_eq(run_tiny(a, "sgd", 0, 1), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "no such file"));
    rm_rf(a);
}
END_TEST

START_TEST(test_foreign_checkpoint)
{
    char a[64], p[128];
    make_run_dir(a, sizeof a, "f");
    TU_OK(run_tiny(a, "sgd", 3, 0));
    snprintf(p, sizeof p, "%s/checkpoints/last.h5", a);
    /* an Adam run cannot continue from an SGD checkpoint */
    ck_assert_int_eq(run_tiny(a, "adam", 0, 1), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "exp_avg"));
    char *spec;
    char method[64];
    TU_OK(ss_checkpoint_spec(p, &spec, method));
    ck_assert_str_eq(method, "tiny");
    ck_assert_ptr_nonnull(strstr(spec, "step_size = 4"));
    free(spec);
    rm_rf(a);
}
END_TEST

/* ---- the supervised plugin end to end on 2-D blobs ------------------------ */
typedef struct mem_cases {
    int n;
} mem_cases;

static int case_load(void *ctx, int i, ss_volume *v)
{
    (void)ctx;
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "case%d", i);
    v->c = 1;
    v->d = 2;
    v->h = 20;
    v->w = 18;
    size_t n = 2 * 20 * 18;
    v->image = malloc(n * sizeof(float));
    v->label = malloc(n);
    float *lab = malloc(n * sizeof(float));
    for (int z = 0; z < 2; z++)
        fill_item(v->image + z * 360, lab + z * 360, 1, 20, 18, 1000 + (uint64_t)(i * 2 + z));
    for (size_t k = 0; k < n; k++)
        v->label[k] = (uint8_t)lab[k];
    v->spacing[0] = v->spacing[1] = v->spacing[2] = 1;
    free(lab);
    return SS_OK;
}

START_TEST(test_supervised_end_to_end)
{
    const ss_method *m = ss_method_find("supervised");
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_null(ss_method_find("nosuch"));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "registered: supervised"));
    ss_spec *s = ss_spec_new();
    const char *tags[] = {"2d", "synth-acdc"};
    TU_OK(ss_spec_set_tags(s, 2, tags));
    TU_OK(ss_spec_layer(s, ss_protocol_text("acdc"), "protocol acdc", 0));
    TU_OK(ss_spec_layer(s, m->defaults, "method supervised", SS_SPEC_DECLARE));
    TU_OK(ss_spec_layer(s, ss_profile_text("smoke"), "profile smoke", 0));
    TU_OK(ss_spec_layer(s, "[data]\npatch = 1,16,16\nlabeled_bs = 2\n[train]\niterations = 6\n"
                           "[eval]\nevery = 2\nstart = 2\nbatch = 2\n",
                        "test", 0));
    ck_assert_str_eq(ss_spec_get(s, "method.dice_first_class"), "0");
    int batch, lbs;
    TU_OK(ss_train_batch_shape(m, s, &batch, &lbs));
    ck_assert_int_eq(batch, 2); /* labeled-only: the recipe's labeled_bs */
    char dir[64];
    make_run_dir(dir, sizeof dir, "sup");
    mem_data md = {0, 2, 1, 16, 16};
    mem_cases mc = {2};
    ss_train_opts o = {.method = m, .spec = s, .spec_text = "", .run_dir = dir, .dims = 2,
                       .in_ch = 1, .classes = 4, .seed = 3, .backend = ss_backend_cpu(),
                       .data = {&md, mem_next, mem_cursor, mem_seek},
                       .select_cases = {&mc, 2, case_load}, .select_split = "test",
                       .select_is_test = 1,
                       .test_cases = {&mc, 2, case_load}, .progress = 0,
                       .meta = {.dataset = "mem"}};
    TU_OK(ss_train_run(&o));
    const char *files[] = {"train.log", "checkpoints/last.h5", "checkpoints/best.h5",
                           "checkpoints/best.weights.h5", "checkpoints/last.weights.h5",
                           "best/summary.json", "best/metrics.csv", "last/summary.json",
                           "last/metrics.csv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        ck_assert_msg(access(p, R_OK) == 0, "%s missing", p);
    }
    char p[256], log[8192];
    snprintf(p, sizeof p, "%s/train.log", dir);
    FILE *f = fopen(p, "r");
    size_t n = fread(log, 1, sizeof log - 1, f);
    log[n] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(log, "eval iter=2 split=test cases=2"));
    ck_assert_ptr_nonnull(strstr(log, "eval iter=6 split=test cases=2"));
    /* the final "last" evaluation reuses the selection result of iteration 6 */
    ck_assert_ptr_nonnull(strstr(log, "eval iter=6 split=test tag=last: the selection evaluation"));
    ck_assert_ptr_nonnull(strstr(log, "iter=6 lr=0.01"));
    ck_assert_ptr_nonnull(strstr(log, " ce="));
    ck_assert_ptr_nonnull(strstr(log, "final tag=best"));
    ss_spec_free(s);
    rm_rf(dir);
}
END_TEST

/* ---- spec resolution for a method on a dataset --------------------------- */
START_TEST(test_resolve_spec)
{
    const ss_method *m = ss_method_find("supervised");
    ss_spec_base la = {"la", "la", 3, {80, 112, 112}, {4, 18, 18}, "test"};
    ss_spec *s;
    TU_OK(ss_method_resolve_spec(m, &la, "paper", 0, NULL, &s));
    long v;
    int p[3], b, lb;
    TU_OK(ss_spec_long(s, "train.iterations", &v));
    ck_assert_int_eq(v, 15000);
    ck_assert_str_eq(ss_spec_get(s, "train.schedule"), "constant");
    ck_assert_str_eq(ss_spec_origin(s, "train.iterations"), "protocol");
    TU_OK(ss_spec_int3(s, "data.patch", p));
    ck_assert(p[0] == 80 && p[1] == 112 && p[2] == 112);
    ck_assert_str_eq(ss_spec_get(s, "eval.stride"), "4,18,18");
    ck_assert_str_eq(ss_spec_get(s, "eval.every"), "200");
    ck_assert_str_eq(ss_spec_get(s, "eval.start"), "800");
    ck_assert_str_eq(ss_spec_get(s, "method.dice_first_class"), "1");
    TU_OK(ss_train_batch_shape(m, s, &b, &lb));
    ck_assert(b == 2 && lb == 2);
    ss_spec_free(s);

    const char *sets[] = {"train.iterations=7", "eval.every=3"};
    TU_OK(ss_method_resolve_spec(m, &la, "smoke", 2, sets, &s));
    ck_assert_str_eq(ss_spec_get(s, "train.iterations"), "7");
    ck_assert_str_eq(ss_spec_get(s, "eval.every"), "3");
    ck_assert_str_eq(ss_spec_get(s, "eval.start"), "30"); /* [eval:la] of the smoke profile */
    ck_assert_str_eq(ss_spec_get(s, "data.patch"), "16,32,32");
    ss_spec_free(s);
    ss_spec_base sla = {"synth-la", "la", 3, {32, 48, 48}, {8, 12, 12}, "test"};
    TU_OK(ss_method_resolve_spec(m, &sla, "smoke", 0, NULL, &s));
    ck_assert_str_eq(ss_spec_get(s, "eval.start"), "20");
    ss_spec_free(s);

    ss_spec_base acdc = {"acdc", "acdc", 2, {1, 256, 256}, {0, 0, 0}, "val"};
    TU_OK(ss_method_resolve_spec(m, &acdc, "paper", 0, NULL, &s));
    ck_assert_str_eq(ss_spec_get(s, "train.iterations"), "30000");
    ck_assert_str_eq(ss_spec_get(s, "model.name"), "unet");
    ck_assert_str_eq(ss_spec_get(s, "method.dice_first_class"), "0");
    ck_assert_str_eq(ss_spec_get(s, "eval.split"), "val");
    ck_assert_ptr_null(ss_spec_get(s, "eval.stride"));
    TU_OK(ss_train_batch_shape(m, s, &b, &lb));
    ck_assert(b == 8 && lb == 8);
    ss_spec_free(s);

    const char *bad[] = {"method.compare_with=nosuch"};
    ck_assert_int_eq(ss_method_resolve_spec(m, &acdc, "paper", 1, bad, &s), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "compare_with = 'nosuch'"));
    ck_assert_ptr_null(s);
    ss_spec_base kv = {"kvasir", "kvasir", 2, {1, 512, 288}, {0, 0, 0}, "test"};
    ck_assert_int_eq(ss_method_resolve_spec(m, &kv, "paper", 0, NULL, &s), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "kvasir"));
}
END_TEST

/* ---- `semiseg train` bad input: one line, exit != 0, no run directory ------- */
static const char *cli_path(void)
{
    static char p[4096];
    char exe[4000];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(l, 0);
    exe[l] = '\0';
    *strrchr(exe, '/') = '\0'; /* BUILD/tests */
    *strrchr(exe, '/') = '\0'; /* BUILD */
    snprintf(p, sizeof p, "%s/semiseg", exe);
    return p;
}

/* Runs `semiseg train ARGS --runs RUNS`; returns the exit code, stderr in err. */
static int cli_run(const char *args, const char *runs, char *err, size_t n)
{
    char cmd[8192], ef[128];
    snprintf(ef, sizeof ef, "%s.err", runs);
    snprintf(cmd, sizeof cmd, "'%s' train %s --runs '%s' --progress off >/dev/null 2>'%s'",
             cli_path(), args, runs, ef);
    int st = system(cmd);
    FILE *f = fopen(ef, "r");
    size_t k = f ? fread(err, 1, n - 1, f) : 0;
    err[k] = '\0';
    if (f)
        fclose(f);
    remove(ef);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(test_cli_errors)
{
    char runs[64], err[4096], root[128], cmd[1024];
    make_run_dir(runs, sizeof runs, "cli");
    snprintf(root, sizeof root, "%s/_data/acdc", runs);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/_data'", runs);
    ck_assert_int_eq(system(cmd), 0);
    TU_OK(ss_synth_write("synth-acdc", root, 1, 1.0));

    ck_assert_int_ne(cli_run("--method nosuch --dataset synth-acdc", runs, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "unknown method 'nosuch'"));
    ck_assert_int_eq(count_lines(err), 1);

    ck_assert_int_ne(cli_run("--method supervised --dataset la --labeled 4", runs, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "needs --data-root"));

    ck_assert_int_ne(cli_run("--method supervised --dataset la --labeled 4 --data-root /nonexistent",
                             runs, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent"));

    char a[512];
    snprintf(a, sizeof a, "--method supervised --dataset synth-acdc --data-root '%s' --labeled 1000", root);
    ck_assert_int_ne(cli_run(a, runs, err, sizeof err), 0);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "1000"));

    snprintf(a, sizeof a, "--method supervised --dataset synth-acdc --data-root '%s' --labeled 1 "
             "--set train.iters=5", root);
    ck_assert_int_ne(cli_run(a, runs, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "unknown key 'train.iters' (from --set)"));

    snprintf(a, sizeof a, "--method supervised --dataset synth-acdc --data-root '%s' --labeled 1 "
             "--profile fast", root);
    ck_assert_int_ne(cli_run(a, runs, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "unknown profile 'fast'"));

    /* none of these left a run directory behind */
    snprintf(a, sizeof a, "%s/synth-acdc", runs);
    ck_assert_msg(access(a, F_OK) != 0, "%s was left behind", a);
    snprintf(a, sizeof a, "%s/la", runs);
    ck_assert_msg(access(a, F_OK) != 0, "%s was left behind", a);

    /* a corrupt checkpoint */
    char fake[256];
    snprintf(fake, sizeof fake, "%s/fake/checkpoints", runs);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && echo garbage > '%s/last.h5'", fake, fake);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(a, sizeof a, "--resume '%s/fake'", runs);
    ck_assert_int_ne(cli_run(a, runs, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "not a readable HDF5 file"));
    ck_assert_int_eq(count_lines(err), 1);
    rm_rf(runs);
}
END_TEST

Suite *suite_train(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_resume_sgd);
    tcase_add_test(tc, test_resume_adam);
    tcase_add_test(tc, test_corrupt_checkpoint);
    tcase_add_test(tc, test_foreign_checkpoint);
    tcase_add_test(tc, test_supervised_end_to_end);
    tcase_add_test(tc, test_cli_errors);
    tcase_add_test(tc, test_resolve_spec);
    suite_add_tcase(s, tc);
    return s;
}
