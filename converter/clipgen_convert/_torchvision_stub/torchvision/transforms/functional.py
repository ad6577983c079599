"""Stand-in for torchvision.transforms.functional: open_clip only calls it inside image transforms (see ../../README.md)."""


def __getattr__(name):
    raise RuntimeError(f"torchvision.transforms.functional.{name} needs the real torchvision; clipgen_convert imports "
                       "open_clip with a stand-in (clipgen_convert/_torchvision_stub/README.md)")
