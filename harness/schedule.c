/* Learning-rate schedules (see schedule.h). */
#include "schedule.h"

#include "kernels/error.h"

#include <math.h>
#include <string.h>

int ss_sched_kind_parse(const char *s, ss_sched_kind *out)
{
    if (!strcmp(s, "constant"))
        *out = SS_SCHED_CONSTANT;
    else if (!strcmp(s, "step"))
        *out = SS_SCHED_STEP;
    else if (!strcmp(s, "poly"))
        *out = SS_SCHED_POLY;
    else
        return ss_seterr("lr schedule '%s' unknown (expected constant, step or poly)", s);
    return SS_OK;
}

const char *ss_sched_kind_name(ss_sched_kind k)
{
    return k == SS_SCHED_STEP ? "step" : k == SS_SCHED_POLY ? "poly" : "constant";
}

int ss_schedule_check(const ss_schedule *s)
{
    if (!(s->base >= 0))
        return ss_seterr("lr schedule: base lr must be >= 0, got %g", s->base);
    if (s->kind == SS_SCHED_STEP && (s->step_size <= 0 || !(s->gamma > 0)))
        return ss_seterr("lr schedule step: step_size (%ld) and gamma (%g) must be > 0",
                         s->step_size, s->gamma);
    if (s->kind == SS_SCHED_POLY && (s->max_iter <= 0 || !(s->power > 0)))
        return ss_seterr("lr schedule poly: max_iter (%ld) and power (%g) must be > 0",
                         s->max_iter, s->power);
    if (s->warmup_iters < 0 || !(s->warmup_start >= 0 && s->warmup_start <= 1))
        return ss_seterr("lr warm-up: iterations (%ld) must be >= 0 and start factor (%g) in [0, 1]",
                         s->warmup_iters, s->warmup_start);
    return SS_OK;
}

double ss_schedule_lr(const ss_schedule *s, long it)
{
    long done = it > 0 ? it - 1 : 0; /* steps finished before this one */
    double lr = s->base;
    switch (s->kind) {
    case SS_SCHED_CONSTANT:
        break;
    case SS_SCHED_STEP:
        lr = s->base * pow(s->gamma, (double)(done / s->step_size));
        break;
    case SS_SCHED_POLY: {
        double f = 1.0 - (double)done / (double)s->max_iter;
        lr = s->base * (f > 0 ? pow(f, s->power) : 0.0);
        break;
    }
    }
    if (s->warmup_iters > 0 && done < s->warmup_iters)
        lr *= s->warmup_start + (1.0 - s->warmup_start) * (double)done / (double)s->warmup_iters;
    return lr;
}
