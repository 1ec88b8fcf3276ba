"""Naming images on the command line: a store tag, a digest, or ``oci:DIR[:TAG]``."""

from __future__ import annotations

from .errors import ImageNotFound
from .oci import Descriptor
from .oci.layout import Layout
from .store import normalize_tag, open_store


def split_path_name(rest: str) -> tuple[str, str | None]:
    """``PATH[:NAME]`` split at the first colon, as skopeo does for oci:/oci-archive:/docker-archive:."""
    path, sep, name = rest.partition(":")
    return path, (name if sep and name else None)


def resolve_local(text: str) -> tuple[Layout, Descriptor]:
    """Find an image in an OCI layout (``oci:DIR[:TAG]``) or the local store."""
    if text.startswith("oci:"):
        path, tag = split_path_name(text.removeprefix("oci:"))
        return Layout(path), Layout(path).resolve(tag)
    store = open_store()
    if text.startswith("sha256:"):
        return store, store.resolve(text)
    try:
        return store, store.resolve(normalize_tag(text))
    except ImageNotFound:
        raise ImageNotFound(
            f"no image {text!r} in the local store ({store.path})",
            hint="build it with `wasmbuild build`, pull it, or list images with `wasmbuild images`",
        ) from None
