"""The pixel-level oracle of the evaluation: does an image show the scene its prompt describes?

It knows the scene grammar (scenes.py) and nothing else: named colours, the four shapes as scenes.py draws them,
and the 3 x 3 grid of named positions. It never looks at a model, so the same judge scores the Swift runtime's
images, the float PyTorch model's, and (in the tests) scenes.py's own renders, where it must be right every time.

Steps: the background is the most common named colour along the border; foreground pixels differ from it by more
than FOREGROUND_DISTANCE; each 4-connected region of at least MIN_AREA of the image is a candidate object, whose
mask is then refined against its own colour (a pixel belongs to it when it is nearer the object's colour than the
background's, i.e. antialiasing coverage > 1/2). Its colour is the nearest named colour of its median pixel; its
shape the scenes.py shape that, drawn into the mask's bounding box, overlaps the mask best (IoU); its position the
grid cell of its centroid.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from clipgen_train.scenes import COLOURS, POSITIONS, RELATIONS, SHAPES, Scene, signed_distance

NAMES = tuple(COLOURS)
PALETTE = np.array([COLOURS[n] for n in NAMES], np.float32)  # [colours, 3] sRGB in [0, 1]
#: A pixel this far (Euclidean, sRGB in [0, 1]) from the background is foreground: half the closest pair of named
#: colours (orange / yellow, 0.37), so an object of any colour on any background is found.
FOREGROUND_DISTANCE = 0.18
#: Regions smaller than this fraction of the image are noise: a quarter of the smallest object scenes.py draws
#: (a small triangle covers ~1.2% of the image).
MIN_AREA = 0.003
#: Bounding box of each shape of half-extent 1, centred on its (cx, cy), in scenes.py's geometry: (x0, x1, y0, y1).
_TRIANGLE_HALF_WIDTH = 1.2 * np.sqrt(3) / 2  # circumradius 1.2, apex up; base at the inradius 0.6 below the centre
SHAPE_BOXES = {"circle": (-1, 1, -1, 1), "square": (-1, 1, -1, 1), "diamond": (-1.25, 1.25, -1.25, 1.25),
               "triangle": (-_TRIANGLE_HALF_WIDTH, _TRIANGLE_HALF_WIDTH, -1.2, 0.6)}


@dataclass(frozen=True)
class Region:
    """One object found in an image: its named colour and shape, centroid (fractions of the side), area fraction."""

    colour: str
    shape: str
    cx: float
    cy: float
    area: float
    shape_iou: float  # overlap of the mask with the best-fitting drawn shape


def nearest_colour(rgb: np.ndarray) -> str:
    """The named colour nearest an sRGB triple in [0, 1]."""
    return NAMES[int(np.argmin(((PALETTE - rgb) ** 2).sum(-1)))]


def grid_cell(cx: float, cy: float) -> str:
    """The named position whose third of the image (horizontally and vertically) holds the point."""
    col, row = min(int(cx * 3), 2), min(int(cy * 3), 2)
    for name, (x, y) in POSITIONS.items():
        if int(x * 3) == col and int(y * 3) == row:
            return name
    raise AssertionError("POSITIONS covers the 3 x 3 grid")


def background(image: np.ndarray) -> tuple[str, np.ndarray]:
    """The most common named colour of the border pixels, and the median border pixel of that colour."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])  # [4 * side, 3]
    names = [nearest_colour(p) for p in border]
    name = Counter(names).most_common(1)[0][0]
    return name, np.median(border[[n == name for n in names]], axis=0)


def components(mask: np.ndarray) -> list[np.ndarray]:
    """The 4-connected regions of a boolean mask [H, W], each as a boolean mask, largest first."""
    labels = np.zeros(mask.shape, np.int32)  # [H, W], 0 = unlabelled
    found = []
    for start in zip(*np.nonzero(mask)):
        if labels[start]:
            continue
        labels[start] = len(found) + 1
        stack, pixels = [start], []
        while stack:
            y, x = stack.pop()
            pixels.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = len(found) + 1
                    stack.append((ny, nx))
        found.append(labels == len(found) + 1)
    return sorted(found, key=lambda m: -int(m.sum()))


def classify_shape(mask: np.ndarray) -> tuple[str, float]:
    """The shape of SHAPES that, drawn by scenes.py into the mask's bounding box, has the highest IoU with it."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1  # pixel-edge bounding box
    py, px = np.mgrid[y0:y1, x0:x1] + 0.5  # [h, w] pixel centres
    box = mask[y0:y1, x0:x1]  # [h, w]
    scores = {}
    for shape in SHAPES:
        bx0, bx1, by0, by1 = SHAPE_BOXES[shape]
        sx = bx0 + (px - x0) / (x1 - x0) * (bx1 - bx0)  # [h, w] in the shape's own coordinates (half-extent 1)
        sy = by0 + (py - y0) / (y1 - y0) * (by1 - by0)
        drawn = signed_distance(shape, sx, sy, 1.0) < 0  # [h, w]
        scores[shape] = float((drawn & box).sum() / max(1, (drawn | box).sum()))
    best = max(scores, key=scores.get)
    return best, scores[best]


def _dilate(mask: np.ndarray) -> np.ndarray:
    """The mask grown by one pixel in the four directions (no wrap-around)."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


def find_objects(image: np.ndarray) -> tuple[str, list[Region]]:
    """image [H, W, 3] uint8 -> (background colour name, the objects found, largest first)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB image [H, W, 3] uint8, got {image.dtype} {list(image.shape)}")
    rgb = image.astype(np.float32) / 255.0  # [H, W, 3]
    height, width = rgb.shape[:2]
    bg_name, bg = background(rgb)
    coarse = np.sqrt(((rgb - bg) ** 2).sum(-1)) > FOREGROUND_DISTANCE  # [H, W]
    regions = []
    for part in components(coarse):
        if part.sum() < MIN_AREA * height * width:
            break
        colour = np.median(rgb[part], axis=0)  # [3]
        # Refine: coverage alpha of the object's colour over the background, kept where alpha > 1/2.
        span = colour - bg  # [3]
        alpha = ((rgb - bg) @ span) / max(float(span @ span), 1e-6)  # [H, W]
        mask = _dilate(part) & (alpha > 0.5)  # [H, W]
        if not mask.any():
            continue
        shape, iou = classify_shape(mask)
        ys, xs = np.nonzero(mask)
        regions.append(Region(nearest_colour(np.median(rgb[mask], axis=0)), shape, float((xs.mean() + 0.5) / width),
                              float((ys.mean() + 0.5) / height), float(mask.mean()), iou))
    return bg_name, regions


def judge(image: np.ndarray, scene: Scene, position_named: bool = True) -> dict:
    """Per-object verdicts on `image` for the scene its prompt describes.

    Objects are matched to the regions found (the largest ones) by the assignment that agrees on most colours and
    shapes; an object with no region is wrong on everything. `position`: the single object's centroid is in its
    named grid cell (None when the prompt names no position), or, for two objects, their relation holds.
    Returns {'objects': [{'colour': bool, 'shape': bool}, ...], 'position': bool | None, 'count': bool,
    'background': name found, 'regions': [...]} (regions as dicts, for reports).
    """
    bg_name, regions = find_objects(image)
    n = len(scene.objects)
    found = regions[:n]
    order = _best_assignment(scene, found)  # object i -> index into found, or None
    verdicts = []
    for obj, k in zip(scene.objects, order):
        r = None if k is None else found[k]
        verdicts.append({"colour": r is not None and r.colour == obj.colour,
                         "shape": r is not None and r.shape == obj.shape})
    if n == 1:
        r = None if order[0] is None else found[order[0]]
        position = (r is not None and grid_cell(r.cx, r.cy) == scene.objects[0].position) if position_named else None
    else:
        position = None not in order and _relation_holds(scene, found[order[0]], found[order[1]])
    return {"objects": verdicts, "position": position, "count": len(regions) == n, "background": bg_name,
            "regions": [r.__dict__ for r in regions]}


def _relation_holds(scene: Scene, a: Region, b: Region) -> bool:
    """Whether region a sits from region b as the scene's relation says (above: higher; left of: further left)."""
    return a.cy < b.cy if RELATIONS[scene.relation] == ("top", "bottom") else a.cx < b.cx


def _best_assignment(scene: Scene, found: list[Region]) -> list[int | None]:
    """Object index -> region index (None: no region), maximising colour + shape agreement.

    On a tie (e.g. two objects of one colour and shape) the assignment under which the relation holds wins: the
    prompt cannot tell the two objects apart, so either arrangement that shows the relation satisfies it.
    """
    if len(scene.objects) == 1 or len(found) < 2:
        return [0 if found else None] + [None] * (len(scene.objects) - 1)

    def agree(obj, r):
        return (obj.colour == r.colour) + (obj.shape == r.shape)

    a, b = scene.objects
    straight = agree(a, found[0]) + agree(b, found[1])
    crossed = agree(a, found[1]) + agree(b, found[0])
    if crossed > straight or (crossed == straight and _relation_holds(scene, found[1], found[0])):
        return [1, 0]
    return [0, 1]
