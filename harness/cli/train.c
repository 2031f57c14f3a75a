/* `semiseg train`: resolves the experiment spec (dataset protocol < method
 * defaults < profile < --set), prepares the run directory
 * <runs>/<dataset>/<method>/<labeled>/seed<k>/, wraps the dataset's batch
 * loader and case lists as the training loop's callbacks and runs it.
 * Everything that can be checked before training (method, dataset, data
 * root, labeled count, every spec key) is checked before the run directory
 * is created; a start that fails removes the directory it created. */
#define _XOPEN_SOURCE 700
#include "datasets/dataset.h"
#include "harness/checkpoint.h"
#include "harness/cli/split_source.h"
#include "harness/experiment.h"
#include "harness/fileio.h"
#include "harness/train.h"
#include "kernels/error.h"
#include "methods/method.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SETS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: semiseg train --method NAME --dataset NAME [--labeled N] [--seed K]\n"
            "                     [--profile paper|smoke] [--data-root DIR] [--runs DIR]\n"
            "                     [--set section.key=value ...]\n"
            "       semiseg train --resume RUN_DIR [--set section.key=value ...]\n\n"
            "Trains one method on one dataset / labeled count / seed into\n"
            "RUNS/<dataset>/<method>/<labeled>/seed<K>/ (spec.ini, build.txt, split.sha256,\n"
            "train.log, checkpoints/{last,best}.h5, best/ and last/ with metrics.csv and\n"
            "summary.json on the test list).\n\n"
            "  --method NAME     plugin:");
    for (const ss_method *const *m = ss_method_list(); *m; m++)
        fprintf(f, " %s", (*m)->name);
    fprintf(f, "\n  --dataset NAME    la, pancreas, acdc or a synthetic twin (synth-la, synth-acdc, ...)\n"
               "  --labeled N       labeled cases/patients (first N of the train list; default the\n"
               "                    protocol's 10%% setting: la 8, pancreas 6, acdc 7)\n"
               "  --seed K          seed of initialisation, sampling and augmentation (default 1337)\n"
               "  --profile P       paper (the published protocol, default) or smoke (minutes on a CPU)\n"
               "  --data-root DIR   dataset folder; a synth-* twin without it is generated once into\n"
               "                    RUNS/_data/<name>-seed<K>\n"
               "  --runs DIR        root of run directories (default runs)\n"
               "  --set k=v         override a spec key (repeatable), e.g. --set train.iterations=100\n"
               "  --resume RUN_DIR  continue an interrupted run bit-exactly from its last checkpoint\n"
               "  --progress MODE   auto (bar on a TTY), lines or off\n");
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "semiseg train: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return code;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- callbacks over the dataset ------------------------------------------- */
typedef struct data_ctx {
    ss_loader *l;
} data_ctx;

static int data_next(void *ctx, ss_batch *b)
{
    return ss_loader_next(((data_ctx *)ctx)->l, b->image, b->label);
}
static uint64_t data_cursor(void *ctx) { return ss_loader_cursor(((data_ctx *)ctx)->l); }
static int data_seek(void *ctx, uint64_t c) { return ss_loader_seek(((data_ctx *)ctx)->l, c); }


/* ---- run directory files ---------------------------------------------------- */
/* The commit of the source tree the binary was built in (git run in the
 * executable's folder, then in the current one); "unknown" without git. */
static void git_sha(char *out, size_t n)
{
    snprintf(out, n, "unknown");
    char exe[4096], cmd[4400];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[l > 0 ? l : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(cmd, sizeof cmd, "(git -C '%s' rev-parse HEAD || git rev-parse HEAD) 2>/dev/null",
             exe[0] && !strchr(exe, '\'') ? exe : ".");
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    char buf[128];
    if (fgets(buf, sizeof buf, p) && strlen(buf) >= 40) {
        buf[strcspn(buf, "\r\n")] = '\0';
        snprintf(out, n, "%s", buf);
    }
    pclose(p);
}

static int write_build_info(const char *dir, const ss_backend *be)
{
    char sha[128], text[1024];
    git_sha(sha, sizeof sha);
    snprintf(text, sizeof text,
             "git_sha = %s\ncompiler = %s\ncuda = %s\nbackend = %s\n", sha, __VERSION__,
#ifdef SS_HAVE_CUDA
             "compiled in (CUDA and cuDNN versions: see the backend's start-up line)",
#else
             "not compiled in",
#endif
             be->name);
    return ss_write_text_in(dir, "build.txt", text);
}

/* ---- spec ------------------------------------------------------------------- */
typedef struct args {
    const char *method, *dataset, *profile, *data_root, *runs, *resume, *progress;
    long labeled, seed;
    const char *sets[MAX_SETS];
    int nsets;
} args;

static int default_labeled(const char *real)
{
    if (!strcmp(real, "la"))
        return 8;
    if (!strcmp(real, "pancreas"))
        return 6;
    if (!strcmp(real, "acdc"))
        return 7;
    return -1;
}

static ss_spec *resolve(const args *a, const ss_method *m, const ss_dataset_info *di)
{
    ss_spec_base b = {.name = di->name, .real = di->real, .dims = di->dims,
                      .select_split = di->select_split == SS_SPLIT_VAL ? "val" : "test"};
    memcpy(b.patch, di->patch, sizeof b.patch);
    memcpy(b.stride, di->stride, sizeof b.stride);
    ss_spec *s = NULL;
    return ss_method_resolve_spec(m, &b, a->profile, a->nsets, a->sets, &s) ? NULL : s;
}

/* Parses every key the loop and the loader read, so that bad values fail before a
 * run directory exists. */
static int check_spec(const ss_spec *s, const ss_method *m)
{
    ss_optim_cfg oc;
    int p[3], b, lb;
    long v;
    double d;
    const char *str;
    if (ss_spec_int3(s, "data.patch", p) || ss_train_batch_shape(m, s, &b, &lb) ||
        ss_train_optim_cfg(s, &oc) || ss_spec_long(s, "train.iterations", &v) ||
        ss_spec_str(s, "train.schedule", &str) || ss_spec_long(s, "eval.every", &v) ||
        ss_spec_long(s, "eval.start", &v) || ss_spec_long_or(s, "data.workers", 1, &v) ||
        ss_spec_long_or(s, "data.prefetch", 2, &v) || ss_spec_long_or(s, "data.cache", 1, &v) ||
        ss_spec_double_or(s, "train.warmup_start", 1, &d))
        return SS_ERR;
    if (ss_spec_get(s, "eval.stride") && ss_spec_int3(s, "eval.stride", p))
        return SS_ERR;
    return SS_OK;
}

static int parse_long(const char *s, long *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e)
        return SS_ERR;
    *out = v;
    return SS_OK;
}

static int parse_args(int argc, char **argv, args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            return fail(2, "option %s needs a value (see --help)", o);
        const char *v = argv[++i];
        if (!strcmp(o, "--method"))
            a->method = v;
        else if (!strcmp(o, "--dataset"))
            a->dataset = v;
        else if (!strcmp(o, "--profile"))
            a->profile = v;
        else if (!strcmp(o, "--data-root"))
            a->data_root = v;
        else if (!strcmp(o, "--runs"))
            a->runs = v;
        else if (!strcmp(o, "--resume"))
            a->resume = v;
        else if (!strcmp(o, "--progress")) {
            if (strcmp(v, "auto") && strcmp(v, "lines") && strcmp(v, "off"))
                return fail(2, "--progress '%s' is not auto, lines or off", v);
            a->progress = v;
        }
        else if (!strcmp(o, "--labeled")) {
            if (parse_long(v, &a->labeled) || a->labeled < 1)
                return fail(2, "--labeled '%s' is not a positive integer", v);
        } else if (!strcmp(o, "--seed")) {
            if (parse_long(v, &a->seed) || a->seed < 0)
                return fail(2, "--seed '%s' is not a non-negative integer", v);
        } else if (!strcmp(o, "--set")) {
            if (a->nsets == MAX_SETS)
                return fail(2, "more than %d --set options", MAX_SETS);
            a->sets[a->nsets++] = v;
        } else {
            return fail(2, "unknown option '%s' (see --help)", o);
        }
    }
    return 0;
}

/* A synthetic twin without --data-root: generated once under the runs root. */
static int synth_root(const args *a, const char *name, char *root, size_t n)
{
    snprintf(root, n, "%s/_data/%s-seed%ld", a->runs, name, a->seed);
    if (ss_is_dir(root))
        return SS_OK;
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", root, (long)getpid());
    char parent[4200];
    snprintf(parent, sizeof parent, "%s/_data", a->runs);
    if (ss_mkdirs(parent))
        return SS_ERR;
    fprintf(stderr, "semiseg train: writing the synthetic twin %s to %s\n", name, root);
    if (ss_synth_write(name, tmp, (uint64_t)a->seed, 1.0)) {
        rm_tree(tmp);
        return SS_ERR;
    }
    if (rename(tmp, root) != 0 && !ss_is_dir(root)) {
        rm_tree(tmp);
        return ss_seterr("cannot rename %s to %s", tmp, root);
    }
    rm_tree(tmp);
    return SS_OK;
}

int ss_cmd_train(int argc, char **argv)
{
    args a = {.profile = "paper", .runs = "runs", .labeled = -1, .seed = 1337, .progress = "auto"};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    char *resume_spec = NULL;
    ss_spec *spec = NULL;
    char data_root_buf[4200], run_dir[4200], made[4200] = "";
    ss_dataset *ds = NULL;
    ss_loader *ld = NULL;
    int code = 2;
    const ss_method *m = NULL;
    const ss_dataset_info *di = NULL;

    if (a.resume) {
        char ck[4300], method[64];
        snprintf(ck, sizeof ck, "%s/checkpoints/last.h5", a.resume);
        if (a.method || a.dataset || a.labeled > 0 || a.data_root)
            return fail(2, "--resume takes the run's own settings; only --set may be added");
        if (ss_checkpoint_spec(ck, &resume_spec, method))
            return fail(2, "cannot resume %s: %s", a.resume, semiseg_error());
        spec = ss_spec_new();
        if (!spec || ss_spec_layer(spec, resume_spec, "spec of the run", SS_SPEC_DECLARE)) {
            fail(2, "cannot resume %s: %s", a.resume, semiseg_error());
            goto out;
        }
        for (int i = 0; i < a.nsets; i++)
            if (ss_spec_assign(spec, a.sets[i], "--set")) {
                fail(2, "%s", semiseg_error());
                goto out;
            }
        const char *dsn, *root;
        long lab, seed;
        if (ss_spec_str(spec, "run.dataset", &dsn) || ss_spec_long(spec, "run.labeled", &lab) ||
            ss_spec_long(spec, "run.seed", &seed) || ss_spec_str(spec, "run.data_root", &root)) {
            fail(2, "cannot resume %s: %s", a.resume, semiseg_error());
            goto out;
        }
        a.method = method;
        a.dataset = dsn;
        a.labeled = lab;
        a.seed = seed;
        a.data_root = root;
        snprintf(run_dir, sizeof run_dir, "%s", a.resume);
    } else {
        if (!a.method || !a.dataset)
            return fail(2, "--method and --dataset are required (see --help)");
    }
    m = ss_method_find(a.method);
    if (!m) {
        fail(2, "%s", semiseg_error());
        goto out;
    }
    di = ss_dataset_lookup(a.dataset);
    if (!di) {
        fail(2, "%s", semiseg_error());
        goto out;
    }
    if (a.labeled < 0) {
        a.labeled = default_labeled(di->real);
        if (a.labeled < 0) {
            fail(2, "--labeled is required for dataset %s", di->name);
            goto out;
        }
    }
    if (!a.data_root) {
        if (strncmp(di->name, "synth-", 6)) {
            fail(2, "dataset %s needs --data-root DIR (the folder with its list files)", di->name);
            goto out;
        }
        if (synth_root(&a, di->name, data_root_buf, sizeof data_root_buf)) {
            fail(1, "%s", semiseg_error());
            goto out;
        }
        a.data_root = data_root_buf;
    }
    if (!ss_is_dir(a.data_root)) {
        fail(2, "data root %s (dataset %s) does not exist", a.data_root, di->name);
        goto out;
    }
    if (ss_dataset_open(di->name, a.data_root, &ds)) {
        fail(2, "%s", semiseg_error());
        goto out;
    }
    int rows;
    if (ss_dataset_labeled_rows(ds, (int)a.labeled, &rows)) {
        fail(2, "%s", semiseg_error());
        goto out;
    }
    if (!spec) {
        spec = resolve(&a, m, di);
        if (!spec) {
            fail(2, "%s", semiseg_error());
            goto out;
        }
        char v[4200];
        snprintf(v, sizeof v, "%ld", a.labeled);
        ss_spec_set(spec, "run.method", m->name, "command line");
        ss_spec_set(spec, "run.dataset", di->name, "command line");
        ss_spec_set(spec, "run.labeled", v, "command line");
        snprintf(v, sizeof v, "%ld", a.seed);
        ss_spec_set(spec, "run.seed", v, "command line");
        ss_spec_set(spec, "train.seed", v, "command line");
        ss_spec_set(spec, "run.profile", a.profile, "command line");
        char absroot[4096];
        ss_spec_set(spec, "run.data_root", realpath(a.data_root, absroot) ? absroot : a.data_root,
                    "command line");
        snprintf(run_dir, sizeof run_dir, "%s/%s/%s/%ld/seed%ld", a.runs, di->name, m->name,
                 a.labeled, a.seed);
    }
    if (check_spec(spec, m)) {
        fail(2, "%s", semiseg_error());
        goto out;
    }
    int batch, lbs, p[3];
    long workers, prefetch, cache;
    ss_train_batch_shape(m, spec, &batch, &lbs);
    ss_spec_int3(spec, "data.patch", p);
    ss_spec_long_or(spec, "data.workers", 1, &workers);
    ss_spec_long_or(spec, "data.prefetch", 2, &prefetch);
    ss_spec_long_or(spec, "data.cache", 1, &cache);
    if (!a.resume) {
        char ck[4300];
        snprintf(ck, sizeof ck, "%s/checkpoints/last.h5", run_dir);
        if (access(ck, F_OK) == 0) {
            fail(2, "%s already holds a run; continue it with --resume %s or remove it", run_dir,
                 run_dir);
            goto out;
        }
    }
    ss_loader_opts lo = {.labeled_rows = rows, .batch = batch, .labeled_bs = lbs,
                         .patch = {p[0], p[1], p[2]}, .aug = di->aug, .seed = (uint64_t)a.seed,
                         .workers = (int)workers, .prefetch = (int)prefetch, .cache = (int)cache};
    if (ss_loader_open(ds, &lo, &ld)) {
        fail(2, "%s", semiseg_error());
        goto out;
    }
    const char *bn = ss_spec_get(spec, "train.backend");
    const ss_backend *be = NULL;
    if (!bn || !strcmp(bn, "auto"))
        be = ss_backend_default();
    else if (!strcmp(bn, "cpu"))
        be = ss_backend_cpu();
    else if (!strcmp(bn, "cuda")) {
        be = ss_backend_cuda();
        if (!be) {
            fail(2, "train.backend = cuda: %s", semiseg_error());
            goto out;
        }
    } else {
        fail(2, "spec: train.backend = '%s' (from %s) is not auto, cpu or cuda", bn,
             ss_spec_origin(spec, "train.backend"));
        goto out;
    }
    /* every input is valid: make the run directory */
    if (!a.resume && (ss_mkdirs_made(run_dir, made, sizeof made))) {
        fail(1, "%s", semiseg_error());
        goto out;
    }
    char *text = ss_spec_text(spec);
    char sha[128], spec_path[4300];
    snprintf(sha, sizeof sha, "%s\n", ss_dataset_split_sha256(ds));
    snprintf(spec_path, sizeof spec_path, "%s/spec.ini", run_dir);
    if (!text || (!a.resume && (ss_spec_write(spec, spec_path) ||
                                ss_write_text_in(run_dir, "split.sha256", sha) ||
                                write_build_info(run_dir, be)))) {
        free(text);
        fail(1, "%s", semiseg_error());
        goto cleanup;
    }
    data_ctx dc = {ld};
    ss_split sel = di->select_split;
    const char *sel_name = ss_spec_get(spec, "eval.split");
    if (sel_name && !strcmp(sel_name, "val"))
        sel = SS_SPLIT_VAL;
    else if (sel_name && !strcmp(sel_name, "test"))
        sel = SS_SPLIT_TEST;
    else if (sel_name) {
        free(text);
        fail(2, "spec: eval.split = '%s' is neither val nor test", sel_name);
        goto cleanup;
    }
    ss_cli_split sc = {ds, sel}, tc = {ds, SS_SPLIT_TEST};
    ss_train_result res;
    memset(&res, 0, sizeof res);
    int progress = !strcmp(a.progress, "off") ? 0 : !strcmp(a.progress, "lines") ? 1 : -1;
    ss_train_opts o = {
        .method = m, .spec = spec, .spec_text = text, .run_dir = run_dir, .dims = di->dims,
        .in_ch = di->in_channels, .classes = di->classes, .seed = (uint64_t)a.seed, .backend = be,
        .data = {&dc, data_next, data_cursor, data_seek},
        .select_cases = ss_cli_split_source(&sc),
        .select_split = sel == SS_SPLIT_VAL ? "val" : "test",
        .select_is_test = sel == SS_SPLIT_TEST,
        .test_cases = ss_cli_split_source(&tc),
        .meta = {.dataset = di->name, .split_sha256 = ss_dataset_split_sha256(ds), .iteration = -1},
        .resume = a.resume != NULL, .progress = progress, .result = &res};
    fprintf(stderr, "semiseg train: %s on %s (%ld labeled, %d rows), seed %ld, profile %s -> %s\n",
            m->name, di->name, a.labeled, rows, a.seed, a.profile, run_dir);
    rc = ss_train_run(&o);
    free(text);
    if (rc) {
        fail(1, "%s (log: %s/train.log)", semiseg_error(), run_dir);
        goto cleanup;
    }
    printf("%s: %ld iterations in %.1f s, loss %.4f -> %.4f; test mean Dice best %.4f (iter %ld), "
           "last %.4f\n",
           run_dir, res.iterations, res.seconds, res.first_loss, res.last_loss, res.test_dice_best,
           res.best_iter, res.test_dice_last);
    code = 0;
    goto out;
cleanup:
    if (made[0]) { /* a start that failed before its first checkpoint leaves nothing */
        char ck[4300];
        snprintf(ck, sizeof ck, "%s/checkpoints/last.h5", run_dir);
        if (access(ck, F_OK) != 0)
            rm_tree(made);
    }
    if (code == 2)
        code = 1;
out:
    if (ld)
        ss_loader_close(ld);
    if (ds)
        ss_dataset_close(ds);
    ss_spec_free(spec);
    free(resume_spec);
    return code;
}
