"""Checks that the components given to `convert` fit together, before anything is written.

Each loader validates its own checkpoint; only here are two checkpoints compared. A transformer trained on another
VQGAN's codebook or another CLIP's embedding converts without complaint per file but generates noise, so a mismatch
stops the conversion with both files and both values named.
"""

from __future__ import annotations

from clipgen_convert.component import Component, ConversionError, require_meta


def _grid(component: Component) -> tuple[int, int]:
    grid = require_meta(component, "grid", (list, tuple))
    if len(grid) != 2 or not all(isinstance(g, int) and not isinstance(g, bool) and g > 0 for g in grid):
        raise ConversionError(f"{component.source}: {component.kind} metadata 'grid' is {grid!r}, "
                              "expected [height, width] in tokens")
    return int(grid[0]), int(grid[1])


def _int(component: Component, key: str) -> int:
    return int(require_meta(component, key, int))  # type: ignore[arg-type]


def _disagree(what: str, a: Component, a_key: str, a_value: object,
              b: Component, b_key: str, b_value: object) -> ConversionError:
    return ConversionError(
        f"components disagree on {what}: {a.kind} {a_key} = {a_value} in {a.source}, "
        f"but {b.kind} {b_key} = {b_value} in {b.source}")


def check_compatible(components: dict[str, Component]) -> None:
    """Raises ConversionError when the components present (kind -> Component) do not fit together.

    Checked, for each pair present: CLIP's embedding width is the transformer's condition width; the VQGAN
    codebook size is the transformer's vocabulary; both use the same token grid; and the transformer has a
    position for the condition token and every grid token it is fed (all but the last).
    """
    clip, gpt, vqgan = components.get("clip"), components.get("gpt"), components.get("vqgan")
    if gpt is not None:
        h, w = _grid(gpt)
        n_positions = _int(gpt, "n_positions")
        # The input is the condition token then tokens 1 .. h*w-1; the last token is sampled, never fed back, so
        # h*w positions suffice (HFAiLab's 16x16 GPT has exactly 256).
        if n_positions < h * w:
            raise ConversionError(
                f"{gpt.source}: transformer n_positions = {n_positions} is too small for a {h}x{w} token grid "
                f"(needs {h * w}: the condition token and the first {h * w - 1} tokens)")
    if clip is not None and gpt is not None:
        embed, cond = _int(clip, "embed_dim"), _int(gpt, "cond_dim")
        if embed != cond:
            raise _disagree("the condition width", clip, "embed_dim", embed, gpt, "cond_dim", cond)
    if vqgan is not None and gpt is not None:
        n_embed, vocab = _int(vqgan, "n_embed"), _int(gpt, "vocab_size")
        if n_embed != vocab:
            raise _disagree("the codebook size", vqgan, "n_embed", n_embed, gpt, "vocab_size", vocab)
        vq_grid, gpt_grid = _grid(vqgan), _grid(gpt)
        if vq_grid != gpt_grid:
            raise _disagree("the token grid", vqgan, "grid", list(vq_grid), gpt, "grid", list(gpt_grid))
