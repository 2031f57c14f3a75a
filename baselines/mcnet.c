/* MC-Net (v1, 2 decoders) and MC-Net+ (v2, 3 decoders): one shared encoder,
 * one decoder per upsampling mode, each decoder's probabilities pulled toward
 * the other decoders' sharpened probabilities ([MC] code/train_mcnet_3d.py,
 * train_mcnet_2d.py; protocol-3d.md §2.6, protocol-2d.md §1.8):
 *
 *   L = dice_weight * Σ_d Dice(P_d[labeled], y)            (no CE: logged only)
 *     + w(t) * Σ_{i != j} mse(P_i, S_T(P_j))               (whole batch, no stop-gradient)
 *     + cm_weight * L_cm                                   (method.cm = 1 / FBA-Net)
 *
 * with P_d = softmax of decoder d, S_T(p) = p^(1/T) / (p^(1/T) + (1-p)^(1/T))
 * per channel, w(t) = consistency * sigmoid_rampup(floor(t / ramp_every),
 * ramp_length) on the 1-based iteration t.
 *   3-D: Dice = Binary_dice_loss on the foreground channel, dice_weight 0.5
 *        (--lamda), consistency 1, ramp 40.
 *   2-D: Dice = the no-factor-2 DiceLoss averaged over every class (background
 *        included), dice_weight 1, consistency 0.1, ramp 200 (MC-Net+ 2-D).
 * The number of decoders is the number of "seg<d>" heads of model.name.
 *
 * The contrastive module (harness/contrastive.h) is added when method.cm = 1:
 * the model's own heads when it has them (fbanet3d "fg<d>"/"bg<d>", fbanet2d
 * "emb<d>_<c>"), otherwise attached to every decoder's logits under the keys
 * "decoder<d>." (the "+CM" of FBA-Net Table 2). L_cm is summed over decoders:
 * 3-D Σ_d [Lmax(f_d) + Lmax(b_d) + Lmin(f_d, b_d)]; 2-D (FBA) the per-class
 * form divided once by C(C-1) (upstream's 12 for 4 classes); with
 * method.contrast = infonce the per-decoder term is ss_infonce_groups (no
 * division). Labels are not used by the contrastive term.
 *
 * Free choices (spec keys): ce_weight 0 keeps CE out of the optimised loss
 * as upstream (> 0 adds Σ_d CE of the labeled rows); cm_dim is the
 * projection width (upstream --dim 128); tau (0.1) the InfoNCE temperature,
 * which no upstream code fixes; rank ties are broken by column index. */
#include "mcnet.h"

#include "harness/contrastive.h"
#include "harness/losses.h"
#include "kernels/error.h"
#include "methods/method.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEC 4

typedef struct mc {
    ss_graph *g;
    ss_nn nn;
    ss_model_cfg cfg;
    char model[64];
    ss_optim opt;
    int x, y, loss, dice, ce, cons, cm, cm_pos, cm_neg;
    int slot;
    int n_dec;
    double w_max, ramp_len;
    long ramp_every;
    ss_ramp_index ramp_ix;
} mc;

static int find_out(const ss_model_out *o, const char *name)
{
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->name[i], name))
            return o->t[i];
    return -1;
}

static int add_(ss_graph *g, int acc, int t) { return acc < 0 ? t : g_add(g, acc, t); }

/* The contrastive module's heads of every decoder: the model's own when it
 * has them, else attached under "decoder<d>.". Sets s->cm, cm_pos, cm_neg. */
static int build_cm(ss_train_ctx *c, mc *s, const ss_model_out *out, const int *seg,
                    const ss_cm_opts *o)
{
    ss_graph *g = s->g;
    ss_cm_heads h[MAX_DEC];
    for (int d = 0; d < s->n_dec; d++) {
        char nm[32];
        memset(&h[d], 0, sizeof h[d]);
        h[d].dims = c->dims;
        h[d].fg = h[d].bg = -1;
        if (c->dims == 3) {
            snprintf(nm, sizeof nm, "fg%d", d + 1);
            h[d].fg = find_out(out, nm);
            snprintf(nm, sizeof nm, "bg%d", d + 1);
            h[d].bg = find_out(out, nm);
        } else {
            for (int k = 0; k < c->classes && k < SS_CM_MAX_CLASSES; k++) {
                snprintf(nm, sizeof nm, "emb%d_%d", d + 1, k);
                h[d].emb[k] = find_out(out, nm);
                if (h[d].emb[k] >= 0)
                    h[d].n_emb = k + 1;
            }
        }
        int have = c->dims == 3 ? (h[d].fg >= 0 && h[d].bg >= 0) : h[d].n_emb == c->classes;
        if (!have) {
            snprintf(nm, sizeof nm, "decoder%d.", d + 1);
            if (ss_cm_attach(&s->nn, nm, seg[d], c->dims, c->classes, o->dim, &h[d]))
                return ss_seterr("%s: contrastive module: %s", s->model, graph_error(g));
        }
    }
    s->cm = ss_cm_loss_decoders(g, s->n_dec, h, &o->p, &s->cm_pos, &s->cm_neg);
    return s->cm < 0 ? ss_seterr("%s: %s", s->model, graph_error(g)) : SS_OK;
}

int ss_mcnet_build(ss_train_ctx *c)
{
    mc *s = calloc(1, sizeof *s);
    if (!s)
        return ss_seterr("mcnet: out of memory");
    c->priv = s;
    s->x = s->y = s->loss = s->dice = s->ce = s->cons = s->cm = s->cm_pos = s->cm_neg = -1;
    const ss_spec *sp = c->spec;
    const char *model, *form_s, *ix_s;
    long dropout, c0;
    double wdice, wce, T;
    ss_dice_form form;
    ss_cm_opts co;
    if (ss_spec_str(sp, "model.name", &model) ||
        ss_spec_long_or(sp, "model.dropout", 1, &dropout) ||
        ss_spec_str(sp, "method.dice", &form_s) || ss_dice_form_parse(form_s, &form) ||
        ss_spec_long(sp, "method.dice_first_class", &c0) ||
        ss_spec_double(sp, "method.dice_weight", &wdice) ||
        ss_spec_double(sp, "method.ce_weight", &wce) ||
        ss_spec_double(sp, "method.temperature", &T) ||
        ss_spec_double(sp, "method.consistency", &s->w_max) ||
        ss_spec_long(sp, "method.ramp_every", &s->ramp_every) ||
        ss_spec_double(sp, "method.ramp_length", &s->ramp_len) ||
        ss_spec_str(sp, "method.ramp_index", &ix_s) || ss_ramp_index_parse(ix_s, &s->ramp_ix) ||
        ss_cm_opts_from_spec(sp, &co))
        return SS_ERR;
    snprintf(s->model, sizeof s->model, "%s", model);
    const ss_model_info *mi = ss_model_find(s->model);
    if (!mi)
        return ss_seterr("mcnet: model.name = '%s' is not a registered model", s->model);
    if (mi->dims != c->dims)
        return ss_seterr("mcnet: model %s is %d-D but the dataset is %d-D", s->model, mi->dims,
                         c->dims);
    if (c0 < 0 || c0 >= c->classes)
        return ss_seterr("mcnet: method.dice_first_class = %ld, the dataset has %d classes", c0,
                         c->classes);
    if (!(T > 0) || s->ramp_every < 1 || s->ramp_len < 0)
        return ss_seterr("mcnet: method.temperature (%g) must be > 0, method.ramp_every (%ld) "
                         ">= 1, method.ramp_length (%g) >= 0", T, s->ramp_every, s->ramp_len);
    s->cfg = ss_model_defaults(s->model);
    s->cfg.in_ch = c->in_ch;
    s->cfg.classes = c->classes;
    s->cfg.has_dropout = dropout != 0;
    s->cfg.dim = co.dim;
    memcpy(s->cfg.patch, c->patch, sizeof c->patch);
    ss_graph *g = s->g = graph_new();
    if (!g)
        return ss_seterr("mcnet: out of memory");
    nn_begin(&s->nn, g, 1, c->seed);
    int n = c->batch, L = c->labeled_bs;
    s->x = g_input(g, "image", ss_shape5(n, c->in_ch, c->patch[0], c->patch[1], c->patch[2]));
    s->y = g_input(g, "label", ss_shape5(n, 1, c->patch[0], c->patch[1], c->patch[2]));
    ss_model_out out;
    memset(&out, 0, sizeof out);
    if (ss_model_build(&s->nn, &s->cfg, s->x, &out))
        return SS_ERR;
    int seg[MAX_DEC], prob[MAX_DEC];
    for (s->n_dec = 0; s->n_dec < MAX_DEC; s->n_dec++) {
        char nm[16];
        snprintf(nm, sizeof nm, "seg%d", s->n_dec + 1);
        if ((seg[s->n_dec] = find_out(&out, nm)) < 0)
            break;
    }
    if (s->n_dec < 2)
        return ss_seterr("mcnet: model %s has %d segmentation head(s); mutual consistency needs "
                         ">= 2 (mcnet3d_v1/v2, mcnet2d_v1/v2, fbanet3d, fbanet2d)",
                         s->model, s->n_dec);
    int yl = g_slice(g, s->y, 0, 0, L);
    for (int d = 0; d < s->n_dec; d++) {
        prob[d] = g_softmax(g, seg[d]);
        int dl = ss_loss_dice_mc(g, g_slice(g, prob[d], 0, 0, L), yl, c->classes, (int)c0, form);
        int ce = ss_loss_ce(g, g_slice(g, seg[d], 0, 0, L), yl);
        s->dice = add_(g, s->dice, dl);
        s->ce = add_(g, s->ce, ce);
    }
    s->cons = ss_mutual_consistency(g, s->n_dec, prob, (float)T);
    s->slot = g_scalar(g, "consistency_weight", 0.f);
    s->loss = g_add(g, g_scale(g, s->dice, (float)wdice, 0.f), g_scale_dyn(g, s->cons, s->slot));
    if (wce != 0)
        s->loss = g_add(g, s->loss, g_scale(g, s->ce, (float)wce, 0.f));
    if (co.on) {
        if (build_cm(c, s, &out, seg, &co))
            return SS_ERR;
        s->loss = g_add(g, s->loss, g_scale(g, s->cm, (float)co.weight, 0.f));
    }
    const int keep[] = {s->loss, s->dice, s->ce, s->cons, s->cm, s->cm_pos, s->cm_neg};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (keep[i] >= 0)
            graph_keep(g, keep[i]);
    if (s->loss < 0)
        return ss_seterr("mcnet: %s", graph_error(g));
    ss_optim_cfg oc;
    if (graph_backward(g, s->loss) || graph_plan(g, c->be, 0, c->log) ||
        nn_init_params(&s->nn) || ss_train_optim_cfg(sp, &oc) || ss_optim_init(&s->opt, g, &oc))
        return SS_ERR;
    return ss_train_add_net(c, "model", &s->nn) || ss_train_add_optim(c, "optimizer", &s->opt, 1);
}

static int term(mc *s, ss_loss_terms *t, const char *name, int h)
{
    if (h < 0)
        return SS_OK;
    float v;
    return graph_download(s->g, h, &v) || ss_terms_add(t, name, v) ? SS_ERR : SS_OK;
}

int ss_mcnet_step(ss_train_ctx *c, const ss_batch *b, long iter, ss_loss_terms *t)
{
    mc *s = c->priv;
    double w = ss_ramp_weight(s->w_max, iter, (int)s->ramp_every, s->ramp_len, s->ramp_ix);
    c->ramp = w;
    if (graph_set_scalar(s->g, s->slot, (float)w) || graph_upload(s->g, s->x, b->image) ||
        graph_upload(s->g, s->y, b->label) || graph_run(s->g) || ss_optim_step(&s->opt))
        return SS_ERR;
    return term(s, t, "loss", s->loss) || term(s, t, "dice", s->dice) ||
                   term(s, t, "ce", s->ce) || term(s, t, "cons", s->cons) ||
                   term(s, t, "cm", s->cm) || term(s, t, "cm_pos", s->cm_pos) ||
                   term(s, t, "cm_neg", s->cm_neg)
               ? SS_ERR
               : SS_OK;
}

int ss_mcnet_infer(ss_train_ctx *c, ss_infer_net *out)
{
    mc *s = c->priv;
    out->nn = &s->nn;
    out->cfg = s->cfg;
    out->head = "seg1";
    return SS_OK;
}

void ss_mcnet_destroy(ss_train_ctx *c)
{
    mc *s = c->priv;
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

#define MCNET_DEFAULTS(v3, v2)                                                                     \
    "[method]\n"                                                                                   \
    "cm = 0\n" SS_MCNET_METHOD_KEYS "[method:3d]\n"                                                \
    "dice = binary\n"                                                                              \
    "dice_first_class = 1\n"                                                                       \
    "dice_weight = 0.5\n"                                                                          \
    "[method:2d]\n"                                                                                \
    "dice = half\n"                                                                                \
    "dice_first_class = 0\n"                                                                       \
    "dice_weight = 1\n"                                                                            \
    "consistency = 0.1\n"                                                                          \
    "ramp_length = 200\n"                                                                          \
    "[model:3d]\n"                                                                                 \
    "name = " v3 "\n"                                                                              \
    "[model:2d]\n"                                                                                 \
    "name = " v2 "\n"                                                                              \
    "[data:2d]\n"                                                                                  \
    "batch = 24\n"                                                                                 \
    "labeled_bs = 12\n"

const ss_method ss_method_mcnet = {
    .name = "mcnet",
    .cite = "Wu et al., Semi-supervised left atrium segmentation with mutual consistency "
            "training, MICCAI 2021 ([MC] mcnet3d_v1 / mcnet2d_v1, train_mcnet_3d.py)",
    .defaults = MCNET_DEFAULTS("mcnet3d_v1", "mcnet2d_v1"),
    .build = ss_mcnet_build,
    .step = ss_mcnet_step,
    .infer_net = ss_mcnet_infer,
    .destroy = ss_mcnet_destroy,
};

const ss_method ss_method_mcnet_plus = {
    .name = "mcnet_plus",
    .cite = "Wu et al., Mutual consistency learning for semi-supervised medical image "
            "segmentation, MedIA 2022 ([MC] mcnet3d_v2 / mcnet2d_v2, train_mcnet_3d.py, "
            "train_mcnet_2d.py)",
    .defaults = MCNET_DEFAULTS("mcnet3d_v2", "mcnet2d_v2"),
    .build = ss_mcnet_build,
    .step = ss_mcnet_step,
    .infer_net = ss_mcnet_infer,
    .destroy = ss_mcnet_destroy,
};
