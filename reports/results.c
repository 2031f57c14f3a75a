/* Published numbers, run summaries and per-cell statistics (see results.h). */
#include "reports/results.h"

#include "kernels/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(const char *path, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ss_seterr("cannot open %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (n + 1 < cap)
            break;
        char *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!b || err) {
        free(b);
        ss_seterr("cannot read %s %s", what, path);
        return NULL;
    }
    b[n] = '\0';
    return b;
}

/* Splits a CSV line (no quoting) in place. */
static int split_csv(char *line, char **f, int max)
{
    int n = 0;
    for (char *p = line;;) {
        if (n == max)
            return -1;
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

int ss_paper_load(const char *path, const char (*metrics)[16], int n_metrics, ss_paper *out)
{
    memset(out, 0, sizeof *out);
    char *text = read_all(path, "published-numbers CSV");
    if (!text)
        return SS_ERR;
    int col_m = -1, col_p = -1, col_d = -1, col_v[SS_TS_MAX_METRICS], ncols = 0, lineno = 0;
    for (int k = 0; k < n_metrics; k++)
        col_v[k] = -1;
    int cap = 0, rc = SS_OK;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        line[strcspn(line, "\r")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        char *f[64];
        int nf = split_csv(line, f, 64);
        if (nf < 0) {
            rc = ss_seterr("%s: a line has more than 64 fields", path);
            break;
        }
        if (col_m < 0) { /* header */
            ncols = nf;
            for (int i = 0; i < nf; i++) {
                if (!strcmp(f[i], "method"))
                    col_m = i;
                else if (!strcmp(f[i], "labeled_pct"))
                    col_p = i;
                else if (!strcmp(f[i], "dataset"))
                    col_d = i;
                for (int k = 0; k < n_metrics; k++)
                    if (!strcmp(f[i], metrics[k]))
                        col_v[k] = i;
            }
            if (col_m < 0 || col_p < 0 || col_d < 0) {
                rc = ss_seterr("%s: the header needs columns method, labeled_pct and dataset",
                               path);
                break;
            }
            continue;
        }
        if (nf != ncols) {
            rc = ss_seterr("%s: a data row has %d fields, the header %d", path, nf, ncols);
            break;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            ss_paper_row *nr = realloc(out->rows, (size_t)cap * sizeof *nr);
            if (!nr) {
                rc = ss_seterr("%s: out of memory", path);
                break;
            }
            out->rows = nr;
        }
        ss_paper_row *r = &out->rows[out->n];
        memset(r, 0, sizeof *r);
        snprintf(r->method, sizeof r->method, "%s", f[col_m]);
        snprintf(r->dataset, sizeof r->dataset, "%s", f[col_d]);
        char *e;
        long pct = strtol(f[col_p], &e, 10);
        if (e == f[col_p] || *e) {
            rc = ss_seterr("%s: labeled_pct '%s' is not an integer", path, f[col_p]);
            break;
        }
        r->pct = (int)pct;
        for (int k = 0; k < n_metrics; k++) {
            r->v[k] = NAN;
            if (col_v[k] >= 0 && f[col_v[k]][0]) {
                double v = strtod(f[col_v[k]], &e);
                if (e == f[col_v[k]] || *e) {
                    rc = ss_seterr("%s: %s value '%s' is not a number", path, metrics[k],
                                   f[col_v[k]]);
                    break;
                }
                r->v[k] = v;
            }
        }
        if (rc)
            break;
        out->n++;
    }
    free(text);
    if (rc == SS_OK && col_m < 0)
        rc = ss_seterr("%s: no header line", path);
    if (rc)
        ss_paper_free(out);
    return rc;
}

void ss_paper_free(ss_paper *p)
{
    free(p->rows);
    memset(p, 0, sizeof *p);
}

int ss_paper_find(const ss_paper *p, const char *method, int pct, const char *dataset,
                  int n_metrics, double *values)
{
    for (int i = 0; p && i < p->n; i++)
        if (!strcmp(p->rows[i].method, method) && p->rows[i].pct == pct &&
            !strcmp(p->rows[i].dataset, dataset)) {
            memcpy(values, p->rows[i].v, (size_t)n_metrics * sizeof *values);
            return 1;
        }
    return 0;
}

int ss_summary_read(const char *path, const char (*metrics)[16], int n_metrics, double *values)
{
    char *text = read_all(path, "run summary");
    if (!text)
        return SS_ERR;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root)
        return ss_seterr("%s: not valid JSON", path);
    cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "classes");
    int nc = cJSON_IsArray(cls) ? cJSON_GetArraySize(cls) : 0;
    if (nc < 1) {
        cJSON_Delete(root);
        return ss_seterr("%s: no 'classes' array (expected the summary.json of semiseg eval)",
                         path);
    }
    for (int k = 0; k < n_metrics; k++) {
        double sum = 0;
        for (int c = 0; c < nc; c++) {
            cJSON *mean = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cls, c), "mean");
            cJSON *v = cJSON_GetObjectItemCaseSensitive(mean, metrics[k]);
            if (!cJSON_IsObject(mean) || !v || (!cJSON_IsNumber(v) && !cJSON_IsNull(v))) {
                cJSON_Delete(root);
                return ss_seterr("%s: classes[%d].mean has no '%s'", path, c, metrics[k]);
            }
            sum += cJSON_IsNull(v) ? NAN : v->valuedouble;
        }
        double m = sum / nc;
        if (!strcmp(metrics[k], "dice") || !strcmp(metrics[k], "jaccard"))
            m *= 100.0;
        values[k] = m;
    }
    cJSON_Delete(root);
    return SS_OK;
}

int ss_collect(const ss_plan *plan, const ss_paper *paper, ss_cell_result *results)
{
    const ss_table_spec *s = plan->spec;
    for (int i = 0; i < plan->n; i++) {
        const ss_plan_cell *c = &plan->cells[i];
        ss_cell_result *r = &results[i];
        memset(r, 0, sizeof *r);
        r->n_seeds = c->c.seeds.n;
        r->have_paper = ss_paper_find(paper, c->c.method->name, c->c.pct, c->c.dataset->key,
                                      s->n_metrics, r->paper);
        double sum[SS_TS_MAX_METRICS] = {0}, v[SS_TS_MAX_SEEDS][SS_TS_MAX_METRICS];
        for (int k = 0; k < c->c.seeds.n; k++) {
            if (c->state[k] != SS_RUN_DONE)
                continue;
            char p[SS_PLAN_PATH + 64];
            snprintf(p, sizeof p, "%s/%s/summary.json", c->run_dir[k], c->c.checkpoint);
            if (ss_summary_read(p, s->metrics, s->n_metrics, v[r->n_done]))
                return SS_ERR;
            for (int m = 0; m < s->n_metrics; m++)
                sum[m] += v[r->n_done][m];
            r->n_done++;
        }
        for (int m = 0; m < s->n_metrics; m++) {
            r->mean[m] = r->std[m] = NAN;
            if (!r->n_done)
                continue;
            r->mean[m] = sum[m] / r->n_done;
            double ss = 0;
            for (int k = 0; k < r->n_done; k++)
                ss += (v[k][m] - r->mean[m]) * (v[k][m] - r->mean[m]);
            r->std[m] = sqrt(ss / r->n_done);
        }
        if (!c->implemented)
            r->status = SS_CELL_NOT_IMPLEMENTED;
        else if (r->n_done == r->n_seeds)
            r->status = SS_CELL_DONE;
        else if (r->n_done > 0)
            r->status = SS_CELL_PARTIAL;
        else if (!c->have_data)
            r->status = SS_CELL_NO_DATA;
        else
            r->status = SS_CELL_NO_RUN;
        if (r->status == SS_CELL_NOT_IMPLEMENTED)
            r->n_done = 0; /* never filled */
    }
    return SS_OK;
}
