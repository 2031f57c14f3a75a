/* One case of a dataset in memory: an image with C channels over a (D,H,W)
 * grid (2-D slices use D = 1) and an optional label map of class ids. Shared by
 * the readers (datasets/), inference and metrics (harness/). */
#ifndef SS_VOLUME_H
#define SS_VOLUME_H

#include <stdint.h>

typedef struct ss_volume {
    char id[128];      /* case id as named in the list file */
    int c, d, h, w;    /* image channels and spatial size, (D,H,W) order */
    float *image;      /* c*d*h*w floats, channel-major (C,D,H,W), malloc'd */
    uint8_t *label;    /* d*h*w class ids, malloc'd; NULL when the case has none */
    double spacing[3]; /* voxel spacing (D,H,W); 1,1,1 when the file carries none */
} ss_volume;

/* Frees image and label and zeroes the struct (safe on a zeroed struct). */
void ss_volume_free(ss_volume *v);

#endif
