"""The `clipgen-train` command line: one subcommand per stage, and `all` for the whole recipe plus conversion.

Every command runs unchanged under `torchrun --nproc_per_node N` (loop.init_distributed reads torchrun's
environment). User errors print one line, `clipgen-train: error: ...`, and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from clipgen_train import __version__
from clipgen_train.data import TrainingDataError

PROG = "clipgen-train"
PRESETS = ("tiny", "small", "small-f4", "deep-f4")
#: Per-stage defaults of the options every stage has (the recipe's proposed values; docs/TRAINING.md).
DEFAULTS = {
    "clip": dict(steps=4000, batch=64, lr=5e-4),
    "vqgan": dict(steps=2000, batch=16, lr=2e-4),
    "gpt": dict(steps=2200, batch=32, lr=5e-4),
}


def _options(args: argparse.Namespace, stage: str, out: str):
    from clipgen_train.loop import RunOptions

    def pick(name: str):
        value = getattr(args, f"{stage}_{name}", None) if args.command == "all" else None
        value = value if value is not None else getattr(args, name)
        return value if value is not None else DEFAULTS[stage][name]

    opts = RunOptions(out=out, steps=pick("steps"), batch=pick("batch"), seed=args.seed, lr=pick("lr"),
                      warmup=min(args.warmup, max(1, pick("steps") // 10)), save_every=args.save_every,
                      stop_at=args.stop_at, progress=not args.no_progress, bf16=args.bf16)
    if opts.steps < 1 or opts.batch < 1:
        raise TrainingDataError("--steps and --batch must be at least 1")
    return opts


def run_clip(args, d, out: str) -> str:
    from clipgen_train import clip_model, loop, train_vqgan
    from clipgen_train.train_clip import CLIPStage

    size = train_vqgan.PRESETS[args.preset]["ddconfig"]["resolution"]  # the images the VQGAN will draw
    opts = _options(args, "clip", out)
    stage = CLIPStage(clip_model.PRESETS[args.preset], not args.gelu, args.seed, opts.batch, size, d,
                      init=args.init, hard_negatives=args.hard_negatives, text_only=getattr(args, "text_only", False))
    loop.run(stage, opts, d)
    return os.path.join(out, "clip.pt")


def run_vqgan(args, d, out: str) -> str:
    from clipgen_train import loop, train_vqgan

    opts = _options(args, "vqgan", out)
    stage = train_vqgan.VQGANStage(train_vqgan.PRESETS[args.preset], args.seed, opts.batch, args.images,
                                   args.restart_every, args.foreground_weight, getattr(args, "decoder_of", None),
                                   args.edge_weight)
    loop.run(stage, opts, d)
    return os.path.join(out, train_vqgan.CHECKPOINT)


def run_gpt(args, d, out: str, clip: str, vqgan: str) -> str:
    from clipgen_train import loop, train_gpt

    opts = _options(args, "gpt", out)
    stage = train_gpt.GPTStage(train_gpt.PRESETS[args.preset], clip, vqgan, args.seed, opts.batch, d,
                               clip_activation=args.clip_activation, images_dir=args.images,
                               cond_noise=args.cond_noise, consistency_weight=args.consistency_weight,
                               cache=args.cache, out=out, init=getattr(args, "gpt_init", None),
                               cond_drop=args.cond_drop)
    loop.run(stage, opts, d)
    return os.path.join(out, train_gpt.CHECKPOINT)


def cmd(args: argparse.Namespace) -> int:
    import torch

    from clipgen_train.loop import init_distributed

    if args.threads:
        torch.set_num_threads(args.threads)
    d = init_distributed()
    try:
        return _stages(args, d)
    finally:
        if d.world > 1:
            import torch.distributed as dist
            dist.destroy_process_group()


def _stages(args: argparse.Namespace, d) -> int:
    from clipgen_train.loop import barrier

    if args.command == "clip":
        run_clip(args, d, args.out)
    elif args.command == "vqgan":
        run_vqgan(args, d, args.out)
    elif args.command == "gpt":
        _require(args, "clip", "vqgan")
        run_gpt(args, d, args.out, args.clip, args.vqgan)
    else:
        clip = args.clip or run_clip(args, d, os.path.join(args.out, "clip"))
        vqgan = args.vqgan or run_vqgan(args, d, os.path.join(args.out, "vqgan"))
        gpt = run_gpt(args, d, os.path.join(args.out, "gpt"), clip, vqgan)
        if args.stop_at is not None:
            return 0  # a partial run: convert when the stages have finished
        status = convert(args, clip, vqgan, gpt) if d.main else 0
        barrier(d)
        return status
    return 0


def convert(args: argparse.Namespace, clip: str, vqgan: str, gpt: str) -> int:
    """Stage d: the converter, exactly as a user runs it (image tower included for reranking; a VQGAN this recipe
    trained keeps its encoder, so the model file alone is enough to go on training)."""
    from clipgen_convert.cli import main as convert_main

    argv = ["convert", "--clip", clip, "--vqgan", vqgan, "--transformer", gpt,
            "--out", os.path.join(args.out, "model.gguf"), "--quant", args.quant, "--quiet"]
    if args.vqgan is None:
        argv += ["--vqgan-encoder", "keep"]
    activation = args.clip_activation or ("gelu" if args.gelu and not args.clip else None)
    if activation:
        argv += ["--clip-activation", activation]
    return convert_main(argv)


def _require(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(args, name) is None:
            raise TrainingDataError(f"the {args.command} stage needs --{name} CKPT")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Train CLIP-GEN's parts language-free and convert them "
                                     "into one clipgen model file (docs/TRAINING.md).")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {"clip": "stage a: a small CLIP, contrastive on (procedural image, caption) pairs",
             "vqgan": "stage b: the VQGAN on images only",
             "gpt": "stage c: the transformer on (CLIP image embedding, VQGAN tokens); needs --clip and --vqgan",
             "all": "stages a-c, then the converter: OUT/{clip,vqgan,gpt}/ and OUT/model.gguf"}
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text + ". Rerunning the same command resumes from "
                           "OUT/train_state.pt; torchrun --nproc_per_node N runs it on N processes.")
        p.add_argument("--out", required=True, metavar="DIR", help="output folder (state, losses.jsonl, checkpoint)")
        p.add_argument("--preset", choices=PRESETS, default="small",
                       help="model sizes: tiny (tests), small (the bundled model; default), small-f4 (16 x 16 tokens), "
                       "deep-f4 (small-f4 with a 6-layer transformer)")
        p.add_argument("--seed", type=int, default=0, help="seed of the weights and the data (default %(default)s)")
        p.add_argument("--steps", type=int, help="optimizer steps (stage default: clip 4000, vqgan 2000, gpt 2200)")
        p.add_argument("--batch", type=int, help="samples per process per step (clip 64, vqgan 16, gpt 32)")
        p.add_argument("--lr", type=float, help="peak learning rate (clip 5e-4, vqgan 2e-4, gpt 5e-4)")
        p.add_argument("--warmup", type=int, default=100, help="warm-up steps, at most steps/10 (default 100)")
        p.add_argument("--save-every", type=int, default=200, help="checkpoint interval in steps (default 200)")
        p.add_argument("--stop-at", type=int, metavar="STEP", help="stop after STEP (resumable; the schedule still "
                       "runs to --steps), e.g. to split a long run across sessions")
        p.add_argument("--threads", type=int, help="torch intra-op threads per process")
        p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
        p.add_argument("--bf16", action="store_true", help="forward passes in bfloat16 autocast (float32 weights "
                       "and optimizer): faster where the CPU has bfloat16 instructions (AVX512-BF16, AMX) or on a GPU")
        p.add_argument("--images", metavar="DIR", help="a folder of real images for the image-only stages "
                       "(VQGAN, transformer) instead of procedural scenes")
        p.add_argument("--gelu", action="store_true", help="train the CLIP with exact GELU instead of QuickGELU")
        p.add_argument("--restart-every", type=int, default=50,
                       help="VQGAN: re-seed codes unused for this many steps (0: never; default 50)")
        p.add_argument("--foreground-weight", type=float, default=0.0, metavar="W",
                       help="VQGAN: weigh the reconstruction loss 1 + W where a pixel differs from its image's "
                       "border colour (0: plain loss; the bundled model used 10)")
        p.add_argument("--edge-weight", type=float, default=0.0, metavar="W",
                       help="VQGAN: add W x the L1 distance between the reconstruction's and the image's pixel "
                       "differences, which keeps outlines and corners sharp (0: off)")
        if name in ("clip", "all"):
            p.add_argument("--init", metavar="CKPT", help="clip: start from this CLIP (a checkpoint, or a model "
                           "file's CLIP, e.g. models/clipgen-default.gguf) instead of random weights")
            p.add_argument("--hard-negatives", type=float, default=0.0, metavar="F",
                           help="clip: fraction of each batch made of (scene, layout twin) pairs: the same objects "
                           "moved, resized or swapped, the layout named in both captions (0: off)")
        if name == "clip":
            p.add_argument("--text-only", action="store_true", help="clip: train only the text tower of --init "
                           "(its image embeddings, and a transformer trained on them, stay valid)")
        if name == "gpt":
            p.add_argument("--init", dest="gpt_init", metavar="CKPT", help="gpt: start from this transformer "
                           "checkpoint (a gpt.pt, or a model file's transformer, of the same sizes) instead of random "
                           "weights, under a new schedule")
        if name == "vqgan":
            p.add_argument("--decoder-of", metavar="CKPT", help="train only the decoder of this trained VQGAN "
                           "(encoder and codebook frozen: its tokens, and a transformer trained on them, stay valid)")
        p.add_argument("--clip", metavar="CKPT", help="a CLIP checkpoint (OpenAI / open_clip); for all: skip stage a")
        p.add_argument("--clip-activation", choices=("quick_gelu", "gelu"),
                       help="MLP activation of a --clip state dict that does not record it")
        p.add_argument("--vqgan", metavar="CKPT", help="a trained VQGAN (taming Lightning .ckpt); for all: skip stage b")
        p.add_argument("--cond-noise", type=float, default=0.0, metavar="SIGMA",
                       help="gpt: perturb the image embedding by Gaussian noise of norm ~SIGMA, re-normalised")
        p.add_argument("--cond-drop", type=float, default=0.0, metavar="P",
                       help="gpt: replace the condition by zeros with probability P, for classifier-free guidance "
                       "(clipgen generate --guidance; 0: off)")
        p.add_argument("--cache", type=int, default=0, metavar="N",
                       help="gpt: encode N images once and train on those pairs (0: encode every batch afresh)")
        p.add_argument("--consistency-weight", type=float, default=0.0, metavar="W",
                       help="gpt: weight of the embedding-consistency loss (0: off)")
        if name == "all":
            for stage in DEFAULTS:
                for opt, kind in (("steps", int), ("batch", int), ("lr", float)):
                    p.add_argument(f"--{stage}-{opt}", type=kind, help=f"{opt} of the {stage} stage")
            p.add_argument("--quant", choices=("q8_0", "f16", "f32"), default="q8_0", help="converter --quant")
        p.set_defaults(run=cmd)
    _add_eval(sub)
    text = "check trained parts on held-out scenes: CLIP caption->image agreement, VQGAN reconstructions judged by the oracle"
    p = sub.add_parser("check", help=text, description=text + " (docs/TRAINING.md).")
    p.add_argument("--clip", metavar="CKPT", help="a CLIP checkpoint (the clip stage's clip.pt)")
    p.add_argument("--clip-activation", choices=("quick_gelu", "gelu"),
                   help="MLP activation of a --clip state dict that does not record it")
    p.add_argument("--vqgan", metavar="CKPT", help="a VQGAN checkpoint (the vqgan stage's vqgan.ckpt)")
    p.add_argument("--scenes", type=int, default=200, help="held-out scenes to check (default %(default)s)")
    p.set_defaults(run=run_check)
    return parser


def run_check(args: argparse.Namespace) -> int:
    from clipgen_train import diagnose

    if not (args.clip or args.vqgan):
        raise TrainingDataError("check needs --clip CKPT, --vqgan CKPT or both")
    if args.scenes < 2:
        raise TrainingDataError("--scenes must be at least 2")
    return diagnose.main(args)


def _add_eval(sub) -> None:
    text = "evaluate a model file: oracle accuracies and CLIP cosines of images made by the Swift runtime"
    p = sub.add_parser("eval", help=text, description=text + " (and optionally the float PyTorch model).")
    p.add_argument("--model", required=True, metavar="FILE", help="the model file (as shipped, e.g. Q8_0)")
    p.add_argument("--float-model", metavar="FILE", help="a float conversion of the same checkpoints (convert "
                   "--quant f32): also evaluate it with the PyTorch reference forwards")
    p.add_argument("--image-condition", action="store_true", help="also run the float model conditioned on the "
                   "CLIP image embedding of each prompt's own scene (what the text/image gap costs)")
    p.add_argument("--clipgen", metavar="PATH", help="the clipgen executable (default: .build/release/clipgen "
                   "of this checkout)")
    p.add_argument("--out", required=True, metavar="DIR", help="images and results.json go here")
    p.add_argument("--prompts", type=int, default=60, help="prompts of the fixed set (default %(default)s)")
    p.add_argument("--seeds", type=int, default=2, help="sampler seeds per prompt (default %(default)s)")
    p.add_argument("--candidates", type=int, default=8, help="candidates per image, reranked (default %(default)s)")
    p.add_argument("--threads", type=int, help="threads of clipgen and torch")
    p.add_argument("--validation", action="store_true", help="use the validation prompt set (scenes of another "
                   "data set) instead of the reported one: choose settings on it, report on the fixed set")
    p.add_argument("--top-k", type=int, help="sampler top-k of both models (default: the runtime's, 500)")
    p.add_argument("--top-p", type=float, help="sampler top-p (default: the runtime's, 0.95)")
    p.add_argument("--temperature", type=float, help="sampler temperature (default: the runtime's, 1.0)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the runtime's, 1.0 = off)")
    p.add_argument("--sheet", metavar="PNG", help="also write a contact sheet of the runtime's images")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    p.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from clipgen_train import evaluate

    return evaluate.main(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command in ("clip", "vqgan") and (args.clip or args.vqgan):
        print(f"{PROG}: error: --clip / --vqgan are inputs of the gpt and all commands", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except TrainingDataError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (rerun the same command to resume from the last checkpoint)", file=sys.stderr)
        return 130
