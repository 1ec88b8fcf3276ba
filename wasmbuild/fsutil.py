"""Writes that a killed process cannot corrupt: the one helper every cache and the store use.

Every temporary file or directory is named ``.tmp-PID-SEQ-LABEL`` next to its final place and
renamed over it when complete (``rename`` is atomic on one filesystem): a reader sees the old
content or the new, never half of one. A process killed mid-write leaves only a ``.tmp-*`` entry,
which :func:`sweep` removes once its writer is dead, so nothing half-written lingers.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .failpoints import pause

TEMP_PREFIX = ".tmp-"
#: A temp entry older than this is stale even if its pid is alive again (pids get recycled).
STALE_SECONDS = 86400
_seq = itertools.count()


def temp_path(directory: Path, label: str = "") -> Path:
    """A fresh temp name in ``directory`` that :func:`sweep` recognises (``.tmp-PID-SEQ-LABEL``)."""
    safe = "".join(c if c.isalnum() or c in "._" else "_" for c in label)[:40]
    return directory / f"{TEMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}{next(_seq)}-{safe}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (temp files of dead writers may be removed)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _writer_pid(name: str) -> int:
    head = name[len(TEMP_PREFIX):].split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def try_flock(path: Path, exclusive: bool = True) -> int | None:
    """An fd holding a non-blocking flock on ``path`` (a file or directory), or None if another
    process holds one (or ``path`` cannot be opened). The caller closes the fd."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def sweep(directory: Path) -> int:
    """Remove the temp entries of dead (or day-old) writers in ``directory``; returns bytes freed.
    An entry someone holds a flock on (a running build's work dir) is always kept."""
    freed = 0
    if not directory.is_dir():
        return 0
    now = time.time()
    for entry in directory.glob(TEMP_PREFIX + "*"):
        with contextlib.suppress(OSError):
            if pid_alive(_writer_pid(entry.name)) and now - entry.lstat().st_mtime < STALE_SECONDS:
                continue
            fd = try_flock(entry)
            if fd is None and entry.exists():
                continue  # in use
            try:
                freed += tree_size(entry)
                remove(entry)
            finally:
                if fd is not None:
                    os.close(fd)
    return freed


def remove(path: Path) -> None:
    """Remove a file, symlink or directory tree; a missing path is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def tree_size(path: Path, limit: int | None = None) -> int:
    """Bytes of the regular files at or under ``path`` (symlinks count as nothing, and are not
    followed). With ``limit``, counting stops once past it: a runaway stage output is not walked
    in full to learn that it is too big."""
    try:
        if path.is_symlink() or not path.is_dir():
            return path.lstat().st_size if path.is_file() and not path.is_symlink() else 0
    except OSError:
        return 0
    total = 0
    stack = [path]
    while stack and (limit is None or total <= limit):
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o644) -> Iterator[IO[bytes]]:
    """Write to a temp file in ``path``'s directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path.parent, path.name)
    try:
        with open(tmp, "xb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        pause(f"write:{path.name}")  # crash tests only (see failpoints)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    with atomic_writer(path, mode) as fh:
        fh.write(data)


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """A temp directory next to ``final``, renamed to ``final`` when the block succeeds.

    If ``final`` appeared meanwhile (a concurrent writer of the same content won), the new copy
    is dropped: entries are content-addressed, so either is right. On failure nothing is left.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final.parent, final.name)
    tmp.mkdir()
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        remove(tmp)


def fsync_tree(path: Path) -> None:
    """fsync every regular file under ``path`` (before publishing it by rename)."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                with open(full, "rb") as fh:
                    os.fsync(fh.fileno())


def file_sha256(path: Path) -> str:
    """The hex sha256 of the file at ``path`` (read in 1 MiB chunks)."""
    return file_digest(path, "sha256")


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of the file at ``path`` in ``algorithm`` (a hashlib name; 1 MiB chunks)."""
    import hashlib

    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
