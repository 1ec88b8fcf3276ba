"""Build small, deterministic test images straight into an OCI layout (no `wasmbuild build`)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

from wasmbuild.oci import (
    MEDIA_CONFIG,
    MEDIA_INDEX,
    MEDIA_LAYER_GZIP,
    MEDIA_MANIFEST,
    Descriptor,
)
from wasmbuild.oci.layout import Layout

WASM_MAGIC = b"\0asm\x01\0\0\0"


def tar_layer(files: dict[str, bytes]) -> bytes:
    """A reproducible uncompressed tar of ``files`` (path -> content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o755 if name.endswith(".wasm") else 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def make_image(
    layout: Layout,
    layers: list[dict[str, bytes]],
    *,
    tag: str | None = None,
    entrypoint: list[str] | None = None,
    annotations: dict[str, str] | None = None,
    raw_layers: list[bytes] | None = None,
) -> Descriptor:
    """Write config + gzip layers + manifest; tag it if ``tag``. ``raw_layers`` are added as
    already-compressed gzip blobs (for big random layers)."""
    layout.init()
    layer_descs = []
    diff_ids = []
    for files in layers:
        tar = tar_layer(files)
        gz = gzip_bytes(tar)
        layer_descs.append(Descriptor(MEDIA_LAYER_GZIP, layout.write_blob(gz), len(gz)))
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
    for gz in raw_layers or []:
        layer_descs.append(Descriptor(MEDIA_LAYER_GZIP, layout.write_blob(gz), len(gz)))
        diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(gz)).hexdigest())
    config = {
        "architecture": "wasm32",
        "os": "wasi",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Entrypoint": entrypoint or ["/app.wasm"],
            "Env": ["PATH=/"],
            "WorkingDir": "/",
            "Labels": {"org.opencontainers.image.title": "test"},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cfg = layout.write_json(config, MEDIA_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": cfg.to_json(),
        "layers": [d.to_json() for d in layer_descs],
        "annotations": annotations
        if annotations is not None
        else {"module.wasm.image/variant": "compat"},
    }
    desc = layout.write_json(manifest, MEDIA_MANIFEST)
    if tag:
        layout.tag(tag, desc)
    return desc


def make_index(layout: Layout, image: Descriptor, *, tag: str | None = None) -> Descriptor:
    """An index holding ``image`` as wasi/wasm32 (plus nothing else)."""
    entry = Descriptor(
        image.media_type,
        image.digest,
        image.size,
        platform={"os": "wasi", "architecture": "wasm32"},
    )
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [entry.to_json()]}
    desc = layout.write_json(index, MEDIA_INDEX)
    if tag:
        layout.tag(tag, desc)
    return desc


def random_gzip_layer(size: int) -> bytes:
    """A gzip blob of ~``size`` incompressible bytes (a tar holding one random file)."""
    return gzip_bytes(tar_layer({"data.bin": os.urandom(size)}))


def hello_files(message: bytes = b"hello") -> dict[str, bytes]:
    return {"app.wasm": WASM_MAGIC + b"\x00" * 8, "etc/message.txt": message}


def write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
