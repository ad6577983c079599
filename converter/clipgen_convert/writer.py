"""Writes components into one clipgen GGUF file (docs/FORMAT.md), atomically, and reads them back.

File layout: `general.architecture` = "clipgen", `clipgen.format_version` = 1, `clipgen.quant`, `clipgen.components`
(the kinds present), provenance, then per component its metadata as "clipgen.<kind>.<key>" and its raw extra keys;
tensors are named "<kind>.<canonical name>". Python values map to GGUF types as: bool -> BOOL, int -> UINT32
(INT32 when negative, 64-bit when out of 32-bit range), float -> FLOAT32, str -> STRING, and lists element-wise to
ARRAY of the same types (a list with any float is FLOAT32).

Everything is validated and quantised before the output is created; the file is then written to a temporary file
beside the target, fsynced and renamed over it, so a failure at any point leaves no output and no temporary file,
and a model being mapped by the runtime is never rewritten in place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

from clipgen_convert.component import KINDS, Component, ConversionError
from clipgen_convert.quant import TensorError, check_quant, decode, encode, storage_type, tensor_error

ARCHITECTURE = "clipgen"
FORMAT_VERSION = 1
FORMAT_VERSION_KEY = "clipgen.format_version"
COMPONENTS_KEY = "clipgen.components"
QUANT_KEY = "clipgen.quant"
#: ggml's GGML_MAX_NAME is 64 bytes including the terminator; the runtime's writer enforces the same.
MAX_TENSOR_NAME_BYTES = 63

V = GGUFValueType


@dataclass(frozen=True)
class TensorReport:
    """One written tensor: its name in the file, storage type, PyTorch shape, bytes and quantisation error."""

    name: str
    qtype: GGMLQuantizationType
    shape: tuple[int, ...]
    nbytes: int
    error: TensorError


def meta_key(kind: str, key: str) -> str:
    """The file's metadata key for component `kind`'s hyper-parameter `key`."""
    return f"clipgen.{kind}.{key}"


def write_model(components: Sequence[Component], out_path: str, quant: str = "q8_0",
                provenance: dict[str, tuple] | None = None) -> list[TensorReport]:
    """Writes `components` into the model file `out_path`, quantised as `quant`; returns a report per tensor.

    Args:
        components: at most one per kind; stored in the order clip, gpt, vqgan.
        out_path: the file to create or replace (its directory must exist).
        quant: "q8_0", "f16" or "f32" (see quant.storage_type for which tensors it affects).
        provenance: extra raw keys -> (value, GGUFValueType), e.g. from provenance.provenance_kv.
    Raises:
        ConversionError: invalid components or output path; no file is left behind.
    """
    check_quant(quant)
    ordered = _ordered(components)
    kv: dict[str, tuple] = {
        FORMAT_VERSION_KEY: (FORMAT_VERSION, V.UINT32),
        QUANT_KEY: (quant, V.STRING),
        COMPONENTS_KEY: ([c.kind for c in ordered], V.ARRAY, V.STRING),
    }
    _merge(kv, provenance or {}, "provenance")
    for c in ordered:
        _merge(kv, {meta_key(c.kind, k): _typed(c, k, v) for k, v in c.meta.items()}, c.source)
        _merge(kv, c.extra_kv, c.source)

    stored: list[tuple[str, np.ndarray, GGMLQuantizationType]] = []
    reports: list[TensorReport] = []
    for c in ordered:
        for name, array in c.tensors.items():
            full, array = _checked_tensor(c, name, array)
            qtype = storage_type(name, tuple(array.shape), quant)
            data = encode(array, qtype)
            error = tensor_error(array, decode(data, qtype, tuple(array.shape)))
            stored.append((full, data, qtype))
            reports.append(TensorReport(full, qtype, tuple(array.shape), int(data.nbytes), error))
    _write_atomically(out_path, kv, stored)
    return reports


def _ordered(components: Sequence[Component]) -> list[Component]:
    seen: dict[str, Component] = {}
    for c in components:
        if c.kind not in KINDS:
            raise ConversionError(f"{c.source}: unknown component kind '{c.kind}' (expected one of {', '.join(KINDS)})")
        if c.kind in seen:
            raise ConversionError(f"two {c.kind} components given: {seen[c.kind].source} and {c.source}")
        seen[c.kind] = c
    if not seen:
        raise ConversionError("nothing to write: no components given")
    return [seen[k] for k in KINDS if k in seen]


def _merge(kv: dict[str, tuple], new: dict[str, tuple], origin: str) -> None:
    for key, value in new.items():
        if key in kv or key == "general.architecture":
            raise ConversionError(f"{origin}: metadata key '{key}' is set twice")
        if value[1] == V.ARRAY and len(value[0]) == 0:
            raise ConversionError(f"{origin}: metadata key '{key}' is an empty array, which GGUF writers reject")
        kv[key] = value


def _typed(c: Component, key: str, value: object) -> tuple:
    """(value, GGUF type[, element type]) for a meta value, by the mapping in the module doc."""
    where = f"{c.source}: {c.kind} metadata '{key}'"
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConversionError(f"{where} is an empty list, which GGUF cannot store (omit it or store a count)")
        if all(isinstance(v, (bool, np.bool_)) for v in value):
            return [bool(v) for v in value], V.ARRAY, V.BOOL
        if all(isinstance(v, str) for v in value):
            return list(value), V.ARRAY, V.STRING
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value):
            ints = [int(v) for v in value]
            return ints, V.ARRAY, _int_type(where, min(ints), max(ints))
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
               for v in value):
            return [_float32(where, v) for v in value], V.ARRAY, V.FLOAT32
        raise ConversionError(f"{where} mixes element types: {value!r}")
    if isinstance(value, (bool, np.bool_)):
        return bool(value), V.BOOL
    if isinstance(value, (int, np.integer)):
        return int(value), _int_type(where, int(value), int(value))
    if isinstance(value, (float, np.floating)):
        return _float32(where, value), V.FLOAT32
    if isinstance(value, str):
        return value, V.STRING
    raise ConversionError(f"{where} has unsupported type {type(value).__name__}: {value!r}")


def _int_type(where: str, lo: int, hi: int) -> GGUFValueType:
    if lo >= 0 and hi < 2**32:
        return V.UINT32
    if lo >= -2**31 and hi < 2**31:
        return V.INT32
    if lo >= 0 and hi < 2**64:
        return V.UINT64
    if lo >= -2**63 and hi < 2**63:
        return V.INT64
    raise ConversionError(f"{where}: {hi if hi >= 2**63 else lo} does not fit 64 bits")


def _float32(where: str, v: object) -> float:
    x = float(v)  # type: ignore[arg-type]
    if np.isfinite(x) and abs(x) > float(np.finfo(np.float32).max):
        raise ConversionError(f"{where}: {x} does not fit float32")
    return x


def _checked_tensor(c: Component, name: str, array: object) -> tuple[str, np.ndarray]:
    """The tensor's name in the file and its float32 data, after the checks the runtime's loader will make."""
    full = f"{c.kind}.{name}"
    where = f"{c.source}: tensor '{name}'"
    if len(full.encode("utf-8")) > MAX_TENSOR_NAME_BYTES:
        raise ConversionError(f"{where}: the name '{full}' is longer than {MAX_TENSOR_NAME_BYTES} bytes")
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
        raise ConversionError(f"{where}: expected a float array, got {type(array).__name__} "
                              f"{getattr(array, 'dtype', '')}")
    if not 1 <= array.ndim <= 4 or 0 in array.shape:
        raise ConversionError(f"{where}: shape {tuple(array.shape)} is not 1 to 4 non-empty dimensions")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise ConversionError(f"{where}: contains NaN or infinite values")
    return full, array


def _write_atomically(out_path: str, kv: dict[str, tuple],
                      stored: list[tuple[str, np.ndarray, GGMLQuantizationType]]) -> None:
    target = Path(out_path)
    if target.is_dir():
        raise ConversionError(f"--out {out_path}: is a directory, expected a file path")
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise ConversionError(f"--out {out_path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise ConversionError(f"--out {out_path}: cannot create a file in {directory}: {e.strerror}") from None
    os.close(fd)
    writer = GGUFWriter(None, ARCHITECTURE)
    try:
        for key, (value, vtype, *sub) in kv.items():
            writer.add_key_value(key, value, vtype, sub_type=sub[0] if sub else None)
        for name, data, qtype in stored:
            writer.add_tensor(name, data, raw_dtype=qtype if qtype == GGMLQuantizationType.Q8_0 else None)
        writer.write_header_to_file(path=Path(tmp))
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.flush()
        os.fsync(writer.fout[0].fileno())
        writer.close()
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a model file is as readable as any other output
        os.replace(tmp, target)
    except BaseException as e:
        writer.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise ConversionError(f"--out {out_path}: write failed: {e.strerror or e}") from None
        raise
    _fsync_directory(directory)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    """Makes the rename durable; some filesystems refuse to open a directory, which only loses durability."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_model(path: str) -> GGUFReader:
    """Opens a clipgen model file with gguf-py, checking it is one; ConversionError naming the file otherwise."""
    try:
        reader = GGUFReader(path)
    except OSError as e:
        raise ConversionError(f"{path}: cannot read: {e.strerror or e}") from None
    except Exception as e:  # gguf-py reports a corrupt or truncated file with ValueError, IndexError and others
        raise ConversionError(f"{path}: not a readable GGUF file ({type(e).__name__}: {e})") from None
    arch = field_value(reader, "general.architecture")
    if arch != ARCHITECTURE:
        raise ConversionError(f"{path}: general.architecture is {arch!r}, expected '{ARCHITECTURE}'")
    version = field_value(reader, FORMAT_VERSION_KEY)
    if version != FORMAT_VERSION:
        raise ConversionError(f"{path}: {FORMAT_VERSION_KEY} is {version!r}, this converter reads {FORMAT_VERSION}")
    return reader


def field_value(reader: GGUFReader, key: str) -> object:
    """The Python value of metadata `key` (a list for arrays), or None when absent."""
    field = reader.fields.get(key)
    return None if field is None else field.contents()


def read_component(gguf_path: str, kind: str, reader: GGUFReader | None = None) -> Component:
    """Component `kind` of a model file, every tensor dequantised to float32 in its canonical name and shape.

    The meta comes back without the "clipgen.<kind>." prefix (floats as the float32 value stored). `extra_kv` is
    empty: the file does not record which component a raw key such as tokenizer.* came from. Pass the file's
    `open_model` reader when reading several components: gguf-py takes seconds to parse a 49k-entry vocabulary.
    """
    reader = reader or open_model(gguf_path)
    kinds = field_value(reader, COMPONENTS_KEY) or []
    if kind not in kinds:
        raise ConversionError(f"{gguf_path}: has no {kind} component (it holds: {', '.join(kinds) or 'none'})")
    prefix = f"{kind}."
    tensors = {}
    for t in reader.tensors:
        if t.name.startswith(prefix):
            shape = tuple(int(d) for d in reversed(t.shape.tolist()))  # ggml dims -> PyTorch order
            tensors[t.name[len(prefix):]] = decode(t.data, t.tensor_type, shape)
    meta_prefix = meta_key(kind, "")
    meta = {key[len(meta_prefix):]: field.contents()
            for key, field in reader.fields.items() if key.startswith(meta_prefix)}
    return Component(kind=kind, tensors=tensors, meta=meta, source=gguf_path)
