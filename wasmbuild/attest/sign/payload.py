"""The simple-signing payload both formats sign (containers-signature(5), "JSON Data Format";
cosign's ``specs/SIGNATURE_SPEC.md``, "Simple Signing"): which manifest digest, under which name.

``critical.type`` tells the two apart: ``atomic container signature`` (OpenPGP, read by podman
and skopeo) and ``cosign container image signature``. The payload has no timestamp, so the
same image signed again gives the same bytes (cosign's signature is then the same too).
"""

from __future__ import annotations

import json
from typing import Any

from ... import __version__
from ...errors import ConfigError
from ...reference import parse

ATOMIC = "atomic container signature"
COSIGN = "cosign container image signature"


def identity(ref: str) -> str:
    """The ``docker-reference`` of a signature for ``ref``: the name as the user wrote it,
    without a digest (podman's default ``matchRepoDigestOrExact`` compares a tag exactly)."""
    r = parse(ref.removeprefix("docker://"), default_tag=None)
    return f"{r.name}:{r.tag}" if r.tag else r.name


def payload(ref: str, digest: str, kind: str) -> bytes:
    doc = {"critical": {"identity": {"docker-reference": identity(ref)},
                        "image": {"docker-manifest-digest": digest}, "type": kind},
           "optional": {"creator": f"wasmbuild {__version__}"}}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def check(data: bytes, kind: str, digest: str, ref: str | None) -> str | None:
    """Why ``data`` is not a payload of ``kind`` for ``digest`` (and ``ref``'s repository); None
    if it is. The identity follows ``matchRepoDigestOrExact``: a tag must match exactly, a
    reference by digest needs only the same repository; cosign's identity is ignored (its spec)."""
    try:
        doc: Any = json.loads(data)
        critical = doc["critical"]
        got_type = critical["type"]
        got_digest = critical["image"]["docker-manifest-digest"]
        got_ref = critical["identity"]["docker-reference"]
    except (ValueError, KeyError, TypeError):
        return "its payload is not a simple-signing document"
    if got_type != kind:
        return f"its payload is of type {got_type!r}, not {kind!r}"
    if got_digest != digest:
        return f"it signs another manifest ({got_digest})"
    if ref is None or kind == COSIGN:
        return None
    want = parse(ref.removeprefix("docker://"), default_tag=None)
    try:
        signed = parse(str(got_ref), default_tag=None)
    except ConfigError:
        return f"its docker-reference {got_ref!r} is not an image name"
    if signed.name != want.name:
        return f"it names {signed.name}, not {want.name}"
    if want.tag and not want.digest and signed.tag != want.tag:
        return f"it names the tag {signed.tag or '(none)'}, not {want.tag}"
    return None
