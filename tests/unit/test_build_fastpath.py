"""`build`'s fast path (buildcmd.parse_build_argv) gives the command the same BuildArgs as the
Typer command for every argv it takes, refuses the rest (the full CLI answers those), and builds
without importing typer, click or rich."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.pipeline import GOLDEN
from wasmbuild import buildcmd
from wasmbuild.buildcmd import BuildArgs, parse_build_argv

REPO = Path(__file__).resolve().parents[2]

TAKEN = [
    [],
    ["."],
    ["examples/x/Wasmfile"],
    ["-f", "W.yaml", "ctx"],
    ["--file=W.yaml", "--context", "c"],
    ["-t", "a:1", "--tag", "b:2", "--tag=c:3"],
    ["-o", "oci:out", "--output=oci-archive:x.tar"],
    ["--no-cache", "--no-cache-stage", "s1", "--no-cache-stage=s2"],
    ["-j", "3"],
    ["--jobs=1", "--verbose", "-v"],
    ["--format", "compat", "--platform", "wasi/wasm", "--include", "oci:base"],
    ["--compression", "zstd:3", "--target", "app", "--progress", "plain"],
    ["--metadata-file", "m.json", "--sbom", "cyclonedx", "--no-sbom"],
    ["--precompile", "--precompile-target", "host"],
    ["--json", "--sandbox", "off", "."],
    ["--sandbox=on", "--", "dir"],
]

REFUSED = [
    ["--help"], ["-h"], ["--push", "-t", "r/x"], ["--sign", "k.key"], ["--plain-http"], ["--tls-verify=false"],
    ["-j", "0"], ["-j", "two"], ["--json=1"], ["a", "b"], ["--tag"], ["--tag", "--json"], ["-tx"], ["--bogus"],
    ["--cache-from", "r/c"], ["-f", ""],
]


def typer_args(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> BuildArgs:
    from wasmbuild.cli import run_cli

    got: list[BuildArgs] = []
    monkeypatch.setattr(buildcmd, "run_build", got.append)
    assert run_cli(["build", *argv]) == 0
    return got[0]


@pytest.mark.parametrize("argv", TAKEN, ids=lambda a: " ".join(a) or "(none)")
@pytest.mark.parametrize("env_sandbox", [None, "off"])
def test_the_fast_parser_agrees_with_typer(argv: list[str], env_sandbox: str | None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if env_sandbox is None:
        monkeypatch.delenv("WASMBUILD_SANDBOX", raising=False)
    else:
        monkeypatch.setenv("WASMBUILD_SANDBOX", env_sandbox)
    fast = parse_build_argv(argv)
    assert fast is not None
    assert fast == typer_args(argv, monkeypatch)


@pytest.mark.parametrize("argv", REFUSED, ids=" ".join)
def test_what_the_fast_parser_does_not_know_goes_to_the_full_cli(argv: list[str]) -> None:
    assert parse_build_argv(argv) is None


def test_the_defaults_are_the_typer_commands() -> None:
    import inspect

    from wasmbuild.cli.build import build_cmd

    defaults = {n: p.default for n, p in inspect.signature(build_cmd).parameters.items()}
    assert set(defaults) == {f.name for f in __import__("dataclasses").fields(BuildArgs)}
    assert defaults == {k: getattr(BuildArgs(), k) for k in defaults}


@pytest.mark.cli
def test_a_build_through_main_imports_no_cli_framework(tmp_path: Path) -> None:
    (tmp_path / "Wasmfile").write_text("wasmfile: 1\nimage:\n  files: [{src: app.wasm, dest: /app.wasm}]\n"
                                       "  entrypoint: [app.wasm]\n  tags: [fast:1]\n")
    shutil.copy(GOLDEN, tmp_path / "app.wasm")
    code = (f"import sys; from wasmbuild.__main__ import main; rc = main(['build', {str(tmp_path)!r}]); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'rich') "
            "or m.startswith('wasmbuild.cli')); print(rc, bad)")
    env = {**os.environ, "PYTHONPATH": str(REPO), "WASMBUILD_STORE": str(tmp_path / "store"),
           "WASMBUILD_CACHE": str(tmp_path / "cache"), "WASMBUILD_REPLAY": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stdout + out.stderr
    assert "fast:1  sha256:" in out.stdout
