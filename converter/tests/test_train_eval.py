"""The evaluation: the pixel oracle is right on scenes.py's own renders and says wrong on corrupted ones; the eval
command runs end to end through the Swift runtime on a random tiny model (skipped without the executable)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from clipgen_train import evaluate
from clipgen_train.cli import main
from clipgen_train.oracle import judge
from clipgen_train.scenes import COLOURS, SHAPES, render, sample_scene

REPO = Path(__file__).resolve().parents[2]
CLIPGEN = os.environ.get("CLIPGEN_BIN", str(REPO / ".build" / "release" / "clipgen"))


def pixels(scene, size: int = 64) -> np.ndarray:
    return (render(scene, size).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)  # [S, S, 3]


all_right = evaluate.all_right


@pytest.mark.parametrize("size", [64, 128])
def test_oracle_is_right_on_ground_truth_renders(size):
    scenes = [sample_scene(5, i) for i in range(150 if size == 64 else 40)]
    wrong = [s for s in scenes if not all_right(judge(pixels(s, size), s))]
    assert not wrong, wrong[:3]
    assert all(judge(pixels(s), s)["background"] == s.background for s in scenes[:40])


def single(i: int):
    return next(s for s in (sample_scene(9, j) for j in range(i, 1000)) if len(s.objects) == 1)


def test_oracle_says_wrong_colour_for_a_recoloured_object():
    scene = single(0)
    obj = scene.objects[0]
    other = next(c for c in COLOURS if c not in (obj.colour, scene.background))
    recoloured = dataclasses.replace(scene, objects=(dataclasses.replace(obj, colour=other),))
    verdict = judge(pixels(recoloured), scene)
    assert [o["colour"] for o in verdict["objects"]] == [False]
    assert [o["shape"] for o in verdict["objects"]] == [True]


@pytest.mark.parametrize("index", range(4))
def test_oracle_says_wrong_shape_for_an_image_of_another_shape(index):
    scene = single(index * 10)
    obj = scene.objects[0]
    for shape in SHAPES:
        if shape != obj.shape:
            drawn = dataclasses.replace(scene, objects=(dataclasses.replace(obj, shape=shape),))
            assert [o["shape"] for o in judge(pixels(drawn), scene)["objects"]] == [False], (obj.shape, shape)


def test_oracle_says_wrong_position_and_relation():
    scene = single(3)
    obj = scene.objects[0]
    moved = dataclasses.replace(obj, cx=1 - obj.cx if abs(obj.cx - 0.5) > 0.1 else 0.2, cy=0.85 - 0.7 * (obj.cy > 0.5))
    assert judge(pixels(dataclasses.replace(scene, objects=(moved,))), scene)["position"] is False
    pair = next(s for s in (sample_scene(9, j) for j in range(1000)) if len(s.objects) == 2
                and s.objects[0].colour != s.objects[1].colour)
    a, b = pair.objects
    swapped = (dataclasses.replace(a, cx=b.cx, cy=b.cy), dataclasses.replace(b, cx=a.cx, cy=a.cy))
    assert judge(pixels(pair), pair)["position"] is True
    assert judge(pixels(dataclasses.replace(pair, objects=swapped)), pair)["position"] is False


def test_oracle_finds_nothing_in_a_blank_image():
    scene = single(1)
    blank = np.zeros((64, 64, 3), np.uint8) + np.uint8(np.array(COLOURS[scene.background]) * 255)
    verdict = judge(blank, scene)
    assert verdict["objects"] == [{"colour": False, "shape": False}] and not verdict["count"]


def test_prompt_set_is_fixed_and_has_held_out_phrasings():
    prompts = evaluate.prompt_set(60)
    assert [p.text for p in prompts] == [p.text for p in evaluate.prompt_set(60)]
    assert len(prompts) * 2 >= 100  # the default --prompts 60 --seeds 2
    assert sum(p.held_out for p in prompts) == 20
    assert all(p.mismatch != p.text for p in prompts)


def test_missing_executable_is_a_one_line_error(tmp_path, capsys):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert main(["eval", "--model", str(model), "--out", str(tmp_path / "ev"), "--clipgen", str(tmp_path / "no")]) == 2
    assert "--clipgen" in capsys.readouterr().err


@pytest.mark.skipif(not os.access(CLIPGEN, os.X_OK), reason=f"no clipgen executable at {CLIPGEN}")
def test_eval_end_to_end_on_a_random_tiny_model(tmp_path, capsys):
    from clipgen_convert.cli import main as convert

    ckpt = tmp_path / "tiny"
    assert convert(["synth", "--preset", "tiny", "--out", str(ckpt)]) == 0
    parts = ["--clip", str(ckpt / "clip.pt"), "--vqgan", str(ckpt / "vqgan.ckpt"),
             "--transformer", str(ckpt / "gpt.pt")]
    for quant, encoder in (("q8_0", "keep"), ("f32", "drop")):  # the runtime ignores a kept VQGAN encoder
        assert convert(["convert", *parts, "--out", str(tmp_path / f"{quant}.gguf"), "--quant", quant,
                        "--vqgan-encoder", encoder, "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "ev"
    assert main(["eval", "--model", str(tmp_path / "q8_0.gguf"), "--float-model", str(tmp_path / "f32.gguf"),
                 "--clipgen", CLIPGEN, "--out", str(out), "--prompts", "3", "--seeds", "1", "--candidates", "2",
                 "--threads", "1", "--sheet", str(out / "sheet.png"), "--json", "--image-condition"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == {"swift int8", "swift int8, held-out phrasing", "pytorch float",
                            "pytorch float, held-out phrasing", "pytorch float, image condition",
                            "pytorch float, image condition, held-out phrasing"}
    for s in summary.values():
        assert all(0 <= s[k] <= 1 for k in ("colour", "shape", "count", "prompt_wins", "all_right"))
        assert s["all_right"] <= s["any_candidate_right"] <= 1
    records = json.loads((out / "results.json").read_text())["records"]
    for name, rows in records.items():  # every candidate judged; the kept image is the best-ranked one
        for r in rows:
            assert len(r["candidates_right"]) == 2, name
            assert r["candidates_right"][0] == evaluate.all_right(r), name
    assert sorted(p.name for p in out.glob("swift-int8-*.png")) == ["swift-int8-0000.png", "swift-int8-0001.png",
                                                                    "swift-int8-0002.png"]
    assert summary["swift int8"]["pairs"] == 3
    # The runtime's own clip_score and the reference image tower on the file's weights agree.
    assert summary["swift int8"]["clip_score_gap"] < 0.01
    assert (out / "sheet.png").is_file() and (out / "results.json").is_file()


def test_splitmix64_is_the_published_generator():
    g = evaluate.SplitMix64(0)
    assert [g.next() for _ in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    assert evaluate.SplitMix64.for_candidate(5, 0).state == 5
    assert evaluate.SplitMix64.for_candidate(5, 2).state == (5 + 2 * 0x9E3779B97F4A7C15) % 2**64


@pytest.mark.skipif(not os.access(CLIPGEN, os.X_OK), reason=f"no clipgen executable at {CLIPGEN}")
def test_float_sampler_draws_the_runtimes_tokens(tmp_path):
    """On an F32 file with an f32 KV cache the float reference and the runtime agree on logits to ~1e-6, so with
    the runtime's generator and sampler the float backend draws the very tokens `clipgen sample` draws, at every
    seed tried, with and without guidance: the evaluation's float and int8 rows are paired, not independent samples.
    (With the default binary16 cache the tiny random model's near-flat logits part ways after a few tokens.)"""
    import subprocess

    from clipgen_convert.cli import main as convert

    ckpt = tmp_path / "tiny"
    assert convert(["synth", "--preset", "tiny", "--out", str(ckpt), "--seed", "2"]) == 0
    model = tmp_path / "f32.gguf"
    assert convert(["convert", "--clip", str(ckpt / "clip.pt"), "--vqgan", str(ckpt / "vqgan.ckpt"),
                    "--transformer", str(ckpt / "gpt.pt"), "--out", str(model), "--quant", "f32", "--quiet"]) == 0
    prompt = "a red circle on a blue background"
    for guidance in (1.0, 2.5):  # and with classifier-free guidance: the same mix of the same two rows
        backend = evaluate.FloatBackend(str(model), candidates=1, sampler={**evaluate.SAMPLER, "guidance": guidance})
        cond = backend.condition(prompt)
        for seed in (0, 1, 12345):
            done = subprocess.run([CLIPGEN, "sample", prompt, "--model", str(model), "--seed", str(seed),
                                   "--kv-cache", "f32", "--guidance", str(guidance)],
                                  capture_output=True, text=True, check=True)
            assert backend.tokens(cond, seed, 0) == json.loads(done.stdout)["tokens"], (guidance, seed)


def test_float_sampler_keeps_the_top_p_prefix():
    import torch

    g = evaluate.SplitMix64(0)
    peaked = torch.full((600,), -30.0)
    peaked[[7, 9]] = torch.tensor([10.0, 9.0])  # token 7 holds ~73%, 7 and 9 together > 95%
    drawn = {evaluate.sample(peaked, g) for _ in range(200)}
    assert drawn == {7, 9}
    peaked[9] = -30.0  # token 7 alone reaches top_p
    assert {evaluate.sample(peaked, g) for _ in range(50)} == {7}
