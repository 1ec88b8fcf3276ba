"""The SBOM and the provenance as signed DSSE envelopes (in-toto's attestation format, what
``cosign attest`` writes), so that they can be checked without trusting the registry.

An envelope (secure-systems-lab/dsse ``envelope.md``) signs PAE(payloadType, payload) with the
cosign key; its payload is an in-toto Statement v1 about the image manifest: the provenance as it
is (it is a Statement already), an SBOM wrapped with predicateType ``https://spdx.dev/Document``
(or CycloneDX's). Each envelope is an OCI 1.1 referrer of the image manifest (artifact and layer
type ``application/vnd.dsse.envelope.v1+json``, annotation ``predicateType``, as cosign's
``.att`` layers have). The signature's ``keyid`` is the sha256 of the key's DER
SubjectPublicKeyInfo; securesystemslib's ``Envelope.verify`` checks them (tests).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ...oci import canonical_json
from ...oci.referrers import ARTIFACT_CYCLONEDX, ARTIFACT_INTOTO, ARTIFACT_SPDX, Document
from .keys import PrivateKey, PublicKey, b64, unb64

MEDIA_DSSE = "application/vnd.dsse.envelope.v1+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT = "https://in-toto.io/Statement/v1"
PREDICATES = {ARTIFACT_SPDX: "https://spdx.dev/Document", ARTIFACT_CYCLONEDX: "https://cyclonedx.org/bom"}


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def statement(artifact_type: str, document: bytes, subject_name: str, subject_digest: str) -> tuple[str, bytes]:
    """(predicate type, in-toto Statement bytes) for an attached document."""
    if artifact_type == ARTIFACT_INTOTO:
        doc = json.loads(document)
        return str(doc.get("predicateType", "")), document
    predicate = PREDICATES[artifact_type]
    algo, _, hexpart = subject_digest.partition(":")
    body = canonical_json({"_type": STATEMENT, "predicateType": predicate, "predicate": json.loads(document),
                           "subject": [{"name": subject_name, "digest": {algo: hexpart}}]})
    return predicate, body


def envelope(key: PrivateKey, body: bytes) -> bytes:
    sig = key.sign(pae(PAYLOAD_TYPE, body))
    return canonical_json({"payloadType": PAYLOAD_TYPE, "payload": b64(body),
                           "signatures": [{"keyid": key.public.keyid, "sig": b64(sig)}]})


def document(key: PrivateKey, artifact_type: str, data: bytes, subject_name: str, subject_digest: str) -> Document:
    """The envelope of one attached document, ready to attach as a referrer."""
    predicate, body = statement(artifact_type, data, subject_name, subject_digest)
    short = {ARTIFACT_SPDX: "spdx", ARTIFACT_CYCLONEDX: "cyclonedx", ARTIFACT_INTOTO: "provenance"}[artifact_type]
    return Document(MEDIA_DSSE, envelope(key, body), f"attestation-{short}-{key.public.keyid[:16]}",
                    {"predicateType": predicate, "dev.cosignproject.cosign/signature": ""}, MEDIA_DSSE)


def open_envelope(keys: list[PublicKey], data: bytes, subject_digest: str) -> tuple[PublicKey, dict[str, Any]] | str:
    """(the key that signed it, the Statement) if ``data`` is an envelope signed by one of
    ``keys`` about ``subject_digest``; else why not."""
    try:
        env = json.loads(data)
        body = unb64(env["payload"])
        sigs = [(s.get("keyid", ""), unb64(s["sig"])) for s in env["signatures"]]
        ptype = env["payloadType"]
    except (ValueError, KeyError, TypeError):
        return "not a DSSE envelope"
    if body is None:
        return "its payload is not base64"
    for key in keys:
        if any(sig is not None and key.verify(sig, pae(ptype, body)) for _kid, sig in sigs):
            try:
                stmt = json.loads(body)
                digests = [s["digest"] for s in stmt["subject"]]
            except (ValueError, KeyError, TypeError):
                return "its payload is not an in-toto Statement"
            algo, _, hexpart = subject_digest.partition(":")
            if not any(d.get(algo) == hexpart for d in digests if isinstance(d, dict)):
                return f"it is about another image (not {subject_digest})"
            return key, stmt
    return "no signature by a trusted key"


def decode(text: str) -> bytes:
    return base64.b64decode(text)
