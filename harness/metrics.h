/* Segmentation metrics identical to medpy.metric.binary (dc, jc, hd95, asd,
 * assd) plus RCPS's symmetric average surface distance, on binary masks and
 * per class on label maps, and largest-connected-component post-processing.
 *
 * Definitions (connectivity 1, as medpy's default):
 *   surface(X)  = X XOR binary_erosion(X, cross structure, border value 0): a
 *                 voxel of X is on the surface when one of its face neighbours
 *                 is outside X or outside the array;
 *   d(A->B)     = for each surface voxel of A, the Euclidean distance (with
 *                 voxel spacing) to the nearest surface voxel of B, through
 *                 an exact EDT (harness/edt.h);
 *   dice        = 2|P&G| / (|P|+|G|);  jaccard = |P&G| / |P|G|;
 *   hd95        = 95th percentile (NumPy's default linear interpolation) of the
 *                 concatenation of d(P->G) and d(G->P);
 *   asd         = mean of d(P->G) (medpy asd: directed, prediction to reference);
 *   assd        = (mean d(P->G) + mean d(G->P)) / 2 (medpy assd);
 *   asd_rcps    = mean over the union of d(P->G) and d(G->P) (RCPS's ASD).
 * Grids are (D, H, W); a grid with D == 1 is a 2-D image and uses the 2-D cross
 * (medpy on a 2-D array), spacing[1], spacing[2]. */
#ifndef SS_METRICS_H
#define SS_METRICS_H

#include <stdint.h>

/* What happens when a mask is empty (medpy raises in hd95/asd/assd then):
 *   SS_EMPTY_ZERO : empty prediction -> all six metrics 0 (the V-Net and MC-Net
 *                   test scripts; Dice 0 even when the reference is empty too);
 *                   empty reference with a non-empty prediction -> Dice and
 *                   Jaccard 0 (medpy's values) and the four distances 0;
 *   SS_EMPTY_NAN  : Dice and Jaccard keep medpy's values (1 when both are empty,
 *                   else 0); the four distances are NaN;
 *   SS_EMPTY_ERROR: either mask empty -> -1 with a message. */
typedef enum { SS_EMPTY_ZERO, SS_EMPTY_NAN, SS_EMPTY_ERROR } ss_empty_policy;

typedef struct {
    double dice, jaccard, hd95, asd, assd, asd_rcps;
} ss_metrics;

/* "zero", "nan", "error" <-> policy. Parse returns -1 (message set) on an
 * unknown name. */
const char *ss_empty_policy_name(ss_empty_policy p);
int ss_empty_policy_parse(const char *s, ss_empty_policy *out);

/* Metrics of binary masks PRED and GT (nonzero = object) on a grid of DIMS
 * (D, H, W); SPACING (D, H, W) or NULL for unit spacing. */
int ss_metrics_binary(const uint8_t *pred, const uint8_t *gt, const int dims[3],
                      const double spacing[3], ss_empty_policy policy, ss_metrics *out);

/* Per-class metrics of label maps (values 0..CLASSES-1): OUT[c-1] holds the
 * metrics of (pred == c, gt == c) for c = 1..CLASSES-1. Labels >= CLASSES are
 * an error. */
int ss_metrics_classes(const uint8_t *pred, const uint8_t *gt, const int dims[3],
                       const double spacing[3], int classes, ss_empty_policy policy,
                       ss_metrics *out);

/* Keeps only the largest 26-connected component of the nonzero voxels of MASK
 * (skimage.measure.label with full connectivity; ties go to the component
 * whose first voxel in C order comes first); values are kept. An empty mask
 * is left as it is. */
int ss_largest_cc(uint8_t *mask, const int dims[3]);

/* For a label map: for each class 1..CLASSES-1 keeps the largest component of
 * that class and sets the rest of the class to 0. For 2 classes this is
 * ss_largest_cc. */
int ss_largest_cc_classes(uint8_t *labels, const int dims[3], int classes);

#endif
