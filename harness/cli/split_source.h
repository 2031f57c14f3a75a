/* The cases of one split of an opened dataset as an ss_case_source
 * (harness/evaluate.h), for the commands that evaluate on a split. */
#ifndef SS_CLI_SPLIT_SOURCE_H
#define SS_CLI_SPLIT_SOURCE_H

#include "datasets/dataset.h"
#include "harness/evaluate.h"

typedef struct ss_cli_split {
    const ss_dataset *ds;
    ss_split split;
} ss_cli_split;

/* The source over s's cases (s must outlive it). */
ss_case_source ss_cli_split_source(ss_cli_split *s);

#endif
