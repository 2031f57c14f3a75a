/* Supervised baseline: the network trained on the labeled rows only with the
 * UA-MT supervised loss ce_weight*CE + dice_weight*Dice (0.5 each; [UAMT]
 * code/train_LA.py, protocol-3d.md §2.2). Dice is the squared-denominator
 * dice_loss on the foreground channel in 3-D and SSL4MIS's DiceLoss (the same
 * form averaged over every class, background included) in 2-D
 * (protocol-2d.md §1.8). Model: V-Net (3-D) or U-Net (2-D) per model.name.
 * Iterations and optimizer are those of the method it is compared with:
 * method.compare_with names a plugin whose train/data recipe is layered
 * under these defaults ("protocol": the dataset protocol's Table-1 recipe);
 * the batch is that recipe's labeled_bs. */
#include "harness/losses.h"
#include "kernels/error.h"
#include "methods/method.h"

#include <stdlib.h>
#include <string.h>

typedef struct sup {
    ss_graph *g;
    ss_nn nn;
    ss_model_cfg cfg;
    char model[64];
    char head[32];
    ss_optim opt;
    int x, y, loss, ce, dice;
} sup;

static int sup_build(ss_train_ctx *c)
{
    sup *s = calloc(1, sizeof *s);
    if (!s)
        return ss_seterr("supervised: out of memory");
    c->priv = s;
    const char *model, *form_s;
    long dropout, c0;
    double wce, wdice;
    ss_dice_form form;
    if (ss_spec_str(c->spec, "model.name", &model) ||
        ss_spec_long_or(c->spec, "model.dropout", 1, &dropout) ||
        ss_spec_str(c->spec, "method.dice", &form_s) || ss_dice_form_parse(form_s, &form) ||
        ss_spec_long(c->spec, "method.dice_first_class", &c0) ||
        ss_spec_double(c->spec, "method.ce_weight", &wce) ||
        ss_spec_double(c->spec, "method.dice_weight", &wdice))
        return SS_ERR;
    snprintf(s->model, sizeof s->model, "%s", model);
    const ss_model_info *mi = ss_model_find(s->model);
    if (!mi)
        return ss_seterr("supervised: model.name = '%s' is not a registered model", s->model);
    if (mi->dims != c->dims)
        return ss_seterr("supervised: model %s is %d-D but the dataset is %d-D", s->model, mi->dims,
                         c->dims);
    if (c0 < 0 || c0 >= c->classes)
        return ss_seterr("supervised: method.dice_first_class = %ld, the dataset has %d classes", c0,
                         c->classes);
    s->cfg = ss_model_defaults(s->model);
    s->cfg.in_ch = c->in_ch;
    s->cfg.classes = c->classes;
    s->cfg.has_dropout = dropout != 0;
    memcpy(s->cfg.patch, c->patch, sizeof c->patch);
    snprintf(s->head, sizeof s->head, "seg1");
    s->g = graph_new();
    nn_begin(&s->nn, s->g, 1, c->seed);
    int n = c->labeled_bs;
    s->x = g_input(s->g, "image", ss_shape5(n, c->in_ch, c->patch[0], c->patch[1], c->patch[2]));
    s->y = g_input(s->g, "label", ss_shape5(n, 1, c->patch[0], c->patch[1], c->patch[2]));
    ss_model_out out;
    if (ss_model_build(&s->nn, &s->cfg, s->x, &out))
        return SS_ERR;
    int logits = -1;
    for (int i = 0; i < out.n; i++)
        if (!strcmp(out.name[i], s->head))
            logits = out.t[i];
    if (logits < 0)
        return ss_seterr("supervised: model %s has no output '%s'", s->model, s->head);
    int prob = g_softmax(s->g, logits);
    s->ce = ss_loss_ce(s->g, logits, s->y);
    s->dice = ss_loss_dice_mc(s->g, prob, s->y, c->classes, (int)c0, form);
    s->loss = g_add(s->g, g_scale(s->g, s->ce, (float)wce, 0.f),
                    g_scale(s->g, s->dice, (float)wdice, 0.f));
    graph_keep(s->g, s->ce);
    graph_keep(s->g, s->dice);
    graph_keep(s->g, s->loss);
    if (s->loss < 0)
        return ss_seterr("supervised: %s", graph_error(s->g));
    ss_optim_cfg oc;
    if (graph_backward(s->g, s->loss) || graph_plan(s->g, c->be, 0, c->log) ||
        nn_init_params(&s->nn) || ss_train_optim_cfg(c->spec, &oc) ||
        ss_optim_init(&s->opt, s->g, &oc))
        return SS_ERR;
    return ss_train_add_net(c, "model", &s->nn) || ss_train_add_optim(c, "optimizer", &s->opt, 1);
}

static int sup_step(ss_train_ctx *c, const ss_batch *b, long iter, ss_loss_terms *t)
{
    (void)iter;
    sup *s = c->priv;
    /* rows [0, labeled_bs) are labeled; the batch holds only those */
    float l, ce, dice;
    if (graph_upload(s->g, s->x, b->image) || graph_upload(s->g, s->y, b->label) ||
        graph_run(s->g) || ss_optim_step(&s->opt) || graph_download(s->g, s->loss, &l) ||
        graph_download(s->g, s->ce, &ce) || graph_download(s->g, s->dice, &dice))
        return SS_ERR;
    return ss_terms_add(t, "loss", l) || ss_terms_add(t, "ce", ce) || ss_terms_add(t, "dice", dice);
}

static int sup_infer(ss_train_ctx *c, ss_infer_net *out)
{
    sup *s = c->priv;
    out->nn = &s->nn;
    out->cfg = s->cfg;
    out->head = s->head;
    return SS_OK;
}

static void sup_destroy(ss_train_ctx *c)
{
    sup *s = c->priv;
    if (!s)
        return;
    ss_optim_free(&s->opt);
    if (s->g) {
        nn_end(&s->nn);
        graph_free(s->g);
    }
    free(s);
    c->priv = NULL;
}

const ss_method ss_method_supervised = {
    .name = "supervised",
    .cite = "Yu et al., Uncertainty-aware self-ensembling model for semi-supervised 3D left atrium "
            "segmentation, MICCAI 2019 (code/train_LA.py: the supervised V-Net baseline)",
    .defaults = "[method]\n"
                "compare_with = protocol\n"
                "dice = squared\n"
                "ce_weight = 0.5\n"
                "dice_weight = 0.5\n"
                "[method:3d]\n"
                "dice_first_class = 1\n"
                "[method:2d]\n"
                "dice_first_class = 0\n",
    .labeled_only = 1,
    .build = sup_build,
    .step = sup_step,
    .infer_net = sup_infer,
    .destroy = sup_destroy,
};
