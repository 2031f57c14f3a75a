"""PyTorch re-implementations of the reference networks, written for the model
golden fixtures (make_model_fixtures.py). Each class reproduces the module
tree of the upstream code, so state_dict keys and parameter shapes are the
upstream ones; the code itself is our own. Upstream sources (read for facts):

  UA-MT   yulequan/UA-MT           code/networks/vnet.py        VNet
  DTC     HiLab-git/DTC            code/networks/vnet_sdf.py    VNet (two heads)
  MC-Net  ycwu1997/MC-Net          code/networks/VNet.py        MCNet3d_v2
  FBA-Net cys1102/FBA-Net          code/networks/VNet.py        FBAnet, ContraModule
  SSL4MIS HiLab-git/SSL4MIS        code/networks/unet.py        UNet

Only the options the training scripts use are implemented: batch norm
everywhere, no residual blocks, n_filters 16. `dropout` switches the dropout
layers on (they have no parameters, so keys do not depend on it).
"""
import torch
from torch import nn


def _bn3(c):
    return nn.BatchNorm3d(c)


class ConvStages(nn.Module):
    """n x [Conv3d k3 p1 -> BN -> ReLU] in one Sequential named `conv`
    (keys <block>.conv.{3i}.* conv, <block>.conv.{3i+1}.* BN)."""

    def __init__(self, n, cin, cout):
        super().__init__()
        layers = []
        for i in range(n):
            layers += [nn.Conv3d(cin if i == 0 else cout, cout, 3, padding=1), _bn3(cout),
                       nn.ReLU(inplace=True)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv(x)


class Down(nn.Module):
    """Conv3d k2 s2 -> BN -> ReLU (conv.0, conv.1)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv3d(cin, cout, 2, stride=2, padding=0), _bn3(cout),
                                  nn.ReLU(inplace=True))

    def forward(self, x):
        return self.conv(x)


class Up(nn.Module):
    """Decoder upsampling step. mode 0: ConvTranspose3d k2 s2 (conv.0) -> BN (conv.1);
    mode 1: trilinear x2 align_corners=True (conv.0) -> Conv3d k3 (conv.1) -> BN (conv.2);
    mode 2: nearest x2 -> Conv3d k3 -> BN; ReLU last in every mode."""

    def __init__(self, cin, cout, mode):
        super().__init__()
        if mode == 0:
            layers = [nn.ConvTranspose3d(cin, cout, 2, stride=2, padding=0)]
        elif mode == 1:
            layers = [nn.Upsample(scale_factor=2, mode="trilinear", align_corners=True),
                      nn.Conv3d(cin, cout, 3, padding=1)]
        elif mode == 2:
            layers = [nn.Upsample(scale_factor=2, mode="nearest"),
                      nn.Conv3d(cin, cout, 3, padding=1)]
        else:
            raise ValueError("up mode %r" % mode)
        self.conv = nn.Sequential(*layers, _bn3(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.conv(x)


def _add_encoder(m, in_ch, f):
    m.block_one = ConvStages(1, in_ch, f)
    m.block_one_dw = Down(f, 2 * f)
    m.block_two = ConvStages(2, 2 * f, 2 * f)
    m.block_two_dw = Down(2 * f, 4 * f)
    m.block_three = ConvStages(3, 4 * f, 4 * f)
    m.block_three_dw = Down(4 * f, 8 * f)
    m.block_four = ConvStages(3, 8 * f, 8 * f)
    m.block_four_dw = Down(8 * f, 16 * f)
    m.block_five = ConvStages(3, 16 * f, 16 * f)


def _add_decoder(m, f, mode):
    m.block_five_up = Up(16 * f, 8 * f, mode)
    m.block_six = ConvStages(3, 8 * f, 8 * f)
    m.block_six_up = Up(8 * f, 4 * f, mode)
    m.block_seven = ConvStages(3, 4 * f, 4 * f)
    m.block_seven_up = Up(4 * f, 2 * f, mode)
    m.block_eight = ConvStages(2, 2 * f, 2 * f)
    m.block_eight_up = Up(2 * f, f, mode)
    m.block_nine = ConvStages(1, f, f)


def _encode(m, x):
    x1 = m.block_one(x)
    x2 = m.block_two(m.block_one_dw(x1))
    x3 = m.block_three(m.block_two_dw(x2))
    x4 = m.block_four(m.block_three_dw(x3))
    x5 = m.block_five(m.block_four_dw(x4))
    if m.has_dropout:
        x5 = m.dropout(x5)
    return x1, x2, x3, x4, x5


def _decode(m, feats):
    x1, x2, x3, x4, x5 = feats
    x = m.block_six(m.block_five_up(x5) + x4)
    x = m.block_seven(m.block_six_up(x) + x3)
    x = m.block_eight(m.block_seven_up(x) + x2)
    x = m.block_nine(m.block_eight_up(x) + x1)
    if m.has_dropout:
        x = m.dropout(x)
    return x


class VNet(nn.Module):
    """UA-MT VNet (flat keys block_one ... block_nine, out_conv); with
    sdf_head=True the DTC/SASSNet vnet_sdf: out_conv -> tanh (SDF) and
    out_conv2 (segmentation); forward returns (sdf_tanh, seg) then."""

    def __init__(self, in_ch=1, classes=2, f=16, dropout=False, sdf_head=False):
        super().__init__()
        self.has_dropout = dropout
        self.sdf_head = sdf_head
        _add_encoder(self, in_ch, f)
        _add_decoder(self, f, 0)
        self.out_conv = nn.Conv3d(f, classes, 1, padding=0)
        if sdf_head:
            self.out_conv2 = nn.Conv3d(f, classes, 1, padding=0)
        self.dropout = nn.Dropout3d(p=0.5)

    def forward(self, x):
        x9 = _decode(self, _encode(self, x))
        if self.sdf_head:
            return torch.tanh(self.out_conv(x9)), self.out_conv2(x9)
        return self.out_conv(x9)


class Encoder3d(nn.Module):
    def __init__(self, in_ch, f, dropout):
        super().__init__()
        self.has_dropout = dropout
        _add_encoder(self, in_ch, f)
        self.dropout = nn.Dropout3d(p=0.5)

    def forward(self, x):
        return _encode(self, x)


class ContraModule(nn.Module):
    """FBA-Net: Conv3d(classes->1, k3, s2, p1, no bias) -> BN3d(1) -> sigmoid,
    flattened per sample; fg = A / M, bg = (1 - A) / M."""

    def __init__(self, classes):
        super().__init__()
        self.activation_head = nn.Conv3d(classes, 1, 3, padding=1, stride=2, bias=False)
        self.bn_head = nn.BatchNorm3d(1)

    def forward(self, seg):
        a = torch.sigmoid(self.bn_head(self.activation_head(seg))).flatten(1)
        m = a.shape[1]
        return a / m, (1 - a) / m


class Decoder3d(nn.Module):
    """MC-Net Decoder (block_five_up ... block_nine, out_conv); with
    contrast_m > 0 the FBA-Net Decoder (cm, f_mlp.0, b_mlp.0 on its logits)."""

    def __init__(self, classes, f, dropout, mode, contrast_m=0, dim=128):
        super().__init__()
        self.has_dropout = dropout
        _add_decoder(self, f, mode)
        self.out_conv = nn.Conv3d(f, classes, 1, padding=0)
        self.dropout = nn.Dropout3d(p=0.5)
        self.contrast = contrast_m > 0
        if self.contrast:
            self.cm = ContraModule(classes)
            self.f_mlp = nn.Sequential(nn.Linear(contrast_m, dim), nn.ReLU())
            self.b_mlp = nn.Sequential(nn.Linear(contrast_m, dim), nn.ReLU())

    def forward(self, feats):
        seg = self.out_conv(_decode(self, feats))
        if not self.contrast:
            return seg
        fg, bg = self.cm(seg)
        return self.f_mlp(fg), self.b_mlp(bg), seg


class MCNet3dV2(nn.Module):
    """MC-Net+ (mcnet3d_v2): shared encoder, decoder1/2/3 with up modes 0/1/2."""

    def __init__(self, in_ch=1, classes=2, f=16, dropout=False):
        super().__init__()
        self.encoder = Encoder3d(in_ch, f, dropout)
        self.decoder1 = Decoder3d(classes, f, dropout, 0)
        self.decoder2 = Decoder3d(classes, f, dropout, 1)
        self.decoder3 = Decoder3d(classes, f, dropout, 2)

    def forward(self, x):
        feats = self.encoder(x)
        return self.decoder1(feats), self.decoder2(feats), self.decoder3(feats)


class FBANet3d(nn.Module):
    """FBA-Net 3-D (FBAnet): MC-Net+ whose decoders also carry the contrastive
    module. patch = input spatial size; the MLP fan-in is the element count of
    the stride-2 CAM, M = prod(ceil(p / 2)). forward returns
    ([fg1, fg2, fg3], [bg1, bg2, bg3], [seg1, seg2, seg3])."""

    def __init__(self, in_ch=1, classes=2, f=16, dropout=False, dim=128, patch=(112, 112, 80)):
        super().__init__()
        m = 1
        for p in patch:
            m *= (p + 1) // 2
        self.encoder = Encoder3d(in_ch, f, dropout)
        self.decoder1 = Decoder3d(classes, f, dropout, 0, m, dim)
        self.decoder2 = Decoder3d(classes, f, dropout, 1, m, dim)
        self.decoder3 = Decoder3d(classes, f, dropout, 2, m, dim)

    def forward(self, x):
        feats = self.encoder(x)
        outs = [self.decoder1(feats), self.decoder2(feats), self.decoder3(feats)]
        return [o[0] for o in outs], [o[1] for o in outs], [o[2] for o in outs]


# ---- 2-D U-Net (SSL4MIS) ---------------------------------------------------------------

class ConvBlock2d(nn.Module):
    """conv_conv: Conv3x3 -> BN -> LeakyReLU -> Dropout(p) -> Conv3x3 -> BN -> LeakyReLU
    (keys conv_conv.0, .1, .4, .5)."""

    def __init__(self, cin, cout, p):
        super().__init__()
        self.conv_conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(),
            nn.Dropout(p),
            nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU())

    def forward(self, x):
        return self.conv_conv(x)


class DownBlock2d(nn.Module):
    """maxpool_conv: MaxPool2d(2) (index 0) -> ConvBlock (index 1)."""

    def __init__(self, cin, cout, p):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), ConvBlock2d(cin, cout, p))

    def forward(self, x):
        return self.maxpool_conv(x)


class UpBlock2d(nn.Module):
    """bilinear: conv1x1 (c1->c2) then bilinear x2 align_corners=True;
    else up = ConvTranspose2d(c1->c2, k2, s2). Then cat([skip, up]) -> conv.
    mode (overrides bilinear): "bilinear", "nearest" (conv1x1 then nearest
    x2, MC-Net up_type 2 / FBA up_type 1) or "deconv"."""

    def __init__(self, c1, c2, cout, p, bilinear, mode=None):
        super().__init__()
        if mode is None:
            mode = "bilinear" if bilinear else "deconv"
        self.bilinear = mode != "deconv"
        if mode == "bilinear":
            self.conv1x1 = nn.Conv2d(c1, c2, kernel_size=1)
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        elif mode == "nearest":
            self.conv1x1 = nn.Conv2d(c1, c2, kernel_size=1)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
        elif mode == "deconv":
            self.up = nn.ConvTranspose2d(c1, c2, kernel_size=2, stride=2)
        else:
            raise ValueError("up mode %r" % mode)
        self.conv = ConvBlock2d(2 * c2, cout, p)

    def forward(self, x, skip):
        if self.bilinear:
            x = self.conv1x1(x)
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class Encoder2d(nn.Module):
    def __init__(self, in_ch, ch, drop):
        super().__init__()
        self.in_conv = ConvBlock2d(in_ch, ch[0], drop[0])
        self.down1 = DownBlock2d(ch[0], ch[1], drop[1])
        self.down2 = DownBlock2d(ch[1], ch[2], drop[2])
        self.down3 = DownBlock2d(ch[2], ch[3], drop[3])
        self.down4 = DownBlock2d(ch[3], ch[4], drop[4])

    def forward(self, x):
        x0 = self.in_conv(x)
        x1 = self.down1(x0)
        x2 = self.down2(x1)
        x3 = self.down3(x2)
        return x0, x1, x2, x3, self.down4(x3)


class Decoder2d(nn.Module):
    def __init__(self, ch, classes, bilinear, mode=None):
        super().__init__()
        self.up1 = UpBlock2d(ch[4], ch[3], ch[3], 0.0, bilinear, mode)
        self.up2 = UpBlock2d(ch[3], ch[2], ch[2], 0.0, bilinear, mode)
        self.up3 = UpBlock2d(ch[2], ch[1], ch[1], 0.0, bilinear, mode)
        self.up4 = UpBlock2d(ch[1], ch[0], ch[0], 0.0, bilinear, mode)
        self.out_conv = nn.Conv2d(ch[0], classes, kernel_size=3, padding=1)

    def forward(self, f):
        x = self.up1(f[4], f[3])
        x = self.up2(x, f[2])
        x = self.up3(x, f[1])
        return self.out_conv(self.up4(x, f[0]))


class UNet2d(nn.Module):
    """SSL4MIS UNet (encoder.*, decoder.*). bilinear=True is the class as used
    (UpBlock's default); bilinear=False the transposed-conv variant
    (decoder.upK.up is a ConvTranspose2d). dropout=False sets every p to 0."""

    def __init__(self, in_ch=1, classes=4, bilinear=True, dropout=True):
        super().__init__()
        ch = [16, 32, 64, 128, 256]
        drop = [0.05, 0.1, 0.2, 0.3, 0.5] if dropout else [0.0] * 5
        self.encoder = Encoder2d(in_ch, ch, drop)
        self.decoder = Decoder2d(ch, classes, bilinear)

    def forward(self, x):
        return self.decoder(self.encoder(x))


_CH2D = [16, 32, 64, 128, 256]
_DROP2D = [0.05, 0.1, 0.2, 0.3, 0.5]


class MCNet2dV2(nn.Module):
    """MC-Net+ 2-D (MCNet2d_v2): SSL4MIS encoder, decoder1 up_type 1
    (bilinear), decoder2 up_type 0 (transposed), decoder3 up_type 2 (nearest);
    forward returns the three logits."""

    def __init__(self, in_ch=1, classes=4, dropout=False):
        super().__init__()
        drop = _DROP2D if dropout else [0.0] * 5
        self.encoder = Encoder2d(in_ch, _CH2D, drop)
        self.decoder1 = Decoder2d(_CH2D, classes, True, "bilinear")
        self.decoder2 = Decoder2d(_CH2D, classes, False, "deconv")
        self.decoder3 = Decoder2d(_CH2D, classes, True, "nearest")

    def forward(self, x):
        f = self.encoder(x)
        return self.decoder1(f), self.decoder2(f), self.decoder3(f)


class ContraModule2d(nn.Module):
    """FBA-Net 2-D ContraModuleNew (protocol-2d.md 5.1): A = sigmoid(Conv3x3
    (C -> C, stride 2, pad 1, no bias)(logits)), one activation map per class;
    each class map flattened and sent through one Linear(H/2 * W/2 -> dim) +
    ReLU shared by the classes. Returns (N, C, dim)."""

    def __init__(self, classes, hw, dim):
        super().__init__()
        self.activation_head = nn.Conv2d(classes, classes, 3, stride=2, padding=1, bias=False)
        self.mlp = nn.Sequential(nn.Linear(hw, dim), nn.ReLU())

    def forward(self, z):
        a = torch.sigmoid(self.activation_head(z))
        return self.mlp(a.flatten(2))


class DecoderFBA2d(Decoder2d):
    """A U-Net decoder (up1..up4, out_conv) whose logits also feed its own
    ContraModule2d (cm.*); forward returns (logits, embeddings)."""

    def __init__(self, ch, classes, mode, hw, dim):
        super().__init__(ch, classes, mode != "deconv", mode)
        self.cm = ContraModule2d(classes, hw, dim)

    def forward(self, f):
        z = super().forward(f)
        return z, self.cm(z)


class FBANet2d(nn.Module):
    """FBA-Net 2-D (UNet_FBA2d with new=True, protocol-2d.md 5.1): shared
    SSL4MIS encoder, three decoders with up types 0 bilinear, 1 nearest,
    2 transposed, each with its contrast module. patch = (H, W) of the input;
    the contrast Linear's fan-in is (H/2)(W/2) (16384 at 256 x 256). Keys:
    encoder.*, decoder<d>.up<i>.*, decoder<d>.out_conv.*,
    decoder<d>.cm.activation_head.weight, decoder<d>.cm.mlp.0.*.
    forward returns ([seg1, seg2, seg3], [emb1, emb2, emb3]), emb_d (N, C, dim)."""

    def __init__(self, in_ch=1, classes=4, dropout=False, dim=128, patch=(256, 256)):
        super().__init__()
        drop = _DROP2D if dropout else [0.0] * 5
        hw = ((patch[0] + 1) // 2) * ((patch[1] + 1) // 2)
        self.encoder = Encoder2d(in_ch, _CH2D, drop)
        self.decoder1 = DecoderFBA2d(_CH2D, classes, "bilinear", hw, dim)
        self.decoder2 = DecoderFBA2d(_CH2D, classes, "nearest", hw, dim)
        self.decoder3 = DecoderFBA2d(_CH2D, classes, "deconv", hw, dim)

    def forward(self, x):
        f = self.encoder(x)
        outs = [self.decoder1(f), self.decoder2(f), self.decoder3(f)]
        return [o[0] for o in outs], [o[1] for o in outs]
