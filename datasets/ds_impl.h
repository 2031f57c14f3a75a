/* Private parts of datasets/: the opened-root structure, the per-format
 * readers, list files, SHA-256, and the helpers the synthetic twins share.
 * Not for use outside datasets/ and its tests. */
#ifndef SS_DS_IMPL_H
#define SS_DS_IMPL_H

#include "datasets/dataset.h"
#include "harness/fileio.h" /* ss_mkdirs */

#include <stddef.h>
#include <stdint.h>

/* Which reader a dataset (or its twin) uses. */
typedef enum ds_format { DS_LA = 0, DS_PANCREAS, DS_ACDC, DS_KVASIR, DS_BRATS } ds_format;

/* BraTS case naming. */
enum { DS_BRATS_DEEPMEDIC = 1, DS_BRATS_STANDARD = 2 };

struct ss_dataset {
    const ss_dataset_info *info;
    ds_format fmt;
    char *root;
    char *list_path[SS_SPLIT_COUNT]; /* NULL when the root has no list for the split */
    char **ids[SS_SPLIT_COUNT];
    char **paths[SS_SPLIT_COUNT];    /* main file (HDF5, JPEG) or case folder (BraTS) */
    int *mode[SS_SPLIT_COUNT];       /* BraTS naming per row; 0 elsewhere */
    unsigned char *missing[SS_SPLIT_COUNT]; /* lenient open only: 1 = files absent */
    int n[SS_SPLIT_COUNT];
    char sha[65];
};

/* Opens like ss_dataset_open; with LENIENT, listed cases whose files are
 * absent are kept and flagged in ds->missing instead of failing the open. */
int ds_open(const char *name, const char *root, int lenient, ss_dataset **out);
ds_format ds_format_of(const ss_dataset_info *info);

/* ---- list files ------------------------------------------------------------ */
/* Reads one id per line: all whitespace (spaces, tabs, CR) is removed from
 * each line, empty lines are skipped. An empty list is an error (DATASET names
 * the dataset in messages). */
int ds_read_list(const char *dataset, const char *path, char ***ids, int *n);
void ds_free_list(char **ids, int n);
/* Patient prefix of an ACDC id ("patient012_frame01_slice_3" -> "patient012"). */
size_t ds_acdc_patient_len(const char *id);
/* ACDC first-N rule: rows covered by the first PATIENTS distinct patients of
 * IDS (in list order). */
int ds_acdc_patients_to_rows(const char *dataset, char *const *ids, int n, int patients,
                             int *rows);

/* ---- readers (fill OUT; id is set by the caller) ---------------------------- */
/* HDF5 with datasets `image` (float) and `label` (uint8 / integer / integral
 * float). RANK is the expected rank of both (2 or 3). With XYZ the arrays are
 * stored (x, y, z) = (W, H, D) in C order and are transposed to (D, H, W). */
int ds_read_h5(const char *dataset, const char *path, int rank, int xyz, int classes,
               ss_volume *out);
int ds_read_kvasir(const char *dataset, const char *image_path, const char *mask_path,
                   ss_volume *out);
int ds_read_brats(const char *dataset, const char *case_dir, const char *case_id, int mode,
                  int classes, ss_volume *out);
/* File names of a BraTS case: channel 0 = T1Gd, channel 1 = FLAIR, 2 = labels. */
void ds_brats_paths(const char *case_dir, const char *case_id, int mode, char paths[3][4096]);

/* One global lock around libhdf5 calls (readers may run on loader threads). */
void ds_h5_lock(void);
void ds_h5_unlock(void);

/* ---- SHA-256 (FIPS 180-2) ----------------------------------------------------- */
typedef struct ds_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
} ds_sha256;
void ds_sha256_init(ds_sha256 *s);
void ds_sha256_update(ds_sha256 *s, const void *data, size_t n);
void ds_sha256_final(ds_sha256 *s, uint8_t out[32]);
void ds_sha256_hex(const uint8_t d[32], char hex[65]);

/* ---- small file helpers -------------------------------------------------------- */
int ds_file_exists(const char *path); /* regular file */
int ds_dir_exists(const char *path);

/* ---- synthetic twins: shared pieces (synth_common.c) ---------------------------- */
/* Deterministic random stream: Philox keyed by seed, one stream per purpose. */
typedef struct sy_rng {
    uint64_t seed;
    uint32_t stream;
    uint64_t step;
    uint64_t n;        /* next element */
    uint64_t blk;      /* Philox block held in out[] (UINT64_MAX: none) */
    uint32_t out[4];
} sy_rng;
sy_rng sy_rng_make(uint64_t seed, uint32_t stream, uint64_t step);
double sy_uniform(sy_rng *r);                       /* [0, 1) */
double sy_range(sy_rng *r, double lo, double hi);   /* [lo, hi) */
int sy_int(sy_rng *r, int lo, int hi);              /* [lo, hi] */
double sy_normal(sy_rng *r);

/* Smooth random field: a sum of NW random plane waves with wavelengths at
 * least MINLEN voxels, scaled to amplitude ~1. */
typedef struct sy_field {
    int nw;
    double k[12][3], ph[12], a[12];
} sy_field;
void sy_field_make(sy_field *f, sy_rng *r, int nw, double minlen);
double sy_field_at(const sy_field *f, double z, double y, double x);
/* The field on the whole D x H x W grid (same values as sy_field_at up to
 * rounding, a few multiplies per voxel and wave). */
int sy_field_grid(const sy_field *f, int D, int H, int W, float *out);

/* Writers (deterministic bytes for identical input). */
int sy_write_list(const char *path, char *const *ids, int n);
/* HDF5 file with `image` (float32) and `label` (uint8, or float32 when
 * LABEL_FLOAT) of rank RANK and shape DIMS (C order), gzip level 1. */
int sy_write_h5(const char *path, int rank, const int *dims, const float *image,
                const uint8_t *label, int label_float);
/* NIfTI-1 (gz) volume of nx*ny*nz with x fastest; float32 or uint8 data. */
int sy_write_nifti(const char *path, int nx, int ny, int nz, const float *fdata,
                   const uint8_t *u8data);
int sy_write_png_gray(const char *path, int h, int w, const uint8_t *px);
int sy_write_jpeg_rgb(const char *path, int h, int w, const uint8_t *rgb, int quality);
/* HDF5 of a (D,H,W) volume stored (x, y, z) = (W, H, D) in C order (LA, Pancreas). */
int sy_write_h5_xyz(const char *path, int D, int H, int W, const float *image,
                    const uint8_t *label, int label_float);
/* One 3-D phantom case being built: image and label of D*H*W voxels and up
 * to four smooth-field grids (one allocation). */
typedef struct sy_case3 {
    int D, H, W;
    size_t n;
    float *img;
    uint8_t *lab;
    float *grid[4];
} sy_case3;
/* Allocates the case and fills grid[i] with fields[i] (i < NF); NAME
 * (the twin) prefixes the out-of-memory message. */
int sy_case3_alloc(sy_case3 *c, const char *name, int D, int H, int W, const sy_field *fields,
                   int nf);
void sy_case3_free(sy_case3 *c);
/* Z-scores the image, writes it and the label with sy_write_h5_xyz, frees the case. */
int sy_case3_finish(sy_case3 *c, const char *path, int label_float);
/* 3..5 axis-aligned ellipsoids: centres uniform in [0.1, 0.9) * LIM[a], semi-axes
 * uniform in [RLO, RHI) * RLIM[a], a value uniform in [VLO, VHI) each (drawn in that order). */
typedef struct sy_blobs {
    int n;
    double c[5][3], r[5][3], v[5];
} sy_blobs;
void sy_blobs_make(sy_blobs *b, sy_rng *r, const double lim[3], const double rlim[3], double rlo,
                   double rhi, double vlo, double vhi);
int sy_blob_has(const sy_blobs *b, int j, double z, double y, double x); /* inside blob j */
void sy_make_id20(sy_rng *r, char id[21]);
int sy_cmp_str(const void *a, const void *b); /* qsort on char * */
int sy_scaled(int base, double scale);        /* round(base * scale), at least 4 */
/* Z-score over all N values (population std). */
void sy_zscore(float *x, size_t n);
void sy_minmax01(float *x, size_t n);

int sy_synth_la(const char *out, uint64_t seed, double scale);
int sy_synth_pancreas(const char *out, uint64_t seed, double scale);
int sy_synth_acdc(const char *out, uint64_t seed, double scale);
int sy_synth_kvasir(const char *out, uint64_t seed, double scale);
int sy_synth_brats(const char *out, uint64_t seed, double scale);

#endif
