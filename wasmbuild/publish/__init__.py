"""``publish``: put a built image (a layout + descriptor) somewhere, and say where.

Every destination is a :class:`Publisher`; :func:`publishers` parses ``-t``, ``-o`` and ``--push``
once, before any work is done (an unknown transport fails at once), and returns a
:class:`MultiPublisher`, the way ko composes its publishers:

* ``-t NAME``                        tags in the local store (the default destination)
* ``-o oci:DIR[:TAG]``               an OCI layout directory (created or added to)
* ``-o oci-archive:FILE[:NAME]``     a tar of an OCI layout holding the image
* ``-o docker-archive:FILE[:REF]``   ``docker save`` format, for ``docker load``/``podman load``
* ``-o docker://REF``, ``--push``    a registry (byte for byte, see ``registry.ops``)
* ``-o local:DIR``                   the root filesystem as files (``local.py``), and buildx's
                                     ``type=local,dest=DIR`` spelling of every output

Submodules with heavy imports are imported lazily so CLI start-up stays fast.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import ConfigError
from ..oci import Descriptor
from ..oci.layout import Layout
from ..reference import split_path_name

if TYPE_CHECKING:
    from ..registry.ops import PushStats
    from ..registry.transport import RegistryOptions

TRANSPORTS = ("oci-archive:", "docker-archive:", "oci:", "docker://", "local:")


@dataclass(frozen=True)
class Published:
    """Where an image went: local names and files (``tags``: store tags, ``oci:``, archives,
    ``local:``) and registry references (``pushed``)."""

    tags: tuple[str, ...] = ()
    pushed: tuple[str, ...] = ()

    def __add__(self, other: Published) -> Published:
        return Published(self.tags + other.tags, self.pushed + other.pushed)

    @property
    def places(self) -> tuple[str, ...]:
        return self.tags + self.pushed


class Publisher(Protocol):
    def publish(self, layout: Layout, desc: Descriptor) -> Published:
        """Put image ``desc`` of ``layout`` in place; return where it went."""


def _reference(text: str) -> str:
    from ..reference import parse

    return str(parse(text))


@dataclass(frozen=True)
class StorePublisher:
    """Tags in the local store (blobs are copied in first if the image was built elsewhere).
    A build passes the one store object it wrote (``BuildOptions.store``): then it only tags."""

    store: Layout
    names: Sequence[str]

    def publish(self, layout: Layout, desc: Descriptor) -> Published:
        if layout is not self.store:
            with self.store.writing():
                self.store.copy_from(layout, desc)
                for name in self.names:
                    self.store.tag(name, desc)
        else:
            for name in self.names:
                self.store.tag(name, desc)
        return Published(tags=tuple(self.names))


@dataclass(frozen=True)
class LayoutPublisher:
    """``oci:DIR[:TAG]``: without ``:TAG`` the image keeps the tag part of each of its names
    (skopeo's ``oci:DIR:TAG`` convention). A directory created here is removed on failure."""

    path: Path
    tags: Sequence[str]

    def publish(self, layout: Layout, desc: Descriptor) -> Published:
        created = not self.path.exists()
        try:
            target = Layout(self.path).init()
            target.copy_from(layout, desc)
            for tag in self.tags:
                target.tag(tag, desc)
        except BaseException:
            if created:  # leave nothing half-written behind
                shutil.rmtree(self.path, ignore_errors=True)
            raise
        return Published(tags=tuple(f"oci:{self.path}:{tag}" for tag in self.tags))


@dataclass(frozen=True)
class ArchivePublisher:
    """``oci-archive:FILE`` or ``docker-archive:FILE`` (deterministic, written atomically)."""

    kind: str
    path: Path
    names: Sequence[str]  # full references, e.g. hello-wasm:latest

    def publish(self, layout: Layout, desc: Descriptor) -> Published:
        from .archive import write_docker_archive, write_oci_archive
        from .referrers import local_referrers

        if self.kind == "oci-archive":
            # A full reference as the ref name: `podman load` names the image after it (a bare
            # tag would become "localhost/latest:latest").
            name = self.names[0] if self.names else None
            written = write_oci_archive(self.path, layout, desc, tag=name, referrers=local_referrers(layout, desc))
            return Published(tags=(f"oci-archive:{written}",))
        written = write_docker_archive(self.path, layout, desc, repo_tags=list(self.names))
        return Published(tags=(f"docker-archive:{written}",))


@dataclass
class RegistryPublisher:
    ref: str
    opts: RegistryOptions | None = None
    stats: PushStats | None = None

    def publish(self, layout: Layout, desc: Descriptor) -> Published:
        from ..oci.preflight import for_image, warn
        from ..registry.ops import PushStats, push

        findings = for_image(layout, desc)  # the traps this image's consumers will meet
        self.stats = self.stats or PushStats()
        pushed = push(layout, desc, self.ref, self.opts, stats=self.stats)
        warn(findings)  # after the push succeeded: a failed push stays one line
        return Published(pushed=(pushed,))


@dataclass
class MultiPublisher:
    publishers: list[Publisher] = field(default_factory=list)

    def publish(self, layout: Layout, desc: Descriptor) -> Published:
        """Publish everywhere, in order; returns where the image went."""
        done = Published()
        for p in self.publishers:
            done += p.publish(layout, desc)
        return done


def output_publisher(output: str, names: Sequence[str], opts: RegistryOptions | None = None) -> Publisher:
    """The publisher for one ``-o`` value; ``names`` are the image's references."""
    from ..reference import parse
    from .local import LocalPublisher, from_buildx

    output = from_buildx(output)

    def need_path(path: str) -> Path:
        if not path:
            raise ConfigError(f"output {output!r} names no path", hint="e.g. oci-archive:out.tar")
        return Path(path)

    if output.startswith("oci-archive:"):
        path, name = split_path_name(output.removeprefix("oci-archive:"))
        return ArchivePublisher("oci-archive", need_path(path), [name] if name else list(names[:1]))
    if output.startswith("docker-archive:"):
        path, name = split_path_name(output.removeprefix("docker-archive:"))
        refs = [_docker_tag(name)] if name else [_docker_tag(n) for n in names]
        return ArchivePublisher("docker-archive", need_path(path), refs)
    if output.startswith("oci:"):
        path, name = split_path_name(output.removeprefix("oci:"))
        tags = [name] if name else sorted({parse(n).tag or "latest" for n in names}) or ["latest"]
        return LayoutPublisher(need_path(path), tags)
    if output.startswith("docker://"):
        return RegistryPublisher(output.removeprefix("docker://"), opts)
    if output.startswith("local:"):
        return LocalPublisher(need_path(output.removeprefix("local:")))
    raise ConfigError(f"unknown output {output!r}",
                      hint="use oci:DIR, oci-archive:FILE, docker-archive:FILE, docker://REGISTRY/NAME:TAG "
                           "or local:DIR")


def _docker_tag(text: str) -> str:
    from ..reference import parse

    r = parse(text)
    return f"{r.name}:{r.tag or 'latest'}"


def publishers(*, names: Sequence[str], outputs: Sequence[str] = (), push: Sequence[str] = (),
               store: Layout | None = None, opts: RegistryOptions | None = None) -> MultiPublisher:
    """All destinations of one build: each ``-o``, each ``--push`` reference, and the store tags
    when no ``-o`` is given (as ``docker buildx build`` loads into the local image store)."""
    refs = [_reference(n) for n in names]
    multi = MultiPublisher([output_publisher(o, refs, opts) for o in outputs])
    multi.publishers += [RegistryPublisher(r, opts) for r in push]
    if not outputs and store is not None:
        multi.publishers.insert(0, StorePublisher(store, refs))
    return multi
