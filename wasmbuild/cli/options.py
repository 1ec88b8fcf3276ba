"""Options several commands share (declared once), and their parsing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..registry.transport import RegistryOptions

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

    return RegistryOptions.from_flags(plain_http, tls_verify, no_tls_verify, ca_file, timeout)


def sandbox_option(value: str) -> bool:
    """``--sandbox on|off`` (or ``WASMBUILD_SANDBOX``) as a bool."""
    from ..errors import ConfigError

    text = value.strip().lower()
    if text not in {"true", "1", "yes", "on", "false", "0", "no", "off"}:
        raise ConfigError(f"--sandbox expects on or off, got {value!r}",
                          hint="--sandbox=off runs host stages unconfined")
    return text in {"true", "1", "yes", "on"}
