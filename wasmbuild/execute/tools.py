"""Tools a host stage declares (``tools:``): commands from outside the system directories (a
venv, ``~/.local``, ``/opt/...``, ``~/go``) that the steps run.

Each is looked up once, on the PATH wasmbuild was started with (or named by absolute path):
its directory goes first on the steps' PATH, its install root (the directory above its ``bin``)
is shown read-only in the sandbox, and its identity (resolved path and the sha256 of the file)
joins the stage's runner identity, hence the cache key and the SBOM. Anything else outside the
system directories stays hidden, as before.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..cache.digests import DigestMemo, plain
from ..errors import ToolchainError
from ..render.project import StageSpec
from .probing import PROBE_TIMEOUT, ToolRecord
from .toolchains import BASE_PATH

#: The field that names a declared tool in a runner identity (``tool=NAME=PATH=SHA256``).
FIELD = "tool="


@dataclass(frozen=True)
class HostTool:
    name: str  # as declared
    path: str  # absolute, as found (a venv's bin/go)
    real: str  # symlinks resolved (where the bytes are)
    sha256: str
    #: The first line of ``TOOL --version`` (or ``TOOL version``, Go's), "" if neither answers:
    #: a launcher script (pip's console scripts) hashes the same for every version it launches.
    version: str = ""
    #: A script's interpreter (its ``#!`` line), which must be readable too.
    interpreter: str | None = None

    @property
    def record(self) -> ToolRecord:
        """The tool as the SBOM names it: its resolved file and the hash in the stage key."""
        return ToolRecord("tool", self.name, self.version, self.real, self.sha256)

    @property
    def identity(self) -> str:
        return f"{FIELD}{self.name}={self.real}={self.sha256}" + (f"={self.version}" if self.version else "")

    @property
    def roots(self) -> tuple[str, ...]:
        """What the sandbox shows read-only: the install root above ``bin`` of the path as
        found and of the resolved file (a venv's link out of it; Go's GOROOT beside its bin),
        and of a script's interpreter (a venv's python links to the Python it was made from)."""
        files = [self.path, self.real]
        if self.interpreter:
            files += [self.interpreter, os.path.realpath(self.interpreter)]
        return tuple(dict.fromkeys(os.path.dirname(os.path.dirname(p)) for p in files))


def resolve(spec: StageSpec, memo: DigestMemo | None = None) -> tuple[HostTool, ...]:
    """The tools ``spec`` declares, found now; a missing one is one clear error at the stage."""
    found: list[HostTool] = []
    for name in spec.tools:
        # the user's PATH, then the environment wasmbuild itself runs from (a venv not activated)
        path = name if os.path.isabs(name) else (shutil.which(name) or shutil.which(
            name, path=os.path.dirname(sys.executable)))
        if path is None or not os.path.isfile(path) or not os.access(path, os.X_OK | os.R_OK):
            where = "is not an executable file" if os.path.isabs(name) else "is not on your PATH"
            raise ToolchainError(f"stage {spec.name!r}: tool {name!r} {where}", where=spec.where or None,
                                 hint="install it, or name it by its absolute path in `tools:`")
        path = os.path.abspath(path)
        real = os.path.realpath(path)
        found.append(HostTool(name, path, real, (memo or plain()).file_sha256(Path(real)), _version(real),
                              _interpreter(real)))
    return tuple(found)


@functools.cache
def _version(path: str) -> str:
    """The first line a tool prints for ``--version`` or ``version``, with this machine's paths
    and the wall clock kept out: only what names the release."""
    for args in (["--version"], ["version"]):
        try:
            proc = subprocess.run([path, *args], capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                                  env={"PATH": BASE_PATH, "HOME": "/nonexistent", "LANG": "C"}, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        line = next((x.strip() for x in proc.stdout.splitlines() if x.strip()), "")
        if proc.returncode == 0 and line:
            return line[:200].replace(";", ",").replace("=", ":")
    return ""


def _interpreter(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    return words[0].decode(errors="replace") if words and words[0].startswith(b"/") else None


def identity_of(tools: tuple[HostTool, ...]) -> str:
    """The runner identity's part for ``tools`` (empty without any)."""
    return "".join(";" + t.identity for t in tools)
