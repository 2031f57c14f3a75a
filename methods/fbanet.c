/* FBA-Net: MC-Net+ (three decoders, sharpened mutual consistency) plus the
 * foreground/background contrastive module on every decoder ([FBA]
 * code/train_3d.py, code/train_2d.py, code/utils/losses.py; protocol-3d.md
 * §1.7, §2.7, protocol-2d.md §5). The step is baselines/mcnet.c with
 * method.cm = 1 on the fbanet3d / fbanet2d models:
 *   3-D  L = 0.5 Σ_d Dice_d + w(t) Σ_{i!=j} mse(P_i, S(P_j))
 *            + Σ_d [Lmax(f_d) + Lmax(b_d) + Lmin(f_d, b_d)]
 *   2-D  L = Σ_d Dice_d + w(t) Σ_{i!=j} mse(P_i, S(P_j)) + L_contra / 12
 * with Lmax alpha 0.25, Lmin alpha 2.5, similarities clamped to
 * [0.0005, 0.9995], the contrastive term unweighted and unramped, w(t) =
 * sigmoid_rampup(floor(t/150), 40) on the 1-based iteration in both forms
 * (2-D: consistency 1, ramp 40, unlike MC-Net+ 2-D). The contrastive term
 * uses every batch item, labeled and unlabeled, and no labels.
 * method.contrast = infonce swaps the FBA loss for a multi-positive InfoNCE
 * (Table 3; harness/contrastive.h). */
#include "baselines/mcnet.h"
#include "methods/method.h"

const ss_method ss_method_fbanet = {
    .name = "fbanet",
    .cite = "Chung et al., FBA-Net: Foreground and background aware contrastive learning for "
            "semi-supervised atrium segmentation, 2023 ([FBA] train_3d.py, train_2d.py)",
    .defaults = "[method]\n"
                "cm = 1\n" SS_MCNET_METHOD_KEYS "[method:3d]\n"
                "dice = binary\n"
                "dice_first_class = 1\n"
                "dice_weight = 0.5\n"
                "[method:2d]\n"
                "dice = half\n"
                "dice_first_class = 0\n"
                "dice_weight = 1\n"
                "[model:3d]\n"
                "name = fbanet3d\n"
                "[model:2d]\n"
                "name = fbanet2d\n"
                "[data:2d]\n"
                "batch = 16\n"
                "labeled_bs = 8\n",
    .build = ss_mcnet_build,
    .step = ss_mcnet_step,
    .infer_net = ss_mcnet_infer,
    .destroy = ss_mcnet_destroy,
};
