/* Nearest-neighbour resampling that reproduces SciPy / NumPy index for index:
 * scipy.ndimage.zoom(x, factors, order=0) (mode 'constant', grid_mode False),
 * scipy.ndimage.rotate(x, angle, order=0, reshape=False, mode='constant'),
 * np.rot90 and np.flip. Used by the ACDC training augmentation (zoom of a slice
 * to 256x256) and by slice-wise inference (zoom in, predict, zoom back).
 *
 * Arrays are C-ordered. 3-D shapes are (n0, n1, n2); a 2-D array of shape
 * (H, W) is the 3-D shape (1, H, W).
 *
 * SciPy semantics reproduced (see harness/zoom.c for details):
 *  - zoom: along each axis of input length n and output length m the factor is
 *    z = (n-1)/(m-1) in double (1 when m == 1); output index o reads the input
 *    at coordinate c = o*z, rounded by floor(c + 0.5) (ties go up). A
 *    coordinate outside [0, n-1] gives cval: SciPy's product o*z can round
 *    above n-1 for the last output index (e.g. 16 -> 80, 31 -> 80, 62 -> 112),
 *    and then the whole last row/column is cval, as in SciPy.
 *  - rotate: integer angles in [-90, 90] degrees (the exact sindg/cosdg values
 *    SciPy uses are tabulated), plane = the two axes of a 2-D array, centre at
 *    ((H-1)/2, (W-1)/2), pull-back coordinates rounded like zoom, cval outside.
 *    The floating-point order is SciPy 1.17's (offset from NumPy's FMA-based
 *    matmul, then coordinate = offset + i*m0 + j*m1); it decides the few pixels
 *    whose coordinate lands within an ulp of a .5 tie or of the border. */
#ifndef SS_ZOOM_H
#define SS_ZOOM_H

#include <stdint.h>

/* Source index of every output index along one axis (N_IN -> N_OUT samples);
 * -1 where SciPy writes cval. */
void ss_zoom_axis_index(int n_in, int n_out, int *src);

/* Zoom IN (in_dims) to OUT (out_dims); cval fills out-of-range samples (SciPy's
 * default 0). Returns 0, or -1 with a message on bad sizes / no memory. */
int ss_zoom_nearest_f32(const float *in, const int in_dims[3], float *out, const int out_dims[3],
                        float cval);
int ss_zoom_nearest_u8(const uint8_t *in, const int in_dims[3], uint8_t *out,
                       const int out_dims[3], uint8_t cval);

/* Source linear index (row-major in H x W) of every output pixel of a rotation
 * by ANGLE_DEG (counter-clockwise in SciPy's convention), -1 = cval. SRC holds
 * H*W ints. Returns 0, or -1 when the angle is outside [-90, 90] or sizes < 1. */
int ss_rotate_index(int h, int w, int angle_deg, int *src);
/* Rotates every one of N planes of H x W (planes contiguous) by ANGLE_DEG. OUT
 * must not alias IN. */
int ss_rotate_nearest_f32(const float *in, int n, int h, int w, int angle_deg, float cval,
                          float *out);
int ss_rotate_nearest_u8(const uint8_t *in, int n, int h, int w, int angle_deg, uint8_t cval,
                         uint8_t *out);

/* np.rot90(x, k, axes=(A0, A1)) of a 3-D array of DIMS (k any integer,
 * A0 != A1 in 0..2); OUT gets out_dims = DIMS with A0 and A1 swapped when k is
 * odd. ELEM bytes per element. OUT must not alias IN. Returns 0 or -1. */
int ss_rot90(const void *in, const int dims[3], int elem, int k, int a0, int a1, void *out,
             int out_dims[3]);
/* np.flip(x, AXIS) of a 3-D array of DIMS; OUT must not alias IN. */
int ss_flip(const void *in, const int dims[3], int elem, int axis, void *out);

#endif
