"""Run a stage's steps as host processes, each in a clean environment and a sandbox.

The inputs are used where they are (``$SRC`` is the build's input directory) and the steps write
``$OUT`` in place, so ``copy_in``/``copy_out`` have nothing to move. Every step runs under
bubblewrap (``sandbox.py``): read-only host, no home, no network unless declared, writable
``$WORK``/``$OUT`` only. ``sandbox=False`` (``--sandbox=off``) runs steps unconfined.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from ...render.project import StageSpec
from .. import toolchains
from ..toolchains import BASE_PATH, ToolRecord
from . import STABLE, Log, Paths, StageJob, Watchdog, lines_of, on_interrupt, sandbox, stage_env


class HostSession:
    def __init__(self, job: StageJob, bwrap: str | None, watchdog: Watchdog):
        self.job = job
        path = job.toolchain.search_path() if job.toolchain else BASE_PATH
        if job.tools:  # declared tools first, each once
            path = ":".join(dict.fromkeys([*(os.path.dirname(t.path) for t in job.tools), *path.split(":")]))
        where = (STABLE if bwrap and job.stable_paths else (str(job.src), str(job.out), str(job.work)))
        self.env = stage_env(job, Paths(*where, path))
        self.src = where[0]
        if not bwrap:  # unconfined: no mounts, so a cache is a symlink under $WORK
            for rel, data in job.caches:
                link = job.work / rel
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(data, target_is_directory=True)
        self.bwrap = bwrap
        self.watchdog = watchdog

    def copy_in(self, src: Path) -> None:
        assert src == self.job.src  # used in place

    def copy_out(self, out: Path) -> None:
        assert out == self.job.out  # written in place

    def command(self, step: str) -> list[str]:
        shell = ["/bin/sh", "-eu", "-c", step]
        return sandbox.argv(self.bwrap, self.job, shell) if self.bwrap else shell

    def run_step(self, step: str, log: Log) -> int:
        proc = subprocess.Popen(
            self.command(step),
            cwd=self.job.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so an interrupt or the watchdog can kill the whole step
        )
        _RUNNING.add(proc)
        self.watchdog.arm(lambda: _kill(proc, wait=False))
        try:
            assert proc.stdout is not None
            fd = proc.stdout.fileno()
            lines_of(iter(lambda: os.read(fd, 65536), b""), log)
            code = proc.wait()
        except BaseException:
            _kill(proc)
            raise
        finally:
            self.watchdog.arm(None)
            _RUNNING.discard(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        self.watchdog.check(step)
        return code


class HostExecutor:
    """Runs steps with ``/bin/sh -eu -c`` in the stage's work directory, sandboxed."""

    def __init__(self, sandbox: bool = True):
        self.sandbox = sandbox

    def identity(self, spec: StageSpec) -> str:
        # The sandbox does not enter the key: it changes what a step may touch, not its output.
        toolchain = toolchains.get(spec.toolchain)
        return toolchain.identity if toolchain else "host"

    def tools(self, spec: StageSpec) -> tuple[ToolRecord, ...]:
        """What the SBOM says ran ``spec``: its toolchain folder's ``facts``."""
        toolchain = toolchains.get(spec.toolchain)
        return toolchains.facts(toolchain) if toolchain else ()

    @contextlib.contextmanager
    def session(self, job: StageJob) -> Iterator[HostSession]:
        bwrap = sandbox.check() if self.sandbox else None
        watchdog = Watchdog(job, watch_out=True)
        try:
            yield HostSession(job, bwrap, watchdog)
        finally:
            watchdog.stop()


def _kill(proc: subprocess.Popen[bytes], wait: bool = True) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if wait:
        proc.wait()


_RUNNING: set[subprocess.Popen[bytes]] = set()


@on_interrupt
def kill_all() -> None:
    """Kill every step still running (called when a build is interrupted)."""
    for proc in list(_RUNNING):
        _kill(proc)
