"""The Typer app and the entry point: options in, one call into the library, errors -> exit codes."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__

app = typer.Typer(
    name="wasmbuild",
    help="Build reproducible WebAssembly (WASI) OCI images from a Wasmfile.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
cache_app = typer.Typer(help="Inspect and prune the cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

def _version(value: bool) -> None:
    if value:
        print(f"wasmbuild {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error, not just its line.")
    ] = False,
) -> None:
    """wasmbuild: a Wasmfile in, a reproducible Wasm OCI image out."""
    # --debug is read by run_cli from argv: it must know before the command even parses.
