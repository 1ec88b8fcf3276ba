"""A command's result remembered against everything it looked at (``check``: the pre-commit hook
runs it on every commit, and most commits leave the Wasmfile alone).

As ruff's and mypy's caches do, a run records what its answer depends on and a later run replays
the answer while none of that changed. Recording is not a list kept by hand: while the command
runs, an audit hook (``sys.addaudithook``) sees every file opened and every directory listed, and
wrappers of ``os.stat``/``os.lstat`` every path looked up (a missing file counts: its appearing
changes the answer). Every entry of a listed directory counts too: a walk learns of its files
through ``os.scandir``, whose entries' stat neither calls ``os.stat`` nor raises an event. At the
end every module the process imported joins them (wasmbuild's own code, pydantic, the recipe
folders' code). Each path is kept with its stat signature (type, inode, device, size, mtime and
ctime in ns); the key is the interpreter, argv, the working directory, the whole environment and
whether stdout/stderr are terminals (and the terminal's size).

A run is not remembered when it wrote a file outside the cache (and the ``writable`` roots its
caller names: the image store for ``build``), started a process, opened a socket, or when one of
its paths changed in the last :data:`RACY_SECONDS` (file times are coarse: a file rewritten within
the same tick keeps its mtime, so a fresh one is not trusted, as git does for its index). Paths in
the cache itself are derived state, written only by atomic renames: for them what counts is that
the same file is still there (type, inode, size), not its times, which marking an entry used
changes; those marks (``os.utime`` of a cache file) are made again when the run is replayed, so
``cache prune`` still sees what is in use. Replaying costs one stat per path (~400 for ``check``:
about a millisecond) and none of the imports. Entries live in the cache area ``results``
(``cache ls``/``prune``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
import sys
import time
from collections.abc import Callable
from typing import Any

MEMO_VERSION = 2  # 2: stdout and stderr kept in their order
#: A path changed this recently (seconds) makes the run not remembered.
RACY_SECONDS = 2.0
_TAINT_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                 "os.forkpty", "socket.connect", "socket.bind", "os.kill", "ctypes.dlopen"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_SKIP = ("/proc/", "/dev/", "/sys/")
#: Events that change the file system, and where their ``dir_fd`` argument is.
_CHANGES = ("os.rename", "os.replace", "os.remove", "os.rmdir", "os.mkdir", "os.symlink", "os.link",
            "os.truncate", "os.chmod", "os.chown", "shutil.rmtree", "shutil.copyfile", "shutil.move")
_DIR_FD = {"os.remove": 1, "os.rmdir": 1, "os.mkdir": 2, "os.rename": 2, "os.replace": 2, "os.chmod": 2,
           "os.chown": 3, "os.symlink": 2, "os.link": 2, "os.utime": 3}
#: How a path was used: looked up or read; listed (its entries count); in the cache (derived).
SEEN, LISTED, DERIVED = "s", "l", "d"


def _one(st: os.stat_result, kind: str) -> list[int]:
    if kind == DERIVED or (stat.S_ISDIR(st.st_mode) and kind == SEEN):
        return [st.st_mode, st.st_ino, st.st_dev] + ([] if stat.S_ISDIR(st.st_mode) else [st.st_size])
    return [st.st_mode, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _sig(path: str, kind: str = SEEN) -> list[int] | None:
    """The stat signature of ``path`` (of its target too when it is a symlink); None: missing.
    A directory's times count only when it was listed (its entries are what changed then)."""
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return None
    out = _one(st, kind)
    if stat.S_ISLNK(st.st_mode):
        try:
            out += _one(os.stat(path), kind)
        except (OSError, ValueError):
            out.append(-1)
    return out


class _Tee(io.TextIOBase):
    """A text stream that writes through to ``real`` and keeps a copy in ``parts``, shared by
    stdout's and stderr's tees so that a replay keeps their order (a progress display on stderr
    that moves the cursor over a line printed on stdout)."""

    def __init__(self, real: Any, fd: int, parts: list[list[Any]]) -> None:
        self.real, self.fd, self.parts = real, fd, parts

    def write(self, text: str) -> int:
        if self.parts and self.parts[-1][0] == self.fd:
            self.parts[-1][1] += text
        else:
            self.parts.append([self.fd, text])
        return int(self.real.write(text))

    def flush(self) -> None:
        self.real.flush()

    def isatty(self) -> bool:
        return bool(self.real.isatty())

    def fileno(self) -> int:
        return int(self.real.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.real, "encoding", "utf-8"))

    @property
    def buffer(self) -> Any:
        """Bytes written past the copy: the run is not remembered."""
        if _current is not None:
            _current.tainted = "wrote to the binary stream"
        return self.real.buffer


class _Recorder:
    def __init__(self, cache_root: str, writable: tuple[str, ...]) -> None:
        self.paths: dict[str, str] = {}
        self.touched: set[str] = set()
        self.tainted: str | None = None
        self.cache_root = cache_root.rstrip("/") + "/"
        self.own = self.cache_root + "results/"  # this module's own entries are no witness
        self.writable = tuple(w.rstrip("/") + "/" for w in (cache_root, *writable))
        self.cwd = os.getcwd()

    def _full(self, path: Any) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        try:
            return os.path.normpath(os.path.join(self.cwd, os.fsdecode(path)))
        except (TypeError, ValueError):
            return None

    def _add(self, path: Any, listed: bool = False) -> None:
        full = self._full(path)
        if full is None or full.startswith(_SKIP) or (full + "/").startswith(self.own):
            return
        if (full + "/").startswith(self.cache_root):
            self.paths[full] = DERIVED
        elif listed:
            self.paths[full] = LISTED
        else:
            self.paths.setdefault(full, SEEN)

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = [*args, None, None, 0][:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
            if writes:
                self._wrote(path)
            else:
                self._add(path)
        elif event in ("os.listdir", "os.scandir"):
            self._add(args[0] if args and args[0] is not None else ".", listed=True)
        elif event in _CHANGES:
            at = _DIR_FD.get(event)
            if at is not None and len(args) > at and args[at] not in (None, -1):
                return  # relative to a directory already named (shutil.rmtree's walk)
            for path in args[:2] if event in ("os.rename", "os.replace", "os.link", "shutil.move") else args[:1]:
                self._wrote(path)
        elif event == "os.utime":
            if len(args) > _DIR_FD[event] and args[_DIR_FD[event]] not in (None, -1):
                return
            full = self._full(args[0] if args else None)
            if full is not None and (full + "/").startswith(self.cache_root) and args[1] is None:
                self.touched.add(full)  # marked as used: done again on a replay
            else:
                self._wrote(args[0] if args else None)
        elif event in _TAINT_EVENTS:
            self.tainted = event

    def _wrote(self, path: Any) -> None:
        full = self._full(path)
        if full is None:  # a write through a descriptor: where to, it does not say
            self.tainted = self.tainted or "wrote through a file descriptor"
        elif not (full + "/").startswith(self.writable):
            self.tainted = self.tainted or f"wrote {full}"


#: The run being recorded; one audit hook for the process (hooks cannot be removed).
_current: _Recorder | None = None
_hooked = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    rec = _current
    if rec is not None:
        rec.hook(event, args)


def _key(argv: list[str]) -> str:
    ttys = [f.isatty() for f in (sys.stdout, sys.stderr)]
    try:
        size = tuple(os.get_terminal_size(2)) if ttys[1] else ()
    except OSError:
        size = ()
    material = json.dumps([MEMO_VERSION, sys.executable, sys.version, argv, os.getcwd(),
                           sorted(os.environ.items()), ttys, size])
    return hashlib.sha256(material.encode()).hexdigest()


def replay_or_run(argv: list[str], run: Callable[[], int], writable: tuple[str, ...] = ()) -> int:
    """``run()``'s exit code, or the remembered result of an identical earlier run (its output
    written again) while nothing it looked at changed. ``writable``: roots besides the cache the
    run may write to and still be remembered. See the module's docstring."""
    from wasmbuild.dirs import cache_dir

    root = str(cache_dir().resolve())
    memo = os.path.join(root, "results", _key(argv)[:40] + ".json")  # the area cache_area("results") names
    try:
        with open(memo, encoding="utf-8") as fh:
            entry = json.load(fh)
        if all(_sig(path, kind) == sig for path, kind, sig in entry["paths"]):
            for path in entry["touched"]:
                if isinstance(path, str) and path.startswith(root.rstrip("/") + "/"):  # only the cache's
                    with contextlib.suppress(OSError):
                        os.utime(path)
            streams = {1: sys.stdout, 2: sys.stderr}
            for fd, text in entry["output"]:
                stream = streams[fd]
                stream.write(text)
                stream.flush()
            return int(entry["code"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return _record(memo, root, run, tuple(os.path.realpath(w) for w in writable))


def _record(memo: str, root: str, run: Callable[[], int], writable: tuple[str, ...]) -> int:
    global _current, _hooked
    if _current is not None:  # a nested run (a test calling main from a command): no memo
        return run()
    rec = _Recorder(root, writable)
    real_stat, real_lstat = os.stat, os.lstat

    def stat_(path: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("dir_fd") is None:
            rec._add(path)
        return real_stat(path, *args, **kwargs)

    def lstat_(path: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("dir_fd") is None:
            rec._add(path)
        return real_lstat(path, *args, **kwargs)

    parts: list[list[Any]] = []
    out, err = _Tee(sys.stdout, 1, parts), _Tee(sys.stderr, 2, parts)
    real_out, real_err = sys.stdout, sys.stderr
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    _current = rec
    os.stat, os.lstat = stat_, lstat_
    sys.stdout, sys.stderr = out, err
    started = time.time()
    try:
        code = run()
    finally:
        _current = None
        os.stat, os.lstat = real_stat, real_lstat
        sys.stdout, sys.stderr = real_out, real_err
    if rec.tainted is None:
        _save(memo, rec, out, err, code, started)
    return code


def _save(memo: str, rec: _Recorder, out: _Tee, err: _Tee, code: int, started: float) -> None:
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            rec._add(path)
    for folder, kind in list(rec.paths.items()):
        if kind != LISTED:
            continue
        # What a walk learnt of the entries (DirEntry.stat(): no os.stat, no audit event) is
        # covered by each entry's own signature: an edit in place leaves the folder's mtime.
        with contextlib.suppress(OSError):
            for name in os.listdir(folder):
                rec._add(os.path.join(folder, name))
    paths = sorted(rec.paths.items())
    sigs = [_sig(p, kind) for p, kind in paths]
    fresh = started - RACY_SECONDS
    if any(s is not None and kind != DERIVED and len(s) >= 6 and max(s[4], s[5]) / 1e9 >= fresh
           for (_, kind), s in zip(paths, sigs, strict=True)):
        return  # changed within a clock tick of this run: not to be trusted next time
    from pathlib import Path

    from wasmbuild.fsutil import atomic_write_bytes

    entry = {"paths": [[p, kind, s] for (p, kind), s in zip(paths, sigs, strict=True)], "code": code,
             "touched": sorted(rec.touched), "output": out.parts}
    try:
        os.makedirs(os.path.dirname(memo), exist_ok=True)
        atomic_write_bytes(Path(memo), json.dumps(entry).encode())
    except OSError:
        pass  # a cache that cannot be written is no reason to fail the command
