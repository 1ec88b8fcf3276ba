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
from .targets import target_of

if TYPE_CHECKING:
    from .layout import Layout

KUBERNETES = ("an index holding only Wasm entries: Kubernetes nodes pull their own platform and "
              "fail with \"no match for platform in manifest\" (containerd/runwasi#722, "
              "containerd/containerd#13927): for a RuntimeClass push one target (a single "
              "manifest), or --include the node's linux image")
ATTESTATION = ("{n} unknown/unknown entr{y} in the index (buildx attestations) break Wasm pulls "
               "(deislabs/containerd-wasm-shims#139): rebuild with --provenance=false --sbom=false")
COMPAT = ("target compat relies on wasi/wasm32 and the module.wasm.image/variant annotation: "
          "Docker matches wasi/wasm only (docker/for-win#13410), and podman 4.6+ and CRI-O drop "
          "image annotations (containers/podman#18542, cri-o/cri-o#6906): add the docker target "
          "(--platform wasi/wasm) or set the annotation on the pod")
COMPONENT = ("target {t} holds a component: crun's wasmtime handler runs core modules only "
             "(containers/crun#1871): use the runwasi target for components")
ARTIFACT_IN_INDEX = ("target artifact inside an index: wkg, Spin and wasmCloud resolve an index "
                     "by the host's platform and find nothing (bytecodealliance/wasm-pkg-tools#248): "
                     "push the artifact under a tag of its own (--format artifact)")


@dataclass(frozen=True)
class Finding:
    level: str  # "warning" (the image is valid; some consumers stumble on it)
    message: str

    def render(self) -> str:
        return f"{self.level}: {self.message}"


def for_targets(targets: Sequence[str], *, includes: int = 0,
                component: bool | None = None) -> list[Finding]:
    """What the targets a Wasmfile names (plus ``includes`` included images) will meet."""
    found: list[Finding] = []
    if len(targets) > 1 and not includes:
        found.append(Finding("warning", KUBERNETES))
    if "compat" in targets:
        found.append(Finding("warning", COMPAT))
    if "artifact" in targets and len(targets) + includes > 1:
        found.append(Finding("warning", ARTIFACT_IN_INDEX))
    if component:
        found += [Finding("warning", COMPONENT.format(t=t)) for t in targets if t in ("compat", "docker")]
    return found


def for_wasmfile(image: Any, context: Path) -> list[Finding]:
    """``wasmbuild check``: the Wasmfile's targets; the module kind when its entrypoint is a
    context file (a stage's output is only known after the build)."""
    from ..paths import clean_image_path, clean_relative
    from ..wasm.binary import kind

    entry = image.entrypoint[0]
    component = None
    try:
        target = clean_image_path(entry if entry.startswith("/") else f"{image.workdir}/{entry}")
        source = next((f.src for f in image.files if f.src and clean_image_path(f.dest) == target), None)
        if source is not None:
            with open(context / clean_relative(source), "rb") as fh:
                component = kind(fh.read(8)) == "component"
    except (OSError, ValueError, BuildError):
        component = None  # load and render report a bad path or a non-Wasm entrypoint
    return for_targets(list(image.targets), includes=len(image.include), component=component)


def for_image(layout: Layout, desc: Descriptor) -> list[Finding]:
    """What an image about to be pushed will meet (an index: each of its entries too)."""
    doc = layout.read_json(desc.digest)
    if not is_index(desc, doc):
        # A single manifest: nothing to say at push time. (The compat target's reliance on its
        # annotation is `wasmbuild check`'s to tell: repeated on every push of the default
        # target, it would be noise that teaches users to skip warnings.)
        return []
    entries = children(desc, doc)
    unknown = [e for e in entries if platform_text(e) in ("unknown/unknown", "?/?")]
    found: list[Finding] = []
    if unknown:
        found.append(Finding("warning", ATTESTATION.format(n=len(unknown), y="y" if len(unknown) == 1 else "ies")))
    wasm = [e for e in entries if (e.platform or {}).get("os") in WASI_OSES]
    if wasm and len(wasm) == len(entries) - len(unknown):
        found.append(Finding("warning", KUBERNETES))
    shapes = []
    for e in wasm:
        if layout.has_blob(e.digest):
            shapes.append(target_of(layout.read_json(e.digest), e.platform))
    if "artifact" in shapes and len(entries) > 1:
        found.append(Finding("warning", ARTIFACT_IN_INDEX))
    return found


def warn(findings: Sequence[Finding]) -> None:
    """Print each finding as one line on stderr."""
    for f in findings:
        print(f.render(), file=sys.stderr)
