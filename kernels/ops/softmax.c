/* softmax ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_softmax = {.name = "softmax"};
const ss_op_desc ss_desc_log_softmax = {.name = "log_softmax"};
