"""Targets: the same image files written in each shape a Wasm platform pulls (see
:mod:`wasmbuild.oci.targets` for what each shape is and who reads it).

Every target is deterministic: its config's ``created`` is ``SOURCE_DATE_EPOCH`` (the artifact's
too: ``wkg``, ``wash`` and ``spin`` stamp the wall clock there, so their artifacts never have the
same digest twice), JSON is canonical, layers come from :mod:`.layer`. ``compat`` goes through
exactly the code that wrote images before targets existed, so its digests did not change.
Several targets (or included images) make one OCI image index, entries in the order asked for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError
from ..oci import MEDIA_CONFIG, MEDIA_INDEX, MEDIA_MANIFEST, TITLE, Descriptor, canonical_json
from ..oci.graph import platform_text
from ..oci.layout import Layout
from ..oci.targets import (
    ARTIFACT,
    COMPAT,
    DOCKER,
    MEDIA_RUNWASI_LAYER,
    MEDIA_WASM,
    MEDIA_WASM_CONFIG,
    RUNWASI,
    RUNWASI_LAYERS_LABEL,
    Target,
    find,
    names,
)
from ..wasm.binary import Kind, component_names, is_wasm_file, kind_of_file
from .compress import Compression
from .image import ImageSpec, config_json, manifest_annotations, rfc3339, write_image
from .layer import Entry, LayerMemo, cached_layer


@dataclass(frozen=True)
class Written:
    """One target's manifest in the layout (``desc`` carries the platform an index lists)."""

    target: str
    desc: Descriptor

    def index_entry(self) -> dict[str, Any]:
        # No artifactType here (the manifest has it): skopeo 1.9 (containers/image 5.23) does
        # not know the field in an index entry and rewrites the index without it on `copy --all`,
        # so the copy would not keep the index digest.
        return self.desc.to_json()


@dataclass(frozen=True)
class Inputs:
    """What every target is made from."""

    spec: ImageSpec  # the compat image as the Wasmfile describes it
    entries: list[Entry]  # every file of the image, sorted
    module: Entry  # the entrypoint module
    epoch: int
    where: str  # the Wasmfile position of image.targets, for errors
    compression: Compression | None = None  # of the tar layers (None: gzip, default level)
    #: ``transfer(label, done, total, finished)``: bytes compressed so far, for the live display.
    transfer: Callable[[str, int, int, bool], None] | None = None
    #: The entrypoint's kind, decided once from its header (None: read it here).
    module_kind: Kind | None = field(default=None)
    #: Content sha256 of the file entries, by path, if the caller has them (not read again).
    digests: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.module_kind is None:
            assert self.module.source is not None
            object.__setattr__(self, "module_kind", kind_of_file(self.module.source))

    @property
    def wasi_os(self) -> str:
        """``wasip2`` for a component entrypoint, ``wasip1`` for a core module."""
        return "wasip2" if self.module_kind == "component" else "wasip1"


class Layers:
    """The tar layers targets share, each compressed at most once per build."""

    def __init__(self, layout: Layout, inputs: Inputs, memo: LayerMemo | None):
        self.layout, self.inputs, self.memo = layout, inputs, memo
        self._cache: dict[str, tuple[Descriptor, str]] = {}
        self.reused: list[bool] = []
        self.digests: dict[str, str] = {}

    def get(self, name: str, entries: list[Entry]) -> tuple[Descriptor, str]:
        if name not in self._cache:
            say = self.inputs.transfer
            label = f"compressing layer ({name})"
            progress = None if say is None else (lambda done, total: say(label, done, total, False))
            desc, diff_id, reused, digests = cached_layer(entries, self.inputs.epoch, self.layout, self.memo,
                                                          self.inputs.compression, progress, self.inputs.digests)
            if say is not None and not reused:
                size = sum(e.source.stat().st_size for e in entries if e.kind == "file" and e.source)
                say(label, size, size, True)
            self._cache[name] = (desc, diff_id)
            self.reused.append(reused)
            self.digests.update(digests)
        return self._cache[name]

    def full(self) -> tuple[Descriptor, str]:
        """Every image file (compat, docker)."""
        return self.get("full", self.inputs.entries)

    def without_module(self) -> tuple[Descriptor, str] | None:
        """Every image file but the entrypoint module (runwasi carries that as a raw layer)."""
        rest = [e for e in self.inputs.entries if e.path != self.inputs.module.path]
        return self.get("rest", rest) if rest else None


def _module_blob(layout: Layout, module: Entry, media_type: str) -> Descriptor:
    assert module.source is not None
    digest, size = layout.add_blob_file(module.source)
    title = module.path.rsplit("/", 1)[-1]
    return Descriptor(media_type, digest, size, {TITLE: title})


Writer = Callable[[Layout, "Inputs", "Layers"], Written]
#: Each registered target's writer, by target name (filled by :func:`writes`).
WRITERS: dict[str, Writer] = {}


def writes(target: Target) -> Callable[[Writer], Writer]:
    """Register the decorated function as ``target``'s writer (one per target)."""
    def register(fn: Writer) -> Writer:
        if target.name in WRITERS:
            raise ValueError(f"target {target.name!r} has a writer already")
        WRITERS[target.name] = fn
        return fn
    return register


@writes(COMPAT)
def write_compat(layout: Layout, inputs: Inputs, layers: Layers) -> Written:
    layer, diff_id = layers.full()
    return Written(COMPAT.name, write_image(layout, inputs.spec, [(layer, diff_id)], inputs.epoch))


@writes(DOCKER)
def write_docker(layout: Layout, inputs: Inputs, layers: Layers) -> Written:
    layer, diff_id = layers.full()
    spec = replace(inputs.spec, platform="wasi/wasm", variant=None)
    return Written(DOCKER.name, write_image(layout, spec, [(layer, diff_id)], inputs.epoch))


@writes(RUNWASI)
def write_runwasi(layout: Layout, inputs: Inputs, layers: Layers) -> Written:
    """Config ``wasm``/``wasip1`` (``wasip2`` for a component); rootfs diff_ids name only the tar
    layer: containerd (1.6.25+, 1.7.7+; containerd PR 9142) unpacks the layers whose diff_ids the
    config lists and leaves the Wasm layer to the shim."""
    wasi_os = inputs.wasi_os
    tar = layers.without_module()
    wasm = _module_blob(layout, inputs.module, MEDIA_RUNWASI_LAYER)
    labels = dict(inputs.spec.labels)
    labels[RUNWASI_LAYERS_LABEL] = hashlib.sha256(wasm.digest.encode()).hexdigest()
    spec = replace(inputs.spec, platform=f"{wasi_os}/wasm", variant=None, labels=labels)
    config = config_json(spec, [tar[1]] if tar else [], inputs.epoch)
    if tar is None:  # no tar layer: the history entry must not count as one
        config["history"][0]["empty_layer"] = True
    layer_descs = ([tar[0]] if tar else []) + [wasm]
    return Written(RUNWASI.name, _write_manifest(layout, config, MEDIA_CONFIG, layer_descs, spec,
                                                 {"os": wasi_os, "architecture": "wasm"}))


@writes(ARTIFACT)
def write_artifact(layout: Layout, inputs: Inputs, layers: Layers) -> Written:
    """The CNCF TAG-Runtime Wasm OCI artifact: one ``application/wasm`` layer (the module, titled
    like ``wkg oci push`` titles it), config ``application/vnd.wasm.config.v0+json``."""
    modules = _modules(inputs.entries)
    if len(modules) > 1:
        raise ConfigError(
            f"target artifact holds one module, and the image has {len(modules)}: "
            + ", ".join("/" + m.path for m in modules[:4]) + ("..." if len(modules) > 4 else ""),
            where=inputs.where,
            hint="drop `artifact` from image.targets, or keep one .wasm file in image.files",
        )
    assert inputs.module.source is not None
    wasi_os = inputs.wasi_os
    wasm = _module_blob(layout, inputs.module, MEDIA_WASM)
    config: dict[str, Any] = {
        "created": rfc3339(inputs.epoch),
        "architecture": "wasm",
        "os": wasi_os,
        "layerDigests": [wasm.digest],
    }
    if wasi_os == "wasip2":  # the spec: "MUST be present when it is a component"
        imports, exports = component_names(inputs.module.source.read_bytes())
        config["component"] = {"exports": exports, "imports": imports}
    desc = _write_manifest(layout, config, MEDIA_WASM_CONFIG, [wasm], inputs.spec,
                           {"os": wasi_os, "architecture": "wasm"}, artifact_type=MEDIA_WASM_CONFIG,
                           annotations=dict(inputs.spec.annotations))
    return Written(ARTIFACT.name, desc)


def _write_manifest(layout: Layout, config: dict[str, Any], config_type: str,
                    layers: list[Descriptor], spec: ImageSpec, platform: dict[str, str], *,
                    artifact_type: str | None = None,
                    annotations: dict[str, str] | None = None) -> Descriptor:
    cfg = layout.write_json(config, config_type)
    manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST}
    if artifact_type:
        # image-spec manifest.md: artifactType names the artifact; with a non-empty config it is
        # the config's media type, which is what the referrers API reports either way.
        manifest["artifactType"] = artifact_type
    manifest["config"] = cfg.to_json()
    manifest["layers"] = [d.to_json() for d in layers]
    notes = manifest_annotations(spec) if annotations is None else annotations
    if notes:
        manifest["annotations"] = notes
    desc = layout.write_json(manifest, MEDIA_MANIFEST)
    return Descriptor(desc.media_type, desc.digest, desc.size, {}, platform)


def _modules(entries: list[Entry]) -> list[Entry]:
    """The image files that are WebAssembly binaries (by their header, not their name)."""
    return [e for e in entries if e.kind == "file" and e.source is not None and is_wasm_file(e.source)]


def write_targets(layout: Layout, inputs: Inputs, targets: Sequence[str],
                  memo: LayerMemo | None) -> tuple[list[Written], Layers]:
    """Write each target's manifest (and the blobs under it) into ``layout``."""
    unknown = [t for t in targets if find(t) is None]
    if unknown:
        raise ConfigError(f"unknown target {unknown[0]!r}", where=inputs.where,
                          hint=f"use {', '.join(names())}")
    layers = Layers(layout, inputs, memo)
    written = [WRITERS[t](layout, inputs, layers) for t in targets]  # KeyError: a bug (no @writes)
    seen: dict[str, str] = {}
    shares = {t for t in targets if (rule := find(t)) is not None and rule.shares_platform}
    for w in written:
        plat = platform_text(w.desc)
        if plat in seen and w.target not in shares and seen[plat] not in shares:
            raise ConfigError(f"targets {seen[plat]} and {w.target} both give platform {plat}",
                              where=inputs.where,
                              hint="change image.platform or drop one of the two targets")
        seen.setdefault(plat, w.target)
    return written, layers


def write_index(layout: Layout, entries: list[dict[str, Any]]) -> Descriptor:
    """An OCI image index of ``entries`` (descriptor JSON, platform included), in that order."""
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": entries}
    data = canonical_json(index)
    return Descriptor(MEDIA_INDEX, layout.write_blob(data), len(data))

