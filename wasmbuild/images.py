"""Naming images on the command line: a store tag, a digest, or ``oci:DIR[:TAG]``."""

from __future__ import annotations

from pathlib import Path

from .errors import ImageNotFound
from .oci import Descriptor
from .oci.layout import Layout
from .store import normalize_tag, open_store


def split_oci(text: str) -> tuple[Path, str | None]:
    """``oci:DIR[:TAG]`` -> (DIR, TAG). A colon followed by a path separator is part of DIR."""
    body = text.split(":", 1)[1]
    head, sep, tail = body.rpartition(":")
    if sep and head and "/" not in tail:
        return Path(head), tail
    return Path(body), None


def resolve_local(text: str) -> tuple[Layout, Descriptor]:
    """Find an image in an OCI layout (``oci:DIR[:TAG]``) or the local store."""
    if text.startswith("oci:"):
        path, tag = split_oci(text)
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
