"""`clipgen-train check`: how good the trained parts are before (or after) the transformer stage.

- CLIP: for held-out scenes, each caption's nearest image among all the scenes' images (by CLIP cosine): how often
  that image has the caption's first object's colour and shape and the caption's layout (position or relation), in training phrasings and in the held-out ones
  (captions.HELD_OUT); the mean cosine of a caption with its own image and with the others; and each scene against
  its layout twin (the same objects moved, resized or swapped), which only a CLIP that reads layouts tells apart.
- VQGAN: the scenes encoded, quantised and decoded, judged by the evaluation's oracle (colour, shape, position) and
  by PSNR. The transformer can do no better than the VQGAN's tokens allow, so this bounds the final accuracy.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from clipgen_train import clip_model, train_vqgan
from clipgen_train.captions import POSITION_PHRASES, TWIN_STREAM, caption
from clipgen_train.oracle import judge
from clipgen_train.scenes import render, sample_scene, scene_rng, twin

CHECK_SEED = 4242  # data-set seed of the checked scenes (training uses small seeds, the evaluation 1_000_003)


@torch.no_grad()
def check_clip(path: str, scenes: list, size: int, activation: str | None = None) -> dict:
    """Nearest-image agreement of captions with the CLIP checkpoint at `path` over `scenes` (rendered at `size`)."""
    clip, _ = clip_model.load(path, activation)
    clip.eval()
    tokenize = clip_model.tokenizer(int(clip.positional_embedding.shape[0]))
    images = torch.stack([render(s, size) for s in scenes])  # [N, 3, S, S]
    emb = F.normalize(clip.encode_image(clip_model.pixels(images, clip_model.image_size(clip))), dim=-1)  # [N, E]
    out = {}
    for name, held_out in (("training phrasing", False), ("held-out phrasing", True)):
        texts = [caption(s, scene_rng(CHECK_SEED, i, 1), held_out=held_out) for i, s in enumerate(scenes)]
        sim = F.normalize(clip.encode_text(tokenize(texts)), dim=-1) @ emb.T  # [N, N]
        nearest = sim.argmax(1).tolist()
        first = [s.objects[0] for s in scenes]
        n = len(scenes)
        out[name] = {
            "nearest_colour": sum(scenes[j].objects[0].colour == o.colour for j, o in zip(nearest, first)) / n,
            "nearest_shape": sum(scenes[j].objects[0].shape == o.shape for j, o in zip(nearest, first)) / n,
            # over the captions that name a layout: the nearest image has it (one object: the same named position;
            # two: the same relation, whatever the positions' names)
            "nearest_position": _share([_layout(scenes[j]) == _layout(s) for j, s, t in zip(nearest, scenes, texts)
                                        if _names_layout(s, t)]),
            "nearest_is_own": sum(j == i for i, j in enumerate(nearest)) / n,
            "cosine_own": float(sim.diag().mean()),
            "cosine_other": float((sim.sum() - sim.diag().sum()) / (n * n - n)),
        }
    out["layout twins"] = check_twins(clip, tokenize, scenes, size)
    return out


@torch.no_grad()
def check_twins(clip, tokenize, scenes: list, size: int) -> dict:
    """Each scene against its layout twin (scenes.twin: the same objects moved, resized or swapped), both captions
    naming the layout: how often a caption is nearer its own image than the twin's (`text_picks_own`), and an
    image nearer its own caption than the twin's (`image_picks_own`), for one-object and two-object scenes. 0.5 is
    a CLIP blind to layout."""
    twins = [twin(s, scene_rng(CHECK_SEED, i, TWIN_STREAM)) for i, s in enumerate(scenes)]

    def embed(group: list) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.stack([render(s, size) for s in group])  # [N, 3, S, S]
        image = F.normalize(clip.encode_image(clip_model.pixels(images, clip_model.image_size(clip))), dim=-1)
        texts = [caption(s, scene_rng(CHECK_SEED, i, TWIN_STREAM + 1), name_layout=True) for i, s in enumerate(group)]
        return image, F.normalize(clip.encode_text(tokenize(texts)), dim=-1)  # [N, E] each

    (image_a, text_a), (image_b, text_b) = embed(scenes), embed(twins)
    text_own = ((text_a * image_a).sum(-1) > (text_a * image_b).sum(-1)).tolist()  # [N]
    image_own = ((image_a * text_a).sum(-1) > (image_a * text_b).sum(-1)).tolist()  # [N]
    out = {}
    for kind, count in (("one object", 1), ("two objects", 2)):
        idx = [i for i, s in enumerate(scenes) if len(s.objects) == count]
        out[kind] = {"text_picks_own": _share([text_own[i] for i in idx]),
                     "image_picks_own": _share([image_own[i] for i in idx]), "scenes": len(idx)}
    kinds = [_twin_kind(s, t) for s, t in zip(scenes, twins)]
    out["text_picks_own by change"] = {k: _share([o for o, kk in zip(text_own, kinds) if kk == k])
                                       for k in sorted(set(kinds))}
    return out


def _twin_kind(scene, other) -> str:
    """How a twin differs: moved / moved and resized (one object); swapped / recoloured / relation (two)."""
    if len(scene.objects) == 1:
        return "moved" if scene.objects[0].size == other.objects[0].size else "moved and resized"
    if scene.relation != other.relation:
        return "relation"
    looks = sorted((o.shape, o.colour) for o in scene.objects)
    return "swapped" if looks == sorted((o.shape, o.colour) for o in other.objects) else "recoloured"


def _share(hits: list[bool]) -> float | None:
    return sum(hits) / len(hits) if hits else None


def _names_layout(scene, text: str) -> bool:
    """Whether a caption of `scene` says where things are (two-object captions always name their relation)."""
    return len(scene.objects) == 2 or any(p in text for p in POSITION_PHRASES[scene.objects[0].position])


def _layout(scene) -> str:
    """What a caption can say about where things are: the object's position, or the two objects' relation."""
    return scene.relation if len(scene.objects) == 2 else scene.objects[0].position


@torch.no_grad()
def check_vqgan(path: str, scenes: list) -> dict:
    """Oracle accuracies and median PSNR of the VQGAN's reconstructions of `scenes`."""
    vq, hparams = train_vqgan.load(path)
    size = hparams["ddconfig"]["resolution"]
    images = torch.stack([render(s, size) for s in scenes])  # [N, 3, S, S] in [0, 1]
    recon, _, _, _ = vq(images * 2 - 1)
    recon = (recon.clamp(-1, 1) + 1) / 2  # [N, 3, S, S]
    psnr = 10 * torch.log10(1 / ((recon - images) ** 2).mean((1, 2, 3)).clamp_min(1e-10))  # [N]
    pixels = (recon * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # [N, S, S, 3]
    colour = shape = objects = position = 0
    for image, scene in zip(pixels, scenes):
        verdict = judge(image, scene, position_named=True)
        colour += sum(o["colour"] for o in verdict["objects"])
        shape += sum(o["shape"] for o in verdict["objects"])
        objects += len(verdict["objects"])
        position += bool(verdict["position"])
    return {"colour": colour / objects, "shape": shape / objects, "position": position / len(scenes),
            "psnr_median_db": float(psnr.median())}


def main(args) -> int:
    import json

    scenes = [sample_scene(CHECK_SEED, i) for i in range(args.scenes)]
    report = {}
    if args.vqgan:
        report["vqgan"] = check_vqgan(args.vqgan, scenes)
    if args.clip:
        size = 64
        if args.vqgan:
            size = train_vqgan.load(args.vqgan)[1]["ddconfig"]["resolution"]
        report["clip"] = check_clip(args.clip, scenes, size, args.clip_activation)
    print(json.dumps(report, indent=1))
    return 0
