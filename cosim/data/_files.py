"""Checksums and reading helpers shared by the loaders."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from cosim.errors import DatasetError


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def read_maybe_gzip(path: Path, how_to_get: str) -> bytes:
    """The uncompressed bytes of `path` (a .gz is decompressed); DatasetError if missing or unreadable."""
    if not path.is_file():
        raise DatasetError(f"{path}: file missing; {how_to_get}")
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read ({exc}); re-download it: {how_to_get}") from None


def find_file(directory: Path, stem: str) -> Path:
    """`stem` or `stem.gz` in directory (raw preferred); the .gz path when neither exists (for the error)."""
    raw = directory / stem
    return raw if raw.is_file() else directory / f"{stem}.gz"
