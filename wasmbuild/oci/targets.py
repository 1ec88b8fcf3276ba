"""The shapes of Wasm image ("targets") wasmbuild writes: each one :class:`Target`, registered
here and nowhere else; every list of target names (the Wasmfile's choices and its schema,
``--format``, ``--platform``, the pre-flight rules, who reads what) is derived from
:func:`registered`.

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

The records here are data (``oci/`` is a base package and imports no step): each shape's writer
is registered by ``assemble/targets.py`` against the same :class:`Target` (``@writes(COMPAT)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigError
from .graph import WASI_OSES

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

#: What users of a shape meet, with the upstream thread (``oci/preflight.py`` prints them).
COMPAT_TRAP = ("target compat relies on wasi/wasm32 and the module.wasm.image/variant annotation: "
               "Docker matches wasi/wasm only (docker/for-win#13410), and podman 4.6+ and CRI-O drop "
               "image annotations (containers/podman#18542, cri-o/cri-o#6906): add the docker target "
               "(--platform wasi/wasm) or set the annotation on the pod")
CRI_UNPACK = ("target docker on Kubernetes: containerd 2.1+ pulls CRI images through its transfer "
              "service, which does not unpack a non-host platform such as wasi/wasm, and the pod fails "
              "with \"parent snapshot ... does not exist\" (containerd/containerd#8515, "
              "rancher-sandbox/rancher-desktop#10524): pull the image on the node first with "
              "`ctr -n k8s.io image pull --local --platform wasi/wasm REF`")
ARTIFACT_CONFIG = ("target artifact: its config type application/vnd.wasm.config.v0+json is refused "
                   "by registries that allow only known artifact types (Quay without it in "
                   "ALLOWED_OCI_ARTIFACT_TYPES, oras-project/oras#738) and by tools that read only "
                   "container images (regclient/regclient#791): if a push is refused, allow the "
                   "type on the registry, or push the runwasi target")

Manifest = Mapping[str, Any]
Platform = Mapping[str, Any]


@dataclass(frozen=True)
class Target:
    """One image shape: its name and every rule a reader of the code needs about it."""

    name: str
    #: A few words for the Wasmfile's schema (``image.targets``).
    summary: str
    #: Whether a manifest (and the platform its index gives, if any) has this shape...
    recognise: Callable[[Manifest, Platform], bool]
    #: ...asked in this order, lowest first (an artifact's layer is also a Wasm layer).
    precedence: int
    #: ``build --platform OS/ARCH``: the platforms that name this target.
    platforms: tuple[str, ...] = ()
    #: False: its runtime (crun's wasmtime handler) runs core modules only.
    runs_components: bool = True
    #: Post-MVP proposals (``wasm/features.py`` names) its runtime lacks.
    lacks: frozenset[str] = frozenset()
    #: What its users meet (a pre-flight warning), or None.
    trap: str | None = None
    #: Repeat :attr:`trap` on every push, not only in ``check`` and the build.
    trap_on_push: bool = True
    #: Its readers resolve no index (they want a tag of its own).
    alone: bool = False
    #: It may share its platform with another entry of an index (readers tell it by its config type).
    shares_platform: bool = False
    #: Every layer is a tar ``docker load`` unpacks (``-o docker-archive:`` can hold it).
    tar_layers_only: bool = True
    #: How ``run`` reads it: ``rootfs`` (the image's files, the module from its entrypoint or its
    #: Wasm layer, env and workdir from the config) or ``module`` (the one Wasm layer alone: no
    #: files, no env, argv[0] its title).
    runs_as: Literal["rootfs", "module"] = "rootfs"


_REGISTRY: dict[str, Target] = {}


def register(target: Target) -> Target:
    """Add ``target`` (its writer: ``assemble.targets.writes``); a name is registered once."""
    if target.name in _REGISTRY:
        raise ValueError(f"target {target.name!r} is registered already")
    _REGISTRY[target.name] = target
    return target


def unregister(name: str) -> None:
    """Remove a target (tests that register a toy one)."""
    del _REGISTRY[name]


def registered() -> tuple[Target, ...]:
    """Every target, in the order they were registered (the order every list shows)."""
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def find(name: str) -> Target | None:
    """The target called ``name`` (None for ``"image"``, a foreign shape, or a typo)."""
    return _REGISTRY.get(name)


def platform_targets() -> dict[str, str]:
    """``build --platform OS/ARCH``: the platforms that name exactly one target."""
    return {p: t.name for t in registered() for p in t.platforms}


def chosen(formats: Iterable[str], platforms: Iterable[str]) -> tuple[str, ...]:
    """``--format`` and ``--platform`` as target names, in the order given, each once."""
    by_platform = platform_targets()
    picked: list[str] = []
    for f in formats:
        if f not in _REGISTRY:
            raise ConfigError(f"unknown --format {f!r}", hint=f"use {', '.join(names())}")
        picked.append(f)
    for plat in platforms:
        if plat not in by_platform:
            raise ConfigError(f"--platform {plat} is not a Wasm platform wasmbuild writes",
                              hint="use " + ", ".join(f"{p} ({t})" for p, t in by_platform.items())
                              + "; add another platform's image with --include")
        picked.append(by_platform[plat])
    return tuple(dict.fromkeys(picked))


def platforms_help() -> str:
    """``wasi/wasm32 (compat), ...``: the ``--platform`` choices, for ``--help``."""
    return ", ".join(f"{' or '.join(t.platforms)} ({t.name})" for t in registered() if t.platforms)


class NameSchema:
    """pydantic's hook (``Annotated[str, NameSchema]``): a target name's JSON Schema lists the
    registry's names, asked when the schema is generated (the model's validator checks them)."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core: Any, handler: Any) -> dict[str, Any]:
        return {"enum": list(names()), "type": "string"}


def describe(schema: dict[str, Any]) -> None:
    """The JSON Schema description of the Wasmfile's ``image.targets``: every target's words."""
    shapes = ", ".join(f"`{t.name}` ({t.summary})" for t in registered())
    schema["description"] = (f"Image shapes to write (see docs/targets.md): {shapes}. "
                             "Several give one OCI image index.")


def is_tar_layer(media_type: str) -> bool:
    """Whether a layer is a (possibly compressed) tar to unpack into the root filesystem."""
    return ".tar" in media_type or "rootfs.diff" in media_type


def _mapping(value: Any) -> Mapping[str, Any]:  # a foreign manifest may hold anything
    return value if isinstance(value, dict) else {}


def _layer_types(manifest: Manifest) -> list[Any]:
    layers = manifest.get("layers")
    return [_mapping(layer).get("mediaType") for layer in (layers if isinstance(layers, list) else [])]


def shape_of(manifest: Manifest, platform: Platform | None = None) -> Target | None:
    """The target ``manifest`` has (None for anything else: a Linux image, say)."""
    plat = platform or {}
    for target in sorted(registered(), key=lambda t: t.precedence):
        if target.recognise(manifest, plat):
            return target
    return None


def target_of(manifest: Manifest, platform: Platform | None = None) -> str:
    """The name of :func:`shape_of` ``manifest``, or ``"image"`` for anything else."""
    shape = shape_of(manifest, platform)
    return shape.name if shape is not None else "image"


# -- the four shapes ------------------------------------------------------------------------

def _has_variant(manifest: Manifest) -> bool:
    return bool(_mapping(manifest.get("annotations")).get(VARIANT_ANNOTATION))


COMPAT = register(Target(
    "compat", "platform and variant above",
    # the variant annotation, or any other WASI platform no other shape claims
    lambda m, p: _has_variant(m) or p.get("os") in WASI_OSES, precedence=40,
    platforms=("wasi/wasm32",), runs_components=False, trap=COMPAT_TRAP,
    # repeated on every push of the default target, it would be noise that teaches users to skip
    # warnings: `check` and the build tell it
    trap_on_push=False,
))
DOCKER = register(Target(
    "docker", "wasi/wasm",
    lambda m, p: p.get("os") == "wasi" and p.get("architecture") == "wasm" and not _has_variant(m),
    precedence=30, platforms=("wasi/wasm",), runs_components=False,
    lacks=frozenset({"exception-handling"}), trap=CRI_UNPACK,
))
RUNWASI = register(Target(
    "runwasi", "Wasm layer",
    lambda m, p: any(t in WASM_LAYER_TYPES for t in _layer_types(m)), precedence=20,
    platforms=("wasip1/wasm", "wasip2/wasm"), lacks=frozenset({"exception-handling"}),
    tar_layers_only=False,
))
ARTIFACT = register(Target(
    "artifact", "CNCF Wasm OCI artifact",
    lambda m, p: _mapping(m.get("config")).get("mediaType") == MEDIA_WASM_CONFIG, precedence=10,
    trap=ARTIFACT_CONFIG, alone=True, shares_platform=True, tar_layers_only=False, runs_as="module",
))
#: ``image.targets`` when the Wasmfile names none.
DEFAULT = COMPAT


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
