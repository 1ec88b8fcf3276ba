"""Persistent stage caches (a stage's ``caches:``): directories kept between builds.

Each cache is one entry of the ``caches`` area, named by the stage, the cache and a hash of
the build context, the stage and what runs it (a new toolchain starts a new cache)::

    caches/app-target-3f2a.../       flock'ed by the build using it (prune skips it)
        data/                        what the stage sees at $WORK/PATH
        complete                     present while no writer is (or died) inside

Concurrency: one writer per cache. A second build that needs the same cache **waits** for the
first (it says so, like a stage lock); a private copy would cost a full copy of a target
directory, and the second build would then recompile what the first one is compiling anyway.

A killed build never leaves a cache half-written for the next: ``complete`` is removed before
the stage starts writing and put back (atomically) only when the steps ended by themselves (a
step failing with an exit code is fine: cargo and compilers keep their state consistent). A
build that finds no ``complete`` (its writer was killed, timed out, crashed) starts that cache
empty. Caches never enter the stage key: they may make a stage faster, never change its output.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..dirs import cache_area
from ..fsutil import atomic_write_bytes, remove

COMPLETE = "complete"


@dataclass(frozen=True)
class Mounted:
    """One cache, held: ``path`` under $WORK, ``data`` the host directory to mount there."""

    name: str
    path: str
    data: Path


def entry_name(stage: str, cache: str, scope: str) -> str:
    digest = hashlib.sha256(f"{scope}\0{stage}\0{cache}".encode()).hexdigest()[:20]
    return f"{stage}-{cache}-{digest}"


def _lock(entry: Path, waiting: Callable[[], None] | None) -> int:
    """An fd with an exclusive flock on the entry directory (the same inode as ``entry`` now)."""
    while True:
        entry.mkdir(parents=True, exist_ok=True)
        fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
                waiting = None
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.stat(entry).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # pruned while we waited: take the new one


@contextlib.contextmanager
def mounted(stage: str, caches: Sequence[tuple[str, str]], scope: str,
            waiting: Callable[[], None] | None = None,
            root: Path | None = None) -> Iterator[list[Mounted]]:
    """Hold the caches of ``stage`` (locked in name order, so two builds cannot deadlock)
    while the block runs. The block ending by an exception other than a step's exit code
    (:class:`~wasmbuild.errors.StepFailed`) leaves the caches marked incomplete."""
    from ..errors import StepFailed

    area = root or cache_area("caches")
    held: list[tuple[int, Path]] = []
    found: list[Mounted] = []
    try:
        for name, path in sorted(caches):
            entry = area / entry_name(stage, name, scope)
            fd = _lock(entry, waiting)
            held.append((fd, entry))
            data = entry / "data"
            if not (entry / COMPLETE).exists():
                remove(data)  # never used, or its last writer died inside: start empty
            (entry / COMPLETE).unlink(missing_ok=True)
            _fsync_dir(entry)
            data.mkdir(exist_ok=True)
            found.append(Mounted(name, path, data))
        ok = True
        try:
            yield found
        except StepFailed:
            raise
        except BaseException:
            ok = False
            raise
        finally:
            if ok:
                for _, entry in held:
                    atomic_write_bytes(entry / COMPLETE, b"")
                    os.utime(entry)  # last use, for prune's least-recently-used order
    finally:
        for fd, _ in held:
            os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def restamp(tree: Path, held: Sequence[Mounted]) -> int:
    """Give every file under ``tree`` (the stage's fresh ``$SRC``) whose content is what the
    previous run of the stage saw the modification time it had then; returns how many.

    Inputs are copied without timestamps (a new mtime each build), but the tools that keep
    state in a cache (cargo, make, ninja) decide what to rebuild by mtime: without this every
    file would look changed and every crate with a build script would rebuild. A changed file
    keeps its new mtime, so it is newer than anything built from it. Kept next to the caches
    (``inputs.json`` in the first one's entry, under the same lock).
    """
    if not held:
        return 0
    import json

    memo = held[0].data.parent / "inputs.json"
    try:
        before = json.loads(memo.read_text())
    except (OSError, ValueError):
        before = {}
    now: dict[str, list[object]] = {}
    kept = 0
    for path in sorted(tree.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = str(path.relative_to(tree))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        old = before.get(rel)
        if isinstance(old, list) and len(old) == 2 and old[0] == digest and isinstance(old[1], int):
            os.utime(path, ns=(old[1], old[1]), follow_symlinks=False)
            kept += 1
        now[rel] = [digest, path.stat().st_mtime_ns]
    atomic_write_bytes(memo, json.dumps(now, sort_keys=True).encode())
    return kept
