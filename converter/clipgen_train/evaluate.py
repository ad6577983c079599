"""`clipgen-train eval`: how often a model file draws what its prompt says, judged by the pixel oracle.

A fixed prompt set (scenes of data set EVAL_SEED, captioned by captions.py; every HELD_OUT_EVERY-th prompt uses a
phrasing the CLIP never saw in training) times a few sampler seeds. Images come from the Swift runtime, by running
`clipgen generate` on the shipped file exactly as a user would (reranking on), and optionally from the float
PyTorch reference forwards (gpt_ref, vqgan_ref, clip_ref) on a float conversion of the same checkpoints, so the
int8 cost is visible. Reported per model: (a) colour / shape / position accuracy from oracle.py, (b) the CLIP
cosine of each image with its prompt and with a mismatched prompt (text embeddings from `clipgen embed`; image
embeddings from clip_ref.image_embedding on the model file's own dequantised CLIP weights, since the runtime
does not print image embeddings; the runtime's own clip_score is kept alongside as a check), (c) how often the
kept image passes every check, and how often any of its candidates does: the gap is what a perfect reranker would
gain, so the two say whether the sampler or the CLIP reranking is the one missing.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from dataclasses import dataclass

import numpy as np
import torch

from clipgen_train import oracle
from clipgen_train.captions import POSITION_PHRASES, caption
from clipgen_train.data import TrainingDataError
from clipgen_train.scenes import Scene, sample_scene, scene_rng

EVAL_SEED = 1_000_003  # data-set seed of the evaluation scenes (training uses small seeds)
#: Data-set seed of the validation prompts (`--validation`): settings such as the sampler's are chosen on these, so
#: that the reported figures come from prompts no choice was made on.
VALIDATION_SEED = 2_000_003
HELD_OUT_EVERY = 3  # every third prompt is phrased with captions.HELD_OUT
SAMPLER = dict(top_k=500, top_p=0.95, temperature=1.0, guidance=1.0)  # the runtime's defaults (Sampler.swift)


@dataclass(frozen=True)
class Prompt:
    """A prompt and the scene it describes; `position_named`: the text names the single object's position."""

    text: str
    scene: Scene
    held_out: bool
    position_named: bool
    mismatch: str  # a prompt of the set whose first object differs in colour and shape


def prompt_set(count: int, seed: int = EVAL_SEED) -> list[Prompt]:
    """`count` fixed prompts of data set `seed`, the same on every machine and run."""
    drafts = []
    for i in range(count):
        scene = sample_scene(seed, i)
        held_out = i % HELD_OUT_EVERY == 0
        text = caption(scene, scene_rng(seed, i, 1), held_out=held_out)
        named = len(scene.objects) == 2 or any(p in text for p in POSITION_PHRASES[scene.objects[0].position])
        drafts.append((text, scene, held_out, named))
    prompts = []
    for i, (text, scene, held_out, named) in enumerate(drafts):
        first = scene.objects[0]
        others = [d[0] for d in drafts[i + 1:] + drafts[:i]
                  if d[1].objects[0].colour != first.colour and d[1].objects[0].shape != first.shape]
        prompts.append(Prompt(text, scene, held_out, named, others[0] if others else drafts[i - 1][0]))
    return prompts


def run_json(argv: list[str]) -> dict:
    """Runs a clipgen command that prints JSON; a TrainingDataError with its stderr if it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as e:
        raise TrainingDataError(f"--clipgen {argv[0]}: cannot run it ({e.strerror})") from None
    if done.returncode:
        raise TrainingDataError(f"{' '.join(argv[:2])} failed (exit {done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


class RuntimeBackend:
    """Images from the Swift runtime: `clipgen generate` on the model file, text embeddings from `clipgen embed`."""

    name = "swift int8"

    def __init__(self, clipgen: str, model: str, candidates: int, threads: int | None, sampler: dict = SAMPLER):
        self.base = [clipgen]
        self.opts = ["--model", model] + (["--threads", str(threads)] if threads else [])
        self.candidates = candidates
        self.sampler_opts = ["--top-k", str(sampler["top_k"]), "--top-p", repr(sampler["top_p"]),
                             "--temperature", repr(sampler["temperature"]), "--guidance", repr(sampler["guidance"])]
        self._embeddings: dict[str, torch.Tensor] = {}

    def text_embedding(self, text: str) -> torch.Tensor:
        if text not in self._embeddings:
            out = run_json(self.base + ["embed", text] + self.opts)
            self._embeddings[text] = torch.tensor(out["embedding"], dtype=torch.float32)  # [E]
        return self._embeddings[text]

    def generate(self, text: str, seed: int, path: str) -> tuple[np.ndarray, float | None]:
        """The kept image [H, W, 3] uint8 (written to `path`) and the runtime's clip_score of it; every candidate,
        best first, in `last_candidates`."""
        from PIL import Image

        out = run_json(self.base + ["generate", text, *self.opts, "--seed", str(seed), "--candidates",
                                    str(self.candidates), *self.sampler_opts, "--keep", str(self.candidates),
                                    "--out", path, "--json"])
        self.last_candidates = []
        for file in out["files"]:  # ranked by clip_score, best first
            with Image.open(file) as im:
                self.last_candidates.append(np.asarray(im.convert("RGB")))
            if file != path:
                os.remove(file)
        Image.fromarray(self.last_candidates[0]).save(path)
        return self.last_candidates[0], out["kept"][0].get("clip_score")


class FloatBackend:
    """Images from the float PyTorch reference forwards on a float (f32) conversion of the same checkpoints, with
    the runtime's sampler (temperature, top-k, top-p), its random numbers (SplitMix64 per candidate, seeded as
    the runtime seeds them) and CLIP reranking."""

    name = "pytorch float"

    def __init__(self, model: str, candidates: int, sampler: dict = SAMPLER):
        from clipgen_convert import clip_ref, gpt_ref, vqgan_ref

        parts = read_components(model, ("clip", "gpt", "vqgan"))
        self.clip, self.gpt, self.vqgan = parts["clip"], parts["gpt"], parts["vqgan"]
        self.tokenizer = clip_ref.Tokenizer(self.clip)
        self.transformer, self.decoder = gpt_ref.GPTReference(self.gpt), vqgan_ref.VQGANDecoder(self.vqgan)
        self.candidates, self.sampler = candidates, sampler

    def text_embedding(self, text: str) -> torch.Tensor:
        from clipgen_convert import clip_ref

        return clip_ref.text_embedding(self.clip, torch.tensor([self.tokenizer(text)]))[0]  # [E]

    @torch.no_grad()
    def generate(self, text: str, seed: int, path: str) -> tuple[np.ndarray, float | None]:
        from PIL import Image

        from clipgen_convert import vqgan_ref

        cond = self.condition(text)  # [E]
        images = []
        for j in range(self.candidates):
            codes = torch.tensor(self.tokens(cond, seed, j)).reshape(*self.vqgan.meta["grid"])  # [h, w]
            pixels = vqgan_ref.to_pixels(self.decoder.decode(codes), self.vqgan.meta)  # [3, H, W] in [0, 255]
            images.append(pixels.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy())  # [H, W, 3]
        scores = [float(image_embedding(self.clip, im) @ cond) for im in images]
        best = int(np.argmax(scores))
        self.last_candidates = [images[j] for j in sorted(range(len(images)), key=lambda j: -scores[j])]
        Image.fromarray(images[best]).save(path)
        return images[best], scores[best]


    @torch.no_grad()
    def tokens(self, cond: torch.Tensor, seed: int, candidate: int) -> list[int]:
        """Candidate `candidate`'s token grid (raster order) under `seed`, drawn with the runtime's generator; with
        guidance g != 1, from u + g (c - u), u the logits conditioned on the zero vector (Generator.swift)."""
        g = SplitMix64.for_candidate(seed, candidate)
        scale = self.sampler["guidance"]
        logits, cache = self.transformer.start(cond)  # [vocab]
        if scale != 1:
            free_logits, free = self.transformer.start(torch.zeros_like(cond))  # [vocab]
        tokens = []
        for i in range(int(np.prod(self.gpt.meta["grid"]))):
            if i > 0:  # the last token is never fed back
                logits = self.transformer.step(tokens[-1], cache)  # [vocab]
                if scale != 1:
                    free_logits = self.transformer.step(tokens[-1], free)
            mixed = logits if scale == 1 else free_logits + scale * (logits - free_logits)
            tokens.append(sample(mixed, g, self.sampler))
        return tokens

    def condition(self, text: str) -> torch.Tensor:
        """What the transformer is conditioned on (and candidates are ranked by): the text embedding."""
        return self.text_embedding(text)


class ImageConditionBackend(FloatBackend):
    """The float model conditioned on the CLIP *image* embedding of the prompt's own scene (as in training)
    instead of the text embedding: the gap between its rates and FloatBackend's is the cost of CLIP's text/image
    gap; what it still misses, the transformer or the VQGAN miss."""

    name = "pytorch float, image condition"

    def __init__(self, model: str, candidates: int, prompts: list[Prompt], sampler: dict = SAMPLER):
        super().__init__(model, candidates, sampler)
        self.scenes = {p.text: p.scene for p in prompts}

    def condition(self, text: str) -> torch.Tensor:
        from clipgen_train.scenes import render

        size = self.vqgan.meta["resolution"]
        pixels = (render(self.scenes[text], size).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        return image_embedding(self.clip, pixels)  # [E]


class SplitMix64:
    """The runtime's random generator (Sampler.swift), bit for bit: the same seed gives the same stream."""

    MASK = (1 << 64) - 1
    GAMMA = 0x9E3779B97F4A7C15

    def __init__(self, seed: int):
        self.state = seed & self.MASK

    def next(self) -> int:
        self.state = (self.state + self.GAMMA) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def unit(self) -> float:
        """A uniform float in [0, 1) from the top 53 bits of one draw."""
        return (self.next() >> 11) * 2.0 ** -53

    @classmethod
    def for_candidate(cls, seed: int, candidate: int) -> "SplitMix64":
        """Candidate j's generator, as TokenSampler seeds it: SplitMix64(seed + j * 0x9E3779B97F4A7C15)."""
        return cls((seed + candidate * cls.GAMMA) & cls.MASK)


def _sequential_sum(values: list[float]) -> float:
    """Left-to-right double sum, as Swift's reduce(0, +); Python 3.12's sum() compensates and would differ."""
    total = 0.0
    for v in values:
        total += v
    return total


def sample(logits: torch.Tensor, rng: SplitMix64, settings: dict = SAMPLER) -> int:
    """One token from logits [vocab] exactly as Sampler.swift draws it (temperature, top-k with ties to the lower
    id, the shortest top-p prefix, one uniform draw), in the same double arithmetic and order: given the same
    logits and generator, the runtime and this function pick the same token, so the float and int8 rows of an
    evaluation differ only by their models' logits."""
    values = logits.float().numpy().astype(np.float64)  # [vocab] float32 logits as doubles, like Double(Float)
    vocab = len(values)
    k = min(settings["top_k"] or vocab, vocab)
    order = np.argsort(-values, kind="stable")  # most likely first; a stable sort puts the lower id first on ties
    if k == 1:
        return int(order[0])
    best = order[:k].tolist()
    top, t = float(values[best[0]]), settings["temperature"]
    weights = [math.exp((float(values[i]) - top) / t) for i in best]  # libm exp, as Swift's Foundation.exp
    total = _sequential_sum(weights)
    kept = len(weights)
    if settings["top_p"] < 1:
        cumulative = 0.0
        for i, w in enumerate(weights):
            cumulative += w / total
            if cumulative >= settings["top_p"]:
                kept = i + 1
                break
        weights = weights[:kept]
    u = rng.unit() * _sequential_sum(weights)
    for i, w in enumerate(weights):
        u -= w
        if u < 0:
            return best[i]
    return best[kept - 1]


#: The tokenizer entries clip_ref.Tokenizer reads; read_component leaves them out (the file does not record which
#: component a raw tokenizer.* key belongs to), so they are added back from the file here.
TOKENIZER_KEYS = ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
                  "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id")


def read_components(model: str, kinds: tuple[str, ...]) -> dict:
    """Components of a model file, dequantised to float32 (clipgen_convert.writer.read_component)."""
    from clipgen_convert.writer import field_value, open_model, read_component

    try:
        reader = open_model(model)
        parts = {kind: read_component(model, kind, reader) for kind in kinds}
    except Exception as e:  # noqa: BLE001 - any failure to read is the user's file
        raise TrainingDataError(f"{model}: cannot read its {', '.join(kinds)} components ({e})") from None
    if "clip" in parts:
        parts["clip"].extra_kv.update({key: (field_value(reader, key),) for key in TOKENIZER_KEYS})
    return parts


def image_embedding(clip, image: np.ndarray) -> torch.Tensor:
    """L2-normalised CLIP embedding [E] of an image [H, W, 3] uint8, preprocessed as the runtime does (Pillow
    bicubic resize of the shorter side, centre crop)."""
    from PIL import Image

    from clipgen_convert import clip_ref

    size = clip.meta["vision.image_size"]
    im = Image.fromarray(image)
    if im.size != (size, size):
        w, h = im.size
        w, h = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
        im = im.resize((w, h), Image.BICUBIC)
        left, top = round((w - size) / 2), round((h - size) / 2)
        im = im.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.asarray(im, np.float32) / 255.0).permute(2, 0, 1)[None]  # [1, 3, S, S]
    return clip_ref.image_embedding(clip, x)[0]  # [E]


def evaluate(backend, clip, prompts: list[Prompt], seeds: list[int], out: str) -> list[dict]:
    """One record per (prompt, seed): oracle verdicts and CLIP cosines; images written under `out`."""
    from tqdm import tqdm

    records = []
    tag = backend.name.replace(" ", "-")
    for i, p in enumerate(tqdm([(p, s) for p in prompts for s in seeds], desc=backend.name, leave=False)):
        prompt, seed = p
        path = os.path.join(out, f"{tag}-{i:04d}.png")
        image, score = backend.generate(prompt.text, seed, path)
        emb = image_embedding(clip, image)  # [E]
        verdict = oracle.judge(image, prompt.scene, prompt.position_named)
        others = [all_right(oracle.judge(c, prompt.scene, prompt.position_named)) for c in backend.last_candidates]
        records.append({"prompt": prompt.text, "seed": seed, "held_out": prompt.held_out, "image": path,
                        **verdict, "candidates_right": others, "cosine": float(emb @ backend.text_embedding(prompt.text)),
                        "cosine_mismatch": float(emb @ backend.text_embedding(prompt.mismatch)),
                        "model_clip_score": score, "scene": prompt.scene.as_dict()})
    return records


def all_right(verdict: dict) -> bool:
    """Whether an image passes every check of the oracle: each object's colour and shape, the position or relation
    where the prompt names one, and the count of objects."""
    return (all(o["colour"] and o["shape"] for o in verdict["objects"]) and verdict["position"] is not False
            and bool(verdict["count"]))


def summarise(records: list[dict]) -> dict:
    """Accuracies (fractions of objects, or of prompts naming a position), images right in every check (the kept
    one; any candidate) and mean cosines."""
    objects = [o for r in records for o in r["objects"]]
    positions = [r["position"] for r in records if r["position"] is not None]
    scored = [r for r in records if r["model_clip_score"] is not None]
    return {"pairs": len(records), "colour": float(np.mean([o["colour"] for o in objects])),
            "shape": float(np.mean([o["shape"] for o in objects])),
            "position": float(np.mean(positions)) if positions else None,
            "count": float(np.mean([r["count"] for r in records])),
            "all_right": float(np.mean([all_right(r) for r in records])),
            "any_candidate_right": float(np.mean([any(r["candidates_right"]) for r in records])),
            "cosine": float(np.mean([r["cosine"] for r in records])),
            "cosine_mismatch": float(np.mean([r["cosine_mismatch"] for r in records])),
            "prompt_wins": float(np.mean([r["cosine"] > r["cosine_mismatch"] for r in records])),
            "clip_score_gap": max((abs(r["cosine"] - r["model_clip_score"]) for r in scored), default=None)}


def table(summaries: dict[str, dict]) -> list[str]:
    """The text table: one row per (model, prompt subset)."""
    cols = ("pairs", "colour", "shape", "position", "count", "all_right", "any_candidate_right", "cosine",
            "cosine_mismatch", "prompt_wins")
    lines = [f"{'model / prompts':<34}" + "".join(f"{c:>20}" if c == "any_candidate_right" else f"{c:>16}"
                                                  for c in cols)]
    for name, s in summaries.items():
        cells = [f"{s[c]:>16d}" if c == "pairs" else f"{'-':>16}" if s[c] is None
                 else f"{100 * s[c]:>19.1f}%" if c == "any_candidate_right"
                 else f"{100 * s[c]:>15.1f}%" if c not in ("cosine", "cosine_mismatch") else f"{s[c]:>16.4f}"
                 for c in cols]
        lines.append(f"{name:<34}" + "".join(cells))
    return lines


def contact_sheet(records: list[dict], path: str, columns: int = 10, limit: int = 100) -> None:
    """Up to `limit` images in a grid, each framed green when the oracle passed every check, red otherwise."""
    from PIL import Image

    tiles = []
    for r in records[:limit]:
        with Image.open(r["image"]) as im:
            tile = np.asarray(im.convert("RGB"))  # [H, W, 3]
        ok = all(o["colour"] and o["shape"] for o in r["objects"]) and r["position"] is not False
        framed = np.empty((tile.shape[0] + 4, tile.shape[1] + 4, 3), np.uint8)  # [H + 4, W + 4, 3]
        framed[:] = (40, 200, 60) if ok else (220, 30, 30)
        framed[2:-2, 2:-2] = tile
        tiles.append(framed)
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * h, min(columns, len(tiles)) * w, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        sheet[(i // columns) * h:(i // columns + 1) * h, (i % columns) * w:(i % columns + 1) * w] = tile
    Image.fromarray(sheet).save(path)


def main(args) -> int:
    """`clipgen-train eval`: evaluate, print the table (or JSON), write OUT/results.json and optionally a sheet."""
    clipgen = args.clipgen or os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "clipgen")
    for path, flag in ((args.model, "--model"), (args.float_model, "--float-model")):
        if path is not None and not os.path.isfile(path):
            raise TrainingDataError(f"{flag} {path}: no such file")
    if not os.access(clipgen, os.X_OK):
        raise TrainingDataError(f"--clipgen {clipgen}: not an executable (build it: swift build -c release)")
    if args.prompts < 1 or args.seeds < 1 or args.candidates < 1:
        raise TrainingDataError("--prompts, --seeds and --candidates must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    prompts = prompt_set(args.prompts, VALIDATION_SEED if args.validation else EVAL_SEED)
    seeds = list(range(args.seeds))
    sampler = {key: default if getattr(args, key) is None else getattr(args, key) for key, default in SAMPLER.items()}
    clip = read_components(args.model, ("clip",))["clip"]
    backends = [RuntimeBackend(clipgen, args.model, args.candidates, args.threads, sampler)]
    if args.float_model:
        backends.append(FloatBackend(args.float_model, args.candidates, sampler))
        if args.image_condition:
            backends.append(ImageConditionBackend(args.float_model, args.candidates, prompts, sampler))
    elif args.image_condition:
        raise TrainingDataError("--image-condition needs --float-model")
    results, summaries = {}, {}
    for backend in backends:
        records = evaluate(backend, clip if isinstance(backend, RuntimeBackend) else backend.clip, prompts, seeds,
                           args.out)
        results[backend.name] = records
        summaries[backend.name] = summarise(records)
        summaries[f"{backend.name}, held-out phrasing"] = summarise([r for r in records if r["held_out"]])
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        settings = {"sampler": sampler, "candidates": args.candidates, "seeds": seeds,
                    "prompt_set": "validation" if args.validation else "evaluation", "prompts": len(prompts)}
        json.dump({"settings": settings, "summary": summaries, "records": results}, f, indent=1)
    if args.sheet:
        contact_sheet(results[backends[0].name], args.sheet)
    print(json.dumps(summaries, indent=1) if args.json else "\n".join(table(summaries)))
    return 0
