/* `semiseg data verify`: reads every listed case and summarises the root. */
#include "datasets/verify.h"
#include "datasets/ds_impl.h"
#include "kernels/error.h"

#include <stdlib.h>
#include <string.h>

static const char *split_name[SS_SPLIT_COUNT] = {"train", "val", "test"};
enum { MAX_FAIL_LINES = 40 }; /* keeps the report about one screen */

typedef struct stats {
    int ok, smaller, empty_fg;
    int lo[4], hi[4]; /* c, d, h, w */
    double vmin, vmax;
    size_t hist[256];
} stats;

typedef struct key {
    const char *id;
    size_t len;
    int split, row;
} key;

static int key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    size_t l = x->len < y->len ? x->len : y->len;
    int c = strncmp(x->id, y->id, l);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    if (x->split != y->split)
        return x->split - y->split;
    return x->row - y->row;
}

static void note(FILE *out, int *errors, char *first, size_t nfirst, const char *fmt,
                 const char *a, const char *b, const char *c)
{
    char line[512];
    snprintf(line, sizeof line, fmt, a, b, c);
    if (out)
        fprintf(out, "  LIST  %s\n", line);
    if (*errors == 0)
        snprintf(first, nfirst, "%s", line);
    (*errors)++;
}

/* Duplicate ids inside a split; ids (ACDC: patients) shared by two splits. */
static int list_checks(const ss_dataset *ds, FILE *out, char *first, size_t nfirst)
{
    int errors = 0, total = 0;
    for (int s = 0; s < SS_SPLIT_COUNT; s++)
        total += ds->n[s];
    key *k = malloc((size_t)(total ? total : 1) * sizeof *k);
    if (!k)
        return 0;
    /* exact duplicates within a split */
    for (int s = 0; s < SS_SPLIT_COUNT; s++) {
        int n = ds->n[s];
        for (int i = 0; i < n; i++)
            k[i] = (key){ds->ids[s][i], strlen(ds->ids[s][i]), s, i};
        qsort(k, (size_t)n, sizeof *k, key_cmp);
        for (int i = 1; i < n; i++)
            if (k[i].len == k[i - 1].len && !strcmp(k[i].id, k[i - 1].id))
                note(out, &errors, first, nfirst, "'%s' is listed twice in %s%s", k[i].id,
                     split_name[s], "");
    }
    /* overlap between splits */
    int m = 0;
    for (int s = 0; s < SS_SPLIT_COUNT; s++)
        for (int i = 0; i < ds->n[s]; i++) {
            const char *id = ds->ids[s][i];
            k[m++] = (key){id, ds->fmt == DS_ACDC ? ds_acdc_patient_len(id) : strlen(id), s, i};
        }
    qsort(k, (size_t)m, sizeof *k, key_cmp);
    for (int i = 1; i < m; i++)
        if (k[i].len == k[i - 1].len && !strncmp(k[i].id, k[i - 1].id, k[i].len) &&
            k[i].split != k[i - 1].split) {
            char what[160];
            snprintf(what, sizeof what, "%.*s", (int)(k[i].len < 150 ? k[i].len : 150), k[i].id);
            note(out, &errors, first, nfirst,
                 ds->fmt == DS_ACDC ? "patient '%s' is in both %s and %s"
                                    : "'%s' is in both %s and %s",
                 what, split_name[k[i - 1].split], split_name[k[i].split]);
        }
    free(k);
    return errors;
}

static void stats_add(stats *st, const ss_volume *v, const ss_dataset_info *info)
{
    int dims[4] = {v->c, v->d, v->h, v->w};
    for (int a = 0; a < 4; a++) {
        if (st->ok == 0 || dims[a] < st->lo[a])
            st->lo[a] = dims[a];
        if (st->ok == 0 || dims[a] > st->hi[a])
            st->hi[a] = dims[a];
    }
    size_t n = (size_t)v->d * v->h * v->w, nc = n * (size_t)v->c;
    for (size_t i = 0; i < nc; i++) {
        double x = v->image[i];
        if ((st->ok == 0 && i == 0) || x < st->vmin)
            st->vmin = x;
        if ((st->ok == 0 && i == 0) || x > st->vmax)
            st->vmax = x;
    }
    size_t fg = 0;
    for (size_t i = 0; i < n; i++) {
        st->hist[v->label[i]]++;
        fg += v->label[i] != 0;
    }
    if (fg == 0)
        st->empty_fg++;
    if (info->dims == 3 && (v->d < info->patch[0] || v->h < info->patch[1] || v->w < info->patch[2]))
        st->smaller++;
    st->ok++;
}

static void range(FILE *out, int lo, int hi)
{
    if (lo == hi)
        fprintf(out, "%d", lo);
    else
        fprintf(out, "%d..%d", lo, hi);
}

static void print_split(FILE *out, const char *name, int n, int failed, const stats *st,
                        int classes)
{
    fprintf(out, "  %-5s %4d cases, %4d ok", name, n, n - failed);
    if (failed)
        fprintf(out, ", %d FAILED", failed);
    fprintf(out, "\n");
    if (!st->ok)
        return;
    fprintf(out, "        shape C x D x H x W = ");
    for (int a = 0; a < 4; a++) {
        if (a)
            fprintf(out, " x ");
        range(out, st->lo[a], st->hi[a]);
    }
    fprintf(out, "   image [%.3g, %.3g]\n        labels", st->vmin, st->vmax);
    size_t tot = 0;
    for (int c = 0; c < 256; c++)
        tot += st->hist[c];
    for (int c = 0; c < classes; c++)
        fprintf(out, "  %d: %zu (%.2f%%)", c, st->hist[c], tot ? 100.0 * st->hist[c] / tot : 0.0);
    fprintf(out, "\n");
    if (st->empty_fg || st->smaller) {
        fprintf(out, "        note:");
        if (st->empty_fg)
            fprintf(out, " %d case(s) with background-only labels", st->empty_fg);
        if (st->smaller)
            fprintf(out, " %d case(s) smaller than the patch (zero-padded in use)", st->smaller);
        fprintf(out, "\n");
    }
}

int ss_dataset_verify(const char *name, const char *root, FILE *out, ss_verify_report *rep)
{
    ss_verify_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    ss_dataset *ds;
    if (ds_open(name, root, 1, &ds) != 0)
        return SS_ERR; /* message names the root and what is missing */
    const ss_dataset_info *info = ds->info;
    if (out) {
        fprintf(out, "%s at %s\n", info->name, root);
        fprintf(out, "  %d-D, %d channel(s), %d classes, patch %dx%dx%d (DxHxW), selection on %s\n",
                info->dims, info->in_channels, info->classes, info->patch[0], info->patch[1],
                info->patch[2], split_name[info->select_split]);
        fprintf(out, "  split sha256 %s\n", ds->sha);
    }
    char first[1100] = "";
    int nfail = 0;
    stats *st = calloc(SS_SPLIT_COUNT, sizeof *st);
    if (!st) {
        ss_dataset_close(ds);
        return ss_seterr("%s: out of memory", name);
    }
    for (int s = 0; s < SS_SPLIT_COUNT; s++) {
        rep->cases[s] = ds->n[s];
        for (int i = 0; i < ds->n[s]; i++) {
            ss_volume v;
            char msg[900] = "";
            if (ss_dataset_load(ds, (ss_split)s, i, &v) != 0)
                snprintf(msg, sizeof msg, "%s", semiseg_error());
            else if (v.c != info->in_channels)
                snprintf(msg, sizeof msg, "%s: %d image channels, expected %d", v.id, v.c,
                         info->in_channels);
            else if (!v.label)
                snprintf(msg, sizeof msg, "%s: no label map", v.id);
            else if (info->dims == 2 && ds->fmt == DS_ACDC && s == SS_SPLIT_TRAIN && v.d != 1)
                snprintf(msg, sizeof msg, "%s: depth %d, expected a 2-D slice", v.id, v.d);
            if (msg[0]) {
                rep->failed[s]++;
                if (out && nfail < MAX_FAIL_LINES)
                    fprintf(out, "  FAIL  %s row %d '%s': %s\n", split_name[s], i, ds->ids[s][i],
                            msg);
                else if (out && nfail == MAX_FAIL_LINES)
                    fprintf(out, "  FAIL  ... (further failing cases counted, not listed)\n");
                if (nfail++ == 0)
                    snprintf(first, sizeof first, "%s row %d: %s", split_name[s], i, msg);
            } else {
                stats_add(&st[s], &v, info);
            }
            ss_volume_free(&v);
        }
    }
    char lfirst[512] = "";
    rep->list_errors = list_checks(ds, out, lfirst, sizeof lfirst);
    if (!nfail && rep->list_errors)
        snprintf(first, sizeof first, "%s", lfirst);
    if (out) {
        for (int s = 0; s < SS_SPLIT_COUNT; s++) {
            if (!ds->list_path[s]) {
                fprintf(out, "  %-5s (no list)\n", split_name[s]);
                continue;
            }
            print_split(out, split_name[s], ds->n[s], rep->failed[s], &st[s], info->classes);
        }
    }
    int total = 0;
    for (int s = 0; s < SS_SPLIT_COUNT; s++)
        total += ds->n[s];
    free(st);
    ss_dataset_close(ds);
    if (nfail || rep->list_errors) {
        if (out)
            fprintf(out, "result: FAILED (%d of %d cases failed, %d list problem(s))\n", nfail,
                    total, rep->list_errors);
        return ss_seterr("%s at %s: %d of %d cases failed, %d list problem(s); first: %s", name,
                         root, nfail, total, rep->list_errors, first);
    }
    if (out)
        fprintf(out, "result: OK (%d cases)\n", total);
    return SS_OK;
}
