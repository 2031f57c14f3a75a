/* EMA teacher update (mean teacher): for every trainable parameter of the
 * teacher graph, the student parameter of the same name gives
 *   θ' <- α θ' + (1 - α) θ,   α = min(1 - 1/(step + 1), α_max)
 * as UA-MT / SSL4MIS update_ema_variables do (step = global step, counted
 * from 0 before the first update in [UAMT]). Only parameters are averaged;
 * the teacher's buffers (BN running statistics) are its own. */
#ifndef SS_EMA_H
#define SS_EMA_H

#include "harness/graph.h"

typedef struct ss_ema {
    ss_graph *teacher, *student;
    int n;
    int *t_param, *s_param;
    float *tbuf, *sbuf;
} ss_ema;

/* Pairs every parameter of teacher with the student tensor of the same name
 * (same shape); both graphs must be planned. Errors name a missing key. */
int ss_ema_init(ss_ema *e, ss_graph *teacher, ss_graph *student);
/* The decay for a given step: min(1 - 1/(step + 1), alpha_max). */
double ss_ema_alpha(long step, double alpha_max);
int ss_ema_update(ss_ema *e, double alpha);
/* Copies the student's parameters into the teacher (alpha = 0). */
int ss_ema_copy(ss_ema *e);
void ss_ema_free(ss_ema *e);

#endif
