"""The CLIP BPE vocabulary as GGUF tokenizer keys: open_clip's SimpleTokenizer tables, stored for the runtime.

The runtime tokenizes from these tables alone (docs/model-clip.md, "Tokenizer"); clip_ref.Tokenizer is the
reference that shows they suffice.
"""

from __future__ import annotations

import gzip
import importlib.util
import os

from gguf import GGUFValueType

from clipgen_convert.component import ConversionError

# The CLIP BPE tokenizer, exactly as open_clip's SimpleTokenizer (clean="lower") builds and applies it.
BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
BPE_MERGES = 49152 - 256 - 2  # merges used, after the version line (open_clip tokenizer.py)
SPECIAL_TOKENS = ("<start_of_text>", "<end_of_text>")
TOKEN_PATTERN = "|".join(SPECIAL_TOKENS) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def tokenizer(bpe_path: str | None = None) -> tuple[dict[str, tuple], dict[str, object]]:
    """The CLIP BPE tables as GGUF tokenizer keys (extra_kv) and the clipgen.clip.tokenizer.* meta.

    Token ids follow open_clip's SimpleTokenizer: the 256 byte characters (GPT-2's byte-to-unicode order), the
    same with "</w>", one token per merge in rank order, then the two special tokens.
    """
    if bpe_path is None:
        spec = importlib.util.find_spec("open_clip")  # locates the wheel without importing it (and torch)
        folder = spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else None
        bpe_path = os.path.join(folder, BPE_FILE) if folder else None
        if bpe_path is None or not os.path.isfile(bpe_path):
            raise ConversionError(f"the CLIP BPE vocabulary ({BPE_FILE}) was not found: install open_clip_torch or "
                                  "pass --clip-bpe PATH")
    try:
        with gzip.open(bpe_path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ConversionError(f"{bpe_path}: not a readable gzip'd CLIP BPE vocabulary: {e}")
    merges = [tuple(line.split()) for line in lines[1:BPE_MERGES + 1]]
    if len(merges) != BPE_MERGES or any(len(m) != 2 for m in merges):
        raise ConversionError(f"{bpe_path}: expected a version line and {BPE_MERGES} merges of two symbols each")
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges] + list(SPECIAL_TOKENS)
    bos, eos = len(tokens) - 2, len(tokens) - 1
    extra_kv = {
        "tokenizer.ggml.model": ("clip", GGUFValueType.STRING),
        "tokenizer.ggml.tokens": (tokens, GGUFValueType.ARRAY, GGUFValueType.STRING),
        "tokenizer.ggml.merges": ([" ".join(m) for m in merges], GGUFValueType.ARRAY, GGUFValueType.STRING),
        "tokenizer.ggml.bos_token_id": (bos, GGUFValueType.UINT32),
        "tokenizer.ggml.eos_token_id": (eos, GGUFValueType.UINT32),
        "tokenizer.ggml.padding_token_id": (0, GGUFValueType.UINT32),
    }
    meta = {"tokenizer.clean": "ftfy_html_whitespace_lower", "tokenizer.pattern": TOKEN_PATTERN,
            "tokenizer.pattern_ignore_case": True, "tokenizer.end_of_word_suffix": "</w>",
            "tokenizer.truncation": "keep_eos"}
    return extra_kv, meta


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table: printable Latin-1 bytes map to themselves, the other 68 bytes to
    U+0100 onwards in byte order, so BPE never sees whitespace or control characters."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + n) for n, b in enumerate(others)}}
