/* CUDA backend entry: device detection. The GPU op kernels arrive with the
 * CUDA backend work; until then a present device is reported and the CPU
 * backend is used. */
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "../backend.h"
#include "../error.h"
}

extern "C" const ss_backend *ss_backend_cuda(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        ss_seterr("no CUDA device found (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return NULL;
    }
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    ss_seterr("CUDA device %s found (cuDNN %zu), but GPU op kernels are not in this build yet",
              p.name, cudnnGetVersion());
    return NULL;
}
