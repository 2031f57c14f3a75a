/* Markdown / LaTeX / CSV table writers (see render.h). */
#include "reports/render.h"

#include "harness/fileio.h"
#include "kernels/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sb {
    char *s;
    size_t len, cap;
    int oom;
} sb;

static void sb_printf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && (size_t)w < b->cap - b->len) {
            b->len += (size_t)w;
            return;
        }
        size_t nc = (b->cap + (size_t)w + 1) * 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
}

void ss_latex_escape(const char *s, char *out, size_t n)
{
    size_t o = 0;
    if (!n)
        return;
    for (; *s; s++) {
        const char *rep = NULL;
        char one[2] = {*s, 0};
        /* the UTF-8 signs the writers use */
        if (!strncmp(s, "\xc2\xb1", 2) || !strncmp(s, "\xe2\x88\x92", 3) ||
            !strncmp(s, "\xe2\x80\x93", 3)) {
            rep = s[0] == '\xc2' ? "$\\pm$" : s[1] == '\x88' ? "$-$" : "--";
            s += s[0] == '\xc2' ? 1 : 2;
        } else
        switch (*s) {
        case '\\': rep = "\\textbackslash{}"; break;
        case '~': rep = "\\textasciitilde{}"; break;
        case '^': rep = "\\textasciicircum{}"; break;
        case '%': rep = "\\%"; break;
        case '&': rep = "\\&"; break;
        case '#': rep = "\\#"; break;
        case '$': rep = "\\$"; break;
        case '_': rep = "\\_"; break;
        case '{': rep = "\\{"; break;
        case '}': rep = "\\}"; break;
        default: rep = one;
        }
        size_t l = strlen(rep);
        if (o + l + 1 > n)
            break;
        memcpy(out + o, rep, l);
        o += l;
    }
    out[o] = '\0';
}

/* ---- layout --------------------------------------------------------------- */
typedef struct layout {
    int nrows, ncols;
    int row_of[SS_TS_MAX_METHODS * SS_TS_MAX_RATIOS], col_of[SS_TS_MAX_DATASETS];
    int *cell; /* nrows x ncols -> plan index or -1 */
    int notes_first[SS_TS_MAX_METHODS]; /* footnote number of a method's first note (0: none) */
} layout;

static int make_layout(const ss_plan *p, layout *L)
{
    memset(L, 0, sizeof *L);
    for (int i = 0; i < p->n; i++) {
        int r = p->cells[i].c.row, c = p->cells[i].c.col, seen = 0;
        for (int k = 0; k < L->nrows; k++)
            seen |= L->row_of[k] == r;
        if (!seen)
            L->row_of[L->nrows++] = r;
        seen = 0;
        for (int k = 0; k < L->ncols; k++)
            seen |= L->col_of[k] == c;
        if (!seen)
            L->col_of[L->ncols++] = c;
    }
    L->cell = malloc((size_t)(L->nrows * L->ncols + 1) * sizeof(int));
    if (!L->cell)
        return ss_seterr("out of memory for the table layout");
    for (int k = 0; k < L->nrows * L->ncols; k++)
        L->cell[k] = -1;
    for (int i = 0; i < p->n; i++) {
        int ri = 0, ci = 0;
        while (L->row_of[ri] != p->cells[i].c.row)
            ri++;
        while (L->col_of[ci] != p->cells[i].c.col)
            ci++;
        L->cell[ri * L->ncols + ci] = i;
    }
    return SS_OK;
}

/* The plan cell of any column of layout row ri. */
static const ss_plan_cell *row_cell(const ss_plan *p, const layout *L, int ri)
{
    for (int c = 0; c < L->ncols; c++)
        if (L->cell[ri * L->ncols + c] >= 0)
            return &p->cells[L->cell[ri * L->ncols + c]];
    return NULL;
}

static const char *metric_title(const char *m)
{
    return !strcmp(m, "dice") ? "Dice (%)" : !strcmp(m, "jaccard") ? "Jaccard (%)"
                                         : !strcmp(m, "hd95")      ? "95HD (vox)"
                                                                   : "ASD (vox)";
}

static const char *status_text(ss_cell_status s)
{
    switch (s) {
    case SS_CELL_NOT_IMPLEMENTED: return "not implemented";
    case SS_CELL_NO_DATA: return "no data";
    case SS_CELL_NO_RUN: return "no run";
    default: return "";
    }
}

/* "ours / paper / diff" of metric m; tex selects math formatting. */
static void value_text(const ss_cell_result *r, int m, int tex, char *out, size_t n)
{
    char ours[96], paper[32], diff[32];
    const char *pm = tex ? "$\\pm$" : " ± ";
    if (r->status == SS_CELL_DONE || r->status == SS_CELL_PARTIAL) {
        if (r->n_done >= 2)
            snprintf(ours, sizeof ours, "%.2f%s%.2f", r->mean[m], pm, r->std[m]);
        else
            snprintf(ours, sizeof ours, "%.2f", r->mean[m]);
        if (r->status == SS_CELL_PARTIAL) {
            size_t l = strlen(ours);
            snprintf(ours + l, sizeof ours - l, " (%d/%d seeds)", r->n_done, r->n_seeds);
        }
    } else {
        snprintf(ours, sizeof ours, "%s", status_text(r->status));
    }
    if (r->have_paper && !isnan(r->paper[m]))
        snprintf(paper, sizeof paper, "%.2f", r->paper[m]);
    else
        snprintf(paper, sizeof paper, "–");
    if (r->have_paper && !isnan(r->paper[m]) &&
        (r->status == SS_CELL_DONE || r->status == SS_CELL_PARTIAL)) {
        double d = r->mean[m] - r->paper[m];
        if (tex)
            snprintf(diff, sizeof diff, "$%+.2f$", d);
        else
            snprintf(diff, sizeof diff, "%+.2f", d);
    } else {
        snprintf(diff, sizeof diff, "–");
    }
    if (tex && !strcmp(paper, "–"))
        snprintf(paper, sizeof paper, "--");
    if (tex && !strcmp(diff, "–"))
        snprintf(diff, sizeof diff, "--");
    snprintf(out, n, "%s / %s / %s", ours, paper, diff);
}

/* ---- footnotes ---------------------------------------------------------------- */
typedef struct notes {
    int n;
    char v[96][768];
} notes;

static void note_add(notes *N, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_add(notes *N, const char *fmt, ...)
{
    if (N->n == 96)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(N->v[N->n], sizeof N->v[0], fmt, ap);
    va_end(ap);
    for (int i = 0; i < N->n; i++)
        if (!strcmp(N->v[i], N->v[N->n]))
            return; /* once */
    N->n++;
}

static void sets_line(const ss_ts_sets *s, char *line, size_t n)
{
    line[0] = '\0';
    for (int k = 0; k < s->n; k++) {
        size_t l = strlen(line);
        snprintf(line + l, n - l, "%s%s", k ? ", " : "", s->v[k]);
    }
}

static void collect_notes(const ss_plan *p, const layout *L, notes *N, int *method_note)
{
    const ss_table_spec *s = p->spec;
    N->n = 0;
    for (int i = 0; i < s->notes.n; i++)
        note_add(N, "%s", s->notes.v[i]);
    for (int i = 0; i < p->profile->notes.n; i++)
        note_add(N, "%s", p->profile->notes.v[i]);
    for (int m = 0; m < s->n_methods; m++) {
        method_note[m] = 0;
        int used = 0;
        for (int ri = 0; ri < L->nrows; ri++) {
            const ss_plan_cell *c = row_cell(p, L, ri);
            used |= c && c->c.method == &s->methods[m];
        }
        if (!used)
            continue;
        for (int i = 0; i < s->methods[m].notes.n; i++) {
            if (!method_note[m])
                method_note[m] = N->n + 1;
            note_add(N, "%s", s->methods[m].notes.v[i]);
        }
    }
    note_add(N, "Profile %s (`semiseg train --profile %s`) on %s data; runs under %s.",
             p->profile->name, p->profile->train_profile, p->data_kind, p->runs);
    /* seeds and checkpoints */
    char best[512] = "", last[512] = "", seeds[256] = "";
    for (int m = 0; m < s->n_methods; m++) {
        int used = 0;
        for (int i = 0; i < p->n; i++)
            used |= p->cells[i].c.method == &s->methods[m];
        if (!used)
            continue;
        char *dst = !strcmp(s->methods[m].checkpoint, "best") ? best : last;
        size_t l = strlen(dst);
        snprintf(dst + l, 512 - l, "%s%s", l ? ", " : "", s->methods[m].label);
    }
    if (p->n > 0) {
        const ss_ts_seeds *sd = &p->cells[0].c.seeds;
        for (int k = 0; k < sd->n; k++) {
            size_t l = strlen(seeds);
            snprintf(seeds + l, sizeof seeds - l, "%s%ld", k ? ", " : "", sd->v[k]);
        }
    }
    note_add(N, "Ours = mean over the finished seeds (%s) ± population standard deviation (shown "
                "when two or more seeds finished); difference = ours − paper.", seeds);
    if (best[0])
        note_add(N, "Checkpoint with the best selection Dice during training: %s.", best);
    if (last[0])
        note_add(N, "Checkpoint after the last iteration: %s.", last);
    /* labeled counts per dataset */
    for (int ci = 0; ci < L->ncols; ci++) {
        char line[512] = "";
        const ss_plan_cell *any = NULL;
        for (int ri = 0; ri < L->nrows; ri++) {
            int i = L->cell[ri * L->ncols + ci];
            if (i < 0)
                continue;
            const ss_plan_cell *c = &p->cells[i];
            any = c;
            char item[64];
            snprintf(item, sizeof item, "%d %% = %d", c->c.pct, c->c.labeled);
            if (!strstr(line, item)) {
                size_t l = strlen(line);
                snprintf(line + l, sizeof line - l, "%s%s", l ? ", " : "", item);
            }
        }
        if (any)
            note_add(N, "%s as %s: labeled %s: %s.", any->c.dataset->label, any->c.train_dataset,
                     any->c.dataset->unit[0] ? any->c.dataset->unit : "cases", line);
    }
    for (int i = 0; i < p->n; i++) {
        const ss_plan_cell *c = &p->cells[i];
        if (c->c.sets.n) {
            char line[700], other[700];
            sets_line(&c->c.sets, line, sizeof line);
            int same = 1; /* every cell of the method has the same overrides */
            for (int j = 0; j < p->n; j++)
                if (p->cells[j].c.method == c->c.method) {
                    sets_line(&p->cells[j].c.sets, other, sizeof other);
                    same &= !strcmp(line, other);
                }
            if (same)
                note_add(N, "%s: --set %s (every cell).", c->c.method->label, line);
            else
                note_add(N, "%s, %s, %d %%: --set %s.", c->c.method->label, c->c.dataset->label,
                         c->c.pct, line);
        }
        if (!c->have_data && c->data_msg[0])
            note_add(N, "%s: %s", c->c.dataset->label, c->data_msg);
        if (!c->implemented)
            note_add(N, "%s: no plugin '%s' is registered in this build (not implemented).",
                     c->c.method->label, c->c.method->name);
    }
}

/* ---- writers ------------------------------------------------------------------- */
static void row_label(const ss_plan *p, const ss_plan_cell *c, const int *method_note, int tex,
                      char *out, size_t n)
{
    int m = (int)(c->c.method - p->spec->methods);
    char lab[128];
    if (tex)
        ss_latex_escape(c->c.method->label, lab, sizeof lab);
    else
        snprintf(lab, sizeof lab, "%s", c->c.method->label);
    if (method_note[m])
        snprintf(out, n, tex ? "%s$^{%d}$" : "%s [%d]", lab, method_note[m]);
    else
        snprintf(out, n, "%s", lab);
}

/* The notes of the table (NULL with b->oom set when out of memory). */
static notes *new_notes(const ss_plan *p, const layout *L, int *method_note, sb *b)
{
    notes *N = calloc(1, sizeof *N);
    if (!N)
        b->oom = 1;
    else
        collect_notes(p, L, N, method_note);
    return N;
}

/* The value cells of table row RI: " v |" each in Markdown, " & v" in LaTeX. */
static void row_values(const ss_plan *p, const ss_cell_result *r, const layout *L, int ri, int tex,
                       sb *b)
{
    for (int ci = 0; ci < L->ncols; ci++) {
        int i = L->cell[ri * L->ncols + ci];
        for (int m = 0; m < p->spec->n_metrics; m++) {
            char v[256] = "";
            if (i >= 0)
                value_text(&r[i], m, tex, v, sizeof v);
            sb_printf(b, tex ? " & %s" : " %s |", v);
        }
    }
}

static void write_md(const ss_plan *p, const ss_cell_result *r, const layout *L, sb *b)
{
    const ss_table_spec *s = p->spec;
    int mn[SS_TS_MAX_METHODS];
    notes *N = new_notes(p, L, mn, b);
    if (!N)
        return;
    sb_printf(b, "### %s\n\nProfile `%s`, %s data. Each cell: ours / paper / difference.\n\n",
              s->title[0] ? s->title : s->name, p->profile->name, p->data_kind);
    sb_printf(b, "| Method | Labeled |");
    for (int ci = 0; ci < L->ncols; ci++)
        for (int m = 0; m < s->n_metrics; m++)
            sb_printf(b, " %s %s |", s->datasets[L->col_of[ci]].label, metric_title(s->metrics[m]));
    sb_printf(b, "\n|---|---|");
    for (int k = 0; k < L->ncols * s->n_metrics; k++)
        sb_printf(b, "---|");
    sb_printf(b, "\n");
    for (int ri = 0; ri < L->nrows; ri++) {
        const ss_plan_cell *c0 = row_cell(p, L, ri);
        char lab[160];
        row_label(p, c0, mn, 0, lab, sizeof lab);
        sb_printf(b, "| %s | %d %% |", lab, c0->c.pct);
        row_values(p, r, L, ri, 0, b);
        sb_printf(b, "\n");
    }
    sb_printf(b, "\n");
    for (int k = 0; k < N->n; k++)
        sb_printf(b, "%d. %s\n", k + 1, N->v[k]);
    free(N);
}

static void write_tex(const ss_plan *p, const ss_cell_result *r, const layout *L, sb *b)
{
    const ss_table_spec *s = p->spec;
    int mn[SS_TS_MAX_METHODS];
    notes *N = new_notes(p, L, mn, b);
    if (!N)
        return;
    char esc[2048];
    sb_printf(b, "%% %s: generated by `semiseg table %s`; needs \\usepackage{booktabs}\n", s->name,
              s->path);
    sb_printf(b, "\\begin{table}[t]\n\\centering\n\\scriptsize\n");
    ss_latex_escape(s->title[0] ? s->title : s->name, esc, sizeof esc);
    sb_printf(b, "\\caption{%s. Each cell: ours / paper / difference. Profile ", esc);
    ss_latex_escape(p->profile->name, esc, sizeof esc);
    sb_printf(b, "\\texttt{%s}, %s data.}\n", esc, p->data_kind);
    sb_printf(b, "\\begin{tabular}{ll");
    for (int k = 0; k < L->ncols * s->n_metrics; k++)
        sb_printf(b, "c");
    sb_printf(b, "}\n\\toprule\n & ");
    for (int ci = 0; ci < L->ncols; ci++) {
        ss_latex_escape(s->datasets[L->col_of[ci]].label, esc, sizeof esc);
        sb_printf(b, " & \\multicolumn{%d}{c}{%s}", s->n_metrics, esc);
    }
    sb_printf(b, " \\\\\n");
    for (int ci = 0; ci < L->ncols; ci++)
        sb_printf(b, "\\cmidrule(lr){%d-%d}", 3 + ci * s->n_metrics, 2 + (ci + 1) * s->n_metrics);
    sb_printf(b, "\nMethod & Labeled");
    for (int ci = 0; ci < L->ncols; ci++)
        for (int m = 0; m < s->n_metrics; m++) {
            ss_latex_escape(metric_title(s->metrics[m]), esc, sizeof esc);
            sb_printf(b, " & %s", esc);
        }
    sb_printf(b, " \\\\\n\\midrule\n");
    int prev_pct = -1;
    for (int ri = 0; ri < L->nrows; ri++) {
        const ss_plan_cell *c0 = row_cell(p, L, ri);
        if (prev_pct >= 0 && c0->c.pct != prev_pct)
            sb_printf(b, "\\midrule\n");
        prev_pct = c0->c.pct;
        char lab[256];
        row_label(p, c0, mn, 1, lab, sizeof lab);
        sb_printf(b, "%s & %d\\,\\%%", lab, c0->c.pct);
        row_values(p, r, L, ri, 1, b);
        sb_printf(b, " \\\\\n");
    }
    sb_printf(b, "\\bottomrule\n\\end{tabular}\n\\par\\smallskip\n\\begin{minipage}{\\linewidth}"
                 "\\tiny\n");
    for (int k = 0; k < N->n; k++) {
        ss_latex_escape(N->v[k], esc, sizeof esc);
        sb_printf(b, "$^{%d}$ %s\\\\\n", k + 1, esc);
    }
    sb_printf(b, "\\end{minipage}\n\\end{table}\n");
    free(N);
}

static void csv_field(sb *b, const char *s)
{
    if (strpbrk(s, ",\"\n")) {
        sb_printf(b, "\"");
        for (; *s; s++)
            sb_printf(b, *s == '"' ? "\"\"" : "%c", *s);
        sb_printf(b, "\"");
    } else {
        sb_printf(b, "%s", s);
    }
}

static void csv_num(sb *b, double v, int ok)
{
    if (ok && !isnan(v))
        sb_printf(b, ",%.4f", v);
    else
        sb_printf(b, ",");
}

static const char *status_name(ss_cell_status s)
{
    switch (s) {
    case SS_CELL_NOT_IMPLEMENTED: return "not_implemented";
    case SS_CELL_NO_DATA: return "no_data";
    case SS_CELL_NO_RUN: return "no_run";
    case SS_CELL_PARTIAL: return "partial";
    default: return "done";
    }
}

static void write_csv(const ss_plan *p, const ss_cell_result *r, sb *b)
{
    const ss_table_spec *s = p->spec;
    sb_printf(b, "method,label,labeled_pct,dataset,train_dataset,labeled,checkpoint,metric,status,"
                 "n_done,n_seeds,ours_mean,ours_std,paper,diff,profile,data\n");
    for (int i = 0; i < p->n; i++) {
        const ss_plan_cell *c = &p->cells[i];
        const ss_cell_result *x = &r[i];
        int filled = x->status == SS_CELL_DONE || x->status == SS_CELL_PARTIAL;
        for (int m = 0; m < s->n_metrics; m++) {
            csv_field(b, c->c.method->name);
            sb_printf(b, ",");
            csv_field(b, c->c.method->label);
            sb_printf(b, ",%d,%s,%s,%d,%s,%s,%s,%d,%d", c->c.pct, c->c.dataset->key,
                      c->c.train_dataset, c->c.labeled, c->c.checkpoint, s->metrics[m],
                      status_name(x->status), filled ? x->n_done : 0, x->n_seeds);
            csv_num(b, x->mean[m], filled);
            csv_num(b, x->std[m], filled && x->n_done >= 2);
            csv_num(b, x->paper[m], x->have_paper);
            csv_num(b, x->mean[m] - x->paper[m], filled && x->have_paper);
            sb_printf(b, ",%s,%s\n", p->profile->name, p->data_kind);
        }
    }
}

int ss_render(const ss_plan *p, const ss_cell_result *r, ss_render_format f, char **text)
{
    *text = NULL;
    layout L;
    if (make_layout(p, &L))
        return SS_ERR;
    sb b = {0};
    if (f == SS_RENDER_MD)
        write_md(p, r, &L, &b);
    else if (f == SS_RENDER_TEX)
        write_tex(p, r, &L, &b);
    else
        write_csv(p, r, &b);
    free(L.cell);
    if (b.oom || !b.s) {
        free(b.s);
        return ss_seterr("out of memory rendering the table");
    }
    *text = b.s;
    return SS_OK;
}

int ss_render_write_all(const ss_plan *p, const ss_cell_result *r, const char *dir)
{
    static const char *ext[] = {"md", "tex", "csv"};
    for (int f = 0; f < 3; f++) {
        char *text, path[SS_PLAN_PATH + 80];
        if (ss_render(p, r, (ss_render_format)f, &text))
            return SS_ERR;
        snprintf(path, sizeof path, "%s/%s.%s", dir, p->spec->name, ext[f]);
        int rc = ss_write_text_atomic(path, text);
        free(text);
        if (rc)
            return SS_ERR;
    }
    return SS_OK;
}
