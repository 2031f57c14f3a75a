/* reduce ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_sum = {.name = "sum"};
const ss_op_desc ss_desc_mean = {.name = "mean"};
