"""Content hashing for cache keys: file contents and executable bits, never mtimes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def tree_sha256(path: Path) -> str:
    """Digest of a file or directory tree: names, kinds, exec bits and contents."""
    h = hashlib.sha256()
    if path.is_symlink():
        h.update(b"L" + os.readlink(path).encode())
    elif path.is_file():
        h.update(
            b"F" + (b"x" if path.stat().st_mode & 0o111 else b"-") + file_sha256(path).encode()
        )
    elif path.is_dir():
        h.update(b"D")
        for child in sorted(path.iterdir(), key=lambda p: p.name):
            h.update(child.name.encode() + b"\0" + tree_sha256(child).encode())
    else:
        h.update(b"?")
    return h.hexdigest()
