"""Image config and manifest for a FROM-scratch Wasm image."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from wasmbuild.oci import MEDIA_CONFIG, MEDIA_MANIFEST, Descriptor
from wasmbuild.oci.layout import Layout

VARIANT_ANNOTATION = "module.wasm.image/variant"


@dataclass(frozen=True)
class ImageSpec:
    platform: str
    entrypoint: list[str]
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    variant: str | None = "compat"

    @property
    def os_arch(self) -> tuple[str, str, str | None]:
        parts = self.platform.split("/")
        return parts[0], parts[1], (parts[2] if len(parts) > 2 else None)


def rfc3339(epoch: int) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_json(spec: ImageSpec, diff_ids: list[str], epoch: int) -> dict[str, Any]:
    os_, arch, variant = spec.os_arch
    cfg: dict[str, Any] = {"Entrypoint": list(spec.entrypoint)}
    if spec.cmd:
        cfg["Cmd"] = list(spec.cmd)
    if spec.env:
        cfg["Env"] = [f"{k}={v}" for k, v in spec.env.items()]
    cfg["WorkingDir"] = spec.workdir
    if spec.labels:
        cfg["Labels"] = dict(spec.labels)
    config: dict[str, Any] = {
        "created": rfc3339(epoch),
        "architecture": arch,
        "os": os_,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": rfc3339(epoch), "created_by": "wasmbuild", "comment": "FROM scratch"}
        ],
    }
    if variant:
        config["variant"] = variant
    return config


def manifest_annotations(spec: ImageSpec) -> dict[str, str]:
    annotations = dict(spec.annotations)
    if spec.variant:
        annotations.setdefault(VARIANT_ANNOTATION, spec.variant)
    return annotations


def write_image(
    layout: Layout, spec: ImageSpec, layers: list[tuple[Descriptor, str]], epoch: int
) -> Descriptor:
    """Write config and manifest blobs; returns the manifest descriptor (with platform)."""
    config = layout.write_json(config_json(spec, [d for _, d in layers], epoch), MEDIA_CONFIG)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": config.to_json(),
        "layers": [desc.to_json() for desc, _ in layers],
    }
    annotations = manifest_annotations(spec)
    if annotations:
        manifest["annotations"] = annotations
    desc = layout.write_json(manifest, MEDIA_MANIFEST)
    os_, arch, variant = spec.os_arch
    platform = {"os": os_, "architecture": arch}
    if variant:
        platform["variant"] = variant
    return Descriptor(desc.media_type, desc.digest, desc.size, {}, platform)
