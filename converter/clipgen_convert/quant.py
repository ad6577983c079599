"""Which tensors are quantised, the quantisation itself, and how much each tensor loses.

Q8_0 uses gguf-py's `gguf.quants` (bit-exact with ggml's `quantize_row_q8_0_ref`; docs/FORMAT.md gives the rule),
so the bytes written are exactly what the Swift runtime's kernels expect and what gguf-dump shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize, quantize

from clipgen_convert.component import Component, ConversionError

#: The --quant choices, the default first.
QUANTS: tuple[str, ...] = ("q8_0", "f16", "f32")

#: Elements per Q8_0 block: a quantised tensor's rows (its last PyTorch dimension) must be a whole number of them.
Q8_0_BLOCK = 32

QType = GGMLQuantizationType


def is_matrix_weight(name: str, shape: tuple[int, ...]) -> bool:
    """Whether the contract's rule quantises this tensor under q8_0 / f16.

    Matrix-like weights (linear, conv, embedding tables, codebooks) are named "*.weight", have two or more
    dimensions, and rows that split into whole Q8_0 blocks. Biases, norms, positional and class embeddings stay F32:
    they are small and sit on the residual path, where int8 error would accumulate.
    """
    return name.endswith(".weight") and len(shape) >= 2 and shape[-1] % Q8_0_BLOCK == 0


def storage_type(name: str, shape: tuple[int, ...], quant: str) -> GGMLQuantizationType:
    """The ggml type tensor `name` of PyTorch shape `shape` is stored as under `quant`."""
    check_quant(quant)
    if quant == "q8_0" and is_matrix_weight(name, shape):
        return QType.Q8_0
    if quant == "f16" and is_matrix_weight(name, shape):
        return QType.F16
    return QType.F32


def check_quant(quant: str) -> None:
    """Raises ConversionError unless `quant` is one of QUANTS."""
    if quant not in QUANTS:
        raise ConversionError(f"unknown quantisation '{quant}': expected one of {', '.join(QUANTS)}")


def encode(array: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    """The array as the writer stores it: float32, float16, or Q8_0 bytes [..., rows of n/32 blocks x 34 bytes]."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    if qtype == QType.F32:
        return array
    if qtype == QType.F16:
        return array.astype(np.float16)  # round to nearest even, as ggml's fp32 -> fp16
    if qtype == QType.Q8_0:
        return quantize(array, QType.Q8_0)  # [..., n / 32 * 34] uint8
    raise ValueError(f"clipgen stores only F32, F16 and Q8_0, not {qtype.name}")


def decode(stored: np.ndarray, qtype: GGMLQuantizationType, shape: tuple[int, ...]) -> np.ndarray:
    """The float32 values `stored` (as from `encode` or read from a file) stands for, in PyTorch shape `shape`."""
    if qtype == QType.F32:
        values = np.array(stored, dtype=np.float32)  # a copy: `stored` may be a read-only view of a mapped file
    elif qtype == QType.F16:
        values = np.asarray(stored).view(np.float16).astype(np.float32)
    elif qtype == QType.Q8_0:
        values = dequantize(np.asarray(stored).view(np.uint8), QType.Q8_0).astype(np.float32)
    else:
        raise ValueError(f"clipgen stores only F32, F16 and Q8_0, not {qtype.name}")
    return values.reshape(shape)


@dataclass(frozen=True)
class TensorError:
    """How far a stored tensor is from the float original."""

    max_abs: float  # largest |original - restored|
    rel_rms: float  # rms(original - restored) / rms(original); 0 for an exact copy


def tensor_error(original: np.ndarray, restored: np.ndarray) -> TensorError:
    """Max absolute and relative RMS error, accumulated in float64 so large tensors do not lose the small terms."""
    a = np.asarray(original, dtype=np.float64)
    diff = np.asarray(restored, dtype=np.float64) - a
    if diff.size == 0:
        return TensorError(0.0, 0.0)
    err_rms = float(np.sqrt(np.mean(diff * diff)))
    ref_rms = float(np.sqrt(np.mean(a * a)))
    if err_rms == 0.0:
        rel = 0.0
    else:
        rel = err_rms / ref_rms if ref_rms > 0 else float("inf")
    return TensorError(float(np.max(np.abs(diff))), rel)


def roundtrip(component: Component, quant: str) -> Component:
    """`component` with every tensor stored as `quant` would store it and read back as float32.

    Gives the same arrays as writing the file and `writer.read_component`, without a file; for tests and verify.
    """
    tensors = {}
    for name, array in component.tensors.items():
        qtype = storage_type(name, tuple(array.shape), quant)
        tensors[name] = decode(encode(array, qtype), qtype, tuple(array.shape))
    return Component(kind=component.kind, tensors=tensors, meta=dict(component.meta), source=component.source,
                     extra_kv=dict(component.extra_kv))
