"""Run a stage's steps as host processes, each in a clean environment.

The inputs are used where they are (``$SRC`` is the build's input directory) and the steps write
``$OUT`` in place, so ``copy_in``/``copy_out`` have nothing to move. Network isolation on the host
is best effort: when the stage does not declare ``network`` and ``unshare`` can create a network
namespace (as root, or with user namespaces), steps run in an empty one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from ...render.project import StageSpec
from .. import toolchains
from ..toolchains import BASE_PATH
from . import Log, Paths, StageJob, lines_of, stage_env


@cache
def _unshare_prefix() -> tuple[str, ...]:
    """The argv prefix that runs a command without network, or () when we cannot."""
    for prefix in (("unshare", "--net"), ("unshare", "--net", "--map-root-user")):
        try:
            ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return prefix
    return ()


class HostSession:
    def __init__(self, job: StageJob):
        self.job = job
        path = job.toolchain.search_path() if job.toolchain else BASE_PATH
        self.env = stage_env(job, Paths(str(job.src), str(job.out), str(job.work), path))
        self.prefix = () if job.network else _unshare_prefix()

    def copy_in(self, src: Path) -> None:
        assert src == self.job.src  # used in place

    def copy_out(self, out: Path) -> None:
        assert out == self.job.out  # written in place

    def run_step(self, step: str, log: Log) -> int:
        proc = subprocess.Popen(
            [*self.prefix, "/bin/sh", "-eu", "-c", step],
            cwd=self.job.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so an interrupt can kill the whole step
        )
        _RUNNING.add(proc)
        try:
            assert proc.stdout is not None
            fd = proc.stdout.fileno()
            lines_of(iter(lambda: os.read(fd, 65536), b""), log)
            return proc.wait()
        except BaseException:
            _kill(proc)
            raise
        finally:
            _RUNNING.discard(proc)
            if proc.stdout is not None:
                proc.stdout.close()


class HostExecutor:
    """Runs steps with ``/bin/sh -eu -c`` in the stage's work directory."""

    def identity(self, spec: StageSpec) -> str:
        toolchain = toolchains.get(spec.toolchain)
        return toolchain.identity if toolchain else "host"

    @contextlib.contextmanager
    def session(self, job: StageJob) -> Iterator[HostSession]:
        yield HostSession(job)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


_RUNNING: set[subprocess.Popen[bytes]] = set()


def kill_all() -> None:
    """Kill every step still running (called when a build is interrupted)."""
    for proc in list(_RUNNING):
        _kill(proc)
