/* Training checkpoints (HDF5), everything a bit-exact resume needs:
 *   /nets/<net>/<key>            every parameter and buffer of each registered
 *                                network (flat float32, graph order)
 *   /optim/<opt>/<slot>/<param>  optimizer state (momentum_buffer, exp_avg,
 *                                exp_avg_sq); attributes steps, lr
 *   /spec                        the resolved spec text
 *   root attributes              format, method, iteration, cursor (batches
 *                                drawn: the sampler, augmentation and loader
 *                                state), best_score, best_iter
 * Every random stream is a counter-based Philox function of (seed, stream,
 * counter): dropout's counter is the iteration, augmentation's the batch
 * cursor, so these two numbers restore every RNG. Files are written to
 * "<path>.tmp", synced and renamed. */
#ifndef SS_CHECKPOINT_H
#define SS_CHECKPOINT_H

#include "harness/train.h"

#include <stdint.h>

#define SS_CKPT_FORMAT 1

typedef struct ss_ckpt_meta {
    char method[64];
    long iteration;
    uint64_t cursor;
    double best_score; /* -1 when no evaluation happened yet */
    long best_iter;
} ss_ckpt_meta;

int ss_checkpoint_save(const char *path, const ss_train_ctx *c, const ss_ckpt_meta *m,
                       const char *spec_text);
/* Restores the registered networks (and, unless weights_only, optimizers)
 * of c from path and fills m. Checks the method name, every key and every
 * size first; a damaged or foreign file is an error naming the file and what
 * is wrong, and leaves c untouched. */
int ss_checkpoint_load(const char *path, ss_train_ctx *c, ss_ckpt_meta *m, int weights_only);
/* Reads the stored spec text (malloc'd) and method name. */
int ss_checkpoint_spec(const char *path, char **text, char method[64]);

#endif
