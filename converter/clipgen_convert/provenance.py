"""Where a model file came from: each source checkpoint's name and sha256, and the converter version.

The sha256 lets `verify` tell whether the checkpoints it is given are the ones the file was converted from, and lets
a user trace a deployed file back to its training run.
"""

from __future__ import annotations

import hashlib
import os

from gguf import GGUFValueType

from clipgen_convert import __version__
from clipgen_convert.component import ConversionError

#: Metadata key of the converter version that wrote the file.
CONVERTER_VERSION_KEY = "clipgen.converter.version"

_HASH_CHUNK = 1 << 20  # bytes read per step: large enough to be fast, small enough to stream a multi-GB checkpoint


def source_file_key(kind: str) -> str:
    """Metadata key of the basename of the checkpoint component `kind` came from."""
    return f"clipgen.source.{kind}.file"


def source_sha256_key(kind: str) -> str:
    """Metadata key of the sha256 (hex) of the checkpoint component `kind` came from."""
    return f"clipgen.source.{kind}.sha256"


def sha256_file(path: str) -> str:
    """Hex sha256 of the file at `path`; a ConversionError naming it when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError as e:
        raise ConversionError(f"{path}: cannot read: {e.strerror or e}") from None
    return digest.hexdigest()


def provenance_kv(sources: dict[str, str]) -> dict[str, tuple]:
    """The provenance metadata for components kind -> checkpoint path, as raw GGUF keys -> (value, type)."""
    kv: dict[str, tuple] = {CONVERTER_VERSION_KEY: (__version__, GGUFValueType.STRING)}
    for kind, path in sources.items():
        kv[source_file_key(kind)] = (os.path.basename(path), GGUFValueType.STRING)
        kv[source_sha256_key(kind)] = (sha256_file(path), GGUFValueType.STRING)
    return kv
