/* Minimal HDF5 reader for test fixtures: whole float datasets mapped onto
 * semiseg's 5-D shapes, and numeric attributes of the root group. Errors are
 * reported through semiseg_error() and name the file and the dataset. */
#ifndef SS_TEST_H5READ_H
#define SS_TEST_H5READ_H

#include "kernels/tensor.h"

typedef struct h5r_file h5r_file;

/* Opens a file read-only; NULL (message set) when it is missing or unreadable. */
h5r_file *h5r_open(const char *path);
void h5r_close(h5r_file *f);
const char *h5r_path(const h5r_file *f);
/* 1 when the dataset exists. */
int h5r_has(h5r_file *f, const char *name);
/* Reads a float dataset as float32 (malloc'd, caller frees). Rank 5 keeps its
 * dims, rank 1 (C) becomes (C,1,1,1,1), rank 0 becomes (1,1,1,1,1); other
 * ranks are an error. NULL with a message on failure. */
float *h5r_read(h5r_file *f, const char *name, ss_shape *shape);
/* Reads exactly n numbers from a root attribute (scalar when n == 1).
 * SS_OK or SS_ERR with a message. */
int h5r_attr_ints(h5r_file *f, const char *name, int *out, int n);
int h5r_attr_doubles(h5r_file *f, const char *name, double *out, int n);

#endif
