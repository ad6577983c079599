"""Quantisation: the storage rule, Q8_0 bytes bit for bit against gguf-py and an independent ggml-rule
implementation (in the file as written, not only in memory), and round trips."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader
from gguf.quants import quantize

from clipgen_convert.component import ConversionError
from clipgen_convert.quant import decode, encode, roundtrip, storage_type, tensor_error
from clipgen_convert.writer import read_component, write_model
from core_fixtures import all_components, tricky_rows


def ggml_q8_0_block(x: np.ndarray) -> bytes:
    """ggml's quantize_row_q8_0_ref for one block, element by element in plain Python (independent of gguf-py)."""
    x = np.asarray(x, dtype=np.float32)
    amax = np.float32(max(abs(float(v)) for v in x))
    d = np.float32(amax / np.float32(127))
    inv = np.float32(1) / d if d != 0 else np.float32(0)
    quants = []
    for v in x:
        p = float(np.float32(v * inv))          # the f32 product, exactly representable as a double
        q = int(math.floor(abs(p) + 0.5))       # C roundf: half away from zero (exact in double for |p| < 2^28)
        quants.append(q if p >= 0 else -q)
    assert all(-127 <= q <= 127 for q in quants)
    return struct.pack("<e", float(d)) + struct.pack("<32b", *quants)  # fp16 d (round to nearest even), 32 x i8


def ggml_q8_0(x: np.ndarray) -> bytes:
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, 32)
    return b"".join(ggml_q8_0_block(block) for block in flat)


@pytest.mark.parametrize("name,shape,q8,f16", [
    ("token_embedding.weight", (96, 64), Q.Q8_0, Q.F16),
    ("blocks.0.attn.in_proj_weight", (192, 64), Q.F32, Q.F32),  # not "*.weight": the loader must rename it
    ("decoder.conv_in.weight", (64, 3, 3, 32), Q.Q8_0, Q.F16),   # conv [out, kh, kw, in]: rows of `in`
    ("encoder.conv_in.weight", (32, 3, 3, 3), Q.F32, Q.F32),     # rows of 3 input channels: no whole blocks
    ("head.weight", (10, 48), Q.F32, Q.F32),                     # 48 % 32 != 0
    ("ln_final.weight", (64,), Q.F32, Q.F32),                    # 1-D norm
    ("cond_proj.bias", (64,), Q.F32, Q.F32),
    ("positional_embedding", (77, 64), Q.F32, Q.F32),            # no ".weight": stays exact
])
def test_storage_rule(name, shape, q8, f16):
    assert storage_type(name, shape, "q8_0") == q8
    assert storage_type(name, shape, "f16") == f16
    assert storage_type(name, shape, "f32") == Q.F32


def test_unknown_quant_is_a_conversion_error():
    with pytest.raises(ConversionError, match="unknown quantisation 'q4_0'"):
        storage_type("a.weight", (32, 32), "q4_0")


def test_independent_reference_agrees_with_gguf_py_on_edge_blocks():
    x = tricky_rows(np.random.default_rng(5), 6, 128)  # [6, 128]
    assert bytes(quantize(x, Q.Q8_0).tobytes()) == ggml_q8_0(x)
    zero_block = ggml_q8_0_block(np.zeros(32, np.float32))
    assert zero_block == bytes(34)


def test_tie_block_rounds_half_away_from_zero():
    x = tricky_rows(np.random.default_rng(0), 4, 32)
    block = encode(x, Q.Q8_0)[1].tobytes()  # row 1: d = 1/8, products k + 0.5
    assert struct.unpack("<e", block[:2])[0] == 0.125
    q = struct.unpack("<32b", block[2:])
    assert (q[0], q[1], q[15], q[16], q[31]) == (127, -15, -1, 1, 16)  # -14.5, -0.5, 0.5, 15.5 round away from 0


def test_written_q8_0_bytes_equal_gguf_py_and_ggml_rule(tmp_path):
    components = all_components(str(tmp_path))
    out = tmp_path / "model.gguf"
    reports = write_model(components, str(out), "q8_0")
    originals = {f"{c.kind}.{n}": a for c in components for n, a in c.tensors.items()}
    raw = out.read_bytes()
    q8_names = [r.name for r in reports if r.qtype == Q.Q8_0]
    assert len(q8_names) == 9  # 3 per component in the fixtures
    for t in GGUFReader(str(out)).tensors:
        if t.tensor_type != Q.Q8_0:
            continue
        original = originals[t.name]
        in_file = raw[t.data_offset:t.data_offset + t.n_bytes]  # the bytes as on disk
        assert in_file == quantize(original, Q.Q8_0).tobytes(), t.name
        assert in_file == ggml_q8_0(original), t.name


def test_f16_and_f32_storage_are_exact_casts():
    x = np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32)
    assert np.array_equal(decode(encode(x, Q.F16), Q.F16, x.shape), x.astype(np.float16).astype(np.float32))
    assert decode(encode(x, Q.F32), Q.F32, x.shape).tobytes() == x.tobytes()


@pytest.mark.parametrize("quant", ["q8_0", "f16", "f32"])
def test_roundtrip_equals_reading_the_written_file(tmp_path, quant):
    components = all_components(str(tmp_path))
    out = tmp_path / f"model-{quant}.gguf"
    write_model(components, str(out), quant)
    for c in components:
        expected = roundtrip(c, quant)
        read = read_component(str(out), c.kind)
        assert list(read.tensors) == list(c.tensors)
        for name in c.tensors:
            assert read.tensors[name].dtype == np.float32
            assert read.tensors[name].shape == c.tensors[name].shape, name
            assert read.tensors[name].tobytes() == expected.tensors[name].tobytes(), name
        if quant == "f32":
            assert all(read.tensors[n].tobytes() == c.tensors[n].tobytes() for n in c.tensors)


def test_tensor_error_measures():
    a = np.array([3.0, 4.0], np.float32)   # rms 3.5355
    b = np.array([3.0, 4.5], np.float32)   # error rms 0.35355
    e = tensor_error(a, b)
    assert e.max_abs == pytest.approx(0.5)
    assert e.rel_rms == pytest.approx(0.1)
    assert tensor_error(a, a).rel_rms == 0.0
    assert tensor_error(np.zeros(2), np.ones(2)).rel_rms == float("inf")


def test_q8_0_error_is_reported_and_small(tmp_path):
    components = all_components(str(tmp_path))
    reports = write_model(components, str(tmp_path / "m.gguf"), "q8_0")
    for r in reports:
        if r.qtype == Q.Q8_0:
            assert 0 < r.error.rel_rms < 0.02, r.name  # ~0.5% for Gaussian weights; edge rows raise it a little
        else:
            assert r.error.max_abs == 0.0 and r.error.rel_rms == 0.0, r.name
