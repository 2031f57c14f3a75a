/* SGD with momentum and weight decay applied as PyTorch's torch.optim.SGD:
 * d = g + wd*w; v = mu*v + d (v = d on the first step); w -= lr*v. */
#ifndef SS_OPTIM_SGD_H
#define SS_OPTIM_SGD_H

#include "graph.h"

typedef struct ss_sgd {
    ss_graph *g;
    int n;
    int *param;
    float **mom;
    float *wbuf, *gbuf;
    float lr, momentum, weight_decay;
    long steps;
} ss_sgd;

/* Tracks every parameter of g that has a gradient (call after graph_plan). */
int sgd_init(ss_sgd *o, ss_graph *g, float lr, float momentum, float weight_decay);
int sgd_step(ss_sgd *o);
void sgd_free(ss_sgd *o);

#endif
