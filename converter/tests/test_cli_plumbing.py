"""The CLI's plumbing with stand-in loader / reference / synth modules: argument handling, error mapping, exit codes,
cross-component checks, checkpoint matching in verify. The real loaders are exercised end to end in test_cli_e2e.py.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
from gguf import GGUFReader

import clipgen_convert
from clipgen_convert.checks import check_compatible
from clipgen_convert.cli import main
from clipgen_convert.component import ConversionError
from core_fixtures import clip_component, fake_checkpoint, gpt_component, vqgan_component

#: What a stand-in loader raises for a checkpoint whose content is the key (as the libraries do on damaged files).
FAILURES = {
    b"TRUNCATED": EOFError("Ran out of input"),
    b"PICKLE": pickle.UnpicklingError("invalid load key, 'x'."),
    b"ZIP": zipfile.BadZipFile("File is not a zip file"),
    b"LIGHTNING": ModuleNotFoundError("No module named 'pytorch_lightning'", name="pytorch_lightning"),
}


def _loader(make, calls):
    def load(path, **options):
        calls["load"].append((Path(path).name, options))
        content = Path(path).read_bytes()
        if content in FAILURES:
            raise FAILURES[content]
        return make(path)
    return load


@pytest.fixture
def parts(monkeypatch):
    """Stand-in clip / gpt / vqgan loaders (fixture Components), references and synth writers; returns call logs."""
    calls: dict[str, list] = {"verify": [], "synth_gpt": [], "load": []}
    widths = {"clip": 64, "gpt": 64}

    def module(name, **attrs):
        m = types.ModuleType(f"clipgen_convert.{name}")
        m.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, m.__name__, m)

    module("clip", load=_loader(lambda p: clip_component(p, embed_dim=widths["clip"]), calls))
    module("gpt", load=_loader(lambda p: gpt_component(p, cond_dim=widths["gpt"]), calls))
    module("vqgan", load=_loader(lambda p: vqgan_component(p), calls))
    metrics = {"clip": {"text_cosine": 0.9995}, "gpt": {"top1_agreement": 0.97, "logit_rms": 0.01},
               "vqgan": {"psnr_db": 41.0}}
    for kind in ("clip", "gpt", "vqgan"):
        def verify(original, quantised, kind=kind):
            calls["verify"].append((kind, original.source, quantised.source))
            return dict(metrics[kind])
        module(f"{kind}_ref", verify=verify)

    def synth(name):
        def write(out_dir, preset, seed, **kwargs):
            calls.setdefault(name, []).append((preset, seed, kwargs))
            return fake_checkpoint(out_dir, {"synth_clip": "clip.pt", "synth_vqgan": "vqgan.ckpt",
                                             "synth_gpt": "gpt.pt"}[name])
        return write
    for name in ("synth_clip", "synth_vqgan", "synth_gpt"):
        module(name, write=synth(name))
    return types.SimpleNamespace(calls=calls, widths=widths, metrics=metrics)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def checkpoints(tmp_path) -> dict[str, str]:
    return {"clip": fake_checkpoint(str(tmp_path), "clip.pt"), "vqgan": fake_checkpoint(str(tmp_path), "vqgan.ckpt"),
            "gpt": fake_checkpoint(str(tmp_path), "gpt.pt")}


def convert(capsys, tmp_path, *extra):
    c = checkpoints(tmp_path)
    return run(capsys, "convert", "--clip", c["clip"], "--vqgan", c["vqgan"], "--transformer", c["gpt"],
               "--out", tmp_path / "model.gguf", *extra)


def test_convert_prints_the_error_table_and_writes_one_file(parts, capsys, tmp_path):
    code, out, err = convert(capsys, tmp_path)
    assert code == 0, err
    assert re.search(r"\nclip.token_embedding.weight +Q8_0  \[96, 64\] .* 0.375%\n", out)
    assert "vqgan.encoder.conv_in.weight" in out and "total: 18 tensors" in out
    assert "wrote " in err and "note:" not in err
    r = GGUFReader(str(tmp_path / "model.gguf"))
    assert r.fields["clipgen.source.gpt.file"].contents() == "gpt.pt"


def test_loader_options_reach_the_loaders(parts, capsys, tmp_path):
    code, _, err = convert(capsys, tmp_path, "--quiet", "--gpt-heads", "4", "--gpt-grid", "2x2",
                           "--vqgan-resolution", "32", "--clip-activation", "gelu", "--clip-bpe", "vocab.txt.gz")
    assert code == 0, err
    assert parts.calls["load"] == [
        ("clip.pt", {"activation": "gelu", "bpe_path": "vocab.txt.gz"}),
        ("vqgan.ckpt", {"resolution": 32}),
        ("gpt.pt", {"heads": 4, "grid": [2, 2]})]
    with pytest.raises(SystemExit):
        main(["convert", "--transformer", "g.pt", "--gpt-grid", "2by2", "--out", "m.gguf"])
    assert "argument --gpt-grid: invalid grid value: '2by2'" in capsys.readouterr().err


def test_convert_one_component_notes_what_is_missing(parts, capsys, tmp_path):
    code, _, err = run(capsys, "convert", "--clip", fake_checkpoint(str(tmp_path), "c.pt"),
                       "--out", tmp_path / "clip.gguf", "--quant", "f16", "--quiet")
    assert code == 0, err
    assert "no --vqgan given" in err and "no --transformer given" in err
    r = GGUFReader(str(tmp_path / "clip.gguf"))
    assert r.fields["clipgen.components"].contents() == ["clip"]
    assert r.fields["clipgen.quant"].contents() == "f16"


@pytest.mark.parametrize("content,expected", [
    (b"TRUNCATED", "cannot read the CLIP checkpoint (EOFError: Ran out of input)"),
    (b"PICKLE", "cannot read the CLIP checkpoint (UnpicklingError: invalid load key"),
    (b"ZIP", "cannot read the CLIP checkpoint (BadZipFile: File is not a zip file)"),
    (b"LIGHTNING", "needs Python module 'pytorch_lightning' to unpickle"),
])
def test_unreadable_checkpoint_is_one_line_naming_the_file(parts, capsys, tmp_path, content, expected):
    bad = fake_checkpoint(str(tmp_path), "bad.pt", content)
    code, out, err = run(capsys, "convert", "--clip", bad, "--out", tmp_path / "m.gguf")
    assert code == 2
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"clipgen-convert: error: --clip {bad}: ")
    assert expected in errors[0] and "Traceback" not in err
    assert not (tmp_path / "m.gguf").exists()


def test_missing_inputs(parts, capsys, tmp_path):
    code, _, err = run(capsys, "convert", "--out", tmp_path / "m.gguf")
    assert code == 2 and "convert needs at least one of --clip, --vqgan, --transformer" in err
    code, _, err = run(capsys, "convert", "--vqgan", tmp_path / "nope.ckpt", "--out", tmp_path / "m.gguf")
    assert code == 2 and f"--vqgan {tmp_path / 'nope.ckpt'}: no such file" in err
    code, _, err = run(capsys, "convert", "--vqgan", tmp_path, "--out", tmp_path / "m.gguf")
    assert code == 2 and "not a regular file" in err
    ckpt = fake_checkpoint(str(tmp_path), "v.ckpt")
    code, _, err = run(capsys, "convert", "--vqgan", ckpt, "--out", ckpt)
    assert code == 2 and "it would be replaced" in err
    (tmp_path / "v.ckpt").unlink()
    assert list(tmp_path.iterdir()) == []


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["convert", "--quant", "q4_0", "--out", "x"])
    assert e.value.code == 2 and "invalid choice: 'q4_0'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2


def test_cross_component_mismatch_names_both_files(parts, capsys, tmp_path):
    parts.widths["gpt"] = 32
    code, _, err = convert(capsys, tmp_path)
    assert code == 2
    assert (f"components disagree on the condition width: clip embed_dim = 64 in {tmp_path / 'clip.pt'}, "
            f"but gpt cond_dim = 32 in {tmp_path / 'gpt.pt'}") in err
    assert not (tmp_path / "model.gguf").exists()


@pytest.mark.parametrize("gpt_args,vq_args,message", [
    ({"vocab": 128}, {}, "the codebook size: vqgan n_embed = 64 in v.ckpt, but gpt vocab_size = 128 in g.pt"),
    ({"grid": (4, 4)}, {}, r"the token grid: vqgan grid = \[2, 2\] in v.ckpt, but gpt grid = \[4, 4\] in g.pt"),
    ({"n_positions": 3}, {}, r"g.pt: transformer n_positions = 3 is too small for a 2x2 token grid \(needs 4"),
])
def test_cross_component_checks(gpt_args, vq_args, message):
    comps = {"clip": clip_component("c.pt"), "gpt": gpt_component("g.pt", **gpt_args),
             "vqgan": vqgan_component("v.ckpt", **vq_args)}
    with pytest.raises(ConversionError, match=message):
        check_compatible(comps)


def test_inspect_text_and_json(parts, capsys, tmp_path):
    assert convert(capsys, tmp_path, "--quiet")[0] == 0
    code, out, _ = run(capsys, "inspect", tmp_path / "model.gguf")
    assert code == 0
    assert "components: clip, gpt, vqgan" in out
    assert "clip: 7 tensors (3 F32, 4 Q8_0)" not in out  # ".weight" rule: in_proj_weight stays F32
    assert "clip: 7 tensors (4 F32, 3 Q8_0)" in out
    assert "clipgen.gpt.grid (array[uint32]) = [2, 2]" in out
    assert "clipgen.source.clip.sha256 = " in out
    code, out, _ = run(capsys, "inspect", tmp_path / "model.gguf", "--json")
    summary = json.loads(out)
    assert summary["components"]["vqgan"]["types"] == {"F32": 3, "Q8_0": 3}
    assert summary["components"]["gpt"]["metadata"]["clipgen.gpt.vocab_size"] == {"type": "uint32", "value": 64}
    assert summary["provenance"]["clipgen.converter.version"] == clipgen_convert.__version__
    garbage = fake_checkpoint(str(tmp_path), "garbage.gguf", b"not a gguf file at all")
    code, _, err = run(capsys, "inspect", garbage)
    assert code == 2 and f"{garbage}: not a readable GGUF file" in err


def test_verify_matches_checkpoints_by_sha256_and_passes(parts, capsys, tmp_path):
    assert convert(capsys, tmp_path, "--quiet")[0] == 0
    c = checkpoints(tmp_path)
    code, out, err = run(capsys, "verify", tmp_path / "model.gguf", "--from", c["gpt"], c["clip"], c["vqgan"])
    assert code == 0, err
    assert [k for k, _, _ in parts.calls["verify"]] == ["clip", "vqgan", "gpt"]
    # Reloaded with the options the file recorded (the fixtures record no text.activation and no heads).
    assert parts.calls["load"][3:] == [("clip.pt", {}), ("vqgan.ckpt", {"resolution": 32}),
                                       ("gpt.pt", {"grid": [2, 2]})]
    assert all(q == str(tmp_path / "model.gguf") for _, _, q in parts.calls["verify"])
    assert re.search(r"\nclip +text_cosine +0.9995 +>= 0.999 +PASS\n", out)
    assert re.search(r"\ngpt +logit_rms +0.01\n", out)  # no pass mark: shown without a verdict
    assert out.strip().endswith("verify: PASS (3 of 3 checks passed)")


def test_verify_fails_below_a_pass_mark(parts, capsys, tmp_path):
    assert convert(capsys, tmp_path, "--quiet")[0] == 0
    parts.metrics["vqgan"]["psnr_db"] = 30.0
    code, out, _ = run(capsys, "verify", tmp_path / "model.gguf", "--vqgan", tmp_path / "vqgan.ckpt", "--json")
    assert code == 1
    assert json.loads(out) == [{"component": "vqgan", "metric": "psnr_db", "value": 30.0, "threshold": 35.0,
                                "pass": False}]


def test_verify_rejects_other_checkpoints(parts, capsys, tmp_path):
    assert convert(capsys, tmp_path, "--quiet", "--quant", "f32")[0] == 0
    model = tmp_path / "model.gguf"
    other = fake_checkpoint(str(tmp_path), "other.pt", b"different weights")
    code, _, err = run(capsys, "verify", model, "--clip", other)
    assert code == 2 and f"--clip {other}: not the checkpoint {model} was converted from" in err
    code, _, err = run(capsys, "verify", model, "--from", other)
    assert code == 2 and "matches none of the checkpoints" in err
    code, _, err = run(capsys, "verify", model)
    assert code == 2 and "verify needs the original checkpoints" in err
    assert parts.calls["verify"] == []


def test_synth_sizes_the_transformer_from_the_other_two(parts, capsys, tmp_path):
    out_dir = tmp_path / "synth"
    code, out, _ = run(capsys, "synth", "--preset", "tiny", "--out", out_dir, "--seed", 3)
    assert code == 0
    assert out.split() == [str(out_dir / n) for n in ("clip.pt", "vqgan.ckpt", "gpt.pt")]
    assert parts.calls["synth_gpt"] == [("tiny", 3, {"cond_dim": 64, "vocab_size": 64, "grid": [2, 2]})]


def test_python_dash_m_runs_the_cli():
    env_path = str(Path(clipgen_convert.__file__).resolve().parents[1])
    r = subprocess.run([sys.executable, "-m", "clipgen_convert", "--version"], capture_output=True, text=True,
                       env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and r.stdout.strip() == f"clipgen-convert {clipgen_convert.__version__}"


def test_inspect_summarises_long_arrays_and_shows_float32_shortest(capsys, tmp_path):
    from gguf import GGUFValueType as T
    from clipgen_convert.writer import write_model

    clip = clip_component(fake_checkpoint(str(tmp_path), "clip.pt"))
    clip.extra_kv = {"tokenizer.ggml.merges": ([f"m{i} x" for i in range(40)], T.ARRAY, T.STRING)}
    write_model([clip], str(tmp_path / "m.gguf"))
    code, out, _ = run(capsys, "inspect", tmp_path / "m.gguf")
    assert code == 0
    assert "tokenizer.ggml.merges (array[string]) = [40 x string: 'm0 x', 'm1 x', 'm2 x', 'm3 x', 'm4 x', ...]" in out
    assert "clipgen.clip.ln_eps (float32) = 1e-05" in out
    code, out, _ = run(capsys, "inspect", tmp_path / "m.gguf", "--json")
    merges = json.loads(out)["metadata"]["tokenizer.ggml.merges"]["value"]
    assert merges == {"array": "string", "count": 40, "head": ["m0 x", "m1 x", "m2 x", "m3 x", "m4 x"]}
