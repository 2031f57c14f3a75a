/* An eval-mode graph of a registry model (BatchNorm with running statistics,
 * no dropout) on a fixed batch of patches, used as the ss_predict_fn of
 * whole-volume inference. The probabilities come from one named output head:
 * softmax over its channels, or for a one-channel head (DTC/SASSNet) the
 * sigmoid p as the two classes (1 - p, p). Weights come from a state-dict
 * file or are copied by key from another planned ss_nn (a training graph). */
#ifndef SS_PREDICTOR_H
#define SS_PREDICTOR_H

#include "harness/infer.h"
#include "harness/nn/model.h"

#include <stdio.h>

typedef struct ss_predictor ss_predictor;

typedef struct {
    ss_model_cfg cfg;          /* model; cfg.patch is the network input (D,H,W), D = 1 for 2-D */
    int batch;                 /* patches per graph run (>= 1) */
    const char *head;          /* output head name; NULL = "seg1" (decoder 1) */
    const ss_backend *backend; /* NULL = ss_backend_default() */
    FILE *log;                 /* graph memory line; NULL = quiet */
} ss_predictor_opts;

/* Builds and plans the graph. Parameters are PyTorch-default initialised
 * (seed 0) until weights are loaded or copied. Errors name the model and head. */
int ss_predictor_create(const ss_predictor_opts *o, ss_predictor **out);
void ss_predictor_free(ss_predictor *p);

/* Loads a state-dict HDF5 file (ss_weights_load; strict = 1: every key, no extras). */
int ss_predictor_load(ss_predictor *p, const char *path, int strict);
/* Copies every entry of the predictor's model from the entry of SRC with the
 * same key (a planned graph of the same model, e.g. the training graph). A
 * missing key or a different shape is an error. */
int ss_predictor_copy_from(ss_predictor *p, const ss_nn *src);

/* Probability channels the predictor produces (the head's channels, or 2 for
 * a one-channel sigmoid head). */
int ss_predictor_classes(const ss_predictor *p);
const ss_nn *ss_predictor_nn(const ss_predictor *p);

/* ss_predict_fn with ctx = an ss_predictor: n <= batch inputs of shape
 * (C, patch); a short batch is zero-filled up to the graph's batch. */
int ss_predictor_predict(void *ctx, int n, const int in_shape[4], const float *x, float *prob);

#endif
