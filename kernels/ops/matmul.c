/* matmul ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_matmul = {.name = "matmul"};
const ss_op_desc ss_desc_linear = {.name = "linear"};
