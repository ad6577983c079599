"""Image-only data views (VQGAN and transformer stages) and the rank-strided index stream every stage draws from.

Samples are addressed by a global index, and a step's indices are a pure function of (step, rank, world size), so
a run needs no data-loader state to resume, and N processes see exactly the samples one process with N times the
batch would see (the DDP test relies on it).

No caption or text reaches these views: the procedural images come from scenes.py alone, and the transformer's
pairs carry only a CLIP *image* embedding and VQGAN tokens (CLIP-GEN's language-free training).
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from clipgen_train.scenes import render, sample_scene

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class TrainingDataError(Exception):
    """A user-facing problem with the training data or options; the CLI prints it as one line."""


def rank_indices(step: int, batch: int, rank: int, world: int) -> list[int]:
    """The sample indices of `rank`'s share of global batch `step` (batch per rank; world ranks)."""
    start = step * batch * world + rank * batch
    return list(range(start, start + batch))


class SceneImages:
    """Procedural scene images: index -> {'image': [3, S, S] in [0, 1]}; unlimited and deterministic."""

    def __init__(self, seed: int, size: int):
        self.seed, self.size = seed, size

    def item(self, index: int) -> dict:
        return {"image": render(sample_scene(self.seed, index), self.size)}

    def batch(self, indices: list[int]) -> dict:
        return {"image": torch.stack([self.item(i)["image"] for i in indices])}  # [N, 3, S, S]


class FolderImages:
    """The images of a folder (``--images DIR``), cycled by index, each resized (shorter side, bicubic) and centre
    cropped to S x S; index i // count picks a horizontal flip so repeated passes are not identical."""

    def __init__(self, folder: str, size: int):
        if not os.path.isdir(folder):
            raise TrainingDataError(f"--images {folder}: not a directory")
        self.paths = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
        if not self.paths:
            raise TrainingDataError(f"--images {folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        self.size = size

    def item(self, index: int) -> dict:
        from PIL import Image, UnidentifiedImageError

        path = self.paths[index % len(self.paths)]
        try:
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0  # [h, w, 3]
        except (OSError, UnidentifiedImageError) as e:
            raise TrainingDataError(f"--images: cannot read {path}: {e}") from None
        image = _resize_crop(torch.from_numpy(rgb).permute(2, 0, 1), self.size)  # [3, S, S]
        if (index // len(self.paths)) % 2:
            image = image.flip(-1)
        return {"image": image}

    def batch(self, indices: list[int]) -> dict:
        return {"image": torch.stack([self.item(i)["image"] for i in indices])}  # [N, 3, S, S]


def _resize_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """[3, h, w] -> [3, size, size]: shorter side to `size` (bicubic, antialiased), then the centre square."""
    h, w = image.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    image = F.interpolate(image[None], size=(nh, nw), mode="bicubic", antialias=True, align_corners=False)[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return image[:, top:top + size, left:left + size].clamp(0, 1)  # [3, size, size]


def image_source(images_dir: str | None, seed: int, size: int):
    """The image-only view of a stage: a folder of real images when given, procedural scenes otherwise."""
    return FolderImages(images_dir, size) if images_dir else SceneImages(seed, size)


class EmbeddingTokenPairs:
    """The transformer stage's view: image index -> (L2-normalised CLIP image embedding, VQGAN token grid).

    Built from an image-only source and two frozen encoders; its batches have exactly the keys in KEYS.
    """

    KEYS = ("cond", "tokens")

    def __init__(self, images, embed: Callable[[torch.Tensor], torch.Tensor],
                 tokenize: Callable[[torch.Tensor], torch.Tensor]):
        self.images, self.embed, self.tokenize = images, embed, tokenize

    @torch.no_grad()
    def batch(self, indices: list[int], device: torch.device) -> dict:
        images = self.images.batch(indices)["image"].to(device)  # [N, 3, S, S] in [0, 1]
        cond = F.normalize(self.embed(images), dim=-1)  # [N, E]
        tokens = self.tokenize(images).flatten(1)  # [N, h * w] raster order
        return {"cond": cond, "tokens": tokens}


class CachedPairs:
    """A fixed set of `size` (embedding, tokens) pairs, encoded once, then drawn epoch by epoch in a seeded order.

    Encoding images 0 .. size-1 once replaces the per-step encoding (about 40% of a transformer step on a CPU);
    the cost is a finite data set, which the condition noise of the transformer stage partly offsets. The pairs are
    saved to OUT/pairs.pt with the key that made them (the encoders' hashes, image source, size and seed; not the
    transformer's settings, so runs that differ only in those can share the file), and a resumed run or another run
    given a copy of the file does not encode again. Batches have the same keys as EmbeddingTokenPairs': no text.
    Under torchrun every process encodes the whole set (only rank 0 writes the file); with a pairs file present,
    none does.
    """

    CHUNK = 256  # images encoded per forward

    def __init__(self, pairs: EmbeddingTokenPairs, size: int, seed: int, out: str | None, key: dict, d):
        from clipgen_train.clip_model import save_atomic

        self.size, self.seed = size, seed
        path = os.path.join(out, "pairs.pt") if out else None
        cached = torch.load(path, map_location="cpu") if path and os.path.exists(path) else None
        if cached is not None and cached.get("key") == key:
            self.cond, self.tokens = cached["cond"], cached["tokens"]
        else:
            parts = [pairs.batch(list(range(i, min(size, i + self.CHUNK))), d.device)
                     for i in range(0, size, self.CHUNK)]
            self.cond = torch.cat([p["cond"] for p in parts]).cpu()  # [size, E]
            self.tokens = torch.cat([p["tokens"] for p in parts]).cpu()  # [size, L]
            if path and d.main:
                os.makedirs(out, exist_ok=True)
                save_atomic({"key": key, "cond": self.cond, "tokens": self.tokens}, path)
        self._orders: dict[int, torch.Tensor] = {}

    def _order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._orders:  # keep the previous epoch's too: a batch may straddle the boundary
            self._orders = {e: o for e, o in self._orders.items() if e == epoch - 1}
            self._orders[epoch] = torch.randperm(self.size, generator=torch.Generator().manual_seed(
                self.seed * 7919 + epoch))
        return self._orders[epoch]

    def batch(self, indices: list[int], device: torch.device) -> dict:
        picks = torch.stack([self._order(i // self.size)[i % self.size] for i in indices])  # [N]
        return {"cond": self.cond[picks].to(device), "tokens": self.tokens[picks].to(device)}
