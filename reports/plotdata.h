/* Data files for the gnuplot scripts in reports/plots/ and the qualitative
 * overlay PNG (libpng).
 *
 * Training curves (curves.gp): from a run's train.log, block 0 holds one row
 * per logged iteration, "iter <term> <term> ..." (the plugin's loss terms in
 * log order, the first one the total); block 1 holds "iter <split>_dice" per
 * selection evaluation. Blocks are separated by two blank lines and start
 * with a header row. After a resume the replayed iterations replace the
 * earlier ones.
 *
 * Dice vs labeled ratio (ratio.gp): one block per method with at least one
 * finished cell, header
 * `pct "<label>" std paper`, then one row per labeled % with our mean, std
 * and the published value (NaN when absent). */
#ifndef SS_PLOTDATA_H
#define SS_PLOTDATA_H

#include "reports/results.h"

#include <stdint.h>

/* train.log text -> curves data text (*out malloc'd); n_eval gets the number
 * of evaluation rows. Error when the log has no iteration line. */
int ss_curves_data(const char *log_text, const char *origin, char **out, int *n_eval);

/* Ratio data of metric M (index into the spec's metrics) for dataset column
 * COL of a collected plan (*out malloc'd); n_points gets the rows written
 * with a finished value. */
int ss_ratio_data(const ss_plan *p, const ss_cell_result *r, int col, int m, char **out,
                  int *n_points);

/* Overlay of one slice: IMAGE (h*w, grey, min-max scaled), ground truth and
 * prediction label maps (h*w; > 0 = foreground). Boundary pixels of the
 * ground truth are red (255,0,0), of the prediction green (0,255,0), of both
 * yellow (255,255,0); a boundary pixel is a foreground pixel with a 4-
 * neighbour of another label or on the slice border. Each pixel becomes a
 * SCALE x SCALE block. Written as 8-bit RGB PNG through PATH.tmp. */
int ss_overlay_png(const float *image, const uint8_t *gt, const uint8_t *pred, int h, int w,
                   int scale, const char *path);

typedef enum ss_layout { SS_LAYOUT_AUTO = 0, SS_LAYOUT_DHW, SS_LAYOUT_XYZ } ss_layout;

/* Reads 'image' and 'label' of CASE_H5 and 'pred' (D,H,W) of PRED_H5, takes
 * slice K along D (K < 0: the slice with the most ground-truth foreground;
 * SLICE_OUT, if not NULL, gets the slice used) and writes the overlay. The
 * case arrays are (D,H,W) or stored (x,y,z) (LA / Pancreas files); AUTO picks
 * the one matching the prediction's shape. */
int ss_overlay_from_h5(const char *case_h5, const char *pred_h5, int k, ss_layout layout,
                       int scale, const char *png, int *slice_out);

#endif
