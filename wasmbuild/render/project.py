"""What ``render`` hands to ``plan``: the project with every stage in explicit form."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..load import yamlpos
from ..load.model import Input, Wasmfile


@dataclass(frozen=True)
class StageSpec:
    """A stage after recipe rendering: only explicit steps remain."""

    name: str
    steps: tuple[str, ...]
    inputs: tuple[Input, ...]
    outputs: tuple[str, ...]
    env: dict[str, str]
    network: bool
    builder: str | None
    toolchain: str | None
    recipe: str | None
    where: str
    user: str | None = None
    component: str | None = None  # wrap core-module outputs: "command" or "reactor"
    #: Wall time of the whole stage in seconds (``timeout:``); None: the default.
    timeout: float | None = None
    #: Persistent caches (``caches:``) as (name, path under $WORK); never in the stage key.
    caches: tuple[tuple[str, str], ...] = ()
    #: Host commands the steps run from outside the system directories (``tools:``).
    tools: tuple[str, ...] = ()
    #: Packages the steps' package manager resolves from a lockfile (``packages:``): (purl, pin).
    packages: tuple[tuple[str, str | None], ...] = ()
    #: The recipe folder's tree digest (its template, its toolchain code) and whether it is the
    #: library's: what the SBOM names, carried here so attest never reads recipes again.
    recipe_sha256: str | None = None
    recipe_library: bool = False

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(sorted({i.from_ for i in self.inputs if i.from_}))


@dataclass(frozen=True)
class Project:
    path: Path
    context: Path
    model: Wasmfile
    stages: dict[str, StageSpec]
    positions: yamlpos.Positions = field(repr=False)
