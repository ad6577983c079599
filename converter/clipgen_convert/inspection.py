"""`clipgen-convert inspect MODEL`: what a converted file holds, per component, as text or JSON.

Reads only through gguf-py, so it shows what any GGUF tool would see; long arrays (the tokenizer's 49k merges) are
summarised to their length and first few entries. (Not inspect.py: that name shadows the standard library's
`inspect`, which numpy and torch import, for any Python started in this folder.)
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import numpy as np
from gguf import GGUFReader, GGUFValueType

from clipgen_convert.provenance import CONVERTER_VERSION_KEY
from clipgen_convert.report import human_bytes, human_count, shape_text
from clipgen_convert.writer import COMPONENTS_KEY, field_value, open_model

#: Arrays longer than this are shown as their length and first ARRAY_HEAD entries.
ARRAY_PREVIEW_LIMIT = 16
ARRAY_HEAD = 5

_SOURCE_PREFIX = "clipgen.source."


def _value(field: Any) -> Any:
    """A metadata value for display: float32 in its shortest form (1e-05, not 9.99999974e-06), long arrays
    summarised."""
    value = field.contents()
    if field.types[-1] == GGUFValueType.FLOAT32:
        value = [_short(v) for v in value] if isinstance(value, list) else _short(value)
    if field.types[0] != GGUFValueType.ARRAY:
        return value
    element = field.types[-1].name.lower()
    if len(value) <= ARRAY_PREVIEW_LIMIT:
        return value
    return {"array": element, "count": len(value), "head": value[:ARRAY_HEAD]}


def _short(x: float) -> float:
    """The shortest decimal that reads back as the same float32."""
    return float(str(np.float32(x)))


def _type_name(field: Any) -> str:
    if field.types[0] == GGUFValueType.ARRAY:
        return f"array[{field.types[-1].name.lower()}]"
    return field.types[0].name.lower()


def summarize(path: str) -> dict[str, Any]:
    """A JSON-ready description of the model file at `path` (ConversionError if it is not a clipgen file)."""
    reader: GGUFReader = open_model(path)
    kinds = list(field_value(reader, COMPONENTS_KEY) or [])
    components = {k: {"tensors": [], "metadata": {}} for k in kinds}
    other_tensors: list[dict[str, Any]] = []
    for t in reader.tensors:
        entry = {"name": t.name, "type": t.tensor_type.name,
                 "shape": [int(d) for d in reversed(t.shape.tolist())],  # PyTorch order, as the converter's report
                 "bytes": int(t.n_bytes), "parameters": int(t.n_elements)}
        kind = t.name.split(".", 1)[0]
        (components[kind]["tensors"] if kind in components else other_tensors).append(entry)

    provenance: dict[str, Any] = {}
    file_metadata: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue  # the header fields gguf-py exposes as pseudo-keys
        item = {"type": _type_name(field), "value": _value(field)}
        kind = key.split(".")[1] if key.startswith("clipgen.") and key.count(".") >= 2 else None
        if key.startswith(_SOURCE_PREFIX) or key == CONVERTER_VERSION_KEY:
            provenance[key] = item["value"]
        elif kind in components:
            components[kind]["metadata"][key] = item
        else:
            file_metadata[key] = item

    for info in components.values():
        types = Counter(t["type"] for t in info["tensors"])
        info["tensor_count"] = len(info["tensors"])
        info["parameters"] = sum(t["parameters"] for t in info["tensors"])
        info["bytes"] = sum(t["bytes"] for t in info["tensors"])
        info["types"] = dict(sorted(types.items()))
    return {"file": path, "file_bytes": os.path.getsize(path), "components": components,
            "other_tensors": other_tensors, "provenance": provenance, "metadata": file_metadata}


def _show(value: Any) -> str:
    if isinstance(value, dict) and "count" in value:
        head = ", ".join(repr(v) for v in value["head"])
        return f"[{value['count']} x {value['array']}: {head}, ...]"
    return repr(value)


def format_summary(summary: dict[str, Any]) -> list[str]:
    """The text form of `summarize`'s result."""
    comps = summary["components"]
    lines = [f"{summary['file']}: {human_bytes(summary['file_bytes'])}, components: {', '.join(comps) or 'none'}"]
    for key, item in summary["metadata"].items():
        lines.append(f"  {key} ({item['type']}) = {_show(item['value'])}")
    if summary["provenance"]:
        lines.append("provenance:")
        lines.extend(f"  {key} = {value}" for key, value in summary["provenance"].items())
    for kind, info in comps.items():
        types = ", ".join(f"{n} {t}" for t, n in info["types"].items())
        lines.append(f"{kind}: {info['tensor_count']} tensors ({types}), {human_count(info['parameters'])} "
                     f"parameters, {human_bytes(info['bytes'])}")
        lines.extend(f"  {key} ({item['type']}) = {_show(item['value'])}" for key, item in info["metadata"].items())
        lines.extend(_tensor_lines(info["tensors"]))
    if summary["other_tensors"]:
        lines.append("tensors of no listed component:")
        lines.extend(_tensor_lines(summary["other_tensors"]))
    return lines


def _tensor_lines(tensors: list[dict[str, Any]]) -> list[str]:
    if not tensors:
        return []
    name_w = max(len(t["name"]) for t in tensors)
    shape_w = max(len(shape_text(t["shape"])) for t in tensors)
    return [f"    {t['name']:<{name_w}}  {t['type']:<4}  {shape_text(t['shape']):<{shape_w}}  {human_bytes(t['bytes'])}"
            for t in tensors]
