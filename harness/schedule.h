/* Learning-rate schedules, as the reference scripts apply them. lr(it) is the
 * learning rate used by the it-th optimizer step (it = 1, 2, ...).
 *   constant  lr = base                                  (MC-Net, FBA-Net)
 *   step      lr = base * gamma^floor((it-1)/step_size) (UA-MT/DTC/SASSNet:
 *             after step t with t % 2500 == 0 the lr becomes base*0.1^(t/2500),
 *             so iterations 1..2500 use base, 2501..5000 base*0.1, ...)
 *   poly      lr = base * (1 - (it-1)/max_iter)^power   (SSL4MIS: set after each
 *             step from the finished iteration count)
 * An optional linear warm-up over the first warmup_iters steps scales the
 * schedule's value by start + (1 - start) * (it-1)/warmup_iters. */
#ifndef SS_SCHEDULE_H
#define SS_SCHEDULE_H

typedef enum ss_sched_kind { SS_SCHED_CONSTANT = 0, SS_SCHED_STEP, SS_SCHED_POLY } ss_sched_kind;

typedef struct ss_schedule {
    ss_sched_kind kind;
    double base;
    long step_size;  /* step: 2500 */
    double gamma;    /* step: 0.1 */
    double power;    /* poly: 0.9 */
    long max_iter;   /* poly */
    long warmup_iters;
    double warmup_start; /* factor at the first warm-up step */
} ss_schedule;

int ss_sched_kind_parse(const char *s, ss_sched_kind *out);
const char *ss_sched_kind_name(ss_sched_kind k);
/* Checks the fields for KIND (step_size > 0, max_iter > 0, ...). */
int ss_schedule_check(const ss_schedule *s);
double ss_schedule_lr(const ss_schedule *s, long it);

#endif
