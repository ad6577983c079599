"""Small seeded Components for the core (writer, quant, CLI plumbing) tests.

These stand for a loader's output, not for any checkpoint layout: the loaders' own tests build real checkpoints
with the real libraries. Shapes cover each branch of the storage rule: Q8_0 matrices, a 4-D conv weight, a conv
whose rows (3 input channels) do not split into blocks, biases, norms and a positional embedding.
"""

from __future__ import annotations

import os

import numpy as np

from clipgen_convert.component import Component


def tricky_rows(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """[rows, cols] float32 with the Q8_0 edge cases in the first blocks: zeros, exact ties, tiny and huge values."""
    x = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)  # [rows, cols]
    x[0, :32] = 0.0                                              # all-zero block: d = 0, q = 0
    x[1, 0] = 127.0 / 8                                          # amax 127/8 -> d = 1/8, id = 8 exactly
    x[1, 1:32] = (np.arange(31, dtype=np.float32) - 14.5) / 8    # x * id = k + 0.5: ties, rounded away from 0
    x[2, :32] *= np.float32(1e-30)                               # subnormal fp16 scale
    x[3, :32] = np.linspace(-3e4, 3e4, 32, dtype=np.float32)     # large magnitudes
    return x


def clip_component(source: str, seed: int = 0, embed_dim: int = 64) -> Component:
    rng = np.random.default_rng(seed)
    w = 64
    tensors = {
        "token_embedding.weight": tricky_rows(rng, 96, w),                                   # [vocab, width]
        "positional_embedding": rng.standard_normal((8, w)).astype(np.float32),              # [context, width]
        "transformer.resblocks.0.attn.in_proj_weight": rng.standard_normal((3 * w, w)).astype(np.float32),
        "transformer.resblocks.0.mlp.c_fc.weight": rng.standard_normal((4 * w, w)).astype(np.float32),
        "transformer.resblocks.0.mlp.c_fc.bias": rng.standard_normal(4 * w).astype(np.float32),  # [4 width]
        "ln_final.weight": np.ones(w, np.float32),                                          # [width]
        "text_projection.weight": rng.standard_normal((embed_dim, w)).astype(np.float32),   # [embed, width]
    }
    meta = {"embed_dim": embed_dim, "has_vision": False, "width": w, "layers": 1, "heads": 2, "context_length": 8,
            "ln_eps": 1e-5, "activation": "quick_gelu"}
    return Component("clip", tensors, meta, source)


def gpt_component(source: str, seed: int = 1, cond_dim: int = 64, vocab: int = 64, grid: tuple = (2, 2),
                  n_positions: int | None = None) -> Component:
    rng = np.random.default_rng(seed)
    d = 32
    tensors = {
        "tok_emb.weight": rng.standard_normal((vocab, d)).astype(np.float32),            # [vocab, d]
        "pos_emb": rng.standard_normal((grid[0] * grid[1], d)).astype(np.float32),      # [positions, d]
        "cond_proj.weight": rng.standard_normal((d, cond_dim)).astype(np.float32),      # [d, cond]
        "cond_proj.bias": rng.standard_normal(d).astype(np.float32),                    # [d]
        "head.weight": rng.standard_normal((vocab, d)).astype(np.float32),              # [vocab, d]
    }
    meta = {"cond_dim": cond_dim, "vocab_size": vocab, "grid": list(grid), "d_model": d,
            "n_positions": n_positions if n_positions is not None else grid[0] * grid[1]}
    return Component("gpt", tensors, meta, source)


def vqgan_component(source: str, seed: int = 2, n_embed: int = 64, grid: tuple = (2, 2)) -> Component:
    rng = np.random.default_rng(seed)
    tensors = {
        "quantize.embedding.weight": rng.standard_normal((n_embed, 32)).astype(np.float32),      # [codes, embed]
        "decoder.conv_in.weight": rng.standard_normal((64, 3, 3, 32)).astype(np.float32),        # [out, kh, kw, in]
        "decoder.conv_in.bias": rng.standard_normal(64).astype(np.float32),                      # [out]
        "decoder.conv_out.weight": rng.standard_normal((3, 3, 3, 64)).astype(np.float32),        # [3, kh, kw, 64]
        "encoder.conv_in.weight": rng.standard_normal((32, 3, 3, 3)).astype(np.float32),         # rows of 3: F32
        "decoder.norm_out.weight": np.ones(64, np.float32),                                      # [channels]
    }
    meta = {"n_embed": n_embed, "embed_dim": 32, "resolution": 16 * grid[0], "grid": list(grid),
            "ch_mult": [1, 2], "pixel_mean": [0.5, 0.5, 0.5], "pixel_std": [0.5, 0.5, 0.5], "norm_eps": 1e-6}
    return Component("vqgan", tensors, meta, source)


def fake_checkpoint(directory: str, name: str, content: bytes = b"") -> str:
    """A file standing in for a checkpoint where only its path and hash matter (provenance, verify matching)."""
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(content or name.encode())
    return path


def all_components(directory: str) -> list[Component]:
    return [clip_component(fake_checkpoint(directory, "clip.pt")),
            gpt_component(fake_checkpoint(directory, "gpt.pt")),
            vqgan_component(fake_checkpoint(directory, "vqgan.ckpt"))]
