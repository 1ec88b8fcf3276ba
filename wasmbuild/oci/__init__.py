"""OCI image building blocks: media types, digests, canonical JSON, layouts."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import StoreError

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
TITLE = "org.opencontainers.image.title"
#: The tag of an image's referrers list (``sha256-<hex of the image digest>``, the distribution
#: spec's referrers tag schema; ``oci/referrers.py``): in a layout, not an image of its own.
REFERRERS_TAG = re.compile(r"^sha256-([0-9a-f]{64})$")


def canonical_json(obj: Any) -> bytes:
    """Serialise ``obj`` the same way every time (sorted keys, no spaces, UTF-8)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: dict[str, str] | None = None
    #: OCI 1.1: what an artifact manifest holds (an SBOM, an attestation); referrer lists carry it.
    artifact_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.platform:
            out["platform"] = dict(self.platform)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Descriptor:
        """A descriptor from JSON that may come from anywhere (a layout, an archive, a registry):
        anything malformed is a :class:`StoreError` (callers name the document it came from)."""
        if not isinstance(obj, dict):
            raise StoreError(f"malformed descriptor {_snippet(obj)}: not a JSON object")
        media, digest, size = obj.get("mediaType"), obj.get("digest"), obj.get("size")
        annotations, platform = obj.get("annotations") or {}, obj.get("platform") or None
        if not isinstance(media, str) or not isinstance(digest, str) or not _DIGEST.match(digest):
            raise StoreError(f"malformed descriptor {_snippet(obj)}: it needs a mediaType and a "
                             "sha256 digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise StoreError(f"malformed descriptor {_snippet(obj)}: its size is not a number of bytes")
        if not _mapping(annotations, str) or (platform is not None and not _mapping(platform, str | list)):
            raise StoreError(f"malformed descriptor {_snippet(obj)}: its annotations or platform are "
                             "not a mapping of strings")
        artifact_type = obj.get("artifactType") or None
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise StoreError(f"malformed descriptor {_snippet(obj)}: its artifactType is not a string")
        return cls(media_type=media, digest=digest, size=size, annotations=dict(annotations),
                   platform=dict(platform) if platform else None, artifact_type=artifact_type)

    def with_annotations(self, annotations: dict[str, str]) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size, dict(annotations), self.platform,
                          self.artifact_type)


_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _mapping(value: Any, kinds: Any) -> bool:
    """A JSON object with string keys and values of ``kinds`` (platform ``os.features`` is a list)."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, kinds) for k, v in value.items())


def _snippet(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
