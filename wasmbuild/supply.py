"""Read an image's supply-chain documents (SBOM, provenance) back: ``wasmbuild inspect --sbom``,
and bring them along when ``wasmbuild pull`` copies an image into the store.

The image is named as every command names one (store, ``oci:DIR``, ``oci-archive:``, registry,
see :mod:`wasmbuild.images`); an index resolves to its Wasm entry, whose referrers are listed
through the fallback tag in the store, found by their ``subject`` in an ``oci:DIR`` or archive
(``oci/referrers.py``), and through the referrers API or the fallback tag on a
registry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ImageNotFound, RegistryError
from .oci.referrers import ARTIFACT_INTOTO, SBOM_TYPES, document_bytes, referrers_via

if TYPE_CHECKING:
    from .oci.layout import Layout
    from .registry.transport import RegistryOptions

KINDS = {"sbom": SBOM_TYPES, "provenance": (ARTIFACT_INTOTO,)}


def find_documents(ref: str, kinds: Sequence[str], opts: RegistryOptions | None = None, *,
                   store: Layout | None = None) -> dict[str, Any]:
    """The documents of ``kinds`` ("sbom", "provenance") attached to image ``ref``: keys
    reference, source, subject, via ("api", "tag" or "scan": how they were found), documents
    (each: kind, artifactType, digest, document)."""
    from . import images

    types = [t for k in kinds for t in KINDS[k]]
    remote = images.registry_ref(ref)
    if not (ref.startswith("docker://") and remote):
        try:
            with images.local(ref, store) as found:
                subject, _manifest = found.layout.image(found.desc)
                pairs = []
                via, attached = referrers_via(found.layout, subject.digest)
                for d in attached:
                    if d.artifact_type in types:
                        manifest = found.layout.read_json(d.digest)
                        pairs.append((d, document_bytes(found.layout.read_blob, manifest)))
                local = _result(found.name or ref, found.source, subject.digest, via, pairs)
            if pairs or remote is None:
                return local
            # pulled without its documents (``pull --no-referrers``, or before pull took them)
        except ImageNotFound:
            if remote is None:
                raise
    assert remote is not None
    from .registry.referrers import fetch_documents

    listed, pairs = fetch_documents(remote, opts, types)
    return _result(remote, "registry", listed.subject.digest, listed.via, pairs)


def pull_documents(ref: str, subject: str, store: Layout, opts: RegistryOptions | None = None,
                   also: Sequence[str] = ()) -> list[Any]:
    """Download the SBOM and provenance (and the referrers of artifact types ``also``: the
    signatures) of image manifest ``subject`` (on the registry ``ref``
    names) into ``store``, listed there as a build lists its own; returns their descriptors. The
    image is already in: a registry that fails here costs the documents, not the pull (one
    warning line). The caller holds ``store.writing()``."""
    import sys

    from .registry.referrers import pull_referrers

    wanted = {t for types in KINDS.values() for t in types} | set(also)
    try:
        return pull_referrers(ref, subject, store, lambda listed: [d for d in listed if d.artifact_type in wanted],
                              opts)
    except (RegistryError, ImageNotFound) as exc:
        print(f"warning: pulled {ref} without its SBOM and provenance: {exc}", file=sys.stderr)
        return []


def _result(ref: str, source: str, subject: str, via: str, pairs: Sequence[tuple[Any, bytes]]) -> dict[str, Any]:
    import sys

    docs = []
    for desc, data in pairs:
        kind = "provenance" if desc.artifact_type == ARTIFACT_INTOTO else "sbom"
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):  # another tool's (SPDX tag-value, say): not shown
            print(f"warning: referrer {desc.digest} ({desc.artifact_type}) is not a JSON document: skipped",
                  file=sys.stderr)
            continue
        docs.append({"kind": kind, "artifactType": desc.artifact_type, "digest": desc.digest,
                     "document": document})
    return {"reference": ref, "source": source, "subject": subject, "via": via, "documents": docs}


def _sha256(checksums: Sequence[dict[str, str]] | None) -> str:
    return next((c["checksumValue"] for c in checksums or [] if c.get("algorithm") == "SHA256"), "")


def _digest(checksums: Sequence[dict[str, str]] | None) -> str:
    """``sha256:HEX``, else another pinned digest (an npm integrity's ``sha512:HEX``), else ""."""
    found = {c.get("algorithm", ""): c.get("checksumValue", "") for c in checksums or []}
    algorithm = next((a for a in ("SHA256", "SHA512", "SHA384") if found.get(a)), None)
    return f"{algorithm.lower()}:{found[algorithm]}" if algorithm else ""


def format_spdx(doc: dict[str, Any]) -> list[str]:
    lines = [f"  {doc.get('spdxVersion')} {doc.get('name')}"]
    for p in doc.get("packages") or []:
        purpose = str(p.get("primaryPackagePurpose", "")).lower()
        version = p.get("versionInfo", "") if not str(p.get("versionInfo", "")).startswith("sha256:") else ""
        where = p.get("downloadLocation") if p.get("downloadLocation") != "NOASSERTION" else ""
        digest = _digest(p.get("checksums"))
        lines.append(f"  {purpose:<12} {p.get('name')} {version} {digest} {where or ''}".rstrip())
    for f in doc.get("files") or []:
        kind = ",".join(f.get("fileTypes") or []).lower()
        lines.append(f"  file/{kind:<7} {f.get('fileName')} sha256:{_sha256(f.get('checksums'))}")
    lines.append(f"  {len(doc.get('relationships') or [])} relationships")
    return lines


def format_cyclonedx(doc: dict[str, Any]) -> list[str]:
    lines = [f"  CycloneDX {doc.get('specVersion')} {doc.get('serialNumber')}"]
    for c in doc.get("components") or []:
        digest = next((h["content"] for h in c.get("hashes") or [] if h.get("alg") == "SHA-256"), "")
        lines.append(f"  {c.get('type'):<12} {c.get('name')} {c.get('version', '')} "
                     f"{('sha256:' + digest) if digest else ''}".rstrip())
    return lines


def format_provenance(doc: dict[str, Any]) -> list[str]:
    pred = doc.get("predicate") or {}
    build = pred.get("buildDefinition") or {}
    run = pred.get("runDetails") or {}
    lines = [f"  {doc.get('predicateType')}",
             f"  build type   {build.get('buildType')}",
             f"  builder      {(run.get('builder') or {}).get('id')} {(run.get('builder') or {}).get('version')}"]
    for s in doc.get("subject") or []:
        lines.append(f"  subject      {s.get('name')} sha256:{(s.get('digest') or {}).get('sha256')}")
    wasmfile = (build.get("externalParameters") or {}).get("wasmfile") or {}
    lines.append(f"  wasmfile     {wasmfile.get('path')} sha256:{(wasmfile.get('digest') or {}).get('sha256')}")
    for d in build.get("resolvedDependencies") or []:
        kind = (d.get("annotations") or {}).get("kind", "")
        digest = (d.get("digest") or {}).get("sha256")
        version = (d.get("annotations") or {}).get("version", "")
        lines.append(f"  {kind:<12} {d.get('name')} {version} {('sha256:' + digest) if digest else ''} "
                     f"{d.get('uri', '')}".rstrip())
    return lines


def format_documents(found: dict[str, Any]) -> str:
    """Human-readable text for :func:`find_documents`'s record."""
    via = {"api": "referrers API", "scan": "subject scan"}.get(found["via"], "fallback tag")
    lines = [f"Reference:    {found['reference']} ({found['source']})",
             f"Subject:      {found['subject']}"]
    if not found["documents"]:
        lines.append("No SBOM or provenance attached (built with --no-sbom, or by another tool?)")
    for d in found["documents"]:
        lines.append(f"{d['kind'].capitalize() + ':':<14}{d['digest']} ({d['artifactType']}, via {via})")
        doc = d["document"]
        if d["kind"] == "provenance":
            lines += format_provenance(doc)
        elif "spdxVersion" in doc:
            lines += format_spdx(doc)
        else:
            lines += format_cyclonedx(doc)
    return "\n".join(lines)
