"""OCI 1.1 referrers on a registry: push an image's SBOM and provenance, and find them again.

Following the distribution spec (``spec.md``, "Listing Referrers" and "Pushing Manifests with
Subject"): a registry that implements the referrers API answers ``GET /v2/<name>/referrers/
<digest>`` with an image index (and says so with ``OCI-Subject`` when a manifest with a subject is
pushed); one that does not (distribution 2.8, Debian's ``docker-registry``) answers 404, and
clients keep the list themselves in an image index tagged ``sha256-<hex of the subject>``.
Pushing does both halves the spec asks of a client: the artifact manifests by digest, then, where
the API is missing, the fallback tag updated (only when its list changes: a re-push sends
nothing). The image's own manifest is never rewritten, so its digest cannot change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wasmbuild.errors import ImageNotFound, RegistryError, StoreError
from wasmbuild.oci import MEDIA_INDEX, MEDIA_MANIFEST, Descriptor, canonical_json, sha256_digest
from wasmbuild.oci.graph import children
from wasmbuild.oci.referrers import (
    add_referrers,
    fallback_tag,
    merged,
    merged_index,
    referrer_descriptor,
    subject_of,
)
from wasmbuild.registry.ops import (
    MANIFEST_ACCEPT,
    PushStats,
    _download_blob,
    _fetch_manifest,
    _push_blobs,
    _resolve,
)
from wasmbuild.registry.transport import Client, RegistryOptions, client, parse_ref, repo_path

if TYPE_CHECKING:
    from wasmbuild.oci.layout import Layout


@dataclass(frozen=True)
class Found:
    """The referrers of one image manifest on a registry."""

    subject: Descriptor
    via: str  # "api" (the referrers API answered) or "tag" (the fallback tag scheme)
    referrers: tuple[Descriptor, ...]


def _api_list(c: Client, repo: str, subject: str) -> list[Descriptor] | None:
    """The referrers API's list for ``subject``; None when the registry has no such API (404)."""
    def get() -> tuple[int, bytes]:
        with c.send("GET", f"{repo}/referrers/{subject}", headers={"Accept": MEDIA_INDEX},
                    allow=(404,)) as resp:
            return resp.status_code, resp.content

    status, body = c.retry(f"listing referrers of {subject[:19]}", get)
    if status == 404:
        return None
    try:
        doc = json.loads(body)
        return [Descriptor.from_json(m) for m in doc.get("manifests") or []]
    except (ValueError, KeyError, TypeError, AttributeError, StoreError):
        raise RegistryError(f"{c.what}: {c.registry} answered the referrers API with something "
                            "that is not an image index") from None


def _tag_list(c: Client, repo: str, subject: str) -> list[Descriptor]:
    """The list under ``subject``'s fallback tag ([] if there is none yet)."""
    tag = fallback_tag(subject)

    def exists() -> bool:
        with c.send("HEAD", f"{repo}/manifests/{tag}", headers={"Accept": MEDIA_INDEX}, allow=(404,)) as resp:
            return resp.status_code == 200

    if not c.retry(f"checking tag {tag[:19]}", exists):
        return []
    data, _mtype, _digest = _fetch_manifest(c, repo, tag, None)
    try:
        doc = json.loads(data)
        return [Descriptor.from_json(m) for m in doc.get("manifests") or []]
    except (ValueError, KeyError, TypeError, AttributeError, StoreError):
        raise RegistryError(f"{c.what}: tag {tag[:19]}... on {c.registry} is not an image index of referrers",
                            hint="delete that tag, or push the image again to rewrite it") from None


def _manifest_exists(c: Client, repo: str, digest: str) -> bool:
    def head() -> bool:
        # With Accept: distribution answers 404 for an OCI manifest to a client that does not
        # say it takes one.
        with c.send("HEAD", f"{repo}/manifests/{digest}", headers={"Accept": MANIFEST_ACCEPT},
                    allow=(404,)) as resp:
            return resp.status_code == 200

    return c.retry(f"checking manifest {digest[:19]}", head)


def _put_manifest(c: Client, repo: str, target: str, data: bytes, media_type: str) -> str | None:
    """PUT a manifest; returns the ``OCI-Subject`` header (set by registries with the API)."""
    def put() -> str | None:
        with c.send("PUT", f"{repo}/manifests/{target}", headers={"Content-Type": media_type},
                    body=data) as resp:
            got = resp.headers.get("Docker-Content-Digest")
            if got and got != sha256_digest(data):
                raise RegistryError(f"{c.what}: {c.registry} stored manifest {target} as {got}",
                                    hint="the registry rewrote the manifest; use an OCI-compliant registry")
            subject: str | None = resp.headers.get("OCI-Subject")
            return subject

    return c.retry(f"uploading manifest {target[:19]}", put)


def push_referrers(layout: Layout, referrers: Sequence[Descriptor], ref: str,
                   opts: RegistryOptions | None = None, *, stats: PushStats | None = None) -> dict[str, Any]:
    """Push the artifact manifests ``referrers`` (from ``layout``) to the repository of ``ref``
    and register each with its subject. Returns what was done: ``api`` (the registry lists
    referrers itself), ``manifests`` (pushed now), ``tags`` (fallback tags written),
    ``fallback`` (the subjects listed under a fallback tag: the registry has no referrers API),
    ``registry``."""
    opts = opts or RegistryOptions()
    stats = stats if stats is not None else PushStats()
    r = parse_ref(ref, "push to")
    done: dict[str, Any] = {"api": None, "manifests": [], "tags": [], "fallback": [],
                            "registry": r.registry or ""}
    groups: dict[str, list[Descriptor]] = {}
    for d in referrers:
        subject = subject_of(layout.read_json(d.digest))
        if subject is not None:
            groups.setdefault(subject, []).append(d)
    with client(r.registry or "", opts, f"push referrers to {r}") as c:
        repo = repo_path(r)
        for subject, descs in sorted(groups.items()):
            listed = _api_list(c, repo, subject)
            done["api"] = listed is not None
            for d in descs:
                data = layout.read_blob(d.digest)
                doc = json.loads(data)
                _push_blobs(c, repo, layout, children(d, doc), stats)
                if _manifest_exists(c, repo, d.digest):
                    continue  # already there: a re-push sends nothing
                _put_manifest(c, repo, d.digest, data, doc.get("mediaType") or d.media_type)
                done["manifests"].append(d.digest)
            if listed is not None:
                continue  # the registry keeps the list (it read each manifest's subject)
            done["fallback"].append(subject)
            current = _tag_list(c, repo, subject)
            after = merged(current, descs)
            if [d.digest for d in after] == [d.digest for d in current]:
                continue  # listed already: nothing is written
            index = canonical_json(merged_index(after))
            _put_manifest(c, repo, fallback_tag(subject), index, MEDIA_INDEX)
            done["tags"].append(fallback_tag(subject))
    return done


def list_referrers(ref: str, opts: RegistryOptions | None = None) -> Found:
    """The referrers of the image ``ref`` names (an index resolves to its Wasm entry): through
    the referrers API where the registry has it, else through the fallback tag."""
    opts = opts or RegistryOptions()
    r = parse_ref(ref, "inspect")
    with client(r.registry or "", opts, f"inspect {r}") as c:
        repo = repo_path(r)
        subject, _data, _index, _entries = _resolve(c, repo, r)
        listed = _api_list(c, repo, subject.digest)
        if listed is not None:
            return Found(subject, "api", tuple(listed))
        return Found(subject, "tag", tuple(_tag_list(c, repo, subject.digest)))


def fetch_documents(ref: str, opts: RegistryOptions | None = None,
                    artifact_types: Sequence[str] = ()) -> tuple[Found, list[tuple[Descriptor, bytes]]]:
    """The referrers of ``ref`` (of ``artifact_types``, or all) with each one's document bytes,
    every digest checked."""
    found = list_referrers(ref, opts)
    r = parse_ref(ref, "inspect")
    out: list[tuple[Descriptor, bytes]] = []
    with client(r.registry or "", opts or RegistryOptions(), f"inspect {r}") as c:
        repo = repo_path(r)
        for d in found.referrers:
            if artifact_types and d.artifact_type not in artifact_types:
                continue
            data, _mtype, _digest = _fetch_manifest(c, repo, d.digest, d.digest)
            layers = json.loads(data).get("layers") or []
            if not layers:
                continue
            blob = Descriptor.from_json(layers[0])

            def get(blob: Descriptor = blob) -> bytes:
                with c.send("GET", f"{repo}/blobs/{blob.digest}") as resp:
                    return bytes(resp.content)

            body = c.retry(f"fetching {blob.digest[:19]}", get)
            if sha256_digest(body) != blob.digest:
                raise RegistryError(f"{c.what}: document {blob.digest} from {c.registry} is damaged")
            out.append((d, body))
    return found, out


def pull_referrers(ref: str, subject: str, layout: Layout,
                   pick: Callable[[list[Descriptor]], list[Descriptor]],
                   opts: RegistryOptions | None = None) -> list[Descriptor]:
    """Download the referrers of manifest ``subject`` (in the repository ``ref`` names) that
    ``pick`` chooses from their list -- manifests and blobs, every digest checked -- into
    ``layout``, listed under the subject's fallback tag there (as a build lists its own). A
    manifest whose ``subject`` is another image, or that the registry no longer has, is skipped.
    The caller holds ``writing()``."""
    opts = opts or RegistryOptions()
    r = parse_ref(ref, "pull")
    got: list[Descriptor] = []
    with client(r.registry or "", opts, f"pull referrers of {r}") as c:
        repo = repo_path(r)
        listed = _api_list(c, repo, subject)
        for d in pick(listed if listed is not None else _tag_list(c, repo, subject)):
            try:
                data, _mtype, _digest = _fetch_manifest(c, repo, d.digest, d.digest)
            except ImageNotFound:
                continue  # a stale entry (fallback-tag lists are kept by clients): nothing to take
            try:
                doc = json.loads(data)
                if subject_of(doc) != subject:
                    continue  # a list entry about another image: not this one's
                blobs = children(d, doc)
            except (ValueError, KeyError, TypeError, AttributeError, StoreError):
                raise RegistryError(f"{c.what}: referrer {d.digest[:19]} on {c.registry} is not an OCI "
                                    "manifest") from None
            for blob in blobs:
                _download_blob(c, repo, layout, blob)
            layout.write_blob(data)  # after its blobs, as an image's manifest
            # Its own annotations, not the list's: the list is only a hint of what it holds.
            got.append(referrer_descriptor(Descriptor(MEDIA_MANIFEST, d.digest, len(data)), doc))
    add_referrers(layout, subject, got)
    return got
