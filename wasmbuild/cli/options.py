"""Options several commands share (declared once), and their parsing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..registry.transport import RegistryOptions

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
PlainHttp = Annotated[bool, typer.Option("--plain-http", help="Talk HTTP, not HTTPS, to the registry.")]
TlsVerify = Annotated[
    str,
    typer.Option("--tls-verify", metavar="BOOL",
                 help="Verify the registry's TLS certificate (--tls-verify=false to skip)."),
]
NoTlsVerify = Annotated[bool, typer.Option("--no-tls-verify", help="Same as --tls-verify=false.")]
CaFile = Annotated[Path | None, typer.Option("--ca-file", metavar="FILE", help="CA bundle for the registry.")]
Timeout = Annotated[
    float | None,
    typer.Option("--timeout", metavar="SECONDS",
                 help="Time budget per registry operation, retries included "
                      "(default 15, or WASMBUILD_REGISTRY_TIMEOUT)."),
]
WasmfileArg = Annotated[
    Path,
    typer.Argument(help="The build context directory (holding `Wasmfile`), or a Wasmfile."),
]


def registry_options(plain_http: bool = False, tls_verify: str = "true", no_tls_verify: bool = False,
                     ca_file: Path | None = None, timeout: float | None = None) -> RegistryOptions:
    from ..registry.transport import RegistryOptions

    value = tls_verify.strip().lower()
    if value not in _TRUE | _FALSE:
        raise ConfigError(f"--tls-verify expects true or false, got {tls_verify!r}")
    return RegistryOptions(
        plain_http=plain_http,
        tls_verify=value in _TRUE and not no_tls_verify,
        ca_file=str(ca_file) if ca_file else None,
        timeout=timeout,
    )


def parse_env(items: list[str]) -> dict[str, str]:
    """``-e KEY=VALUE`` options as a dict (a bad one is a one-line error)."""
    import re

    from ..load.model import ENV_NAME_RE

    extra: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not re.match(ENV_NAME_RE, key):
            raise ConfigError(f"--env {item!r} is not KEY=VALUE with a valid variable name",
                              hint="e.g. -e GREETING=hello")
        extra[key] = value
    return extra


def sandbox_option(value: str) -> bool:
    """``--sandbox on|off`` (or ``WASMBUILD_SANDBOX``) as a bool."""
    text = value.strip().lower()
    if text not in _TRUE | _FALSE:
        raise ConfigError(f"--sandbox expects on or off, got {value!r}",
                          hint="--sandbox=off runs host stages unconfined")
    return text in _TRUE
