/* `semiseg table SPEC`: collects the runs of a table spec into Markdown,
 * LaTeX and CSV next to the published numbers, and prints the Markdown. */
#include "kernels/error.h"
#include "reports/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: semiseg table SPEC [--profile P] [--data real|synthetic] [--runs DIR]\n"
               "                    [--out DIR] [--data-root DIR] [--data-root-KEY DIR ...]\n"
               "                    [--methods A,B] [--datasets A,B] [--ratios 10,20]\n\n"
               "Reads each cell's runs (RUNS/<dataset>/<method>/<labeled>/seed<K>/<best|last>/\n"
               "summary.json, the checkpoint the spec names) and writes OUT/<table>.md, .tex and\n"
               ".csv: our mean ± std over seeds, the published value (the spec's paper CSV) and\n"
               "the difference. Cells without a finished run say why (no run, no data, not\n"
               "implemented); footnotes name the free choices. Prints the Markdown table.\n\n");
    fputs(ss_plan_opts_help, f);
    fprintf(f, "  --out DIR           where the three files go (default: the runs root)\n");
}

int ss_cmd_table(int argc, char **argv)
{
    ss_plan_opts po = {.check_data = 1};
    const char *spec_path = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = ss_plan_opt(&po, argc, argv, &i);
        if (r < 0) {
            fprintf(stderr, "semiseg table: %s\n", semiseg_error());
            return 2;
        }
        if (r)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--out")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "semiseg table: --out needs a directory\n");
                return 2;
            }
            out = argv[++i];
        } else if (a[0] == '-' || spec_path) {
            fprintf(stderr, "semiseg table: unexpected argument '%s' (see --help)\n", a);
            return 2;
        } else {
            spec_path = a;
        }
    }
    if (!spec_path) {
        fprintf(stderr, "semiseg table: a table spec is required (see --help)\n");
        return 2;
    }
    ss_table_spec *spec = malloc(sizeof *spec);
    ss_plan plan;
    memset(&plan, 0, sizeof plan);
    ss_paper paper = {0};
    ss_cell_result *res = NULL;
    char *md = NULL;
    int code = 1;
    if (!spec) {
        ss_seterr("out of memory");
        goto fail;
    }
    if (ss_table_spec_load(spec_path, spec) || ss_plan_build(spec, &po, &plan)) {
        code = 2;
        goto fail;
    }
    if (spec->paper[0] && ss_paper_load(spec->paper, spec->metrics, spec->n_metrics, &paper))
        goto fail;
    res = calloc((size_t)(plan.n ? plan.n : 1), sizeof *res);
    if (!res) {
        ss_seterr("out of memory");
        goto fail;
    }
    const char *dir = out ? out : plan.runs;
    if (ss_collect(&plan, &paper, res) || ss_mkdirs(dir) || ss_render_write_all(&plan, res, dir) ||
        ss_render(&plan, res, SS_RENDER_MD, &md))
        goto fail;
    fputs(md, stdout);
    fprintf(stderr, "table: wrote %s/%s.md, .tex and .csv\n", dir, spec->name);
    code = 0;
    goto done;
fail:
    fprintf(stderr, "semiseg table: %s\n", semiseg_error());
done:
    free(md);
    free(res);
    ss_paper_free(&paper);
    ss_plan_free(&plan);
    free(spec);
    return code;
}
