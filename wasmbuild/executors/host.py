"""Run a stage's steps as host processes, each in a clean environment.

Network isolation on the host is best effort: when the stage does not declare ``network`` and
``unshare`` can create a network namespace (as root, or with user namespaces), steps run in an
empty one. Builder containers (``container.py``) always enforce it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
from functools import cache

from ..errors import BuildError
from ..toolchains import BASE_PATH
from . import Log, StageJob, failure_hint, stage_env

TAIL_LINES = 80


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


class HostExecutor:
    """Runs steps with ``/bin/sh -eu -c`` in the stage's work directory."""

    def run(self, job: StageJob, log: Log) -> None:
        path = job.toolchain.search_path() if job.toolchain else BASE_PATH
        env = stage_env(job, str(job.src), str(job.out), str(job.work), path)
        prefix = () if job.network else _unshare_prefix()
        for index, step in enumerate(job.steps, 1):
            log(f"[{job.name}] step {index}/{len(job.steps)}: {step}")
            tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
            proc = subprocess.Popen(
                [*prefix, "/bin/sh", "-eu", "-c", step],
                cwd=job.work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so an interrupt can kill the whole step
            )
            _RUNNING.add(proc)
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    tail.append(line)
                    log(f"[{job.name}] {line}")
                code = proc.wait()
            except BaseException:
                _kill(proc)
                raise
            finally:
                _RUNNING.discard(proc)
                if proc.stdout is not None:
                    proc.stdout.close()
            if code != 0:
                raise BuildError(
                    f"stage {job.name!r}: step {index} failed with exit code {code}",
                    where=job.where or None,
                    hint=failure_hint(step),
                    details="\n".join(tail),
                )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


_RUNNING: set[subprocess.Popen[bytes]] = set()


def kill_all() -> None:
    """Kill every step still running (called when a build is interrupted)."""
    for proc in list(_RUNNING):
        _kill(proc)
