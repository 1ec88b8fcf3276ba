"""Publish a build's referrers (SBOM, provenance) wherever its image went.

Runs after the image itself is published: an ``oci:DIR`` output gets the artifact manifests in
``blobs/``, unlisted (``index.json`` keeps its one image, which podman, skopeo, buildah, umoci and
containerd need; readers find them by ``subject``, ``oci/referrers.scan``), a registry gets
them through its referrers API or the fallback tag (``registry/referrers.py``), and the store
already has them (the build wrote them there). An ``oci-archive:`` gets them unlisted as it is
written (``ArchivePublisher``); a ``docker-archive:`` carries none.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..oci import Descriptor
from ..oci.layout import Layout
from ..oci.referrers import copy_referrers, image_manifests, referrers
from . import LayoutPublisher, MultiPublisher, RegistryPublisher, StorePublisher


def local_referrers(layout: Layout, desc: Descriptor) -> list[Descriptor]:
    """The referrers ``layout`` holds for every image manifest under ``desc``."""
    found: list[Descriptor] = []
    for manifest in image_manifests(desc, layout.read_json):
        found += referrers(layout, manifest.digest)
    return found


def publish_referrers(multi: MultiPublisher, layout: Layout, attached: Sequence[Descriptor]) -> list[str]:
    """Copy or push ``attached`` (artifact manifests in ``layout``) to every destination of
    ``multi`` that keeps referrers; returns where they went (layout paths, registry refs)."""
    where: list[str] = []
    if not attached:
        return where
    for p in multi.publishers:
        if isinstance(p, LayoutPublisher):
            copy_referrers(layout, Layout(p.path), attached, listed=False)
            where.append(f"oci:{p.path}")
        elif isinstance(p, StorePublisher) and p.store is not layout:  # the build wrote them there
            with p.store.writing():
                copy_referrers(layout, p.store, attached)
            where.append("store")
        elif isinstance(p, RegistryPublisher):
            from ..oci.preflight import for_referrers, warn
            from ..registry.referrers import push_referrers

            done = push_referrers(layout, attached, p.ref, p.opts, stats=p.stats)
            warn(for_referrers(done["registry"], done["fallback"]))
            where.append(p.ref)
    return where

