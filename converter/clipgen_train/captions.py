"""English captions for procedural scenes, from a small grammar; the (image, caption) view the CLIP stage reads.

Only the CLIP stage imports this module. The transformer stage must never see a caption (CLIP-GEN is trained
language-free); a test checks that importing it does not import this module.

Every caption names the colour and shape of each object; size, position, background and the sentence frame vary,
so one scene has many phrasings and a short prompt ("a red circle") matches many images, as it does at inference.
`HELD_OUT` phrasings are never produced for training: an evaluation can ask for them to measure how far the CLIP
generalises beyond the grammar it was trained on.
"""

from __future__ import annotations

import numpy as np
import torch

from clipgen_train.scenes import Scene, SceneObject, render, sample_scene, scene_rng

CAPTION_STREAM = 1  # scene_rng stream of the caption choices (stream 0 draws the scene)

#: Phrases for a single object's position (training).
POSITION_PHRASES = {
    "centre": ["in the centre", "in the middle", "at the centre"],
    "left": ["on the left", "at the left", "on the left side"],
    "right": ["on the right", "at the right", "on the right side"],
    "top": ["at the top", "near the top"],
    "bottom": ["at the bottom", "near the bottom"],
    **{f"{v} {h}": [f"in the {v} {h} corner", f"at the {v} {h}"] for v in ("top", "bottom") for h in ("left", "right")},
}
BACKGROUND_PHRASES = ["on a {bg} background", "against a {bg} background", "on {bg}"]
FRAMES = ["{x}", "{x}", "a picture of {x}", "an image of {x}", "there is {x}"]
TWO_FRAMES = ["two shapes: {x}", "{x}", "{x}", "a picture of {x}"]
#: Two-object sentences per relation; {a} is the first object (top / left), {b} the second.
RELATION_PHRASES = {
    "above": ["{a} above {b}", "{b} below {a}", "{a} at the top and {b} at the bottom", "{b} under {a}"],
    "left of": ["{a} to the left of {b}", "{b} to the right of {a}", "{a} on the left and {b} on the right"],
}
#: Phrasings kept out of training (evaluation only).
HELD_OUT = {
    "single": ["a drawing of {x}", "{colour} {shape}", "a {shape} that is {colour}", "a {shape} coloured {colour}"],
    "above": ["{a} over {b}", "{a} sitting above {b}"],
    "left of": ["{a} beside {b}, {a} on the left", "{a} next to {b}, {a} on the left"],
}


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(obj: SceneObject, with_size: bool) -> str:
    """'a red circle', 'an orange square', 'a large blue triangle'."""
    words = ([obj.size] if with_size else []) + [obj.colour, obj.shape]
    return f"{article(words[0])} {' '.join(words)}"


def caption(scene: Scene, rng: np.random.Generator, held_out: bool = False) -> str:
    """One caption of `scene`, its phrasing drawn from `rng`; `held_out` draws from the evaluation-only phrasings."""
    if len(scene.objects) == 1:
        return _single(scene, scene.objects[0], rng, held_out)
    a, b = (noun_phrase(o, with_size=False) for o in scene.objects)
    templates = HELD_OUT[scene.relation] if held_out else RELATION_PHRASES[scene.relation]
    text = str(rng.choice(templates)).format(a=a, b=b)
    if not held_out:
        text = str(rng.choice(TWO_FRAMES)).format(x=text)
    if rng.random() < 0.4:
        text += " " + str(rng.choice(BACKGROUND_PHRASES)).format(bg=scene.background)
    return text


def _single(scene: Scene, obj: SceneObject, rng: np.random.Generator, held_out: bool) -> str:
    with_size, with_position, with_background = (rng.random() < p for p in (0.5, 0.6, 0.4))
    x = noun_phrase(obj, with_size)
    if held_out:
        return str(rng.choice(HELD_OUT["single"])).format(x=x, colour=obj.colour, shape=obj.shape)
    if with_position:
        x += " " + str(rng.choice(POSITION_PHRASES[obj.position]))
    if with_background:
        x += " " + str(rng.choice(BACKGROUND_PHRASES)).format(bg=scene.background)
    return str(rng.choice(FRAMES)).format(x=x)


class CaptionedScenes:
    """The CLIP stage's view: sample `index` -> its image, one caption, and the scene it came from."""

    def __init__(self, seed: int, size: int):
        self.seed, self.size = seed, size

    def item(self, index: int) -> dict:
        scene = sample_scene(self.seed, index)
        text = caption(scene, scene_rng(self.seed, index, CAPTION_STREAM))
        return {"image": render(scene, self.size), "caption": text, "scene": scene}  # image [3, S, S]

    def batch(self, indices: list[int]) -> dict:
        """{'image': [N, 3, S, S] in [0, 1], 'caption': N strings}."""
        items = [self.item(i) for i in indices]
        return {"image": torch.stack([it["image"] for it in items]), "caption": [it["caption"] for it in items]}
