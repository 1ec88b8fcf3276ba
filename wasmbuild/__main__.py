"""Console entry point. ``--version`` answers before any heavy import (start-up stays fast)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"], ["version"]):
        from wasmbuild import __version__

        print(f"wasmbuild {__version__}")
        return 0
    from wasmbuild.cli import run_cli

    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
