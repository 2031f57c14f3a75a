/* similarity ops: not implemented yet (placeholder descriptors). */
#include "../op.h"

const ss_op_desc ss_desc_l2norm = {.name = "l2norm"};
const ss_op_desc ss_desc_cossim = {.name = "cossim"};
