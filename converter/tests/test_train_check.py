"""`clipgen-train check` reports the parts' held-out figures as JSON, and rejects a call with nothing to check."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch", reason="the training recipe needs PyTorch")

from clipgen_convert.cli import main as convert_main  # noqa: E402
from clipgen_train.cli import main  # noqa: E402


def test_check_reports_clip_and_vqgan_figures(tmp_path, capsys):
    assert convert_main(["synth", "--preset", "tiny", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["check", "--clip", str(tmp_path / "clip.pt"), "--vqgan", str(tmp_path / "vqgan.ckpt"),
                 "--scenes", "6"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["vqgan"]) == {"colour", "shape", "position", "psnr_median_db"}
    assert all(0 <= report["vqgan"][k] <= 1 for k in ("colour", "shape", "position"))
    assert report["vqgan"]["psnr_median_db"] < 20  # random weights reconstruct nothing
    for phrasing in ("training phrasing", "held-out phrasing"):
        figures = report["clip"][phrasing]
        assert all(0 <= figures[k] <= 1 for k in ("nearest_colour", "nearest_shape", "nearest_is_own"))
        assert -1 <= figures["cosine_own"] <= 1
    twins = report["clip"]["layout twins"]
    changes = twins.pop("text_picks_own by change")
    assert set(twins) == {"one object", "two objects"} and sum(t["scenes"] for t in twins.values()) == 6
    assert all(0 <= t[k] <= 1 for t in twins.values() if t["scenes"] for k in ("text_picks_own", "image_picks_own"))
    assert changes and set(changes) <= {"moved", "moved and resized", "swapped", "recoloured", "relation"}


def test_check_needs_a_part(capsys):
    assert main(["check"]) == 2
    assert "--clip CKPT, --vqgan CKPT or both" in capsys.readouterr().err
