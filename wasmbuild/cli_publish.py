"""CLI commands for publishing: push, pull, inspect, login, logout.

``register(app)`` adds them to the main Typer app. Commands catch nothing: a WasmbuildError
propagates to ``cli.main``, which prints ``error: <message>`` and exits with its code. Heavy
imports (oras, requests) happen inside the commands so ``wasmbuild --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .errors import WasmbuildError

if TYPE_CHECKING:
    from .publish.registry import RegistryOptions

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

PlainHttp = Annotated[
    bool, typer.Option("--plain-http", help="Talk HTTP, not HTTPS, to the registry.")
]
TlsVerify = Annotated[
    str,
    typer.Option(
        "--tls-verify",
        metavar="BOOL",
        help="Verify the registry's TLS certificate (--tls-verify=false to skip).",
    ),
]
NoTlsVerify = Annotated[bool, typer.Option("--no-tls-verify", help="Same as --tls-verify=false.")]
CaFile = Annotated[
    str | None, typer.Option("--ca-file", metavar="FILE", help="CA bundle for the registry.")
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Time budget per registry operation, retries included "
        "(default 15, or WASMBUILD_REGISTRY_TIMEOUT).",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _registry_options(
    plain_http: bool,
    tls_verify: str,
    no_tls_verify: bool,
    ca_file: str | None,
    timeout: float | None,
) -> RegistryOptions:
    from .publish.registry import RegistryOptions

    value = tls_verify.strip().lower()
    if value not in _TRUE | _FALSE:
        raise WasmbuildError(f"--tls-verify expects true or false, got {tls_verify!r}")
    return RegistryOptions(
        plain_http=plain_http,
        tls_verify=value in _TRUE and not no_tls_verify,
        ca_file=ca_file,
        timeout=timeout,
    )


def _emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        typer.echo(text)


def push(
    image: Annotated[str, typer.Argument(help="Image in the local store, e.g. hello:1.0")],
    ref: Annotated[
        str | None,
        typer.Argument(help="Destination REGISTRY/NAME[:TAG] (default: IMAGE, if it names one)"),
    ] = None,
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    no_tls_verify: NoTlsVerify = False,
    ca_file: CaFile = None,
    timeout: Timeout = None,
    as_json: Json = False,
) -> None:
    """Push an image from the local store to a registry, byte for byte."""
    from . import reference
    from .publish.registry import PushStats
    from .publish.registry import push as do_push
    from .store import normalize_tag, open_store

    opts = _registry_options(plain_http, tls_verify, no_tls_verify, ca_file, timeout)
    store = open_store()
    key = normalize_tag(image)
    desc = store.resolve(key)
    if ref is None:
        if reference.parse(image).registry is None:
            raise WasmbuildError(
                f"push {image}: no destination registry",
                hint=f"run `wasmbuild push {image} REGISTRY/NAME:TAG`",
            )
        ref = key
    stats = PushStats()
    pushed = do_push(store, desc, ref, opts, stats=stats)
    data = {
        "digest": desc.digest,
        "reference": pushed,
        "tag": str(reference.parse(ref.removeprefix("docker://"))),
        "uploaded_blobs": stats.blobs_uploaded,
        "uploaded_bytes": stats.bytes_uploaded,
        "existing_blobs": stats.blobs_skipped,
    }
    _emit(as_json, data, pushed)
    if not as_json:
        typer.echo(
            f"pushed {data['tag']}: {stats.blobs_uploaded} blob(s) uploaded "
            f"({stats.bytes_uploaded} bytes), {stats.blobs_skipped} already present",
            err=True,
        )


def pull(
    ref: Annotated[str, typer.Argument(help="REGISTRY/NAME[:TAG|@DIGEST] to download")],
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    no_tls_verify: NoTlsVerify = False,
    ca_file: CaFile = None,
    timeout: Timeout = None,
    as_json: Json = False,
) -> None:
    """Pull an image into the local store (an index resolves to its wasi entry)."""
    from .publish.registry import pull as do_pull
    from .store import normalize_tag, open_store

    opts = _registry_options(plain_http, tls_verify, no_tls_verify, ca_file, timeout)
    store = open_store()
    text = ref.removeprefix("docker://")
    desc = do_pull(text, store, opts)
    key = normalize_tag(text)
    store.tag(key, desc)
    _emit(as_json, {"digest": desc.digest, "reference": key}, f"{key} {desc.digest}")


def inspect(
    ref: Annotated[str, typer.Argument(help="Store image, oci:DIR[:TAG], or REGISTRY/NAME[:TAG]")],
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    no_tls_verify: NoTlsVerify = False,
    ca_file: CaFile = None,
    timeout: Timeout = None,
    as_json: Json = False,
) -> None:
    """Show an image's digest, platform, config and layers."""
    from .publish.inspect import format_inspect, inspect_image

    opts = _registry_options(plain_http, tls_verify, no_tls_verify, ca_file, timeout)
    info = inspect_image(ref, opts)
    _emit(as_json, info, format_inspect(info))


def login(
    registry: Annotated[str, typer.Argument(help="Registry host[:port]")],
    username: Annotated[str, typer.Option("--username", "-u", help="User name")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    no_tls_verify: NoTlsVerify = False,
    ca_file: CaFile = None,
    timeout: Timeout = None,
) -> None:
    """Check credentials against a registry and store them (Docker's config.json or credsStore)."""
    from .publish.auth import login as do_login

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True)
    else:
        raise WasmbuildError(
            "login needs a password",
            hint=f"pipe it in: `wasmbuild login {registry} -u {username} --password-stdin`",
        )
    opts = _registry_options(plain_http, tls_verify, no_tls_verify, ca_file, timeout)
    where = do_login(registry.removeprefix("https://").rstrip("/"), username, password, opts=opts)
    typer.echo(f"Login succeeded (credentials stored in {where})")


def logout(registry: Annotated[str, typer.Argument(help="Registry host[:port]")]) -> None:
    """Remove stored credentials for a registry."""
    from .publish.auth import logout as do_logout

    if do_logout(registry.removeprefix("https://").rstrip("/")):
        typer.echo(f"Removed credentials for {registry}")
    else:
        typer.echo(f"Not logged in to {registry}")


def register(app: typer.Typer) -> None:
    """Add the publish commands to ``app``."""
    for fn in (push, pull, inspect, login, logout):
        app.command(fn.__name__)(fn)
