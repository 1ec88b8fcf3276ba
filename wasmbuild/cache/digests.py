"""Content digests for cache keys: file contents and executable bits, never mtimes.

Hashing a large input (a 26 MB CPython tarball) on every no-op rebuild is most of its cost, so a
:class:`DigestMemo` remembers the digests of big files against their stat signature (size, mtime,
ctime, inode, device), the way git's index does. Any write changes the signature and the file is
hashed again; the key is still the content's digest, so touching a file changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..fsutil import atomic_write_bytes, file_digest
from ..fsutil import file_sha256 as file_sha256  # re-exported: the cache hashes files with it

#: Smaller files are cheaper to hash than to look up.
MEMO_MIN_SIZE = 256 * 1024




class DigestMemo:
    """Remembered digests of big files, persisted in one JSON file (``path``).

    Thread-safe (stages hash their inputs in parallel). :meth:`save` writes atomically; two builds
    sharing the file race harmlessly: the last writer wins and a lost entry only costs a re-hash.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self._rows: dict[str, list[object]] | None = None
        self._dirty = False
        self._lock = threading.Lock()
        self.hashed = 0  # files actually read (tests and benchmarks look at it)

    def _load(self) -> dict[str, list[object]]:
        if self._rows is None:
            try:
                data = json.loads(self.path.read_text()) if self.path else {}
                self._rows = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._rows = {}
        return self._rows

    def _hash(self, path: Path, algorithm: str = "sha256") -> str:
        self.hashed += 1
        return file_digest(path, algorithm)

    def file_sha256(self, path: Path) -> str:
        """``file_sha256(path)``, reusing the digest of a big file whose signature is unchanged."""
        return self.file_digest(path)

    def file_digest(self, path: Path, algorithm: str = "sha256") -> str:
        """The hex digest of ``path`` in ``algorithm`` (sha512 for a download pinned by an npm
        integrity), reusing that of a big file whose signature is unchanged."""
        st = os.stat(path)
        if st.st_size < MEMO_MIN_SIZE:
            return self._hash(path, algorithm)
        sig = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        real = os.path.realpath(path) + ("" if algorithm == "sha256" else f"#{algorithm}")
        with self._lock:
            hit = self._load().get(real)
        if hit and hit[:-1] == sig:
            return str(hit[-1])
        digest = self._hash(path, algorithm)
        with self._lock:
            self._load()[real] = [*sig, digest]
            self._dirty = True
        return digest

    def tree_sha256(self, path: Path, lister: Callable[[Path], list[Path]] | None = None) -> str:
        """Digest of a file or directory tree: names, kinds, exec bits and contents. ``lister``
        gives the entries of a directory to include (default: all; see ``wasmbuild.ignore``)."""
        h = hashlib.sha256()
        if path.is_symlink():
            h.update(b"L" + os.readlink(path).encode())
        elif path.is_file():
            executable = b"x" if path.stat().st_mode & 0o111 else b"-"
            h.update(b"F" + executable + self.file_sha256(path).encode())
        elif path.is_dir():
            h.update(b"D")
            children = lister(path) if lister else sorted(path.iterdir(), key=lambda p: p.name)
            for child in children:
                h.update(child.name.encode() + b"\0" + self.tree_sha256(child, lister).encode())
        else:
            h.update(b"?")
        return h.hexdigest()

    def save(self) -> None:
        """Persist the remembered digests of files that still exist (only if anything changed)."""
        with self._lock:
            if not self._dirty or self._rows is None or self.path is None:
                return
            live = {k: v for k, v in self._rows.items() if os.path.exists(k)}
            atomic_write_bytes(self.path, json.dumps(live).encode())
            self._dirty = False


#: A memo that remembers nothing (plain hashing): for one-off digests outside a build.
def plain() -> DigestMemo:
    return DigestMemo(None)


def tree_sha256(path: Path, lister: Callable[[Path], list[Path]] | None = None) -> str:
    """Digest of a file or tree, without a memo."""
    return plain().tree_sha256(path, lister)
