"""`tools:` on a host stage (issue 19 item 4): a command from a venv-like directory the sandbox
hides is found on the user's PATH, shown read-only, first on the steps' PATH; its bytes are part
of the stage key and it is in the SBOM. What a stage does not declare stays hidden."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml

from tests.conftest import Runner
from tests.support import require, validate_spdx

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "hello.wasm"


def project(tmp_path: Path, tools: list[str]) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "hello.wasm").write_bytes(GOLDEN.read_bytes())
    stage = {"inputs": ["hello.wasm"], "steps": ["greet > $OUT/greeting.txt", "cp $SRC/hello.wasm $OUT/"],
             "outputs": ["greeting.txt", "hello.wasm"]}
    if tools:
        stage["tools"] = tools
    (ctx / "Wasmfile").write_text(yaml.safe_dump({
        "wasmfile": 1, "stages": {"app": stage},
        "image": {"files": [{"from": "app", "path": "hello.wasm", "dest": "/hello.wasm"},
                            {"from": "app", "path": "greeting.txt", "dest": "/greeting.txt"}],
                  "entrypoint": ["hello.wasm"], "tags": ["tools-demo:1"]}}, sort_keys=False))
    return ctx


def venv_tool(tmp_path: Path, text: str) -> Path:
    """A command installed the way a venv installs one: under /tmp, which the sandbox hides."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    tool = bin_dir / "greet"
    tool.write_text(f"#!/bin/sh\ncat \"$(dirname \"$0\")/../share/greeting\"\necho {text}\n")
    tool.chmod(0o755)
    (tmp_path / "venv" / "share").mkdir(exist_ok=True)
    (tmp_path / "venv" / "share" / "greeting").write_text("from the venv\n")
    return tool


def test_a_declared_tool_runs_in_the_sandbox_and_keys_the_stage(wb: Runner, tmp_path: Path) -> None:
    require("bwrap")
    tool = venv_tool(tmp_path, "one")
    env = {**os.environ, "PATH": f"{tool.parent}{os.pathsep}{os.environ['PATH']}"}
    (tmp_path / "secret").write_text("not declared\n")

    undeclared = wb("build", str(project(tmp_path, [])), env=env)
    assert undeclared.returncode != 0 and "greet: not found" in undeclared.stderr, undeclared.stderr

    built = wb("build", str(project(tmp_path, ["greet"])), "-o", f"local:{tmp_path / 'root'}", "--json", env=env)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "root" / "greeting.txt").read_text() == "from the venv\none\n"
    again = wb("build", str(project(tmp_path, ["greet"])), "--json", env=env)
    assert [s["cached"] for s in json.loads(again.stdout)["stages"]] == [True]

    venv_tool(tmp_path, "two")  # another version of the tool: the stage runs again
    changed = wb("build", str(project(tmp_path, ["greet"])), "--json", env=env)
    assert changed.returncode == 0, changed.stderr
    assert [s["cached"] for s in json.loads(changed.stdout)["stages"]] == [False]

    sbom = json.loads(wb("inspect", "tools-demo:1", "--sbom", "--json", env=env).stdout)
    assert validate_spdx(sbom) == []
    [package] = [p for p in sbom["packages"] if p["name"] == "greet"]
    assert package["checksums"][0]["checksumValue"] == hashlib.sha256(tool.read_bytes()).hexdigest()

    # what the stage did not declare stays hidden: the tool's root is shown, not its neighbours
    peek = project(tmp_path, ["greet"])
    data = yaml.safe_load((peek / "Wasmfile").read_text())
    data["stages"]["app"]["steps"].insert(0, f"cat {tmp_path / 'secret'}")
    (peek / "Wasmfile").write_text(yaml.safe_dump(data, sort_keys=False))
    hidden = wb("build", str(peek), env=env)
    assert hidden.returncode != 0 and "No such file or directory" in hidden.stderr, hidden.stderr


def test_a_missing_tool_is_one_line_at_its_stage(wb: Runner, tmp_path: Path) -> None:
    proc = wb("build", str(project(tmp_path, ["no-such-tool-here"])))
    assert proc.returncode == 4
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and last.endswith(
        "/ctx/Wasmfile:3: stage 'app': tool 'no-such-tool-here' is not on your PATH "
        "(install it, or name it by its absolute path in `tools:`)"), last


def test_toolchains_reports_declared_tools(wb: Runner, tmp_path: Path) -> None:
    """`wasmbuild toolchains` checks a stage's `tools:` as the build finds them (the Action then
    fails with one line per missing one)."""
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    tools: [sh, no-such-tool-here]\n    steps: ['touch \"$OUT/x\"']\n"
        "    outputs: [x]\nimage:\n  files: [{from: app, path: x, dest: /x.wasm}]\n  entrypoint: [x.wasm]\n")
    proc = wb("toolchains", str(tmp_path / "Wasmfile"), "--json")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)["toolchains"]}
    assert rows["tool:sh"]["ok"] and rows["tool:sh"]["found"].endswith("/sh")
    missing = rows["tool:no-such-tool-here"]
    assert not missing["ok"] and "tool 'no-such-tool-here' is not on your PATH" in missing["error"]
