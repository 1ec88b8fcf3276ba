"""The bubblewrap sandbox every host step runs in.

A Wasmfile often comes from someone else's repository, and its steps are shell commands: on the
host they would run with everything the user may do. So each host step runs under ``bwrap``
(bubblewrap, the sandbox Flatpak uses) with, in this order (bwrap applies them in order, so a
later mount shows through an earlier tmpfs):

* the host root read-only (``--ro-bind / /``), new user, pid, ipc, uts and cgroup namespaces
  and no capabilities;
* a new network namespace holding only loopback, unless the stage declares ``network: true``;
* a minimal ``/dev`` (null, zero, random, urandom, tty, shm, pts) and a new ``/proc``;
* empty tmpfs over ``/tmp``, ``/run`` (the engine and D-Bus sockets live there; a socket stays
  connectable through a read-only mount), ``/root``, ``/home`` and the user's ``$HOME``: keys,
  registry credentials and shell history are not visible;
* read-only again: the toolchain's directories that those tmpfs hid (a rustup toolchain under
  ``~/.rustup``, a venv under the home, clang's ``COMPILER_PATH`` shim in the cache), the install
  roots of the stage's declared ``tools:`` (``execute/tools.py``), and
  ``WASMBUILD_SANDBOX_RO`` (``:``-separated) for anything else a step must read;
* writable: a toolchain's own compile cache (zig's ``ZIG_GLOBAL_CACHE_DIR``, a cache area of
  wasmbuild's, content-addressed by zig), so wasi-libc is compiled once, not in every stage;
* ``$SRC`` read-only, ``$WORK`` and ``$OUT`` writable: the only places a step can write besides
  its private ``/tmp``; a stage with ``caches:`` sees them at fixed paths under ``/tmp/wasmbuild``
  (cargo records absolute paths in its target directory) and each cache writable at
  ``$WORK/PATH``.

The environment is the one :func:`~wasmbuild.execute.executors.stage_env` builds (bwrap passes
it through unchanged). See https://github.com/containers/bubblewrap (README, "Sandboxing").
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from ...errors import ToolchainError
from . import STABLE, StageJob

#: Directories replaced by an empty tmpfs (besides the user's ``$HOME``).
HIDDEN = ("/tmp", "/run", "/root", "/home")
_HINT = ("install bubblewrap (`apt-get install bubblewrap`) and allow unprivileged user "
         "namespaces, or pass --sandbox=off to run host stages unconfined")


def bwrap_path() -> str | None:
    """The bwrap binary (``WASMBUILD_BWRAP`` overrides the PATH lookup)."""
    return os.environ.get("WASMBUILD_BWRAP") or shutil.which("bwrap")


@cache
def _probe(binary: str | None) -> str | None:
    """None if ``binary`` can build our sandbox here, else why not (one line)."""
    if binary is None:
        return "bwrap (bubblewrap) is not installed"
    try:
        proc = subprocess.run([binary, *_NAMESPACES, "--ro-bind", "/", "/", "--dev", "/dev",
                               "--proc", "/proc", "--", "/bin/true"],
                              capture_output=True, text=True, timeout=30, env={})
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{binary} cannot run: {exc}"
    if proc.returncode != 0:
        text = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return f"{binary} cannot create a sandbox here: {text}"
    return None


def check() -> str:
    """The bwrap binary, once it is known to work; else a :class:`ToolchainError`."""
    binary = bwrap_path()
    reason = _probe(binary)
    if reason is not None or binary is None:
        raise ToolchainError(f"host stages run in a bubblewrap sandbox, but {reason}", hint=_HINT)
    return binary


_NAMESPACES = ("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL")


def _hidden_roots() -> list[str]:
    roots = list(HIDDEN)
    for home in (os.environ.get("HOME"), str(Path.home())):
        if home and os.path.isabs(home) and home != "/":
            roots.append(os.path.realpath(home))
    return sorted(set(roots))


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def toolchain_dirs(job: StageJob) -> list[str]:
    """Directories of the job's toolchain: its PATH entries, and for every variable naming a
    file (``$RUSTC``, ``$CC``, a venv's script) the install root above its ``bin``, both as
    named and with symlinks resolved (a venv's ``python`` links out of the venv)."""
    tc = job.toolchain
    if tc is None:
        return []
    found: list[str] = list(tc.path_dirs)
    for value in tc.env.values():
        if not value.startswith("/"):
            continue
        for path in dict.fromkeys((value, os.path.realpath(value))):
            if os.path.isdir(path):
                found.append(path)
            elif os.path.isfile(path):
                found.append(os.path.dirname(os.path.dirname(path)))
    return found


def writable_caches(job: StageJob) -> list[str]:
    """The toolchain's own caches (``Toolchain.writable``: zig's compiled wasi-libc, which every
    C/C++ stage then reuses)."""
    tc = job.toolchain
    found = [tc.env[v] for v in (tc.writable if tc else ()) if tc is not None and tc.env.get(v, "").startswith("/")]
    for path in found:
        os.makedirs(path, exist_ok=True)
    return [os.path.realpath(p) for p in found]


def extra_ro() -> list[str]:
    """``WASMBUILD_SANDBOX_RO``: more directories a step may read (``:``-separated)."""
    return [p for p in os.environ.get("WASMBUILD_SANDBOX_RO", "").split(os.pathsep) if p]


def _readable(job: StageJob, hidden: list[str]) -> list[str]:
    """The hidden directories to show again read-only (outermost only, existing only)."""
    tools = [root for t in job.tools for root in t.roots]
    wanted = sorted({os.path.realpath(p) for p in [*toolchain_dirs(job), *tools, *extra_ro()]
                     if os.path.isabs(p) and os.path.exists(p)})
    # Only what a tmpfs hid, and never a hidden root itself (that would show the whole home).
    wanted = [p for p in wanted if _under(p, hidden) and p not in hidden]
    kept: list[str] = []
    for path in wanted:  # sorted: a parent comes before its children
        if not _under(path, kept):
            kept.append(path)
    return kept


def argv(binary: str, job: StageJob, command: list[str]) -> list[str]:
    """The bwrap command line that runs ``command`` for ``job`` (see the module docstring)."""
    hidden = _hidden_roots()
    args = [binary, *_NAMESPACES]
    if job.network:
        args.append("--share-net")
    args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for root in hidden:
        if os.path.isdir(root):
            args += ["--tmpfs", root]
    for path in _readable(job, hidden):
        args += ["--ro-bind", path, path]
    for path in writable_caches(job):
        args += ["--bind", path, path]
    src, work, out = (os.path.realpath(p) for p in (job.src, job.work, job.out))
    in_src, in_out, in_work = STABLE if job.stable_paths else (src, out, work)
    args += ["--ro-bind", src, in_src, "--bind", work, in_work, "--bind", out, in_out]
    for rel, data in job.caches:  # after $WORK: a cache shows through it
        args += ["--bind", os.path.realpath(data), f"{in_work}/{rel}"]
    args += ["--chdir", in_work, "--", *command]
    return args


def mounts(job: StageJob) -> list[str]:
    """The sandbox's mounts as text, one per line (for ``--verbose`` and the docs)."""
    parts = argv("bwrap", job, [])[1 + len(_NAMESPACES):-1]
    lines, i = [], 0
    while i < len(parts):
        flag = parts[i]
        if flag in ("--ro-bind", "--bind"):
            lines.append(f"{'ro' if flag == '--ro-bind' else 'rw'} {parts[i + 2]}")
            i += 3
        elif flag in ("--dev", "--proc", "--tmpfs", "--chdir"):
            lines.append(f"{flag[2:]} {parts[i + 1]}")
            i += 2
        else:
            lines.append(flag[2:])
            i += 1
    return lines
