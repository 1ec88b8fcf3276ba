"""Options several commands share (declared once), and their parsing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..buildcmd import registry_options, sandbox_option

__all__ = ["registry_options", "sandbox_option"]

if TYPE_CHECKING:
    pass

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


