"""`clipgen` (the Swift executable) on bad input: every case exits non-zero with exactly one line on stderr that
names what is wrong, and leaves no output file behind. Uses the built executable (scripts/test builds it first) and
the bundled model; skipped without the executable."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from clipgen_convert.cli import main as convert_main

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "clipgen-default.gguf"
CLIPGEN = os.environ.get("CLIPGEN_BIN", str(REPO / ".build" / "release" / "clipgen"))

pytestmark = pytest.mark.skipif(not os.access(CLIPGEN, os.X_OK), reason=f"no clipgen executable at {CLIPGEN}")


def clipgen(*argv, cwd: Path) -> subprocess.CompletedProcess:
    args = [CLIPGEN] + [a if isinstance(a, bytes) else str(a) for a in argv]
    return subprocess.run(args, cwd=cwd, capture_output=True, check=False)


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> str:
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode != 0, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def clip_only(tmp_path_factory) -> Path:
    """A converted model with the CLIP and nothing else (the converter accepts any subset, with a note)."""
    out = tmp_path_factory.mktemp("partial")
    assert convert_main(["synth", "--preset", "tiny", "--out", str(out), "--seed", "3"]) == 0
    model = out / "clip-only.gguf"
    assert convert_main(["convert", "--clip", str(out / "clip.pt"), "--out", str(model), "--quiet"]) == 0
    return model


def test_bad_prompts_and_options(tmp_path):
    out = tmp_path / "x.png"
    cases = [
        (["generate", "", "--out", out], ("prompt is empty",)),
        (["generate", "   ", "--out", out], ("prompt is empty",)),
        (["generate", b"a red \xff\xfe circle", "--out", out], ("UTF-8",)),
        (["generate", "a red circle", "--threads", "0", "--out", out], ("--threads",)),
        (["generate", "a red circle", "--threads", "abc", "--out", out], ("--threads", "--help")),
        (["generate", "a red circle", "--candidates", "0", "--out", out], ("--candidates",)),
        (["generate", "a red circle", "--bogus", "--out", out], ("--bogus", "clipgen generate --help")),
        (["generate", "a red circle", "--top-p", "1.5", "--out", out], ("--top-p",)),
        (["generate", "a red circle", "--temperature", "0", "--out", out], ("--temperature",)),
    ]
    for argv, words in cases:
        assert_one_line_error(clipgen(*argv, "--model", MODEL, cwd=tmp_path), *words)
    assert_one_line_error(clipgen("frobnicate", cwd=tmp_path), "frobnicate", "clipgen --help")
    assert list(tmp_path.iterdir()) == []


def test_bad_model_files(tmp_path, clip_only):
    out = tmp_path / "x.png"
    missing = tmp_path / "nope.gguf"
    assert_one_line_error(clipgen("generate", "a red circle", "--model", missing, "--out", out, cwd=tmp_path),
                          str(missing))
    short = tmp_path / "short.gguf"
    short.write_bytes(MODEL.read_bytes()[: MODEL.stat().st_size // 2])  # a download cut off half way
    assert_one_line_error(clipgen("generate", "a red circle", "--model", short, "--out", out, cwd=tmp_path),
                          "short.gguf")
    line = assert_one_line_error(clipgen("generate", "a red circle", "--model", clip_only, "--out", out,
                                         cwd=tmp_path), "clip-only.gguf")
    assert "gpt" in line.lower() or "transformer" in line.lower() or "vqgan" in line.lower(), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.gguf"]


def test_bad_token_files_and_outputs(tmp_path):
    sample = clipgen("sample", "a red circle", "--model", MODEL, "--seed", "1", cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    grid = json.loads(sample.stdout)
    h, w = grid["grid"]
    out = tmp_path / "x.png"
    bad = tmp_path / "bad.json"
    for tokens, words in [(grid["tokens"][:-1], (str(h * w),)),  # wrong grid size
                          ([100_000] + grid["tokens"][1:], ("100000",)),  # out of the codebook
                          ([-1] + grid["tokens"][1:], ("-1",))]:
        bad.write_text(json.dumps({"tokens": tokens}))
        assert_one_line_error(clipgen("decode", "--model", MODEL, "--tokens", bad, "--out", out, cwd=tmp_path),
                              "bad.json", *words)
    bad.write_text("{not json")
    assert_one_line_error(clipgen("decode", "--model", MODEL, "--tokens", bad, "--out", out, cwd=tmp_path),
                          "bad.json")
    assert not out.exists()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(grid))
    unwritable = tmp_path / "no-such-folder" / "x.png"
    assert_one_line_error(clipgen("decode", "--model", MODEL, "--tokens", good, "--out", unwritable, cwd=tmp_path),
                          "no-such-folder")
    assert_one_line_error(clipgen("generate", "a red circle", "--model", MODEL, "--out", unwritable, cwd=tmp_path),
                          "no-such-folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "good.json"]
