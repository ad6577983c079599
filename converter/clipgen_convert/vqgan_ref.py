"""Reference VQGAN decode over canonical tensors and meta: the specification the Swift decoder ports.

Port of taming-transformers' Decoder (taming/modules/diffusionmodules/model.py) plus VQModel.decode_code: codebook
lookup, 1x1 post-quant conv, conv_in, middle (resnet, attention, resnet), the up path from the lowest resolution to the
highest (num_res_blocks + 1 resnet blocks per level, each followed by single-head attention on levels that have it,
then nearest x2 + 3x3 conv except at level 0), GroupNorm + swish + conv_out. It reads only canonical names and meta
(docs/model-vqgan.md), so a test that matches it against taming's own modules checks the converter and this spec
at once.
Convolution weights are canonical [out, kh, kw, in]; they are turned back to PyTorch's [out, in, kh, kw] here.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .component import Component

VERIFY_SEEDS = (0, 1, 2)  # one random code grid per seed; verify reports the worst


class VQGANDecoder:
    """Decodes a grid of codebook indices to an image in [-1, 1], from canonical tensors."""

    def __init__(self, component: Component):
        self.meta = component.meta
        # Copies: arrays read from a model file are read-only views.
        self.w = {name: torch.from_numpy(np.array(t, dtype=np.float32)) for name, t in component.tensors.items()}
        self.levels = len(self.meta["ch_mult"])
        self.blocks_per_level = self.meta["num_res_blocks"] + 1

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [h, w] (int64) -> image [3, h * 2^(levels-1), w * 2^(levels-1)], nominally in [-1, 1]."""
        z = self.w["quantize.embedding.weight"][codes]  # [h, w, embed_dim]
        z = z.permute(2, 0, 1)[None]  # [1, embed_dim, h, w]
        x = self.conv("post_quant_conv", z)  # [1, z_channels, h, w]
        x = self.conv("decoder.conv_in", x)  # [1, C_top, h, w]
        x = self.resnet("decoder.mid.block_1", x)
        x = self.attention("decoder.mid.attn_1", x)
        x = self.resnet("decoder.mid.block_2", x)
        for level in reversed(range(self.levels)):
            for j in range(self.blocks_per_level):
                x = self.resnet(f"decoder.up.{level}.block.{j}", x)  # [1, C_level, H_level, W_level]
                if self.meta["attn_per_level"][level]:
                    x = self.attention(f"decoder.up.{level}.attn.{j}", x)
            if level:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # [1, C_level, 2 H_level, 2 W_level]
                x = self.conv(f"decoder.up.{level}.upsample.conv", x)
        x = swish(self.norm("decoder.norm_out", x))  # [1, C_0, H, W]
        return self.conv("decoder.conv_out", x)[0]  # [3, H, W]

    def resnet(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """x + conv2(swish(norm2(conv1(swish(norm1(x)))))), the skip through a 1x1 conv when channels change."""
        h = self.conv(f"{name}.conv1", swish(self.norm(f"{name}.norm1", x)))  # [1, C_out, H, W]
        h = self.conv(f"{name}.conv2", swish(self.norm(f"{name}.norm2", h)))  # [1, C_out, H, W]
        if f"{name}.nin_shortcut.weight" in self.w:
            x = self.conv(f"{name}.nin_shortcut", x)  # [1, C_out, H, W]
        return x + h

    def attention(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Single-head self-attention over the H*W pixels, scale C^-1/2, residual."""
        _, c, height, width = x.shape
        h = self.norm(f"{name}.norm", x)  # [1, C, H, W]
        q = self.conv(f"{name}.q", h).reshape(c, height * width).T  # [HW, C]
        k = self.conv(f"{name}.k", h).reshape(c, height * width)  # [C, HW]
        v = self.conv(f"{name}.v", h).reshape(c, height * width).T  # [HW, C]
        weights = torch.softmax(q @ k / math.sqrt(c), dim=-1)  # [HW query, HW key]
        out = (weights @ v).T.reshape(1, c, height, width)  # [1, C, H, W]
        return x + self.conv(f"{name}.proj_out", out)

    def conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        weight = self.w[f"{name}.weight"].permute(0, 3, 1, 2)  # [out, kh, kw, in] -> [out, in, kh, kw]
        return F.conv2d(x, weight, self.w[f"{name}.bias"], padding=weight.shape[-1] // 2)  # stride 1, same size

    def norm(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.meta["norm_groups"], self.w[f"{name}.weight"], self.w[f"{name}.bias"],
                            eps=self.meta["norm_eps"])


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def to_pixels(image: torch.Tensor, meta: dict) -> torch.Tensor:
    """Decoder output [3, H, W] -> 8-bit scale [0, 255] (unclamped, unrounded): (x * std + mean) * 255."""
    return (image * meta["pixel_std"] + meta["pixel_mean"]) * 255.0


def random_codes(meta: dict, seed: int) -> torch.Tensor:
    """A reproducible grid of codebook indices [h, w]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(meta["n_embed"], tuple(meta["grid"]), generator=generator)


@torch.no_grad()
def verify(original: Component, quantised: Component) -> dict[str, float]:
    """Decode the same seeded code grids with both weight sets; psnr_db is the worst over the grids.

    PSNR is over the unclamped output on the 8-bit scale (peak 255), so saturated pixels cannot hide an error.
    """
    reference, candidate = VQGANDecoder(original), VQGANDecoder(quantised)
    worst = math.inf
    for seed in VERIFY_SEEDS:
        codes = random_codes(original.meta, seed)
        a = to_pixels(reference.decode(codes), original.meta)  # [3, H, W]
        b = to_pixels(candidate.decode(codes), quantised.meta)  # [3, H, W]
        mse = torch.mean((a.double() - b.double()) ** 2).item()
        worst = min(worst, math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse))
    return {"psnr_db": worst}
