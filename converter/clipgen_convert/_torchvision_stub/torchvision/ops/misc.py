"""Stand-in for torchvision.ops.misc: the one name open_clip/utils.py imports (see ../../README.md)."""

from torchvision import Unavailable


class FrozenBatchNorm2d(Unavailable):
    """Used by open_clip only to freeze ResNet towers, which the converter never does."""
