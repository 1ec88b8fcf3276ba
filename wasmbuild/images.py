"""Naming images on the command line, the same way for every command (``run``, ``push``,
``inspect``, ``pull --output``...):

* ``NAME[:TAG]`` or ``sha256:...``   the local store
* ``oci:DIR[:TAG]``                   an OCI image layout directory
* ``oci-archive:FILE[:NAME]``         a tar of an OCI layout (as ``-o oci-archive:`` writes)
* ``docker-archive:FILE[:NAME]``      a ``docker save`` tar that is an OCI layout too (what
                                      ``-o docker-archive:`` and Docker 25+ write)
* ``docker://REF`` or ``HOST/NAME``   a registry (when the name is not in the store)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, ImageNotFound
from .oci import Descriptor
from .oci.layout import Layout
from .reference import parse, split_path_name
from .store import normalize_tag, open_store

LOCAL_TRANSPORTS = ("oci:", "oci-archive:", "docker-archive:")


@dataclass(frozen=True)
class Located:
    layout: Layout
    desc: Descriptor
    source: str  # "store", "oci", "oci-archive" or "registry"
    name: str  # what the image is called there (tag, digest or reference)


def registry_ref(text: str) -> str | None:
    """The registry reference ``text`` names, if it names one (``docker://`` or ``host/name``)."""
    if text.startswith("docker://"):
        return text.removeprefix("docker://")
    if text.startswith(LOCAL_TRANSPORTS) or text.startswith("sha256:"):
        return None
    try:
        ref = parse(text)
    except ConfigError:
        return None
    return text if ref.registry else None


@contextlib.contextmanager
def local(text: str, store: Layout | None = None) -> Iterator[Located]:
    """The image ``text`` names in the store, a layout or an archive (an archive is unpacked into
    a temporary layout that lives as long as the block). Raises :class:`ImageNotFound`."""
    if text.startswith("oci:"):
        path, tag = split_path_name(text.removeprefix("oci:"))
        layout = Layout(path)
        yield Located(layout, layout.resolve(tag), "oci", tag or "")
        return
    if text.startswith(("oci-archive:", "docker-archive:")):
        kind, rest = text.split(":", 1)
        path, name = split_path_name(rest)
        import tempfile  # here: `run IMAGE`'s start does not pay for it

        with tempfile.TemporaryDirectory(prefix="wasmbuild-archive-") as tmp:
            layout = _unpack_archive(Path(path), Path(tmp), kind)
            yield Located(layout, layout.resolve(name), kind, name or "")
        return
    store = store or open_store()
    if text.startswith("sha256:"):
        yield Located(store, store.resolve(text), "store", text)
        return
    try:
        key = normalize_tag(text.removeprefix("docker://"))
        yield Located(store, store.resolve(key), "store", key)
    except ImageNotFound:
        raise ImageNotFound(
            f"no image {text!r} in the local store ({store.path})",
            hint="build it with `wasmbuild build`, pull it, or list images with `wasmbuild images`",
        ) from None


def _unpack_archive(path: Path, dest: Path, kind: str = "oci-archive") -> Layout:
    import tarfile
    import zlib

    from . import tarsafe

    try:
        found = path.is_file()
    except OSError:  # e.g. a name too long
        found = False
    if not found:
        raise ImageNotFound(f"no archive at {path}", hint=f"give the path of a .tar written by -o {kind}:")
    try:
        with tarfile.open(path) as tar:
            tarsafe.extractall(tar, dest, "data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ImageNotFound(f"{path} is not a readable OCI archive: {first}") from None
    layout = Layout(dest)
    if not layout.exists():
        if kind == "docker-archive" and (dest / "manifest.json").is_file():
            raise ImageNotFound(f"{path} is a `docker save` archive without an OCI layout (Docker before 25)",
                                hint=f"convert it: skopeo copy docker-archive:{path} oci-archive:OUT.tar")
        raise ImageNotFound(f"{path} holds no OCI image layout (no oci-layout/index.json)")
    return layout
