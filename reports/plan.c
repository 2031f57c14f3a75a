/* Run plans of table specs (see plan.h). */
#include "reports/plan.h"

#include "datasets/dataset.h"
#include "kernels/error.h"
#include "methods/method.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

ss_run_state ss_run_state_of(const char *run_dir)
{
    char p[SS_PLAN_PATH + 64], q[SS_PLAN_PATH + 64];
    snprintf(p, sizeof p, "%s/best/summary.json", run_dir);
    snprintf(q, sizeof q, "%s/last/summary.json", run_dir);
    if (is_file(p) && is_file(q))
        return SS_RUN_DONE;
    snprintf(p, sizeof p, "%s/checkpoints/last.h5", run_dir);
    return is_file(p) ? SS_RUN_PARTIAL : SS_RUN_NONE;
}

const char *ss_run_state_name(ss_run_state s)
{
    return s == SS_RUN_DONE ? "done" : s == SS_RUN_PARTIAL ? "partial" : "none";
}

/* NAME is an item of the comma list LIST (NULL list: everything). */
static int in_list(const char *list, const char *name)
{
    if (!list)
        return 1;
    size_t n = strlen(name);
    for (const char *t = list; *t;) {
        while (*t == ' ' || *t == ',')
            t++;
        size_t k = strcspn(t, ",");
        size_t e = k;
        while (e && t[e - 1] == ' ')
            e--;
        if (e == n && !strncmp(t, name, n))
            return 1;
        t += k;
    }
    return 0;
}

static int check_filter(const char *list, const char *what, const char *const *names, int n)
{
    if (!list)
        return SS_OK;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        int ok = 0;
        for (int i = 0; i < n; i++)
            ok |= !strcmp(names[i], t);
        if (!ok)
            return ss_seterr("--%s: '%s' is not in the table", what, t);
    }
    return SS_OK;
}

/* --data-root-KEY, else the profile's root.KEY, else DATA_ROOT/<dataset root>. */
static void real_root(const ss_plan_opts *o, const ss_ts_profile *f, int col,
                      const ss_ts_dataset *d, char *out, size_t n)
{
    for (int i = 0; i < o->n_roots; i++)
        if (!strcmp(o->root_key[i], d->key)) {
            snprintf(out, n, "%s", o->root_dir[i]);
            return;
        }
    if (f->real_root[col][0]) {
        snprintf(out, n, "%s", f->real_root[col]);
        return;
    }
    snprintf(out, n, "%s/%s", o->data_root ? o->data_root : "data", d->root);
}

static void check_real_data(ss_plan_cell *pc, int open_it)
{
    const ss_ts_dataset *d = pc->c.dataset;
    if (!ss_is_dir(pc->data_root)) {
        if (snprintf(pc->data_msg, sizeof pc->data_msg, "no data: %s not found at %s; get it: %s",
                     d->label, pc->data_root, d->get[0] ? d->get : "see README") < 0)
            pc->data_msg[0] = '\0';
        return;
    }
    if (open_it) {
        ss_dataset *ds = NULL;
        int rows;
        if (ss_dataset_open(pc->c.train_dataset, pc->data_root, &ds)) {
            snprintf(pc->data_msg, sizeof pc->data_msg, "no data: %s", semiseg_error());
            return;
        }
        int rc = ss_dataset_labeled_rows(ds, pc->c.labeled, &rows);
        ss_dataset_close(ds);
        if (rc) {
            snprintf(pc->data_msg, sizeof pc->data_msg, "no data for %d labeled %s: %s",
                     pc->c.labeled, d->unit[0] ? d->unit : "cases", semiseg_error());
            return;
        }
    }
    pc->have_data = 1;
}

void ss_plan_refresh(ss_plan *p)
{
    for (int i = 0; i < p->n; i++) {
        ss_plan_cell *c = &p->cells[i];
        for (int k = 0; k < c->c.seeds.n; k++) {
            ss_table_run_dir(&c->c, p->runs, c->c.seeds.v[k], c->run_dir[k], SS_PLAN_PATH);
            c->state[k] = ss_run_state_of(c->run_dir[k]);
        }
    }
}

int ss_plan_build(const ss_table_spec *s, const ss_plan_opts *o, ss_plan *out)
{
    memset(out, 0, sizeof *out);
    const char *profile = o->profile ? o->profile : "paper";
    const ss_ts_profile *f = ss_table_profile(s, profile);
    if (!f)
        return SS_ERR;
    const char *names[SS_TS_MAX_METHODS > SS_TS_MAX_DATASETS ? SS_TS_MAX_METHODS
                                                              : SS_TS_MAX_DATASETS];
    for (int i = 0; i < s->n_methods; i++)
        names[i] = s->methods[i].name;
    if (check_filter(o->only_methods, "methods", names, s->n_methods))
        return SS_ERR;
    for (int i = 0; i < s->n_datasets; i++)
        names[i] = s->datasets[i].key;
    if (check_filter(o->only_datasets, "datasets", names, s->n_datasets))
        return SS_ERR;
    for (int i = 0; i < o->n_roots; i++) {
        int ok = 0;
        for (int j = 0; j < s->n_datasets; j++)
            ok |= !strcmp(o->root_key[i], s->datasets[j].key);
        if (!ok)
            return ss_seterr("--data-root-%s: the table has no dataset '%s'", o->root_key[i],
                             o->root_key[i]);
    }
    ss_table_cell *cells;
    int n;
    if (ss_table_cells(s, profile, o->data, &cells, &n))
        return SS_ERR;
    out->spec = s;
    out->profile = f;
    snprintf(out->data_kind, sizeof out->data_kind, "%s", o->data ? o->data : f->data);
    if (o->runs)
        snprintf(out->runs, sizeof out->runs, "%s", o->runs);
    else
        snprintf(out->runs, sizeof out->runs, "runs/%s-%s%s%s", s->name, f->name,
                 strcmp(out->data_kind, f->data) ? "-" : "",
                 strcmp(out->data_kind, f->data) ? out->data_kind : "");
    out->cells = calloc((size_t)(n ? n : 1), sizeof *out->cells);
    if (!out->cells) {
        free(cells);
        return ss_seterr("out of memory for the run plan");
    }
    for (int i = 0; i < n; i++) {
        const ss_table_cell *c = &cells[i];
        char pct[16];
        snprintf(pct, sizeof pct, "%d", c->pct);
        if (!in_list(o->only_methods, c->method->name) ||
            !in_list(o->only_datasets, c->dataset->key) || !in_list(o->only_ratios, pct))
            continue;
        ss_plan_cell *pc = &out->cells[out->n++];
        pc->c = *c;
        pc->implemented = ss_method_find(c->method->name) != NULL;
        if (c->synthetic) {
            if (snprintf(pc->data_root, sizeof pc->data_root, "%s/_data/%s-seed%ld", out->runs,
                         c->train_dataset, f->twin_seed) >= (int)sizeof pc->data_root) {
                ss_plan_free(out);
                free(cells);
                return ss_seterr("runs root %s is too long", out->runs);
            }
            pc->have_data = 1;
        } else {
            real_root(o, f, c->col, c->dataset, pc->data_root, sizeof pc->data_root);
            check_real_data(pc, o->check_data);
        }
    }
    free(cells);
    ss_seterr("%s", "");
    ss_plan_refresh(out);
    return SS_OK;
}

void ss_plan_free(ss_plan *p)
{
    free(p->cells);
    memset(p, 0, sizeof *p);
}

int ss_plan_train_args(const ss_plan *p, const ss_plan_cell *c, int k, char *buf, size_t n,
                       char **argv, int max)
{
    size_t used = 0;
    int argc = 0;
#define PUSH(...)                                                                                  \
    do {                                                                                           \
        if (argc + 2 > max || used >= n)                                                           \
            return ss_seterr("train arguments of %s do not fit", c->run_dir[k]);                 \
        int w_ = snprintf(buf + used, n - used, __VA_ARGS__);                                      \
        if (w_ < 0 || (size_t)w_ >= n - used)                                                      \
            return ss_seterr("train arguments of %s do not fit", c->run_dir[k]);                 \
        argv[argc++] = buf + used;                                                                 \
        used += (size_t)w_ + 1;                                                                    \
    } while (0)
    PUSH("train");
    if (c->state[k] == SS_RUN_PARTIAL) {
        PUSH("--resume");
        PUSH("%s", c->run_dir[k]);
    } else {
        PUSH("--method");
        PUSH("%s", c->c.method->name);
        PUSH("--dataset");
        PUSH("%s", c->c.train_dataset);
        PUSH("--labeled");
        PUSH("%d", c->c.labeled);
        PUSH("--seed");
        PUSH("%ld", c->c.seeds.v[k]);
        PUSH("--profile");
        PUSH("%s", p->profile->train_profile);
        PUSH("--data-root");
        PUSH("%s", c->data_root);
        PUSH("--runs");
        PUSH("%s", p->runs);
        for (int i = 0; i < c->c.sets.n; i++) {
            PUSH("--set");
            PUSH("%s", c->c.sets.v[i]);
        }
    }
    PUSH("--progress");
    PUSH("lines");
#undef PUSH
    argv[argc] = NULL;
    return argc;
}

void ss_shell_quote(const char *s, char *out, size_t n)
{
    size_t o = 0;
    if (n < 3) {
        if (n)
            out[0] = '\0';
        return;
    }
    int plain = *s != '\0';
    for (const char *c = s; *c; c++)
        plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 strchr("-_./=:,+@%", *c) != NULL;
    if (plain) {
        snprintf(out, n, "%s", s);
        return;
    }
    out[o++] = '\'';
    for (; *s && o + 5 < n; s++) {
        if (*s == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *s;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
}

int ss_plan_slurm(const ss_plan *p, const char *exe, int jobs, char **text, int *n_tasks)
{
    *text = NULL;
    *n_tasks = 0;
    size_t cap = 8192, len = 0;
    char *t = malloc(cap);
    if (!t)
        return ss_seterr("out of memory for the sbatch script");
    char q[SS_PLAN_PATH * 2];
#define ADD(...)                                                                                   \
    do {                                                                                           \
        for (;;) {                                                                                 \
            int w_ = snprintf(t + len, cap - len, __VA_ARGS__);                                    \
            if (w_ >= 0 && (size_t)w_ < cap - len) {                                               \
                len += (size_t)w_;                                                                 \
                break;                                                                             \
            }                                                                                      \
            char *nt_ = realloc(t, cap * 2);                                                       \
            if (!nt_) {                                                                            \
                free(t);                                                                           \
                return ss_seterr("out of memory for the sbatch script");                           \
            }                                                                                      \
            t = nt_;                                                                               \
            cap *= 2;                                                                              \
        }                                                                                          \
    } while (0)
    /* the task lines first, to know the array size */
    size_t tcap = 8192, tlen = 0;
    char *tasks = malloc(tcap);
    if (!tasks) {
        free(t);
        return ss_seterr("out of memory for the sbatch script");
    }
    tasks[0] = '\0';
    int nt = 0;
    for (int i = 0; i < p->n; i++) {
        const ss_plan_cell *c = &p->cells[i];
        if (!c->implemented || !c->have_data)
            continue;
        for (int k = 0; k < c->c.seeds.n; k++) {
            if (c->state[k] == SS_RUN_DONE)
                continue;
            char buf[8192], *argv[128];
            int argc = ss_plan_train_args(p, c, k, buf, sizeof buf, argv, 128);
            if (argc < 0) {
                free(tasks);
                free(t);
                return SS_ERR;
            }
            char line[16384];
            size_t l = (size_t)snprintf(line, sizeof line, "  \"");
            for (int a = 0; a < argc && l < sizeof line; a++) {
                ss_shell_quote(argv[a], q, sizeof q);
                /* inside a double-quoted bash array element: escape $, `, \ and " */
                l += (size_t)snprintf(line + l, sizeof line - l, "%s", a ? " " : "");
                for (const char *s = q; *s && l + 3 < sizeof line; s++) {
                    if (strchr("$`\\\"", *s))
                        line[l++] = '\\';
                    line[l++] = *s;
                }
                line[l] = '\0';
            }
            l += (size_t)snprintf(line + l, l < sizeof line ? sizeof line - l : 0, "\"\n");
            if (tlen + l + 1 > tcap) {
                tcap = (tcap + l) * 2;
                char *nt2 = realloc(tasks, tcap);
                if (!nt2) {
                    free(tasks);
                    free(t);
                    return ss_seterr("out of memory for the sbatch script");
                }
                tasks = nt2;
            }
            memcpy(tasks + tlen, line, l + 1);
            tlen += l;
            nt++;
        }
    }
    ADD("#!/bin/bash\n");
    ADD("# `semiseg sweep %s --profile %s --data %s --emit slurm`: one array task per run\n",
        p->spec->path, p->profile->name, p->data_kind);
    ADD("# that is missing or unfinished under %s (%d tasks). Submit with: sbatch THIS_FILE\n",
        p->runs, nt);
    ADD("#SBATCH --job-name=%s-%s\n", p->spec->name, p->profile->name);
    if (nt > 0)
        ADD("#SBATCH --array=0-%d%s", nt - 1, jobs > 0 ? "%" : "");
    if (nt > 0 && jobs > 0)
        ADD("%d", jobs);
    if (nt > 0)
        ADD("\n");
    ADD("#SBATCH --gres=gpu:1\n#SBATCH --cpus-per-task=8\n");
    ADD("#SBATCH --output=%s/_sweep/slurm-%%A_%%a.log\n", p->runs);
    ADD("set -euo pipefail\n");
    ss_shell_quote(exe, q, sizeof q);
    ADD("SEMISEG=${SEMISEG:-%s}\n", q);
    ADD("TASKS=(\n%s)\n", tasks);
    ADD("eval \"set -- ${TASKS[$SLURM_ARRAY_TASK_ID]}\"\n");
    ADD("exec \"$SEMISEG\" \"$@\"\n");
#undef ADD
    free(tasks);
    *text = t;
    *n_tasks = nt;
    return SS_OK;
}

const char ss_plan_opts_help[] =
    "  --profile P         profile section of the spec: paper (default) or smoke\n"
    "  --data KIND         real or synthetic (default: the profile's)\n"
    "  --runs DIR          runs root (default runs/<table>-<profile>[-<data>])\n"
    "  --data-root DIR     folder holding the real data sets (default data; each\n"
    "                      dataset's folder under it is named in the spec: LA, ...)\n"
    "  --data-root-KEY DIR folder of one dataset (KEY = la, pancreas, acdc, ...)\n"
    "  --methods A,B       only these rows' methods\n"
    "  --datasets A,B      only these dataset columns (spec keys: la, acdc, ...)\n"
    "  --ratios 10,20      only these labeled percentages\n";

int ss_plan_opt(ss_plan_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char **dst = !strcmp(a, "--profile")     ? &o->profile
                       : !strcmp(a, "--data")      ? &o->data
                       : !strcmp(a, "--runs")      ? &o->runs
                       : !strcmp(a, "--data-root") ? &o->data_root
                       : !strcmp(a, "--methods")   ? &o->only_methods
                       : !strcmp(a, "--datasets")  ? &o->only_datasets
                       : !strcmp(a, "--ratios")    ? &o->only_ratios
                                                   : NULL;
    int root = !dst && !strncmp(a, "--data-root-", 12) && a[12];
    if (!dst && !root)
        return 0;
    if (*i + 1 >= argc) {
        ss_seterr("option %s needs a value", a);
        return -1;
    }
    const char *v = argv[++*i];
    if (dst) {
        if (!strcmp(a, "--data") && strcmp(v, "real") && strcmp(v, "synthetic")) {
            ss_seterr("--data '%s': want real or synthetic", v);
            return -1;
        }
        *dst = v;
        return 1;
    }
    if (o->n_roots == SS_PLAN_MAX_ROOTS) {
        ss_seterr("more than %d --data-root-KEY options", SS_PLAN_MAX_ROOTS);
        return -1;
    }
    o->root_key[o->n_roots] = a + 12;
    o->root_dir[o->n_roots++] = v;
    return 1;
}

int ss_plan_make_twins(const ss_plan *p, FILE *log)
{
    for (int i = 0; i < p->n; i++) {
        const ss_plan_cell *c = &p->cells[i];
        if (!c->c.synthetic || !c->implemented || ss_is_dir(c->data_root))
            continue;
        char parent[SS_PLAN_PATH + 16], tmp[SS_PLAN_PATH + 32];
        snprintf(parent, sizeof parent, "%s/_data", p->runs);
        if (ss_mkdirs(parent))
            return SS_ERR;
        if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", c->data_root, (long)getpid()) >=
            (int)sizeof tmp)
            return ss_seterr("path %s is too long", c->data_root);
        if (log)
            fprintf(log, "sweep: writing the synthetic twin %s to %s\n", c->c.train_dataset,
                    c->data_root);
        if (ss_synth_write(c->c.train_dataset, tmp, (uint64_t)p->profile->twin_seed, 1.0))
            return SS_ERR;
        if (rename(tmp, c->data_root) != 0)
            return ss_seterr("cannot rename %s to %s", tmp, c->data_root);
    }
    return SS_OK;
}
