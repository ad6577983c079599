"""The in-memory form every checkpoint loader produces and the writer consumes.

A loader (clip.load, vqgan.load, gpt.load) turns one checkpoint, whatever its layout, into a `Component`: canonical
tensor names without the kind prefix, float32 arrays in PyTorch shape order (linear weights [out, in], conv weights
[out, kh, kw, in]), and the hyper-parameters as plain values. Everything downstream (writer, report, verify) sees
only this form, so supporting a new checkpoint layout never touches the writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The component kinds a model file can hold, in the order the writer stores them.
KINDS: tuple[str, ...] = ("clip", "gpt", "vqgan")


class ConversionError(Exception):
    """A user-facing failure: the message names the file / key / argument and what was expected.

    The CLI prints it as one line (`clipgen-convert: error: ...`) and exits with status 2, without a traceback.
    """


@dataclass
class Component:
    """One model part (CLIP towers, transformer, or VQGAN) read from one checkpoint.

    Attributes:
        kind: "clip", "gpt" or "vqgan"; the writer prefixes tensor names with "<kind>." and metadata keys
            with "clipgen.<kind>.".
        tensors: canonical name (without the kind prefix) -> float32 array in PyTorch shape order.
        meta: hyper-parameters, keys without the "clipgen.<kind>." prefix; values are int, float, str, bool, or
            non-empty lists of int, float or str.
        source: path of the checkpoint it came from (used in error messages and provenance).
        extra_kv: raw GGUF keys with their full names (e.g. "tokenizer.ggml.merges") -> (value, GGUFValueType),
            or (value, GGUFValueType.ARRAY, element GGUFValueType) for arrays. Written unchanged.
    """

    kind: str
    tensors: dict[str, np.ndarray]
    meta: dict[str, object]
    source: str
    extra_kv: dict[str, tuple] = field(default_factory=dict)


def require_meta(component: Component, key: str, kind: type | tuple[type, ...]) -> object:
    """The meta value `key` of `component`, checked to be of `kind`; a ConversionError naming the file otherwise."""
    if key not in component.meta:
        raise ConversionError(
            f"{component.source}: {component.kind} metadata has no '{key}' (the loader must provide it)")
    value = component.meta[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a flag must never pass for a width.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise ConversionError(
            f"{component.source}: {component.kind} metadata '{key}' is {value!r}, expected {expected}")
    return value
