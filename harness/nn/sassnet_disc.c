/* SASSNet's FC3DDiscriminator(num_classes=1, ndf=64, n_channel=cfg->in_ch)
 * (protocol-3d.md §1.6; SASSnet code/networks/discriminator.py). Keys:
 * conv0..conv4.{weight,bias}, classifier.{weight,bias}.
 *
 * The input x holds the signed distance map in channel 0 and the image in
 * channels 1..in_ch: conv0(SDM) + conv1(image) -> LeakyReLU(0.2) -> Dropout3d
 * -> conv2 -> LReLU -> Dropout3d -> conv3 -> LReLU -> Dropout3d -> conv4 ->
 * LReLU -> AvgPool3d over the whole remaining volume (7x7x5 for a 112x112x80
 * patch, as upstream hard-codes) -> Linear(512, 2). Convs are k4 s2 p1, so
 * each halves a dim (floor). Dropout exists when cfg->has_dropout (upstream
 * always has it) and is active only in train mode. Output "logits" (N,2,1,1,1). */
#include "model.h"

#include "kernels/error.h"

#include <stdio.h>

#define NDF 64

int ss_build_sassnet_disc(ss_nn *m, const ss_model_cfg *cfg, int x, ss_model_out *out)
{
    static const int K4[3] = {4, 4, 4}, S2[3] = {2, 2, 2}, P1[3] = {1, 1, 1};
    if (x < 0)
        return graph_seterr(m->g, "sassnet_disc: invalid input tensor");
    ss_shape s = graph_shape(m->g, x);
    if (s.d[SS_C] != 1 + cfg->in_ch)
        return graph_seterr(m->g,
                            "sassnet_disc: input %s must have 1 + in_ch = %d channels (SDM, "
                            "then image)",
                            ss_shape_str(&s), 1 + cfg->in_ch);
    for (int i = SS_D; i <= SS_W; i++)
        if (s.d[i] < 16)
            return graph_seterr(m->g,
                                "sassnet_disc: input spatial size %dx%dx%d: every dim must "
                                "be >= 16 (four stride-2 convolutions)",
                                s.d[SS_D], s.d[SS_H], s.d[SS_W]);
    int sdm = g_slice(m->g, x, 1, 0, 1);
    int img = g_slice(m->g, x, 1, 1, cfg->in_ch);
    int a = nn_conv(m, "conv0", sdm, 1, NDF, K4, S2, P1, 1, 0);
    int b = nn_conv(m, "conv1", img, cfg->in_ch, NDF, K4, S2, P1, 1, 0);
    int h = g_leaky_relu(m->g, g_add(m->g, a, b), 0.2f);
    if (cfg->has_dropout)
        h = nn_dropout(m, h, 0.5f, 1);
    char nm[16];
    for (int l = 2; l <= 4; l++) {
        int cin = NDF << (l - 2);
        snprintf(nm, sizeof nm, "conv%d", l);
        h = g_leaky_relu(m->g, nn_conv(m, nm, h, cin, 2 * cin, K4, S2, P1, 1, 0), 0.2f);
        if (l < 4 && cfg->has_dropout)
            h = nn_dropout(m, h, 0.5f, 1);
    }
    if (h < 0)
        return -1;
    ss_shape hs = graph_shape(m->g, h);
    int k[3] = {hs.d[SS_D], hs.d[SS_H], hs.d[SS_W]};
    int z[3] = {0, 0, 0};
    h = g_avgpool(m->g, h, k, k, z);
    h = nn_linear(m, "classifier", h, 8 * NDF, 2, 1);
    return ss_model_add_out(out, "logits", h) < 0 ? -1 : SS_OK;
}
