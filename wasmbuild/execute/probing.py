"""What every toolchain probe shares: the :class:`Toolchain` record, running a probe safely,
and the candidates on PATH and in the well-known places. The toolkit of the recipe folders'
``toolchain.py`` modules (docs/languages.md)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Toolchain:
    name: str
    env: dict[str, str]
    path_dirs: tuple[str, ...]
    identity: str
    notes: list[str] = field(default_factory=list, compare=False)
    #: What the probe found out besides (remembered with it): for rust, ``chosen`` (which
    #: toolchain and why), ``others`` (each candidate passed over, with the fix), ``cargo``
    #: and ``rustc`` (their versions, "1.65.0").
    info: dict[str, Any] = field(default_factory=dict, compare=False)
    #: Variables of ``env`` naming a cache directory the steps must write (the sandbox makes
    #: it writable): zig compiles wasi-libc/libc++ once into its own, content-addressed by zig.
    writable: tuple[str, ...] = ()

    def search_path(self) -> str:
        dirs = [*self.path_dirs, *BASE_PATH.split(":")]
        return ":".join(dict.fromkeys(dirs))


@dataclass(frozen=True)
class ToolRecord:
    """One program or library that ran a stage, as the SBOM and the provenance name it: a
    toolchain folder's ``facts(toolchain)``, a declared tool, a builder image. The attest step
    adds the file's sha256 and the Debian package that owns it."""

    kind: str  # "toolchain", "library", "tool", "builder", "runner"
    name: str
    version: str = ""
    path: str | None = None  # a file on this machine (hashed by attest unless sha256 is known)
    #: Known already: a declared tool's hash, a builder image's id (nothing on disk to hash).
    sha256: str | None = None


def version_in(text: str) -> str:
    """``16.0.6`` from ``Debian clang version 16.0.6 (15)``, ``1.63.0`` from ``rustc 1.63.0 (...)``."""
    m = re.search(r"version (\d[\w.+~-]*)", text) or re.search(r"\b(\d+\.\d+(?:\.\d+)?[\w.+~-]*)", text)
    return m.group(1) if m else ""


#: Variables a probe does not pass on (see :func:`_try`).
PROBE_DROP = ("SOURCE_DATE_EPOCH", "LD_PRELOAD", "LD_AUDIT")
PROBE_TIMEOUT = 10.0  # a compiler answers --version in well under a second


def _probe_timeout() -> float:
    try:
        return float(os.environ.get("WASMBUILD_PROBE_TIMEOUT", "") or PROBE_TIMEOUT)
    except ValueError:
        return PROBE_TIMEOUT


def _try(argv: list[str]) -> tuple[str | None, str]:
    """Run a probe: (its stdout, or None; why it failed, or "").

    The probe runs with the caller's environment (rustup's proxies need HOME/RUSTUP_HOME to pick
    a toolchain) minus :data:`PROBE_DROP`: clang rejects an empty SOURCE_DATE_EPOCH, which would
    make a working compiler look broken; and an LD_PRELOAD such as libfaketime's (``faketime``)
    deadlocks programs linked with jemalloc -- rustup's rustc is one -- at start-up
    (wolfcw/libfaketime#130). Stages get neither: their environment is wasmbuild's own.
    """
    env = {k: v for k, v in os.environ.items() if k not in PROBE_DROP}
    timeout = _probe_timeout()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True,
                             env=env)
    except subprocess.TimeoutExpired:
        return None, f"`{Path(argv[0]).name} {' '.join(argv[1:2])}` timed out after {timeout:g}s"
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit code {exc.returncode}"]
        return None, last[0][:200]
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)[:200]
    return out.stdout.strip(), ""


def _run(argv: list[str]) -> str | None:
    return _try(argv)[0]


def _candidates(env_var: str, names: list[str], extra: list[str]) -> list[str]:
    found: list[str] = []
    if os.environ.get(env_var):
        found.append(os.environ[env_var])
    for d in os.environ.get("PATH", "").split(os.pathsep):
        for n in names:
            p = Path(d) / n
            if p.is_file() and os.access(p, os.X_OK):
                found.append(str(p))
    found.extend(p for p in extra if Path(p).is_file())
    unique: dict[str, str] = {}
    for item in found:
        unique.setdefault(os.path.realpath(item), item)
    return list(unique.values())


def _well_known() -> list[str]:
    """Places searched besides PATH (``WASMBUILD_TOOLCHAIN_DIRS`` overrides, "" for none)."""
    raw = os.environ.get("WASMBUILD_TOOLCHAIN_DIRS", "/usr/bin:~/.cargo/bin")
    return [d for d in raw.split(os.pathsep) if d]
