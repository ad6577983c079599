"""Random-weight CLIP-GEN transformer checkpoints in HFAiLab/clip-gen's GPT layout ({'model': state_dict, ...}).

The model is gpt_model.ClipGenGPT (torch.nn.TransformerEncoderLayer blocks under HFAiLab's attribute names), the
class our training recipe uses too. The checkpoint also carries its 'config' (heads, grid), which HFAiLab's own files
lack; the converter's tests cover both.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .gpt_model import ClipGenGPT
from .synth_vqgan import perturb_affine

PRESETS = {
    "paper": dict(layers=24, d_model=1024, heads=16),  # HFAiLab gpt2_medium
    "tiny": dict(layers=2, d_model=128, heads=2),  # head width 64 like the paper model
}


def build(preset: str, seed: int, *, cond_dim: int, vocab_size: int, grid: list[int]) -> ClipGenGPT:
    """The seeded random model of a preset, in eval mode."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = ClipGenGPT(vocab_size, grid=list(grid), cond_dim=cond_dim, **PRESETS[preset])
        # HFAiLab starts pos_emb at zero; GPT-2's N(0, 0.02) makes positions matter, so a test sees a shifted pos_emb.
        nn.init.normal_(model.pos_emb, std=0.02)
        perturb_affine(model)
    return model.eval()


def write(out_dir: str, preset: str, seed: int, *, cond_dim: int, vocab_size: int, grid: list[int]) -> str:
    """Write DIR/gpt.pt for ``preset`` ('tiny' or 'paper') with the given condition width, vocabulary and grid."""
    model = build(preset, seed, cond_dim=cond_dim, vocab_size=vocab_size, grid=grid)
    path = os.path.join(out_dir, "gpt.pt")
    torch.save(model.checkpoint(epoch=0), path + ".tmp")
    os.replace(path + ".tmp", path)
    return path
