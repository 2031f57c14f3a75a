/* upsample ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_upsample = {.name = "upsample"};
