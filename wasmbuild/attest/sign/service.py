"""Sign and verify an image in a registry with every format the keys name.

``sign_image`` signs the manifest a reference resolves to (an index stays the index: what podman
pulls and checks), by digest, and -- with a cosign key -- the image's SBOM and provenance as DSSE
envelopes and each precompiled extra's manifest. ``verify_image`` checks the same, and
``gate`` is what ``pull --verify`` / ``run --verify`` / a policy run before anything is written.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ConfigError
from ...oci import Descriptor
from ...oci.referrers import ARTIFACT_CYCLONEDX, ARTIFACT_INTOTO, ARTIFACT_SPDX
from ...reference import parse
from . import KeyOptions, Signer, Target, Verified, verifiers

if TYPE_CHECKING:
    from ...registry.transport import RegistryOptions
    from .cosign import CosignVerifier

DOCUMENT_TYPES = (ARTIFACT_SPDX, ARTIFACT_CYCLONEDX, ARTIFACT_INTOTO)


def _name(ref: str) -> str:
    return parse(ref.removeprefix("docker://"), default_tag=None).name


def _target(ref: str, opts: RegistryOptions | None) -> Target:
    from ...registry.signatures import resolve_top

    top = resolve_top(ref, opts)
    return Target(ref, top.digest, opts, top.media_type, top.size)


def sign_image(ref: str, chosen: list[Signer], opts: RegistryOptions | None = None,
               digest: str | None = None) -> dict[str, Any]:
    """Sign ``ref`` (by the digest it resolves to, or ``digest``: what a build just pushed) with
    each of ``chosen`` (from :func:`~wasmbuild.attest.sign.signers`); returns what was written."""
    if not chosen:
        raise ConfigError("sign: no key", hint="--key PREFIX.key (cosign format) or --gpg-key KEY --lookaside URL")
    target = _target(f"{_name(ref)}@{digest}" if digest else ref, opts)
    target = Target(ref, target.digest, opts, target.media_type, target.size)
    out: dict[str, Any] = {"digest": target.digest, "reference": target.repo_ref, "signatures": {},
                           "attestations": [], "precompiled": []}
    for s in chosen:
        out["signatures"][s.format] = s.sign(target)
        key = getattr(s, "key", None)
        if s.format == "cosign" and key is not None:
            out["attestations"], out["precompiled"] = _sign_attached(s, key, target, opts)
    return out


def _sign_attached(signer: Any, key: Any, target: Target, opts: RegistryOptions | None) -> tuple[list[str], list[str]]:
    """DSSE envelopes of the documents attached to the image, and signatures of its extras."""
    from ...oci.layout import Layout
    from ...oci.referrers import attach
    from ...registry.referrers import fetch_documents, list_referrers, push_referrers
    from ...wasm.precompiled import ARTIFACT_TYPE
    from .dsse import document

    found, docs = fetch_documents(target.repo_ref, opts, DOCUMENT_TYPES)
    envelopes = [document(key, d.artifact_type or "", body, _name(target.ref), found.subject.digest)
                 for d, body in docs]
    written: list[str] = []
    if envelopes:
        with tempfile.TemporaryDirectory(prefix="wasmbuild-sign-") as tmp:
            layout = Layout(Path(tmp))
            layout.init()
            with layout.writing():
                descs = attach(layout, found.subject, envelopes, "1970-01-01T00:00:00Z")
                push_referrers(layout, descs, target.repo_ref, opts)
            written = [d.digest for d in descs]
    extras = [d for d in list_referrers(target.repo_ref, opts).referrers if d.artifact_type == ARTIFACT_TYPE]
    for extra in extras:
        signer.sign(Target(target.ref, extra.digest, opts, extra.media_type, extra.size))
    return written, [d.digest for d in extras]


def verify_image(ref: str, keys: KeyOptions, opts: RegistryOptions | None = None) -> dict[str, Any]:
    """Every format ``keys`` names must verify ``ref``'s digest (else TrustError); also says
    which attached documents have a DSSE envelope signed by a cosign key given."""
    chosen = verifiers(keys)
    if not chosen:
        raise ConfigError("verify: no key",
                          hint="--key PREFIX.pub (cosign format) or --gpg-pubkey FILE --lookaside URL")
    target = _target(ref, opts)
    done = [v.verify(target) for v in chosen]
    out: dict[str, Any] = {"digest": target.digest, "reference": target.repo_ref,
                           "signatures": [_json(v) for v in done], "attestations": []}
    cosign = [v for v in chosen if v.format == "cosign"]
    if cosign:
        out["attestations"] = attestations(target, cosign[0], opts)  # type: ignore[arg-type]
    return out


def attestations(target: Target, verifier: CosignVerifier, opts: RegistryOptions | None) -> list[dict[str, Any]]:
    """The DSSE envelopes of the image manifest ``target`` stands for that verify with the key."""
    from ...registry.referrers import list_referrers
    from ...registry.signatures import fetch_signatures
    from .dsse import MEDIA_DSSE, open_envelope

    subject = list_referrers(target.repo_ref, opts).subject.digest
    out: list[dict[str, Any]] = []
    for f in fetch_signatures(target.repo_ref, subject, (MEDIA_DSSE,), (), opts):
        for body in f.blobs.values():
            got = open_envelope(verifier.keys, body, subject)
            if isinstance(got, tuple):
                out.append({"predicateType": got[1].get("predicateType"), "subject": subject,
                            "keyid": got[0].keyid, "referrer": f.digest})
    return out


def _json(v: Verified) -> dict[str, str]:
    return {"format": v.format, "keyid": v.keyid, "key": v.key, "via": v.via}


@dataclass
class Gate:
    """What ``pull``/``run`` checked before writing: the verified digest (pull by it), the
    signatures, and the cosign verifier precompiled extras must verify with (None: no extra from
    the registry is trusted by a key)."""

    ref: str
    digest: str
    opts: RegistryOptions | None = None
    verified: list[Verified] = field(default_factory=list)
    extras: CosignVerifier | None = None

    @property
    def pinned(self) -> str:
        return f"{_name(self.ref)}@{self.digest}"

    def trusts_extra(self, extra: Descriptor) -> bool:
        if self.extras is None:
            return False
        from ...errors import TrustError

        try:
            self.extras.verify(Target(self.ref, extra.digest, self.opts, extra.media_type, extra.size))
        except TrustError:
            return False
        return True


def gate(ref: str, keys: KeyOptions | None, policy_file: Path | None,
         opts: RegistryOptions | None = None) -> Gate | None:
    """Verify ``ref`` with ``--verify`` keys and/or the policy (``--policy`` or
    ``WASMBUILD_POLICY``) before it is pulled; None when neither asks for anything."""
    from .policy import find_policy, requirements

    policy = find_policy(policy_file)
    if keys is None and policy is None:
        return None
    target = _target(ref, opts)
    result = Gate(ref, target.digest, opts)
    sets: list[KeyOptions] = [keys] if keys is not None else []
    if policy is not None:
        sets += requirements(policy, ref)  # raises TrustError for "reject"
    for ks in sets:
        for v in verifiers(ks):
            result.verified.append(v.verify(target))
            if v.format == "cosign" and result.extras is None:
                result.extras = v  # type: ignore[assignment]
    return result
