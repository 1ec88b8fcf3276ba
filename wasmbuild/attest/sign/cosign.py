"""cosign's signature format with an ECDSA P-256 key: the signer/verifier pair.

Following sigstore/cosign ``specs/SIGNATURE_SPEC.md``: the simple-signing payload (type ``cosign
container image signature``) is a layer of media type ``application/vnd.dev.cosign.simplesigning
.v1+json``; its base64 ECDSA-SHA256 signature is the layer's annotation ``dev.cosignproject.cosign/
signature``. The layer is written twice:

- in the manifest under the tag ``sha256-<hex>.sig`` ("Tag-based Discovery", the form every cosign
  and ``containers/image`` with sigstore read; one manifest, one layer per signature);
- as an OCI 1.1 referrer (artifact type ``application/vnd.dev.cosign.artifact.sig.v1+json``,
  subject = the signed manifest), listed by the referrers API where the registry has it, else
  under the fallback tag -- so ``pull`` brings it along and ``push`` to a mirror keeps it.

Either one verifies. Signing is deterministic (RFC 6979 and a payload without a timestamp), so a
second ``sign`` writes the same bytes: the registry already has them and nothing is pushed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ...errors import ImageNotFound, StoreError, TrustError
from ...oci import MEDIA_MANIFEST, Descriptor, canonical_json
from ...oci.layout import Layout
from ...oci.referrers import Document, attach, fallback_tag, referrers
from . import KeyOptions, Target, Verified
from .keys import PrivateKey, PublicKey, b64, unb64
from .payload import COSIGN, check, payload

MEDIA_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
ARTIFACT_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
ANN_SIGNATURE = "dev.cosignproject.cosign/signature"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
#: A signature's referrer carries no time of its own: the same signature, the same manifest.
_CREATED = "1970-01-01T00:00:00Z"


def sig_tag(digest: str) -> str:
    """``sha256:abc`` -> ``sha256-abc.sig`` (the spec's "Tag-based Discovery")."""
    return fallback_tag(digest) + ".sig"


def signature_layer(key: PrivateKey, ref: str, digest: str) -> tuple[bytes, dict[str, Any]]:
    """(payload, its layer descriptor with the signature annotation)."""
    from ...oci import sha256_digest

    body = payload(ref, digest, COSIGN)
    layer = {"mediaType": MEDIA_SIMPLESIGNING, "digest": sha256_digest(body), "size": len(body),
             "annotations": {ANN_SIGNATURE: b64(key.sign(body))}}
    return body, layer


def tag_manifest(layers: list[dict[str, Any]]) -> tuple[dict[str, Any], bytes]:
    """The ``.sig`` manifest holding ``layers`` and its config (go-containerregistry's empty
    image config with the layers' diff_ids, as cosign writes it)."""
    config = canonical_json({"architecture": "", "created": "0001-01-01T00:00:00Z",
                             "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
                             "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]},
                             "config": {}})
    from ...oci import sha256_digest

    manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                "config": {"mediaType": MEDIA_CONFIG, "size": len(config), "digest": sha256_digest(config)},
                "layers": layers}
    return manifest, config


def verify_layers(key: PublicKey, layers: Iterable[dict[str, Any]], blob: Callable[[str], bytes | None],
                  digest: str, ref: str | None) -> list[str]:
    """Which of ``layers`` verify (returns []) -- else why each failed (for the message)."""
    why: list[str] = []
    for layer in layers:
        if layer.get("mediaType") != MEDIA_SIMPLESIGNING:
            continue
        body = blob(str(layer.get("digest", "")))
        sig = unb64(str((layer.get("annotations") or {}).get(ANN_SIGNATURE, "")))
        if body is None or sig is None:
            why.append("a signature layer is missing or damaged")
        elif not key.verify(sig, body):
            why.append("a signature does not verify with this key")
        elif (reason := check(body, COSIGN, digest, ref)) is not None:
            why.append(reason)
        else:
            return []
    return why or ["no cosign signature"]


class CosignSigner:
    """Signs with an ECDSA P-256 private key; also the key DSSE envelopes are signed with."""

    format = "cosign"

    def __init__(self, key: PrivateKey):
        self.key = key

    def sign(self, target: Target) -> list[str]:
        from ...registry.referrers import push_referrers
        from ...registry.signatures import fetch_signatures, push_tagged

        body, layer = signature_layer(self.key, target.ref, target.digest)
        written: list[str] = []
        with tempfile.TemporaryDirectory(prefix="wasmbuild-sign-") as tmp:
            layout = Layout(Path(tmp))
            layout.init()
            with layout.writing():
                doc = Document(ARTIFACT_SIG, body, f"signature-{self.key.public.keyid[:16]}",
                               {ANN_SIGNATURE: layer["annotations"][ANN_SIGNATURE]}, MEDIA_SIMPLESIGNING)
                descs = attach(layout, Descriptor(target.media_type, target.digest, target.size), [doc], _CREATED)
                done = push_referrers(layout, descs, target.repo_ref, target.opts)
                if done["manifests"] or done["tags"]:
                    written.append(f"referrer {descs[0].digest}")
                tagged = fetch_signatures(target.repo_ref, target.digest, (), [sig_tag(target.digest)], target.opts)
                current = list(tagged[0].manifest.get("layers") or []) if tagged else []
                if any(x.get("digest") == layer["digest"] and (x.get("annotations") or {}).get(ANN_SIGNATURE)
                       == layer["annotations"][ANN_SIGNATURE] for x in current):
                    return written  # this very signature is in the tag already
                manifest, config = tag_manifest([*current, layer])
                layout.write_blob(config)
                layout.write_blob(body)
                desc = layout.write_json(manifest, MEDIA_MANIFEST)
                if push_tagged(layout, desc, target.repo_ref, sig_tag(target.digest), target.opts):
                    written.append(f"tag {sig_tag(target.digest)}")
        return written


class CosignVerifier:
    format = "cosign"

    def __init__(self, keys: list[PublicKey]):
        self.keys = keys

    def verify(self, target: Target) -> Verified:
        from ...registry.signatures import fetch_signatures

        found = fetch_signatures(target.repo_ref, target.digest, (ARTIFACT_SIG,), [sig_tag(target.digest)],
                                 target.opts)
        return self.check(found_layers(found), target.digest, target.ref, target.repo_ref)

    def verify_local(self, layout: Layout, digest: str) -> Verified:
        """Against the signature referrers ``layout`` holds for ``digest`` (pulled along)."""
        items: list[tuple[str, dict[str, Any], Callable[[str], bytes | None]]] = []
        for d in referrers(layout, digest, ARTIFACT_SIG):
            try:
                doc = layout.read_json(d.digest)
            except (ImageNotFound, StoreError, OSError, ValueError):  # damaged or gone: no signature
                continue
            items.append(("referrer", doc, lambda x: layout.read_blob(x) if layout.has_blob(x) else None))
        return self.check(items, digest, None, digest)

    def check(self, items: list[tuple[str, dict[str, Any], Callable[[str], bytes | None]]], digest: str,
              ref: str | None, what: str) -> Verified:
        why: list[str] = []
        for key in self.keys:
            for via, doc, blob in items:
                reasons = verify_layers(key, doc.get("layers") or [], blob, digest, ref)
                if not reasons:
                    return Verified(self.format, key.keyid, key.where, via)
                why += reasons
        keys = ", ".join(k.where for k in self.keys)
        reason = "no cosign signature" if not items else sorted(set(why))[0]
        raise TrustError(f"{what}: not signed by {keys}: {reason}",
                         hint="sign it with `wasmbuild sign IMAGE --key KEY.key`, or trust the key that did")


def found_layers(found: list[Any]) -> list[tuple[str, dict[str, Any], Callable[[str], bytes | None]]]:
    return [(f.via, f.manifest, f.blobs.get) for f in found]



def signer(keys: KeyOptions) -> CosignSigner | None:
    if keys.key is None:
        return None
    from .keys import load_private

    return CosignSigner(load_private(keys.key, keys.passphrase_file))


def verifier(keys: KeyOptions) -> CosignVerifier | None:
    if keys.key is None:
        return None
    from .keys import load_public

    return CosignVerifier([load_public(k) for k in keys.key.split(",")])
