"""Content-addressed stage cache.

A stage's key hashes everything that can change its outputs: its steps, declared env and
network, its inputs' contents (not mtimes; outputs of other stages enter this way too), and the
identity of what runs it (host toolchain path and version, or builder image). An entry is a
directory ``stages/KEY/`` with ``outputs.tar`` and ``meta.json`` (the tar's sha256), published by
an atomic rename and verified on every read: a truncated or corrupted entry is discarded and the
stage rebuilt, never used.

Builds sharing one cache take a per-key file lock (``stages/.locks/KEY.lock``) around "restore,
or run and store", so two builds never compile the same stage at once: the second waits and then
restores the first one's entry. ``prune`` skips entries whose lock is held.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from wasmbuild import tarsafe
from wasmbuild.cache.digests import file_sha256
from wasmbuild.dirs import cache_dir
from wasmbuild.failpoints import pause
from wasmbuild.fsutil import fsync_tree, remove, staged_dir, sweep

if TYPE_CHECKING:
    from filelock import FileLock


class _HashingReader:
    """A read-only file that hashes what is read; :meth:`hexdigest` reads the rest first."""

    def __init__(self, inner: IO[bytes]):
        self.inner = inner
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.sha.update(data)
        return data

    def hexdigest(self) -> str:
        while self.read(1 << 20):  # tarfile stops reading at the end-of-archive blocks
            pass
        return self.sha.hexdigest()


@dataclass(frozen=True)
class Entry:
    key: str
    path: Path
    size: int
    stage: str
    created: float
    last_used: float


class StageCache:
    def __init__(self, root: Path | None = None):
        self.root = (root or cache_dir()) / "stages"

    def _dir(self, key: str) -> Path:
        return self.root / key

    def _lock(self, key: str) -> FileLock:
        from filelock import FileLock  # imported here: a build without stages never locks an entry

        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        return FileLock(str(locks / f"{key}.lock"))

    @contextmanager
    def locked(self, key: str, waiting: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold ``key``'s lock (blocking; ``waiting`` is called first if another build has it)."""
        from filelock import Timeout

        lock = self._lock(key)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if waiting is not None:
                waiting()
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def restore(self, key: str, out: Path) -> bool:
        """Unpack the entry for ``key`` into ``out``; False on a miss or a corrupt entry."""
        entry = self._dir(key)
        if not (entry / "meta.json").is_file():
            return False
        staging = out.with_name(out.name + ".restore")
        try:
            meta = json.loads((entry / "meta.json").read_text())
            if meta.get("key") != key:
                raise ValueError("entry is for another key")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            # One read: unpack into staging while hashing, and use it only if the hash matches.
            with open(entry / "outputs.tar", "rb") as raw:
                reader = _HashingReader(raw)
                with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                    tarsafe.extractall(tar, staging, "tar")
                if reader.hexdigest() != meta.get("sha256"):
                    raise ValueError("digest mismatch")
        except (ValueError, OSError, tarfile.TarError, json.JSONDecodeError):
            shutil.rmtree(entry, ignore_errors=True)  # corrupt: drop it, the stage reruns
            shutil.rmtree(staging, ignore_errors=True)
            return False
        shutil.rmtree(out, ignore_errors=True)
        os.replace(staging, out)
        with suppress(OSError):  # pruned meanwhile: the outputs are already ours
            os.utime(entry / "meta.json")  # last use, for pruning
        return True

    def has(self, key: str) -> bool:
        return (self._dir(key) / "meta.json").is_file()

    def verified(self, key: str) -> tuple[Path, dict[str, Any]] | None:
        """(outputs.tar, meta) of a present, intact entry; None otherwise (nothing is removed)."""
        entry = self._dir(key)
        try:
            meta: dict[str, Any] = json.loads((entry / "meta.json").read_text())
            tar_path = entry / "outputs.tar"
            if meta.get("key") != key or file_sha256(tar_path) != meta.get("sha256"):
                return None
        except (OSError, ValueError):
            return None
        return tar_path, meta

    def store(self, key: str, stage: str, out: Path) -> None:
        """Publish ``out`` as the entry for ``key`` (atomic; a concurrent writer may win)."""

        def write(tar_path: Path) -> None:
            with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
                for child in sorted(out.iterdir()):
                    tar.add(child, arcname=child.name)

        self._publish(key, stage, write)

    def store_tar(self, key: str, stage: str, source: IO[bytes], sha256: str) -> bool:
        """Publish an ``outputs.tar`` read from ``source`` (an import); False if its content
        does not have ``sha256`` (nothing is stored then)."""

        def write(tar_path: Path) -> None:
            with open(tar_path, "wb") as fh:
                shutil.copyfileobj(source, fh, 1 << 20)
            if file_sha256(tar_path) != sha256:
                raise ValueError(f"outputs of {key} do not match their digest")

        try:
            self._publish(key, stage, write)
        except ValueError:
            return False
        return True

    def _publish(self, key: str, stage: str, write: Callable[[Path], None]) -> None:
        final = self._dir(key)
        if (final / "meta.json").is_file():
            return
        if final.exists():  # a broken leftover (no meta.json): replace it
            remove(final)
        with staged_dir(final) as tmp:
            tar_path = tmp / "outputs.tar"
            write(tar_path)
            meta = {"key": key, "stage": stage, "sha256": file_sha256(tar_path),
                    "size": tar_path.stat().st_size, "created": time.time()}
            (tmp / "meta.json").write_text(json.dumps(meta))
            fsync_tree(tmp)
            pause("stage-store")

    def entries(self) -> list[Entry]:
        out: list[Entry] = []
        if not self.root.is_dir():
            return out
        for d in self.root.iterdir():
            if d.name.startswith("."):
                continue
            try:
                meta = json.loads((d / "meta.json").read_text())
                used = (d / "meta.json").stat().st_mtime
            except (OSError, json.JSONDecodeError):
                continue
            out.append(Entry(d.name, d, int(meta.get("size", 0)), str(meta.get("stage", "?")),
                             float(meta.get("created", 0)), used))
        return sorted(out, key=lambda e: e.last_used)

    def remove(self, entry: Entry) -> bool:
        """Delete ``entry`` unless a build holds its lock right now; True if it was removed."""
        from filelock import Timeout

        lock = self._lock(entry.key)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False  # a build is restoring or writing it right now
        try:
            remove(entry.path)
        finally:
            lock.release()
        return True

    def sweep(self) -> int:
        """Remove temp dirs of writers that died (kill -9); called by every build."""
        return sweep(self.root)
