/* Device twins of kernels/layout.h: src and dst are CUDA backend pointers
 * (arena memory); the conversion is queued on the backend's stream (call the
 * backend's sync before reading on the host). Only in builds with CUDA. */
#ifndef SS_LAYOUT_CUDA_H
#define SS_LAYOUT_CUDA_H

#include "../tensor.h"

int ss_cuda_ncdhw_to_ndhwc(const float *src, float *dst, const ss_shape *s);
int ss_cuda_ndhwc_to_ncdhw(const float *src, float *dst, const ss_shape *s);

#endif
