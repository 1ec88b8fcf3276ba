"""Signatures travel with the image: ``pull`` brings the cosign-format signatures and DSSE
envelopes along (referrers, like the SBOM), ``push`` to a mirror takes them and writes the
``sha256-<hex>.sig`` tag there too (for the readers that know only the tag form).

Simple signatures are not in the registry (they are in a lookaside store of the user's choosing,
as containers-registries.d(5) defines): copying them is copying that directory.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...errors import ImageNotFound, RegistryError
from ...oci import Descriptor
from ...oci.layout import Layout
from ...oci.referrers import referrers

if TYPE_CHECKING:
    from ...registry.transport import RegistryOptions

SIGNATURE_TYPES = ("application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.dsse.envelope.v1+json")


def pull_signatures(ref: str, subjects: Sequence[str], store: Layout,
                    opts: RegistryOptions | None = None) -> list[Descriptor]:
    """Download the signature referrers of each of ``subjects`` (the image manifest, its extras)
    into ``store``. A registry failing here costs the signatures, not the pull (one warning)."""
    from ...registry.referrers import pull_referrers

    got: list[Descriptor] = []
    try:
        for subject in subjects:
            got += pull_referrers(ref, subject, store,
                                  lambda listed: [d for d in listed if d.artifact_type in SIGNATURE_TYPES], opts)
    except (RegistryError, ImageNotFound) as exc:
        print(f"warning: pulled {ref} without its signatures: {exc}", file=sys.stderr)
    return got


def local_signatures(layout: Layout, attached: Sequence[Descriptor]) -> list[Descriptor]:
    """The signature referrers ``layout`` holds for the referrers ``attached`` (an extra's)."""
    return [s for d in attached for s in referrers(layout, d.digest) if s.artifact_type in SIGNATURE_TYPES]


def push_sig_tags(layout: Layout, pushed: Sequence[Descriptor], ref: str,
                  opts: RegistryOptions | None = None) -> list[str]:
    """Write cosign's ``.sig`` tag at ``ref``'s repository for every signature referrer among
    ``pushed`` (merging with what the tag holds). Returns the tags written."""
    from ...reference import parse
    from ...registry.signatures import fetch_signatures, push_tagged
    from .cosign import ARTIFACT_SIG, sig_tag, tag_manifest

    name = parse(ref.removeprefix("docker://"), default_tag=None).name
    written: list[str] = []
    for d in pushed:
        if d.artifact_type != ARTIFACT_SIG:
            continue
        doc = layout.read_json(d.digest)
        subject = (doc.get("subject") or {}).get("digest")
        layers = [{k: v for k, v in x.items() if k in ("mediaType", "digest", "size")}
                  | {"annotations": {k: v for k, v in (x.get("annotations") or {}).items()
                                     if k.startswith("dev.cosignproject")}} for x in doc.get("layers") or []]
        if not subject or not layers:
            continue
        tagged = fetch_signatures(f"{name}@{subject}", subject, (), [sig_tag(subject)], opts)
        current = list(tagged[0].manifest.get("layers") or []) if tagged else []
        new = [x for x in layers if x not in current]
        if not new:
            continue
        manifest, config = tag_manifest([*current, *new])
        with layout.writing():
            layout.write_blob(config)
            desc = layout.write_json(manifest, "application/vnd.oci.image.manifest.v1+json")
        if push_tagged(layout, desc, f"{name}@{subject}", sig_tag(subject), opts):
            written.append(sig_tag(subject))
    return written
