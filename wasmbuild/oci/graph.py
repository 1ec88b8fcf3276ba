"""Walking OCI content graphs: an index's manifests, a manifest's config and layers.

One set of rules for every reader (store, layouts, archives, registries, ``run``): what counts as
an index, which children a document has, and which entry of an index is the Wasm one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..errors import StoreError
from . import MEDIA_INDEX, Descriptor

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (MEDIA_INDEX, DOCKER_LIST)
#: Operating systems of Wasm images: the seed's and Docker's ``wasi``, OCI/Go's ``wasip1``, and
#: ``wasip2`` for components.
WASI_OSES = ("wasi", "wasip1", "wasip2")
WASM_ARCHES = ("wasm", "wasm32", "wasm64")


def is_index(desc: Descriptor, doc: Any) -> bool:
    return desc.media_type in INDEX_TYPES or (isinstance(doc, dict) and doc.get("mediaType") in INDEX_TYPES)


def children(desc: Descriptor, doc: Any) -> list[Descriptor]:
    """The descriptors ``doc`` points down to: an index's manifests, a manifest's config and
    layers (never its ``subject``, which points up)."""
    if not isinstance(doc, dict):
        raise StoreError(f"{desc.digest} is not a manifest or an index (not a JSON object)")
    if is_index(desc, doc):
        below = doc.get("manifests") or []
        return [Descriptor.from_json(m) for m in (below if isinstance(below, list) else [below])]
    found = [doc["config"]] if "config" in doc else []
    layers = doc.get("layers") or []
    found += layers if isinstance(layers, list) else [layers]
    return [Descriptor.from_json(d) for d in found]


def image_children(desc: Descriptor, doc: Any) -> list[Descriptor]:
    """:func:`children` of a document read from a store or a registry, which must be an index,
    or a manifest with a config; its annotations, if any, a mapping. StoreError otherwise (the
    caller says where the document came from)."""
    below = children(desc, doc)
    if not is_index(desc, doc) and not isinstance(doc.get("config"), dict):
        raise StoreError("it has no config")
    if not isinstance(doc.get("annotations") or {}, dict):
        raise StoreError("its annotations are not a mapping")
    return below


def is_document(desc: Descriptor) -> bool:
    """Whether ``desc`` is a manifest or an index (JSON with children), not a blob."""
    return "manifest" in desc.media_type or "index" in desc.media_type


def walk(desc: Descriptor, read_json: Callable[[str], Any]) -> Iterator[Descriptor]:
    """Every descriptor under ``desc`` and ``desc`` itself, children before their parent (the
    order a push or a copy needs: a manifest never lands before what it references)."""
    seen: set[str] = set()

    def visit(d: Descriptor) -> Iterator[Descriptor]:
        if d.digest in seen:
            return
        seen.add(d.digest)
        if is_document(d):
            doc = read_json(d.digest)
            if isinstance(doc, dict):
                for child in children(d, doc):
                    yield from visit(child)
        yield d

    yield from visit(desc)


def platform_text(desc: Descriptor) -> str:
    plat = desc.platform or {}
    text = f"{plat.get('os', '?')}/{plat.get('architecture', '?')}"
    return text + (f"/{plat['variant']}" if plat.get("variant") else "")


def pick_wasi(entries: list[Descriptor]) -> Descriptor | None:
    """The Wasm entry of an index: an entry whose platform has a WASI ``os`` and a Wasm
    architecture (the first such entry in the index's order, as containerd resolves), or else
    any entry with a WASI ``os``. None if the index has no Wasm entry."""
    for strict in (True, False):
        for d in entries:
            plat = d.platform or {}
            if plat.get("os") in WASI_OSES and (not strict or plat.get("architecture") in WASM_ARCHES):
                return d
    return None
