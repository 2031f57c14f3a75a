/* EMA teacher update (see ema.h). */
#include "ema.h"

#include "kernels/error.h"

#include <stdlib.h>
#include <string.h>

int ss_ema_init(ss_ema *e, ss_graph *teacher, ss_graph *student)
{
    memset(e, 0, sizeof *e);
    e->teacher = teacher;
    e->student = student;
    int nt = graph_n_tensors(teacher);
    e->t_param = calloc((size_t)nt + 1, sizeof(int));
    e->s_param = calloc((size_t)nt + 1, sizeof(int));
    if (!e->t_param || !e->s_param)
        goto oom;
    size_t maxn = 1;
    for (int t = 0; t < nt; t++) {
        if (graph_role(teacher, t) != SS_ROLE_PARAM)
            continue;
        const char *name = graph_name(teacher, t);
        int s = graph_find(student, name);
        if (s < 0 || graph_role(student, s) != SS_ROLE_PARAM) {
            ss_ema_free(e);
            return ss_seterr("ema: teacher parameter '%s' has no student parameter of that name",
                             name);
        }
        ss_shape a = graph_shape(teacher, t), b = graph_shape(student, s);
        if (!ss_shape_eq(&a, &b)) {
            ss_ema_free(e);
            return ss_seterr("ema: parameter '%s' is %s in the teacher but %s in the student", name,
                             ss_shape_str(&a), ss_shape_str(&b));
        }
        if ((size_t)ss_numel(&a) > maxn)
            maxn = (size_t)ss_numel(&a);
        e->t_param[e->n] = t;
        e->s_param[e->n++] = s;
    }
    e->tbuf = malloc(maxn * sizeof(float));
    e->sbuf = malloc(maxn * sizeof(float));
    if (!e->tbuf || !e->sbuf)
        goto oom;
    return SS_OK;
oom:
    ss_ema_free(e);
    return ss_seterr("ema: out of memory");
}

double ss_ema_alpha(long step, double alpha_max)
{
    double a = 1.0 - 1.0 / ((double)step + 1.0);
    return a < alpha_max ? a : alpha_max;
}

int ss_ema_update(ss_ema *e, double alpha)
{
    float a = (float)alpha, b = (float)(1.0 - alpha);
    for (int i = 0; i < e->n; i++) {
        ss_shape s = graph_shape(e->teacher, e->t_param[i]);
        size_t n = (size_t)ss_numel(&s);
        if (graph_download(e->teacher, e->t_param[i], e->tbuf) ||
            graph_download(e->student, e->s_param[i], e->sbuf))
            return SS_ERR;
        /* PyTorch: ema.mul_(alpha).add_(param, alpha = 1 - alpha) */
        for (size_t k = 0; k < n; k++)
            e->tbuf[k] = e->tbuf[k] * a + e->sbuf[k] * b;
        if (graph_upload(e->teacher, e->t_param[i], e->tbuf))
            return SS_ERR;
    }
    return SS_OK;
}

int ss_ema_copy(ss_ema *e) { return ss_ema_update(e, 0.0); }

void ss_ema_free(ss_ema *e)
{
    free(e->t_param);
    free(e->s_param);
    free(e->tbuf);
    free(e->sbuf);
    memset(e, 0, sizeof *e);
}
