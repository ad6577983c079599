"""Load the CLIP-GEN transformer from an HFAiLab/clip-gen GPT checkpoint (the layout our training recipe writes too).

HFAiLab's models/gpt.py: tok_emb, pos_emb [1, positions, d], cond_proj (the L2-normalised CLIP embedding -> one prefix
token), blocks of nn.TransformerEncoderLayer(d, heads, 4d, gelu, batch_first, norm_first=True), a final LayerNorm
``norm`` and ``head`` with bias. Each block's ``mask`` buffer (the causal mask) is dropped: the runtime builds its own.

Not in the weights, and where it comes from instead:
- heads: the ``heads`` argument (CLI --gpt-heads) if given; else the checkpoint's 'config' entry (ClipGenGPT writes
  one; HFAiLab's files have none); else d_model / 64, the head width of both HFAiLab presets (gpt2_medium 1024 / 16,
  gpt2_large 1280 / 20). meta 'heads_source' records which, so a file never hides a guess.
- grid: the ``grid`` argument (CLI --gpt-grid HxW); else 'config'; else square, sqrt(positions): HFAiLab sizes
  pos_emb to exactly the h*w tokens (block_size 256 for 16x16), because the last token is never fed back.
- LayerNorm eps 1e-5 (nn default), exact-erf GELU and pre-LN (norm_first=True) are fixed by HFAiLab's code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .checkpoint import read_torch, state_dict_in
from .component import Component, ConversionError

LAYOUT = "HFAiLab GPT"
HEAD_WIDTH_RULE = 64  # d_model / heads in every HFAiLab preset

# Every checkpoint name: canonical -> HFAiLab key.
NAMES = {
    "tok_emb.weight": "tok_emb.weight",  # [vocab, d]
    "pos_emb": "pos_emb",  # HFAiLab [1, positions, d]; canonical [positions, d]
    "cond_proj.weight": "cond_proj.weight",  # [d, cond_dim]
    "cond_proj.bias": "cond_proj.bias",  # [d]
    "norm.weight": "norm.weight",  # [d]
    "norm.bias": "norm.bias",  # [d]
    "head.weight": "head.weight",  # [vocab, d]
    "head.bias": "head.bias",  # [vocab]
}
BLOCK_NAMES = {  # blocks.N.<canonical> -> blocks.N.<HFAiLab>
    "norm1.weight": "encoder.norm1.weight",  # [d]
    "norm1.bias": "encoder.norm1.bias",  # [d]
    "attn.qkv.weight": "encoder.self_attn.in_proj_weight",  # [3d, d]: rows q, k, v
    "attn.qkv.bias": "encoder.self_attn.in_proj_bias",  # [3d]
    "attn.out.weight": "encoder.self_attn.out_proj.weight",  # [d, d]
    "attn.out.bias": "encoder.self_attn.out_proj.bias",  # [d]
    "norm2.weight": "encoder.norm2.weight",  # [d]
    "norm2.bias": "encoder.norm2.bias",  # [d]
    "mlp.fc.weight": "encoder.linear1.weight",  # [d_ff, d]
    "mlp.fc.bias": "encoder.linear1.bias",  # [d_ff]
    "mlp.proj.weight": "encoder.linear2.weight",  # [d, d_ff]
    "mlp.proj.bias": "encoder.linear2.bias",  # [d]
}
DROPPED_BLOCK_KEY = "mask"  # blocks.N.mask: HFAiLab's causal mask buffer [positions, positions]


def load(path: str, *, heads: int | None = None, grid: list[int] | None = None) -> Component:
    """Read an HFAiLab-layout GPT checkpoint into canonical tensors + meta (see the module docstring)."""
    container = read_torch(path)
    weights = state_dict_in(container, "model", path, LAYOUT)
    if NAMES["tok_emb.weight"] not in weights or "blocks.0.encoder.self_attn.in_proj_weight" not in weights:
        raise ConversionError(f"{path}: not a CLIP-GEN transformer: expected HFAiLab's {{'model': ...}} with "
                              f"'tok_emb.weight' and 'blocks.N.encoder.*' keys")
    config = container.get("config") if isinstance(container.get("config"), Mapping) else {}

    # The sizes, from the tensors that define them; every tensor is then taken with the shape they imply.
    vocab, d = weights.take(NAMES["tok_emb.weight"], (None, None)).shape
    positions = weights.take(NAMES["pos_emb"], (1, None, d)).shape[1]
    cond_dim = weights.take(NAMES["cond_proj.weight"], (d, None)).shape[1]
    d_ff = weights.take("blocks.0." + BLOCK_NAMES["mlp.fc.weight"], (None, d)).shape[0]
    layers = 1 + max(int(k.split(".")[1]) for k in weights.keys_under("blocks.") if k.split(".")[1].isdigit())
    shapes = {"tok_emb.weight": (vocab, d), "pos_emb": (1, positions, d), "cond_proj.weight": (d, cond_dim),
              "cond_proj.bias": (d,), "norm.weight": (d,), "norm.bias": (d,), "head.weight": (vocab, d),
              "head.bias": (vocab,)}
    block_shapes = {"norm1.weight": (d,), "norm1.bias": (d,), "attn.qkv.weight": (3 * d, d), "attn.qkv.bias": (3 * d,),
                    "attn.out.weight": (d, d), "attn.out.bias": (d,), "norm2.weight": (d,), "norm2.bias": (d,),
                    "mlp.fc.weight": (d_ff, d), "mlp.fc.bias": (d_ff,), "mlp.proj.weight": (d, d_ff),
                    "mlp.proj.bias": (d,)}

    tensors = {name: weights.take(key, shapes[name]) for name, key in NAMES.items()}
    tensors["pos_emb"] = tensors["pos_emb"][0]  # [positions, d]
    for n in range(layers):
        for name, key in BLOCK_NAMES.items():
            tensors[f"blocks.{n}.{name}"] = weights.take(f"blocks.{n}.{key}", block_shapes[name])
    weights.ignore(f"blocks.{n}.{DROPPED_BLOCK_KEY}" for n in range(layers))
    weights.finish()

    recorded = dict(layers=layers, d_model=d, vocab_size=vocab, cond_dim=cond_dim)
    for key, value in recorded.items():
        if key in config and config[key] != value:
            raise ConversionError(f"{path}: 'config' says {key} = {config[key]} but the weights have {value}")
    heads, heads_source = _heads(path, d, heads, config)
    grid = _grid(path, positions, grid, config)
    meta = dict(recorded, heads=heads, heads_source=heads_source, d_ff=d_ff, n_positions=positions, grid=grid,
                norm_eps=1e-5, activation="gelu", norm_first=True, condition_norm="l2",
                source_layout="hfai-clip-gen")
    return Component(kind="gpt", tensors=tensors, meta=meta, source=path)


def hfai_state_dict_from_component(component: Component) -> dict[str, np.ndarray]:
    """The canonical transformer component (e.g. read back from a model file) -> an HFAiLab-layout state dict.

    The inverse of `load`, through the same tables, so a converted model's transformer can be trained further
    (clipgen-train gpt --init). The per-block causal ``mask`` buffers are not in a model file and are left out.
    """
    tensors, meta = component.tensors, component.meta
    missing = [name for name in NAMES if name not in tensors]
    if missing:
        raise ConversionError(f"{component.source}: its transformer lacks {', '.join(missing)}")
    sd = {key: tensors[name] for name, key in NAMES.items()}
    sd[NAMES["pos_emb"]] = tensors["pos_emb"][None]  # [1, positions, d], as HFAiLab stores it
    for n in range(int(meta["layers"])):
        for name, key in BLOCK_NAMES.items():
            if f"blocks.{n}.{name}" not in tensors:
                raise ConversionError(f"{component.source}: its transformer lacks blocks.{n}.{name}")
            sd[f"blocks.{n}.{key}"] = tensors[f"blocks.{n}.{name}"]
    return {k: np.ascontiguousarray(v) for k, v in sd.items()}


def _heads(path: str, d: int, option: int | None, config: Mapping) -> tuple[int, str]:
    if option is not None:
        heads, source = option, "option"
    elif isinstance(config.get("heads"), int):
        heads, source = config["heads"], "checkpoint config"
    elif d % HEAD_WIDTH_RULE == 0:
        heads, source = d // HEAD_WIDTH_RULE, f"d_model/{HEAD_WIDTH_RULE} (HFAiLab presets)"
    else:
        raise ConversionError(f"{path}: the number of attention heads is not recorded and d_model {d} is not a "
                              f"multiple of {HEAD_WIDTH_RULE}: pass --gpt-heads")
    if heads <= 0 or d % heads:
        raise ConversionError(f"{path}: {heads} attention heads ({source}) do not divide d_model {d}")
    return heads, source


def _grid(path: str, positions: int, option: list[int] | None, config: Mapping) -> list[int]:
    grid = option if option is not None else config.get("grid")
    if grid is None:
        side = math.isqrt(positions)
        if side * side != positions:
            raise ConversionError(f"{path}: the token grid is not recorded and {positions} positions is not a "
                                  f"square: pass --gpt-grid HxW")
        grid = [side, side]
    grid = [int(g) for g in grid]
    if len(grid) != 2 or min(grid) <= 0 or grid[0] * grid[1] > positions:
        raise ConversionError(f"{path}: token grid {grid} does not fit the {positions} positions of pos_emb "
                              f"(needs h * w <= positions: the last token is never fed back)")
    return grid
