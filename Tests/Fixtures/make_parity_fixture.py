"""Parity fixture for the Swift models: tiny random checkpoints in the native layouts (clipgen-convert synth),
converted to F32 and Q8_0 model files, and the float PyTorch reference's outputs on fixed inputs (the converter's
clip_ref / gpt_ref / vqgan_ref, which its own tests check against open_clip, taming and nn.TransformerEncoderLayer).

    python make_parity_fixture.py OUT_DIR      (writes OUT_DIR/{f32,q8_0}.gguf and OUT_DIR/reference.json)

Run by Tests/ClipgenModelsTests/ParityTests.swift and Tests/ClipgenPipelineTests through $CLIPGEN_PYTHON; nothing it makes is committed.
"""

import json
import os
import subprocess
import sys

import torch

from clipgen_convert import clip, clip_ref, gpt, gpt_ref, vqgan, vqgan_ref

PROMPTS = ["a red circle", "a large blue square on the left",
           "two shapes: a green triangle above a yellow circle on a black background", "   Émoji 🟢 &amp; digits 42!  "]


def main(out: str) -> None:
    synth = os.path.join(out, "synth")
    cli = [sys.executable, "-m", "clipgen_convert"]
    subprocess.run(cli + ["synth", "--preset", "tiny", "--out", synth, "--seed", "7"], check=True,
                   stdout=subprocess.DEVNULL)
    sources = ["--clip", f"{synth}/clip.pt", "--vqgan", f"{synth}/vqgan.ckpt", "--transformer", f"{synth}/gpt.pt"]
    for quant in ("f32", "q8_0"):
        subprocess.run(cli + ["convert", *sources, "--out", f"{out}/{quant}.gguf", "--quant", quant], check=True,
                       stdout=subprocess.DEVNULL)

    text = clip.load(f"{synth}/clip.pt")
    tokenizer = clip_ref.Tokenizer(text)
    ids = torch.tensor([tokenizer(p) for p in PROMPTS])  # [P, 77]
    embeddings = clip_ref.text_embedding(text, ids)  # [P, E]
    size = text.meta["vision.image_size"]
    images = clip_ref.verify_images(size)[:2]  # [2, 3, S, S] in [0, 1]
    image_embeddings = clip_ref.image_embedding(text, images)  # [2, E]

    transformer = gpt_ref.GPTReference(gpt.load(f"{synth}/gpt.pt"))
    tokens, first_logits = [], None
    logits, cache = transformer.start(embeddings[0])
    first_logits = logits
    grid = transformer.meta["grid"]
    for _ in range(grid[0] * grid[1]):  # greedy: top-k 1
        token = int(torch.argmax(logits))
        tokens.append(token)
        if len(tokens) < grid[0] * grid[1]:
            logits = transformer.step(token, cache)

    decoder = vqgan_ref.VQGANDecoder(vqgan.load(f"{synth}/vqgan.ckpt"))
    codes = vqgan_ref.random_codes(decoder.meta, seed=3)  # [h, w]
    image = decoder.decode(codes)  # [3, H, W] in [-1, 1]

    reference = {
        "made_by": "Tests/Fixtures/make_parity_fixture.py",
        "prompts": PROMPTS,
        "ids": ids.tolist(),
        "text_embeddings": embeddings.tolist(),
        "greedy_tokens": tokens,
        "first_logits": first_logits.tolist(),
        "images_hwc": [im.permute(1, 2, 0).flatten().tolist() for im in images],
        "image_embeddings": image_embeddings.tolist(),
        "vqgan_codes": codes.flatten().tolist(),
        "vqgan_image_hwc": image.permute(1, 2, 0).flatten().tolist(),
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    main(sys.argv[1])
