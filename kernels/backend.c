/* Backend selection: CUDA when compiled in and a device answers, else CPU. */
#include "backend.h"
#include "error.h"

#include <stdio.h>

#ifndef SS_HAVE_CUDA
const ss_backend *ss_backend_cuda(void)
{
    ss_seterr("this build has no CUDA backend (built with CUDA=0 or without nvcc/cuDNN)");
    return NULL;
}
#endif

const ss_backend *ss_backend_default(void)
{
    static int logged;
    const ss_backend *b = ss_backend_cuda();
    if (b)
        return b;
    if (!logged) {
        logged = 1;
        fprintf(stderr, "semiseg: using the CPU backend (%s)\n", semiseg_error());
    }
    return ss_backend_cpu();
}
