"""Provenance of an image: an in-toto Statement v1 with a SLSA Provenance v1 predicate.

``buildDefinition`` says what was asked (our build type, the Wasmfile by path and digest, the
source date epoch and the image's platform) and what it resolved to (every source by digest,
every download by URL + digest, the recipes, the toolchains and builder images);
``runDetails`` names wasmbuild and its version. Start and finish times are
``SOURCE_DATE_EPOCH``, not the clock: a rebuild of the same inputs gives the same bytes (the
trade-off: these times say when the sources are from, not when the build ran). Nothing about the
machine enters except what the build depends on (toolchain paths and versions, builder ids).
"""

from __future__ import annotations

from typing import Any

from ..assemble.image import rfc3339
from ..oci import Descriptor, canonical_json
from .facts import Facts, Tool

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_SLSA = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://wasmbuild.dev/provenance/wasmfile/v1"
BUILDER_ID = "https://wasmbuild.dev/builder/wasmbuild"


def _tool(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.sha256:
        out["digest"] = {"sha256": tool.sha256}
    if tool.uri:
        out["uri"] = tool.uri
    if not tool.sha256 and not tool.uri:
        # A resource descriptor needs uri, digest or content: the runner identity is its content.
        out["uri"] = f"urn:wasmbuild:runner:{tool.identity}"
    annotations = {"kind": tool.kind, "identity": tool.identity, "stages": ",".join(tool.stages)}
    if tool.version:
        annotations["version"] = tool.version
    out["annotations"] = annotations
    return out


def statement(facts: Facts, subject: Descriptor) -> dict[str, Any]:
    """The in-toto statement about image manifest ``subject``."""
    deps: list[dict[str, Any]] = [
        {"name": s.path, "uri": f"file:{s.path}", "digest": {"sha256": s.sha256},
         "annotations": {"kind": "source"}}
        for s in facts.sources
    ]
    deps += [{"name": d.name, "uri": d.uri, "digest": d.digests,
              "annotations": {"kind": "download", "stages": ",".join(d.stages)}}
             for d in facts.downloads]
    deps += [{"name": p.name, "uri": p.purl,
              "annotations": {"kind": "package", "stages": ",".join(p.stages), **({"pin": p.pin} if p.pin else {})}}
             for p in facts.packages]
    deps += [{"name": f"wasmbuild-recipe-{r.name}", "uri": f"urn:wasmbuild:recipe:{r.name}",
              "digest": {"sha256": r.sha256},
              "annotations": {"kind": "recipe", "library": str(r.library).lower(), "stages": ",".join(r.stages)}}
             for r in facts.recipes]
    deps += [_tool(t) for t in facts.tools]
    time = rfc3339(facts.epoch)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": facts.name, "digest": {"sha256": subject.digest.removeprefix("sha256:")}}],
        "predicateType": PREDICATE_SLSA,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "wasmfile": {"path": facts.wasmfile.path, "digest": {"sha256": facts.wasmfile.sha256}},
                    "sourceDateEpoch": facts.epoch,
                    "platform": facts.platform,
                },
                "internalParameters": {
                    "stages": [{"name": s.name, "key": s.key, "runner": s.runner,
                                **({"recipe": s.recipe} if s.recipe else {})} for s in facts.stages],
                },
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"wasmbuild": facts.version}},
                "metadata": {"startedOn": time, "finishedOn": time},
            },
        },
    }


def provenance_bytes(facts: Facts, subject: Descriptor) -> bytes:
    return canonical_json(statement(facts, subject))
