/* Networks by name. A builder adds a model's parameters, buffers and forward
 * nodes to the graph of an ss_nn (train or eval form) on input x and returns
 * its named outputs (every head: "seg1", "sdf", "fg1", ...). */
#ifndef SS_MODEL_H
#define SS_MODEL_H

#include "nn.h"

#define SS_MODEL_MAX_OUT 16

typedef struct ss_model_cfg {
    const char *name;  /* registry name, see ss_model_list() */
    int in_ch;         /* input channels (1 unless a dataset says otherwise) */
    int classes;       /* segmentation classes of each head */
    int norm;          /* ss_norm; SS_NORM_BATCH in every training script */
    int has_dropout;   /* Dropout layers exist (active only when the nn is in train mode) */
    int dim;           /* FBA-Net projection width (128) */
    int patch[3];      /* input spatial size (D, H, W); fixes FBA-Net's Linear fan-in */
} ss_model_cfg;

typedef struct ss_model_out {
    int n;
    int t[SS_MODEL_MAX_OUT];
    char name[SS_MODEL_MAX_OUT][32];
} ss_model_out;

typedef int (*ss_model_build_fn)(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);

typedef struct ss_model_info {
    const char *name;
    const char *about;   /* one line: which reference module it mirrors */
    int dims;            /* 2 or 3 */
    ss_model_build_fn build;
} ss_model_info;

/* Defaults for a model name (classes 2, in_ch 1, batch norm, dropout on, dim 128). */
ss_model_cfg ss_model_defaults(const char *name);
const ss_model_info *ss_model_find(const char *name);
/* NULL-terminated table of every model. */
const ss_model_info *ss_model_list(void);
/* Builds cfg->name on x; errors name the model. */
int ss_model_build(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
/* Appends an output (builders use this). */
int ss_model_add_out(ss_model_out *out, const char *name, int t);

#endif
