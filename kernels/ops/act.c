/* act ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_relu = {.name = "relu"};
const ss_op_desc ss_desc_leaky_relu = {.name = "leaky_relu"};
const ss_op_desc ss_desc_prelu = {.name = "prelu"};
const ss_op_desc ss_desc_sigmoid = {.name = "sigmoid"};
const ss_op_desc ss_desc_tanh = {.name = "tanh"};
