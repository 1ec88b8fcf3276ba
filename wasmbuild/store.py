"""The local image store: one OCI image layout under a per-user data directory.

Tags are normalised image references (``hello`` -> ``hello:latest``). ``WASMBUILD_STORE``
overrides the location (tests and CI use it to isolate runs).
"""

from __future__ import annotations

from pathlib import Path

from wasmbuild import reference
from wasmbuild.oci import Descriptor
from wasmbuild.oci.layout import Layout


def store_path() -> Path:
    from wasmbuild.dirs import store_dir

    return store_dir()


def open_store(path: Path | None = None) -> Layout:
    return Layout(path or store_path()).init()


def normalize_tag(text: str) -> str:
    """The store's key for a user-written image name."""
    return str(reference.parse(text))


def tag_all(store: Layout, desc: Descriptor, tags: list[str]) -> list[str]:
    """Tag ``desc`` in the store under each of ``tags`` (normalised); returns the names."""
    names = [normalize_tag(t) for t in tags]
    for name in names:
        store.tag(name, desc)
    return names
