/* Results of a table: the published numbers (CSV), each run's summary.json
 * (cJSON) and each cell's mean and standard deviation over seeds. */
#ifndef SS_RESULTS_H
#define SS_RESULTS_H

#include "reports/plan.h"

/* Published values: rows of method, labeled_pct, dataset and one column per
 * metric (NaN where empty). */
typedef struct ss_paper_row {
    char method[32], dataset[32];
    int pct;
    double v[SS_TS_MAX_METRICS];
} ss_paper_row;

typedef struct ss_paper {
    int n;
    ss_paper_row *rows;
} ss_paper;

/* Reads a CSV with a header naming method, labeled_pct, dataset and the
 * metric columns METRICS (lines starting with '#' are comments). */
int ss_paper_load(const char *path, const char (*metrics)[16], int n_metrics, ss_paper *out);
void ss_paper_free(ss_paper *p);
/* 1 and VALUES (n_metrics) when the paper has (method, pct, dataset). */
int ss_paper_find(const ss_paper *p, const char *method, int pct, const char *dataset,
                  int n_metrics, double *values);

/* One run's value of each metric from a summary.json: the mean over classes
 * of each class's mean; Dice and Jaccard in %, HD95 and ASD in voxels. A null
 * (undefined) value gives NaN. */
int ss_summary_read(const char *path, const char (*metrics)[16], int n_metrics, double *values);

typedef enum ss_cell_status {
    SS_CELL_NOT_IMPLEMENTED = 0, /* the plugin is not registered */
    SS_CELL_NO_DATA,             /* the data root is missing or too small */
    SS_CELL_NO_RUN,              /* no finished run */
    SS_CELL_PARTIAL,             /* some seeds finished */
    SS_CELL_DONE,                /* every seed finished */
} ss_cell_status;

typedef struct ss_cell_result {
    ss_cell_status status;
    int n_done, n_seeds;
    double mean[SS_TS_MAX_METRICS], std[SS_TS_MAX_METRICS]; /* population std over seeds */
    int have_paper;
    double paper[SS_TS_MAX_METRICS];
} ss_cell_result;

/* Collects every cell of PLAN (results[p->n]); PAPER may be NULL. */
int ss_collect(const ss_plan *plan, const ss_paper *paper, ss_cell_result *results);

#endif
