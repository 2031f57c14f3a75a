/* The V-Net family (protocol-3d.md §1.2-1.5, 1.7): UA-MT/DTC VNet, DTC's
 * VNet with an SDF head, MC-Net / MC-Net+ (shared encoder, one decoder per
 * upsampling mode) and FBA-Net 3-D (MC-Net+ with a foreground/background
 * contrastive module per decoder).
 *
 * Parameter names are the PyTorch state_dict keys of the reference modules.
 * Every block is an nn.Sequential called `conv`, so a key is
 * "<block>.conv.<index>.<field>" where the index counts every module in the
 * Sequential, parameterless ones (ReLU, InstanceNorm, Upsample) included:
 *   ConvBlock stage i:  conv at i*3 and norm at i*3+1 (i*2 and no norm when
 *                       normalization is none; ReLU follows each)
 *   Down, Up mode 0:    conv / transposed conv at 0, norm at 1
 *   Up mode 1, 2:       Upsample at 0, conv at 1, norm at 2 (MC-Net/FBA
 *                       Upsampling_function)
 * InstanceNorm3d (affine off, no running stats) has no keys; GroupNorm has
 * weight and bias; BatchNorm3d weight, bias, running_mean, running_var.
 * Modules are created in forward order, which is also their registration
 * order, so the entries follow the state_dict order. */
#include "model.h"

#include "kernels/error.h"

#include <stdio.h>

#define NF 16 /* n_filters */

static const int K1[3] = {1, 1, 1}, K2[3] = {2, 2, 2}, K3[3] = {3, 3, 3};
static const int P0[3] = {0, 0, 0}, P1[3] = {1, 1, 1};

/* Sequential index of stage `i`'s conv in a ConvBlock. */
static int stage_idx(int norm, int i) { return i * (norm == SS_NORM_NONE ? 2 : 3); }

static int norm_relu(ss_nn *m, int norm, const char *blk, int idx, int x, int c)
{
    char nm[96];
    snprintf(nm, sizeof nm, "%s.conv.%d", blk, idx);
    return g_relu(m->g, nn_norm(m, norm, nm, x, c));
}

/* ConvBlock(n, cin, cout): n x [Conv3d k3 p1 -> norm -> ReLU]. */
static int conv_block(ss_nn *m, const char *blk, int n, int cin, int cout, int norm, int x)
{
    char nm[96];
    for (int i = 0; i < n; i++) {
        int idx = stage_idx(norm, i);
        snprintf(nm, sizeof nm, "%s.conv.%d", blk, idx);
        x = nn_conv(m, nm, x, i ? cout : cin, cout, K3, K1, P1, 1, 0);
        x = norm_relu(m, norm, blk, idx + 1, x, cout);
    }
    return x;
}

/* DownsamplingConvBlock: Conv3d k2 s2 -> norm -> ReLU. */
static int down_block(ss_nn *m, const char *blk, int cin, int cout, int norm, int x)
{
    char nm[96];
    snprintf(nm, sizeof nm, "%s.conv.0", blk);
    x = nn_conv(m, nm, x, cin, cout, K2, K2, P0, 1, 0);
    return norm_relu(m, norm, blk, 1, x, cout);
}

/* Upsampling block: mode 0 ConvTranspose3d k2 s2; mode 1 trilinear x2
 * (align_corners) + Conv3d k3 p1; mode 2 nearest x2 + Conv3d k3 p1. */
static int up_block(ss_nn *m, const char *blk, int mode, int cin, int cout, int norm, int x)
{
    char nm[96];
    if (mode == 0) {
        snprintf(nm, sizeof nm, "%s.conv.0", blk);
        x = nn_deconv(m, nm, x, cin, cout, K2, K2, P0, 1, 0);
        return norm_relu(m, norm, blk, 1, x, cout);
    }
    if (x >= 0) {
        ss_shape s = graph_shape(m->g, x);
        int size[3] = {2 * s.d[SS_D], 2 * s.d[SS_H], 2 * s.d[SS_W]};
        x = g_upsample(m->g, x, mode == 1, mode == 1, size);
    }
    snprintf(nm, sizeof nm, "%s.conv.1", blk);
    x = nn_conv(m, nm, x, cin, cout, K3, K1, P1, 1, 0);
    return norm_relu(m, norm, blk, 2, x, cout);
}

static const char *const LEVEL[5] = {"one", "two", "three", "four", "five"};
static const int STAGES[5] = {1, 2, 3, 3, 3};

/* Shared encoder under prefix pre ("" or "encoder."); feats = x1..x5, x5
 * after the (shared) Dropout3d when has_dropout. */
static int encoder(ss_nn *m, const ss_model_cfg *cfg, const char *pre, int x, int feats[5])
{
    char nm[64];
    int cin = cfg->in_ch;
    for (int l = 0; l < 5; l++) {
        int c = NF << l;
        snprintf(nm, sizeof nm, "%sblock_%s", pre, LEVEL[l]);
        x = conv_block(m, nm, STAGES[l], l ? c : cin, c, cfg->norm, x);
        feats[l] = x;
        if (l < 4) {
            snprintf(nm, sizeof nm, "%sblock_%s_dw", pre, LEVEL[l]);
            x = down_block(m, nm, c, 2 * c, cfg->norm, x);
        }
    }
    if (cfg->has_dropout)
        feats[4] = nn_dropout(m, feats[4], 0.5f, 1);
    return feats[4];
}

/* One decoder under prefix pre; returns x9 (after its own Dropout3d). */
static int decoder(ss_nn *m, const ss_model_cfg *cfg, const char *pre, int mode,
                   const int feats[5])
{
    static const char *const UP[4] = {"five", "six", "seven", "eight"};
    static const char *const BLK[4] = {"six", "seven", "eight", "nine"};
    static const int NST[4] = {3, 3, 2, 1};
    char nm[64];
    int x = feats[4];
    for (int l = 0; l < 4; l++) {
        int cin = NF << (4 - l), cout = cin / 2;
        snprintf(nm, sizeof nm, "%sblock_%s_up", pre, UP[l]);
        x = up_block(m, nm, mode, cin, cout, cfg->norm, x);
        x = g_add(m->g, x, feats[3 - l]);
        snprintf(nm, sizeof nm, "%sblock_%s", pre, BLK[l]);
        x = conv_block(m, nm, NST[l], cout, cout, cfg->norm, x);
    }
    if (cfg->has_dropout)
        x = nn_dropout(m, x, 0.5f, 1);
    return x;
}

static int head(ss_nn *m, const char *name, int x, int classes)
{
    return nn_conv(m, name, x, NF, classes, K1, K1, P0, 1, 0);
}

/* Input checks shared by the family: channel count, norm kind, and spatial
 * dims divisible by 16 (four kernel-2 stride-2 downsamplings). */
static int check_input(ss_nn *m, const ss_model_cfg *cfg, int x)
{
    const char *name = cfg->name ? cfg->name : "vnet";
    if (x < 0)
        return graph_seterr(m->g, "%s: invalid input tensor", name);
    if (cfg->norm < SS_NORM_NONE || cfg->norm > SS_NORM_GROUP)
        return graph_seterr(m->g, "%s: unknown norm kind %d", name, cfg->norm);
    ss_shape s = graph_shape(m->g, x);
    if (s.d[SS_C] != cfg->in_ch)
        return graph_seterr(m->g, "%s: input %s has %d channels, cfg in_ch is %d", name,
                            ss_shape_str(&s), s.d[SS_C], cfg->in_ch);
    for (int i = SS_D; i <= SS_W; i++)
        if (s.d[i] < 16 || s.d[i] % 16)
            return graph_seterr(m->g,
                                "%s: input spatial size %dx%dx%d: every dim must be a multiple "
                                "of 16 (four stride-2 downsamplings)",
                                name, s.d[SS_D], s.d[SS_H], s.d[SS_W]);
    return SS_OK;
}

int ss_build_vnet(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    int f[5];
    if (check_input(m, cfg, x) < 0)
        return -1;
    encoder(m, cfg, "", x, f);
    int x9 = decoder(m, cfg, "", 0, f);
    return ss_model_add_out(out, "seg1", head(m, "out_conv", x9, cfg->classes)) < 0 ? -1 : SS_OK;
}

/* DTC VNet (vnet_sdf.py): out_conv -> tanh is the SDF head, out_conv2 the
 * segmentation head. */
int ss_build_vnet_sdf(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    int f[5];
    if (check_input(m, cfg, x) < 0)
        return -1;
    encoder(m, cfg, "", x, f);
    int x9 = decoder(m, cfg, "", 0, f);
    int sdf = g_tanh(m->g, head(m, "out_conv", x9, cfg->classes));
    if (ss_model_add_out(out, "sdf", sdf) < 0)
        return -1;
    return ss_model_add_out(out, "seg1", head(m, "out_conv2", x9, cfg->classes)) < 0 ? -1 : SS_OK;
}

/* MC-Net: "encoder." + n decoders "decoder<d>." with up-mode d-1. */
static int mcnet(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out, int n)
{
    int f[5];
    char pre[32], nm[64];
    if (check_input(m, cfg, x) < 0)
        return -1;
    encoder(m, cfg, "encoder.", x, f);
    for (int d = 1; d <= n; d++) {
        snprintf(pre, sizeof pre, "decoder%d.", d);
        int x9 = decoder(m, cfg, pre, d - 1, f);
        snprintf(nm, sizeof nm, "decoder%d.out_conv", d);
        snprintf(pre, sizeof pre, "seg%d", d);
        if (ss_model_add_out(out, pre, head(m, nm, x9, cfg->classes)) < 0)
            return -1;
    }
    return SS_OK;
}

int ss_build_mcnet3d_v1(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    return mcnet(m, cfg, x, out, 2);
}

int ss_build_mcnet3d_v2(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    return mcnet(m, cfg, x, out, 3);
}

/* FBA-Net ContraModule + MLPs on one decoder's logits (FBA VNet.py):
 * A = sigmoid(BN(Conv3d(classes->1, k3, s2, p1, no bias)(seg))), M = voxels of
 * A, fg = f_mlp(A / M), bg = b_mlp((1 - A) / M); each MLP is Linear(M, dim) ->
 * ReLU. The BN is a BatchNorm3d whatever cfg->norm says. */
static int contra(ss_nn *m, const ss_model_cfg *cfg, int d, int seg, ss_model_out *out)
{
    char nm[64];
    snprintf(nm, sizeof nm, "decoder%d.cm.activation_head", d);
    int a = nn_conv(m, nm, seg, cfg->classes, 1, K3, K2, P1, 0, 0);
    snprintf(nm, sizeof nm, "decoder%d.cm.bn_head", d);
    a = g_sigmoid(m->g, nn_bn(m, nm, a, 1));
    if (a < 0)
        return -1;
    ss_shape s = graph_shape(m->g, a);
    int vox = (int)ss_spatial(&s);
    float inv = 1.0f / (float)vox;
    int fg = g_scale(m->g, a, inv, 0.f);
    int bg = g_scale(m->g, g_scale(m->g, a, -1.f, 1.f), inv, 0.f);
    snprintf(nm, sizeof nm, "decoder%d.f_mlp.0", d);
    fg = g_relu(m->g, nn_linear(m, nm, fg, vox, cfg->dim, 1));
    snprintf(nm, sizeof nm, "decoder%d.b_mlp.0", d);
    bg = g_relu(m->g, nn_linear(m, nm, bg, vox, cfg->dim, 1));
    snprintf(nm, sizeof nm, "fg%d", d);
    if (ss_model_add_out(out, nm, fg) < 0)
        return -1;
    snprintf(nm, sizeof nm, "bg%d", d);
    return ss_model_add_out(out, nm, bg);
}

int ss_build_fbanet3d(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    int f[5];
    char pre[32], nm[64];
    if (check_input(m, cfg, x) < 0)
        return -1;
    if (cfg->dim < 1)
        return graph_seterr(m->g, "fbanet3d: projection dim %d must be >= 1", cfg->dim);
    /* The MLP fan-in is the activation map's voxel count, fixed by the patch
     * the network is built for: the input must be that patch. */
    ss_shape s = graph_shape(m->g, x);
    const int *p = cfg->patch;
    if ((p[0] || p[1] || p[2]) &&
        (p[0] != s.d[SS_D] || p[1] != s.d[SS_H] || p[2] != s.d[SS_W]))
        return graph_seterr(m->g,
                            "fbanet3d: input spatial size %dx%dx%d differs from cfg patch "
                            "%dx%dx%d (the MLP fan-in is fixed by the patch)",
                            s.d[SS_D], s.d[SS_H], s.d[SS_W], p[0], p[1], p[2]);
    encoder(m, cfg, "encoder.", x, f);
    for (int d = 1; d <= 3; d++) {
        snprintf(pre, sizeof pre, "decoder%d.", d);
        int x9 = decoder(m, cfg, pre, d - 1, f);
        snprintf(nm, sizeof nm, "decoder%d.out_conv", d);
        int seg = head(m, nm, x9, cfg->classes);
        snprintf(pre, sizeof pre, "seg%d", d);
        if (ss_model_add_out(out, pre, seg) < 0 || contra(m, cfg, d, seg, out) < 0)
            return -1;
    }
    return SS_OK;
}
