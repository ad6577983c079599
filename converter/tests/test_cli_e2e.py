"""End to end through the real loaders, references and synth writers: the tiny synth checkpoints are converted at
every quantisation, inspected, read by gguf-dump and verified against the issue's pass marks; damaged and
mismatched checkpoints stop with one line naming the file and leave no output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clipgen_convert.cli import main

pytest.importorskip("torch", reason="the end-to-end CLI tests need PyTorch (scripts/test installs it)")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--preset", "tiny", "--out", str(out), "--seed", "7"]) == 0
    return {"clip": out / "clip.pt", "vqgan": out / "vqgan.ckpt", "gpt": out / "gpt.pt"}


@pytest.fixture(scope="module")
def converted(synth, tmp_path_factory) -> Path:
    model = tmp_path_factory.mktemp("model") / "tiny.gguf"
    assert main(["convert", "--clip", str(synth["clip"]), "--vqgan", str(synth["vqgan"]),
                 "--transformer", str(synth["gpt"]), "--out", str(model), "--quiet"]) == 0
    return model


def test_synth_is_deterministic(synth, tmp_path):
    assert main(["synth", "--preset", "tiny", "--out", str(tmp_path), "--seed", "7"]) == 0
    for name in ("clip.pt", "vqgan.ckpt", "gpt.pt"):
        assert (tmp_path / name).read_bytes() == synth[name.split(".")[0]].read_bytes(), name


def test_convert_reports_every_tensor(synth, capsys, tmp_path):
    code, out, err = run(capsys, "convert", "--clip", synth["clip"], "--vqgan", synth["vqgan"],
                         "--transformer", synth["gpt"], "--out", tmp_path / "m.gguf")
    assert code == 0, err
    assert "clip.text.token_embedding.weight" in out and "Q8_0" in out and "\ntotal: " in out
    assert list(tmp_path.iterdir()) == [tmp_path / "m.gguf"]


def test_inspect_and_gguf_dump_read_the_file(converted, capsys):
    code, out, _ = run(capsys, "inspect", converted, "--json")
    assert code == 0
    summary = json.loads(out)
    assert list(summary["components"]) == ["clip", "gpt", "vqgan"]
    for info in summary["components"].values():
        assert info["types"]["Q8_0"] > 0 and info["types"]["F32"] > 0
    assert set(summary["provenance"]) >= {"clipgen.source.clip.sha256", "clipgen.converter.version"}
    assert summary["metadata"]["tokenizer.ggml.merges"]["value"]["count"] > 48000
    r = subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_dump", str(converted)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert "gpt.head.weight" in r.stdout and "tokenizer.ggml.merges" in r.stdout


def test_verify_passes_the_issue_marks_for_q8_0(converted, synth, capsys):
    code, out, err = run(capsys, "verify", converted, "--from", synth["gpt"], synth["vqgan"], synth["clip"], "--json")
    assert code == 0, out + err
    checks = {(c["component"], c["metric"]): c for c in json.loads(out)}
    assert checks[("clip", "text_cosine")]["value"] >= 0.999
    assert checks[("vqgan", "psnr_db")]["value"] >= 35.0
    assert checks[("gpt", "top1_agreement")]["value"] >= 0.95
    assert all(c["pass"] in (True, None) for c in checks.values())


def test_truncated_checkpoint_is_one_line_and_no_output(synth, capsys, tmp_path):
    bad = tmp_path / "clip.pt"
    bad.write_bytes(synth["clip"].read_bytes()[: synth["clip"].stat().st_size // 2])
    code, _, err = run(capsys, "convert", "--clip", bad, "--vqgan", synth["vqgan"], "--transformer", synth["gpt"],
                       "--out", tmp_path / "m.gguf")
    assert code == 2
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and str(bad) in errors[0] and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [bad]


def test_not_a_pickle_is_one_line(synth, capsys, tmp_path):
    bad = tmp_path / "gpt.pt"
    bad.write_bytes(b"this is not a checkpoint\n" * 10)
    code, _, err = run(capsys, "convert", "--clip", synth["clip"], "--transformer", bad, "--out", tmp_path / "m.gguf")
    assert code == 2 and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "m.gguf").exists()


def test_mismatched_transformer_is_refused(synth, capsys, tmp_path):
    from clipgen_convert import synth_gpt

    other = Path(synth_gpt.write(str(tmp_path), "tiny", 1, cond_dim=32, vocab_size=512, grid=[4, 4]))
    code, _, err = run(capsys, "convert", "--clip", synth["clip"], "--transformer", other, "--out", tmp_path / "m.gguf")
    assert code == 2
    assert "components disagree on the condition width" in err and str(other) in err and str(synth["clip"]) in err
    assert not (tmp_path / "m.gguf").exists()


def test_verify_refuses_a_different_checkpoint(converted, synth, capsys, tmp_path):
    copy = tmp_path / "vqgan.ckpt"
    shutil.copy(synth["vqgan"], copy)
    with open(copy, "ab") as f:
        f.write(b"\0")
    code, _, err = run(capsys, "verify", converted, "--vqgan", copy)
    assert code == 2 and "not the checkpoint" in err
