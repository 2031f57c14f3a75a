/* The training core: one loop for every method. A method is a plugin
 * (ss_method) that builds its models and graphs from the resolved spec and
 * runs one training step on a batch; the loop owns batches, the lr schedule,
 * logging, periodic evaluation with best/last selection, checkpoints and
 * resume. Data and evaluation cases reach the loop through callbacks, so this
 * layer knows no dataset code.
 *
 * Spec keys read here (harness/experiment.h): train.iterations, train.optimizer,
 * train.lr, train.momentum, train.weight_decay, train.beta1/beta2/eps,
 * train.schedule, train.step_size, train.gamma, train.power,
 * train.warmup_iters, train.warmup_start, train.checkpoint_every,
 * train.log_every, eval.every, eval.start, eval.stride, eval.batch, eval.lcc.
 *
 * Iterations are 1-based: the i-th optimizer step is iteration i (the
 * [MC]/[FBA] iter_num after its increment). Evaluation runs after iteration i
 * when i >= eval.start and i % eval.every == 0. */
#ifndef SS_TRAIN_H
#define SS_TRAIN_H

#include "harness/evaluate.h"
#include "harness/experiment.h"
#include "harness/nn/model.h"
#include "harness/optim.h"

#include <stdint.h>
#include <stdio.h>

#define SS_TRAIN_MAX_NETS 8
#define SS_TRAIN_MAX_OPTS 4
#define SS_MAX_TERMS 16

/* One batch: rows [0, labeled_bs) carry labels, the rest are unlabeled. */
typedef struct ss_batch {
    int n, labeled_bs;
    int shape[4]; /* C, D, H, W of one item */
    float *image; /* n*C*D*H*W */
    float *label; /* n*D*H*W class ids (unlabeled rows: whatever the files hold) */
} ss_batch;

/* Batches from the outside (the CLI wraps ss_loader). next fills the loop's
 * buffers; cursor/seek make the stream resumable (batch #cursor comes next). */
typedef struct ss_data_source {
    void *ctx;
    int (*next)(void *ctx, ss_batch *b);
    uint64_t (*cursor)(void *ctx);
    int (*seek)(void *ctx, uint64_t cursor);
} ss_data_source;

/* Named scalar loss terms of one step, as the plugin reports them. */
typedef struct ss_loss_terms {
    int n;
    char name[SS_MAX_TERMS][24];
    double value[SS_MAX_TERMS];
} ss_loss_terms;
int ss_terms_add(ss_loss_terms *t, const char *name, double value);

/* The network evaluated for selection and test: a planned ss_nn of a
 * registry model, its config and the output head ("seg1" = decoder 1). */
typedef struct ss_infer_net {
    const ss_nn *nn;
    ss_model_cfg cfg;
    const char *head;
} ss_infer_net;

/* What a plugin sees. The loop fills the fields above `priv`; the plugin
 * registers its networks (for checkpoints and the dropout step counter) and
 * optimizers (checkpoints; `scheduled` ones get the lr schedule). */
typedef struct ss_train_ctx {
    const ss_spec *spec;
    const ss_backend *be;
    int dims, in_ch, classes;
    int patch[3];          /* data.patch (D,H,W) */
    int batch, labeled_bs; /* as the data source delivers them */
    uint64_t seed;
    long iterations;
    FILE *log;             /* train.log (plugins may add lines) */
    double ramp;           /* the plugin's current ramp weight (logged; NaN = none) */
    void *priv;            /* plugin state */
    int n_nets;
    char net_name[SS_TRAIN_MAX_NETS][32];
    ss_nn *nets[SS_TRAIN_MAX_NETS];
    int n_opts;
    char opt_name[SS_TRAIN_MAX_OPTS][32];
    ss_optim *opts[SS_TRAIN_MAX_OPTS];
    int opt_scheduled[SS_TRAIN_MAX_OPTS];
} ss_train_ctx;

int ss_train_add_net(ss_train_ctx *c, const char *name, ss_nn *nn);
int ss_train_add_optim(ss_train_ctx *c, const char *name, ss_optim *o, int scheduled);
/* The optimizer of train.* (kind, lr, momentum, weight decay, Adam betas/eps). */
int ss_train_optim_cfg(const ss_spec *s, ss_optim_cfg *out);

/* A plugin. defaults: INI text (its [method] keys are declared by it; tagged
 * sections [train:3d], [method:2d] apply per dataset dimensionality).
 * labeled_only: the loop's batches hold labeled rows only (batch = the
 * spec's labeled_bs). build: models, graphs, plan, init, optimizers.
 * step: one training step on b for iteration iter (1-based), reporting its
 * loss terms (the first one is the total). infer_net: what is evaluated.
 * pretrain (optional): a stage before the loop. destroy: frees priv. */
typedef struct ss_method {
    const char *name;
    const char *cite;
    const char *defaults;
    int labeled_only;
    int (*build)(ss_train_ctx *c);
    int (*step)(ss_train_ctx *c, const ss_batch *b, long iter, ss_loss_terms *terms);
    int (*infer_net)(ss_train_ctx *c, ss_infer_net *out);
    int (*pretrain)(ss_train_ctx *c, const ss_data_source *d);
    void (*destroy)(ss_train_ctx *c);
} ss_method;

/* Loop options. run_dir must exist; the loop writes train.log,
 * checkpoints/{last,best}.h5 (+ .weights.h5 state dicts of the inference
 * net) and, after the last iteration, best/ and last/ with metrics.csv and
 * summary.json on the test cases. */
typedef struct ss_train_opts {
    const ss_method *method;
    const ss_spec *spec;
    const char *spec_text;   /* the resolved spec stored in checkpoints */
    const char *run_dir;
    int dims, in_ch, classes;
    uint64_t seed;
    const ss_backend *backend; /* NULL = ss_backend_default() */
    ss_data_source data;
    ss_case_source select_cases; /* n = 0: no evaluation during training */
    const char *select_split;    /* "val" / "test" (for the log and summary) */
    int select_is_test;          /* select_cases are test_cases: the final test evaluations
                                  * reuse the selection results of the same iterations */
    ss_case_source test_cases;   /* n = 0: no final evaluation */
    ss_eval_meta meta;           /* dataset, split sha256 ... for summary.json */
    int resume;                  /* continue from run_dir/checkpoints/last.h5 */
    long stop_after;             /* > 0: return after this iteration's checkpoint (tests) */
    int progress;                /* -1 auto (a bar when stderr is a TTY), 0 off, 1 lines */
    struct ss_train_result *result; /* optional: filled at the end */
} ss_train_opts;

/* Outcome of a finished run (test-set mean Dice NaN when not evaluated). */
typedef struct ss_train_result {
    long iterations, best_iter;
    double first_loss, last_loss; /* first logged and last iteration's total loss */
    double seconds;
    double test_dice_best, test_dice_last;
} ss_train_result;

int ss_train_run(const ss_train_opts *o);

/* Batch size and labeled rows per step for METHOD under SPEC: data.batch and
 * data.labeled_bs, or labeled_bs for both when the method is labeled-only. */
int ss_train_batch_shape(const ss_method *m, const ss_spec *s, int *batch, int *labeled_bs);

#endif
