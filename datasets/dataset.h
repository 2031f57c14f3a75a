/* Datasets: fixed lists in the native layouts, the first-N labeled rule, the
 * two-stream sampler, augmentation and the batch loader. Layer: includes
 * kernels/ and harness/ only.
 *
 * Dataset names: "la", "pancreas", "acdc", "kvasir", "brats" and their synthetic
 * twins "synth-la", "synth-pancreas", "synth-acdc", "synth-kvasir", "synth-brats".
 * A twin is read by the same reader from a directory written by
 * ss_synth_write() (same layout, same list file names). */
#ifndef SS_DATASET_H
#define SS_DATASET_H

#include "harness/volume.h"

#include <stddef.h>
#include <stdint.h>

typedef enum ss_split { SS_SPLIT_TRAIN = 0, SS_SPLIT_VAL, SS_SPLIT_TEST, SS_SPLIT_COUNT } ss_split;

typedef enum ss_aug_kind {
    SS_AUG_NONE = 0,
    SS_AUG_LA,          /* RandomRotFlip + RandomCrop(patch) with the reference padding rule */
    SS_AUG_CROP,        /* RandomCrop(patch) only (Pancreas) */
    SS_AUG_ACDC_LEGACY, /* P 0.5 rot-flip, 0.25 rotate [-20,19] deg nearest, 0.25 none; zoom to patch */
    SS_AUG_ACDC_2025,   /* P 0.5 rot-flip, 0.5 rotate; zoom to patch */
} ss_aug_kind;

/* Protocol facts of one dataset (static; from the protocol documents). */
typedef struct ss_dataset_info {
    const char *name;
    const char *real;        /* the real dataset a twin stands for ("la" for "synth-la") */
    int dims;                /* 3: volumetric patches (V-Net); 2: slices (U-Net) */
    int in_channels;
    int classes;             /* including background */
    int patch[3];            /* training patch / network input, (D,H,W); D = 1 for 2-D */
    int stride[3];           /* sliding-window strides (D,H,W), 3-D only */
    ss_aug_kind aug;         /* protocol augmentation */
    ss_split select_split;   /* split used for checkpoint selection during training */
    const char *labeled_unit;/* "cases", "patients", "images" */
} ss_dataset_info;

typedef struct ss_dataset ss_dataset; /* an opened data root: lists + file paths */

const ss_dataset_info *ss_dataset_lookup(const char *name); /* NULL + error when unknown */
/* Names of all datasets, NULL-terminated. */
const char *const *ss_dataset_names(void);

/* Opens ROOT (reads the list files, checks that every listed file exists). */
int ss_dataset_open(const char *name, const char *root, ss_dataset **out);
void ss_dataset_close(ss_dataset *ds);
const ss_dataset_info *ss_dataset_info_of(const ss_dataset *ds);
const char *ss_dataset_root(const ss_dataset *ds);

int ss_dataset_count(const ss_dataset *ds, ss_split split);          /* rows in the list */
const char *ss_dataset_case(const ss_dataset *ds, ss_split split, int i);
/* Reads row i of SPLIT (checks dtype, rank, label values); caller frees with ss_volume_free. */
int ss_dataset_load(const ss_dataset *ds, ss_split split, int i, ss_volume *out);

/* First-N labeled rule: LABELED in the protocol's unit (LA cases, ACDC patients)
 * -> number of leading train rows that are labeled. Error when it exceeds the list. */
int ss_dataset_labeled_rows(const ss_dataset *ds, int labeled, int *rows);

/* SHA-256 (64 hex chars + NUL) over the list files used by this root, in split order. */
const char *ss_dataset_split_sha256(const ss_dataset *ds);

/* Writes the synthetic twin NAME ("synth-la", ...) into OUT_DIR, deterministic
 * in SEED; SCALE 1 = the default small size. */
int ss_synth_write(const char *name, const char *out_dir, uint64_t seed, double scale);

/* ---- two-stream sampler (labeled rows first) -------------------------------- */
typedef struct ss_sampler {
    int n_labeled, n_unlabeled; /* rows [0, n_labeled) are labeled, the rest unlabeled */
    int batch, labeled_bs;      /* labeled_bs == batch: labeled-only (supervised) */
    uint64_t seed;
    uint64_t cursor;            /* batches drawn so far: the whole resumable state */
    /* private caches */
    int *lperm, *uperm;
    int64_t lperm_epoch, uperm_key;
} ss_sampler;

int ss_sampler_init(ss_sampler *s, int n_labeled, int n_total, int batch, int labeled_bs,
                    uint64_t seed);
void ss_sampler_free(ss_sampler *s);
/* Fills ROWS[batch] with the next batch's train-row indices and advances the cursor. */
int ss_sampler_next(ss_sampler *s, int *rows);
void ss_sampler_seek(ss_sampler *s, uint64_t cursor);

/* ---- augmentation ------------------------------------------------------------ */
/* Augments IN to a patch of PATCH (D,H,W): writes C*pd*ph*pw image floats and
 * pd*ph*pw label floats (class ids; zeros when IN has no label). All randomness
 * from Philox keyed by (seed, stream, counter). */
int ss_augment(ss_aug_kind kind, const int patch[3], const ss_volume *in, uint64_t seed,
               uint64_t stream, uint64_t counter, float *image, float *label);

/* ---- batch loader: sampler + reads + augmentation on worker threads ----------- */
typedef struct ss_loader_opts {
    int labeled_rows;   /* leading train rows that are labeled */
    int batch, labeled_bs;
    int patch[3];
    ss_aug_kind aug;
    uint64_t seed;
    int workers;        /* worker threads (>= 1) */
    int prefetch;       /* batches prepared ahead (>= 1) */
    int cache;          /* keep every train case in memory after its first read */
} ss_loader_opts;

typedef struct ss_loader ss_loader;
int ss_loader_open(const ss_dataset *ds, const ss_loader_opts *o, ss_loader **out);
void ss_loader_close(ss_loader *l);
/* Next batch: IMAGE (batch, C, D, H, W) and LABEL (batch, 1, D, H, W) as floats;
 * unlabeled rows carry their (unused) labels when the files have them. */
int ss_loader_next(ss_loader *l, float *image, float *label);
uint64_t ss_loader_cursor(const ss_loader *l);      /* batches handed out so far */
int ss_loader_seek(ss_loader *l, uint64_t cursor); /* resume: the next batch is #cursor */

#endif
