"""Signature storage on a registry: tagged manifests (cosign's ``sha256-<hex>.sig`` / ``.att``
tags) and referrers of one subject, fetched with their (small) layer blobs.

What the bytes mean is for ``attest/sign/``; this module only moves them, every digest checked.
Referrers themselves are pushed by ``referrers.push_referrers`` (the API or the fallback tag).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wasmbuild.errors import ImageNotFound, StoreError
from wasmbuild.oci import Descriptor, sha256_digest
from wasmbuild.oci.graph import children
from wasmbuild.registry.ops import PushStats, _fetch_manifest, _push_blobs
from wasmbuild.registry.referrers import _api_list, _put_manifest, _tag_list
from wasmbuild.registry.transport import Client, RegistryOptions, client, parse_ref, repo_path

if TYPE_CHECKING:
    from wasmbuild.oci.layout import Layout

#: A signature layer is a few hundred bytes; an envelope holds an SBOM: 16 MiB is plenty.
_MAX_BLOB = 16 << 20


@dataclass(frozen=True)
class Fetched:
    """A manifest holding signatures, with the bytes of each of its layers (by digest)."""

    digest: str
    manifest: dict[str, Any]
    blobs: dict[str, bytes]
    via: str  # "referrer" or "tag"


def resolve_top(ref: str, opts: RegistryOptions | None = None) -> Descriptor:
    """The manifest ``ref`` names as it is (an index stays an index): what a signature signs."""
    r = parse_ref(ref, "resolve")
    with client(r.registry or "", opts or RegistryOptions(), f"resolve {r}") as c:
        data, mtype, digest = _fetch_manifest(c, repo_path(r), r.digest or r.tag or "latest", r.digest)
    return Descriptor(mtype, digest, len(data))


def _blob(c: Client, repo: str, desc: Descriptor) -> bytes | None:
    if desc.size > _MAX_BLOB:
        return None

    def get() -> bytes:
        with c.send("GET", f"{repo}/blobs/{desc.digest}", allow=(404,)) as resp:
            return bytes(resp.content) if resp.status_code == 200 else b""

    body = c.retry(f"fetching {desc.digest[:19]}", get)
    return body if body and sha256_digest(body) == desc.digest else None


def _load(c: Client, repo: str, target: str, expect: str | None, via: str) -> Fetched | None:
    try:
        data, _mtype, digest = _fetch_manifest(c, repo, target, expect)
    except ImageNotFound:
        return None
    doc = json.loads(data)
    blobs: dict[str, bytes] = {}
    for layer in doc.get("layers") or []:
        try:
            desc = Descriptor.from_json(layer)
        except (StoreError, KeyError, TypeError, ValueError):
            continue
        body = _blob(c, repo, desc)
        if body is not None:
            blobs[desc.digest] = body
    return Fetched(digest, doc, blobs, via)


def _tag_exists(c: Client, repo: str, tag: str) -> bool:
    def head() -> bool:
        from wasmbuild.registry.ops import MANIFEST_ACCEPT

        with c.send("HEAD", f"{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT},
                    allow=(404,)) as resp:
            return resp.status_code == 200

    return c.retry(f"checking tag {tag[:19]}", head)


def fetch_signatures(ref: str, subject: str, artifact_types: Sequence[str], tags: Sequence[str],
                     opts: RegistryOptions | None = None) -> list[Fetched]:
    """The referrers of ``subject`` of ``artifact_types`` and the manifests under ``tags`` (in
    the repository of ``ref``), each with its layers' bytes."""
    r = parse_ref(ref, "verify")
    out: list[Fetched] = []
    with client(r.registry or "", opts or RegistryOptions(), f"verify {r}") as c:
        repo = repo_path(r)
        listed = _api_list(c, repo, subject) if artifact_types else []
        for d in listed if listed is not None else _tag_list(c, repo, subject):
            if d.artifact_type in artifact_types:
                got = _load(c, repo, d.digest, d.digest, "referrer")
                if got is not None and (got.manifest.get("subject") or {}).get("digest") == subject:
                    out.append(got)
        for tag in tags:
            if _tag_exists(c, repo, tag):
                got = _load(c, repo, tag, None, "tag")
                if got is not None:
                    out.append(got)
    return out


def push_tagged(layout: Layout, desc: Descriptor, ref: str, tag: str,
                opts: RegistryOptions | None = None) -> bool:
    """Push the manifest ``desc`` (and its blobs) from ``layout`` under ``tag`` in the
    repository of ``ref``; False when the tag already names exactly these bytes."""
    r = parse_ref(ref, "push to")
    data = layout.read_blob(desc.digest)
    doc = json.loads(data)
    with client(r.registry or "", opts or RegistryOptions(), f"push signature to {r}") as c:
        repo = repo_path(r)
        if _tag_exists(c, repo, tag):
            _data, _mtype, digest = _fetch_manifest(c, repo, tag, None)
            if digest == desc.digest:
                return False  # signed before: nothing is written twice
        _push_blobs(c, repo, layout, children(desc, doc), PushStats())
        _put_manifest(c, repo, tag, data, doc.get("mediaType") or desc.media_type)
    return True

