"""Run build stages inside builder containers through the Docker API (docker SDK).

The contract is the host executor's: a stage is a list of shell steps, each run as
``sh -eu -c STEP`` in ``/work`` (``$WORK``), with the stage's inputs read-only at ``/src``
(``$SRC``) and a writable output directory at ``/out`` (``$OUT``). The environment holds only what
the stage declares plus ``SRC OUT WORK HOME PATH SOURCE_DATE_EPOCH LANG`` (and the ENV baked into
the builder image, which is part of its pinned definition) -- never the host's variables.

Engines: anything ``docker.from_env()`` reaches, i.e. ``DOCKER_HOST`` (``scripts/dockerd-up``
starts a bridge-less dockerd, so a stage's network is either ``none`` or ``host``) or podman's
API socket (``podman system service``).

Builders are Dockerfiles under ``recipes/builders/<name>/``, tagged
``wasmbuild-builder/<name>:<hash of the definition and base>`` so an edit rebuilds and no edit
reuses; or references pinned by digest (``repo@sha256:...``), used as they are.
"""

from __future__ import annotations

import collections
import hashlib
import os
import re
import shlex
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmbuild.errors import BuildError, ConfigError, ToolchainError

if TYPE_CHECKING:
    from docker import DockerClient

__all__ = [
    "BUILDER_REPO",
    "DEFAULT_BASE",
    "builder_definition_dir",
    "builder_hash",
    "engine_available",
    "ensure_builder",
    "run_stage",
    "stage_environment",
]

DEFAULT_BASE = "debian:bookworm-slim"
BUILDER_REPO = "wasmbuild-builder"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONTAINER_LABEL = "org.wasmbuild.stage"
PID_LABEL = "org.wasmbuild.pid"
TAIL_LINES = 30

Log = Callable[[str], None]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
_ENGINE_HINT = "run scripts/dockerd-up and export the DOCKER_HOST it prints, or set DOCKER_HOST"


def _recipes_dir() -> Path:
    """The recipe library: packaged as wasmbuild/_recipes, or recipes/ in a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_recipes", package.parent / "recipes"):
        if (candidate / "builders").is_dir():
            return candidate
    return package.parent / "recipes"


@contextmanager
def _client() -> Iterator[DockerClient]:
    """A connected client (closed on exit), or a one-line ToolchainError saying how to get one."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ToolchainError("the docker Python package is not installed",
                             hint="pip install docker") from exc
    _probe_unix_socket()
    try:
        client = docker.from_env()
    except DockerException as exc:
        raise ToolchainError(f"no container engine: {_first_line(exc)}", hint=_ENGINE_HINT) from exc
    try:
        try:
            client.ping()
        except Exception as exc:
            raise ToolchainError(f"no container engine answers at {_docker_host()}",
                                 hint=_ENGINE_HINT) from exc
        yield client
    finally:
        client.close()


def _docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _probe_unix_socket() -> None:
    """Fail fast on a dead unix socket before the SDK does: its failed connect leaks the socket."""
    host = _docker_host()
    if not host.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(host[len("unix://"):])
        except OSError as exc:
            raise ToolchainError(f"no container engine answers at {host} ({exc.strerror or exc})",
                                 hint=_ENGINE_HINT) from exc


def engine_available() -> bool:
    """True if ``docker.from_env()`` reaches an engine that answers."""
    try:
        with _client():
            return True
    except ToolchainError:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# ---------------------------------------------------------------------------------------------
# Builders


def builder_definition_dir(builder: str | os.PathLike[str]) -> Path:
    """``recipes/builders/<name>`` for a name, or the given directory holding a Dockerfile."""
    path = Path(builder)
    if path.is_dir():
        if not (path / "Dockerfile").is_file():
            raise ConfigError(f"builder directory {path} has no Dockerfile")
        return path.resolve()
    name = str(builder)
    candidate = _recipes_dir() / "builders" / name
    if re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name) and (candidate / "Dockerfile").is_file():
        return candidate
    known = sorted(p.name for p in (_recipes_dir() / "builders").glob("*/") if p.is_dir())
    raise ConfigError(f"unknown builder {name!r}",
                      hint=f"use one of {', '.join(known) or 'none'}, a directory with a "
                           "Dockerfile, or an image pinned as repo@sha256:<digest>")


def builder_hash(definition_dir: Path, base: str, base_id: str = "") -> str:
    """sha256 over the definition's files (path, exec bit, bytes) and the base image."""
    digest = hashlib.sha256()
    digest.update(f"base\0{base}\0{base_id}\0".encode())
    for path in sorted(p for p in definition_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(definition_dir).as_posix()
        executable = "x" if os.access(path, os.X_OK) else "-"
        data = path.read_bytes()
        digest.update(f"file\0{rel}\0{executable}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def ensure_builder(
    builder: str | os.PathLike[str],
    base: str = DEFAULT_BASE,
    progress: Log | None = None,
) -> str:
    """Return the image id of a builder, building it only when its definition changed.

    ``builder`` is a name under ``recipes/builders/``, a directory with a Dockerfile, or an image
    reference pinned by digest (``repo@sha256:...``, pulled if absent). The Dockerfile gets the
    build arg ``BASE``; it is built with host networking (apt needs the mirror; the engine has no
    bridge). Never pulls the base: ``scripts/make-base-image`` provides ``debian:bookworm-slim``.
    """
    say = progress or (lambda _line: None)
    ref = os.fspath(builder)
    if _PINNED.match(ref):
        return _pinned_image(ref, say)
    if ("@" in ref or ":" in ref) and not Path(ref).is_dir():
        raise ConfigError(f"builder image {ref!r} is not pinned by digest",
                          hint="write it as repo@sha256:<digest> so builds are reproducible")
    definition = builder_definition_dir(ref)
    name = definition.name.lower()
    with _client() as client:
        from docker.errors import ImageNotFound

        try:
            base_id = client.images.get(base).id
        except ImageNotFound as exc:
            hint = ("run scripts/make-base-image" if base == DEFAULT_BASE
                    else f"docker pull or build {base} first")
            raise ToolchainError(f"base image {base} is missing from the engine",
                                 hint=hint) from exc
        tag = f"{BUILDER_REPO}/{name}:{builder_hash(definition, base, base_id)[:20]}"
        try:
            image_id: str = client.images.get(tag).id
            say(f"builder {tag} is up to date")
            return image_id
        except ImageNotFound:
            pass
        say(f"building builder {tag} from {definition}")
        _build(client, definition, tag, base, say)
        image_id = client.images.get(tag).id
        say(f"built builder {tag} ({image_id[:19]})")
        return image_id


def _build(client: DockerClient, context: Path, tag: str, base: str, say: Log) -> None:
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    error = ""
    stream = client.api.build(
        path=str(context), tag=tag, buildargs={"BASE": base}, network_mode="host",
        rm=True, forcerm=True, pull=False, decode=True,
        # No labels=: the engine would add a LABEL step, a full image copy under vfs.
    )
    # Read to the end even after an error: the SDK closes the response only when it is drained.
    for chunk in stream:
        if "error" in chunk and not error:
            detail = chunk.get("errorDetail") or {}
            error = str(detail.get("message") or chunk["error"]).strip() or "unknown error"
        for line in _ANSI.sub("", str(chunk.get("stream", ""))).splitlines():
            if line.strip():
                tail.append(line)
                say(line)
    if error:
        raise BuildError(f"building builder {tag} failed: {error.splitlines()[-1]}",
                         where=str(context / "Dockerfile"), hint="see the build output above")


def _pinned_image(ref: str, say: Log) -> str:
    with _client() as client:
        from docker.errors import APIError, ImageNotFound

        try:
            image_id: str = client.images.get(ref).id
            return image_id
        except ImageNotFound:
            pass
        say(f"pulling {ref}")
        repo, digest = ref.split("@", 1)
        try:
            client.api.pull(repo, tag=digest)
            image_id = client.images.get(ref).id
        except (APIError, ImageNotFound) as exc:
            raise ToolchainError(f"cannot pull builder {ref}: {_first_line(exc)}") from exc
        return image_id


# ---------------------------------------------------------------------------------------------
# Stages


def stage_environment(env: Mapping[str, str], *, image_path: str | None = None) -> dict[str, str]:
    """The complete environment of a stage: its declared variables plus the fixed ones."""
    merged = {
        "SRC": "/src",
        "OUT": "/out",
        "WORK": "/work",
        "HOME": "/work",
        "PATH": image_path or DEFAULT_PATH,
        "SOURCE_DATE_EPOCH": "0",
        "LANG": "C.UTF-8",
    }
    merged.update({str(k): str(v) for k, v in env.items()})
    return merged


def run_stage(
    image: str,
    steps: Sequence[str],
    env: Mapping[str, str],
    src_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    network: bool = False,
    log: Log | None = None,
    *,
    user: str | None = None,
    shell: str = "sh",
) -> None:
    """Run ``steps`` in order in one fresh container of ``image``; stop at the first failure.

    Each step runs as ``<shell> -eu -c STEP`` (``shell`` is ``sh`` or ``bash``) with cwd
    ``/work``; its combined stdout/stderr goes to ``log`` line by line. ``network=False`` gives
    the container no network at all. The container is removed whatever happens, including
    KeyboardInterrupt and SIGTERM. A failing step raises :class:`BuildError` naming the step, its
    exit code and the last line of its output; ``err.output_tail`` holds the last lines.
    """
    if shell not in ("sh", "bash"):
        raise ConfigError(f"unsupported shell {shell!r}", hint="use sh or bash")
    say = log or (lambda _line: None)
    src = Path(src_dir).resolve()
    out = Path(out_dir).resolve()
    if not src.is_dir():
        raise ConfigError(f"stage inputs directory {src} does not exist")
    out.mkdir(parents=True, exist_ok=True)

    with _client() as client:
        from docker.errors import APIError, ImageNotFound

        try:
            config_env = client.images.get(image).attrs.get("Config", {}).get("Env") or []
        except ImageNotFound as exc:
            raise ToolchainError(f"builder image {image} is missing from the engine",
                                 hint="ensure_builder() builds or pulls it") from exc
        image_path = next((e[5:] for e in config_env if e.startswith("PATH=")), None)
        environment = stage_environment(env, image_path=image_path)
        try:
            container = client.containers.create(
                image,
                # A long sleep keeps the container up between steps; each step is an exec.
                # (No init=True: podman needs catatonit for it; sleep dies with the container.)
                command=["sleep", "infinity"],
                entrypoint=[],
                environment=environment,
                working_dir="/work",
                network_mode="host" if network else "none",
                volumes={str(src): {"bind": "/src", "mode": "ro"},
                         str(out): {"bind": "/out", "mode": "rw"}},
                # The pid label tells which process owns a container (tests and cleanup use it).
                labels={CONTAINER_LABEL: "1", PID_LABEL: str(os.getpid())},
                name=f"wasmbuild-stage-{uuid.uuid4().hex[:12]}",
                detach=True,
            )
        except APIError as exc:
            raise ToolchainError(f"the engine refused the stage container: "
                                 f"{_first_line(exc.explanation or exc)}") from exc
        try:
            with _sigterm_as_interrupt():
                try:
                    container.start()
                except APIError as exc:
                    raise ToolchainError(f"the engine cannot start the stage container: "
                                         f"{_first_line(exc.explanation or exc)}") from exc
                if user:
                    # /work is created by the engine and /out by us, both root-owned: hand them
                    # to the stage's user (out_dir is a wasmbuild-owned directory).
                    _run_step(client, container.id, 0, len(steps),
                              f"chown {shlex.quote(user)} /work /out", "sh", "0", say)
                for index, step in enumerate(steps, start=1):
                    _run_step(client, container.id, index, len(steps), step, shell, user, say)
        finally:
            # force=True kills whatever still runs; v=True drops anonymous volumes.
            container.remove(force=True, v=True)


def _run_step(client: DockerClient, container_id: str, index: int, total: int, step: str,
              shell: str, user: str | None, say: Log) -> None:
    # stderr joins stdout inside the container: the engine carries the two streams separately and
    # does not keep their relative order, so a log (and the error's last line) could be shuffled.
    command = [shell, "-c", f'exec 2>&1; exec {shell} -eu -c "$1"', shell, step]
    exec_id = client.api.exec_create(
        container_id, command, stdout=True, stderr=True,
        workdir="/work", user=user or "",
    )["Id"]
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    pending = b""
    for chunk in _exec_output(client, exec_id):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            tail.append(line)
            say(line)
    if pending:
        line = pending.decode("utf-8", "replace")
        tail.append(line)
        say(line)
    code = client.api.exec_inspect(exec_id).get("ExitCode")
    if code != 0:
        last = next((line.strip() for line in reversed(tail) if line.strip()), "no output")
        err = BuildError(
            f"step {index}/{total} `{_summary(step)}` exited with code {code}: {last}",
            hint="the full output is in the log above",
        )
        err.step = step  # type: ignore[attr-defined]
        err.step_exit_code = code  # type: ignore[attr-defined]
        err.output_tail = list(tail)  # type: ignore[attr-defined]
        raise err


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


def _summary(step: str, width: int = 60) -> str:
    text = " ".join(step.split())
    return text if len(text) <= width else text[: width - 3] + "..."


@contextmanager
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
