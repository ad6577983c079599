"""Random-weight CLIP checkpoints in OpenAI's state-dict layout, built by open_clip itself (`clipgen-convert synth`).

The model comes from `open_clip.create_model` with QuickGELU (as OpenAI's weights use), is initialised by open_clip's
own init from a seeded generator, and is saved as its state dict plus the three scalar entries OpenAI's exports carry
(input_resolution, context_length, vocab_size; openai/CLIP's and open_clip's loaders both drop them). Those entries
are what tells `clip.load` that a state dict is OpenAI's, so the synth file converts without --clip-activation.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

#: Width of the tiny preset's embedding; the tiny GPT's cond_dim must equal it (synth_gpt reads this).
TINY_EMBED_DIM = 64

#: open_clip model configs (the JSON schema of open_clip/model_configs), keyed by preset. tiny keeps every matrix
#: width a multiple of 32 (Q8_0 rows) and 64 per head, with the real vocabulary and context; paper is ViT-B/32.
PRESETS = {
    "tiny": dict(embed_dim=TINY_EMBED_DIM,
                 vision_cfg=dict(image_size=32, layers=2, width=128, patch_size=16),
                 text_cfg=dict(context_length=77, vocab_size=49408, width=128, heads=2, layers=2)),
    "paper": None,  # open_clip's own ViT-B-32-quickgelu config
}
BASE_MODEL = "ViT-B-32-quickgelu"
STUB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_torchvision_stub")


def import_open_clip():
    """open_clip, imported with a stand-in torchvision where the real one is missing or broken.

    open_clip imports torchvision at package import but needs none of it to build models; PyPI's torchvision does
    not work with the CPU torch wheel (see _torchvision_stub/README.md). The stand-in is only importable while
    open_clip is being imported, so transformers never sees it.
    """
    if "open_clip" in sys.modules:
        return sys.modules["open_clip"]
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or built for another torch
        _forget_torchvision()
        _pin_transformers_torchvision_check()
        sys.path.insert(0, STUB_DIR)
        try:
            import open_clip
        finally:
            sys.path.remove(STUB_DIR)
            _forget_torchvision()  # open_clip keeps its references; nothing else may find the stand-in
        return open_clip
    import open_clip
    return open_clip


def _pin_transformers_torchvision_check() -> None:
    """transformers caches whether torchvision is importable the first time it asks, and open_clip imports
    transformers: ask now, before the stand-in is on sys.path, or transformers later imports the stand-in's
    absence as a crash (CLIPModel "requirements" errors)."""
    try:
        from transformers.utils import import_utils
    except Exception:  # transformers is optional here
        return
    import_utils.is_torchvision_available()


def _forget_torchvision() -> None:
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]


def build(preset: str, seed: int, *, quick_gelu: bool = True, custom_text: bool = False):
    """The open_clip model of a preset, initialised from `seed` (the caller's RNG state is left untouched)."""
    import torch
    if preset not in PRESETS:
        raise ValueError(f"unknown CLIP preset {preset!r}; expected one of {', '.join(PRESETS)}")
    open_clip = import_open_clip()
    overrides = dict(PRESETS[preset] or {}, quick_gelu=quick_gelu)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)  # "No pretrained weights loaded": random weights are the point
        try:
            torch.manual_seed(seed)
            model = open_clip.create_model(BASE_MODEL, force_custom_text=custom_text, **overrides)
        finally:
            logging.disable(logging.NOTSET)
    return model.eval()


def openai_state_dict(model) -> dict:
    """The model's state dict as OpenAI's exports hold it: with the three scalar hyper-parameter entries."""
    import torch
    sd = dict(model.state_dict())
    sd["input_resolution"] = torch.tensor(model.visual.image_size[0])
    sd["context_length"] = torch.tensor(model.context_length)
    sd["vocab_size"] = torch.tensor(model.vocab_size)
    return sd


def write(out_dir: str, preset: str, seed: int) -> str:
    """Writes DIR/clip.pt (atomically) and returns its path."""
    from .checkpoint import save_atomic

    sd = openai_state_dict(build(preset, seed))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "clip.pt")
    save_atomic(sd, path)
    return path

