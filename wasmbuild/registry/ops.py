"""Registry operations: push, pull and inspect images byte for byte, on the transport.

Order of a push: blobs (layers, config) first, then child manifests of an index, then the tagged
manifest last -- so a tag never points at a manifest whose blobs are missing. A pull verifies
every digest and size, writes blobs before the manifest that names them, and retries a broken
download within the same time budget as a push.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmbuild.errors import ConfigError, ImageNotFound, RegistryError, StoreError
from wasmbuild.fsutil import temp_path
from wasmbuild.oci import MEDIA_INDEX, MEDIA_MANIFEST, Descriptor, sha256_digest
from wasmbuild.oci.graph import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    children,
    image_children,
    is_index,
    pick_wasi,
    platform_text,
)
from wasmbuild.registry.auth import Credentials, store_credentials
from wasmbuild.registry.transport import (
    Client,
    RegistryOptions,
    Transient,
    cause,
    client,
    parse_ref,
    repo_path,
)

if TYPE_CHECKING:
    from wasmbuild.oci.layout import Layout

PARALLEL_UPLOADS = 4
MANIFEST_ACCEPT = ", ".join([MEDIA_MANIFEST, MEDIA_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
_CHUNK = 1 << 20
_MAX_MANIFEST = 4 << 20


@dataclass
class PushStats:
    """What a push actually sent (for progress output, tests and the benchmark)."""

    blobs_uploaded: int = 0
    bytes_uploaded: int = 0
    blobs_skipped: int = 0
    uploaded: list[str] = field(default_factory=list)
    #: ``progress(bytes_sent, bytes_to_send)`` during uploads (the live display).
    progress: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _sending: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False, compare=False)

    def sending(self, digest: str, done: int, size: int) -> None:
        """``done`` of blob ``digest``'s ``size`` bytes read for upload (a retry starts at 0)."""
        if self.progress is None:
            return
        with self._lock:
            self._sending[digest] = (done, size)
            sent, total = sum(d for d, _ in self._sending.values()), sum(s for _, s in self._sending.values())
        self.progress(sent, total)

    def add(self, digest: str, size: int | None) -> None:
        """Record one blob: uploaded (``size`` bytes) or already present (``size=None``)."""
        with self._lock:
            if size is None:
                self.blobs_skipped += 1
            else:
                self.blobs_uploaded += 1
                self.bytes_uploaded += size
                self.uploaded.append(digest)


# -- push ----------------------------------------------------------------------------------
def _push_blob(c: Client, repo: str, layout: Layout, desc: Descriptor, stats: PushStats) -> None:
    head = c.retry(
        f"checking blob {desc.digest[:19]}",
        lambda: c.send("HEAD", f"{repo}/blobs/{desc.digest}", allow=(404,)),
    )
    head.close()
    if head.status_code == 200:
        stats.add(desc.digest, None)
        return
    path = layout.blob_path(desc.digest)
    if not path.is_file():
        raise ImageNotFound(f"{c.what}: blob {desc.digest} is missing from {layout.path}")
    size = path.stat().st_size

    def upload() -> None:
        import oras.utils

        start = c.send("POST", f"{repo}/blobs/uploads/", headers={"Content-Length": "0"})
        start.close()
        location = start.headers.get("Location", "")
        if not location:
            raise RegistryError(f"{c.what}: {c.registry} gave no upload location")
        if not location.startswith("http"):
            location = c.url(location)
        put_url = oras.utils.append_url_params(location, {"digest": desc.digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        stats.sending(desc.digest, 0, size)
        c.send("PUT", put_url, headers=headers, body=path, size=size,
               on_read=lambda n: stats.sending(desc.digest, n, size)).close()

    c.retry(f"uploading blob {desc.digest[:19]}", upload)
    stats.add(desc.digest, size)


def _push_blobs(
    c: Client, repo: str, layout: Layout, blobs: list[Descriptor], stats: PushStats
) -> None:
    """Push blobs, several at once (as skopeo does): one stream rarely saturates a registry."""
    _parallel(c, lambda b: _push_blob(c, repo, layout, b, stats), blobs)


def _parallel(c: Client, fn: Callable[[Descriptor], None], blobs: list[Descriptor]) -> None:
    """Run ``fn`` on each distinct blob, biggest first, up to PARALLEL_UPLOADS at a time.
    Every call finishes (each is bounded by the time budget); the first failure is raised.

    Without TLS verification everything runs in this thread: silencing urllib3's
    InsecureRequestWarning needs ``warnings.catch_warnings``, which is not thread-safe."""
    from concurrent.futures import ThreadPoolExecutor

    unique = sorted({b.digest: b for b in blobs}.values(), key=lambda b: -b.size)
    if len(unique) <= 1 or c.verify is False:
        for blob in unique:
            fn(blob)
        return
    with ThreadPoolExecutor(max_workers=min(PARALLEL_UPLOADS, len(unique))) as pool:
        futures = [pool.submit(fn, b) for b in unique]
    for future in futures:
        exc = future.exception()
        if exc is not None:
            raise exc


def _push_manifest(
    c: Client, repo: str, layout: Layout, desc: Descriptor, tag: str, stats: PushStats
) -> None:
    data = layout.read_blob(desc.digest)
    doc = json.loads(data)
    below = children(desc, doc)
    if is_index(desc, doc):
        for child in below:
            _push_manifest(c, repo, layout, child, child.digest, stats)
    else:
        _push_blobs(c, repo, layout, below, stats)
    media_type = doc.get("mediaType") or desc.media_type
    resp = c.retry(
        f"uploading manifest {desc.digest[:19]}",
        lambda: c.send(
            "PUT", f"{repo}/manifests/{tag}", headers={"Content-Type": media_type}, body=data
        ),
    )
    resp.close()
    got = resp.headers.get("Docker-Content-Digest")
    if got and got != desc.digest:
        raise RegistryError(
            f"{c.what}: {c.registry} stored the manifest as {got}, expected {desc.digest}",
            hint="the registry rewrote the manifest; use an OCI-compliant registry",
        )


def push(
    layout: Layout,
    desc: Descriptor,
    ref: str,
    opts: RegistryOptions | None = None,
    *,
    stats: PushStats | None = None,
) -> str:
    """Push the image ``desc`` (from ``layout``) to ``ref`` byte for byte.

    Blobs the registry already has are not uploaded. Returns ``registry/repo@sha256:...``;
    its digest equals ``desc.digest``.
    """
    opts = opts or RegistryOptions()
    stats = stats if stats is not None else PushStats()
    r = parse_ref(ref, "push to")
    if r.digest and r.digest != desc.digest:
        raise ConfigError(
            f"cannot push {desc.digest} to {ref}: the reference pins another digest",
            hint="drop the @sha256:... part, or push the image that has that digest",
        )
    with client(r.registry or "", opts, f"push {r}") as c:
        _push_manifest(c, repo_path(r), layout, desc, r.tag or desc.digest, stats)
    return f"{r.name}@{desc.digest}"


# -- pull / inspect --------------------------------------------------------------------------
def _fetch_manifest(
    c: Client, repo: str, target: str, expect: str | None
) -> tuple[bytes, str, str]:
    """GET a manifest; returns (bytes, media type, digest) after checking the digest."""

    def get() -> tuple[bytes, str, str | None]:
        resp = c.send("GET", f"{repo}/manifests/{target}", headers={"Accept": MANIFEST_ACCEPT})
        with resp:
            data = resp.content
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
            return data, ctype, resp.headers.get("Docker-Content-Digest")

    data, ctype, header = c.retry(f"fetching manifest {target}", get)
    if len(data) > _MAX_MANIFEST:
        raise RegistryError(f"{c.what}: manifest from {c.registry} is implausibly large")
    digest = sha256_digest(data)
    for want in (expect, header):
        if want and want != digest:
            raise RegistryError(
                f"{c.what}: manifest digest mismatch on {c.registry}: got {digest}, expected {want}"
            )
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise RegistryError(
            f"{c.what}: {c.registry} returned a manifest that is not JSON"
        ) from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{c.what}: {c.registry} returned a manifest that is not a JSON object")
    media = doc.get("mediaType")
    return data, media if isinstance(media, str) and media else ctype or MEDIA_MANIFEST, digest


def _children(c: Client, desc: Descriptor, data: bytes) -> list[Descriptor]:
    """``children`` of a document the registry sent (checked by :func:`_fetch_manifest`)."""
    try:
        return image_children(desc, json.loads(data))
    except StoreError as exc:
        raise RegistryError(f"{c.what}: {c.registry} sent a malformed manifest {desc.digest}: "
                            f"{exc.message}", hint="push the image to the registry again") from None


def _resolve(
    c: Client, repo: str, r: Any
) -> tuple[Descriptor, bytes, Descriptor | None, list[dict[str, Any]]]:
    """Resolve ``r`` to (image manifest desc, its bytes, index desc if there was one, the
    index's entries as descriptor JSON)."""
    target = r.digest or r.tag or "latest"
    data, mtype, digest = _fetch_manifest(c, repo, target, r.digest)
    if mtype in INDEX_TYPES:
        index_desc = Descriptor(mtype, digest, len(data))
        entries = _children(c, index_desc, data)
        raw = [e.to_json() for e in entries]
        chosen = pick_wasi(entries)
        if chosen is None:
            found = ", ".join(platform_text(d) for d in entries) or "none"
            raise ImageNotFound(f"{c.what}: the index has no Wasm entry (has: {found})",
                                hint="push a wasi/wasm32 or wasip1/wasm image to this tag")
        mdata, mmtype, mdigest = _fetch_manifest(c, repo, chosen.digest, chosen.digest)
        desc = Descriptor(mmtype, mdigest, len(mdata), platform=chosen.platform)
        return desc, mdata, index_desc, raw
    return Descriptor(mtype, digest, len(data)), data, None, []


def _download_blob(c: Client, repo: str, layout: Layout, desc: Descriptor) -> None:
    """Fetch one blob into ``layout``, verified; a broken connection is retried (budget)."""
    import requests

    if layout.has_blob(desc.digest):
        return
    dest = layout.blob_path(desc.digest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = temp_path(dest.parent, desc.digest[7:19])

    def fetch() -> None:
        h = hashlib.sha256()
        size = 0
        with c.send("GET", f"{repo}/blobs/{desc.digest}", stream=True) as resp, \
                open(staging, "wb") as fh:
            try:
                for chunk in resp.iter_content(_CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    fh.write(chunk)
            except (requests.exceptions.RequestException, ConnectionError) as exc:
                # requests' errors are OSErrors too: tell a dropped connection (retried) from a
                # failing disk (below) before anything else.
                raise Transient(f"connection lost after {size:,} of {desc.size:,} bytes: "
                                f"{cause(exc)}") from None
        got = "sha256:" + h.hexdigest()
        if got != desc.digest or size != desc.size:
            raise RegistryError(
                f"{c.what}: blob {desc.digest} from {c.registry} is damaged: its content has "
                f"digest {got} and {size} bytes, the manifest says {desc.digest} and {desc.size} bytes",
                hint="pull again; if it persists, push the image to the registry again",
            )

    try:
        try:
            c.retry(f"downloading blob {desc.digest}", fetch)
        except OSError as exc:
            raise StoreError(f"{c.what}: cannot write {staging}: {exc.strerror or exc}",
                             hint="check free space and permissions of the store") from None
        os.replace(staging, dest)
    finally:
        staging.unlink(missing_ok=True)


def pull(ref: str, layout: Layout, opts: RegistryOptions | None = None, *,
         on_pick: Callable[[str], None] | None = None) -> Descriptor:
    """Download ``ref`` into ``layout``, verifying every digest; returns the manifest descriptor.

    For an index, the Wasm platform entry is pulled (and named to ``on_pick``). The caller tags
    the result (under ``layout.writing()``, so a concurrent ``gc`` does not take the new blobs
    first).
    """
    opts = opts or RegistryOptions()
    r = parse_ref(ref, "pull")
    layout.init()
    with client(r.registry or "", opts, f"pull {r}") as c:
        repo = repo_path(r)
        desc, data, index, _ = _resolve(c, repo, r)
        if index is not None and on_pick is not None:
            from wasmbuild.oci.targets import target_of

            on_pick(f"pulling {platform_text(desc)} entry {desc.digest[:19]} "
                    f"({target_of(json.loads(data), desc.platform)}) of index {index.digest[:19]}")
        blobs = _children(c, desc, data)
        _parallel(c, lambda b: _download_blob(c, repo, layout, b), blobs)
        layout.write_blob(data)  # last: the manifest only lands once its blobs are in
    return desc


def inspect_remote(ref: str, opts: RegistryOptions | None = None) -> dict[str, Any]:
    """Fetch ``ref``'s manifest and config. Keys: reference, digest, mediaType, manifest, config,
    platform (from the index entry, if any), index_digest (if ``ref`` named an index)."""
    opts = opts or RegistryOptions()
    r = parse_ref(ref, "inspect")
    with client(r.registry or "", opts, f"inspect {r}") as c:
        repo = repo_path(r)
        desc, data, index, entries = _resolve(c, repo, r)
        manifest = json.loads(data)
        cfg_desc = _children(c, desc, data)[0]

        def get_config() -> bytes:
            with c.send("GET", f"{repo}/blobs/{cfg_desc.digest}") as resp:
                return bytes(resp.content)

        cfg_bytes = c.retry("fetching config", get_config)
        if sha256_digest(cfg_bytes) != cfg_desc.digest:
            raise RegistryError(f"{c.what}: config blob digest mismatch on {c.registry}")
        try:
            config = json.loads(cfg_bytes)
        except (ValueError, RecursionError):
            raise RegistryError(f"{c.what}: the config blob {cfg_desc.digest} on {c.registry} is "
                                "not JSON") from None
    return {
        "reference": str(r),
        "name": r.name,
        "digest": desc.digest,
        "mediaType": desc.media_type,
        "manifest": manifest,
        "config": config,
        "platform": desc.platform,
        "index_digest": index.digest if index else None,
        "index_manifests": entries,
    }


def check_login(registry: str, opts: RegistryOptions) -> None:
    """Verify ``opts.credentials`` against ``registry`` (GET /v2/). Raises RegistryError."""
    with client(registry, opts, f"login {registry}") as c:
        c.retry("checking credentials", lambda: c.send("GET", "/v2/")).close()


def login(registry: str, username: str, password: str, opts: RegistryOptions | None = None,
          check: Callable[[str, RegistryOptions], None] | None = None) -> Path | str:
    """Check ``username``/``password`` against ``registry`` (with ``check``, default
    :func:`check_login`), then store them.

    Returns where they were stored (config.json path or helper name).
    """
    if not username or not password:
        raise ConfigError(
            "login needs a username and a password",
            hint=f"run `wasmbuild login {registry} -u USER --password-stdin`",
        )
    creds = Credentials(username, password)
    (check or check_login)(registry, (opts or RegistryOptions()).with_credentials(creds))
    return store_credentials(registry, creds)


def pull_tree(ref: str, layout: Layout, opts: RegistryOptions | None = None) -> Descriptor:
    """Download ``ref`` and everything under it (every child of an index, not just the Wasm
    one) into ``layout``, verifying each digest; returns the top descriptor (untagged).

    Used for artifact indexes such as a shared stage cache (``--cache-from``).
    """
    opts = opts or RegistryOptions()
    r = parse_ref(ref, "pull")
    layout.init()
    with client(r.registry or "", opts, f"pull {r}") as c:
        repo = repo_path(r)

        def fetch(target: str, expect: str | None) -> Descriptor:
            data, mtype, digest = _fetch_manifest(c, repo, target, expect)
            top = Descriptor(mtype, digest, len(data))
            below = _children(c, top, data)
            if mtype in INDEX_TYPES:
                for child in below:
                    fetch(child.digest, child.digest)
            else:
                _parallel(c, lambda b: _download_blob(c, repo, layout, b), below)
            layout.write_blob(data)  # after its children: a manifest never lands without them
            return top

        return fetch(r.digest or r.tag or "latest", r.digest)
