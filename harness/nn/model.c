/* The model registry. */
#include "model.h"

#include "kernels/error.h"

#include <stdio.h>
#include <string.h>

int ss_build_vnet(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
int ss_build_vnet_sdf(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
int ss_build_mcnet3d_v1(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
int ss_build_mcnet3d_v2(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
int ss_build_fbanet3d(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
int ss_build_sassnet_disc(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
int ss_build_unet(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
int ss_build_unet_deconv(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
int ss_build_mcnet2d_v1(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
int ss_build_mcnet2d_v2(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);
int ss_build_fbanet2d(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out);

static const ss_model_info g_models[] = {
    {"vnet", "V-Net, one transposed-conv decoder (UA-MT/DTC VNet keys)", 3, ss_build_vnet},
    {"vnet_sdf", "V-Net with tanh SDF head + seg head (DTC/SASSNet VNet keys)", 3, ss_build_vnet_sdf},
    {"mcnet3d_v1", "MC-Net: shared encoder, decoders up-mode 0 and 1 (MC-Net keys)", 3,
     ss_build_mcnet3d_v1},
    {"mcnet3d_v2", "MC-Net+: shared encoder, decoders up-mode 0, 1, 2 (MC-Net keys)", 3,
     ss_build_mcnet3d_v2},
    {"fbanet3d", "FBA-Net 3-D: MC-Net+ + fg/bg contrastive module per decoder (FBA keys)", 3,
     ss_build_fbanet3d},
    {"sassnet_disc", "SASSNet FC3DDiscriminator (input: SDM and image as 2 channels)", 3,
     ss_build_sassnet_disc},
    {"unet", "2-D U-Net, 1x1 conv + bilinear upsampling (SSL4MIS UNet keys)", 2, ss_build_unet},
    {"unet_deconv", "2-D U-Net, transposed-conv upsampling", 2, ss_build_unet_deconv},
    {"mcnet2d_v1", "MC-Net 2-D: shared encoder, decoders up-type 1 and 0", 2, ss_build_mcnet2d_v1},
    {"mcnet2d_v2", "MC-Net+ 2-D: shared encoder, decoders up-type 1, 0, 2", 2, ss_build_mcnet2d_v2},
    {"fbanet2d", "FBA-Net 2-D: three decoders + per-class contrastive module", 2, ss_build_fbanet2d},
    {NULL, NULL, 0, NULL},
};

const ss_model_info *ss_model_list(void) { return g_models; }

const ss_model_info *ss_model_find(const char *name)
{
    for (const ss_model_info *i = g_models; i->name; i++)
        if (!strcmp(i->name, name))
            return i;
    return NULL;
}

ss_model_cfg ss_model_defaults(const char *name)
{
    ss_model_cfg c = {0};
    c.name = name;
    c.in_ch = 1;
    c.classes = 2;
    c.norm = SS_NORM_BATCH;
    c.has_dropout = 1;
    c.dim = 128;
    const ss_model_info *i = ss_model_find(name);
    if (i && i->dims == 2) {
        c.classes = 4;
        c.patch[0] = 1;
        c.patch[1] = c.patch[2] = 256;
    } else {
        c.patch[0] = c.patch[1] = 112;
        c.patch[2] = 80;
    }
    return c;
}

int ss_model_add_out(ss_model_out *out, const char *name, int t)
{
    if (t < 0)
        return -1;
    if (out->n == SS_MODEL_MAX_OUT)
        return ss_seterr("model: too many outputs");
    out->t[out->n] = t;
    snprintf(out->name[out->n], sizeof out->name[0], "%s", name);
    out->n++;
    return t;
}

int ss_model_build(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    memset(out, 0, sizeof *out);
    const ss_model_info *i = cfg->name ? ss_model_find(cfg->name) : NULL;
    if (!i)
        return ss_seterr("model: unknown model '%s'", cfg->name ? cfg->name : "(null)");
    if (cfg->classes < 1 || cfg->in_ch < 1)
        return ss_seterr("model %s: classes and in_ch must be >= 1", i->name);
    if (i->build(m, cfg, x, out) < 0 || graph_error(m->g)) {
        char msg[768]; /* copy: the thread-local message is also the destination */
        snprintf(msg, sizeof msg, "%s", graph_error(m->g) ? graph_error(m->g) : semiseg_error());
        return ss_seterr("model %s: %s", i->name, msg);
    }
    return SS_OK;
}
