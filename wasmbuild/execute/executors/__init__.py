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
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...errors import BuildError, StepFailed, step_summary, step_title
from ...fsutil import tree_size
from ...load.model import RESERVED_ENV
from ...render.project import StageSpec
from ..limits import describe, max_output
from ..toolchains import Toolchain
from ..tools import HostTool

Log = Callable[[str], None]
TAIL_LINES = 80

__all__ = ["RESERVED_ENV", "Executor", "ExecutorFactory", "Log", "Session", "StageJob", "Watchdog", "executor_for",
           "interrupt_all", "on_interrupt", "run_job", "stage_env"]

_ON_INTERRUPT: list[Callable[[], None]] = []


def on_interrupt(stop: Callable[[], None]) -> Callable[[], None]:
    """Register how a backend stops everything it still runs when a build is interrupted
    (the scheduler calls :func:`interrupt_all` and knows no backend)."""
    _ON_INTERRUPT.append(stop)
    return stop


def interrupt_all() -> None:
    """Stop every step any backend still runs (Ctrl-C, or a failing stage among parallel ones)."""
    for stop in list(_ON_INTERRUPT):
        stop()


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
    #: Seconds the whole stage may run (every backend kills the step that runs over).
    timeout: float | None = None
    #: Persistent caches held for this run: (path under $WORK, host directory to mount there).
    caches: tuple[tuple[str, Path], ...] = ()
    #: The steps see $SRC, $WORK and $OUT at fixed paths (:data:`STABLE`), not at this build's
    #: directories: set for a stage with ``caches:``, whose tools (cargo) record absolute paths
    #: in the cache and would otherwise start over in every build.
    stable_paths: bool = False
    #: Declared host tools (``tools:``): first on PATH, their roots readable in the sandbox.
    tools: tuple[HostTool, ...] = ()


#: Where a stage with caches sees its directories (host sandbox and builder containers alike).
STABLE = ("/tmp/wasmbuild/src", "/tmp/wasmbuild/out", "/tmp/wasmbuild/work")


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

    src: str
    """Where the steps see ``$SRC``: compiler messages naming files there are shown with the
    file's path in the build context instead."""

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


def context_paths(src: str) -> Callable[[str], str]:
    """Rewrites a line of step output so that ``$SRC/main.c`` reads ``main.c``: the inputs sit in
    ``$SRC`` at their paths in the build context, and a temporary directory means nothing to the
    user (``-ffile-prefix-map`` does the same for the bytes of the output)."""
    base = src.rstrip("/")
    if not base:
        return lambda text: text
    prefix = re.compile(r"(?<![\w./-])" + re.escape(base) + r"/(?=[^\s])")
    return lambda text: prefix.sub("", text)


def run_job(executor: Executor, job: StageJob, log: Log) -> None:
    """Copy the inputs in, run every step (stop at the first failure), copy the outputs out."""
    total = len(job.steps)
    with executor.session(job) as session:
        in_context = context_paths(session.src)
        session.copy_in(job.src)
        for index, step in enumerate(job.steps, 1):
            log(f"[{job.name}] step {index}/{total}: {step_title(step)}")
            tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

            def line(text: str, tail: collections.deque[str] = tail) -> None:
                text = in_context(text)
                tail.append(text)
                log(f"[{job.name}] {text}")

            code = session.run_step(step, line)
            if code != 0:
                raise StepFailed(stage=job.name, index=index, total=total, step=step,
                                 exit_code=code, tail=list(tail), where=job.where or None)
        session.copy_out(job.out)
    limit = max_output()
    if tree_size(job.out, limit) > limit:
        raise BuildError(f"stage {job.name!r} wrote more than {limit:,} bytes to $OUT",
                         where=job.where or None, hint="write less, or raise WASMBUILD_MAX_OUTPUT")


class ExecutorFactory(Protocol):
    """Picks the backend of a stage. ``sandbox`` is the build's setting (``--sandbox``): every
    factory receives it and must honour it (a host backend runs unconfined when it is false)."""

    def __call__(self, spec: StageSpec, *, sandbox: bool) -> Executor: ...


def executor_for(spec: StageSpec, *, sandbox: bool = True) -> Executor:
    """The one place that picks a backend: a builder container if the stage names one, else
    the host (in the bubblewrap sandbox unless ``sandbox`` is false: ``--sandbox=off``)."""
    if spec.builder:
        from .container import ContainerExecutor

        return ContainerExecutor()
    from .host import HostExecutor

    return HostExecutor(sandbox=sandbox)


class Watchdog:
    """Kills a session's running step when the stage runs out of time, or (``watch_out``: the
    host, where $OUT is written in place) when $OUT grows past ``WASMBUILD_MAX_OUTPUT``.

    Started once per session (the deadline covers every step); ``arm(kill)`` names how to kill
    the step running now, ``check(step)`` raises the :class:`BuildError` once it has fired.
    """

    INTERVAL = 1.0

    def __init__(self, job: StageJob, watch_out: bool):
        self.job = job
        self.deadline = time.monotonic() + job.timeout if job.timeout else None
        self.out_limit = max_output() if watch_out else None
        self.reason: str | None = None
        self._kill: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"watchdog-{job.name}", daemon=True)
        if self.deadline is not None or self.out_limit is not None:
            self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline:
                assert self.job.timeout is not None
                self._fire(f"ran out of time (timeout {describe(self.job.timeout)})")
                return
            if self.out_limit is not None and tree_size(self.job.out, self.out_limit) > self.out_limit:
                self._fire(f"wrote more than {self.out_limit:,} bytes to $OUT")
                return
            wait = self.INTERVAL if self.deadline is None else min(self.INTERVAL, self.deadline - now)
            self._stop.wait(max(wait, 0.01))

    def _fire(self, reason: str) -> None:
        with self._lock:
            self.reason = reason
            kill = self._kill
        if kill is not None:
            kill()

    def arm(self, kill: Callable[[], None] | None) -> None:
        """``kill`` stops the step running now (None between steps). Fired already: kill now."""
        with self._lock:
            self._kill = kill
            fired = self.reason is not None
        if fired and kill is not None:
            kill()

    def check(self, step: str) -> None:
        if self.reason is not None:
            summary = step_summary(step)
            hint = ("raise `timeout:` on the stage in the Wasmfile (or WASMBUILD_STAGE_TIMEOUT)"
                    if "time" in self.reason else "write less, or raise WASMBUILD_MAX_OUTPUT")
            raise BuildError(f"stage {self.job.name!r} {self.reason}; step `{summary}` was killed",
                             where=self.job.where or None, hint=hint)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


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
