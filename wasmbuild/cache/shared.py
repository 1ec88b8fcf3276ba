"""``--cache-to`` / ``--cache-from``: share stage cache entries through any OCI registry.

The layout half is :mod:`wasmbuild.cache_oci`; the transfer is the same publish code as
``wasmbuild push`` (:mod:`wasmbuild.publish.registry`). No cache server of our own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from wasmbuild.cache.artifact import export_to_layout, import_from_layout
from wasmbuild.cache.stages import StageCache
from wasmbuild.errors import ImageNotFound, RegistryError
from wasmbuild.oci.layout import Layout
from wasmbuild.registry.ops import pull_tree, push
from wasmbuild.registry.transport import RegistryOptions


def import_from(ref: str, cache: StageCache, opts: RegistryOptions) -> tuple[list[str], str | None]:
    """Pull the cache index at ``ref`` into ``cache``. A missing ref is not an error (first run):
    returns ([], reason)."""
    with tempfile.TemporaryDirectory(prefix="wasmbuild-cache-from-") as tmp:
        layout = Layout(Path(tmp)).init()
        try:
            desc = pull_tree(ref, layout, opts)
        except (ImageNotFound, RegistryError) as exc:
            if "404" in str(exc) or "not found" in str(exc).lower() or "MANIFEST_UNKNOWN" in str(exc):
                return [], f"no shared cache at {ref} yet"
            raise
        return import_from_layout(layout, desc, cache), None


def export_to(ref: str, cache: StageCache, keys: Iterable[str], opts: RegistryOptions) -> str:
    """Push the entries ``keys`` as an artifact index tagged ``ref``; returns name@digest."""
    with tempfile.TemporaryDirectory(prefix="wasmbuild-cache-to-") as tmp:
        layout = Layout(Path(tmp)).init()
        desc = export_to_layout(cache, keys, layout)
        return push(layout, desc, ref, opts)
