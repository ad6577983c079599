"""Stand-in for torchvision, only so that `import open_clip` works without it (see ../README.md)."""


class Unavailable:
    """Base of every stand-in class: defining subclasses works (open_clip does), using one raises."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__} needs the real torchvision; clipgen_convert imports open_clip with a "
                           "stand-in (clipgen_convert/_torchvision_stub/README.md)")
