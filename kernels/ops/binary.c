/* binary ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_add = {.name = "add"};
const ss_op_desc ss_desc_sub = {.name = "sub"};
const ss_op_desc ss_desc_mul = {.name = "mul"};
const ss_op_desc ss_desc_div = {.name = "div"};
