"""An OCI image layout on disk (``oci-layout``, ``index.json``, ``blobs/sha256/...``).

Used both for ``--output oci:DIR`` and as the local image store. Every write is atomic: blobs
are content addressed and renamed into place, and ``index.json`` is replaced under a file lock, so
a killed process leaves at most unreferenced blobs (removed by :meth:`Layout.gc`), never a tag
pointing at missing content.

Writers that add blobs before tagging them (a build, a pull) hold :meth:`Layout.writing` (a shared
lock) from their first blob to their tag; :meth:`Layout.gc` takes it exclusively, so it never
deletes the blobs of an image that is being written.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wasmbuild.errors import ConfigError, ImageNotFound, StoreError
from wasmbuild.fsutil import atomic_write_bytes, remove, sweep, temp_path
from wasmbuild.oci import (
    MEDIA_INDEX,
    MEDIA_MANIFEST,
    REF_NAME,
    REFERRERS_TAG,
    Descriptor,
    canonical_json,
    sha256_digest,
)
from wasmbuild.oci.graph import image_children, is_index, pick_wasi, platform_text, walk

_CHUNK = 1 << 20


def _split(digest: str) -> tuple[str, str]:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
        raise ConfigError(f"unsupported or malformed digest {digest!r}",
                          hint="digests are sha256:<64 hex digits>")
    return algo, hexpart


class Layout:
    """Read and write one OCI image layout directory."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    # -- structure -----------------------------------------------------------------------
    def exists(self) -> bool:
        try:
            return (self.path / "oci-layout").is_file() and (self.path / "index.json").is_file()
        except OSError:  # a name too long, a permission denied: no layout we can read
            return False

    def _init_skeleton(self) -> None:
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (self.path / "oci-layout").exists():
            atomic_write_bytes(self.path / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')

    def init(self) -> Layout:
        try:
            self._init_skeleton()
            if not (self.path / "index.json").exists():
                # Under the lock: an unlocked "exists? no -> write []" could overwrite the index a
                # concurrent build has just tagged into.
                with self.locked():
                    if not (self.path / "index.json").exists():
                        self._write_index([])
        except OSError as exc:
            raise StoreError(f"cannot use {self.path} as an OCI image layout: "
                             f"{exc.strerror or exc}",
                             hint="choose a writable directory (WASMBUILD_STORE moves the store)") from None
        return self

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise index updates between processes (and threads) sharing this layout: a flock
        of ``.wasmbuild.lock``, as :meth:`writing`'s (what ``filelock``, used here before, takes
        on Unix too, so an older wasmbuild on the same store still excludes this one)."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / ".wasmbuild.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # drops the lock

    @contextmanager
    def writing(self, exclusive: bool = False, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Held by writers (shared) from their first blob to their tag, and by :meth:`gc`
        (exclusive). A flock: the kernel drops it when a holder dies. ``on_wait`` is called
        once if the lock is not free at once (before waiting for it)."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / ".wasmbuild.gc", os.O_RDWR | os.O_CREAT, 0o644)
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    # -- blobs -----------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        algo, hexpart = _split(digest)
        return self.path / "blobs" / algo / hexpart

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str, *, verify: bool = True) -> bytes:
        path = self.blob_path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageNotFound(f"blob {digest} is missing from {self.path}") from None
        if verify and sha256_digest(data) != digest:
            raise StoreError(
                f"blob {digest} in {self.path} is corrupt",
                hint="delete it and rebuild or pull the image again",
            )
        return data

    def read_json(self, digest: str) -> Any:
        try:
            return json.loads(self.read_blob(digest))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
            raise StoreError(f"blob {digest} in {self.path} is not JSON: {str(exc)[:100]}",
                             hint="the image is damaged or not an OCI image; build or pull it again") from None

    def write_blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        path = self.blob_path(digest)
        if not path.exists():
            atomic_write_bytes(path, data)
        return digest

    def write_json(self, obj: Any, media_type: str) -> Descriptor:
        data = canonical_json(obj)
        return Descriptor(media_type, self.write_blob(data), len(data))

    def add_blob_file(self, src: Path, digest: str | None = None) -> tuple[str, int]:
        """Copy ``src`` in as a blob, hashing while copying. Returns (digest, size)."""
        if digest and self.has_blob(digest):
            return digest, self.blob_path(digest).stat().st_size
        h = hashlib.sha256()
        size = 0
        blobs = self.path / "blobs" / "sha256"
        blobs.mkdir(parents=True, exist_ok=True)
        staging = temp_path(blobs, "blob")
        try:
            with open(src, "rb") as fin, open(staging, "xb") as fout:
                while chunk := fin.read(_CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    fout.write(chunk)
                fout.flush()
                os.fsync(fout.fileno())
            got = "sha256:" + h.hexdigest()
            if digest and digest != got:
                raise StoreError(f"content of {src} has digest {got}, expected {digest}",
                                 hint="the source changed or is damaged; rebuild or pull it again")
            os.replace(staging, self.blob_path(got))
            return got, size
        finally:
            staging.unlink(missing_ok=True)

    def copy_blob_from(self, other: Layout, digest: str) -> None:
        if not self.has_blob(digest):
            self.add_blob_file(other.blob_path(digest), digest)

    # -- index and tags --------------------------------------------------------------------
    def _read_index(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.path / "index.json").read_bytes())
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []}
        except (ValueError, RecursionError) as exc:
            raise StoreError(f"{self.path / 'index.json'} is not valid JSON: {str(exc)[:100]}",
                             hint="restore or delete the layout") from None
        if not isinstance(data, dict) or not isinstance(data.get("manifests", []), list):
            raise StoreError(f"{self.path / 'index.json'} is not an OCI index (no list of manifests)",
                             hint="restore or delete the layout")
        return data

    def _write_index(self, manifests: list[dict[str, Any]]) -> None:
        index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}
        atomic_write_bytes(self.path / "index.json", json.dumps(index, indent=2).encode() + b"\n")

    def manifests(self) -> list[Descriptor]:
        entries = self._read_index().get("manifests", [])  # its own errors name index.json
        try:
            return [Descriptor.from_json(m) for m in entries]
        except StoreError as exc:
            raise StoreError(f"{self.path / 'index.json'}: {exc.message}",
                             hint="restore or delete the layout") from None

    def tags(self) -> dict[str, Descriptor]:
        return {d.annotations[REF_NAME]: d for d in self.manifests() if REF_NAME in d.annotations}

    def tag(self, name: str, desc: Descriptor) -> None:
        """Point ``name`` at ``desc`` (replacing any previous target). The blobs must exist."""
        if not self.has_blob(desc.digest):
            raise ImageNotFound(f"cannot tag {name}: manifest {desc.digest} is not in {self.path}")
        with self.locked():
            self._init_skeleton()  # not init(): it takes the lock, which is not reentrant
            old = self._read_index().get("manifests", [])
            entries = [m for m in old if (m.get("annotations") or {}).get(REF_NAME) != name]
            annotations = {**desc.annotations, REF_NAME: name}
            entry = desc.with_annotations(annotations).to_json()
            if entry in old:
                return  # already so: the index is left alone (a no-op build writes nothing here)
            entries.append(entry)
            self._write_index(entries)

    def untag(self, name: str) -> bool:
        with self.locked():
            entries = self._read_index().get("manifests", [])
            kept = [m for m in entries if (m.get("annotations") or {}).get(REF_NAME) != name]
            self._write_index(kept)
            return len(kept) != len(entries)

    def resolve(self, name: str | None = None) -> Descriptor:
        """Find a manifest by tag, by digest, or (``name=None``) the only one in the layout."""
        if not self.exists():
            raise ImageNotFound(f"{self.path} is not an OCI image layout (no oci-layout/index.json)")
        manifests = self.manifests()
        if name is None:
            manifests = [d for d in manifests if not REFERRERS_TAG.match(d.annotations.get(REF_NAME, ""))]
            if len(manifests) == 1:
                return manifests[0]
            raise ImageNotFound(
                f"{self.path} holds {len(manifests)} images",
                hint="name one as oci:DIR:TAG",
            )
        for d in manifests:
            if d.annotations.get(REF_NAME) == name or d.digest == name:
                return d
        if name.startswith("sha256:") and self.has_blob(name):
            return Descriptor(MEDIA_MANIFEST, name, self.blob_path(name).stat().st_size)
        raise ImageNotFound(f"no image {name!r} in {self.path}")

    # -- images ------------------------------------------------------------------------------
    def image(self, desc: Descriptor) -> tuple[Descriptor, dict[str, Any]]:
        """``desc`` itself, or for an index its Wasm entry, with the parsed manifest."""
        doc = self.read_json(desc.digest)
        try:
            entries = image_children(desc, doc)
        except StoreError as exc:
            raise StoreError(f"manifest {desc.digest} in {self.path} is malformed: {exc.message}",
                             hint="the image is damaged or not an OCI image; build or pull it again") from None
        if not is_index(desc, doc):
            return desc, doc
        chosen = pick_wasi(entries)
        if chosen is None:
            found = ", ".join(platform_text(d) for d in entries) or "none"
            raise ImageNotFound(f"index {desc.digest} in {self.path} has no Wasm entry (has: {found})")
        return self.image(chosen)

    def config_platform(self, manifest_digest: str) -> dict[str, str] | None:
        """The platform (os, architecture, variant) an image's config states, or None when the
        manifest has no readable config saying both (an artifact's, a missing blob)."""
        manifest = self.read_json(manifest_digest)
        cfg_desc = manifest.get("config") if isinstance(manifest, dict) else None
        digest = cfg_desc.get("digest") if isinstance(cfg_desc, dict) else None
        if not isinstance(digest, str) or not self.has_blob(digest):
            return None
        config = self.read_json(digest)
        if not isinstance(config, dict) or not config.get("os") or not config.get("architecture"):
            return None
        plat = {"architecture": str(config["architecture"]), "os": str(config["os"])}
        if config.get("variant"):
            plat["variant"] = str(config["variant"])
        return plat

    def copy_from(self, src: Layout, desc: Descriptor) -> None:
        """Copy ``desc`` and everything under it from ``src`` (blobs only; nothing is tagged)."""
        for d in walk(desc, src.read_json):
            if not self.has_blob(d.digest):
                if not src.has_blob(d.digest):
                    raise ImageNotFound(f"blob {d.digest} is missing from {src.path}")
                self.add_blob_file(src.blob_path(d.digest), d.digest)

    # -- maintenance -----------------------------------------------------------------------
    def referenced(self) -> set[str]:
        """All blob digests reachable from index.json (a missing or unreadable child is skipped:
        gc must never fail on a damaged layout, only keep what it can see)."""

        def read(digest: str) -> Any:
            try:
                return self.read_json(digest) if self.has_blob(digest) else None
            except (json.JSONDecodeError, UnicodeDecodeError, StoreError):
                return None

        def _reachable(top: Descriptor) -> set[str]:
            found: set[str] = set()
            try:
                for d in walk(top, read):
                    if self.has_blob(d.digest):
                        found.add(d.digest)
            except StoreError:  # a malformed descriptor below: keep what was seen before it
                found.add(top.digest)
            return found

        seen: set[str] = set()
        lists: list[tuple[str, Descriptor]] = []
        for top in self.manifests():
            m = REFERRERS_TAG.match(top.annotations.get(REF_NAME, ""))
            if m:
                lists.append((f"sha256:{m.group(1)}", top))
            else:
                seen.update(_reachable(top))
        for subject, top in lists:  # an image's referrers live as long as the image does
            if subject in seen:
                seen.update(_reachable(top))
        return seen

    def _drop_orphan_referrers(self, keep: set[str]) -> None:
        """Untag referrers lists whose image is gone (their blobs are about to be deleted)."""
        entries = self._read_index().get("manifests", [])
        kept = [m for m in entries
                if not REFERRERS_TAG.match((m.get("annotations") or {}).get(REF_NAME, ""))
                or m.get("digest") in keep]
        if len(kept) != len(entries):
            self._write_index(kept)

    def blobs_size(self) -> int:
        blob_dir = self.path / "blobs" / "sha256"
        return sum(p.stat().st_size for p in blob_dir.iterdir() if p.is_file()) if blob_dir.is_dir() else 0

    def gc(self, on_wait: Callable[[], None] | None = None) -> int:
        """Delete unreferenced blobs and leftovers of killed writers; returns bytes freed.

        Waits for writers in progress (builds and pulls hold :meth:`writing`; ``on_wait`` is
        called if there are any), so a blob written for an image that is not tagged yet is never
        taken.
        """
        freed = 0
        with self.writing(exclusive=True, on_wait=on_wait), self.locked():
            reachable = self.referenced()
            self._drop_orphan_referrers(reachable)
            keep = {d.split(":", 1)[1] for d in reachable}
            blob_dir = self.path / "blobs" / "sha256"
            freed += sweep(blob_dir) + sweep(self.path)
            for entry in blob_dir.iterdir() if blob_dir.is_dir() else []:
                if entry.name not in keep and not entry.name.startswith("."):
                    freed += entry.lstat().st_size
                    remove(entry)
        return freed
