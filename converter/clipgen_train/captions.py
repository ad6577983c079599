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

from clipgen_train.scenes import Scene, SceneObject, render, sample_scene, scene_rng, twin

CAPTION_STREAM = 1  # scene_rng stream of the caption choices (stream 0 draws the scene)
TWIN_STREAM = 2  # scene_rng stream of a hard-negative twin's layout and caption

#: Phrases for a single object's position (training).
POSITION_PHRASES = {
    "centre": ["in the centre", "in the middle", "at the centre"],
    "left": ["on the left", "at the left", "on the left side"],
    "right": ["on the right", "at the right", "on the right side"],
    "top": ["at the top", "near the top"],
    "bottom": ["at the bottom", "near the bottom"],
    **{f"{v} {h}": [f"in the {v} {h} corner", f"at the {v} {h}"] for v in ("top", "bottom") for h in ("left", "right")},
}
#: {a} is the background colour's article ("an orange background").
BACKGROUND_PHRASES = ["on {a} {bg} background", "against {a} {bg} background", "on {bg}"]
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


def background_phrase(colour: str, rng: np.random.Generator) -> str:
    """'on a black background', 'against an orange background', 'on white'."""
    return str(rng.choice(BACKGROUND_PHRASES)).format(a=article(colour), bg=colour)


def noun_phrase(obj: SceneObject, with_size: bool) -> str:
    """'a red circle', 'an orange square', 'a large blue triangle'."""
    words = ([obj.size] if with_size else []) + [obj.colour, obj.shape]
    return f"{article(words[0])} {' '.join(words)}"


def caption(scene: Scene, rng: np.random.Generator, held_out: bool = False, name_layout: bool = False) -> str:
    """One caption of `scene`, its phrasing drawn from `rng`; `held_out` draws from the evaluation-only phrasings;
    `name_layout`: a single object's size and position are always named (a hard-negative pair differs in them)."""
    if len(scene.objects) == 1:
        return _single(scene, scene.objects[0], rng, held_out, name_layout)
    a, b = (noun_phrase(o, with_size=False) for o in scene.objects)
    templates = HELD_OUT[scene.relation] if held_out else RELATION_PHRASES[scene.relation]
    text = str(rng.choice(templates)).format(a=a, b=b)
    if not held_out:
        text = str(rng.choice(TWO_FRAMES)).format(x=text)
    if rng.random() < 0.4:
        text += " " + background_phrase(scene.background, rng)
    return text


def _single(scene: Scene, obj: SceneObject, rng: np.random.Generator, held_out: bool, name_layout: bool) -> str:
    with_size, with_position, with_background = (rng.random() < p for p in (0.5, 0.6, 0.4))
    with_size, with_position = with_size or name_layout, with_position or name_layout
    x = noun_phrase(obj, with_size)
    if held_out:
        return str(rng.choice(HELD_OUT["single"])).format(x=x, colour=obj.colour, shape=obj.shape)
    if with_position:
        x += " " + str(rng.choice(POSITION_PHRASES[obj.position]))
    if with_background:
        x += " " + background_phrase(scene.background, rng)
    return str(rng.choice(FRAMES)).format(x=x)


class CaptionedScenes:
    """The CLIP stage's view: sample `index` -> its image, one caption, and the scene it came from.

    `hard_negatives` F: a fraction F of each batch is (scene, twin) pairs (scenes.twin), both captions naming the
    layout, so the contrastive loss must read positions, sizes and which object is which.
    """

    def __init__(self, seed: int, size: int, hard_negatives: float = 0.0):
        if not 0.0 <= hard_negatives <= 1.0:
            raise ValueError(f"hard_negatives {hard_negatives}: expected a fraction in [0, 1]")
        self.seed, self.size, self.hard_negatives = seed, size, hard_negatives

    def item(self, index: int, name_layout: bool = False) -> dict:
        scene = sample_scene(self.seed, index)
        text = caption(scene, scene_rng(self.seed, index, CAPTION_STREAM), name_layout=name_layout)
        return {"image": render(scene, self.size), "caption": text, "scene": scene}  # image [3, S, S]

    def twin_item(self, index: int) -> dict:
        """The twin of sample `index` (its own draws: stream TWIN_STREAM), captioned with its layout named."""
        rng = scene_rng(self.seed, index, TWIN_STREAM)
        scene = twin(sample_scene(self.seed, index), rng)
        return {"image": render(scene, self.size), "caption": caption(scene, rng, name_layout=True), "scene": scene}

    def batch(self, indices: list[int]) -> dict:
        """{'image': [N, 3, S, S] in [0, 1], 'caption': N strings} for N = len(indices): the first N - P indices'
        samples, and the twins of the first P of them (P = round(N * hard_negatives / 2))."""
        pairs = round(len(indices) * self.hard_negatives / 2)
        base = indices[:len(indices) - pairs]
        items = [self.item(i, name_layout=k < pairs) for k, i in enumerate(base)]
        items += [self.twin_item(i) for i in base[:pairs]]
        return {"image": torch.stack([it["image"] for it in items]), "caption": [it["caption"] for it in items]}
