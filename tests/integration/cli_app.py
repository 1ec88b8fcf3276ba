"""A stand-in for ``wasmbuild.cli`` until it lands: a Typer app with only the publish commands,
and a ``main`` that turns a WasmbuildError into ``error: <message>`` and its exit code."""

from __future__ import annotations

import sys

import typer

from wasmbuild.cli_publish import register
from wasmbuild.errors import WasmbuildError

app = typer.Typer(no_args_is_help=True, add_completion=False)
register(app)


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="wasmbuild", standalone_mode=False)
    except WasmbuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as exc:
        # Typer vendors click: match its usage errors and Exit by shape, not by class.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return int(exc.exit_code)
        if hasattr(exc, "exit_code"):
            return int(exc.exit_code)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
