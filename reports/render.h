/* Table writers: Markdown, LaTeX (booktabs) and CSV of a collected plan.
 * Each value cell reads "ours / paper / difference": ours = mean ± std over
 * the finished seeds (std when two or more finished), difference = ours −
 * paper. Cells without a finished run say why (no run, no data, not
 * implemented) and are never filled. Footnotes name every free choice:
 * the spec's notes, the checkpoint rule, the seeds, the --set overrides,
 * the labeled counts and the missing data. */
#ifndef SS_RENDER_H
#define SS_RENDER_H

#include "reports/results.h"

typedef enum ss_render_format { SS_RENDER_MD = 0, SS_RENDER_TEX, SS_RENDER_CSV } ss_render_format;

/* *text is malloc'd. */
int ss_render(const ss_plan *p, const ss_cell_result *r, ss_render_format f, char **text);

/* Writes DIR/<table name>.{md,tex,csv} (each through a .tmp file). */
int ss_render_write_all(const ss_plan *p, const ss_cell_result *r, const char *dir);

/* LaTeX-escapes S (text mode) into OUT. */
void ss_latex_escape(const char *s, char *out, size_t n);

#endif
