/* The mutual-consistency training step shared by MC-Net, MC-Net+ and
 * FBA-Net (baselines/mcnet.c): plugins fill an ss_method with these
 * functions and their own defaults text. */
#ifndef SS_MCNET_H
#define SS_MCNET_H

#include "harness/contrastive.h"
#include "harness/train.h"

int ss_mcnet_build(ss_train_ctx *c);
int ss_mcnet_step(ss_train_ctx *c, const ss_batch *b, long iter, ss_loss_terms *t);
int ss_mcnet_infer(ss_train_ctx *c, ss_infer_net *out);
void ss_mcnet_destroy(ss_train_ctx *c);

/* [method] keys every mutual-consistency plugin declares (INI lines), for
 * the plugins' defaults texts. */
#define SS_MCNET_METHOD_KEYS                                                                       \
    "temperature = 0.1\n"                                                                          \
    "consistency = 1\n"                                                                            \
    "ramp_every = 150\n"                                                                           \
    "ramp_length = 40\n"                                                                           \
    "ramp_index = one_based\n"                                                                     \
    "ce_weight = 0\n" SS_CM_SPEC_KEYS

#endif
