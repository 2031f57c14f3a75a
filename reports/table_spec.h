/* Table specs: which training runs fill which cell of a comparison table.
 * A spec is an INI file (inih) with the sections
 *   [table]            name, title, paper (CSV of published numbers), metrics,
 *                      seeds, checkpoint, datasets, methods, note (repeatable)
 *   [dataset KEY]      label, name (the `semiseg train` dataset), root (folder
 *                      under the data root), unit, labeled = PCT:N, ...,
 *                      get (one line: how to obtain the data)
 *   [method NAME]      label, ratios, seeds, checkpoint, set (repeatable
 *                      section.key=value for `semiseg train --set`), note
 *   [profile NAME]     train_profile (paper|smoke), data (real|synthetic),
 *                      seeds, set, note, synthetic.KEY = twin name,
 *                      synthetic_labeled.KEY = PCT:N, ..., twin_seed,
 *                      labeled.KEY = PCT:N, ... and root.KEY = DIR (real data
 *                      under this profile, e.g. small subsets)
 *   [cell METHOD KEY PCT]  seeds, checkpoint, set, labeled: one cell's exceptions
 * Every key not listed is an error naming the file and line. Rows are the
 * (method, labeled %) pairs in the order of [table] methods x each method's
 * ratios; columns are the datasets in [table] datasets order. */
#ifndef SS_TABLE_SPEC_H
#define SS_TABLE_SPEC_H

#include <stddef.h>

#define SS_TS_MAX_DATASETS 8
#define SS_TS_MAX_METHODS 24
#define SS_TS_MAX_RATIOS 6
#define SS_TS_MAX_SEEDS 16
#define SS_TS_MAX_SETS 24
#define SS_TS_MAX_NOTES 24
#define SS_TS_MAX_PROFILES 4
#define SS_TS_MAX_CELLS 32
#define SS_TS_MAX_METRICS 4
#define SS_TS_STR 256

typedef struct ss_ts_seeds {
    int n;
    long v[SS_TS_MAX_SEEDS];
} ss_ts_seeds;

typedef struct ss_ts_sets {
    int n;
    char v[SS_TS_MAX_SETS][SS_TS_STR];
} ss_ts_sets;

typedef struct ss_ts_notes {
    int n;
    char v[SS_TS_MAX_NOTES][512];
} ss_ts_notes;

/* PCT:N pairs. */
typedef struct ss_ts_counts {
    int n;
    int pct[SS_TS_MAX_RATIOS], count[SS_TS_MAX_RATIOS];
} ss_ts_counts;

typedef struct ss_ts_dataset {
    char key[32], label[64], name[32], root[SS_TS_STR], unit[32], get[512];
    ss_ts_counts labeled;
    int defined;
} ss_ts_dataset;

typedef struct ss_ts_method {
    char name[32], label[64], checkpoint[8];
    int n_ratios, ratios[SS_TS_MAX_RATIOS];
    ss_ts_seeds seeds; /* n = 0: the table's */
    ss_ts_sets sets;
    ss_ts_notes notes;
    int defined;
} ss_ts_method;

typedef struct ss_ts_profile {
    char name[32], train_profile[32], data[16];
    ss_ts_seeds seeds;
    ss_ts_sets sets;
    ss_ts_notes notes;
    long twin_seed;
    char synth[SS_TS_MAX_DATASETS][32];              /* per dataset key index, "" = none */
    ss_ts_counts synth_labeled[SS_TS_MAX_DATASETS];
    char synth_key[SS_TS_MAX_DATASETS][32];          /* keys as written (resolved at the end) */
    char synth_lab_key[SS_TS_MAX_DATASETS][32];
    int n_synth, n_synth_lab;
    /* real data under this profile: labeled counts and data folders per dataset */
    ss_ts_counts real_labeled[SS_TS_MAX_DATASETS];
    char real_root[SS_TS_MAX_DATASETS][SS_TS_STR];
    char real_lab_key[SS_TS_MAX_DATASETS][32], real_root_key[SS_TS_MAX_DATASETS][32];
    int n_real_lab, n_real_root;
} ss_ts_profile;

typedef struct ss_ts_cellx {
    char method[32], dataset[32];
    int pct;
    ss_ts_seeds seeds;
    ss_ts_sets sets;
    char checkpoint[8];
    int labeled; /* 0: from the dataset / profile */
} ss_ts_cellx;

typedef struct ss_table_spec {
    char path[SS_TS_STR], name[64], title[SS_TS_STR], paper[SS_TS_STR], checkpoint[8];
    int n_metrics;
    char metrics[SS_TS_MAX_METRICS][16];
    ss_ts_seeds seeds;
    ss_ts_notes notes;
    int n_datasets, n_methods, n_profiles, n_cellx;
    ss_ts_dataset datasets[SS_TS_MAX_DATASETS];
    ss_ts_method methods[SS_TS_MAX_METHODS];
    ss_ts_profile profiles[SS_TS_MAX_PROFILES];
    ss_ts_cellx cellx[SS_TS_MAX_CELLS];
} ss_table_spec;

/* Parses PATH into *out (zeroed first). Errors name the file, line and key. */
int ss_table_spec_load(const char *path, ss_table_spec *out);
/* Same from a text (ORIGIN names it in errors). */
int ss_table_spec_parse(const char *text, const char *origin, ss_table_spec *out);

const ss_ts_profile *ss_table_profile(const ss_table_spec *s, const char *name);

/* One cell resolved for a profile and a data kind. */
typedef struct ss_table_cell {
    int row, col;              /* row index (method x ratio), dataset index */
    const ss_ts_method *method;
    const ss_ts_dataset *dataset;
    int pct;                   /* labeled % of the row */
    char train_dataset[32];    /* dataset name passed to `semiseg train` */
    int labeled;               /* --labeled */
    char checkpoint[8];        /* best | last */
    ss_ts_seeds seeds;
    ss_ts_sets sets;           /* table method sets, then profile sets, then cell sets */
    int synthetic;
} ss_table_cell;

/* Rows of the table: (method index, pct) pairs in display order. */
int ss_table_rows(const ss_table_spec *s, int *method_idx, int *pct, int max);

/* Resolves every cell (rows x datasets) for profile PROFILE and data kind DATA
 * ("real", "synthetic" or NULL = the profile's). *cells is malloc'd (free it). */
int ss_table_cells(const ss_table_spec *s, const char *profile, const char *data,
                   ss_table_cell **cells, int *n_cells);

/* RUNS/<train dataset>/<method>/<labeled>/seed<seed> */
void ss_table_run_dir(const ss_table_cell *c, const char *runs, long seed, char *out, size_t n);

#endif
