"""Reference CLIP-GEN transformer over canonical tensors and meta: the specification the Swift sampler ports.

Port of HFAiLab/clip-gen's models/gpt.py forward (nn.TransformerEncoderLayer, pre-LN, exact GELU), written out so that
every operation is visible, plus the KV-cached decoding their sampler lacks. Position 0 holds the condition
(cond_proj of the L2-normalised CLIP embedding), position i >= 1 token i-1; the logits at position i are the
distribution of token i. ``forward`` runs all positions at once; ``start`` + ``step`` run them one at a time through
a cache of keys and values and give the same logits (tests check both against torch's own module).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .component import Component

VERIFY_SEED = 0


class KVCache:
    """Keys and values of every position decoded so far, per layer: [positions, d] each, grown by one row a step."""

    def __init__(self, layers: int):
        self.keys: list[torch.Tensor | None] = [None] * layers
        self.values: list[torch.Tensor | None] = [None] * layers

    @property
    def length(self) -> int:
        return 0 if self.keys[0] is None else self.keys[0].shape[0]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new positions' k, v [new, d]; return all of them so far [positions, d]."""
        if self.keys[layer] is not None:
            k, v = torch.cat([self.keys[layer], k]), torch.cat([self.values[layer], v])
        self.keys[layer], self.values[layer] = k, v
        return k, v


class GPTReference:
    """The transformer over canonical tensors (docs/model-gpt.md)."""

    def __init__(self, component: Component):
        self.meta = component.meta
        # Copies: arrays read from a model file are read-only views.
        self.w = {name: torch.from_numpy(np.array(t, dtype=np.float32)) for name, t in component.tensors.items()}
        self.heads = self.meta["heads"]

    def forward(self, cond: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """cond [cond_dim] (L2-normalised), tokens [L] -> logits [L + 1, vocab], all positions in one causal pass."""
        return self.run(self.embed(cond, tokens, start=0), KVCache(self.meta["layers"]))

    def start(self, cond: torch.Tensor) -> tuple[torch.Tensor, KVCache]:
        """Decode position 0 (the condition): logits of token 0 [vocab] and a cache holding one position."""
        cache = KVCache(self.meta["layers"])
        return self.run(self.embed(cond, None, start=0), cache)[-1], cache

    def step(self, token: int, cache: KVCache) -> torch.Tensor:
        """Feed the token sampled last; the cache grows by one position. Returns the next token's logits [vocab]."""
        x = self.embed(None, torch.tensor([token]), start=cache.length)  # [1, d]
        return self.run(x, cache)[-1]

    def embed(self, cond: torch.Tensor | None, tokens: torch.Tensor | None, start: int) -> torch.Tensor:
        """Input rows for positions start, start+1, ...: [cond_proj(cond)] then tok_emb rows, plus pos_emb."""
        rows = []
        if cond is not None:
            rows.append(F.linear(cond, self.w["cond_proj.weight"], self.w["cond_proj.bias"])[None])  # [1, d]
        if tokens is not None:
            rows.append(self.w["tok_emb.weight"][tokens])  # [L, d]
        x = torch.cat(rows)  # [new, d]
        return x + self.w["pos_emb"][start:start + x.shape[0]]  # [new, d]

    def run(self, x: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """x [new, d] at positions cache.length ... -> logits [new, vocab]; appends the new keys/values to cache."""
        past = cache.length  # positions before x; every layer's cache holds this many until it appends
        for n in range(self.meta["layers"]):
            h = x + self.attention(n, self.norm(f"blocks.{n}.norm1", x), cache, past)  # [new, d]
            x = h + self.mlp(n, self.norm(f"blocks.{n}.norm2", h))  # [new, d]
        x = self.norm("norm", x)  # [new, d]
        return F.linear(x, self.w["head.weight"], self.w["head.bias"])  # [new, vocab]

    def attention(self, n: int, x: torch.Tensor, cache: KVCache, past: int) -> torch.Tensor:
        """Causal multi-head self-attention of the new positions (from position ``past`` on) over all so far."""
        p = f"blocks.{n}.attn"
        new, d = x.shape
        q, k, v = F.linear(x, self.w[f"{p}.qkv.weight"], self.w[f"{p}.qkv.bias"]).split(d, dim=-1)  # 3 x [new, d]
        k, v = cache.append(n, k, v)  # [past + new, d]
        dh = d // self.heads
        q = q.reshape(new, self.heads, dh).transpose(0, 1)  # [heads, new, dh]
        k = k.reshape(-1, self.heads, dh).transpose(0, 1)  # [heads, past + new, dh]
        v = v.reshape(-1, self.heads, dh).transpose(0, 1)  # [heads, past + new, dh]
        scores = q @ k.transpose(1, 2) / math.sqrt(dh)  # [heads, new, past + new]
        query_pos = torch.arange(past, past + new)[:, None]  # [new, 1]
        key_pos = torch.arange(past + new)[None, :]  # [1, past + new]
        scores = scores.masked_fill(key_pos > query_pos, float("-inf"))  # no attending to later positions
        out = (torch.softmax(scores, dim=-1) @ v).transpose(0, 1).reshape(new, d)  # [new, d]
        return F.linear(out, self.w[f"{p}.out.weight"], self.w[f"{p}.out.bias"])  # [new, d]

    def mlp(self, n: int, x: torch.Tensor) -> torch.Tensor:
        p = f"blocks.{n}.mlp"
        h = F.gelu(F.linear(x, self.w[f"{p}.fc.weight"], self.w[f"{p}.fc.bias"]))  # [new, d_ff], exact erf GELU
        return F.linear(h, self.w[f"{p}.proj.weight"], self.w[f"{p}.proj.bias"])  # [new, d]

    def norm(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.w[f"{name}.weight"], self.w[f"{name}.bias"],
                            eps=self.meta["norm_eps"])


def verify_inputs(meta: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed seeded condition [cond_dim] (L2-normalised) and token sequence [h * w] verify uses."""
    generator = torch.Generator().manual_seed(VERIFY_SEED)
    cond = torch.randn(meta["cond_dim"], generator=generator)  # [cond_dim]
    tokens = torch.randint(meta["vocab_size"], (meta["grid"][0] * meta["grid"][1],), generator=generator)  # [hw]
    return cond / cond.norm(), tokens


@torch.no_grad()
def verify(original: Component, quantised: Component) -> dict[str, float]:
    """Teacher-forced logits for every grid token from both weight sets on the same fixed inputs.

    top1_agreement: fraction of positions whose argmax token is the same; logit_rms: RMS of the logit difference
    relative to the RMS of the original logits.
    """
    cond, tokens = verify_inputs(original.meta)
    a = GPTReference(original).forward(cond, tokens[:-1])  # [hw, vocab]
    b = GPTReference(quantised).forward(cond, tokens[:-1])  # [hw, vocab]
    agreement = (a.argmax(-1) == b.argmax(-1)).double().mean().item()
    rms = ((a - b).double().pow(2).mean().sqrt() / a.double().pow(2).mean().sqrt()).item()
    return {"top1_agreement": agreement, "logit_rms": rms}
