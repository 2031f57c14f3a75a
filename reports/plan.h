/* The run plan of a table: every cell of a spec for one profile and data kind,
 * with whether its plugin is registered, where its data is (or why it is not
 * there), and the state of each seed's run directory. `semiseg sweep` runs
 * from it, `semiseg table` collects from it. Layer: reports (may use
 * datasets/ and methods/). */
#ifndef SS_PLAN_H
#define SS_PLAN_H

#include "harness/fileio.h" /* ss_mkdirs */
#include "reports/table_spec.h"

#include <stdio.h>

#define SS_PLAN_MAX_ROOTS 8
#define SS_PLAN_PATH 4096

typedef enum ss_run_state {
    SS_RUN_NONE = 0,   /* no run directory, or one without a checkpoint */
    SS_RUN_PARTIAL,    /* checkpoints/last.h5 but no final summaries: resume it */
    SS_RUN_DONE,       /* best/summary.json and last/summary.json */
} ss_run_state;

/* State of a run directory. */
ss_run_state ss_run_state_of(const char *run_dir);
const char *ss_run_state_name(ss_run_state s);

typedef struct ss_plan_opts {
    const char *profile;   /* profile section name (default "paper") */
    const char *data;      /* "real" / "synthetic" / NULL = the profile's */
    const char *runs;      /* runs root; NULL = runs/<table>-<profile>[-<data>] */
    const char *data_root; /* base folder of the real data (default "data") */
    int n_roots;           /* --data-root-KEY DIR */
    const char *root_key[SS_PLAN_MAX_ROOTS], *root_dir[SS_PLAN_MAX_ROOTS];
    const char *only_methods, *only_datasets, *only_ratios; /* comma lists; NULL = all */
    int check_data;        /* open real data roots and check the labeled counts fit */
} ss_plan_opts;

typedef struct ss_plan_cell {
    ss_table_cell c;
    int implemented;            /* the plugin is registered */
    int have_data;
    char data_root[SS_PLAN_PATH];
    char data_msg[768];         /* why there is no data and how to get it */
    ss_run_state state[SS_TS_MAX_SEEDS];
    char run_dir[SS_TS_MAX_SEEDS][SS_PLAN_PATH];
} ss_plan_cell;

typedef struct ss_plan {
    const ss_table_spec *spec;
    const ss_ts_profile *profile;
    char runs[SS_PLAN_PATH];
    char data_kind[16];
    int n;
    ss_plan_cell *cells;
} ss_plan;

/* Parses one plan option at argv[*i] (--profile, --data, --runs, --data-root,
 * --data-root-KEY, --methods, --datasets, --ratios), advancing *i past its
 * value: 1 consumed, 0 not a plan option, -1 error (message set). */
int ss_plan_opt(ss_plan_opts *o, int argc, char **argv, int *i);
/* Help text of those options. */
extern const char ss_plan_opts_help[];

/* Builds the plan (cells after the filters). Free with ss_plan_free. */
int ss_plan_build(const ss_table_spec *s, const ss_plan_opts *o, ss_plan *out);
void ss_plan_free(ss_plan *p);
/* Re-reads the run states of every cell. */
void ss_plan_refresh(ss_plan *p);

/* The `semiseg train` arguments of seed k of cell C (argv[0] = "train"; NULL-
 * terminated; strings point into BUF). A partial run gives
 * train --resume RUN_DIR. Returns argc or -1. */
int ss_plan_train_args(const ss_plan *p, const ss_plan_cell *c, int k, char *buf, size_t n,
                       char **argv, int max);

/* The sbatch array script running every missing or partial run of the plan
 * (one array task per run) with the semiseg binary EXE; JOBS > 0 caps the
 * tasks running at once. *text is malloc'd. n_tasks gets the array size. */
int ss_plan_slurm(const ss_plan *p, const char *exe, int jobs, char **text, int *n_tasks);

/* mkdir -p PATH: ss_mkdirs in harness/fileio.h. */

/* Writes the synthetic twins the plan's cells train on (each cell's
 * data_root, once) when missing; LOG gets one line per twin written. */
int ss_plan_make_twins(const ss_plan *p, FILE *log);

/* S as one POSIX shell word: as is when it holds only safe characters, else
 * single-quoted. */
void ss_shell_quote(const char *s, char *out, size_t n);

#endif
