/* Exact Euclidean distance transform (the separable linear-time lower-envelope
 * algorithm of Felzenszwalb & Huttenlocher / Meijster et al.) in double
 * precision with per-axis sample spacing, for 1- to 3-D grids. */
#ifndef SS_EDT_H
#define SS_EDT_H

#include <stdint.h>

/* For every element of the C-order grid of NDIM (1..3) axes of sizes DIMS,
 * writes to OUT the Euclidean distance (in spacing units; SPACING NULL = 1 on
 * every axis, else NDIM positive values) to the nearest element whose FEATURE
 * is nonzero. This is scipy.ndimage.distance_transform_edt(feature == 0,
 * sampling=spacing). With no feature element every output is +INFINITY.
 * Returns 0, or -1 (message set) on bad arguments or out of memory. */
int ss_edt(const uint8_t *feature, int ndim, const int *dims, const double *spacing,
           double *out);

/* As ss_edt but writes squared distances. */
int ss_edt_sq(const uint8_t *feature, int ndim, const int *dims, const double *spacing,
              double *out);

#endif
