"""attest: the pipeline step after assemble. What a build is made of (facts, SBOM, CycloneDX,
provenance), attached to every image manifest as OCI 1.1 referrers (docs/supply-chain.md)."""

from __future__ import annotations

from .attach import AttestOptions, attest

__all__ = ["AttestOptions", "attest"]
