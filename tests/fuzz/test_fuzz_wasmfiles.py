"""Fuzzing ``wasmbuild check`` and ``plan`` (load, render, plan) with hostile Wasmfiles.

Three sources, 2,600 cases by default (``WASMBUILD_FUZZ_EXAMPLES`` scales each test): Wasmfiles
generated from the format's shape, seeds from ``corpus/seeds`` mutated as data, and the same
seeds mutated as bytes. Every case must end in exit code 0 or 2 with one ``error:`` line per
problem: an uncaught exception (a traceback), running out of memory or recursion, or a
multi-line message fails the test. Each crash found becomes a file in ``corpus/crashes``, run
by :func:`test_crash_corpus` on every CI run.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.strategies import CORPUS, PLAUSIBLE, SEEDS, WASMFILE, dump, mutated_data, mutated_text
from wasmbuild.cli import run_cli

EXAMPLES = int(os.environ.get("WASMBUILD_FUZZ_EXAMPLES", "800"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def run(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = run_cli(args)
    return code, err.getvalue()


def survives(context: Path, text: str | bytes) -> None:
    """``check`` and ``plan`` on ``text`` end in a documented exit code and one-line errors."""
    wasmfile = context / "Wasmfile"
    wasmfile.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    for args in (["check", str(wasmfile)], ["plan", str(wasmfile), "--json"]):
        code, err = run(args)
        assert code in (0, 2), (args, code, err)
        assert "ran out of" not in err, err  # the parser's limits must come first
        for line in err.splitlines():
            assert line.startswith(("error: ", "warning: ", "ok: ")), (args, err)


@FUZZ
@given(data=WASMFILE)
def test_generated_wasmfiles(context: Path, data: dict[str, object]) -> None:
    survives(context, dump(data))


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 1))
@given(data=PLAUSIBLE)
def test_generated_plausible_wasmfiles(context: Path, data: dict[str, object]) -> None:
    """Fields of the right kinds: these get past the schema into render and plan."""
    survives(context, dump(data))


@FUZZ
@given(text=mutated_data())
def test_seeds_mutated_as_data(context: Path, text: str) -> None:
    survives(context, text)


@FUZZ
@given(raw=mutated_text())
def test_seeds_mutated_as_bytes(context: Path, raw: bytes) -> None:
    survives(context, raw)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name)
def test_every_seed_is_checked_cleanly(context: Path, seed: Path) -> None:
    survives(context, seed.read_bytes())


CRASHES = sorted((CORPUS / "crashes").glob("*.yaml"))


@pytest.mark.parametrize("crash", CRASHES, ids=lambda p: p.name)
def test_crash_corpus(context: Path, crash: Path) -> None:
    """Inputs that once crashed ``check`` or ``plan`` (the first line says what it was)."""
    survives(context, crash.read_bytes())
