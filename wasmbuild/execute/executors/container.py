"""Run a stage in a fresh container of its builder image, through the engine's API only.

The stage's inputs go in and its outputs come out as tar streams through the API (what
``docker cp`` does), never through bind mounts: so a remote engine (``DOCKER_HOST=tcp://...`` or
``ssh://...``) that does not share this machine's filesystem builds exactly the same. Each step is
an exec of ``sh -eu -c STEP`` in ``/work``; the container has no network unless the stage
declares it, and is removed whatever happens (failure, KeyboardInterrupt, SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import tarsafe
from ...errors import BuildError, ToolchainError
from ...fsutil import remove, temp_path
from ...render.project import StageSpec
from ..limits import max_output
from ..probing import ToolRecord
from . import Log, Paths, StageJob, Watchdog, lines_of, stage_env
from .engine import builder_base, builder_image, connect, toolchain_env

if TYPE_CHECKING:
    from docker import DockerClient

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONTAINER_LABEL = "org.wasmbuild.stage"
PID_LABEL = "org.wasmbuild.pid"
_SPOOL = 16 << 20  # tar streams up to this size stay in memory


def _first_line(exc: Any) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class ContainerSession:
    def __init__(self, client: DockerClient, container: Any, job: StageJob,
                 watchdog: Watchdog | None = None):
        self.client = client
        self.container = container
        self.job = job
        self.watchdog = watchdog or Watchdog(job, watch_out=False)
        self.src = "/src"

    def copy_in(self, src: Path) -> None:
        """Send ``src`` as ``/src`` plus empty ``/out`` and ``/work`` and the stage's persistent
        caches under ``/work`` (one tar), then start the container: the steps must not run
        before ``/src`` is complete."""
        with tempfile.SpooledTemporaryFile(_SPOOL) as spool:
            with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as tar:
                parents = {"out", "work"} | {f"work/{p}" for rel, _ in self.job.caches
                                             for p in _parents(rel)}
                for name in sorted(parents):
                    info = tarfile.TarInfo(name)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                tar.add(src, arcname="src", recursive=True, filter=_normalise)
                for rel, data in self.job.caches:  # what the last build left there (cache/mounts.py)
                    tar.add(data, arcname=f"work/{rel}", recursive=True, filter=_normalise)
            spool.seek(0)
            if not self.container.put_archive("/", spool):
                raise ToolchainError(f"stage {self.job.name!r}: the engine refused the inputs")
        self._start()

    def _start(self) -> None:
        from docker.errors import APIError

        try:
            self.container.start()
        except APIError as exc:
            raise ToolchainError(f"the engine cannot start the stage container: "
                                 f"{_first_line(exc.explanation or exc)}") from exc
        if self.job.user:
            # /out and /work (and the caches in it) came in root-owned: hand them to the stage's user.
            caches = "".join(f" /work/{shlex.quote(rel)}" for rel, _ in self.job.caches)
            chown = f"chown {shlex.quote(self.job.user)} /work /out" + (
                f" && chown -R {shlex.quote(self.job.user)}{caches}" if caches else "")
            code = self._exec(chown, "0", lambda _: None)
            if code != 0:
                raise BuildError(f"stage {self.job.name!r}: cannot give /out to user "
                                 f"{self.job.user!r} (exit {code})", where=self.job.where or None,
                                 hint="does the builder image have that user?")

    def run_step(self, step: str, log: Log) -> int:
        # An exec cannot be killed through the API: when the stage runs out of time the engine
        # kills the whole container, which ends the exec's output stream.
        self.watchdog.arm(self._kill_container)
        try:
            code = self._exec(step, self.job.user or "", log)
        except Exception:
            self.watchdog.check(step)  # killed by the watchdog: that is the error to report
            raise
        finally:
            self.watchdog.arm(None)
        self.watchdog.check(step)
        return code

    def _kill_container(self) -> None:
        from docker.errors import APIError

        with contextlib.suppress(APIError):
            self.container.kill()

    def _exec(self, step: str, user: str, log: Log) -> int:
        # stderr joins stdout inside the container: the engine carries the two streams separately
        # and does not keep their relative order, so a log (and its last line) could be shuffled.
        command = ["sh", "-c", 'exec 2>&1; exec sh -eu -c "$1"', "sh", step]
        exec_id = self.client.api.exec_create(self.container.id, command, stdout=True, stderr=True,
                                              workdir="/work", user=user)["Id"]
        lines_of(_exec_output(self.client, exec_id), log)
        return int(self.client.api.exec_inspect(exec_id).get("ExitCode") or 0)

    def copy_out(self, out: Path) -> None:
        """Receive ``/out`` as a tar stream and unpack it into ``out`` (no path may escape it);
        then each persistent cache back into its host directory, for the next build."""
        self._receive("/out", out, max_output())
        for rel, data in self.job.caches:
            self._receive(f"/work/{rel}", data, None)

    def _receive(self, path: str, dest: Path, limit: int | None) -> None:
        """The container's directory ``path`` in place of the local directory ``dest``."""
        from docker.errors import APIError

        api = self.client.api
        try:
            response = api._get(api._url("/containers/{0}/archive", self.container.id),
                                params={"path": path}, stream=True)
            api._raise_for_status(response)
        except APIError as exc:
            raise BuildError(f"stage {self.job.name!r}: cannot read {path} from the container: "
                             f"{_first_line(exc.explanation or exc)}") from exc
        received = 0
        staging = temp_path(dest.parent, "copy-out")
        # The response is ours to close (get_archive's generator never closes it): an output
        # over the limit stops the transfer here, and the engine can then remove the container.
        try:
            with response, tempfile.SpooledTemporaryFile(_SPOOL) as spool:
                for chunk in response.raw.stream(1 << 20, decode_content=True):
                    received += len(chunk)
                    if limit is not None and received > limit + (1 << 20):  # tar headers and padding
                        raise BuildError(f"stage {self.job.name!r} wrote more than {limit:,} bytes to "
                                         "/out", where=self.job.where or None,
                                         hint="write less, or raise WASMBUILD_MAX_OUTPUT")
                    spool.write(chunk)
                spool.seek(0)
                with tarfile.open(fileobj=spool, mode="r:") as tar:
                    tarsafe.extractall(tar, staging, "tar")
            got = staging / Path(path).name
            if not got.is_dir() or got.is_symlink():
                raise BuildError(f"stage {self.job.name!r}: {path} is not a directory in the container")
            remove(dest)
            os.replace(got, dest)
        finally:
            remove(staging)


def _parents(rel: str) -> list[str]:
    """``a/b/c`` -> ``a``, ``a/b``: the directories above a cache under /work."""
    parts = rel.strip("/").split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Inputs enter owned by root with no host user names (what a bind mount would not hide)."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _default_image(builder: str) -> str:
    return builder_image(builder, builder_base())


class ContainerExecutor:
    """Runs a stage in a fresh container of its builder image (network off unless declared).

    ``image_for`` maps a stage's ``builder`` to an image id (default: build or pull the builder)
    and ``toolchain_for`` to its toolchain variables; tests pass a plain image and no variables.
    """

    def __init__(self, image_for: Callable[[str], str] = _default_image,
                 toolchain_for: Callable[[str], dict[str, str]] = toolchain_env):
        self.image_for = image_for
        self.toolchain_for = toolchain_for

    def identity(self, spec: StageSpec) -> str:
        """Part of the stage cache key: the builder image's content id."""
        assert spec.builder is not None
        return f"builder={spec.builder};image={self.image_for(spec.builder)}"

    def tools(self, spec: StageSpec) -> tuple[ToolRecord, ...]:
        """The builder image, named by its content id, as the SBOM lists it."""
        assert spec.builder is not None
        image = self.image_for(spec.builder)
        hexpart = image.removeprefix("sha256:")
        return (ToolRecord("builder", spec.builder, image, None,
                           hexpart if len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart) else None),)

    @contextlib.contextmanager
    def session(self, job: StageJob) -> Iterator[ContainerSession]:
        assert job.builder is not None
        image = self.image_for(job.builder)
        with connect() as client:
            from docker.errors import APIError, ImageNotFound

            try:
                config_env = client.images.get(image).attrs.get("Config", {}).get("Env") or []
            except ImageNotFound as exc:
                raise ToolchainError(f"builder image {image} is missing from the engine",
                                     hint="build again: the builder is rebuilt") from exc
            image_path = next((e[5:] for e in config_env if e.startswith("PATH=")), DEFAULT_PATH)
            env = stage_env(job, Paths("/src", "/out", "/work", image_path), self.toolchain_for(job.builder))
            try:
                container = client.containers.create(
                    image,
                    # A long sleep keeps the container up between steps; each step is an exec.
                    # (No init=True: podman needs catatonit for it; sleep dies with the container.)
                    command=["sleep", "infinity"],
                    entrypoint=[],
                    environment=env,
                    working_dir="/work",
                    network_mode="host" if job.network else "none",
                    # The pid label tells which process owns a container (tests, cleanup).
                    labels={CONTAINER_LABEL: "1", PID_LABEL: str(os.getpid())},
                    name=f"wasmbuild-stage-{uuid.uuid4().hex[:12]}",
                    detach=True,
                )
            except APIError as exc:
                raise ToolchainError(f"the engine refused the stage container: "
                                     f"{_first_line(exc.explanation or exc)}") from exc
            watchdog = Watchdog(job, watch_out=False)
            try:
                with _sigterm_as_interrupt():
                    yield ContainerSession(client, container, job, watchdog)
            finally:
                watchdog.stop()
                # force=True kills whatever still runs; v=True drops anonymous volumes.
                container.remove(force=True, v=True)


def _exec_output(client: DockerClient, exec_id: str) -> Iterator[bytes]:
    """The exec's multiplexed stdout+stderr, closing the HTTP response afterwards.

    ``APIClient.exec_start(stream=True)`` never closes its response, which leaks the socket
    (a ResourceWarning, an error under ``filterwarnings = error``); so start the exec through the
    same two helpers it uses and close the response ourselves, also on KeyboardInterrupt.
    """
    api = client.api
    response = api._post_json(api._url("/exec/{0}/start", exec_id),
                              data={"Tty": False, "Detach": False}, stream=True)
    try:
        yield from api._multiplexed_response_stream_helper(response)
    finally:
        response.close()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` removes the container."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
