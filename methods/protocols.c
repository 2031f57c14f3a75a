/* Protocol spec texts and profiles (see method.h). Constants from
 * ../shared/reference/protocol-3d.md §3.1, §5.3 and protocol-2d.md §1.5-1.10,
 * §5.3: the Table-1 recipe (MC-Net+/FBA-Net) is SGD lr 0.01 momentum 0.9
 * weight decay 1e-4 with a constant lr; 15000 iterations with batch 2+2 in
 * 3-D, 30000 with batch 8+8 (FBA-Net 2-D) on ACDC; evaluation every 200
 * iterations from 800, seed 1337. Methods override what differs. */
#include "method.h"

#include "kernels/error.h"

#include <string.h>

#define COMMON_TRAIN                                                                               \
    "[train]\n"                                                                                    \
    "optimizer = sgd\n"                                                                            \
    "lr = 0.01\n"                                                                                  \
    "momentum = 0.9\n"                                                                             \
    "weight_decay = 0.0001\n"                                                                      \
    "schedule = constant\n"                                                                        \
    "step_size = 2500\n"                                                                           \
    "gamma = 0.1\n"                                                                                \
    "power = 0.9\n"                                                                                \
    "warmup_iters = 0\n"                                                                           \
    "warmup_start = 1\n"                                                                           \
    "seed = 1337\n"                                                                                \
    "backend = auto\n"                                                                             \
    "checkpoint_every = 1000\n"                                                                    \
    "log_every = 50\n"                                                                             \
    "[eval]\n"                                                                                     \
    "every = 200\n"                                                                                \
    "start = 800\n"                                                                                \
    "batch = 4\n"                                                                                  \
    "lcc = 0\n"                                                                                    \
    "[data]\n"                                                                                     \
    "workers = 2\n"                                                                                \
    "prefetch = 2\n"                                                                               \
    "cache = 1\n"

static const char proto_3d[] = COMMON_TRAIN "[data]\n"
                                            "batch = 4\n"
                                            "labeled_bs = 2\n"
                                            "[model]\n"
                                            "name = vnet\n"
                                            "dropout = 1\n"
                                            "[train]\n"
                                            "iterations = 15000\n";

static const char proto_acdc[] = COMMON_TRAIN "[data]\n"
                                              "batch = 16\n"
                                              "labeled_bs = 8\n"
                                              "[model]\n"
                                              "name = unet\n"
                                              "dropout = 1\n"
                                              "[train]\n"
                                              "iterations = 30000\n";

const char *ss_protocol_text(const char *real)
{
    if (!strcmp(real, "la") || !strcmp(real, "pancreas"))
        return proto_3d;
    if (!strcmp(real, "acdc"))
        return proto_acdc;
    ss_seterr("no training protocol for dataset '%s' yet (known: la, pancreas, acdc)", real);
    return NULL;
}

/* Smoke: the same code path in minutes on 2 CPU cores. V-Net patches must be
 * multiples of 16 per axis, U-Net inputs multiples of 16. 3-D: 60 iterations
 * on 16x32x32 patches, non-overlapping evaluation windows, evaluation every 20
 * (every 30 on the real LA volumes, whose evaluation dominates); 2-D: 200
 * iterations of 4+4 slices at 64x64, evaluation every 50. */
static const char smoke[] = "[train]\n"
                            "iterations = 60\n"
                            "checkpoint_every = 20\n"
                            "log_every = 5\n"
                            "[eval]\n"
                            "every = 20\n"
                            "start = 20\n"
                            "batch = 4\n"
                            "[data]\n"
                            "batch = 4\n"
                            "labeled_bs = 2\n"
                            "workers = 1\n"
                            "[data:3d]\n"
                            "patch = 16,32,32\n"
                            "[eval:3d]\n"
                            "stride = 16,32,32\n"
                            "[eval:la]\n"
                            "every = 30\n"
                            "start = 30\n"
                            "[data:2d]\n"
                            "patch = 1,64,64\n"
                            "batch = 8\n"
                            "labeled_bs = 4\n"
                            "[train:2d]\n"
                            "iterations = 200\n"
                            "checkpoint_every = 50\n"
                            "log_every = 10\n"
                            "[eval:2d]\n"
                            "every = 50\n"
                            "start = 50\n";

const char *ss_profile_text(const char *profile)
{
    if (!strcmp(profile, "paper"))
        return "";
    if (!strcmp(profile, "smoke"))
        return smoke;
    ss_seterr("unknown profile '%s' (expected paper or smoke)", profile);
    return NULL;
}
