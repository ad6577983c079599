"""The `clipgen-convert` command line: convert, verify, synth, inspect.

User errors (bad arguments, unreadable or mismatched checkpoints, failed verification inputs) print one line,
`clipgen-convert: error: ...`, and exit 2; a verification that runs but misses a pass mark exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from clipgen_convert import __version__
from clipgen_convert.checks import check_compatible
from clipgen_convert.component import ConversionError
from clipgen_convert.loading import COMPONENT_KINDS, import_part, load_component
from clipgen_convert.provenance import provenance_kv
from clipgen_convert.quant import QUANTS
from clipgen_convert.report import human_bytes, print_table
from clipgen_convert.writer import write_model

PROG = "clipgen-convert"
PRESETS = ("tiny", "paper")


def _log(message: str) -> None:
    """Progress and notes go to stderr so stdout carries only the report (or JSON)."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _component_paths(args: argparse.Namespace) -> dict[str, str]:
    return {kind: getattr(args, kind) for kind in COMPONENT_KINDS if getattr(args, kind) is not None}


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _loader_options(args: argparse.Namespace, kind: str) -> dict[str, object]:
    """The loader keywords given on the command line for `kind` (None where not given)."""
    options = {o.kwarg: getattr(args, _dest(o.flag)) for o in COMPONENT_KINDS[kind].options}
    if kind == "clip":
        options["bpe_path"] = args.bpe
    return options


def cmd_convert(args: argparse.Namespace) -> int:
    paths = _component_paths(args)
    if not paths:
        raise ConversionError("convert needs at least one of --clip, --vqgan, --transformer")
    for kind, path in paths.items():
        if os.path.exists(path) and os.path.exists(args.out) and os.path.samefile(path, args.out):
            raise ConversionError(f"--out {args.out} is the {COMPONENT_KINDS[kind].flag} checkpoint: it would be "
                                  "replaced")
    components = {}
    for kind, path in paths.items():
        _log(f"reading {COMPONENT_KINDS[kind].title} checkpoint {path}")
        components[kind] = load_component(kind, path, _loader_options(args, kind))
    check_compatible(components)
    for kind, spec in COMPONENT_KINDS.items():
        if kind not in components:
            _log(f"note: no {spec.flag} given: the file will have no {spec.title}, so the runtime cannot "
                 "generate images with it")
    _log(f"quantising ({args.quant}) and writing {args.out}")
    reports = write_model(list(components.values()), args.out, args.quant, provenance_kv(paths))
    if not args.quiet:
        print_table(reports, sys.stdout)
    _log(f"wrote {args.out} ({human_bytes(os.path.getsize(args.out))})")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from clipgen_convert.verify import assign_checkpoints, format_checks, verify_component
    from clipgen_convert.writer import open_model

    reader = open_model(args.model)
    assigned = assign_checkpoints(args.model, reader, _component_paths(args), args.from_paths or [])
    checks = []
    for kind, path in assigned.items():
        _log(f"verifying {COMPONENT_KINDS[kind].title}: {path} against {args.model}")
        checks.extend(verify_component(args.model, reader, kind, path, _loader_options(args, kind)))
    if args.json:
        print(json.dumps([c.as_dict() for c in checks], indent=2))
    else:
        for line in format_checks(checks):
            print(line)
    return 1 if any(c.passed is False for c in checks) else 0


def cmd_synth(args: argparse.Namespace) -> int:
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise ConversionError(f"--out {args.out}: cannot create the directory: {e.strerror or e}") from None
    def writer(kind: str):
        return import_part(COMPONENT_KINDS[kind].synth, "synth").write

    clip_path = writer("clip")(args.out, args.preset, args.seed)
    vqgan_path = writer("vqgan")(args.out, args.preset, args.seed)
    # The transformer must fit the other two: read their widths back through the loaders, the way convert will.
    clip = load_component("clip", clip_path, {"bpe_path": args.bpe})
    vqgan = load_component("vqgan", vqgan_path)
    gpt_path = writer("gpt")(
        args.out, args.preset, args.seed, cond_dim=clip.meta["embed_dim"], vocab_size=vqgan.meta["n_embed"],
        grid=list(vqgan.meta["grid"]))
    for path in (clip_path, vqgan_path, gpt_path):
        print(path)
    _log(f"convert them with: {PROG} convert --clip {clip_path} --vqgan {vqgan_path} --transformer {gpt_path} "
         f"--out {os.path.join(args.out, 'model.gguf')}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from clipgen_convert.inspection import format_summary, summarize

    summary = summarize(args.model)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for line in format_summary(summary):
            print(line)
    return 0


_BPE_HELP = ("CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz); default: the one in the installed open_clip_torch "
             "package")


def _add_component_flags(p: argparse.ArgumentParser, note: str) -> None:
    """The checkpoint flags, each followed by the loader options of its component, and the BPE path."""
    for kind, spec in COMPONENT_KINDS.items():
        p.add_argument(spec.flag, dest=kind, metavar="CKPT", help=f"{spec.title} checkpoint{note}")
        for o in spec.options:
            p.add_argument(o.flag, dest=_dest(o.flag), type=o.parse, choices=o.choices, help=o.help,
                           metavar=None if o.choices else o.kwarg.upper())
    p.add_argument("--clip-bpe", "--bpe", dest="bpe", metavar="PATH", help=_BPE_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Convert CLIP-GEN checkpoints into one clipgen model "
                                     "file (GGUF) and check the result.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("convert", help="checkpoints -> one model file",
                       description="Reads the checkpoints (layouts detected from their key names), checks that they "
                       "fit together, and writes one GGUF file atomically, printing each tensor's quantisation error. "
                       "A model for the runtime needs all three components; any subset is accepted (with a note) "
                       "for converting or testing one part alone.")
    _add_component_flags(p, "")
    p.add_argument("--out", required=True, metavar="FILE", help="model file to write (replaced atomically)")
    p.add_argument("--quant", choices=QUANTS, default=QUANTS[0],
                   help="storage of matrix weights (default %(default)s); biases, norms and embeddings stay F32")
    p.add_argument("--quiet", action="store_true", help="do not print the per-tensor table")
    p.set_defaults(run=cmd_convert)

    p = sub.add_parser("verify", help="compare a model file with the checkpoints it came from",
                       description="Runs the float (PyTorch) reference with the original and with the file's "
                       "dequantised weights on fixed inputs; prints per-stage agreement and exits 1 if a pass mark "
                       "is missed. Name each checkpoint, or list them after --from to match them by sha256.")
    p.add_argument("model", metavar="MODEL")
    _add_component_flags(p, " the file was converted from (loader options default to what the file recorded)")
    p.add_argument("--from", dest="from_paths", nargs="+", metavar="CKPT",
                   help="checkpoints in any order, matched to components by the sha256 recorded at conversion")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("synth", help="write random-weight checkpoints in the native layouts",
                       description="Writes DIR/clip.pt (OpenAI state dict), DIR/vqgan.ckpt (taming Lightning) and "
                       "DIR/gpt.pt (HFAiLab) with seeded random weights, for tests and benchmarks.")
    p.add_argument("--preset", choices=PRESETS, required=True,
                   help="tiny: seconds to convert; paper: ViT-B/32, GPT 24x1024, taming f16-16384")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--clip-bpe", "--bpe", dest="bpe", metavar="PATH", help=_BPE_HELP)
    p.set_defaults(run=cmd_synth)

    p = sub.add_parser("inspect", help="summarise a model file")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=cmd_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ConversionError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`inspect MODEL | head`): not worth a traceback. Point stdout at /dev/null so the
        # interpreter's final flush does not raise again (the recipe in Python's signal documentation).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
