#include "harness/volume.h"

#include <stdlib.h>
#include <string.h>

void ss_volume_free(ss_volume *v)
{
    if (!v)
        return;
    free(v->image);
    free(v->label);
    memset(v, 0, sizeof *v);
}
