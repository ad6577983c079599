"""The bundled default model (models/clipgen-default.gguf) draws what a prompt says: `clipgen generate` run as the
README runs it (no --model, from a folder outside the checkout), judged by the scene oracle. Uses the built
executable (scripts/test builds it first); skipped without it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from clipgen_train.oracle import judge
from clipgen_train.scenes import POSITIONS, SIZES, Scene, SceneObject

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "clipgen-default.gguf"
CLIPGEN = os.environ.get("CLIPGEN_BIN", str(REPO / ".build" / "release" / "clipgen"))

# (prompt, background, [(colour, shape, size, position)], relation): the README's prompt and a few more.
CASES = [
    ("a red circle", None, [("red", "circle", "large", "centre")], None),
    ("a blue square on the left", None, [("blue", "square", "large", "left")], None),
    ("a small yellow triangle at the top right", None, [("yellow", "triangle", "small", "top right")], None),
    ("a green circle on a black background", "black", [("green", "circle", "large", "centre")], None),
    ("a white square at the bottom", None, [("white", "square", "large", "bottom")], None),
    ("an orange diamond on the right", None, [("orange", "diamond", "large", "right")], None),
]


def scene(background, objects, relation) -> Scene:
    made = tuple(SceneObject(shape, colour, size, position, *POSITIONS[position], SIZES[size])
                 for colour, shape, size, position in objects)
    return Scene(background or "black", made, relation)


def test_the_bundled_model_is_in_the_checkout_and_small():
    assert MODEL.is_file(), f"{MODEL} is missing: the default model ships with the checkout"
    assert MODEL.stat().st_size <= 30_000_000


@pytest.mark.skipif(not os.access(CLIPGEN, os.X_OK), reason=f"no clipgen executable at {CLIPGEN}")
def test_generate_without_model_draws_the_prompt(tmp_path):
    from PIL import Image

    env = {k: v for k, v in os.environ.items() if k != "CLIPGEN_MODEL"}
    colours = shapes = found = 0
    for i, (prompt, background, objects, relation) in enumerate(CASES):
        out = tmp_path / f"{i}.png"
        done = subprocess.run([CLIPGEN, "generate", prompt, "--seed", "1", "--candidates", "8", "--keep", "1",
                               "--threads", "2", "--out", str(out), "--json"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["files"] == [str(out)]
        with Image.open(out) as im:
            assert im.text["model"] == MODEL.name
            image = np.asarray(im.convert("RGB"))
        verdict = judge(image, scene(background, objects, relation), position_named=True)
        colours += verdict["objects"][0]["colour"]
        shapes += verdict["objects"][0]["shape"]
        found += len(verdict["regions"]) >= 1
    # The evaluation (docs/TRAINING.md) measures the rates over 120 prompts; here the colour must simply be right.
    # Shapes are not asserted: the bundled model draws blobs for most shapes (about a third right, README).
    print(f"bundled model: colour {colours}/{len(CASES)}, shape {shapes}/{len(CASES)}")
    assert found == len(CASES) and colours >= len(CASES) - 1, (found, colours, shapes)
