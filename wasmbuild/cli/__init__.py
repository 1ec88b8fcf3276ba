"""The ``wasmbuild`` command: a thin Typer app (``app.py``), its commands, and the entry point."""

from __future__ import annotations

import errno
import functools
import os
import sys
import traceback
from typing import Any

from ..errors import WasmbuildError
from . import commands  # noqa: F401  (registers the commands on the app)
from .app import app

__all__ = ["app", "run_cli"]


#: errno values of a storage problem (exit 7, like a damaged store); other OSErrors are a path
#: or permission the user gave (exit 2).
_STORAGE = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}
_ONE_LINE = {c: " " for c in range(32)}


@functools.cache
def _command() -> Any:
    """The click command behind the Typer app, built once (Typer rebuilds it on every call)."""
    import typer.main

    return typer.main.get_command(app)


def run_cli(argv: list[str]) -> int:
    """Run the app; a :class:`WasmbuildError` becomes one line on stderr and its exit code.

    Hostile input must never end in a traceback: besides our own errors, running out of memory
    or recursion depth (a pathological file that got past the parser's limits) is one line too.
    ``--debug`` (or ``WASMBUILD_DEBUG=1``) shows the traceback.
    """
    debug = "--debug" in argv or os.environ.get("WASMBUILD_DEBUG", "") not in ("", "0")
    try:
        _command().main(args=argv, prog_name="wasmbuild", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except WasmbuildError as err:
        if debug:
            traceback.print_exc()
        if err.details:
            print(err.details, file=sys.stderr)
        print(f"error: {err.render()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # The file system refused (a name too long, permission denied, disk full) somewhere no
        # narrower handler knew the path's role: still one line, naming the path.
        if debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"error: {where}{exc.strerror or exc} (--debug shows where)"
        print(text.translate(_ONE_LINE), file=sys.stderr)
        return 7 if exc.errno in _STORAGE else 2
    except (MemoryError, RecursionError) as exc:
        if debug:
            traceback.print_exc()
        what = "memory" if isinstance(exc, MemoryError) else "recursion depth"
        print(f"error: ran out of {what} (the input is too large or too deeply nested)",
              file=sys.stderr)
        return 2
    return 0
