"""An OCI image layout on disk (``oci-layout``, ``index.json``, ``blobs/sha256/...``).

Used both for ``--output oci:DIR`` and as the local image store. Every write is atomic: blobs
are content addressed and renamed into place, and ``index.json`` is replaced under a file lock, so
a killed process leaves at most unreferenced blobs (removed by :meth:`Layout.gc`), never a tag
pointing at missing content.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes, atomic_writer
from ..errors import ImageNotFound, WasmbuildError
from . import MEDIA_INDEX, REF_NAME, Descriptor, canonical_json, sha256_digest

_CHUNK = 1 << 20


def _split(digest: str) -> tuple[str, str]:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
        raise WasmbuildError(f"unsupported or malformed digest {digest!r}")
    return algo, hexpart


class Layout:
    """Read and write one OCI image layout directory."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    # -- structure -----------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "oci-layout").is_file() and (self.path / "index.json").is_file()

    def _init_skeleton(self) -> None:
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (self.path / "oci-layout").exists():
            atomic_write_bytes(self.path / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')

    def init(self) -> Layout:
        self._init_skeleton()
        if not (self.path / "index.json").exists():
            # Under the lock: an unlocked "exists? no -> write []" could overwrite the index a
            # concurrent build has just tagged into.
            with self.locked():
                if not (self.path / "index.json").exists():
                    self._write_index([])
        return self

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise index updates between processes sharing this layout."""
        from filelock import FileLock

        self.path.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path / ".wasmbuild.lock")):
            yield

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
            raise WasmbuildError(
                f"blob {digest} in {self.path} is corrupt",
                hint="delete it and rebuild or pull the image again",
            )
        return data

    def read_json(self, digest: str) -> Any:
        return json.loads(self.read_blob(digest))

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
        staging = self.path / "blobs" / "sha256" / f".incoming-{os.getpid()}-{time.monotonic_ns()}"
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(src, "rb") as fin, atomic_writer(staging) as fout:
                while chunk := fin.read(_CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    fout.write(chunk)
            got = "sha256:" + h.hexdigest()
            if digest and digest != got:
                raise WasmbuildError(f"content of {src} has digest {got}, expected {digest}")
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
        except json.JSONDecodeError as exc:
            raise WasmbuildError(f"{self.path / 'index.json'} is not valid JSON: {exc}") from None
        return data

    def _write_index(self, manifests: list[dict[str, Any]]) -> None:
        index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}
        atomic_write_bytes(self.path / "index.json", json.dumps(index, indent=2).encode() + b"\n")

    def manifests(self) -> list[Descriptor]:
        return [Descriptor.from_json(m) for m in self._read_index().get("manifests", [])]

    def tags(self) -> dict[str, Descriptor]:
        return {d.annotations[REF_NAME]: d for d in self.manifests() if REF_NAME in d.annotations}

    def tag(self, name: str, desc: Descriptor) -> None:
        """Point ``name`` at ``desc`` (replacing any previous target). The blobs must exist."""
        if not self.has_blob(desc.digest):
            raise WasmbuildError(f"cannot tag {name}: manifest {desc.digest} is not in {self.path}")
        with self.locked():
            self._init_skeleton()  # not init(): it takes the lock, which is not reentrant
            entries = [
                m
                for m in self._read_index().get("manifests", [])
                if (m.get("annotations") or {}).get(REF_NAME) != name
            ]
            annotations = {**desc.annotations, REF_NAME: name}
            entries.append(desc.with_annotations(annotations).to_json())
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
            from . import MEDIA_MANIFEST

            return Descriptor(MEDIA_MANIFEST, name, self.blob_path(name).stat().st_size)
        raise ImageNotFound(f"no image {name!r} in {self.path}")

    # -- maintenance -----------------------------------------------------------------------
    def referenced(self) -> set[str]:
        """All blob digests reachable from index.json."""
        seen: set[str] = set()
        stack = [(d.digest, d.media_type) for d in self.manifests()]
        while stack:
            digest, media_type = stack.pop()
            if digest in seen or not self.has_blob(digest):
                continue
            seen.add(digest)
            # Only manifests and indexes have children. (An image config also has a "config"
            # key, a dict without "digest"; and layers are not worth reading.)
            if "manifest" not in media_type and "index" not in media_type:
                continue
            try:
                doc = self.read_json(digest)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if not isinstance(doc, dict):
                continue
            children = [*(doc.get("manifests") or []), *(doc.get("layers") or []),
                        *([doc["config"]] if isinstance(doc.get("config"), dict) else [])]
            stack.extend((d["digest"], str(d.get("mediaType", ""))) for d in children
                         if isinstance(d, dict) and isinstance(d.get("digest"), str))
        return seen

    def gc(self, min_age: float = 0.0) -> int:
        """Delete unreferenced blobs and stale temp files; returns bytes freed.

        A build writes (or, from the layer memo, reuses and touches) its blobs before it tags
        them; with builds running concurrently pass ``min_age`` (seconds, e.g. 3600) so blobs
        modified more recently than that are kept.
        """
        freed = 0
        now = time.time()
        with self.locked():
            keep = {d.split(":", 1)[1] for d in self.referenced()}
            blob_dir = self.path / "blobs" / "sha256"
            for entry in blob_dir.iterdir() if blob_dir.is_dir() else []:
                if entry.name not in keep and now - entry.lstat().st_mtime >= min_age:
                    freed += entry.stat().st_size
                    if entry.is_dir():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
        return freed
