/* Loss and consistency builders shared by the plugins, as graph constructors
 * (they return a tensor handle, or -1 with the error recorded in the graph),
 * plus the scalar ramp-up functions the plugins use to set dynamic weights.
 *
 * Dice forms (protocol-3d.md §2.1, protocol-2d.md §1.8), with p the
 * probability of one class, y its 0/1 target, sums over every voxel and every
 * batch item given (batch-global, not per-sample means):
 *   SS_DICE_BINARY   [MC]/[FBA] Binary_dice_loss: 1 - (2Σpy + 1e-8)/(Σp + Σy + 1e-8)
 *   SS_DICE_SQUARED  [UAMT]/[DTC]/[SASS] dice_loss and SSL4MIS DiceLoss per class:
 *                    1 - (2Σpy + 1e-5)/(Σp² + Σy² + 1e-5)
 *   SS_DICE_HALF     MC-Net / FBA 2-D DiceLoss per class (no factor 2):
 *                    1 - Σpy/(Σp² + Σy² + 1e-10)
 */
#ifndef SS_LOSSES_H
#define SS_LOSSES_H

#include "harness/graph.h"

typedef enum ss_dice_form {
    SS_DICE_BINARY = 0,
    SS_DICE_SQUARED,
    SS_DICE_HALF,
} ss_dice_form;

/* Parses "binary" / "squared" / "half" (also the upstream names
 * "Binary_dice_loss", "dice_loss"); -1 with an error when unknown. */
int ss_dice_form_parse(const char *s, ss_dice_form *out);
const char *ss_dice_form_name(ss_dice_form f);

/* One-hot plane of class c from a label tensor holding class ids as floats:
 * clamp(1 - (label - c)^2, 0, 1), exact for integer labels. No gradient is
 * meant to flow into labels. */
int ss_onehot(ss_graph *g, int labels, int c);

/* Dice loss of one probability map p against a 0/1 target y (same shape). */
int ss_loss_dice(ss_graph *g, int p, int y, ss_dice_form form);

/* Multi-class Dice: mean over classes c in [c0, classes) of the per-class
 * loss between channel c of prob (N,C,...) and onehot(labels, c). SSL4MIS and
 * MC-Net 2-D average over every class including background (c0 = 0); the
 * 3-D binary losses use the foreground channel only (c0 = 1, classes = 2). */
int ss_loss_dice_mc(ss_graph *g, int prob, int labels, int classes, int c0, ss_dice_form form);

/* Cross-entropy of logits against class ids, PyTorch mean reduction. */
int ss_loss_ce(ss_graph *g, int logits, int labels);
/* Mean squared error over every element. */
int ss_loss_mse(ss_graph *g, int a, int b);

/* Sharpening S(p) = p^(1/T) / (p^(1/T) + (1 - p)^(1/T)), element-wise,
 * differentiable (no stop-gradient). p must lie in (0, 1) unless 1/T is an
 * integer. */
int ss_sharpen(ss_graph *g, int p, float T);

/* Σ over ordered pairs i != j of mse(P_i, S(P_j)) (MC-Net mutual consistency;
 * n probability tensors of equal shape, sharpening temperature T). */
int ss_mutual_consistency(ss_graph *g, int n, const int *probs, float T);

/* Laine & Aila sigmoid ramp-up: 1 when length == 0, else
 * exp(-5 (1 - clip(t, 0, L)/L)^2). */
double ss_sigmoid_rampup(double t, double length);

/* Which iteration index enters the ramp: [MC]/[FBA] increment the counter
 * before computing the weight (ONE_BASED: the i-th step uses i), [UAMT]/[DTC]/
 * [SASS] compute it before incrementing (ZERO_BASED: the i-th step uses i-1). */
typedef enum ss_ramp_index { SS_RAMP_ONE_BASED = 0, SS_RAMP_ZERO_BASED } ss_ramp_index;
int ss_ramp_index_parse(const char *s, ss_ramp_index *out);

/* Consistency weight w_max * sigmoid_rampup(floor(k / every), length) for the
 * iter-th training step (iter >= 1; k = iter or iter - 1 per ix). The
 * protocols use every = 150, length = 40 (3-D) or 200 (SSL4MIS 2-D). */
double ss_ramp_weight(double w_max, long iter, int every, double length, ss_ramp_index ix);

#endif
