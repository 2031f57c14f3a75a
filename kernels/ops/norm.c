/* norm ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_bn_train = {.name = "bn_train"};
const ss_op_desc ss_desc_bn_eval = {.name = "bn_eval"};
const ss_op_desc ss_desc_instnorm = {.name = "instnorm"};
const ss_op_desc ss_desc_groupnorm = {.name = "groupnorm"};
