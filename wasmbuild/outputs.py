"""Where a built image goes: tags in the local store (default) or ``oci:DIR[:TAG]``.

Archives (``oci-archive:``, ``docker-archive:``) and registries are publishers in
``wasmbuild.publish``; this module hands those over.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import reference
from .errors import ConfigError
from .images import split_oci
from .oci import Descriptor
from .oci.layout import Layout
from .store import normalize_tag


def _blobs(layout: Layout, desc: Descriptor) -> list[str]:
    manifest = layout.read_json(desc.digest)
    return [desc.digest, manifest["config"]["digest"], *(d["digest"] for d in manifest["layers"])]


def tag_in_store(store: Layout, desc: Descriptor, tags: list[str]) -> list[str]:
    names = [normalize_tag(t) for t in tags]
    for name in names:
        store.tag(name, desc)
    return names


def write_oci_dir(store: Layout, desc: Descriptor, target: str, tags: list[str]) -> list[str]:
    """Copy the image into an OCI layout at ``oci:DIR[:TAG]``; returns the ref names used."""
    path, explicit = split_oci(target)
    names = [explicit] if explicit else sorted({reference.parse(t).tag or "latest" for t in tags})
    names = names or ["latest"]
    created = not path.exists()
    try:
        dest = Layout(path).init()
        for digest in _blobs(store, desc):
            dest.copy_blob_from(store, digest)
        for name in names:
            dest.tag(name, desc)
    except BaseException:
        if created:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return [f"oci:{path}:{n}" for n in names]


def write_output(output: str, store: Layout, desc: Descriptor, tags: list[str]) -> list[str]:
    """Publish ``desc`` to ``output``; returns human-readable names of what was written."""
    if output.startswith("oci:"):
        return write_oci_dir(store, desc, output, tags)
    if output.startswith(("oci-archive:", "docker-archive:")):
        from .publish import archive

        kind, _, file = output.partition(":")
        archive.write_archive(kind, Path(file), store, desc, tags)
        return [output]
    raise ConfigError(
        f"unknown output {output!r}",
        hint="use oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE (or omit for the store)",
    )
