/* Shapes and tensor descriptors. Every tensor is logically 5-D (N, C, D, H, W),
 * float32; 2-D data uses D = 1, matrices use (rows, cols, 1, 1, 1). */
#ifndef SS_TENSOR_H
#define SS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define SS_NDIM 5
enum { SS_N = 0, SS_C = 1, SS_D = 2, SS_H = 3, SS_W = 4 };

typedef struct ss_shape {
    int d[SS_NDIM];
} ss_shape;

static inline ss_shape ss_shape5(int n, int c, int d, int h, int w)
{
    ss_shape s = {{n, c, d, h, w}};
    return s;
}

int64_t ss_numel(const ss_shape *s);
int ss_shape_eq(const ss_shape *a, const ss_shape *b);
/* Spatial size D*H*W. */
int64_t ss_spatial(const ss_shape *s);
/* Writes "(N,C,D,H,W)" into buf (thread-unsafe rotating static buffers). */
const char *ss_shape_str(const ss_shape *s);
/* 1 when every dim is >= 1. */
int ss_shape_valid(const ss_shape *s);

#endif
