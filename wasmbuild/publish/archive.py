"""Write an image as a tarball: ``oci-archive:FILE`` or ``docker-archive:FILE``.

Both are deterministic (sorted entries, mtime 0, uid/gid 0, fixed modes) and atomic (a temp file
in the target directory, renamed into place). Blobs are streamed, never read whole.

``docker-archive`` is the ``docker save`` format -- ``manifest.json`` naming the config and the
layer files -- and, like ``docker save`` since Docker 25, the same tar is also an OCI layout
(``oci-layout``, ``index.json``, ``blobs/sha256/...``). Layers stay gzip-compressed: ``docker
load`` decompresses them and checks them against the config's ``rootfs.diff_ids``.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from wasmbuild.errors import ConfigError, ImageNotFound
from wasmbuild.fsutil import atomic_writer
from wasmbuild.oci import MEDIA_INDEX, REF_NAME, Descriptor
from wasmbuild.oci.graph import walk
from wasmbuild.oci.layout import Layout


def _info(name: str, size: int = 0, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


class _TarWriter:
    """Collects entries, then writes them sorted by name."""

    def __init__(self) -> None:
        self.entries: dict[str, bytes | Path] = {}

    def add_bytes(self, name: str, data: bytes) -> None:
        self.entries[name] = data

    def add_file(self, name: str, path: Path) -> None:
        self.entries[name] = path

    def write(self, fh: IO[bytes]) -> None:
        dirs: set[str] = set()
        for name in self.entries:
            parts = name.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
        names = sorted([*dirs, *self.entries])
        with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in names:
                if name.endswith("/"):
                    tar.addfile(_info(name.rstrip("/"), directory=True))
                    continue
                src = self.entries[name]
                if isinstance(src, bytes):
                    tar.addfile(_info(name, len(src)), io.BytesIO(src))
                else:
                    with open(src, "rb") as blob:
                        tar.addfile(_info(name, src.stat().st_size), blob)


def _blob_name(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"blobs/{algo}/{hexpart}"


def _collect(layout: Layout, desc: Descriptor, out: _TarWriter) -> None:
    """Add ``desc`` and everything it references as blobs (manifests verified, blobs streamed)."""
    for d in walk(desc, layout.read_json):
        path = layout.blob_path(d.digest)
        if not path.is_file():
            raise ImageNotFound(f"blob {d.digest} is missing from {layout.path}")
        out.add_file(_blob_name(d.digest), path)


def _layout_files(out: _TarWriter, desc: Descriptor, ref_name: str | None) -> None:
    annotations = {k: v for k, v in desc.annotations.items() if k != REF_NAME}
    if ref_name:
        annotations[REF_NAME] = ref_name
    entry = desc.with_annotations(annotations)
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [entry.to_json()]}
    out.add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    out.add_bytes("index.json", json.dumps(index, sort_keys=True).encode())


def _write(path: Path, out: _TarWriter) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"cannot write archive {path}: it is a directory",
                          hint="name a file, e.g. oci-archive:image.tar")
    try:
        with atomic_writer(path) as fh:
            out.write(fh)
    except OSError as exc:
        raise ConfigError(f"cannot write archive {path}: {exc.strerror or exc}",
                          hint="name a file in a writable directory") from None
    return path


def write_oci_archive(
    path: Path | str, layout: Layout, desc: Descriptor, *, tag: str | None = None,
    referrers: Sequence[Descriptor] = (),
) -> Path:
    """Write ``desc`` (a manifest or an index) as a tar of an OCI layout holding only it.

    ``tag`` becomes the ``org.opencontainers.image.ref.name`` of the one index entry. The
    artifact manifests ``referrers`` (its SBOM, provenance) go in ``blobs/`` unlisted, as in an
    ``oci:DIR`` output: ``index.json`` keeps its one entry, which ``podman load`` and ``ctr
    import`` take for the image.
    """
    out = _TarWriter()
    _collect(layout, desc, out)
    for d in referrers:
        _collect(layout, d, out)
    _layout_files(out, desc, tag)
    return _write(Path(path), out)


def write_docker_archive(
    path: Path | str, layout: Layout, desc: Descriptor, *, repo_tags: list[str] | None = None
) -> Path:
    """Write ``desc`` in ``docker save`` format (loadable by ``docker load``).

    ``repo_tags`` are full references (``name:tag``) recorded in ``manifest.json``.
    """
    mdesc, manifest = layout.image(desc)
    from wasmbuild.oci.targets import shape_of

    shape = shape_of(manifest, mdesc.platform)
    if shape is not None and not shape.tar_layers_only:
        raise ConfigError(f"docker-archive holds container images, and target {shape.name} has layers "
                          "docker load cannot unpack (a raw Wasm module)",
                          hint="write it with -o oci-archive:FILE or oci:DIR, or push it")
    out = _TarWriter()
    _collect(layout, mdesc, out)
    config = _blob_name(manifest["config"]["digest"])
    layers = [_blob_name(layer["digest"]) for layer in manifest.get("layers") or []]
    entry = {"Config": config, "RepoTags": list(repo_tags or []), "Layers": layers}
    out.add_bytes("manifest.json", json.dumps([entry], sort_keys=True).encode())
    _layout_files(out, mdesc, repo_tags[0] if repo_tags else None)
    return _write(Path(path), out)
