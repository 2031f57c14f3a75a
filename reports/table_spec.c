/* Table spec parsing and cell resolution (see table_spec.h). */
#include "reports/table_spec.h"

#include "kernels/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 198 /* inih reads lines of up to 199 bytes */

typedef struct pctx {
    ss_table_spec *s;
    const char *origin;
    int *lines; /* source line of the k-th handler call */
    int n_lines, call;
    char err[1024];
    char last_section[128], last_name[64];
    int last_was_note; /* the previous call appended to this notes list */
    ss_ts_notes *last_notes;
} pctx;

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t k = 0;
    while (s[k] && isspace((unsigned char)s[k]))
        k++;
    memmove(s, s + k, n - k + 1);
}

/* Splits VALUE on commas into trimmed items; returns the count or -1. */
static int split_list(const char *value, char items[][SS_TS_STR], int max)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", value);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == max)
            return -1;
        snprintf(items[n], SS_TS_STR, "%s", t);
        trim(items[n]);
        if (!items[n][0])
            return -1;
        n++;
    }
    return n;
}

static int parse_long_str(const char *s, long *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e)
        return -1;
    *out = v;
    return 0;
}

/* Copies src into dst[n]; 0 (nothing written) when it does not fit. */
static int str_fits(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n)
        return 0;
    memmove(dst, src, len + 1);
    return 1;
}

static int set_err(pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set_err(pctx *p, const char *fmt, ...)
{
    if (p->err[0])
        return 0;
    va_list ap;
    va_start(ap, fmt);
    char msg[900];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = p->call > 0 && p->call <= p->n_lines ? p->lines[p->call - 1] : 0;
    snprintf(p->err, sizeof p->err, "%s:%d: %s", p->origin, line, msg);
    return 0;
}

static int copy_str(pctx *p, char *dst, size_t n, const char *v, const char *key)
{
    if (strlen(v) >= n)
        return set_err(p, "%s: value '%s' is longer than %zu characters", key, v, n - 1);
    if (!v[0])
        return set_err(p, "%s: empty value", key);
    snprintf(dst, n, "%s", v);
    return 1;
}

static int parse_seeds(pctx *p, const char *v, ss_ts_seeds *out)
{
    char items[SS_TS_MAX_SEEDS][SS_TS_STR];
    int n = split_list(v, items, SS_TS_MAX_SEEDS);
    if (n < 1)
        return set_err(p, "seeds: '%s' is not a comma-separated list of 1..%d seeds", v,
                       SS_TS_MAX_SEEDS);
    for (int i = 0; i < n; i++)
        if (parse_long_str(items[i], &out->v[i]) || out->v[i] < 0)
            return set_err(p, "seeds: '%s' is not a non-negative integer", items[i]);
    out->n = n;
    return 1;
}

static int parse_pct(pctx *p, const char *s, int *out)
{
    long v;
    if (parse_long_str(s, &v) || v < 1 || v > 100)
        return set_err(p, "labeled percentage '%s' is not an integer in 1..100", s);
    *out = (int)v;
    return 1;
}

static int parse_ratios(pctx *p, const char *v, int *ratios, int *n_out)
{
    char items[SS_TS_MAX_RATIOS][SS_TS_STR];
    int n = split_list(v, items, SS_TS_MAX_RATIOS);
    if (n < 1)
        return set_err(p, "ratios: '%s' is not a list of 1..%d percentages", v, SS_TS_MAX_RATIOS);
    for (int i = 0; i < n; i++)
        if (!parse_pct(p, items[i], &ratios[i]))
            return 0;
    *n_out = n;
    return 1;
}

static int parse_counts(pctx *p, const char *v, ss_ts_counts *out)
{
    char items[SS_TS_MAX_RATIOS][SS_TS_STR];
    int n = split_list(v, items, SS_TS_MAX_RATIOS);
    if (n < 1)
        return set_err(p, "'%s' is not a list of PCT:COUNT pairs (e.g. 10:8, 20:16)", v);
    for (int i = 0; i < n; i++) {
        char *colon = strchr(items[i], ':');
        long c;
        if (!colon)
            return set_err(p, "'%s' is not PCT:COUNT (e.g. 10:8)", items[i]);
        *colon = '\0';
        trim(items[i]);
        char *cs = colon + 1;
        trim(cs);
        if (!parse_pct(p, items[i], &out->pct[i]))
            return 0;
        if (parse_long_str(cs, &c) || c < 1)
            return set_err(p, "count '%s' is not a positive integer", cs);
        out->count[i] = (int)c;
    }
    out->n = n;
    return 1;
}

static int add_set(pctx *p, const char *v, ss_ts_sets *s)
{
    if (!strchr(v, '=') || !strchr(v, '.') || strchr(v, '.') > strchr(v, '='))
        return set_err(p, "set: '%s' is not section.key=value", v);
    if (s->n == SS_TS_MAX_SETS)
        return set_err(p, "set: more than %d assignments", SS_TS_MAX_SETS);
    return copy_str(p, s->v[s->n++], SS_TS_STR, v, "set");
}

/* A note line; an indented continuation line (same key, next call) extends it. */
static int add_note(pctx *p, const char *v, ss_ts_notes *n, int continuation)
{
    if (continuation && n->n > 0) {
        size_t l = strlen(n->v[n->n - 1]);
        if (l + 1 + strlen(v) >= sizeof n->v[0])
            return set_err(p, "note: longer than %zu characters", sizeof n->v[0] - 1);
        snprintf(n->v[n->n - 1] + l, sizeof n->v[0] - l, " %s", v);
        return 1;
    }
    if (n->n == SS_TS_MAX_NOTES)
        return set_err(p, "note: more than %d notes", SS_TS_MAX_NOTES);
    return copy_str(p, n->v[n->n++], sizeof n->v[0], v, "note");
}

static int find_dataset_key(const ss_table_spec *s, const char *key)
{
    for (int i = 0; i < s->n_datasets; i++)
        if (!strcmp(s->datasets[i].key, key))
            return i;
    return -1;
}

static int find_method(const ss_table_spec *s, const char *name)
{
    for (int i = 0; i < s->n_methods; i++)
        if (!strcmp(s->methods[i].name, name))
            return i;
    return -1;
}

static int checkpoint_value(pctx *p, char *dst, const char *v)
{
    if (strcmp(v, "best") && strcmp(v, "last"))
        return set_err(p, "checkpoint: '%s' is neither best nor last", v);
    snprintf(dst, 8, "%s", v);
    return 1;
}

static int table_key(pctx *p, const char *name, const char *v, int cont)
{
    ss_table_spec *s = p->s;
    if (!strcmp(name, "name"))
        return copy_str(p, s->name, sizeof s->name, v, name);
    if (!strcmp(name, "title"))
        return copy_str(p, s->title, sizeof s->title, v, name);
    if (!strcmp(name, "paper"))
        return copy_str(p, s->paper, sizeof s->paper, v, name);
    if (!strcmp(name, "checkpoint"))
        return checkpoint_value(p, s->checkpoint, v);
    if (!strcmp(name, "seeds"))
        return parse_seeds(p, v, &s->seeds);
    if (!strcmp(name, "note"))
        return add_note(p, v, &s->notes, cont);
    if (!strcmp(name, "metrics")) {
        char items[SS_TS_MAX_METRICS][SS_TS_STR];
        int n = split_list(v, items, SS_TS_MAX_METRICS);
        if (n < 1)
            return set_err(p, "metrics: '%s' is not a list of 1..%d metrics", v, SS_TS_MAX_METRICS);
        for (int i = 0; i < n; i++) {
            if (strcmp(items[i], "dice") && strcmp(items[i], "jaccard") &&
                strcmp(items[i], "hd95") && strcmp(items[i], "asd"))
                return set_err(p, "metrics: unknown metric '%s' (dice, jaccard, hd95, asd)",
                               items[i]);
            if (snprintf(s->metrics[i], sizeof s->metrics[i], "%s", items[i]) < 0)
                return set_err(p, "metrics: bad value");
        }
        s->n_metrics = n;
        return 1;
    }
    if (!strcmp(name, "datasets") || !strcmp(name, "methods")) {
        int isds = name[0] == 'd';
        int max = isds ? SS_TS_MAX_DATASETS : SS_TS_MAX_METHODS;
        char items[SS_TS_MAX_METHODS][SS_TS_STR];
        int n = split_list(v, items, max);
        if (n < 1)
            return set_err(p, "%s: '%s' is not a list of 1..%d names", name, v, max);
        for (int i = 0; i < n; i++) {
            if (strlen(items[i]) >= 32)
                return set_err(p, "%s: name '%s' is too long", name, items[i]);
            for (int j = 0; j < i; j++)
                if (!strcmp(items[i], items[j]))
                    return set_err(p, "%s: '%s' is listed twice", name, items[i]);
            if (isds)
                snprintf(s->datasets[i].key, 32, "%s", items[i]);
            else
                snprintf(s->methods[i].name, 32, "%s", items[i]);
        }
        if (isds)
            s->n_datasets = n;
        else
            s->n_methods = n;
        return 1;
    }
    return set_err(p, "unknown key '%s' in [table] (name, title, paper, metrics, seeds, "
                      "checkpoint, datasets, methods, note)", name);
}

static int dataset_key(pctx *p, ss_ts_dataset *d, const char *name, const char *v)
{
    d->defined = 1;
    if (!strcmp(name, "label"))
        return copy_str(p, d->label, sizeof d->label, v, name);
    if (!strcmp(name, "name"))
        return copy_str(p, d->name, sizeof d->name, v, name);
    if (!strcmp(name, "root"))
        return copy_str(p, d->root, sizeof d->root, v, name);
    if (!strcmp(name, "unit"))
        return copy_str(p, d->unit, sizeof d->unit, v, name);
    if (!strcmp(name, "get"))
        return copy_str(p, d->get, sizeof d->get, v, name);
    if (!strcmp(name, "labeled"))
        return parse_counts(p, v, &d->labeled);
    return set_err(p, "unknown key '%s' in [dataset %s] (label, name, root, unit, labeled, get)",
                   name, d->key);
}

static int method_key(pctx *p, ss_ts_method *m, const char *name, const char *v, int cont)
{
    m->defined = 1;
    if (!strcmp(name, "label"))
        return copy_str(p, m->label, sizeof m->label, v, name);
    if (!strcmp(name, "ratios"))
        return parse_ratios(p, v, m->ratios, &m->n_ratios);
    if (!strcmp(name, "seeds"))
        return parse_seeds(p, v, &m->seeds);
    if (!strcmp(name, "checkpoint"))
        return checkpoint_value(p, m->checkpoint, v);
    if (!strcmp(name, "set"))
        return add_set(p, v, &m->sets);
    if (!strcmp(name, "note"))
        return add_note(p, v, &m->notes, cont);
    return set_err(p, "unknown key '%s' in [method %s] (label, ratios, seeds, checkpoint, set, "
                      "note)", name, m->name);
}

static int profile_key(pctx *p, ss_ts_profile *f, const char *name, const char *v, int cont)
{
    if (!strcmp(name, "train_profile"))
        return copy_str(p, f->train_profile, sizeof f->train_profile, v, name);
    if (!strcmp(name, "data")) {
        if (strcmp(v, "real") && strcmp(v, "synthetic"))
            return set_err(p, "data: '%s' is neither real nor synthetic", v);
        return copy_str(p, f->data, sizeof f->data, v, name);
    }
    if (!strcmp(name, "seeds"))
        return parse_seeds(p, v, &f->seeds);
    if (!strcmp(name, "set"))
        return add_set(p, v, &f->sets);
    if (!strcmp(name, "note"))
        return add_note(p, v, &f->notes, cont);
    if (!strcmp(name, "twin_seed")) {
        if (parse_long_str(v, &f->twin_seed) || f->twin_seed < 0)
            return set_err(p, "twin_seed: '%s' is not a non-negative integer", v);
        return 1;
    }
    if (!strncmp(name, "synthetic.", 10) && name[10]) {
        if (f->n_synth == SS_TS_MAX_DATASETS)
            return set_err(p, "%s: more than %d synthetic datasets", name, SS_TS_MAX_DATASETS);
        snprintf(f->synth_key[f->n_synth], 32, "%s", name + 10);
        return copy_str(p, f->synth[f->n_synth++], 32, v, name);
    }
    if (!strncmp(name, "synthetic_labeled.", 18) && name[18]) {
        if (f->n_synth_lab == SS_TS_MAX_DATASETS)
            return set_err(p, "%s: more than %d synthetic datasets", name, SS_TS_MAX_DATASETS);
        snprintf(f->synth_lab_key[f->n_synth_lab], 32, "%s", name + 18);
        return parse_counts(p, v, &f->synth_labeled[f->n_synth_lab++]);
    }
    if (!strncmp(name, "labeled.", 8) && name[8]) {
        if (f->n_real_lab == SS_TS_MAX_DATASETS)
            return set_err(p, "%s: more than %d datasets", name, SS_TS_MAX_DATASETS);
        snprintf(f->real_lab_key[f->n_real_lab], 32, "%s", name + 8);
        return parse_counts(p, v, &f->real_labeled[f->n_real_lab++]);
    }
    if (!strncmp(name, "root.", 5) && name[5]) {
        if (f->n_real_root == SS_TS_MAX_DATASETS)
            return set_err(p, "%s: more than %d datasets", name, SS_TS_MAX_DATASETS);
        snprintf(f->real_root_key[f->n_real_root], 32, "%s", name + 5);
        return copy_str(p, f->real_root[f->n_real_root++], SS_TS_STR, v, name);
    }
    return set_err(p, "unknown key '%s' in [profile %s] (train_profile, data, seeds, set, note, "
                      "twin_seed, synthetic.KEY, synthetic_labeled.KEY, labeled.KEY, root.KEY)",
                   name, f->name);
}

static int cell_key(pctx *p, ss_ts_cellx *c, const char *name, const char *v)
{
    if (!strcmp(name, "seeds"))
        return parse_seeds(p, v, &c->seeds);
    if (!strcmp(name, "set"))
        return add_set(p, v, &c->sets);
    if (!strcmp(name, "checkpoint"))
        return checkpoint_value(p, c->checkpoint, v);
    if (!strcmp(name, "labeled")) {
        long n;
        if (parse_long_str(v, &n) || n < 1)
            return set_err(p, "labeled: '%s' is not a positive integer", v);
        c->labeled = (int)n;
        return 1;
    }
    return set_err(p, "unknown key '%s' in [cell %s %s %d] (seeds, set, checkpoint, labeled)", name,
                   c->method, c->dataset, c->pct);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    pctx *p = user;
    p->call++;
    if (p->err[0])
        return 0;
    int cont = !strcmp(section, p->last_section) && !strcmp(name, p->last_name) &&
               p->call <= p->n_lines && p->lines[p->call - 1] < 0;
    snprintf(p->last_section, sizeof p->last_section, "%s", section);
    snprintf(p->last_name, sizeof p->last_name, "%s", name);
    ss_table_spec *s = p->s;
    char kind[32] = "", a[64] = "", b[64] = "", c[64] = "", extra[8] = "";
    int nw = sscanf(section, "%31s %63s %63s %63s %7s", kind, a, b, c, extra);
    if (!strcmp(kind, "table") && nw == 1)
        return table_key(p, name, value, cont);
    if (!strcmp(kind, "dataset") && nw == 2) {
        int i = find_dataset_key(s, a);
        if (i < 0)
            return set_err(p, "[dataset %s]: not listed in [table] datasets (list it there first)",
                           a);
        return dataset_key(p, &s->datasets[i], name, value);
    }
    if (!strcmp(kind, "method") && nw == 2) {
        int i = find_method(s, a);
        if (i < 0)
            return set_err(p, "[method %s]: not listed in [table] methods (list it there first)", a);
        return method_key(p, &s->methods[i], name, value, cont);
    }
    if (!strcmp(kind, "profile") && nw == 2) {
        int i;
        for (i = 0; i < s->n_profiles; i++)
            if (!strcmp(s->profiles[i].name, a))
                break;
        if (i == s->n_profiles) {
            if (i == SS_TS_MAX_PROFILES)
                return set_err(p, "more than %d profiles", SS_TS_MAX_PROFILES);
            if (!str_fits(s->profiles[i].name, sizeof s->profiles[i].name, a))
                return set_err(p, "[profile %s]: name longer than %zu characters", a,
                               sizeof s->profiles[i].name - 1);
            s->profiles[i].twin_seed = 1337;
            s->n_profiles++;
        }
        return profile_key(p, &s->profiles[i], name, value, cont);
    }
    if (!strcmp(kind, "cell") && nw == 4) {
        int pct = 0;
        if (!parse_pct(p, c, &pct))
            return 0;
        if (find_method(s, a) < 0 || find_dataset_key(s, b) < 0)
            return set_err(p, "[cell %s %s %s]: method or dataset not listed in [table]", a, b, c);
        int i;
        for (i = 0; i < s->n_cellx; i++)
            if (!strcmp(s->cellx[i].method, a) && !strcmp(s->cellx[i].dataset, b) &&
                s->cellx[i].pct == pct)
                break;
        if (i == s->n_cellx) {
            if (i == SS_TS_MAX_CELLS)
                return set_err(p, "more than %d [cell] sections", SS_TS_MAX_CELLS);
            if (!str_fits(s->cellx[i].method, sizeof s->cellx[i].method, a) ||
                !str_fits(s->cellx[i].dataset, sizeof s->cellx[i].dataset, b))
                return set_err(p, "[cell %s %s %s]: method or dataset name too long", a, b, c);
            s->cellx[i].pct = pct;
            s->n_cellx++;
        }
        return cell_key(p, &s->cellx[i], name, value);
    }
    return set_err(p, "unknown section [%s] (table, dataset KEY, method NAME, profile NAME, "
                      "cell METHOD DATASET PCT)", section);
}

/* Mirrors inih's line classification: the source line of every handler call,
 * negative for indented continuation lines. */
static int scan_lines(pctx *p, const char *text)
{
    int cap = 64, n = 0, line = 0, have_name = 0;
    p->lines = malloc((size_t)cap * sizeof(int));
    if (!p->lines)
        return ss_seterr("%s: out of memory", p->origin);
    const char *t = text;
    while (*t) {
        line++;
        const char *e = strchr(t, '\n');
        size_t len = e ? (size_t)(e - t) : strlen(t);
        if (len > MAX_LINE) {
            free(p->lines);
            p->lines = NULL;
            return ss_seterr("%s:%d: line longer than %d characters (continue a note on an "
                             "indented next line)", p->origin, line, MAX_LINE);
        }
        size_t k = 0;
        while (k < len && isspace((unsigned char)t[k]))
            k++;
        int blank = k == len;
        char first = blank ? '\0' : t[k];
        if (!blank && first != ';' && first != '#') {
            int call = 0, sign = 1;
            if (have_name && k > 0) {
                call = 1;
                sign = -1;
            } else if (first == '[') {
                have_name = 0;
            } else if (memchr(t + k, '=', len - k) || memchr(t + k, ':', len - k)) {
                call = 1;
                have_name = 1;
            }
            if (call) {
                if (n == cap) {
                    cap *= 2;
                    int *nl = realloc(p->lines, (size_t)cap * sizeof(int));
                    if (!nl) {
                        free(p->lines);
                        p->lines = NULL;
                        return ss_seterr("%s: out of memory", p->origin);
                    }
                    p->lines = nl;
                }
                p->lines[n++] = sign * line;
            }
        }
        t += len + (e ? 1 : 0);
    }
    p->n_lines = n;
    return SS_OK;
}

static int check_counts_cover(const ss_ts_counts *c, const ss_ts_method *m, const char *what,
                              const char *origin)
{
    for (int r = 0; r < m->n_ratios; r++) {
        int ok = 0;
        for (int i = 0; i < c->n; i++)
            ok |= c->pct[i] == m->ratios[r];
        if (!ok)
            return ss_seterr("%s: %s gives no labeled count for %d %% (needed by method %s)",
                             origin, what, m->ratios[r], m->name);
    }
    return SS_OK;
}

static int validate(ss_table_spec *s, const char *origin)
{
    if (!s->n_datasets || !s->n_methods)
        return ss_seterr("%s: [table] needs datasets and methods", origin);
    if (!s->name[0])
        return ss_seterr("%s: [table] needs a name", origin);
    if (!s->seeds.n) {
        s->seeds.n = 1;
        s->seeds.v[0] = 1337;
    }
    if (!s->checkpoint[0])
        snprintf(s->checkpoint, sizeof s->checkpoint, "best");
    if (!s->n_metrics) {
        s->n_metrics = 2;
        snprintf(s->metrics[0], 16, "dice");
        snprintf(s->metrics[1], 16, "asd");
    }
    for (int i = 0; i < s->n_datasets; i++) {
        ss_ts_dataset *d = &s->datasets[i];
        if (!d->defined || !d->name[0] || !d->labeled.n)
            return ss_seterr("%s: [dataset %s] is missing or lacks name / labeled", origin, d->key);
        if (!d->label[0])
            str_fits(d->label, sizeof d->label, d->key); /* key[32] fits */
        if (!d->root[0])
            str_fits(d->root, sizeof d->root, d->key);
    }
    for (int i = 0; i < s->n_methods; i++) {
        ss_ts_method *m = &s->methods[i];
        if (!m->defined || !m->n_ratios)
            return ss_seterr("%s: [method %s] is missing or lacks ratios", origin, m->name);
        if (!m->label[0])
            str_fits(m->label, sizeof m->label, m->name); /* name[32] fits */
        if (!m->checkpoint[0])
            str_fits(m->checkpoint, sizeof m->checkpoint, s->checkpoint);
        for (int j = 0; j < s->n_datasets; j++) {
            char what[128];
            snprintf(what, sizeof what, "[dataset %s] labeled", s->datasets[j].key);
            if (check_counts_cover(&s->datasets[j].labeled, m, what, origin))
                return SS_ERR;
        }
    }
    for (int i = 0; i < s->n_profiles; i++) {
        ss_ts_profile *f = &s->profiles[i];
        if (!f->train_profile[0])
            str_fits(f->train_profile, sizeof f->train_profile, f->name); /* name[32] fits */
        if (!f->data[0])
            snprintf(f->data, sizeof f->data, "real");
        char names[SS_TS_MAX_DATASETS][32];
        ss_ts_counts counts[SS_TS_MAX_DATASETS];
        memset(names, 0, sizeof names);
        memset(counts, 0, sizeof counts);
        for (int k = 0; k < f->n_synth; k++) {
            int j = find_dataset_key(s, f->synth_key[k]);
            if (j < 0)
                return ss_seterr("%s: [profile %s] synthetic.%s: no such dataset in [table]",
                                 origin, f->name, f->synth_key[k]);
            snprintf(names[j], 32, "%s", f->synth[k]);
        }
        for (int k = 0; k < f->n_synth_lab; k++) {
            int j = find_dataset_key(s, f->synth_lab_key[k]);
            if (j < 0)
                return ss_seterr("%s: [profile %s] synthetic_labeled.%s: no such dataset", origin,
                                 f->name, f->synth_lab_key[k]);
            counts[j] = f->synth_labeled[k];
        }
        memcpy(f->synth, names, sizeof names);
        memcpy(f->synth_labeled, counts, sizeof counts);
        /* real-data overrides, re-indexed by dataset */
        ss_ts_counts rl[SS_TS_MAX_DATASETS];
        char rr[SS_TS_MAX_DATASETS][SS_TS_STR];
        memset(rl, 0, sizeof rl);
        memset(rr, 0, sizeof rr);
        for (int k = 0; k < f->n_real_lab; k++) {
            int j = find_dataset_key(s, f->real_lab_key[k]);
            if (j < 0)
                return ss_seterr("%s: [profile %s] labeled.%s: no such dataset in [table]", origin,
                                 f->name, f->real_lab_key[k]);
            rl[j] = f->real_labeled[k];
            for (int m = 0; m < s->n_methods; m++) {
                char what[128];
                snprintf(what, sizeof what, "[profile %s] labeled.%s", f->name,
                         s->datasets[j].key);
                if (check_counts_cover(&rl[j], &s->methods[m], what, origin))
                    return SS_ERR;
            }
        }
        for (int k = 0; k < f->n_real_root; k++) {
            int j = find_dataset_key(s, f->real_root_key[k]);
            if (j < 0)
                return ss_seterr("%s: [profile %s] root.%s: no such dataset in [table]", origin,
                                 f->name, f->real_root_key[k]);
            memcpy(rr[j], f->real_root[k], SS_TS_STR);
        }
        memcpy(f->real_labeled, rl, sizeof rl);
        memcpy(f->real_root, rr, sizeof rr);
        for (int j = 0; j < s->n_datasets; j++) {
            if (!f->synth[j][0])
                continue;
            if (!f->synth_labeled[j].n)
                return ss_seterr("%s: [profile %s] maps %s to %s but gives no synthetic_labeled.%s",
                                 origin, f->name, s->datasets[j].key, f->synth[j],
                                 s->datasets[j].key);
            for (int m = 0; m < s->n_methods; m++) {
                char what[128];
                snprintf(what, sizeof what, "[profile %s] synthetic_labeled.%s", f->name,
                         s->datasets[j].key);
                if (check_counts_cover(&f->synth_labeled[j], &s->methods[m], what, origin))
                    return SS_ERR;
            }
        }
    }
    for (int i = 0; i < s->n_cellx; i++) {
        const ss_ts_method *m = &s->methods[find_method(s, s->cellx[i].method)];
        int ok = 0;
        for (int r = 0; r < m->n_ratios; r++)
            ok |= m->ratios[r] == s->cellx[i].pct;
        if (!ok)
            return ss_seterr("%s: [cell %s %s %d]: method %s has no %d %% row", origin,
                             s->cellx[i].method, s->cellx[i].dataset, s->cellx[i].pct, m->name,
                             s->cellx[i].pct);
    }
    return SS_OK;
}

int ss_table_spec_parse(const char *text, const char *origin, ss_table_spec *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", origin);
    pctx p;
    memset(&p, 0, sizeof p);
    p.s = out;
    p.origin = origin;
    if (scan_lines(&p, text))
        return SS_ERR;
    int rc = ini_parse_string(text, handler, &p);
    free(p.lines);
    if (p.err[0])
        return ss_seterr("%s", p.err);
    if (rc != 0)
        return ss_seterr("%s:%d: not an INI line (expected [section] or key = value)", origin, rc);
    return validate(out, origin);
}

int ss_table_spec_load(const char *path, ss_table_spec *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ss_seterr("cannot open table spec %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return ss_seterr("%s: out of memory", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return ss_seterr("cannot read table spec %s", path);
    }
    buf[n] = '\0';
    int rc = ss_table_spec_parse(buf, path, out);
    free(buf);
    return rc;
}

const ss_ts_profile *ss_table_profile(const ss_table_spec *s, const char *name)
{
    char names[256] = "";
    size_t o = 0;
    for (int i = 0; i < s->n_profiles; i++) {
        if (!strcmp(s->profiles[i].name, name))
            return &s->profiles[i];
        o += (size_t)snprintf(names + o, o < sizeof names ? sizeof names - o : 0, "%s%s",
                              i ? ", " : "", s->profiles[i].name);
    }
    ss_seterr("%s: no [profile %s] (profiles: %s)", s->path, name, s->n_profiles ? names : "none");
    return NULL;
}

int ss_table_rows(const ss_table_spec *s, int *method_idx, int *pct, int max)
{
    /* rows grouped by labeled %: the ratios in order of first appearance over
     * the methods, each group in method order */
    int order[SS_TS_MAX_RATIOS * SS_TS_MAX_METHODS], n_order = 0, n = 0;
    for (int m = 0; m < s->n_methods; m++)
        for (int r = 0; r < s->methods[m].n_ratios; r++) {
            int v = s->methods[m].ratios[r], seen = 0;
            for (int k = 0; k < n_order; k++)
                seen |= order[k] == v;
            if (!seen)
                order[n_order++] = v;
        }
    for (int k = 0; k < n_order; k++)
        for (int m = 0; m < s->n_methods; m++)
            for (int r = 0; r < s->methods[m].n_ratios; r++)
                if (s->methods[m].ratios[r] == order[k]) {
                    if (n == max)
                        return ss_seterr("%s: more than %d table rows", s->path, max);
                    method_idx[n] = m;
                    pct[n++] = order[k];
                }
    return n;
}

static int count_for(const ss_ts_counts *c, int pct)
{
    for (int i = 0; i < c->n; i++)
        if (c->pct[i] == pct)
            return c->count[i];
    return -1;
}

static int append_sets(ss_ts_sets *dst, const ss_ts_sets *src)
{
    for (int i = 0; i < src->n; i++) {
        if (dst->n == SS_TS_MAX_SETS)
            return ss_seterr("a cell has more than %d --set assignments", SS_TS_MAX_SETS);
        snprintf(dst->v[dst->n++], SS_TS_STR, "%s", src->v[i]);
    }
    return SS_OK;
}

int ss_table_cells(const ss_table_spec *s, const char *profile, const char *data,
                   ss_table_cell **cells, int *n_cells)
{
    *cells = NULL;
    *n_cells = 0;
    const ss_ts_profile *f = ss_table_profile(s, profile);
    if (!f)
        return SS_ERR;
    if (!data)
        data = f->data;
    int synthetic;
    if (!strcmp(data, "synthetic"))
        synthetic = 1;
    else if (!strcmp(data, "real"))
        synthetic = 0;
    else
        return ss_seterr("data kind '%s' is neither real nor synthetic", data);
    int midx[SS_TS_MAX_METHODS * SS_TS_MAX_RATIOS], pct[SS_TS_MAX_METHODS * SS_TS_MAX_RATIOS];
    int nrows = ss_table_rows(s, midx, pct, SS_TS_MAX_METHODS * SS_TS_MAX_RATIOS);
    if (nrows < 0)
        return SS_ERR;
    ss_table_cell *c = calloc((size_t)nrows * (size_t)s->n_datasets, sizeof *c);
    if (!c)
        return ss_seterr("out of memory for %d table cells", nrows * s->n_datasets);
    int n = 0;
    for (int r = 0; r < nrows; r++)
        for (int d = 0; d < s->n_datasets; d++) {
            ss_table_cell *x = &c[n++];
            const ss_ts_method *m = &s->methods[midx[r]];
            const ss_ts_dataset *ds = &s->datasets[d];
            x->row = r;
            x->col = d;
            x->method = m;
            x->dataset = ds;
            x->pct = pct[r];
            x->synthetic = synthetic;
            if (synthetic) {
                if (!f->synth[d][0]) {
                    free(c);
                    return ss_seterr("%s: [profile %s] has no synthetic.%s (the twin that stands "
                                     "for %s)", s->path, f->name, ds->key, ds->label);
                }
                snprintf(x->train_dataset, sizeof x->train_dataset, "%s", f->synth[d]);
                x->labeled = count_for(&f->synth_labeled[d], pct[r]);
            } else {
                snprintf(x->train_dataset, sizeof x->train_dataset, "%s", ds->name);
                x->labeled = count_for(f->real_labeled[d].n ? &f->real_labeled[d] : &ds->labeled,
                                       pct[r]);
            }
            snprintf(x->checkpoint, sizeof x->checkpoint, "%s", m->checkpoint);
            x->seeds = f->seeds.n ? f->seeds : m->seeds.n ? m->seeds : s->seeds;
            if (append_sets(&x->sets, &m->sets) || append_sets(&x->sets, &f->sets)) {
                free(c);
                return SS_ERR;
            }
            for (int k = 0; k < s->n_cellx; k++) {
                const ss_ts_cellx *e = &s->cellx[k];
                if (strcmp(e->method, m->name) || strcmp(e->dataset, ds->key) || e->pct != pct[r])
                    continue;
                if (e->seeds.n)
                    x->seeds = e->seeds;
                if (e->checkpoint[0])
                    snprintf(x->checkpoint, sizeof x->checkpoint, "%s", e->checkpoint);
                if (e->labeled && !synthetic)
                    x->labeled = e->labeled;
                if (append_sets(&x->sets, &e->sets)) {
                    free(c);
                    return SS_ERR;
                }
            }
        }
    *cells = c;
    *n_cells = n;
    return SS_OK;
}

void ss_table_run_dir(const ss_table_cell *c, const char *runs, long seed, char *out, size_t n)
{
    snprintf(out, n, "%s/%s/%s/%d/seed%ld", runs, c->train_dataset, c->method->name, c->labeled,
             seed);
}
