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
