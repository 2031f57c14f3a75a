/* Test-set / validation evaluation: whole-volume inference (harness/infer.h)
 * and per-class metrics (harness/metrics.h) for every case of a source, the
 * per-class mean and standard deviation, the selection key (mean over classes
 * of the mean Dice), and the writers of metrics.csv and summary.json. Cases
 * come through a callback so that this layer knows no dataset code. */
#ifndef SS_EVALUATE_H
#define SS_EVALUATE_H

#include "harness/infer.h"
#include "harness/metrics.h"

#include <stdio.h>

/* N cases; load(ctx, i, out) fills case i (image and label; the caller of
 * ss_evaluate frees nothing: ss_evaluate frees each volume after use). */
typedef struct {
    void *ctx;
    int n;
    int (*load)(void *ctx, int i, ss_volume *out);
} ss_case_source;

typedef struct {
    ss_infer_opts infer;   /* inference (classes = K) */
    ss_empty_policy empty; /* empty-mask rule of the metrics */
    int use_spacing;       /* 1: metrics in the volumes' spacing; 0: unit spacing (the protocols) */
    const char *pred_dir;  /* when set, each prediction is written to <pred_dir>/<id>.h5 */
    FILE *log;             /* one progress line per case; NULL = quiet */
} ss_eval_opts;

typedef struct {
    int n_cases, classes;  /* metrics for classes 1..classes-1 */
    char (*ids)[128];      /* n_cases */
    double *seconds;       /* per case: inference + metrics */
    ss_metrics *m;         /* n_cases x (classes-1), case-major */
    ss_metrics *mean, *std;/* classes-1 each; population std (NumPy's default); NaN propagates */
    double mean_dice;      /* mean over classes of mean Dice: the checkpoint selection key */
    double total_seconds;
} ss_eval_result;

/* Describes the run in summary.json (NULL strings are written as null). */
typedef struct {
    const char *tag;          /* "best", "last", ... */
    const char *dataset;
    const char *split;        /* "test", "val" */
    const char *split_sha256; /* ss_dataset_split_sha256 of the data root */
    const char *model;
    const char *head;
    const char *weights;      /* file the weights came from, if any */
    long iteration;           /* training iteration; -1 = unknown */
} ss_eval_meta;

/* Runs inference and metrics on every case of SRC with the model F(CTX).
 * Cases must carry labels with values < K. On success RES is filled (free it
 * with ss_eval_result_free); on failure nothing is left to free. */
int ss_evaluate(const ss_eval_opts *o, const ss_case_source *src, ss_predict_fn f, void *ctx,
                ss_eval_result *res);
void ss_eval_result_free(ss_eval_result *r);

/* Writes DIR/metrics.csv (header case,class,dice,jaccard,hd95,asd,assd,asd_rcps;
 * one row per case and class) and DIR/summary.json (meta, options, per-class
 * mean and std, mean_dice, per-case values; NaN as null), each through a
 * ".tmp" file renamed into place. DIR must exist. */
int ss_eval_write(const ss_eval_result *r, const ss_eval_opts *o, const ss_eval_meta *meta,
                  const char *dir);

/* Writes a label map (D,H,W) as uint8 dataset "pred" (with a "spacing"
 * attribute) to PATH through PATH.tmp. */
int ss_write_label_h5(const char *path, const uint8_t *labels, const int dims[3],
                      const double spacing[3]);

#endif
