"""Procedural scenes: a structured description drawn from (seed, index), and its antialiased rendering.

The scene generator is the whole data set of the bundled model: unlimited, deterministic, and simple enough that a
pixel-level oracle can check what was drawn. A scene is a plain background with one or two filled shapes; every
attribute (colour, shape, size, position) has an unmistakable name, so a caption grammar (captions.py) can describe
it and an evaluation can check an image against a prompt. This module knows nothing of words beyond those names:
the image-only stages import it without the caption grammar.

Geometry is in fractions of the image side (x to the right, y downwards), so one scene renders at any resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

#: Named colours (sRGB in [0, 1]), chosen far apart so that no name is ambiguous.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.10), "green": (0.10, 0.70, 0.20), "blue": (0.15, 0.30, 0.95),
    "yellow": (0.98, 0.90, 0.10), "orange": (1.00, 0.55, 0.00), "purple": (0.55, 0.15, 0.75),
    "white": (1.00, 1.00, 1.00), "black": (0.00, 0.00, 0.00),
}
SHAPES = ("circle", "square", "triangle", "diamond")
#: Half-extent of a shape (circle radius, half the square's side) as a fraction of the image side.
SIZES = {"small": 0.09, "large": 0.17}
#: Centre of a single object for each named position, (x, y) fractions.
POSITIONS: dict[str, tuple[float, float]] = {
    "centre": (0.5, 0.5), "left": (0.25, 0.5), "right": (0.75, 0.5), "top": (0.5, 0.25), "bottom": (0.5, 0.75),
    "top left": (0.25, 0.25), "top right": (0.75, 0.25), "bottom left": (0.25, 0.75), "bottom right": (0.75, 0.75),
}
#: Two-object layouts: relation -> (position of the first object, position of the second).
RELATIONS = {"above": ("top", "bottom"), "left of": ("left", "right")}
JITTER = 0.03  # random offset of a centre, fraction of the side: varied images, still unambiguous positions
SIZE_JITTER = 0.1  # relative random change of an extent


@dataclass(frozen=True)
class SceneObject:
    """One filled shape: its names, and the geometry it was drawn with."""

    shape: str  # one of SHAPES
    colour: str  # one of COLOURS
    size: str  # one of SIZES
    position: str  # one of POSITIONS
    cx: float  # centre x, fraction of the image width
    cy: float  # centre y, fraction of the image height
    extent: float  # half-extent, fraction of the image side


@dataclass(frozen=True)
class Scene:
    """A background colour and one or two objects; `relation` names how a second object sits from the first."""

    background: str
    objects: tuple[SceneObject, ...]
    relation: str | None = None  # a key of RELATIONS when there are two objects

    def as_dict(self) -> dict:
        """JSON-ready form, the structured description an evaluation oracle reads."""
        return asdict(self)


def scene_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator of sample `index` under `seed`; `stream` separates independent draws (e.g. captions)."""
    return np.random.default_rng([seed, index, stream])


def sample_scene(seed: int, index: int) -> Scene:
    """Scene number `index` of the data set `seed`; the same pair always gives the same scene."""
    rng = scene_rng(seed, index)
    background = str(rng.choice(list(COLOURS)))
    others = [c for c in COLOURS if c != background]  # an object never has its background's colour
    if rng.random() < 0.5:
        size, position = str(rng.choice(list(SIZES))), str(rng.choice(list(POSITIONS)))
        return Scene(background, (_object(rng, others, size, position),))
    relation = str(rng.choice(list(RELATIONS)))
    first, second = RELATIONS[relation]
    # Two objects share the image: both small, so that neither can reach the other's half.
    objects = tuple(_object(rng, others, "small", pos) for pos in (first, second))
    return Scene(background, objects, relation)


def twin(scene: Scene, rng: np.random.Generator) -> Scene:
    """A scene with the same objects (shapes and colours) and background, laid out differently: a single object
    moved to another named position (and with probability 1/2 resized); two objects swapped, or their colours
    swapped, or (when they look the same) set in the other relation. A contrastive batch that holds a scene and its
    twin can only tell their captions apart by the layout words, which is what a CLIP trained on random batches
    learns last (hard negatives, as NegCLIP's swapped captions)."""
    if len(scene.objects) == 1:
        obj = scene.objects[0]
        position = str(rng.choice([p for p in POSITIONS if p != obj.position]))
        size = str(rng.choice([s for s in SIZES if s != obj.size])) if rng.random() < 0.5 else obj.size
        return Scene(scene.background, (_place(rng, obj.shape, obj.colour, size, position),))
    a, b = scene.objects
    relation, looks = scene.relation, ((b.shape, b.colour), (a.shape, a.colour))  # the two swapped
    if a.colour != b.colour and a.shape != b.shape and rng.random() < 0.5:
        looks = ((a.shape, b.colour), (b.shape, a.colour))  # colours swapped: which shape has which colour
    elif (a.shape, a.colour) == (b.shape, b.colour):
        relation, looks = next(r for r in RELATIONS if r != scene.relation), looks[::-1]
    positions = RELATIONS[relation]
    objects = tuple(_place(rng, shape, colour, "small", pos) for (shape, colour), pos in zip(looks, positions))
    return Scene(scene.background, objects, relation)


def _object(rng: np.random.Generator, colours: list[str], size: str, position: str) -> SceneObject:
    placed = _place(rng, "", "", size, position)  # geometry first: the draws' order defines the data set
    return replace(placed, shape=str(rng.choice(SHAPES)), colour=str(rng.choice(colours)))


def _place(rng: np.random.Generator, shape: str, colour: str, size: str, position: str) -> SceneObject:
    """An object of the given names, its centre and extent jittered as _object jitters them."""
    x, y = POSITIONS[position]
    dx, dy = rng.uniform(-JITTER, JITTER, size=2)
    extent = SIZES[size] * (1.0 + rng.uniform(-SIZE_JITTER, SIZE_JITTER))
    return SceneObject(shape, colour, size, position, float(x + dx), float(y + dy), float(extent))


def render(scene: Scene, size: int) -> torch.Tensor:
    """The scene drawn at `size` x `size` pixels -> float32 [3, size, size] in [0, 1], edges antialiased.

    Each shape's coverage of a pixel is clamp(0.5 - d, 0, 1) with d the signed distance (in pixels) from the pixel
    centre to the shape's outline: one pixel-wide ramp, the same antialiasing at every resolution.
    """
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size  # [size] pixel centres as fractions
    y, x = np.meshgrid(centres, centres, indexing="ij")  # [size, size] each
    image = np.broadcast_to(np.array(COLOURS[scene.background], np.float32), (size, size, 3)).copy()  # [H, W, 3]
    for obj in scene.objects:
        d = signed_distance(obj.shape, x - obj.cx, y - obj.cy, obj.extent) * size  # [H, W] in pixels
        alpha = np.clip(0.5 - d, 0.0, 1.0)[..., None]  # [H, W, 1] coverage
        image = image * (1.0 - alpha) + np.array(COLOURS[obj.colour], np.float32) * alpha  # [H, W, 3]
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))  # [3, H, W]


def signed_distance(shape: str, x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Signed distance (negative inside) from points (x, y), relative to the centre, to a shape of half-extent r."""
    if shape == "circle":
        return np.sqrt(x * x + y * y) - r
    if shape == "square":  # axis-aligned box of half-side r (exact box distance)
        qx, qy = np.abs(x) - r, np.abs(y) - r
        outside = np.sqrt(np.maximum(qx, 0.0) ** 2 + np.maximum(qy, 0.0) ** 2)
        return outside + np.minimum(np.maximum(qx, qy), 0.0)
    if shape == "diamond":  # a square turned 45 degrees, corners r * 1.25 from the centre
        return (np.abs(x) + np.abs(y) - 1.25 * r) / np.sqrt(2.0)
    if shape == "triangle":  # equilateral, apex up, circumradius 1.2 r: the largest signed edge distance
        # Exact inside and along the edges; beyond a corner it underestimates, which only affects the 1-pixel ramp.
        inradius = 0.6 * r
        edges = [(0.0, 1.0), (np.sqrt(3) / 2, -0.5), (-np.sqrt(3) / 2, -0.5)]  # outward normals; y grows downwards
        return np.max([nx * x + ny * y - inradius for nx, ny in edges], axis=0)
    raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
