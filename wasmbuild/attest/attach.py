"""Attach the SBOM and the provenance to every image manifest a build wrote.

Called once the image is assembled: the facts are gathered once (``facts.py``), then for each
image manifest under the built descriptor (one today; each entry of an index when a build
writes several targets) the documents are written into the layout as OCI 1.1 referrers
(``oci/referrers.py``). The image itself is not touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..assemble.image import rfc3339
from ..cache.digests import DigestMemo
from ..errors import ConfigError
from ..execute.scheduler import StageResult
from ..oci import Descriptor
from ..oci.layout import Layout
from ..oci.referrers import (
    ARTIFACT_CYCLONEDX,
    ARTIFACT_INTOTO,
    ARTIFACT_SPDX,
    PREDICATE_TYPE,
    Document,
    attach,
    image_manifests,
)
from ..plan import Plan

SBOM_FORMATS = ("spdx", "cyclonedx")


@dataclass(frozen=True)
class AttestOptions:
    """Which documents a build attaches (``--sbom FORMAT``, ``--no-sbom``)."""

    sbom: tuple[str, ...] = ("spdx",)
    provenance: bool = True

    @classmethod
    def off(cls) -> AttestOptions:
        return cls((), False)

    @classmethod
    def parse(cls, formats: Sequence[str], enabled: bool = True) -> AttestOptions:
        if not enabled:
            return cls.off()
        chosen = tuple(dict.fromkeys(f.strip().lower() for f in formats)) or ("spdx",)
        for f in chosen:
            if f not in SBOM_FORMATS:
                raise ConfigError(f"unknown SBOM format {f!r}", hint=f"use one of {', '.join(SBOM_FORMATS)}")
        return cls(chosen, True)

    @property
    def enabled(self) -> bool:
        return bool(self.sbom) or self.provenance


def documents(plan: Plan, results: Sequence[StageResult], outputs: Mapping[str, Path],
              subjects: Sequence[Descriptor], options: AttestOptions,
              memo: DigestMemo | None = None) -> dict[str, list[Document]]:
    """The documents of each subject (image manifest digest -> documents)."""
    from .facts import gather

    facts = gather(plan, results, outputs, memo)
    out: dict[str, list[Document]] = {}
    for subject in subjects:
        docs: list[Document] = []
        if "spdx" in options.sbom:
            from .sbom import spdx_bytes

            docs.append(Document(ARTIFACT_SPDX, spdx_bytes(facts, subject), "sbom.spdx.json"))
        if "cyclonedx" in options.sbom:
            from .cyclonedx import cyclonedx_bytes

            docs.append(Document(ARTIFACT_CYCLONEDX, cyclonedx_bytes(facts, subject), "sbom.cdx.json"))
        if options.provenance:
            from .provenance import PREDICATE_SLSA, provenance_bytes

            docs.append(Document(ARTIFACT_INTOTO, provenance_bytes(facts, subject), "provenance.intoto.json",
                                 {PREDICATE_TYPE: PREDICATE_SLSA}))
        out[subject.digest] = docs
    return out


def attest(plan: Plan, results: Sequence[StageResult], outputs: Mapping[str, Path], layout: Layout,
           top: Descriptor, options: AttestOptions, memo: DigestMemo | None = None) -> tuple[Descriptor, ...]:
    """Attach the documents ``options`` asks for to every image manifest under ``top`` in
    ``layout``; returns the referrer descriptors (artifact manifests), in a stable order."""
    if not options.enabled:
        return ()
    from ..dirs import source_date_epoch

    subjects = image_manifests(top, layout.read_json)
    docs = documents(plan, results, outputs, subjects, options, memo)
    created = rfc3339(source_date_epoch())
    attached: list[Descriptor] = []
    for subject in subjects:
        attached += attach(layout, subject, docs[subject.digest], created)
    return tuple(attached)
