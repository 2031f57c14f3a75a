/* Whole-volume inference: the V-Net repos' 3-D sliding window and the 2-D
 * U-Net repos' slice-wise zoom-predict-zoom-back, on a model given as a
 * callback (harness/predictor.h makes one from a registry model). */
#ifndef SS_INFER_H
#define SS_INFER_H

#include "harness/volume.h"

#include <stdint.h>

/* Runs the model on n inputs x (n, C, D, H, W) with IN_SHAPE = (C, D, H, W)
 * and writes the softmax probabilities prob (n, K, D, H, W). 0 or -1 (message
 * set). */
typedef int (*ss_predict_fn)(void *ctx, int n, const int in_shape[4], const float *x,
                             float *prob);

typedef struct {
    int dims;      /* 3: sliding window; 2: slice-wise */
    int patch[3];  /* network input (D,H,W); for dims 2 only H, W are used */
    int stride[3]; /* sliding-window strides (D,H,W); dims 3 only */
    int classes;   /* K >= 2 */
    int batch;     /* windows / slices per model call (>= 1) */
    int lcc;       /* keep the largest connected component of each class */
} ss_infer_opts;

/* dims 3: every dim of V smaller than the patch is zero-padded to the patch
 * (floor(delta/2) before, the rest after). Per axis n = ceil((S-p)/s) + 1
 * windows start at min(s*i, S-p). The softmax probabilities of all windows
 * covering a voxel are averaged uniformly; the label is [mean p1 > 0.5] for
 * K = 2 and the argmax (lowest class on ties) for K > 2; then the padding is
 * cropped off.
 * dims 2: each D-slice (all C channels) is zoomed to patch H x W with
 * SciPy's zoom(order=0) rule, the argmax of the model's probabilities is
 * zoomed back to H x W (order 0), and the slices are stacked.
 * lcc: ss_largest_cc_classes on the result. PRED receives D*H*W class ids. */
int ss_infer_volume(const ss_infer_opts *o, const ss_volume *v, ss_predict_fn f, void *ctx,
                    uint8_t *pred);

/* Sliding-window starts along one axis of SIZE (>= patch) voxels: writes up to
 * MAX starts and returns their count n = ceil((size-patch)/stride) + 1, or -1
 * (message set) on bad arguments. */
int ss_window_starts(int size, int patch, int stride, int *starts, int max);

#endif
