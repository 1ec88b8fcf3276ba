"""Executors run a stage's steps: on the host (``host.py``) or in a builder container
(``container.py``). Both take the same :class:`StageJob` and honour the same contract:

* ``$SRC`` holds the stage's inputs (read-only by contract; read-only mounted in containers),
* ``$OUT`` is where the declared outputs must be written,
* ``$WORK`` is the working directory and ``$HOME``,
* the environment is only what the stage declares plus those variables, ``PATH``, ``LANG`` and
  ``SOURCE_DATE_EPOCH`` (and the toolchain's ``$RUSTC``/``$CC``...): nothing from the host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..toolchains import Toolchain

Log = Callable[[str], None]


@dataclass(frozen=True)
class StageJob:
    name: str
    steps: tuple[str, ...]
    env: dict[str, str]
    src: Path
    out: Path
    work: Path
    network: bool = False
    toolchain: Toolchain | None = None
    builder: str | None = None
    epoch: int = 0
    where: str = ""
    user: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Executor(Protocol):
    def run(self, job: StageJob, log: Log) -> None:
        """Run every step; raise :class:`wasmbuild.errors.BuildError` on the first failure."""


RESERVED_ENV = ("SRC", "OUT", "WORK", "HOME", "PATH", "SOURCE_DATE_EPOCH")


def stage_env(job: StageJob, src: str, out: str, work: str, path: str) -> dict[str, str]:
    """The complete environment of a step (declared env first, then ours, which win)."""
    env = dict(job.env)
    if job.toolchain is not None:
        env.update(job.toolchain.env)
    env.update(job.extra)
    env.update(
        {
            "SRC": src,
            "OUT": out,
            "WORK": work,
            "HOME": work,
            "PATH": path,
            "LANG": "C.UTF-8",
            "SOURCE_DATE_EPOCH": str(job.epoch),
        }
    )
    return env


def failure_hint(step: str) -> str:
    return "the step's output is shown above; fix the source or the step: " + (
        step if len(step) < 120 else step[:117] + "..."
    )
