"""Tools a host stage declares (``tools:``): commands from outside the system directories (a
venv, ``~/.local``, ``/opt/...``, ``~/go``) that the steps run.

Each is looked up once, on the PATH wasmbuild was started with (or named by absolute path):
its directory goes first on the steps' PATH, its install root (the directory above its ``bin``)
is shown read-only in the sandbox, and its identity (resolved path and the sha256 of the file)
joins the stage's runner identity, hence the cache key and the SBOM. Anything else outside the
system directories stays hidden, as before.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..cache.digests import DigestMemo, plain
from ..errors import ToolchainError
from ..render.project import StageSpec

#: The field that names a declared tool in a runner identity (``tool=NAME=PATH=SHA256``).
FIELD = "tool="


@dataclass(frozen=True)
class HostTool:
    name: str  # as declared
    path: str  # absolute, as found (a venv's bin/go)
    real: str  # symlinks resolved (where the bytes are)
    sha256: str

    @property
    def identity(self) -> str:
        return f"{FIELD}{self.name}={self.real}={self.sha256}"

    @property
    def roots(self) -> tuple[str, ...]:
        """What the sandbox shows read-only: the install root above ``bin`` of the path as
        found and of the resolved file (a venv's link out of it; Go's GOROOT beside its bin)."""
        return tuple(dict.fromkeys(os.path.dirname(os.path.dirname(p)) for p in (self.path, self.real)))


def resolve(spec: StageSpec, memo: DigestMemo | None = None) -> tuple[HostTool, ...]:
    """The tools ``spec`` declares, found now; a missing one is one clear error at the stage."""
    found: list[HostTool] = []
    for name in spec.tools:
        path = name if os.path.isabs(name) else shutil.which(name)
        if path is None or not os.path.isfile(path) or not os.access(path, os.X_OK):
            where = "is not an executable file" if os.path.isabs(name) else "is not on your PATH"
            raise ToolchainError(f"stage {spec.name!r}: tool {name!r} {where}", where=spec.where or None,
                                 hint="install it, or name it by its absolute path in `tools:`")
        path = os.path.abspath(path)
        real = os.path.realpath(path)
        found.append(HostTool(name, path, real, (memo or plain()).file_sha256(Path(real))))
    return tuple(found)


def identity_of(tools: tuple[HostTool, ...]) -> str:
    """The runner identity's part for ``tools`` (empty without any)."""
    return "".join(";" + t.identity for t in tools)


def parse(identity: str) -> tuple[str, list[tuple[str, str, str]]]:
    """A runner identity without its tool fields, and those fields as (name, path, sha256)."""
    rest, tools = [], []
    for field in identity.split(";"):
        if field.startswith(FIELD):
            name, _, tail = field[len(FIELD):].partition("=")
            path, _, sha = tail.rpartition("=")
            tools.append((name, path, sha))
        else:
            rest.append(field)
    return ";".join(rest), tools
