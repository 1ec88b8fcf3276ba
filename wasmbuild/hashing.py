"""Content hashing for cache keys: file contents and executable bits, never mtimes.

Hashing a large input (a 26 MB CPython tarball) on every no-op rebuild is most of its cost, so
digests of big files are remembered against their stat signature (size, mtime, ctime, inode,
device), the way git's index does. Any write changes the signature and the file is hashed again;
the key is still the content's digest, so touching a file without changing it changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

_CHUNK = 1 << 20
_MEMO_MIN_SIZE = 256 * 1024  # smaller files are cheaper to hash than to look up
_memo: dict[str, list[object]] | None = None
_memo_dirty = False
_memo_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _memo_path() -> Path:
    from .dirs import cache_dir

    return cache_dir() / "hashmemo.json"


def _load_memo() -> dict[str, list[object]]:
    global _memo
    if _memo is None:
        try:
            data = json.loads(_memo_path().read_text())
            _memo = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            _memo = {}
    return _memo


def file_sha256_remembered(path: Path) -> str:
    """``file_sha256``, reusing the digest of a big file whose stat signature is unchanged."""
    global _memo_dirty
    st = os.stat(path)
    if st.st_size < _MEMO_MIN_SIZE:
        return file_sha256(path)
    sig = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
    real = os.path.realpath(path)
    with _memo_lock:
        hit = _load_memo().get(real)
    if hit and hit[:-1] == sig:
        return str(hit[-1])
    digest = file_sha256(path)
    with _memo_lock:
        _load_memo()[real] = [*sig, digest]
        _memo_dirty = True
    return digest


def save_memo() -> None:
    """Persist remembered digests (atomic; concurrent builds: the last writer wins, harmlessly)."""
    global _memo_dirty
    with _memo_lock:
        if not _memo_dirty or _memo is None:
            return
        live = {k: v for k, v in _memo.items() if os.path.exists(k)}
        from .atomic import atomic_write_bytes

        atomic_write_bytes(_memo_path(), json.dumps(live).encode())
        _memo_dirty = False


def tree_sha256(path: Path, *, remember: bool = False) -> str:
    """Digest of a file or directory tree: names, kinds, exec bits and contents."""
    h = hashlib.sha256()
    if path.is_symlink():
        h.update(b"L" + os.readlink(path).encode())
    elif path.is_file():
        digest = file_sha256_remembered(path) if remember else file_sha256(path)
        h.update(b"F" + (b"x" if path.stat().st_mode & 0o111 else b"-") + digest.encode())
    elif path.is_dir():
        h.update(b"D")
        for child in sorted(path.iterdir(), key=lambda p: p.name):
            h.update(child.name.encode() + b"\0" + tree_sha256(child, remember=remember).encode())
    else:
        h.update(b"?")
    return h.hexdigest()
