"""Stand-in for torchvision.transforms: the names open_clip/transform.py imports (see ../../README.md)."""

import enum

from torchvision import Unavailable


class InterpolationMode(enum.Enum):
    """open_clip reads these members in default arguments at import time."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


class Normalize(Unavailable): pass
class Compose(Unavailable): pass
class RandomResizedCrop(Unavailable): pass
class ToTensor(Unavailable): pass
class Resize(Unavailable): pass
class CenterCrop(Unavailable): pass
class ColorJitter(Unavailable): pass
class Grayscale(Unavailable): pass
