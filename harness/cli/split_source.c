/* A dataset split as a case source (see split_source.h). */
#include "split_source.h"

static int split_load(void *ctx, int i, ss_volume *out)
{
    const ss_cli_split *s = ctx;
    return ss_dataset_load(s->ds, s->split, i, out);
}

ss_case_source ss_cli_split_source(ss_cli_split *s)
{
    ss_case_source src = {s, ss_dataset_count(s->ds, s->split), split_load};
    return src;
}
