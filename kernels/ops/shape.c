/* shape ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_concat = {.name = "concat"};
const ss_op_desc ss_desc_slice = {.name = "slice"};
