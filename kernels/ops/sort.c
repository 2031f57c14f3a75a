/* sort ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_sort = {.name = "sort"};
const ss_op_desc ss_desc_rank = {.name = "rank"};
