"""Reference CLIP over the canonical tensors and metadata of a clip Component: tokenizer, text and image encoders.

This is the specification the Swift runtime ports (docs/model-clip.md), written out step by step in plain float32
torch with no library model classes. Port of openai/CLIP clip/model.py (encode_text, VisionTransformer) and
open_clip's SimpleTokenizer (clean="lower"); the tests check it against open_clip and transformers themselves.
"""

from __future__ import annotations

import html
import math

import numpy as np
import torch
import torch.nn.functional as F

from clipgen_convert.clip_vocab import bytes_to_unicode
from clipgen_convert.component import Component

#: Fixed prompts and seeded images `verify` compares the float and the quantised towers on.
VERIFY_PROMPTS = (
    "a diagram",
    "a photo of a cat sitting on a red sofa",
    "An oil painting of a lighthouse at dusk, stormy sea",
    "two dogs playing in the snow",
    "a bowl of ramen with chopsticks, studio lighting",
    "a city skyline at night with neon lights",
    "a close-up of a bee on a sunflower",
    "3 red apples on a wooden table",
)
VERIFY_IMAGES = 4
VERIFY_SEED = 0


class Tokenizer:
    """CLIP's byte-level BPE, from the tables stored in the component (tokenizer.ggml.* and clipgen.clip.tokenizer.*).

    `tokenizer(text)` gives the model input: [bos] + BPE ids + [eos], cut to the context length with eos kept in the
    last slot, zero-padded. Equal to open_clip.tokenize (the tests check it).
    """

    def __init__(self, component: Component):
        import regex  # \p{L} classes; the standard re module has none

        kv, meta = component.extra_kv, component.meta
        tokens = kv["tokenizer.ggml.tokens"][0]
        self.ids = {token: i for i, token in enumerate(tokens)}
        self.ranks = {tuple(m.split(" ")): rank for rank, m in enumerate(kv["tokenizer.ggml.merges"][0])}
        self.bos, self.eos = kv["tokenizer.ggml.bos_token_id"][0], kv["tokenizer.ggml.eos_token_id"][0]
        self.pad = kv["tokenizer.ggml.padding_token_id"][0]
        self.specials = {tokens[self.bos], tokens[self.eos]}
        self.suffix = meta["tokenizer.end_of_word_suffix"]
        self.pattern = regex.compile(meta["tokenizer.pattern"],
                                     regex.IGNORECASE if meta["tokenizer.pattern_ignore_case"] else 0)
        self.context = meta["text.context_length"]
        self.byte_chars = bytes_to_unicode()

    @staticmethod
    def clean(text: str) -> str:
        """ftfy's text repair, HTML entities decoded twice, whitespace runs collapsed to one space, lower case."""
        import ftfy

        text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
        return " ".join(text.split()).lower()

    def encode(self, text: str) -> list[int]:
        """BPE ids of a prompt, without start / end tokens."""
        ids = []
        for piece in self.pattern.findall(self.clean(text)):
            word = "".join(self.byte_chars[b] for b in piece.encode("utf-8"))
            ids.extend(self.ids[symbol] for symbol in self._bpe(word))
        return ids

    def _bpe(self, word: str) -> list[str]:
        """Merges the lowest-ranked adjacent pair, everywhere left to right, until no ranked pair is left."""
        if word in self.specials:
            return [word]
        parts = [*word[:-1], word[-1] + self.suffix]  # the last character carries the end-of-word mark
        while len(parts) > 1:
            best = min(zip(parts, parts[1:]), key=lambda pair: self.ranks.get(pair, math.inf))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts

    def __call__(self, text: str) -> list[int]:
        ids = [self.bos, *self.encode(text), self.eos][: self.context]
        ids[-1] = self.eos  # a truncated prompt still ends with end-of-text, where the text is pooled
        return ids + [self.pad] * (self.context - len(ids))


def _weights(component: Component) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for name, a in component.tensors.items()}


def _layer_norm(x: torch.Tensor, w: dict, name: str, eps: float) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], w[f"{name}.weight"], w[f"{name}.bias"], eps)


def _attention(x: torch.Tensor, w: dict, p: str, heads: int, mask: torch.Tensor | None) -> torch.Tensor:
    """Multi-head self-attention, scale 1/sqrt(head width); `mask` is added to the scores (causal: -inf above the
    diagonal)."""
    b, t, d = x.shape
    qkv = F.linear(x, w[f"{p}.attn.qkv.weight"], w[f"{p}.attn.qkv.bias"])  # [B, T, 3D]: q, k, v
    q, k, v = qkv.view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)  # each [B, H, T, Dh]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d // heads)  # [B, H, T, T]
    if mask is not None:
        scores = scores + mask
    y = scores.softmax(-1) @ v  # [B, H, T, Dh]
    y = y.transpose(1, 2).reshape(b, t, d)  # [B, T, D], heads side by side
    return F.linear(y, w[f"{p}.attn.out.weight"], w[f"{p}.attn.out.bias"])  # [B, T, D]


def _mlp(x: torch.Tensor, w: dict, p: str, activation: str) -> torch.Tensor:
    h = F.linear(x, w[f"{p}.mlp.fc.weight"], w[f"{p}.mlp.fc.bias"])  # [B, T, M]
    if activation == "quick_gelu":
        h = h * torch.sigmoid(1.702 * h)  # OpenAI's QuickGELU
    else:
        h = F.gelu(h)  # exact (erf) GELU
    return F.linear(h, w[f"{p}.mlp.proj.weight"], w[f"{p}.mlp.proj.bias"])  # [B, T, D]


def _transformer(x: torch.Tensor, w: dict, meta: dict, tower: str, mask: torch.Tensor | None) -> torch.Tensor:
    """The tower's pre-LN residual blocks: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""
    eps, heads, act = meta[f"{tower}.ln_eps"], meta[f"{tower}.heads"], meta[f"{tower}.activation"]
    for i in range(meta[f"{tower}.layers"]):
        p = f"{tower}.blocks.{i}"
        x = x + _attention(_layer_norm(x, w, f"{p}.ln_1", eps), w, p, heads, mask)  # [B, T, D]
        x = x + _mlp(_layer_norm(x, w, f"{p}.ln_2", eps), w, p, act)  # [B, T, D]
    return x


@torch.no_grad()
def text_embedding(component: Component, ids: torch.Tensor) -> torch.Tensor:
    """L2-normalised text embeddings [B, E] of token ids [B, T] (Tokenizer output)."""
    w, meta = _weights(component), component.meta
    b, t = ids.shape
    x = w["text.token_embedding.weight"][ids] + w["text.positional_embedding"][:t]  # [B, T, D]
    causal = torch.full((t, t), -math.inf).triu(1)  # [T, T]: position i sees positions <= i
    x = _transformer(x, w, meta, "text", causal)  # [B, T, D]
    x = _layer_norm(x, w, "text.ln_final", meta["text.ln_eps"])  # [B, T, D]
    x = x[torch.arange(b), ids.argmax(-1)]  # [B, D]: the end-of-text row (the highest token id)
    if meta["text.has_projection"]:
        x = F.linear(x, w["text.projection.weight"])  # [B, E]
    return F.normalize(x, dim=-1)


@torch.no_grad()
def image_embedding(component: Component, images: torch.Tensor) -> torch.Tensor:
    """L2-normalised image embeddings [B, E] of images [B, 3, S, S], RGB in [0, 1], already resized (bicubic) and
    centre-cropped to S = vision.image_size; CLIP's pixel normalisation is applied here."""
    w, meta = _weights(component), component.meta
    mean = torch.tensor(meta["vision.image_mean"]).view(3, 1, 1)
    std = torch.tensor(meta["vision.image_std"]).view(3, 1, 1)
    x = (images - mean) / std  # [B, 3, S, S]
    patch = w["vision.patch_embed.weight"].permute(0, 3, 1, 2)  # [D, kh, kw, 3] -> [D, 3, kh, kw]
    x = F.conv2d(x, patch, stride=meta["vision.patch_size"])  # [B, D, G, G]
    x = x.flatten(2).transpose(1, 2)  # [B, G*G, D], patches row by row
    cls = w["vision.class_embedding"].expand(x.shape[0], 1, -1)  # [B, 1, D]
    x = torch.cat([cls, x], dim=1) + w["vision.positional_embedding"]  # [B, 1 + G*G, D]
    x = _layer_norm(x, w, "vision.ln_pre", meta["vision.ln_eps"])
    x = _transformer(x, w, meta, "vision", None)  # [B, 1 + G*G, D], no mask
    x = _layer_norm(x[:, 0], w, "vision.ln_post", meta["vision.ln_eps"])  # [B, D]: the class token
    x = F.linear(x, w["vision.projection.weight"])  # [B, E]
    return F.normalize(x, dim=-1)


def verify_images(size: int) -> torch.Tensor:
    """VERIFY_IMAGES smooth seeded images [N, 3, size, size] in [0, 1] (bilinear-upsampled 4x4 noise)."""
    g = torch.Generator().manual_seed(VERIFY_SEED)
    coarse = torch.rand(VERIFY_IMAGES, 3, 4, 4, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def verify(original: Component, quantised: Component) -> dict[str, float]:
    """Cosine between the float and the quantised embeddings: the minimum over VERIFY_PROMPTS (and seeded images)."""
    tokenizer = Tokenizer(original)  # a component read back from a file has no extra_kv; the tables are equal
    ids = torch.tensor([tokenizer(p) for p in VERIFY_PROMPTS])  # [N, T]
    a, b = text_embedding(original, ids), text_embedding(quantised, ids)  # [N, E] each, unit length
    result = {"text_cosine": float((a * b).sum(-1).min())}
    if original.meta["has_vision"]:
        images = verify_images(original.meta["vision.image_size"])
        a, b = image_embedding(original, images), image_embedding(quantised, images)
        result["image_cosine"] = float((a * b).sum(-1).min())
    return result
