"""What a build made and where it went: :class:`BuiltImage` (the image in the store, before it is
published) and :class:`BuildResult`, the one record ``build --json``, ``--metadata-file`` and the
GitHub Action (``scripts/action-run.sh`` reads the metadata file) are written from.

The JSON keys are an interface: scripts and CI read them (README, action.yml's ``metadata``).
An image build gives ``digest``, ``size``, ``layer_reused``, ``platform``, ``targets``,
``stages``, ``referrers``, ``tags``, ``pushed``, and when they apply ``attached``,
``cache_imported``, ``cache_to``, ``signed``; ``build --target`` gives ``target``, ``stages``,
``exported`` (and the cache keys). ``--metadata-file`` adds buildx's ``containerimage.digest``
and ``image.name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..oci import Descriptor
from . import TRANSPORTS, Published

if TYPE_CHECKING:
    from ..execute.scheduler import StageResult
    from ..oci.layout import Layout


@dataclass(frozen=True)
class BuiltImage:
    """The image a build assembled (and attested) in the store, untagged."""

    layout: Layout
    descriptor: Descriptor
    stages: tuple[StageResult, ...]
    size: int  # bytes of config + layers + manifest
    layer_reused: bool = False  # the layer blob came from the memo, not a new compression
    targets: tuple[tuple[str, Descriptor], ...] = ()  # (target, manifest) of an index's entries
    #: Artifact manifests (SBOM, provenance, precompiled code) whose subject is an image manifest
    #: of this build.
    referrers: tuple[Descriptor, ...] = ()

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "size": self.size,
            "layer_reused": self.layer_reused,
            "platform": self.descriptor.platform,
            "targets": [{"target": t, "digest": d.digest, "platform": d.platform}
                        for t, d in self.targets],
            "stages": [stage_json(s) for s in self.stages],
            "referrers": [{"digest": r.digest, "artifactType": r.artifact_type} for r in self.referrers],
        }


def stage_json(s: StageResult) -> dict[str, Any]:
    return {"name": s.name, "cached": s.cached, "seconds": round(s.seconds, 3), "key": s.key}


@dataclass(frozen=True)
class BuildResult:
    """One ``wasmbuild build``: the stages run (timings, cache hits), and either the image with
    where it went (``image``) or, for ``--target``, the stage built (``target``)."""

    stages: tuple[StageResult, ...]
    #: The image built (``None`` for ``--target``: a stage, no image).
    image: BuiltImage | None = None
    #: ``--target``: the stage built up to.
    target: str | None = None
    #: Where the image went (store tags, outputs, registry references).
    published: Published = field(default_factory=Published)
    #: Where the image's referrers went (``None``: the image has none).
    attached: tuple[str, ...] | None = None
    #: ``--target -o local:DIR``: where the target stage's outputs were copied.
    exported: tuple[str, ...] = ()
    #: Stage cache entries imported by ``--cache-from`` (``None``: none was asked for).
    cache_imported: int | None = None
    #: ``--cache-to``: the cache index pushed, as ``name@digest``.
    cache_to: str | None = None
    #: ``--sign``/``--sign-gpg``: what was signed, per pushed reference (as ``wasmbuild sign``
    #: reports it; ``None``: not signed).
    signed: tuple[Mapping[str, Any], ...] | None = None

    @property
    def digest(self) -> str | None:
        return self.image.digest if self.image is not None else None

    def to_json(self) -> dict[str, Any]:
        """The result as ``build --json`` prints it."""
        data: dict[str, Any] = {}
        if self.cache_imported is not None:
            data["cache_imported"] = self.cache_imported
        if self.image is None:
            data.update(target=self.target, stages=[stage_json(s) for s in self.stages],
                        exported=list(self.exported))
        else:
            data.update(self.image.to_json())
            data.update(tags=list(self.published.tags), pushed=list(self.published.pushed))
            if self.attached is not None:
                data["attached"] = list(self.attached)
        if self.cache_to is not None:
            data["cache_to"] = self.cache_to
        if self.signed is not None:
            data["signed"] = [dict(s) for s in self.signed]
        return data

    def metadata(self) -> dict[str, Any]:
        """``--metadata-file``: :meth:`to_json` plus buildx's keys for the digest and the names."""
        data = self.to_json()
        if self.image is not None:
            data["containerimage.digest"] = self.image.digest
            names = [t for t in self.published.tags if not t.startswith(TRANSPORTS)]
            data["image.name"] = ",".join(names + list(self.published.pushed))
        return data
