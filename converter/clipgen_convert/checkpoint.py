"""Reading PyTorch pickle checkpoints safely, and handing their tensors out by name with every key accounted for.

Loaders use this instead of calling ``torch.load`` themselves so that every layout gets the same guarantees:
- nothing in the file is executed: ``torch.load(weights_only=True)``; objects a training framework pickled next to the
  weights (Lightning's ``ModelCheckpoint`` callback state, argparse namespaces, OmegaConf configs) are replaced by inert
  stand-ins instead of failing the load, because only the tensors matter here;
- a missing, truncated or unreadable file, a wrong container, or a missing / mis-shaped / unexpected key is a
  ``ConversionError`` that names the file and the key, never a traceback.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Mapping

import numpy as np

from .component import ConversionError


def save_atomic(obj: object, path: str) -> None:
    """torch.save to a temporary file in the same folder, then rename: a reader never sees half a file."""
    import tempfile

    import torch

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the checkpoint private
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_torch(path: str) -> object:
    """Unpickle the checkpoint at ``path`` without executing code from it (see the module docstring)."""
    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    try:
        import torch
    except ImportError:
        raise ConversionError(f"{path}: reading a PyTorch checkpoint needs torch "
                              f"(pip install 'clipgen-convert[torch]')") from None
    try:
        foreign = torch.serialization.get_unsafe_globals_in_checkpoint(path) if zipfile.is_zipfile(path) else []
        with torch.serialization.safe_globals([(_stand_in(name), name) for name in foreign]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for damaged files
        raise ConversionError(f"{path}: not a readable PyTorch checkpoint ({_reason(error)})") from None


def _reason(error: Exception) -> str:
    """The informative line of a torch.load error (weights-only refusals bury it under advice to disable safety)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    refusal = [line for line in lines if "GLOBAL" in line or line.startswith(("Trying", "Unsupported"))]
    return f"refused, it would run code: {refusal[0]}" if refusal else lines[0]


def _stand_in(qualified_name: str) -> type:
    """An inert class that the unpickler may build in place of ``qualified_name`` (it keeps, never runs, its state)."""
    module, _, name = qualified_name.rpartition(".")

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state

    return type(name, (), {"__module__": module, "__init__": __init__, "__setstate__": __setstate__})


def state_dict_in(container: object, key: str, path: str, layout: str) -> "Weights":
    """The tensors stored under ``container[key]`` (e.g. Lightning's 'state_dict', HFAiLab's 'model')."""
    if not isinstance(container, Mapping) or key not in container:
        found = sorted(map(str, container))[:8] if isinstance(container, Mapping) else type(container).__name__
        raise ConversionError(f"{path}: expected a {layout} checkpoint, a dict with a '{key}' entry; found {found}")
    tensors = container[key]
    if not isinstance(tensors, Mapping):
        raise ConversionError(f"{path}: '{key}' should be a state dict (name -> tensor), "
                              f"found {type(tensors).__name__}")
    return Weights(dict(tensors), path, layout)


class Weights:
    """The tensors of one checkpoint, taken by name with a shape check; every key must be taken or explicitly ignored.

    Tensors are converted to float32 NumPy only when taken, so ignored parts (encoders, discriminators, optimizer-sized
    buffers) cost nothing.
    """

    def __init__(self, tensors: dict[str, object], path: str, layout: str):
        self.path, self.layout = path, layout
        self._tensors = tensors
        self._accounted: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self._tensors

    def keys_under(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix``, in checkpoint order."""
        return [k for k in self._tensors if k.startswith(prefix)]

    def shape(self, key: str) -> tuple[int, ...]:
        """The shape of ``key`` (which must exist), without taking it."""
        self._require(key, "a tensor")
        return tuple(self._tensors[key].shape)

    def take(self, key: str, shape: Iterable[int | None]) -> np.ndarray:
        """The tensor ``key`` as float32; ``shape`` is what the layout needs there (None: any size along that axis)."""
        expected = tuple(shape)
        self._require(key, "shape " + _show(expected))
        value = self._tensors[key]
        got = tuple(value.shape)
        if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
            raise ConversionError(f"{self.path}: key '{key}' has shape {_show(got)}, expected {_show(expected)}")
        self._accounted.add(key)
        return value.detach().float().numpy()  # fp16 / bf16 checkpoints too

    def ignore(self, prefixes: Iterable[str]) -> None:
        """Mark every key under these prefixes as deliberately dropped (the caller documents why)."""
        prefixes = tuple(prefixes)
        self._accounted.update(k for k in self._tensors if k.startswith(prefixes))

    def finish(self) -> None:
        """Fail if any key was neither taken nor ignored: it belongs to a layout this loader does not know."""
        left = [k for k in self._tensors if k not in self._accounted]
        if left:
            shown = ", ".join(left[:6]) + (f" and {len(left) - 6} more" if len(left) > 6 else "")
            raise ConversionError(f"{self.path}: unexpected key(s) for the {self.layout} layout: {shown}")

    def _require(self, key: str, what: str) -> None:
        if key not in self._tensors:
            raise ConversionError(f"{self.path}: missing key '{key}' ({what}) for the {self.layout} layout")
        if not hasattr(self._tensors[key], "shape"):
            raise ConversionError(f"{self.path}: key '{key}' is a {type(self._tensors[key]).__name__}, not a tensor")


def _show(shape: tuple) -> str:
    return "[" + ", ".join("*" if d is None else str(d) for d in shape) + "]"
