"""Runs a component's checkpoint loader with the user-facing guarantees the CLI promises.

The loaders (clip.py, vqgan.py, gpt.py) are imported only when their component is asked for, so inspecting a file
or converting safetensors never needs PyTorch. Whatever a loader's underlying library raises on a truncated file
or an unreadable pickle becomes one ConversionError naming the file, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from typing import Callable

from safetensors import SafetensorError

from clipgen_convert.component import Component, ConversionError


def parse_grid(text: str) -> list[int]:
    """A token grid given as "HxW" (or one number for a square grid) -> [H, W]."""
    parts = text.lower().split("x")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"expected HxW, e.g. 16x16, not {text!r}")
    return [int(p) for p in parts]


parse_grid.__name__ = "grid"  # argparse names the parser in its "invalid grid value" message


def parse_keep_drop(text: str) -> bool:
    """"keep" -> True, "drop" -> False."""
    if text not in ("keep", "drop"):
        raise ValueError(f"expected keep or drop, not {text!r}")
    return text == "keep"


parse_keep_drop.__name__ = "keep-or-drop"  # as above: "invalid keep-or-drop value"


@dataclass(frozen=True)
class LoaderOption:
    """A fact a checkpoint may not record, given on the command line and passed to the loader as a keyword.

    `verify` reloads the checkpoint; when the option is not given again it takes the value the converted file
    recorded under `meta_key`, so a conversion that needed the option verifies without repeating it.
    """

    flag: str  # command-line option
    kwarg: str  # keyword argument of the loader
    meta_key: str  # the component's metadata key that records the value in the converted file
    parse: Callable[[str], object]
    help: str
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ComponentKind:
    """How the CLI names and loads one component kind."""

    kind: str  # "clip" | "gpt" | "vqgan"
    flag: str  # the command-line option that gives its checkpoint
    title: str  # for messages
    loader: str  # module with load(path, ...) -> Component
    reference: str  # module with verify(original, quantised) -> dict of metrics
    synth: str  # module with write(out_dir, preset, seed, ...) -> path
    options: tuple[LoaderOption, ...] = field(default=())


#: The three components, in the order the CLI takes them.
COMPONENT_KINDS: dict[str, ComponentKind] = {
    "clip": ComponentKind("clip", "--clip", "CLIP", "clip", "clip_ref", "synth_clip", (
        LoaderOption("--clip-activation", "activation", "text.activation", str,
                     "MLP activation, for state dicts that do not record it (OpenAI weights: quick_gelu)",
                     ("quick_gelu", "gelu")),)),
    "vqgan": ComponentKind("vqgan", "--vqgan", "VQGAN", "vqgan", "vqgan_ref", "synth_vqgan", (
        LoaderOption("--vqgan-resolution", "resolution", "resolution", int,
                     "image side in pixels, for checkpoints that do not record it (taming f16 ImageNet: 256)"),
        LoaderOption("--vqgan-encoder", "encoder", "has_encoder", parse_keep_drop,
                     "keep: also store the encoder (image -> tokens; the runtime does not read it) so that "
                     "clipgen-train can go on from the model file alone; drop (default): decoder and codebook only"),
    )),
    "gpt": ComponentKind("gpt", "--transformer", "transformer", "gpt", "gpt_ref", "synth_gpt", (
        LoaderOption("--gpt-heads", "heads", "heads", int, "attention heads, when the checkpoint does not say"),
        LoaderOption("--gpt-grid", "grid", "grid", parse_grid,
                     "token grid HxW, when the checkpoint does not say and it is not square"))),
}

#: What reading a damaged or foreign checkpoint raises in torch, pickle, zipfile and safetensors.
_READ_ERRORS = (OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, SafetensorError, RuntimeError,
                UnicodeDecodeError, ValueError)

_NEEDS_TORCH = "needs PyTorch: pip install 'clipgen-convert[torch]' (or pip install torch)"


def import_part(module: str, purpose: str):
    """Imports clipgen_convert.<module>; a ConversionError saying what to install when PyTorch is missing."""
    try:
        return importlib.import_module(f"clipgen_convert.{module}")
    except ModuleNotFoundError as e:
        if e.name == "torch":
            raise ConversionError(f"{purpose} {_NEEDS_TORCH}") from None
        raise


def load_component(kind: str, path: str, options: dict[str, object] | None = None) -> Component:
    """Loads the `kind` checkpoint at `path` with its loader; a ConversionError for anything wrong with the file.

    `options` are the loader's keyword arguments (LoaderOption.kwarg, and bpe_path for CLIP); None values are
    left out so the loader applies its own default.
    """
    spec = COMPONENT_KINDS[kind]
    where = f"{spec.flag} {path}"
    if not os.path.exists(path):
        raise ConversionError(f"{where}: no such file")
    if not os.path.isfile(path):
        raise ConversionError(f"{where}: not a regular file")
    module = import_part(spec.loader, f"reading the {spec.title} checkpoint {path}")
    try:
        component = module.load(path, **{k: v for k, v in (options or {}).items() if v is not None})
    except ConversionError:
        raise
    except ModuleNotFoundError as e:
        if e.name == "torch":
            raise ConversionError(f"reading the {spec.title} checkpoint {path} {_NEEDS_TORCH}") from None
        raise ConversionError(f"{where}: the checkpoint needs Python module '{e.name}' to unpickle") from None
    except _READ_ERRORS as e:
        raise ConversionError(f"{where}: cannot read the {spec.title} checkpoint ({type(e).__name__}: "
                              f"{_first_line(e)})") from None
    if component.kind != kind:
        raise ConversionError(f"{where}: the loader returned a {component.kind} component, expected {kind}")
    return component


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "no details"
