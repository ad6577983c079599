"""The writer: file-level keys, names, metadata types, dims order, gguf-dump, atomic writes, rejected input."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFValueType as T
from gguf import GGUFWriter

from clipgen_convert import __version__
from clipgen_convert.component import Component, ConversionError
from clipgen_convert.provenance import provenance_kv
from clipgen_convert.writer import read_component, write_model
from core_fixtures import all_components, clip_component, fake_checkpoint


def fields(path) -> dict:
    r = GGUFReader(str(path))
    return {k: (f.types, f.contents()) for k, f in r.fields.items()}


def test_file_level_keys_names_and_provenance(tmp_path):
    components = all_components(str(tmp_path))
    prov = provenance_kv({c.kind: c.source for c in components})
    out = tmp_path / "model.gguf"
    write_model(components, str(out), "q8_0", prov)
    f = fields(out)
    assert f["general.architecture"] == ([T.STRING], "clipgen")
    assert f["clipgen.format_version"] == ([T.UINT32], 1)
    assert f["clipgen.quant"] == ([T.STRING], "q8_0")
    assert f["clipgen.components"] == ([T.ARRAY, T.STRING], ["clip", "gpt", "vqgan"])
    assert f["clipgen.converter.version"][1] == __version__
    assert f["clipgen.source.clip.file"][1] == "clip.pt"
    assert f["clipgen.source.vqgan.sha256"][1] == hashlib.sha256(b"vqgan.ckpt").hexdigest()
    names = [t.name for t in GGUFReader(str(out)).tensors]
    assert names == [f"{c.kind}.{n}" for c in components for n in c.tensors]


def test_metadata_types(tmp_path):
    c = Component("clip", {"a.weight": np.ones((2, 32), np.float32)},
                  {"width": 512, "offset": -3, "big": 2**40, "eps": 1e-5, "flag": True, "act": "quick_gelu",
                   "grid": [16, 16], "mean": [0.48145466, 0.5, 1], "names": ["a", "b"], "np_int": np.int64(7),
                   "flags": [True, False]},
                  fake_checkpoint(str(tmp_path), "c.pt"))
    out = tmp_path / "m.gguf"
    write_model([c], str(out))
    f = fields(out)
    assert f["clipgen.clip.width"] == ([T.UINT32], 512)
    assert f["clipgen.clip.offset"] == ([T.INT32], -3)
    assert f["clipgen.clip.big"] == ([T.UINT64], 2**40)
    assert f["clipgen.clip.eps"] == ([T.FLOAT32], float(np.float32(1e-5)))
    assert f["clipgen.clip.flag"] == ([T.BOOL], True)
    assert f["clipgen.clip.act"] == ([T.STRING], "quick_gelu")
    assert f["clipgen.clip.grid"] == ([T.ARRAY, T.UINT32], [16, 16])
    assert f["clipgen.clip.mean"][0] == [T.ARRAY, T.FLOAT32]
    assert f["clipgen.clip.mean"][1] == [float(np.float32(0.48145466)), 0.5, 1.0]
    assert f["clipgen.clip.names"] == ([T.ARRAY, T.STRING], ["a", "b"])
    assert f["clipgen.clip.np_int"] == ([T.UINT32], 7)
    assert f["clipgen.clip.flags"] == ([T.ARRAY, T.BOOL], [True, False])
    meta = read_component(str(out), "clip").meta
    assert meta["grid"] == [16, 16] and meta["act"] == "quick_gelu" and meta["flag"] is True


def test_extra_kv_is_written_unchanged(tmp_path):
    c = clip_component(fake_checkpoint(str(tmp_path), "c.pt"))
    c.extra_kv = {"tokenizer.ggml.merges": (["a b", "Ġ t"], T.ARRAY, T.STRING),
                  "tokenizer.ggml.bos_token_id": (49406, T.UINT32)}
    out = tmp_path / "m.gguf"
    write_model([c], str(out))
    f = fields(out)
    assert f["tokenizer.ggml.merges"] == ([T.ARRAY, T.STRING], ["a b", "Ġ t"])
    assert f["tokenizer.ggml.bos_token_id"] == ([T.UINT32], 49406)


def test_dims_are_ggml_order(tmp_path):
    c = clip_component(fake_checkpoint(str(tmp_path), "c.pt"), embed_dim=32)
    out = tmp_path / "m.gguf"
    write_model([c], str(out))
    tensors = {t.name: t for t in GGUFReader(str(out)).tensors}
    proj = tensors["clip.text_projection.weight"]  # PyTorch [out 32, in 64]
    assert proj.shape.tolist() == [64, 32] and proj.tensor_type == Q.Q8_0
    assert tensors["clip.positional_embedding"].shape.tolist() == [64, 8]


def test_gguf_dump_reads_a_converted_file(tmp_path):
    out = tmp_path / "model.gguf"
    write_model(all_components(str(tmp_path)), str(out))
    r = subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_dump", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "clipgen.components" in r.stdout and "vqgan.quantize.embedding.weight" in r.stdout
    assert "Q8_0" in r.stdout


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    out = tmp_path / "model.gguf"
    out.write_bytes(b"previous model")
    real = GGUFWriter.write_tensors_to_file

    def fail_midway(self, **kwargs):
        self.write_ti_data_to_file()
        self.fout[0].write(b"\0" * 1000)  # part of the data is on disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(GGUFWriter, "write_tensors_to_file", fail_midway)
    with pytest.raises(ConversionError, match="write failed: No space left on device"):
        write_model(all_components(str(tmp_path)), str(out))
    assert sorted(os.listdir(tmp_path)) == ["clip.pt", "gpt.pt", "model.gguf", "vqgan.ckpt"]
    assert out.read_bytes() == b"previous model"

    monkeypatch.setattr(GGUFWriter, "write_tensors_to_file", real)
    write_model(all_components(str(tmp_path)), str(out))
    assert out.read_bytes()[:4] == b"GGUF"
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


def test_interrupt_leaves_no_file(tmp_path, monkeypatch):
    def interrupted(self, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(GGUFWriter, "write_tensors_to_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_model(all_components(str(tmp_path)), str(tmp_path / "m.gguf"))
    assert sorted(os.listdir(tmp_path)) == ["clip.pt", "gpt.pt", "vqgan.ckpt"]


def _clip_with(tmp_path, tensors=None, meta=None) -> Component:
    c = clip_component(fake_checkpoint(str(tmp_path), "bad.pt"))
    c.tensors.update(tensors or {})
    c.meta.update(meta or {})
    return c


@pytest.mark.parametrize("tensors,meta,message", [
    ({"x.weight": np.full((2, 32), np.nan, np.float32)}, None, "tensor 'x.weight': contains NaN"),
    ({"scale": np.array(1.0, np.float32)}, None, r"tensor 'scale': shape \(\) is not 1 to 4"),
    ({"x": np.ones((1, 1, 1, 1, 2), np.float32)}, None, "is not 1 to 4"),
    ({"x": np.ones((0, 32), np.float32)}, None, "is not 1 to 4 non-empty"),
    ({"x": np.ones((2, 2), np.int64)}, None, "expected a float array"),
    ({"a" * 60 + ".weight": np.ones((1, 32), np.float32)}, None, "longer than 63 bytes"),
    (None, {"attn_resolutions": []}, "'attn_resolutions' is an empty list"),
    (None, {"mixed": [1, "a"]}, "mixes element types"),
    (None, {"obj": object()}, "unsupported type object"),
    (None, {"huge": 1e300}, "does not fit float32"),
    (None, {"too_big": 2**64}, "'too_big': 18446744073709551616 does not fit 64 bits"),
])
def test_bad_components_are_rejected_before_any_file(tmp_path, tensors, meta, message):
    c = _clip_with(tmp_path, tensors, meta)
    with pytest.raises(ConversionError, match=message) as e:
        write_model([c], str(tmp_path / "m.gguf"))
    assert str(e.value).startswith(c.source)
    assert os.listdir(tmp_path) == ["bad.pt"]


def test_duplicate_and_unknown_kinds_and_key_clashes(tmp_path):
    a = clip_component(fake_checkpoint(str(tmp_path), "a.pt"))
    b = clip_component(fake_checkpoint(str(tmp_path), "b.pt"))
    with pytest.raises(ConversionError, match="two clip components given: .*a.pt and .*b.pt"):
        write_model([a, b], str(tmp_path / "m.gguf"))
    with pytest.raises(ConversionError, match="unknown component kind 'text'"):
        write_model([Component("text", {}, {}, "t.pt")], str(tmp_path / "m.gguf"))
    with pytest.raises(ConversionError, match="no components"):
        write_model([], str(tmp_path / "m.gguf"))
    a.extra_kv = {"clipgen.clip.width": (1, T.UINT32)}
    with pytest.raises(ConversionError, match="'clipgen.clip.width' is set twice"):
        write_model([a], str(tmp_path / "m.gguf"))
    assert not (tmp_path / "m.gguf").exists()


def test_bad_output_paths(tmp_path):
    c = clip_component(fake_checkpoint(str(tmp_path), "c.pt"))
    with pytest.raises(ConversionError, match="is a directory"):
        write_model([c], str(tmp_path))
    with pytest.raises(ConversionError, match="directory .*missing does not exist"):
        write_model([c], str(tmp_path / "missing" / "m.gguf"))
    with pytest.raises(ConversionError, match="unknown quantisation"):
        write_model([c], str(tmp_path / "m.gguf"), "q4_k")


def test_read_component_errors(tmp_path):
    good = tmp_path / "m.gguf"
    write_model([clip_component(fake_checkpoint(str(tmp_path), "c.pt"))], str(good))
    with pytest.raises(ConversionError, match="has no vqgan component .*holds: clip"):
        read_component(str(good), "vqgan")
    truncated = tmp_path / "t.gguf"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ConversionError, match="t.gguf: not a readable GGUF file"):
        read_component(str(truncated), "clip")
    other = tmp_path / "llama.gguf"
    w = GGUFWriter(str(other), "llama")
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    with pytest.raises(ConversionError, match="general.architecture is 'llama', expected 'clipgen'"):
        read_component(str(other), "clip")
    with pytest.raises(ConversionError, match="nope.gguf: cannot read"):
        read_component(str(tmp_path / "nope.gguf"), "clip")
