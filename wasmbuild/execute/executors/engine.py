"""The container engine and builder images, through the Docker API (docker SDK).

Engines: anything ``docker.from_env()`` reaches, i.e. ``DOCKER_HOST`` -- a local socket, or a
remote engine over ``tcp://`` or ``ssh://`` (nothing here assumes the engine shares this machine's
filesystem) -- or podman's API socket (``podman system service``). ``scripts/dockerd-up`` starts a
bridge-less dockerd, so a stage's network is either ``none`` or ``host``.

Builders are Dockerfiles under ``recipes/builders/<name>/``, tagged
``wasmbuild-builder/<name>:<hash of the definition and base>`` so an edit rebuilds and no edit
reuses; or references pinned by digest (``repo@sha256:...``), used as they are.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import os
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from wasmbuild.errors import BuildError, ConfigError, ToolchainError

if TYPE_CHECKING:
    from docker import DockerClient

__all__ = [
    "BUILDER_REPO",
    "DEFAULT_BASE",
    "builder_base",
    "builder_definition_dir",
    "builder_hash",
    "builder_image",
    "connect",
    "engine_available",
    "ensure_builder",
    "toolchain_env",
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
    from ...render.recipes import library_dir

    return library_dir()


@contextmanager
def connect() -> Iterator[DockerClient]:
    """A connected client (closed on exit), or a one-line ToolchainError saying how to get one."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ToolchainError("the docker Python package is not installed",
                             hint="pip install docker") from exc
    _probe_unix_socket()
    try:
        docker_client = docker.from_env()
    except DockerException as exc:
        raise ToolchainError(f"no container engine: {_first_line(exc)}", hint=_ENGINE_HINT) from exc
    try:
        try:
            docker_client.ping()
        except Exception as exc:
            raise ToolchainError(f"no container engine answers at {_docker_host()}",
                                 hint=_ENGINE_HINT) from exc
        yield docker_client
    finally:
        docker_client.close()


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
        with connect():
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
    with connect() as client:
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
    with connect() as client:
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



def builder_base() -> str:
    return os.environ.get("WASMBUILD_BUILDER_BASE", DEFAULT_BASE)


@functools.cache
def builder_image(builder: str, base: str) -> str:
    """The image id of ``builder`` on ``base`` (built or pulled once per process)."""
    return ensure_builder(builder, base=base)


def toolchain_env(builder: str) -> dict[str, str]:
    """The builder's toolchain variables (``recipes/builders/NAME/toolchain.env``), which let the
    `rust` and `c` recipes run unchanged inside it. A pinned image has none."""
    if _PINNED.match(builder):
        return {}
    path = builder_definition_dir(builder) / "toolchain.env"
    env: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                env[key.strip()] = value.strip()
    return env
