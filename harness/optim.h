/* Optimisers over the trainable parameters of a planned graph, with the
 * semantics of PyTorch's torch.optim (single-tensor, CPU):
 *   SGD  d = g + wd*w; v = mu*v + d (v = d on the first step); w -= lr*v
 *        (w -= lr*d without momentum)
 *   Adam g' = g + wd*w (L2 added to the gradient); m = b1*m + (1-b1)*g';
 *        v = b2*v + (1-b2)*g'^2; w -= (lr / (1 - b1^t)) * m / (sqrt(v)/sqrt(1 - b2^t) + eps)
 * The state (moment buffers per parameter, step count) is exposed for
 * checkpoints: ss_optim_state() lists its buffers by name. */
#ifndef SS_OPTIM_H
#define SS_OPTIM_H

#include "harness/graph.h"

typedef enum ss_optim_kind { SS_OPTIM_SGD = 0, SS_OPTIM_ADAM } ss_optim_kind;

typedef struct ss_optim_cfg {
    ss_optim_kind kind;
    double lr;
    double momentum;     /* SGD */
    double weight_decay; /* both */
    double beta1, beta2, eps; /* Adam */
} ss_optim_cfg;

typedef struct ss_optim {
    ss_optim_cfg cfg;
    ss_graph *g;
    int n;            /* tracked parameters */
    int *param;       /* their graph tensors */
    float **m, **v;   /* SGD: m = momentum buffer; Adam: m = exp_avg, v = exp_avg_sq */
    float *wbuf, *gbuf;
    long steps;
} ss_optim;

/* "sgd" / "adam"; -1 with an error otherwise. */
int ss_optim_kind_parse(const char *s, ss_optim_kind *out);
const char *ss_optim_kind_name(ss_optim_kind k);

/* Tracks every parameter of g that has a gradient (call after graph_plan). */
int ss_optim_init(ss_optim *o, ss_graph *g, const ss_optim_cfg *cfg);
int ss_optim_step(ss_optim *o);
void ss_optim_set_lr(ss_optim *o, double lr);
double ss_optim_lr(const ss_optim *o);
long ss_optim_steps(const ss_optim *o);
void ss_optim_set_steps(ss_optim *o, long steps);
void ss_optim_free(ss_optim *o);

/* State buffers for checkpoints: the number of buffers, and buffer i as
 * (graph tensor it belongs to, slot name "momentum_buffer" / "exp_avg" /
 * "exp_avg_sq", data of numel(shape of that tensor) floats). */
int ss_optim_n_state(const ss_optim *o);
int ss_optim_state(ss_optim *o, int i, int *tensor, const char **slot, float **data);

#endif
