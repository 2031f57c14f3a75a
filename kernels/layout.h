/* Activation layout conversion between NCDHW (the layout every tensor has at
 * the backend boundary) and NDHWC (channels-last, as tensor-core convolutions
 * prefer). This is the CPU reference; kernels/cuda/layout.cu has the device
 * twins with the same index rule:
 *   NCDHW index ((n*C + c)*S + s)  <->  NDHWC index ((n*S + s)*C + c),
 * S = D*H*W. */
#ifndef SS_LAYOUT_H
#define SS_LAYOUT_H

#include "tensor.h"

/* dst (NDHWC) from src (NCDHW) of shape s; src and dst must not overlap. */
void ss_ncdhw_to_ndhwc(const float *src, float *dst, const ss_shape *s);
/* dst (NCDHW) from src (NDHWC) of logical shape s (N,C,D,H,W). */
void ss_ndhwc_to_ncdhw(const float *src, float *dst, const ss_shape *s);

#endif
