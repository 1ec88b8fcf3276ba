"""The ``wasmbuild`` command: a thin Typer app (``app.py``), its commands, and the entry point."""

from __future__ import annotations

import functools
import os
from typing import Any

from ..errors import guarded
from . import commands  # noqa: F401  (registers the commands on the app)
from .app import app

__all__ = ["app", "run_cli"]


@functools.cache
def _command() -> Any:
    """The click command behind the Typer app, built once (Typer rebuilds it on every call)."""
    import typer.main

    return typer.main.get_command(app)


def run_cli(argv: list[str]) -> int:
    """Run the app; a :class:`WasmbuildError` becomes one line on stderr and its exit code
    (:func:`wasmbuild.errors.guarded`). ``--debug`` (or ``WASMBUILD_DEBUG=1``) shows the
    traceback.
    """
    debug = "--debug" in argv or os.environ.get("WASMBUILD_DEBUG", "") not in ("", "0")

    def invoke() -> int:
        try:
            _command().main(args=argv, prog_name="wasmbuild", standalone_mode=True)
        except SystemExit as exc:
            return int(exc.code or 0) if not isinstance(exc.code, str) else 1
        return 0

    return guarded(invoke, debug)
