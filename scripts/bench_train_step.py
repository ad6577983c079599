"""Times one optimizer step of the transformer stage in float32 and under `--bf16` (bfloat16 autocast), interleaved
in one run so that both see the same machine, and prints the medians and their ratio.

    .venv/bin/python scripts/bench_train_step.py [--preset deep-f4] [--threads 2] [--batch 32] [--repeats 7]

The step is the gpt stage's: ClipGenGPT of the preset (as clipgen-train builds it) on a batch of random tokens and
unit conditions, token cross-entropy, backward, gradient clipping, AdamW. Data loading is left out (the stage reads
cached pairs). The first step of each precision is a warm-up and is not counted.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "converter"))
from clipgen_train import clip_model, train_gpt, train_vqgan  # noqa: E402


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="deep-f4", choices=sorted(train_gpt.PRESETS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vq = train_vqgan.PRESETS[args.preset]
    side = vq["ddconfig"]["resolution"] // 2 ** (len(vq["ddconfig"]["ch_mult"]) - 1)  # tokens per grid side
    vocab, cond_dim = vq["n_embed"], clip_model.PRESETS[args.preset]["embed_dim"]
    model = train_gpt.build(train_gpt.PRESETS[args.preset], vocab, [side, side], cond_dim, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, vocab, (args.batch, side * side), generator=gen)  # [N, L]
    cond = F.normalize(torch.randn(args.batch, cond_dim, generator=gen), dim=-1)  # [N, E]

    def step(bf16: bool) -> float:
        began = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(tokens[:, :-1], cond)  # [N, L, vocab]
            loss = F.cross_entropy(logits.flatten(0, 1), tokens.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return time.perf_counter() - began

    times: dict[bool, list[float]] = {False: [], True: []}
    for bf16 in (False, True):
        step(bf16)  # warm-up
    for _ in range(args.repeats):
        for bf16 in (False, True):
            times[bf16].append(step(bf16))
    blocks = sum(p.numel() for p in model.blocks.parameters())
    print(f"machine: {cpu_name()}, {args.threads} thread(s), torch {torch.__version__}")
    print(f"gpt step, preset {args.preset}: {len(model.blocks)} layers, {blocks / 1e6:.2f} M block parameters, "
          f"batch {args.batch} x {side * side} tokens, medians of {args.repeats}")
    f32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    for name, t in (("float32", times[False]), ("bf16", times[True])):
        print(f"{name:8} {statistics.median(t) * 1e3:.2f} ms/step (min {min(t) * 1e3:.2f}, max {max(t) * 1e3:.2f})")
    print(f"bf16 speed-up: {f32 / bf16:.2f}x")


if __name__ == "__main__":
    main()
