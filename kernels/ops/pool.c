/* pool ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_maxpool = {.name = "maxpool"};
const ss_op_desc ss_desc_avgpool = {.name = "avgpool"};
