/* Weights as a PyTorch state_dict in HDF5: one dataset per key at the root
 * (dataset name = key, "block_one.conv.0.weight"), float32 with the PyTorch
 * shape (ss_nn_entry.rank/shape), plus "<bn>.num_batches_tracked" as a scalar
 * int64 per BatchNorm module. Format and a PyTorch loader: docs/weights.md.
 *
 * Also small whole-dataset HDF5 helpers (float arrays of any rank, written to
 * "<path>.tmp" and renamed into place) used by the CLI. Every error goes
 * through ss_seterr and names the file; HDF5's own error printing is off. */
#ifndef SS_WEIGHTS_H5_H
#define SS_WEIGHTS_H5_H

#include "harness/nn/nn.h"

#define SS_H5_MAX_RANK 8

/* Writes every entry of m (a planned graph) plus num_batches_tracked for each
 * BN module to "<path>.tmp", then renames it to path; on failure nothing is
 * left behind and path is untouched. */
int ss_weights_save(const ss_nn *m, const char *path, long long num_batches_tracked);

typedef struct ss_weights_stats {
    int loaded;  /* entries of m filled from the file */
    int missing; /* entries of m the file lacks (left as they were) */
    int extra;   /* datasets of the file m lacks (num_batches_tracked of m's BN modules excluded) */
} ss_weights_stats;

/* Fills every entry of m (a planned graph) from the dataset of its key. The
 * dataset must be floating point (float64 is converted) with exactly the
 * entry's PyTorch shape. strict = 1: a missing or an extra key is an error;
 * strict = 0: they are skipped and counted in st (when given). The file is
 * checked completely before anything is uploaded. num_batches_tracked keys of
 * m's BN modules are accepted and ignored. */
int ss_weights_load_stats(ss_nn *m, const char *path, int strict, ss_weights_stats *st);
/* As above; with strict = 0 and keys skipped, prints one line saying how many
 * to stderr. */
int ss_weights_load(ss_nn *m, const char *path, int strict);

/* Reads a whole floating-point dataset as float32 (malloc'd, caller frees);
 * writes its rank (<= SS_H5_MAX_RANK) and dims. NULL with a message naming
 * the file and dataset on failure. */
float *ss_h5_read_f32(const char *path, const char *name, int *rank,
                     long long dims[SS_H5_MAX_RANK]);

/* One float32 dataset to write. */
typedef struct ss_h5_array {
    const char *name;
    int rank;
    long long dims[SS_H5_MAX_RANK];
    const float *data;
} ss_h5_array;

/* Writes n datasets to "<path>.tmp" and renames it to path (nothing is left
 * behind on failure). */
int ss_h5_write_f32(const char *path, int n, const ss_h5_array *a);

#endif
