"""Resumable stages: stopping (cleanly or by SIGKILL) and rerunning the same command logs the same losses as an
uninterrupted run, and a resumed run with other settings is refused."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the training recipe needs PyTorch")

from clipgen_train import train_gpt  # noqa: E402
from train_fixtures import losses, train, train_subprocess  # noqa: E402

STEPS = 4


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> dict[str, Path]:
    """A tiny CLIP and VQGAN for the transformer stage (one step each)."""
    out = tmp_path_factory.mktemp("upstream")
    assert train("clip", "--out", out / "clip", "--steps", 1, "--batch", 2) == 0
    assert train("vqgan", "--out", out / "vqgan", "--steps", 1, "--batch", 2) == 0
    return {"clip": out / "clip" / "clip.pt", "vqgan": out / "vqgan" / "vqgan.ckpt"}


def _stage_args(stage: str, upstream: dict[str, Path]) -> list:
    common = ["--steps", STEPS, "--batch", 2, "--save-every", 2, "--warmup", 2]
    if stage == "gpt":  # noise and dropout both draw random numbers: their state must survive the restart
        return common + ["--clip", upstream["clip"], "--vqgan", upstream["vqgan"], "--cond-noise", 0.3]
    return common


@pytest.mark.parametrize("stage", ["clip", "vqgan", "gpt"])
def test_stop_and_resume_equals_an_uninterrupted_run(stage, upstream, tmp_path, monkeypatch):
    monkeypatch.setitem(train_gpt.PRESETS, "tiny", {**train_gpt.PRESETS["tiny"], "dropout": 0.2})
    args = _stage_args(stage, upstream)
    assert train(stage, "--out", tmp_path / "whole", *args) == 0
    assert train(stage, "--out", tmp_path / "split", *args, "--stop-at", 1) == 0
    assert [r["step"] for r in losses(tmp_path / "split")] == [1]
    assert train(stage, "--out", tmp_path / "split", *args) == 0
    whole, split = losses(tmp_path / "whole"), losses(tmp_path / "split")
    assert [r["step"] for r in whole] == list(range(1, STEPS + 1))
    assert split == whole
    a = torch.load(tmp_path / "whole" / "train_state.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "split" / "train_state.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_after_sigkill_drops_the_unsaved_steps_and_matches(tmp_path):
    """A real kill between two saves: the log lines past the last save are dropped and recomputed identically."""
    args = ["vqgan", "--steps", 30, "--batch", 2, "--save-every", 5, "--warmup", 2]
    whole = train_subprocess(*args, "--out", tmp_path / "whole")
    assert whole.wait(timeout=120) == 0, whole.stdout.read()
    killed = train_subprocess(*args, "--out", tmp_path / "killed")
    log = tmp_path / "killed" / "losses.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and killed.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 12:
            break
        time.sleep(0.02)
    assert killed.poll() is None, "the run ended before it could be killed; raise --steps"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    saved = torch.load(tmp_path / "killed" / "train_state.pt", weights_only=False)["step"]
    assert 10 <= saved < 30
    resumed = train_subprocess(*args, "--out", tmp_path / "killed")
    assert resumed.wait(timeout=120) == 0, resumed.stdout.read()
    assert losses(tmp_path / "killed") == losses(tmp_path / "whole")


def test_resuming_with_other_settings_is_refused(tmp_path, capsys):
    out = tmp_path / "v"
    assert train("vqgan", "--out", out, "--steps", 2, "--batch", 2, "--stop-at", 1) == 0
    assert train("vqgan", "--out", out, "--steps", 2, "--batch", 3) == 2
    err = capsys.readouterr().err
    assert "cannot resume: options 'batch' was 2, now 3" in err and "train_state.pt" in err
    assert train("clip", "--out", out, "--steps", 2, "--batch", 2) == 2
    assert "state of the 'vqgan' stage" in capsys.readouterr().err
    lines = (out / "losses.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1]  # refused runs leave the log alone


@pytest.mark.parametrize("stage", ["clip", "vqgan", "gpt"])
def test_bf16_trains_each_stage_close_to_float32_and_may_change_on_resume(stage, upstream, tmp_path, capsys):
    """--bf16 really runs the forward in bfloat16 (the first loss differs from float32's in the low digits, not in
    the leading ones), and a run may switch it when resumed, saying so."""
    args = _stage_args(stage, upstream)
    assert train(stage, "--out", tmp_path / "f32", *args, "--stop-at", 1) == 0
    assert train(stage, "--out", tmp_path / "bf16", *args, "--stop-at", 1, "--bf16") == 0
    f32, bf16 = losses(tmp_path / "f32")[0]["loss"], losses(tmp_path / "bf16")[0]["loss"]
    assert f32 != bf16 and abs(f32 - bf16) <= 0.05 * abs(f32), (f32, bf16)
    capsys.readouterr()
    assert train(stage, "--out", tmp_path / "f32", *args, "--bf16") == 0
    assert "trained without --bf16 up to step 1; this run continues with it" in capsys.readouterr().out
    steps = losses(tmp_path / "f32")
    assert [r["step"] for r in steps] == list(range(1, STEPS + 1))
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in steps)


def test_the_training_step_benchmark_prints_both_precisions_and_their_ratio():
    import re
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "scripts" / "bench_train_step.py"
    done = subprocess.run([sys.executable, str(script), "--preset", "tiny", "--threads", "1", "--repeats", "2",
                           "--batch", "4"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    f32 = float(re.search(r"^float32 +([0-9.]+) ms/step", done.stdout, re.M).group(1))
    bf16 = float(re.search(r"^bf16 +([0-9.]+) ms/step", done.stdout, re.M).group(1))
    ratio = float(re.search(r"^bf16 speed-up: ([0-9.]+)x", done.stdout, re.M).group(1))
    assert f32 > 0 and bf16 > 0 and abs(ratio - f32 / bf16) <= 0.02 * ratio + 0.01
    assert "machine:" in done.stdout and "1 layers" in done.stdout
