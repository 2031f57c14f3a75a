/* Whole-model training-step graphs for the tests (tests/train_step.h). */
#include "train_step.h"

#include "kernels/backend.h"
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S5 ss_shape5

void tu_step_build(tu_step *t, const char *model, int n, const int p[3], int flags)
{
    tu_step_build_seed(t, model, n, p, flags, 5);
}

void tu_step_build_seed(tu_step *t, const char *model, int n, const int p[3], int flags,
                        uint64_t seed)
{
    t->g = graph_new();
    nn_begin(&t->m, t->g, 1, seed);
    ss_model_cfg cfg = ss_model_defaults(model);
    memcpy(cfg.patch, p, sizeof cfg.patch);
    ss_shape s = S5(n, cfg.in_ch, p[0], p[1], p[2]);
    int x = g_input(t->g, "image", s);
    int lab = g_input(t->g, "label", S5(n, 1, p[0], p[1], p[2]));
    ss_model_out out = {0};
    TU_OK(ss_model_build(&t->m, &cfg, x, &out));
    t->loss = g_ce(t->g, out.t[0], lab, -100);
    graph_keep(t->g, t->loss);
    TU_OK(graph_backward(t->g, t->loss));
    TU_OK(graph_plan(t->g, ss_backend_cpu(), SS_PLAN_QUIET | flags, NULL));
    TU_OK(nn_init_params(&t->m));
    size_t nx = (size_t)ss_numel(&s), nl = nx / (size_t)cfg.in_ch;
    float *img = tu_alloc(nx), *lb = tu_alloc(nl);
    tu_fill_uniform(img, nx, -1.f, 1.f, 77);
    for (size_t i = 0; i < nl; i++)
        lb[i] = (float)((int)(fabsf(img[i]) * (float)cfg.classes) % cfg.classes);
    TU_OK(graph_upload(t->g, x, img));
    TU_OK(graph_upload(t->g, lab, lb));
    graph_set_step(t->g, 3);
    free(img);
    free(lb);
}

float *tu_step_state(tu_step *t, size_t *n)
{
    size_t tot = 1;
    for (int pass = 0; pass < 2; pass++) {
        float *v = pass ? tu_alloc(tot) : NULL, *p = v;
        if (pass) {
            TU_OK(graph_download(t->g, t->loss, p++));
        }
        for (int i = 0; i < graph_n_tensors(t->g); i++) {
            int role = graph_role(t->g, i);
            int src = role == SS_ROLE_PARAM ? graph_grad(t->g, i) : role == SS_ROLE_BUFFER ? i : -1;
            if (src < 0)
                continue;
            ss_shape sh = graph_shape(t->g, src);
            if (pass) {
                TU_OK(graph_download(t->g, src, p));
                p += ss_numel(&sh);
            } else {
                tot += (size_t)ss_numel(&sh);
            }
        }
        if (pass) {
            *n = tot;
            return v;
        }
    }
    return NULL;
}

void tu_step_free(tu_step *t)
{
    nn_end(&t->m);
    graph_free(t->g);
}
