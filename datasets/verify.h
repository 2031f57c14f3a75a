/* Checks every listed case of a data root (files exist and open, keys,
 * dtypes, shapes, channels, label values, list consistency) and prints a
 * one-screen summary. Used by `semiseg data verify` and the tests. */
#ifndef SS_VERIFY_H
#define SS_VERIFY_H

#include "datasets/dataset.h"

#include <stdio.h>

typedef struct ss_verify_report {
    int cases[SS_SPLIT_COUNT];  /* rows listed per split */
    int failed[SS_SPLIT_COUNT]; /* rows that failed a check */
    int list_errors;            /* duplicate ids, ids in two splits, ... */
} ss_verify_report;

/* Verifies ROOT as dataset NAME, printing the summary (and one line per
 * failing case) to OUT when OUT is not NULL. Returns 0 when every check
 * passed; otherwise -1 with a message naming the first failure (or why the
 * root could not be opened). REP may be NULL. */
int ss_dataset_verify(const char *name, const char *root, FILE *out, ss_verify_report *rep);

#endif
