"""Random-weight taming VQGAN checkpoints (Lightning layout), built from taming-transformers' own modules.

taming's VQModel class imports pytorch_lightning and builds an LPIPS loss that downloads VGG weights, so the checkpoint
is made from the same parts under the same attribute names (encoder, decoder, quantize, quant_conv, post_quant_conv):
its state_dict keys are exactly VQModel's, minus ``loss.*`` (training-only weights the converter drops anyway).
It is saved like Lightning does, {'state_dict': ..., 'hyper_parameters': ...}, the hyper-parameters holding VQModel's
constructor arguments so that the converter finds the resolution (a released taming .ckpt lacks them and needs
--vqgan-resolution).
"""

from __future__ import annotations

import contextlib
import io
import os

import torch
from torch import nn

NORM_GROUPS = 32  # taming.modules.diffusionmodules.model.Normalize

PRESETS = {
    # taming's vqgan_imagenet_f16_16384 (configs/...: ddconfig + n_embed/embed_dim)
    "paper": dict(n_embed=16384, embed_dim=256, ddconfig=dict(
        double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3, ch=128, ch_mult=[1, 1, 2, 2, 4],
        num_res_blocks=2, attn_resolutions=[16], dropout=0.0)),
    # f8 at 64x64 -> an 8x8 grid; attention at the lowest level like the paper model; widths multiples of 32
    "tiny": dict(n_embed=512, embed_dim=64, ddconfig=dict(
        double_z=False, z_channels=64, resolution=64, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 2, 2, 4],
        num_res_blocks=1, attn_resolutions=[8], dropout=0.0)),
}
TINY_GRID = [8, 8]  # PRESETS["tiny"]: resolution 64 / 2^(4 - 1)


class TamingVQModelParts(nn.Module):
    """taming.models.vqgan.VQModel's weights without its loss: same attribute names, so the same state_dict keys."""

    def __init__(self, ddconfig: dict, n_embed: int, embed_dim: int):
        super().__init__()
        from taming.modules.diffusionmodules.model import Decoder, Encoder
        from taming.modules.vqvae.quantize import VectorQuantizer

        with contextlib.redirect_stdout(io.StringIO()):  # taming's Decoder prints the z shape
            self.encoder = Encoder(**ddconfig)
            self.decoder = Decoder(**ddconfig)
        groups = ddconfig.get("norm_groups", NORM_GROUPS)  # taming's Normalize hard-codes 32; taming's own
        for module in self.modules():  # Encoder / Decoder ignore the extra ddconfig key, so it is set here
            if isinstance(module, nn.GroupNorm):
                if module.num_channels % groups:
                    raise ValueError(f"norm_groups {groups} does not divide {module.num_channels} channels")
                module.num_groups = groups
        self.quantize = VectorQuantizer(n_embed, embed_dim, beta=0.25)
        self.quant_conv = nn.Conv2d(ddconfig["z_channels"], embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)

    def decode_code(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [N, h, w] -> images [N, 3, H, W], as VQModel.decode_code (taming's own decoder path)."""
        z = self.quantize.embedding(codes).permute(0, 3, 1, 2)  # [N, embed_dim, h, w]
        return self.decoder(self.post_quant_conv(z))


def build(preset: str, seed: int) -> tuple[TamingVQModelParts, dict]:
    """The seeded random model of a preset and its VQModel hyper-parameters."""
    hparams = PRESETS[preset]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = TamingVQModelParts(hparams["ddconfig"], hparams["n_embed"], hparams["embed_dim"])
        # taming draws the codebook from U(+-1/n_embed), so every code would decode to nearly the same image and a
        # decode test could not tell codes apart; a trained codebook has O(1) entries.
        nn.init.normal_(model.quantize.embedding.weight)
        perturb_affine(model)
    return model.eval(), hparams


def write(out_dir: str, preset: str, seed: int) -> str:
    """Write DIR/vqgan.ckpt for ``preset`` ('tiny' or 'paper'); the same seed gives the same weights."""
    model, hparams = build(preset, seed)
    path = os.path.join(out_dir, "vqgan.ckpt")
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": hparams, "epoch": 0, "global_step": 0}
    torch.save(checkpoint, path + ".tmp")
    os.replace(path + ".tmp", path)
    return path


@torch.no_grad()
def perturb_affine(model: nn.Module) -> None:
    """Move norm scales off 1 and zero-initialised biases off 0 (uses the caller's seeded RNG).

    Fresh modules start with identity norms and zero attention biases, which would let a converter that drops or swaps
    those tensors pass every test; trained weights never look like that.
    """
    for module in model.modules():
        if isinstance(module, (nn.GroupNorm, nn.LayerNorm)):
            module.weight.add_(0.1 * torch.randn_like(module.weight))
            module.bias.add_(0.1 * torch.randn_like(module.bias))
    for name, param in model.named_parameters():
        if name.endswith("bias") and not param.any():
            param.normal_(std=0.02)
