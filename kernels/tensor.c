#include "tensor.h"

#include <stdio.h>

int64_t ss_numel(const ss_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < SS_NDIM; i++)
        n *= s->d[i];
    return n;
}

int64_t ss_spatial(const ss_shape *s) { return (int64_t)s->d[2] * s->d[3] * s->d[4]; }

int ss_shape_eq(const ss_shape *a, const ss_shape *b)
{
    for (int i = 0; i < SS_NDIM; i++)
        if (a->d[i] != b->d[i])
            return 0;
    return 1;
}

int ss_shape_valid(const ss_shape *s)
{
    for (int i = 0; i < SS_NDIM; i++)
        if (s->d[i] < 1)
            return 0;
    return 1;
}

const char *ss_shape_str(const ss_shape *s)
{
    static _Thread_local char buf[8][64];
    static _Thread_local int k;
    char *b = buf[k++ & 7];
    snprintf(b, 64, "(%d,%d,%d,%d,%d)", s->d[0], s->d[1], s->d[2], s->d[3], s->d[4]);
    return b;
}
