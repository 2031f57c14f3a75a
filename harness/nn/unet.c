/* The 2-D U-Net family (PyMIC U-Net as used by SSL4MIS, MC-Net 2-D, FBA-Net
 * 2-D). Every layer is 2-D (D extent 1, kernels {1,k,k}); parameters carry the
 * upstream state_dict keys:
 *
 *   ConvBlock  <p>.conv_conv.{0 conv3x3, 1 BN, 2 LeakyReLU, 3 Dropout,
 *                             4 conv3x3, 5 BN, 6 LeakyReLU}
 *   encoder    encoder.in_conv.<ConvBlock>,
 *              encoder.down<i>.maxpool_conv.{0 MaxPool2d, 1 <ConvBlock>}
 *   UpBlock    <dec>.up<i>.conv1x1 (1x1 conv; bilinear or nearest x2) or
 *              <dec>.up<i>.up (ConvTranspose2d k2 s2), then <dec>.up<i>.conv.<ConvBlock>
 *   head       <dec>.out_conv (conv3x3 16 -> classes)
 *
 * SSL4MIS UNet uses the decoder name "decoder", MC-Net and FBA-Net
 * "decoder1".."decoder3". The FBA-Net decoder adds its ContraModuleNew:
 * <dec>.cm.activation_head (conv3x3 stride 2, no bias) and <dec>.cm.mlp.0
 * (Linear(H/2*W/2 -> dim) + ReLU), the Linear shared by the classes of one
 * decoder (upstream applies it to the last axis of (N, C, H*W)). */
#include "model.h"

#include "kernels/error.h"

#include <stdio.h>

enum up_kind { UP_BILINEAR, UP_NEAREST, UP_DECONV };

static const int FT[5] = {16, 32, 64, 128, 256};
static const float DROP[5] = {0.05f, 0.1f, 0.2f, 0.3f, 0.5f};

static const int K1[3] = {1, 1, 1}, K2[3] = {1, 2, 2}, K3[3] = {1, 3, 3};
static const int S1[3] = {1, 1, 1}, S2[3] = {1, 2, 2};
static const int P0[3] = {0, 0, 0}, P1[3] = {0, 1, 1};

/* conv3x3 -> norm -> LeakyReLU(0.01) -> Dropout(p) -> conv3x3 -> norm -> LeakyReLU. */
static int conv_block(ss_nn *m, const ss_model_cfg *cfg, const char *pfx, int x, int cin,
                      int cout, float p)
{
    char name[128];
    snprintf(name, sizeof name, "%s.conv_conv.0", pfx);
    int h = nn_conv(m, name, x, cin, cout, K3, S1, P1, 1, 1);
    snprintf(name, sizeof name, "%s.conv_conv.1", pfx);
    h = nn_norm(m, cfg->norm, name, h, cout);
    h = g_leaky_relu(m->g, h, 0.01f);
    if (cfg->has_dropout && p > 0.f)
        h = nn_dropout(m, h, p, 0);
    snprintf(name, sizeof name, "%s.conv_conv.4", pfx);
    h = nn_conv(m, name, h, cout, cout, K3, S1, P1, 1, 1);
    snprintf(name, sizeof name, "%s.conv_conv.5", pfx);
    h = nn_norm(m, cfg->norm, name, h, cout);
    return g_leaky_relu(m->g, h, 0.01f);
}

/* Checks the input (N, in_ch, 1, H, W) with H, W divisible by 16. */
static int check_input(ss_nn *m, const ss_model_cfg *cfg, int x)
{
    if (x < 0 || x >= graph_n_tensors(m->g))
        return graph_seterr(m->g, "%s: input is not a valid tensor", cfg->name);
    ss_shape s = graph_shape(m->g, x);
    if (s.d[1] != cfg->in_ch || s.d[2] != 1)
        return graph_seterr(m->g, "%s: input must be (N, %d, 1, H, W), got (%d, %d, %d, %d, %d)",
                            cfg->name, cfg->in_ch, s.d[0], s.d[1], s.d[2], s.d[3], s.d[4]);
    if (s.d[3] % 16 || s.d[4] % 16)
        return graph_seterr(m->g, "%s: input H x W = %d x %d must be divisible by 16 (4 poolings)",
                            cfg->name, s.d[3], s.d[4]);
    return SS_OK;
}

/* Shared encoder: writes the five feature maps x0..x4. */
static int encoder(ss_nn *m, const ss_model_cfg *cfg, int x, int f[5])
{
    if (check_input(m, cfg, x) < 0)
        return -1;
    f[0] = conv_block(m, cfg, "encoder.in_conv", x, cfg->in_ch, FT[0], DROP[0]);
    for (int i = 1; i < 5; i++) {
        char pfx[64];
        snprintf(pfx, sizeof pfx, "encoder.down%d.maxpool_conv.1", i);
        int p = g_maxpool(m->g, f[i - 1], K2, S2, P0);
        f[i] = conv_block(m, cfg, pfx, p, FT[i - 1], FT[i], DROP[i]);
    }
    return f[4];
}

/* UpBlock: upsample x from c1 to c2 channels at twice the size, concatenate
 * [skip, upsampled], ConvBlock(2 c2 -> c2, no dropout). */
static int up_block(ss_nn *m, const ss_model_cfg *cfg, const char *pfx, int kind, int x,
                    int skip, int c1, int c2)
{
    char name[128];
    int u;
    if (kind == UP_DECONV) {
        snprintf(name, sizeof name, "%s.up", pfx);
        u = nn_deconv(m, name, x, c1, c2, K2, S2, P0, 1, 1);
    } else {
        snprintf(name, sizeof name, "%s.conv1x1", pfx);
        u = nn_conv(m, name, x, c1, c2, K1, S1, P0, 1, 1);
        ss_shape s = graph_shape(m->g, skip);
        int size[3] = {1, s.d[3], s.d[4]};
        u = kind == UP_BILINEAR ? g_upsample(m->g, u, 1, 1, size) : g_upsample(m->g, u, 0, 0, size);
    }
    int cat[2] = {skip, u};
    int h = g_concat(m->g, 2, cat, 1);
    snprintf(name, sizeof name, "%s.conv", pfx);
    return conv_block(m, cfg, name, h, 2 * c2, c2, 0.f);
}

/* One decoder named dec: up1..up4 then out_conv; returns the logits. */
static int decoder(ss_nn *m, const ss_model_cfg *cfg, const char *dec, int kind, const int f[5])
{
    int h = f[4];
    for (int i = 1; i <= 4; i++) {
        char pfx[64];
        snprintf(pfx, sizeof pfx, "%s.up%d", dec, i);
        h = up_block(m, cfg, pfx, kind, h, f[4 - i], FT[5 - i], FT[4 - i]);
    }
    char name[64];
    snprintf(name, sizeof name, "%s.out_conv", dec);
    return nn_conv(m, name, h, FT[0], cfg->classes, K3, S1, P1, 1, 1);
}

/* Encoder plus one decoder per entry of kinds, outputs seg1..segK
 * (dec_name NULL: the single decoder is "decoder", output "seg1"). */
static int multi_decoder(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out,
                         const int *kinds, int nk, const char *dec_name)
{
    int f[5];
    if (encoder(m, cfg, x, f) < 0)
        return -1;
    for (int d = 0; d < nk; d++) {
        char dec[32], seg[16];
        snprintf(dec, sizeof dec, "decoder%d", d + 1);
        snprintf(seg, sizeof seg, "seg%d", d + 1);
        int y = decoder(m, cfg, dec_name ? dec_name : dec, kinds[d], f);
        if (ss_model_add_out(out, seg, y) < 0)
            return -1;
    }
    return SS_OK;
}

int ss_build_unet(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    static const int kinds[1] = {UP_BILINEAR};
    return multi_decoder(m, cfg, x, out, kinds, 1, "decoder");
}

int ss_build_unet_deconv(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    static const int kinds[1] = {UP_DECONV};
    return multi_decoder(m, cfg, x, out, kinds, 1, "decoder");
}

/* MC-Net up_type 1 = bilinear, 0 = transposed, 2 = nearest. */
int ss_build_mcnet2d_v1(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    static const int kinds[2] = {UP_BILINEAR, UP_DECONV};
    return multi_decoder(m, cfg, x, out, kinds, 2, NULL);
}

int ss_build_mcnet2d_v2(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    static const int kinds[3] = {UP_BILINEAR, UP_DECONV, UP_NEAREST};
    return multi_decoder(m, cfg, x, out, kinds, 3, NULL);
}

/* ContraModuleNew on logits z (N, C, 1, H, W): A = sigmoid(conv3x3 s2 (C -> C,
 * no bias)(z)), each class map flattened through the decoder's Linear + ReLU;
 * adds "emb<d>_<c>" (N, dim, 1, 1, 1) for every class c. All classes go
 * through one (N*C, H/2*W/2) x (H/2*W/2, dim) product. */
static int contra_module(ss_nn *m, const ss_model_cfg *cfg, const char *dec, int d, int z,
                         ss_model_out *out)
{
    char name[64];
    int c = cfg->classes;
    snprintf(name, sizeof name, "%s.cm.activation_head", dec);
    int a = g_sigmoid(m->g, nn_conv(m, name, z, c, c, K3, S2, P1, 0, 1));
    if (a < 0)
        return -1;
    ss_shape s = graph_shape(m->g, a);
    int n = s.d[0], hw = s.d[3] * s.d[4];
    int flat = g_reshape(m->g, a, ss_shape5(n * c, hw, 1, 1, 1));
    snprintf(name, sizeof name, "%s.cm.mlp.0", dec);
    int e = g_relu(m->g, nn_linear(m, name, flat, hw, cfg->dim, 1));
    int e3 = g_reshape(m->g, e, ss_shape5(n, c, cfg->dim, 1, 1));
    for (int k = 0; k < c; k++) {
        int ek = g_reshape(m->g, g_slice(m->g, e3, 1, k, 1), ss_shape5(n, cfg->dim, 1, 1, 1));
        if (ss_model_add_out(out, nn_name("emb%d_%d", d, k), ek) < 0)
            return -1;
    }
    return SS_OK;
}

/* FBA-Net 2-D (UNet_FBA2d with new = True): decoder up types 0 bilinear,
 * 1 nearest, 2 transposed; outputs seg1..seg3 and emb<d>_<c>. */
int ss_build_fbanet2d(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    static const int kinds[3] = {UP_BILINEAR, UP_NEAREST, UP_DECONV};
    /* The contrast Linear's fan-in is the half-resolution map (H/2)*(W/2),
     * fixed by the patch the network is built for: 128*128 at the reference's
     * 256 x 256; other patches (smoke runs) scale it. */
    if (x >= 0 && x < graph_n_tensors(m->g)) {
        ss_shape s = graph_shape(m->g, x);
        const int *p = cfg->patch;
        if ((p[1] > 0 && p[2] > 0 && (s.d[3] != p[1] || s.d[4] != p[2])) || s.d[3] % 2 ||
            s.d[4] % 2)
            return graph_seterr(m->g,
                                "%s: input %d x %d must be even and equal the cfg patch %d x %d "
                                "(the contrast Linear's fan-in is fixed by the patch)",
                                cfg->name, s.d[3], s.d[4], p[1], p[2]);
    }
    if (cfg->dim < 1)
        return graph_seterr(m->g, "%s: dim must be >= 1 (got %d)", cfg->name, cfg->dim);
    if (3 + 3 * cfg->classes > SS_MODEL_MAX_OUT)
        return graph_seterr(m->g, "%s: %d classes give more than %d outputs", cfg->name,
                            cfg->classes, SS_MODEL_MAX_OUT);
    int f[5];
    if (encoder(m, cfg, x, f) < 0)
        return -1;
    for (int d = 0; d < 3; d++) {
        char dec[32], seg[16];
        snprintf(dec, sizeof dec, "decoder%d", d + 1);
        snprintf(seg, sizeof seg, "seg%d", d + 1);
        int y = decoder(m, cfg, dec, kinds[d], f);
        if (ss_model_add_out(out, seg, y) < 0 || contra_module(m, cfg, dec, d + 1, y, out) < 0)
            return -1;
    }
    return SS_OK;
}
