"""Writes docs/images/samples.png, the README's row of samples: `clipgen generate PROMPT --candidates 8 --keep 1
--seed 1` on the bundled model for each prompt below, upscaled 2x (nearest) and placed side by side.

    .venv/bin/python scripts/make_samples.py [--clipgen .build/release/clipgen] [--model FILE] [--out PNG]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PROMPTS = [
    "a blue square on the left",
    "a green circle on a black background",
    "a large white circle on a blue background",
    "a red circle",
    "a small yellow triangle at the top right",
    "a white square at the bottom",
    "an orange diamond on the right",
    "two shapes: a purple circle above a green square",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clipgen", default=str(REPO / ".build" / "release" / "clipgen"))
    parser.add_argument("--model", default=str(REPO / "models" / "clipgen-default.gguf"))
    parser.add_argument("--out", default=str(REPO / "docs" / "images" / "samples.png"))
    args = parser.parse_args()
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, prompt in enumerate(PROMPTS):
            path = Path(tmp) / f"{i}.png"
            subprocess.run([args.clipgen, "generate", prompt, "--model", args.model, "--candidates", "8", "--keep",
                            "1", "--seed", "1", "--out", str(path)], check=True, capture_output=True)
            with Image.open(path) as im:
                tiles.append(im.convert("RGB").resize((im.width * 2, im.height * 2), Image.NEAREST))
    gap = 4
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for tile in tiles:
        sheet.paste(tile, (x, 0))
        x += tile.width + gap
    sheet.save(args.out)
    print(f"wrote {args.out}: {len(tiles)} samples")


if __name__ == "__main__":
    main()
