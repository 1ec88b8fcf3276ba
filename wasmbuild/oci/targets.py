"""The shapes of Wasm image ("targets") wasmbuild writes, and how every reader tells them apart.

* ``compat``: a FROM-scratch image, platform ``wasi/wasm32`` (the Wasmfile's ``platform``) and the
  manifest annotation ``module.wasm.image/variant=compat`` (the seed article's format; crun, podman).
* ``docker``: the same image with Docker's platform ``wasi/wasm`` and no annotation (Docker Engine
  and Desktop pick Wasm shims by platform).
* ``runwasi``: runwasi's "Wasm layer" image: config ``architecture: wasm``, ``os: wasip1`` (or
  ``wasip2`` for a component), the entrypoint module as a raw layer of media type
  :data:`MEDIA_RUNWASI_LAYER`, the other files in an ordinary tar layer (runwasi
  ``crates/containerd-shim-wasm/src/sandbox/containerd/client.rs`` ``load_modules``).
* ``artifact``: the CNCF TAG-Runtime Wasm OCI artifact: config :data:`MEDIA_WASM_CONFIG`, one
  :data:`MEDIA_WASM` layer (what ``wkg oci push``, Spin and wasmCloud read).
"""

from __future__ import annotations

from typing import Any

TARGETS = ("compat", "docker", "runwasi", "artifact")

#: runwasi's own image builder writes this layer type (crates/oci-tar-builder); its shim also
#: takes ``application/wasm`` (crates/containerd-shim-wasm/src/container/engine.rs
#: ``supported_layers_types``).
MEDIA_RUNWASI_LAYER = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm"
MEDIA_WASM = "application/wasm"
MEDIA_WASM_CONFIG = "application/vnd.wasm.config.v0+json"
#: Raw-module layer types readers accept (the older wasm-to-oci/Spin type included).
WASM_LAYER_TYPES = (MEDIA_RUNWASI_LAYER, MEDIA_WASM, "application/vnd.wasm.content.layer.v1+wasm")
VARIANT_ANNOTATION = "module.wasm.image/variant"
#: runwasi's builder labels its config with a hash of the Wasm layers, so that two images whose
#: only difference is a non-rootfs layer do not share a config digest (image-spec PR 1173).
RUNWASI_LAYERS_LABEL = "containerd.runwasi.layers"

#: ``build --platform OS/ARCH``: the platforms that name exactly one target.
PLATFORM_TARGETS = {
    "wasi/wasm32": "compat",
    "wasi/wasm": "docker",
    "wasip1/wasm": "runwasi",
    "wasip2/wasm": "runwasi",
}


def is_tar_layer(media_type: str) -> bool:
    """Whether a layer is a (possibly compressed) tar to unpack into the root filesystem."""
    return ".tar" in media_type or "rootfs.diff" in media_type


def target_of(manifest: dict[str, Any], platform: dict[str, Any] | None = None) -> str:
    """Which target shape ``manifest`` has (``"compat"``, ``"docker"``, ``"runwasi"``,
    ``"artifact"``), or ``"image"`` for anything else (a Linux image, say)."""
    def mapping(value: Any) -> dict[str, Any]:  # a foreign manifest may hold anything
        return value if isinstance(value, dict) else {}

    layers = manifest.get("layers")
    layers = layers if isinstance(layers, list) else []
    if mapping(manifest.get("config")).get("mediaType") == MEDIA_WASM_CONFIG:
        return "artifact"
    if any(mapping(layer).get("mediaType") in WASM_LAYER_TYPES for layer in layers):
        return "runwasi"
    plat = platform or {}
    if mapping(manifest.get("annotations")).get(VARIANT_ANNOTATION):
        return "compat"
    if plat.get("os") == "wasi" and plat.get("architecture") == "wasm":
        return "docker"
    if plat.get("os") in ("wasi", "wasip1", "wasip2"):
        return "compat"
    return "image"


def include_problem(text: str) -> str | None:
    """Why ``text`` cannot name an image to include in an index (None if it can): an OCI layout
    ``oci:DIR[:TAG]``, or a registry reference pinned by digest (a tag could move between two
    builds, and the index digest with it)."""
    from wasmbuild.errors import ConfigError
    from wasmbuild.reference import parse

    if text.startswith("oci:"):
        return None if text.removeprefix("oci:").split(":", 1)[0] else "names no directory"
    try:
        ref = parse(text.removeprefix("docker://"), default_tag=None)
    except ConfigError as exc:
        return exc.message
    if not ref.registry:
        return "is neither oci:DIR[:TAG] nor a REGISTRY/NAME@sha256:... reference"
    if not ref.digest:
        return "is not pinned by digest (a tag can move: write REGISTRY/NAME@sha256:...)"
    return None
