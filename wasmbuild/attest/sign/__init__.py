"""Signing and verification: one signer/verifier pair per signature format (docs/signing.md).

A format is one module here with a ``Signer`` and a ``Verifier`` (the protocols below) and one
line in :data:`FORMATS`; nothing else lists formats. Today:

- ``cosign`` (``cosign.py``): cosign's format with an ECDSA P-256 key, in the registry;
- ``simple`` (``simple.py``): containers-signature(5) "simple signing" with an OpenPGP key, in a
  lookaside directory or URL -- what podman and skopeo verify with a ``signedBy`` policy.

``dsse.py`` signs the SBOM and provenance as DSSE envelopes with the cosign key, ``service.py``
signs and verifies an image with all of it, and ``policy.py`` reads containers-policy.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ...oci import MEDIA_MANIFEST

if TYPE_CHECKING:
    from ...registry.transport import RegistryOptions

#: format name -> the module holding its signer/verifier pair (imported only when used).
FORMATS = {"cosign": "wasmbuild.attest.sign.cosign", "simple": "wasmbuild.attest.sign.simple"}


@dataclass(frozen=True)
class Target:
    """What is signed or verified: the manifest ``digest`` in the repository of ``ref`` (the name
    as the user gave it: a tag is the signed identity; the signature is always by digest)."""

    ref: str
    digest: str
    opts: RegistryOptions | None = None
    media_type: str = MEDIA_MANIFEST
    size: int = 0

    @property
    def repo_ref(self) -> str:
        """``REGISTRY/NAME@DIGEST``: the repository the signatures live in."""
        from ...reference import parse

        return f"{parse(self.ref.removeprefix('docker://'), default_tag=None).name}@{self.digest}"


@dataclass(frozen=True)
class Verified:
    """A signature that verified: its format, the key (id and where it came from), and where the
    signature was found (``tag``, ``referrer``, ``lookaside``)."""

    format: str
    keyid: str
    key: str
    via: str
    details: dict[str, str] = field(default_factory=dict)


class Signer(Protocol):
    format: str

    def sign(self, target: Target) -> list[str]:
        """Sign ``target``; returns what was written (empty when it was signed already)."""
        ...


class Verifier(Protocol):
    format: str

    def verify(self, target: Target) -> Verified:
        """A signature of ``target`` by a trusted key, else :class:`~wasmbuild.errors.TrustError`
        (one line naming the digest and the key)."""
        ...


@dataclass(frozen=True)
class KeyOptions:
    """The keys of ``sign``/``verify``/``--sign``/``--verify``, as the command line gives them;
    each format takes the ones it understands (``--key``: cosign; ``--gpg-key``/``--gpg-pubkey``
    with ``--lookaside``: simple signing)."""

    key: str | None = None
    passphrase_file: Path | None = None
    gpg_key: str | None = None
    gpg_pubkey: str | None = None
    lookaside: str | None = None


def _modules() -> list[Any]:
    import importlib

    return [importlib.import_module(m) for m in FORMATS.values()]


def signers(keys: KeyOptions) -> list[Signer]:
    """A signer for every format ``keys`` names a key of."""
    return [s for m in _modules() if (s := m.signer(keys)) is not None]


def verifiers(keys: KeyOptions) -> list[Verifier]:
    """A verifier for every format ``keys`` names a trusted key of."""
    return [v for m in _modules() if (v := m.verifier(keys)) is not None]
