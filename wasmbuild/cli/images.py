"""``run``, ``images``, ``push``, ``pull``, ``inspect``: images in the store, layouts, archives
and registries (every command takes an IMAGE in any form :mod:`wasmbuild.images` accepts)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError, ImageNotFound
from ..ui import emit_json
from .app import app
from .options import CaFile, Json, NoTlsVerify, PlainHttp, Timeout, TlsVerify, registry_options

TrustPrecompiled = Annotated[bool, typer.Option(
    "--trust-precompiled", help="Use (and pull) precompiled native code attached to the image even "
    "when it is not from the local store: it runs outside the sandbox (docs/precompiled.md).")]
Verify = Annotated[str | None, typer.Option(
    "--verify", metavar="KEY.pub", help="Require a cosign-format signature by this key (docs/signing.md).")]
VerifyGpg = Annotated[str | None, typer.Option(
    "--verify-gpg", metavar="FILE", help="Require a simple signature by this OpenPGP key (with --lookaside).")]
Lookaside = Annotated[str | None, typer.Option(
    "--lookaside", metavar="URL", help="Where simple signatures are: file://DIR or http(s) (default: registries.d).")]
Policy = Annotated[Path | None, typer.Option(
    "--policy", metavar="FILE", help="A containers-policy.json to apply (default: WASMBUILD_POLICY, if set).")]
ImageArg = Annotated[
    str, typer.Argument(help="Store name, sha256:DIGEST, oci:DIR[:TAG], oci-archive:FILE or REGISTRY/NAME[:TAG].")
]


@app.command("run", context_settings={"allow_interspersed_args": False})
def run_cmd(
    image: ImageArg,
    args: Annotated[list[str] | None, typer.Argument(help="Arguments (replace the image's cmd).")] = None,
    env: Annotated[list[str], typer.Option("--env", "-e", help="KEY=VALUE added to the image's env.")] = [],  # noqa: B006
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    ca_file: CaFile = None,
    trust_precompiled: TrustPrecompiled = False,
    verify: Verify = None,
    verify_gpg: VerifyGpg = None,
    lookaside: Lookaside = None,
    policy: Policy = None,
) -> None:
    """Run an image's entrypoint with wasmtime (exit code = the module's)."""
    # The same function as `python -m wasmbuild run ...`'s fast path (__main__.py).
    from ..runtime.command import RunArgs, run_image

    raise typer.Exit(run_image(RunArgs(image, list(args or []), list(env), plain_http, tls_verify, ca_file,
                                       trust_precompiled, verify, verify_gpg, lookaside, policy)))


def _say(line: str) -> None:
    from ..runtime.command import say

    say(line)


@app.command("images")
def images_cmd(json_out: Json = False) -> None:
    """List the images in the local store."""
    from ..oci.referrers import is_fallback_tag
    from ..store import open_store

    store = open_store()
    listed = [(t, d) for t, d in sorted(store.tags().items())
              if not is_fallback_tag(t)]  # not an image's referrers list
    data: list[dict[str, Any]] = [{"tag": t, "digest": d.digest, "platform": d.platform} for t, d in listed]
    if json_out:
        emit_json(data)
        return
    for tag, desc in listed:
        print(f"{tag:40} {desc.digest[:19]}  {_platform(store, desc)}")


def _platform(store: Any, desc: Any) -> str:
    """OS/ARCH of a store entry: its descriptor's platform, else its config's (an image pulled
    by digest), or "index" for an index; "?" for what cannot be read."""
    import dataclasses

    from ..errors import WasmbuildError
    from ..oci.graph import is_index, platform_text

    if desc.platform:
        return platform_text(desc)
    try:
        if is_index(desc, store.read_json(desc.digest)):
            return "index"
        found = store.config_platform(desc.digest)
    except WasmbuildError:
        return "?"
    return platform_text(dataclasses.replace(desc, platform=found)) if found else "?"


@app.command("push")
def push_cmd(
    image: ImageArg,
    ref: Annotated[str | None, typer.Argument(
        help="Destination REGISTRY/NAME[:TAG] (default: IMAGE, if it names one).")] = None,
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    no_tls_verify: NoTlsVerify = False,
    ca_file: CaFile = None,
    timeout: Timeout = None,
    as_json: Json = False,
) -> None:
    """Push an image (store, oci:DIR, oci-archive:FILE) to a registry, byte for byte."""
    from .. import images
    from ..reference import parse
    from ..registry.ops import PushStats, push

    opts = registry_options(plain_http, tls_verify, no_tls_verify, ca_file, timeout)
    dest = ref or images.registry_ref(image)
    if dest is None:
        raise ConfigError(f"push {image}: no destination registry",
                          hint=f"run `wasmbuild push {image} REGISTRY/NAME:TAG`")
    from ..publish.referrers import local_referrers
    from ..registry.referrers import push_referrers

    stats = PushStats()
    with images.local(image) as found:
        from ..oci.preflight import for_image, for_referrers, warn

        # Checked before the push, printed after it succeeds (a failed push stays one line).
        findings = for_image(found.layout, found.desc)
        pushed = push(found.layout, found.desc, dest, opts, stats=stats)
        warn(findings)
        digest = found.desc.digest
        attached = local_referrers(found.layout, found.desc)
        if attached:  # the SBOM, provenance and signatures go along (OCI 1.1 referrers)
            from ..attest.sign.transfer import local_signatures, push_sig_tags

            attached += local_signatures(found.layout, attached)
            done = push_referrers(found.layout, attached, dest, opts, stats=stats)
            warn(for_referrers(done["registry"], done["fallback"]))
            push_sig_tags(found.layout, attached, dest, opts)
    data = {
        "digest": digest,
        "reference": pushed,
        "tag": str(parse(dest.removeprefix("docker://"))),
        "uploaded_blobs": stats.blobs_uploaded,
        "uploaded_bytes": stats.bytes_uploaded,
        "existing_blobs": stats.blobs_skipped,
        "referrers": [d.digest for d in attached],
    }
    if as_json:
        emit_json(data)
        return
    print(pushed)
    print(f"pushed {data['tag']}: {stats.blobs_uploaded} blob(s) uploaded "
          f"({stats.bytes_uploaded} bytes), {stats.blobs_skipped} already present"
          + (f"; with {len(attached)} referrer(s) ({_kinds(attached)})" if attached else ""), file=sys.stderr)


def _kinds(referrers: list[Any]) -> str:
    """What a push's referrers are, for its summary line."""
    from ..attest.sign.transfer import SIGNATURE_TYPES
    from ..oci.referrers import ARTIFACT_INTOTO, SBOM_TYPES
    from ..wasm.precompiled import ARTIFACT_TYPE

    names = {**dict.fromkeys(SBOM_TYPES, "SBOM"), ARTIFACT_INTOTO: "provenance", ARTIFACT_TYPE: "precompiled code",
             SIGNATURE_TYPES[0]: "signature", SIGNATURE_TYPES[1]: "signed attestations"}
    return ", ".join(dict.fromkeys(names.get(d.artifact_type or "", d.artifact_type or "?") for d in referrers))


@app.command("pull")
def pull_cmd(
    ref: Annotated[str, typer.Argument(help="REGISTRY/NAME[:TAG|@DIGEST] to download.")],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Also write it to oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE.")] = None,
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    no_tls_verify: NoTlsVerify = False,
    ca_file: CaFile = None,
    timeout: Timeout = None,
    trust_precompiled: TrustPrecompiled = False,
    no_referrers: Annotated[bool, typer.Option(
        "--no-referrers", help="Do not bring the image's SBOM and provenance (OCI referrers) along.")] = False,
    verify: Verify = None,
    verify_gpg: VerifyGpg = None,
    lookaside: Lookaside = None,
    policy: Policy = None,
    as_json: Json = False,
) -> None:
    """Pull an image, with its SBOM and provenance, into the local store (an index: its Wasm entry)."""
    from ..publish import output_publisher
    from ..registry.ops import pull
    from ..store import normalize_tag, open_store

    opts = registry_options(plain_http, tls_verify, no_tls_verify, ca_file, timeout)
    text = ref.removeprefix("docker://")
    key = normalize_tag(text)
    extra = output_publisher(output, [key], opts) if output else None
    from ..attest.sign.service import gate
    from .trust import verify_keys

    # Checked before anything is written to the store; the image is then pulled by that digest.
    checked = gate(text, verify_keys(verify, verify_gpg, lookaside), policy, opts)
    store = open_store()
    with store.writing():
        desc = pull(checked.pinned if checked else text, store, opts, on_pick=None if as_json else _say)
        extras = []
        if trust_precompiled or (checked and checked.extras):  # native code for this engine, if any
            from ..runtime.precompiled import pull_extras

            extras = pull_extras(text, desc, store, opts,
                                 allow=None if trust_precompiled else checked.trusts_extra if checked else None,
                                 on_skip=None if as_json else _say)
        documents = []
        if not no_referrers:
            from ..attest.sign.transfer import SIGNATURE_TYPES, pull_signatures
            from ..supply import pull_documents

            documents = pull_documents(text, desc.digest, store, opts, also=SIGNATURE_TYPES)
            documents += pull_signatures(text, [d.digest for d in extras], store, opts)
        store.tag(key, desc)
    data: dict[str, Any] = {"digest": desc.digest, "reference": key, "referrers": [d.digest for d in documents]}
    if trust_precompiled or checked:
        data["precompiled"] = [d.digest for d in extras]
    if checked:
        data["verified"] = [{"format": v.format, "keyid": v.keyid, "key": v.key} for v in checked.verified]
    if extra is not None:
        data["output"] = extra.publish(store, desc).places[0]
        from ..publish import MultiPublisher
        from ..publish.referrers import publish_referrers

        publish_referrers(MultiPublisher([extra]), store, [*documents, *extras])
    if as_json:
        emit_json(data)
    else:
        print(f"{key} {desc.digest}" + (f" -> {data['output']}" if extra else "")
              + (f" (with {_kinds([*documents, *extras])})" if documents or extras else ""))


@app.command("inspect")
def inspect_cmd(
    ref: ImageArg,
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    no_tls_verify: NoTlsVerify = False,
    ca_file: CaFile = None,
    timeout: Timeout = None,
    sbom: Annotated[bool, typer.Option("--sbom", help="Show the image's SBOM (--json: the document).")] = False,
    provenance: Annotated[bool, typer.Option(
        "--provenance", help="Show the image's provenance (--json: the in-toto statement).")] = False,
    as_json: Json = False,
) -> None:
    """Show an image's digest, platform, config and layers (or its SBOM and provenance)."""
    if sbom or provenance:
        _inspect_documents(ref, sbom, provenance, registry_options(plain_http, tls_verify, no_tls_verify,
                                                                   ca_file, timeout), as_json)
        return
    from ..inspect import format_inspect, inspect_image

    info = inspect_image(ref, registry_options(plain_http, tls_verify, no_tls_verify, ca_file, timeout))
    if as_json:
        emit_json(info)
    else:
        print(format_inspect(info))


def _inspect_documents(ref: str, sbom: bool, provenance: bool, opts: Any, as_json: bool) -> None:
    """``inspect --sbom/--provenance``: with ``--json``, one kind prints its document itself (so
    ``| pyspdxtools -i /dev/stdin`` works); both print ``{"sbom": [...], "provenance": [...]}``."""
    from ..supply import find_documents, format_documents

    kinds = [k for k, on in (("sbom", sbom), ("provenance", provenance)) if on]
    found = find_documents(ref, kinds, opts)
    if not found["documents"]:
        raise ImageNotFound(f"{ref} ({found['subject']}) has no {' or '.join(kinds)} attached",
                            hint="build it with wasmbuild (SBOM and provenance are on unless --no-sbom)")
    if not as_json:
        print(format_documents(found))
        return
    docs = {k: [d["document"] for d in found["documents"] if d["kind"] == k] for k in kinds}
    if len(kinds) == 1 and len(docs[kinds[0]]) == 1:
        emit_json(docs[kinds[0]][0])
    else:
        emit_json(docs)
