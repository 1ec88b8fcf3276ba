"""Console entry point. ``--version`` answers before any heavy import (start-up stays fast), and
so does ``run``: ``run [OPTIONS] IMAGE [ARGS...]`` with only the options ``run`` takes calls the
same function as the Typer command (``runtime/command.py``) without importing typer, rich or
pydantic; so does ``check [--json] [FILE...]`` (``check.check_command``, without typer and rich).
The answers of ``check``, ``plan`` and a ``build`` that wrote nothing outside the cache and the
image store (a no-op rebuild) are replayed while nothing they read changed
(``cache/results.py``); ``WASMBUILD_REPLAY=0`` turns that off. Any other argv (help, an unknown
option...) goes to the full CLI. ``WASMBUILD_FAST_RUN=0`` sends ``run`` and ``check`` to the
full CLI too, and so does ``build`` (``buildcmd.parse_build_argv``: the common options, without
typer; the rest goes to the full CLI)."""

from __future__ import annotations

import os
import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"], ["version"]):
        from wasmbuild import __version__

        print(f"wasmbuild {__version__}")
        return 0
    if args[:1] == ["run"] and os.environ.get("WASMBUILD_FAST_RUN", "1") != "0":
        from wasmbuild.runtime.command import parse_run_argv, run_image

        parsed = parse_run_argv(args[1:])
        if parsed is not None:
            from wasmbuild.errors import guarded

            return guarded(lambda: run_image(parsed), "--debug" in args or _debug())  # as run_cli
    replay = os.environ.get("WASMBUILD_REPLAY", "1") != "0"
    if args[:1] == ["check"] and os.environ.get("WASMBUILD_FAST_RUN", "1") != "0" and _plain_check(args[1:]):
        if not replay:
            return _check(args[1:])
        from wasmbuild.cache.results import replay_or_run

        return replay_or_run(args, lambda: _check(args[1:]))
    if args[:1] == ["plan"] and replay and not any(a in ("--help", "-h") for a in args):
        from wasmbuild.cache.results import replay_or_run

        return replay_or_run(args, lambda: _full_cli(args))
    if args[:1] == ["build"] and replay and not _fresh_wanted(args):
        from wasmbuild.cache.results import replay_or_run
        from wasmbuild.dirs import store_dir

        return replay_or_run(args, lambda: _build(args), writable=(str(store_dir()),))
    if args[:1] == ["build"]:
        return _build(args)
    return _full_cli(args)


def _build(args: list[str]) -> int:
    """``build``: without typer when the fast parser takes the argv (``buildcmd.py``)."""
    if os.environ.get("WASMBUILD_FAST_RUN", "1") != "0":
        from wasmbuild.buildcmd import parse_build_argv, run_build

        parsed = parse_build_argv(args[1:])
        if parsed is not None:
            from wasmbuild.errors import guarded

            return guarded(lambda: _ran(run_build, parsed), _debug())
    return _full_cli(args)


def _ran(command: Any, args: Any) -> int:
    command(args)
    return 0


def _full_cli(args: list[str]) -> int:
    from wasmbuild.cli import run_cli

    return run_cli(args)


#: Build options that make a build run whatever it did last time (``--json``: its timings are
#: this run's), or write outside the cache and the store, so that it would not be remembered
#: anyway (then it is not recorded either: recording costs a little).
_NOT_REPLAYED = ("--no-cache", "--json", "--help", "-h", "--output", "-o", "--push", "--metadata-file")


def _fresh_wanted(args: list[str]) -> bool:
    return any(a in _NOT_REPLAYED or a.split("=", 1)[0] in _NOT_REPLAYED for a in args)


def _plain_check(args: list[str]) -> bool:
    """``check [--json] [FILE...]`` (what the fast path takes; anything else: the full CLI)."""
    return all(a in ("--json", "--") or not a.startswith("-") for a in args) and "--help" not in args


def _check(args: list[str]) -> int:
    from wasmbuild.check import check_command, parse_check_argv
    from wasmbuild.errors import guarded

    wanted = parse_check_argv(args)
    if wanted is None:
        return _full_cli(["check", *args])
    return guarded(lambda: check_command(*wanted), _debug())


def _debug() -> bool:
    return os.environ.get("WASMBUILD_DEBUG", "") not in ("", "0")


if __name__ == "__main__":
    sys.exit(main())
