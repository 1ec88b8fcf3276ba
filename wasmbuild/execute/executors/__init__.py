"""Executors run a stage's steps: on the host (``host.py``) or in a builder container
(``container.py``). Both honour one contract, which :func:`run_job` drives:

* ``identity(spec)``: what runs the stage, as it enters the stage cache key (toolchain path and
  version, or the builder image id);
* ``session(job)``: an environment for one stage, offering three verbs -- ``copy_in`` (the
  stage's inputs to ``$SRC``), ``run_step`` (one ``sh -eu -c STEP``) and ``copy_out`` (``$OUT``
  back to the build). The container backend copies through the engine's API, so a remote engine
  (``DOCKER_HOST=tcp://...``, ``ssh://...``) works unchanged.

The environment of a step is built by :func:`stage_env` for every backend: the stage's declared
variables, then the toolchain's (``$CC``, ``$RUSTC``...), then ours, which always win (the model
rejects declared names in :data:`RESERVED_ENV`). Nothing from the host leaks in. A failing step
raises :class:`~wasmbuild.errors.StepFailed`, the same shape whatever the backend.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...errors import StepFailed
from ...load.model import RESERVED_ENV
from ...render.project import StageSpec
from ..toolchains import Toolchain

Log = Callable[[str], None]
TAIL_LINES = 80

__all__ = ["RESERVED_ENV", "Executor", "Log", "Session", "StageJob", "executor_for", "run_job",
           "stage_env"]


@dataclass(frozen=True)
class StageJob:
    """One stage to run: its steps and environment, and the local directories it reads and fills.

    ``src`` holds the inputs, ``out`` receives the outputs, ``work`` is scratch space that the
    host backend uses as ``$WORK`` (a container has its own ``/work``).
    """

    name: str
    steps: tuple[str, ...]
    env: Mapping[str, str]
    src: Path
    out: Path
    work: Path
    network: bool = False
    toolchain: Toolchain | None = None
    builder: str | None = None
    epoch: int = 0
    where: str = ""
    user: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class Paths:
    """Where a backend's steps see the stage's directories, and their PATH."""

    src: str
    out: str
    work: str
    path: str


def stage_env(job: StageJob, paths: Paths,
              toolchain_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The complete environment of a step: declared env, then the toolchain's, then ours (which
    win). ``toolchain_env`` is the builder's variables for a container stage."""
    env = dict(job.env)
    env.update(toolchain_env or {})
    if job.toolchain is not None:
        env.update(job.toolchain.env)
    env.update({
        "SRC": paths.src,
        "OUT": paths.out,
        "WORK": paths.work,
        "HOME": paths.work,
        "PATH": paths.path,
        "LANG": "C.UTF-8",
        "SOURCE_DATE_EPOCH": str(job.epoch),
    })
    return env


class Session(Protocol):
    """One stage's environment (a set of host directories, or a container)."""

    def copy_in(self, src: Path) -> None:
        """Make the directory ``src`` (the stage's inputs) appear as ``$SRC``."""

    def run_step(self, step: str, log: Log) -> int:
        """Run ``sh -eu -c step`` with stdout and stderr merged into ``log``; return its exit code."""

    def copy_out(self, out: Path) -> None:
        """Bring ``$OUT`` back into the local directory ``out``."""


class Executor(Protocol):
    def identity(self, spec: StageSpec) -> str:
        """What runs ``spec``, as it enters the cache key."""

    def session(self, job: StageJob) -> AbstractContextManager[Session]:
        """An environment for ``job``, torn down on exit (also on errors and interrupts)."""


def run_job(executor: Executor, job: StageJob, log: Log) -> None:
    """Copy the inputs in, run every step (stop at the first failure), copy the outputs out."""
    total = len(job.steps)
    with executor.session(job) as session:
        session.copy_in(job.src)
        for index, step in enumerate(job.steps, 1):
            log(f"[{job.name}] step {index}/{total}: {step}")
            tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

            def line(text: str, tail: collections.deque[str] = tail) -> None:
                tail.append(text)
                log(f"[{job.name}] {text}")

            code = session.run_step(step, line)
            if code != 0:
                raise StepFailed(stage=job.name, index=index, total=total, step=step,
                                 exit_code=code, tail=list(tail), where=job.where or None)
        session.copy_out(job.out)


def executor_for(spec: StageSpec) -> Executor:
    """The one place that picks a backend: a builder container if the stage names one."""
    if spec.builder:
        from .container import ContainerExecutor

        return ContainerExecutor()
    from .host import HostExecutor

    return HostExecutor()


def lines_of(chunks: Iterator[bytes], log: Log) -> None:
    """Split a byte stream into text lines for ``log`` (the last line may lack a newline)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            log(raw.decode("utf-8", "replace").rstrip("\r"))
    if pending:
        log(pending.decode("utf-8", "replace").rstrip("\r"))
