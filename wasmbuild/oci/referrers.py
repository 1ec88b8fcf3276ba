"""OCI 1.1 referrers in a layout: documents about an image (SBOM, provenance) that point *up* at it.

Each document is an artifact manifest (image-spec 1.1 ``manifest.md``: ``artifactType``, the empty
config, one layer holding the document, ``subject`` = the image manifest). Nothing about the image
changes -- its manifest, its digest and any index that lists it stay byte for byte the same -- and
the documents never become entries of an image index: buildx's attestation entries
(``unknown/unknown``) break Wasm pulls ("no match for platform", deislabs/containerd-wasm-shims#139).

A layout has no referrers API. Two ways of keeping them, chosen by who reads the layout:

* **listed** (the local store): the distribution spec's fallback tag scheme (``spec.md``,
  "Referrers Tag Schema"), the tag ``sha256-<hex of the subject>`` naming an image index of the
  subject's referrers. The tag is what keeps them from ``gc``, and reading it costs one file; a
  registry without the referrers API gets the same tag.
* **unlisted** (``-o oci:DIR``, ``pull --output oci:DIR``): the artifact manifests and their
  blobs are in ``blobs/`` but not in ``index.json``, which then holds exactly one entry, the image.
  skopeo, podman, buildah, umoci and containerd take every ``index.json`` entry for an image
  ("more than one image in oci, choose an image"); the image layout spec lets blobs live without
  an entry, and oras finds referrers in a layout the same way: by the ``subject`` of the
  manifests in ``blobs/`` (:func:`scan`).

:func:`referrers` reads both: the fallback tag where the layout has one, else the subject scan.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import MEDIA_INDEX, MEDIA_MANIFEST, REF_NAME, REFERRERS_TAG, TITLE, Descriptor, sha256_digest
from .graph import INDEX_TYPES, children, is_index
from .layout import Layout

ARTIFACT_SPDX = "application/spdx+json"
ARTIFACT_CYCLONEDX = "application/vnd.cyclonedx+json"
ARTIFACT_INTOTO = "application/vnd.in-toto+json"
SBOM_TYPES = (ARTIFACT_SPDX, ARTIFACT_CYCLONEDX)
MEDIA_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
CREATED = "org.opencontainers.image.created"
#: buildx and cosign name an in-toto layer's predicate with this annotation.
PREDICATE_TYPE = "in-toto.io/predicate-type"
#: Marks the documents wasmbuild attaches: a newer one of the same artifact type replaces it in a
#: referrers list wasmbuild keeps (layouts, fallback tags); documents of other tools stay.
KIND = "dev.wasmbuild.document"


@dataclass(frozen=True)
class Document:
    """One document to attach: its artifact type, bytes, file name and layer annotations."""

    artifact_type: str
    data: bytes
    title: str
    annotations: dict[str, str] = field(default_factory=dict)
    #: The layer's media type (default: the artifact type, as for SBOMs; precompiled code says
    #: how its blob is compressed).
    media_type: str | None = None
    #: Annotations of the artifact manifest itself: a referrers list repeats them, so a consumer
    #: can choose a referrer without fetching it (precompiled code: target and engine key).
    manifest_annotations: dict[str, str] = field(default_factory=dict)


def fallback_tag(digest: str) -> str:
    """The referrers tag of ``digest`` (``sha256:abc...`` -> ``sha256-abc...``)."""
    algo, _, hexpart = digest.partition(":")
    return f"{algo}-{hexpart}"[:128]


def is_fallback_tag(name: str) -> bool:
    return bool(REFERRERS_TAG.match(name))


def artifact_manifest(subject: Descriptor, doc: Document, layer: Descriptor, created: str) -> dict[str, Any]:
    """The artifact manifest of ``doc`` (whose blob is ``layer``) referring to ``subject``."""
    layer_json = layer.to_json()
    layer_json["annotations"] = {TITLE: doc.title, **doc.annotations}
    return {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "artifactType": doc.artifact_type,
        "config": {"mediaType": MEDIA_EMPTY, "digest": EMPTY_DIGEST, "size": len(EMPTY)},
        "layers": [layer_json],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": {CREATED: created, KIND: doc.title, **doc.manifest_annotations},
    }


def referrer_descriptor(desc: Descriptor, manifest: dict[str, Any]) -> Descriptor:
    """How a referrers list names the artifact manifest ``manifest`` (artifactType, annotations)."""
    return Descriptor(MEDIA_MANIFEST, desc.digest, desc.size,
                      dict(manifest.get("annotations") or {}), None,
                      manifest.get("artifactType") or (manifest.get("config") or {}).get("mediaType"))


def subject_of(manifest: dict[str, Any]) -> str | None:
    subject = manifest.get("subject")
    return str(subject["digest"]) if isinstance(subject, dict) and subject.get("digest") else None


def merged(current: Sequence[Descriptor], new: Sequence[Descriptor]) -> list[Descriptor]:
    """``current`` and ``new`` once each, in a stable order (so the same referrers give the same
    index bytes wherever they are written); a document wasmbuild attached earlier gives way to a
    new one of the same kind (``KIND``)."""
    fresh = {d.digest for d in new}
    replaced = {(d.artifact_type, d.annotations.get(KIND)) for d in new if d.annotations.get(KIND)}
    by_digest = {d.digest: d for d in current
                 if d.digest in fresh or (d.artifact_type, d.annotations.get(KIND)) not in replaced}
    for d in new:
        by_digest.setdefault(d.digest, d)
    return sorted(by_digest.values(), key=lambda d: (d.artifact_type or "", d.digest))


def merged_index(descs: Iterable[Descriptor]) -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [d.to_json() for d in descs]}


def attach(layout: Layout, subject: Descriptor, docs: Sequence[Document], created: str) -> list[Descriptor]:
    """Write each of ``docs`` into ``layout`` as an artifact manifest whose subject is ``subject``
    and list them under the subject's fallback tag. Returns their referrer descriptors."""
    layout.write_blob(EMPTY)
    out: list[Descriptor] = []
    for doc in docs:
        blob = Descriptor(doc.media_type or doc.artifact_type, layout.write_blob(doc.data), len(doc.data))
        manifest = artifact_manifest(subject, doc, blob, created)
        out.append(referrer_descriptor(layout.write_json(manifest, MEDIA_MANIFEST), manifest))
    add_referrers(layout, subject.digest, out)
    return out


def add_referrers(layout: Layout, subject: str, descs: Sequence[Descriptor]) -> bool:
    """Merge ``descs`` into the referrers index of ``subject`` in ``layout``; False if it already
    listed them all (nothing written)."""
    if not descs:
        return False
    tag = fallback_tag(subject)
    with layout.locked():
        # Read and replace under one lock: two builds attaching to one image must not lose a list.
        entries = layout._read_index().get("manifests") or []
        old = next((Descriptor.from_json(m) for m in entries
                    if (m.get("annotations") or {}).get(REF_NAME) == tag), None)
        current = referrers_in(layout, old) if old is not None else []
        after = merged(current, descs)
        if [d.digest for d in after] == [d.digest for d in current]:
            return False
        index = merged_index(after)
        desc = layout.write_json(index, MEDIA_INDEX).with_annotations({REF_NAME: tag})
        kept = [m for m in entries if (m.get("annotations") or {}).get(REF_NAME) != tag]
        layout._init_skeleton()
        layout._write_index([*kept, desc.to_json()])
    return True


def referrers_in(layout: Layout, index: Descriptor) -> list[Descriptor]:
    doc = layout.read_json(index.digest)
    return [Descriptor.from_json(m) for m in (doc.get("manifests") or [])] if isinstance(doc, dict) else []


def referrers(layout: Layout, subject: str, artifact_type: str | None = None) -> list[Descriptor]:
    """The referrers of ``subject`` in ``layout``, optionally only those of ``artifact_type``:
    the list under its fallback tag where the layout has one (the store), else the artifact
    manifests in ``blobs/`` whose ``subject`` it is (an ``oci:DIR`` output, :func:`scan`)."""
    return referrers_via(layout, subject, artifact_type)[1]


def referrers_via(layout: Layout, subject: str, artifact_type: str | None = None) -> tuple[str, list[Descriptor]]:
    """:func:`referrers`, and how they were found: ``"tag"`` (the fallback tag) or ``"scan"``."""
    if not layout.exists():
        return "scan", []
    index = layout.tags().get(fallback_tag(subject))
    via, found = ("tag", referrers_in(layout, index)) if index is not None and layout.has_blob(index.digest) \
        else ("scan", scan(layout).get(subject, []))
    return via, [d for d in found if artifact_type is None or d.artifact_type == artifact_type]


#: Registries refuse bigger manifests (distribution spec: at least 4 MiB must be accepted).
MAX_MANIFEST = 4 << 20
#: What each blob of a layout says of referrers: (subject digest, descriptor), or None for a blob
#: that is no referrer. By blob name, and blobs are content addressed: a name read once is known
#: for good, so a second scan of a layout reads only its new blobs.
_SEEN: dict[str, dict[str, tuple[str, Descriptor] | None]] = {}


def scan(layout: Layout) -> dict[str, list[Descriptor]]:
    """The referrers in ``layout``'s ``blobs/`` by subject: every image manifest (small, JSON,
    its digest checked) that has a ``subject``, as a referrers list would name it. Of the
    documents wasmbuild attached (``KIND``), the newest of each kind per subject, as
    :func:`merged` keeps a list."""
    blob_dir = layout.path / "blobs" / "sha256"
    try:
        entries = list(os.scandir(blob_dir))
    except OSError:
        return {}
    seen = _SEEN.setdefault(str(blob_dir.resolve()), {})
    by_subject: dict[str, list[Descriptor]] = {}
    for entry in entries:
        if entry.name not in seen:
            seen[entry.name] = _referrer_of(entry)
        hit = seen[entry.name]
        if hit is not None:
            by_subject.setdefault(hit[0], []).append(hit[1])
    return {subject: _newest_per_kind(descs) for subject, descs in by_subject.items()}


def _referrer_of(entry: os.DirEntry[str]) -> tuple[str, Descriptor] | None:
    if entry.name.startswith(".") or len(entry.name) != 64:
        return None  # a writer's temp file, not a blob
    try:
        if not entry.is_file() or entry.stat().st_size > MAX_MANIFEST:
            return None
        with open(entry.path, "rb") as fh:
            head = fh.read(64)
            if not head.lstrip().startswith(b"{"):
                return None  # a layer, a module: told by its first bytes, never read whole
            data = head + fh.read(MAX_MANIFEST)
    except OSError:
        return None
    if b'"subject"' not in data:
        return None  # a config, a manifest without a subject
    digest = f"sha256:{entry.name}"
    if sha256_digest(data) != digest:
        return None  # damaged: not trusted as a referrer
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("mediaType", MEDIA_MANIFEST) != MEDIA_MANIFEST:
        return None
    subject = subject_of(doc)
    if subject is None:
        return None
    return subject, referrer_descriptor(Descriptor(MEDIA_MANIFEST, digest, len(data)), doc)


def _newest_per_kind(descs: Sequence[Descriptor]) -> list[Descriptor]:
    newest: dict[tuple[str | None, str], Descriptor] = {}
    others: list[Descriptor] = []
    for d in descs:
        kind = d.annotations.get(KIND)
        if kind is None:
            others.append(d)
            continue
        key = (d.artifact_type, kind)
        old = newest.get(key)
        if old is None or (d.annotations.get(CREATED, ""), d.digest) > (old.annotations.get(CREATED, ""), old.digest):
            newest[key] = d
    return sorted([*others, *newest.values()], key=lambda d: (d.artifact_type or "", d.digest))


def image_manifests(top: Descriptor, read_json: Callable[[str], Any]) -> list[Descriptor]:
    """The image manifests ``top`` stands for: itself, or each image entry of an index (never
    an attestation entry, should an index made elsewhere have one)."""
    doc = read_json(top.digest)
    if not is_index(top, doc):
        return [top]
    found: list[Descriptor] = []
    for child in children(top, doc):
        plat = child.platform or {}
        if plat.get("os") == "unknown" or "vnd.docker.reference.type" in child.annotations:
            continue  # a buildx attestation entry
        if child.media_type in INDEX_TYPES:
            found += image_manifests(child, read_json)
        else:
            found.append(child)
    return found


def copy_referrers(src: Layout, dst: Layout, descs: Sequence[Descriptor], *, listed: bool = True) -> int:
    """Copy the artifact manifests ``descs`` (and their blobs) from ``src`` into ``dst``. Listed
    (the store), each goes under its subject's fallback tag there; unlisted (an ``oci:DIR``
    output), ``index.json`` keeps only the images, and a fallback tag an older wasmbuild wrote
    there for one of these subjects goes (its referrers stay in ``blobs/``, found by
    :func:`scan`). Returns how many lists changed."""
    by_subject: dict[str, list[Descriptor]] = {}
    for d in descs:
        subject = subject_of(src.read_json(d.digest))
        if subject is not None:
            dst.copy_from(src, d)
            by_subject.setdefault(subject, []).append(d)
    if not listed:
        return sum(dst.untag(fallback_tag(subject)) for subject in sorted(by_subject))
    return sum(add_referrers(dst, subject, group) for subject, group in sorted(by_subject.items()))


def document_bytes(read_blob: Callable[[str], bytes], manifest: dict[str, Any]) -> bytes:
    """The document an artifact manifest holds (its one layer)."""
    layers = manifest.get("layers") or []
    if not layers:
        return b""
    return read_blob(str(layers[0]["digest"]))

