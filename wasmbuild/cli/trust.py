"""``key generate``, ``sign``, ``verify``: who made an image (docs/signing.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..buildcmd import report
from ..ui import emit_json
from .app import app
from .options import CaFile, Json, NoTlsVerify, PlainHttp, Timeout, TlsVerify, registry_options

if TYPE_CHECKING:
    from ..attest.sign import KeyOptions

key_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(key_app, name="key")

PassphraseFile = Annotated[Path | None, typer.Option(
    "--passphrase-file", metavar="FILE",
    help="The private key's passphrase (else WASMBUILD_KEY_PASSPHRASE, else stdin; never an argument).")]
Lookaside = Annotated[str | None, typer.Option(
    "--lookaside", metavar="URL", help="Simple signing's signature store: file://DIR or an http(s) URL.")]
RefArg = Annotated[str, typer.Argument(help="REGISTRY/NAME[:TAG|@DIGEST]: signed and verified by digest.")]


@key_app.command("generate")
def key_generate(
    output: Annotated[Path, typer.Option("--output", "-o", metavar="PREFIX",
                                         help="Write PREFIX.key (encrypted) and PREFIX.pub.")],
    passphrase_file: PassphraseFile = None,
    as_json: Json = False,
) -> None:
    """Make an ECDSA P-256 key pair (cosign's format): PREFIX.key encrypted, PREFIX.pub."""
    from ..attest.sign.keys import generate, load_public, passphrase

    key, pub = generate(output, passphrase(passphrase_file, prompt="passphrase for the new key: ", confirm=True))
    data = {"private": str(key), "public": str(pub), "keyid": load_public(str(pub)).keyid}
    if as_json:
        emit_json(data)
    else:
        print(f"wrote {key} (keep it secret) and {pub} (keyid {data['keyid'][:16]})")


@app.command("sign")
def sign_cmd(
    ref: RefArg,
    key: Annotated[str | None, typer.Option(
        "--key", metavar="KEY", help="PREFIX.key or env://VAR: cosign's format, pushed to the registry.")] = None,
    passphrase_file: PassphraseFile = None,
    gpg_key: Annotated[str | None, typer.Option(
        "--gpg-key", metavar="FINGERPRINT|FILE", help="OpenPGP key (keyring or armored file): simple signing.")] = None,
    lookaside: Lookaside = None,
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    no_tls_verify: NoTlsVerify = False,
    ca_file: CaFile = None,
    timeout: Timeout = None,
    as_json: Json = False,
) -> None:
    """Sign an image in a registry by digest (and, with --key, its SBOM, provenance and extras)."""
    from ..attest.sign import KeyOptions, signers
    from ..attest.sign.service import sign_image

    opts = registry_options(plain_http, tls_verify, no_tls_verify, ca_file, timeout)
    keys = KeyOptions(key=key, passphrase_file=passphrase_file, gpg_key=gpg_key, lookaside=lookaside)
    report(sign_image(ref, signers(keys), opts), as_json)


@app.command("verify")
def verify_cmd(
    ref: RefArg,
    key: Annotated[str | None, typer.Option(
        "--key", metavar="KEY.pub", help="cosign-format public key(s), comma-separated.")] = None,
    gpg_pubkey: Annotated[str | None, typer.Option(
        "--gpg-pubkey", metavar="FILE", help="OpenPGP public key file(s), comma-separated: simple signing.")] = None,
    lookaside: Lookaside = None,
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    no_tls_verify: NoTlsVerify = False,
    ca_file: CaFile = None,
    timeout: Timeout = None,
    as_json: Json = False,
) -> None:
    """Check that an image is signed by a trusted key (exit 9 if not)."""
    from ..attest.sign import KeyOptions
    from ..attest.sign.service import verify_image

    opts = registry_options(plain_http, tls_verify, no_tls_verify, ca_file, timeout)
    data = verify_image(ref, KeyOptions(key=key, gpg_pubkey=gpg_pubkey, lookaside=lookaside), opts)
    if as_json:
        emit_json(data)
        return
    for s in data["signatures"]:
        print(f"verified {data['reference']}: {s['format']} signature by {s['key']} "
              f"(keyid {s['keyid'][:16]}, {s['via']})")
    for a in data["attestations"]:
        print(f"verified attestation {a['predicateType']} ({a['referrer'][:19]})")


def verify_keys(verify: str | None, gpg_verify: str | None, lookaside: str | None) -> KeyOptions | None:
    """``pull``/``run``'s ``--verify KEY.pub`` / ``--verify-gpg FILE --lookaside URL``."""
    if verify is None and gpg_verify is None:
        return None
    from ..attest.sign import KeyOptions

    return KeyOptions(key=verify, gpg_pubkey=gpg_verify, lookaside=lookaside)


