/* Training-curve and ratio data files (see plotdata.h). */
#include "reports/plotdata.h"

#include "kernels/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMS 16

typedef struct row {
    long iter;
    double v[MAX_TERMS];
} row;

typedef struct rows {
    int n, cap;
    row *r;
} rows;

/* Appends, first dropping rows of iterations >= iter (a resumed run replays them). */
static int push(rows *R, long iter, const double *v, int nv)
{
    while (R->n > 0 && R->r[R->n - 1].iter >= iter)
        R->n--;
    if (R->n == R->cap) {
        int nc = R->cap ? R->cap * 2 : 256;
        row *nr = realloc(R->r, (size_t)nc * sizeof *nr);
        if (!nr)
            return ss_seterr("out of memory reading train.log");
        R->r = nr;
        R->cap = nc;
    }
    R->r[R->n].iter = iter;
    for (int i = 0; i < MAX_TERMS; i++)
        R->r[R->n].v[i] = i < nv ? v[i] : NAN;
    R->n++;
    return SS_OK;
}

/* Value of " key=" in LINE (NULL when absent). */
static const char *field(const char *line, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = line; (p = strstr(p, key)); p++)
        if ((p == line || p[-1] == ' ') && p[k] == '=')
            return p + k + 1;
    return NULL;
}

int ss_curves_data(const char *log_text, const char *origin, char **out, int *n_eval)
{
    *out = NULL;
    *n_eval = 0;
    char names[MAX_TERMS][24];
    int nterms = -1;
    char split[16] = "val";
    rows it = {0}, ev = {0};
    int rc = SS_OK;
    const char *t = log_text;
    while (*t && rc == SS_OK) {
        const char *e = strchr(t, '\n');
        size_t len = e ? (size_t)(e - t) : strlen(t);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), t);
        t += len + (e ? 1 : 0);
        if (!strncmp(line, "iter=", 5)) {
            /* iter=N lr=.. ramp=.. sec_per_iter=.. name=value ... */
            long iter = strtol(line + 5, NULL, 10);
            const char *p = strstr(line, "sec_per_iter=");
            if (!p)
                continue;
            p = strchr(p, ' ');
            double v[MAX_TERMS];
            for (int i = 0; i < MAX_TERMS; i++)
                v[i] = NAN;
            while (p && *p == ' ') {
                p++;
                const char *eq = strchr(p, '=');
                if (!eq)
                    break;
                char name[24];
                snprintf(name, sizeof name, "%.*s", (int)(eq - p < 23 ? eq - p : 23), p);
                if (nterms < 0)
                    nterms = 0;
                int k = 0;
                while (k < nterms && strcmp(names[k], name))
                    k++;
                if (k == nterms) {
                    if (nterms == MAX_TERMS) {
                        rc = ss_seterr("%s: more than %d loss terms", origin, MAX_TERMS);
                        break;
                    }
                    snprintf(names[nterms++], sizeof names[0], "%s", name);
                }
                v[k] = strtod(eq + 1, NULL);
                p = strchr(eq, ' ');
            }
            if (rc)
                break;
            rc = push(&it, iter, v, MAX_TERMS);
        } else if (!strncmp(line, "eval ", 5) && !field(line, "tag") && field(line, "mean_dice")) {
            const char *is = field(line, "iter"), *sp = field(line, "split");
            if (!is)
                continue;
            if (sp)
                snprintf(split, sizeof split, "%.*s", (int)strcspn(sp, " "), sp);
            double v = strtod(field(line, "mean_dice"), NULL);
            rc = push(&ev, strtol(is, NULL, 10), &v, 1);
        }
    }
    if (nterms < 0)
        nterms = 0;
    if (rc == SS_OK && it.n == 0)
        rc = ss_seterr("%s: no iteration lines (iter=...) found; is it a semiseg train.log?", origin);
    if (rc) {
        free(it.r);
        free(ev.r);
        return rc;
    }
    size_t cap = 256 + (size_t)(it.n + ev.n) * (size_t)(24 + 16 * (nterms + 1));
    char *o = malloc(cap);
    if (!o) {
        free(it.r);
        free(ev.r);
        return ss_seterr("out of memory writing curve data");
    }
    size_t n = 0;
    n += (size_t)snprintf(o + n, cap - n, "iter");
    for (int i = 0; i < nterms; i++)
        n += (size_t)snprintf(o + n, cap - n, " %s", names[i]);
    n += (size_t)snprintf(o + n, cap - n, "\n");
    for (int r = 0; r < it.n; r++) {
        n += (size_t)snprintf(o + n, cap - n, "%ld", it.r[r].iter);
        for (int i = 0; i < nterms; i++)
            n += (size_t)(isnan(it.r[r].v[i]) ? snprintf(o + n, cap - n, " NaN")
                                              : snprintf(o + n, cap - n, " %.6g", it.r[r].v[i]));
        n += (size_t)snprintf(o + n, cap - n, "\n");
    }
    n += (size_t)snprintf(o + n, cap - n, "\n\niter %s_dice\n", split);
    for (int r = 0; r < ev.n; r++)
        n += (size_t)snprintf(o + n, cap - n, "%ld %.6f\n", ev.r[r].iter, ev.r[r].v[0]);
    *n_eval = ev.n;
    free(it.r);
    free(ev.r);
    *out = o;
    return SS_OK;
}

static void num(char *out, double v)
{
    if (isnan(v))
        snprintf(out, 32, "NaN");
    else
        snprintf(out, 32, "%.4f", v);
}

int ss_ratio_data(const ss_plan *p, const ss_cell_result *r, int col, int m, char **out,
                  int *n_points)
{
    *out = NULL;
    *n_points = 0;
    const ss_table_spec *s = p->spec;
    size_t cap = 1024 + (size_t)p->n * 128, n = 0;
    char *o = malloc(cap);
    if (!o)
        return ss_seterr("out of memory writing ratio data");
    o[0] = '\0';
    int blocks = 0;
    for (int mi = 0; mi < s->n_methods; mi++) {
        int idx[SS_TS_MAX_RATIOS], k = 0;
        for (int i = 0; i < p->n && k < SS_TS_MAX_RATIOS; i++)
            if (p->cells[i].c.col == col && p->cells[i].c.method == &s->methods[mi])
                idx[k++] = i;
        int any = 0; /* methods without a finished cell stay out of the plot */
        for (int a = 0; a < k; a++)
            any |= r[idx[a]].status == SS_CELL_DONE || r[idx[a]].status == SS_CELL_PARTIAL;
        if (!any)
            continue;
        /* sort by pct */
        for (int a = 1; a < k; a++)
            for (int b = a; b > 0 && p->cells[idx[b]].c.pct < p->cells[idx[b - 1]].c.pct; b--) {
                int tmp = idx[b];
                idx[b] = idx[b - 1];
                idx[b - 1] = tmp;
            }
        n += (size_t)snprintf(o + n, cap - n, "%spct \"%s\" std paper\n", blocks ? "\n\n" : "",
                              s->methods[mi].label);
        blocks++;
        for (int a = 0; a < k; a++) {
            const ss_cell_result *x = &r[idx[a]];
            int filled = x->status == SS_CELL_DONE || x->status == SS_CELL_PARTIAL;
            double mean = filled ? x->mean[m] : NAN, sd = filled && x->n_done > 1 ? x->std[m] : 0;
            double paper = x->have_paper ? x->paper[m] : NAN;
            char a1[32], a2[32], a3[32];
            num(a1, mean);
            num(a2, filled ? sd : NAN);
            num(a3, paper);
            n += (size_t)snprintf(o + n, cap - n, "%d %s %s %s\n", p->cells[idx[a]].c.pct, a1, a2,
                                  a3);
            *n_points += filled && !isnan(mean);
        }
    }
    if (!blocks) {
        free(o);
        return ss_seterr("no finished run in dataset column %s to plot",
                         s->datasets[col].key);
    }
    *out = o;
    return SS_OK;
}
