"""Test support: the HFAiLab/clip-gen VQGAN module tree, to make checkpoints in its layout (vqgan_coco.pt).

HFAiLab's code is not packaged, so this mirrors their models/vqgan.py (VQGAN: encoder, decoder, quantizer,
discriminator), models/codec.py (Encoder, Decoder, ResnetBlock, AttnBlock, Upsample, Downsample),
models/quantizer.py (VectorQuantizer) and models/discriminator.py (Discriminator) at commit 698a406 of
github.com/HFAiLab/clip-gen, module for module and in the same order, from torch.nn parts, so that the state_dict
keys are theirs. Only the hyper-parameters are exposed so tests can build small models (their VQGAN class always uses
the defaults: ch 128, ch_mult [1, 1, 2, 2, 4], 2 res blocks, attention at 16, resolution 256).
"""

import torch
import torch.nn.functional as F
from torch import nn


class ResnetBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.block = nn.Sequential(nn.GroupNorm(32, c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1),
                                   nn.GroupNorm(32, c_out), nn.SiLU(), nn.Dropout(0.0),
                                   nn.Conv2d(c_out, c_out, 3, padding=1))
        self.has_shortcut = c_in != c_out
        if self.has_shortcut:
            self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x):
        return (self.shortcut(x) if self.has_shortcut else x) + self.block(x)


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(32, c)
        self.attn = nn.MultiheadAttention(c, num_heads=1, batch_first=True)

    def forward(self, x):
        n, c, h, w = x.shape
        seq = self.norm(x).reshape(n, c, h * w).transpose(1, 2)  # [N, HW, C]
        out, _ = self.attn(seq, seq, seq, need_weights=False)  # [N, HW, C]
        return x + out.reshape(n, h, w, c).permute(0, 3, 1, 2)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1)
        blocks, res, c = [], resolution, ch
        for level, mult in enumerate(ch_mult):
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(c, ch * mult))
                c = ch * mult
                if res in attn_resolutions:
                    blocks.append(AttnBlock(c))
            if level != len(ch_mult) - 1:
                blocks.append(Downsample(c))
                res //= 2
        self.down = nn.Sequential(*blocks)
        self.mid = nn.Sequential(ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c))
        self.final = nn.Sequential(nn.GroupNorm(32, c), nn.SiLU(), nn.Conv2d(c, z_channels, 3, padding=1),
                                   nn.Conv2d(z_channels, z_channels, 1))


class Decoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels):
        super().__init__()
        c = ch * ch_mult[-1]
        self.quant_conv_in = nn.Conv2d(z_channels, z_channels, 1)
        self.conv_in = nn.Conv2d(z_channels, c, 3, padding=1)
        self.mid = nn.Sequential(ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c))
        blocks, res = [], resolution // 2 ** (len(ch_mult) - 1)
        for level in reversed(range(len(ch_mult))):
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(c, ch * ch_mult[level]))
                c = ch * ch_mult[level]
                if res in attn_resolutions:
                    blocks.append(AttnBlock(c))
            if level != 0:
                blocks.append(Upsample(c))
                res *= 2
        self.up = nn.Sequential(*blocks)
        self.final = nn.Sequential(nn.GroupNorm(32, c), nn.SiLU(), nn.Conv2d(c, 3, 3, padding=1))

    def forward(self, z):
        return self.final(self.up(self.mid(self.conv_in(self.quant_conv_in(z)))))


class VectorQuantizer(nn.Module):
    def __init__(self, codebook_size, embed_dim):
        super().__init__()
        self.embedding = nn.Embedding(codebook_size, embed_dim)


class Discriminator(nn.Module):
    def __init__(self, ch=64, n_layer=3):
        super().__init__()
        chs = [ch * min(2 ** i, 8) for i in range(n_layer + 1)]
        layers = [nn.Conv2d(3, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        for i in range(1, n_layer + 1):
            layers += [nn.Conv2d(chs[i - 1], chs[i], 4, stride=2 if i != n_layer else 1, padding=1, bias=False),
                       nn.BatchNorm2d(chs[i]), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(chs[-1], 1, 4, padding=1)


class VQGAN(nn.Module):
    def __init__(self, codebook_size, embed_dim, **ddconfig):
        super().__init__()
        self.encoder = Encoder(z_channels=embed_dim, **ddconfig)
        self.decoder = Decoder(z_channels=embed_dim, **ddconfig)
        self.quantizer = VectorQuantizer(codebook_size, embed_dim)
        self.discriminator = Discriminator()

    def decode_code(self, codes):
        """codes [N, h, w] -> images [N, 3, H, W]: their quantizer.decode, permute, then decoder."""
        return self.decoder(self.quantizer.embedding(codes).permute(0, 3, 1, 2))


# Small, with attention at 16x16 as their VQGAN hard-codes: level 2 of 3 at resolution 64 (grid 16x16).
TINY = dict(ch=32, ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[16], resolution=64)


def tiny(seed: int, codebook_size: int = 512, embed_dim: int = 64) -> VQGAN:
    from clipgen_convert.synth_vqgan import perturb_affine

    torch.manual_seed(seed)
    model = VQGAN(codebook_size, embed_dim, **TINY)
    nn.init.normal_(model.quantizer.embedding.weight)
    perturb_affine(model)
    return model.eval()


def save(model: VQGAN, path) -> None:
    """As HFAiLab's train_vqgan.py saves: {'model': state_dict, 'epoch': ...} (plus optimizer state there)."""
    torch.save({"model": model.state_dict(), "epoch": 1}, path)
