/* unary ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_scale = {.name = "scale"};
const ss_op_desc ss_desc_pow = {.name = "pow"};
const ss_op_desc ss_desc_exp = {.name = "exp"};
const ss_op_desc ss_desc_log = {.name = "log"};
const ss_op_desc ss_desc_clamp = {.name = "clamp"};
