/* loss ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_ce = {.name = "ce"};
const ss_op_desc ss_desc_mse = {.name = "mse"};
