/* Timing of one training step's compute (forward + backward, no optimizer
 * update) of a registry model on a backend, for CPU vs GPU comparisons such as
 * a V-Net on batch 4 of 112x112x80 patches:
 *   ss_bench_opts o = {"vnet", 4, {112, 112, 80}, 1, 5, 0, NULL};
 *   ss_bench_model(ss_backend_cuda(), &o, &r);
 * The loss is cross-entropy of the model's first output against random 0/1
 * labels; inputs are uniform noise. Nothing is printed unless o->timing asks
 * for the per-node table (written to o->log, stderr when NULL). */
#ifndef SS_BENCH_MODEL_H
#define SS_BENCH_MODEL_H

#include "kernels/backend.h"

#include <stddef.h>
#include <stdio.h>

typedef struct ss_bench_opts {
    const char *model; /* registry name (harness/nn/model.h), e.g. "vnet" */
    int batch;
    int patch[3];      /* D, H, W (PyTorch's last three dims) */
    int warmup;        /* untimed steps first (algorithm search, allocations) */
    int iters;         /* timed steps (>= 1) */
    int timing;        /* 1: per-node timing table (ms/call averaged over warm-up
                        * and timed steps) */
    FILE *log;
} ss_bench_opts;

typedef struct ss_bench_result {
    double mean_s, min_s; /* seconds per forward+backward step */
    size_t act_bytes;     /* planned activation arena */
    long long params;     /* trainable parameters */
    int nodes;            /* graph nodes (forward and backward) */
} ss_bench_result;

/* SS_OK, or SS_ERR with a message naming the model, shape or backend. */
int ss_bench_model(const ss_backend *be, const ss_bench_opts *o, ss_bench_result *r);

#endif
