/* conv ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_conv = {.name = "conv"};
const ss_op_desc ss_desc_deconv = {.name = "deconv"};
