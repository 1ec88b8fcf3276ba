"""OCI image building blocks: media types, digests, canonical JSON, layouts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"


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
    def from_json(cls, obj: dict[str, Any]) -> Descriptor:
        return cls(
            media_type=obj["mediaType"],
            digest=obj["digest"],
            size=int(obj["size"]),
            annotations=dict(obj.get("annotations") or {}),
            platform=dict(obj["platform"]) if obj.get("platform") else None,
            artifact_type=obj.get("artifactType") or None,
        )

    def with_annotations(self, annotations: dict[str, str]) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size, dict(annotations), self.platform,
                          self.artifact_type)
