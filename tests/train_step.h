/* Whole-model training-step graphs for the tests: a registry model on an
 * (n, in_ch, p) input, cross-entropy of head 1 against labels derived from the
 * image, backward, planned on the CPU backend with the given SS_PLAN_* flags,
 * PyTorch-default weights (drawn with seed 5, or `seed` for
 * tu_step_build_seed), step 3. */
#ifndef SS_TESTS_TRAIN_STEP_H
#define SS_TESTS_TRAIN_STEP_H

#include "harness/graph.h"
#include "harness/nn/model.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tu_step {
    ss_graph *g;
    ss_nn m;
    int loss;
} tu_step;

void tu_step_build(tu_step *t, const char *model, int n, const int p[3], int flags);
void tu_step_build_seed(tu_step *t, const char *model, int n, const int p[3], int flags,
                        uint64_t seed);
/* The loss, every parameter's gradient and every buffer (running statistics)
 * after a run, concatenated (malloc'd); the count in *n. */
float *tu_step_state(tu_step *t, size_t *n);
void tu_step_free(tu_step *t);

#endif
