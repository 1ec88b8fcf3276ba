"""``wasmbuild check``'s fast path (``__main__.py`` -> ``check.check_command``) against the Typer
command: the same argv gives the same output and exit code either way, it imports no CLI
framework and no later pipeline step, and what it does not understand goes to the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from wasmbuild.check import parse_check_argv


def wb(args: list[str], cwd: Path, fast: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMBUILD_FAST_RUN": "1" if fast else "0", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "wasmbuild", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [
    ["check", str(REPO / "Wasmfile.example")],
    ["check", "--json", str(REPO / "Wasmfile.example")],
    ["check"],  # ./Wasmfile, missing here
    ["check", "bad.yaml"],
    ["check", "--", "--odd-name"],
])
def test_fast_and_full_check_say_the_same(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "bad.yaml").write_text("wasmfile: 1\nstages: {a: {stepz: []}}\n")
    fast, full = wb(args, tmp_path, True), wb(args, tmp_path, False)
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout, full.stderr)
    assert fast.returncode in (0, 2)


def test_the_fast_path_imports_no_cli_framework_and_no_later_step() -> None:
    wasmfile = str(REPO / "Wasmfile.example")
    code = (f"import sys; from wasmbuild.__main__ import main; rc = main(['check', {wasmfile!r}]); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click') or "
            "m.startswith(('wasmbuild.pipeline', 'wasmbuild.execute', 'wasmbuild.attest', 'wasmbuild.publish', "
            "'wasmbuild.registry', 'wasmbuild.cli'))]; print(rc, sorted(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "0 []", out.stdout + out.stderr


def test_what_the_fast_path_does_not_understand_goes_to_the_cli() -> None:
    assert parse_check_argv(["--help"]) is None and parse_check_argv(["-x"]) is None
    assert parse_check_argv(["a", "--json", "--", "-b"]) == ([Path("a"), Path("-b")], True)
