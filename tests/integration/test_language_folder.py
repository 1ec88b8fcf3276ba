"""A language is one folder: a toy language added in a WASMBUILD_RECIPES folder (a recipe, its
toolchain declaration and its toolchain.py) is recognised by `init`, checked by `toolchains`,
built in the sandbox, run, and named in the SBOM, with no change outside that folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import require

REPO = Path(__file__).resolve().parents[2]

#: The toy compiler: a .toy file holds an exit code; the output is a WASI command that exits with
#: it (a module importing proc_exit, exporting _start and memory).
TOYC = textwrap.dedent('''\
    #!/usr/bin/python3
    import sys

    def vec(items):
        return bytes([len(items)]) + b"".join(items)

    def section(n, body):
        return bytes([n, len(body)]) + body

    def name(text):
        return bytes([len(text)]) + text.encode()

    if sys.argv[1] == "--version":
        print("toyc version 0.3.1")
        sys.exit(0)
    code = int(open(sys.argv[1]).read().strip())
    assert 0 <= code < 64
    module = b"\\0asm\\1\\0\\0\\0" + b"".join([
        section(1, vec([b"\\x60\\x01\\x7f\\x00", b"\\x60\\x00\\x00"])),
        section(2, vec([name("wasi_snapshot_preview1") + name("proc_exit") + b"\\x00\\x00"])),
        section(3, vec([b"\\x01"])),
        section(5, vec([b"\\x00\\x01"])),
        section(7, vec([name("_start") + b"\\x00\\x01", name("memory") + b"\\x02\\x00"])),
        section(10, vec([bytes([6]) + b"\\x00\\x41" + bytes([code]) + b"\\x10\\x00\\x0b"])),
    ])
    open(sys.argv[2], "wb").write(module)
    ''')

RECIPE = """\
description: Compile a .toy program (an exit code) to a WASI command.
params:
  source: {type: path, description: The .toy file., required: true}
  output: {type: string, description: File name under $OUT., default: app.wasm}
toolchain:
  name: toy
  summary: the toy compiler
  probe_env: [TOY_HOME]
  setup: ["echo setting up toy"]
init:
  files: ["*.toy"]
  order: 1
"""

TEMPLATE = """\
toolchain: toy
inputs:
  - {{ source | tojson }}
steps:
  - '"$TOYC" "$SRC"/{{ source }} "$OUT"/{{ output }}'
outputs:
  - {{ output | tojson }}
"""

CODE = '''\
"""The toy language's toolchain: toyc from $TOY_HOME/bin."""

import os
from pathlib import Path

from wasmbuild.errors import ToolchainError
from wasmbuild.execute.probing import Toolchain, ToolRecord, _run, version_in


def probe():
    toyc = Path(os.environ.get("TOY_HOME", "/nonexistent")) / "bin" / "toyc"
    if not toyc.is_file():
        raise ToolchainError("toyc was not found", hint="set TOY_HOME to the toy installation")
    version = _run([str(toyc), "--version"]) or "unknown"
    return Toolchain("toy", {"TOYC": str(toyc)}, (str(toyc.parent),), f"toyc={toyc};{version}")


def facts(tc):
    return [ToolRecord("toolchain", "toyc", version_in(tc.identity), tc.env["TOYC"])]


def report(tc, specs, context):
    return {"chosen": f"{tc.env['TOYC']} (TOY_HOME)"}


def init(folder):
    from wasmbuild.scaffold import Detected, image_name

    source = sorted(p.name for p in folder.glob("*.toy"))[0]
    name = image_name(folder)
    return Detected("toy", name, "toy", {"source": source, "output": f"{name}.wasm"}, f"{name}.wasm",
                    [source], what="the toy program", ignore=["*.wasm"])
'''


def wb(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wasmbuild", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def toy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    require("bwrap")
    folder = tmp_path / "recipes" / "toy"
    folder.mkdir(parents=True)
    (folder / "recipe.yaml").write_text(RECIPE)
    (folder / "stage.yaml.j2").write_text(TEMPLATE)
    (folder / "toolchain.py").write_text(CODE)
    home = tmp_path / "opt" / "toy"  # outside the system directories: hidden by the sandbox
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "toyc").write_text(TOYC)
    (home / "bin" / "toyc").chmod(0o755)
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.toy").write_text("7\n")
    env = {**os.environ, "WASMBUILD_RECIPES": str(tmp_path / "recipes"), "TOY_HOME": str(home),
           "WASMBUILD_STORE": str(tmp_path / "store"), "WASMBUILD_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(REPO)}
    env.pop("WASMBUILD_SANDBOX", None)
    return project, env


def test_a_toy_language_in_its_own_folder_builds_runs_and_is_in_the_sbom(toy: tuple[Path, dict[str, str]]) -> None:
    project, env = toy
    init = wb("init", "--json", cwd=project, env=env)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["detected"]["recipe"] == "toy"
    assert "for the toy program" in (project / "Wasmfile").read_text()
    assert "*.wasm" in (project / ".wasmignore").read_text().splitlines()

    check = wb("toolchains", "--json", cwd=project, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    row = next(r for r in json.loads(check.stdout)["toolchains"] if r["name"] == "toy")
    assert row["ok"] and row["setup"] == ["echo setting up toy"]  # what the Action runs first
    assert row["chosen"].endswith("(TOY_HOME)") and "toyc version 0.3.1" in row["found"]

    build = wb("build", "--progress", "plain", cwd=project, env=env)
    assert build.returncode == 0, build.stdout + build.stderr
    run = wb("run", "project:latest", cwd=project, env=env)
    assert run.returncode == 7, run.stdout + run.stderr

    sbom = wb("inspect", "project:latest", "--sbom", cwd=project, env=env)
    assert sbom.returncode == 0, sbom.stderr
    assert "toyc 0.3.1" in sbom.stdout

    # The toolchain's version is in the stage key: another toyc rebuilds the stage.
    toyc = Path(env["TOY_HOME"]) / "bin" / "toyc"
    toyc.write_text(toyc.read_text().replace("0.3.1", "0.3.2"))
    again = wb("build", "--progress", "plain", cwd=project, env=env)
    assert again.returncode == 0 and "done  app built" in again.stderr, again.stderr
    cached = wb("build", "--progress", "plain", cwd=project, env=env)
    assert "done  app cached" in cached.stderr and "done  app built" not in cached.stderr, cached.stderr


def test_a_missing_toy_toolchain_is_one_line_with_its_fix(toy: tuple[Path, dict[str, str]]) -> None:
    project, env = toy
    assert wb("init", cwd=project, env=env).returncode == 0
    env = {**env, "TOY_HOME": "/nonexistent"}
    build = wb("build", cwd=project, env=env)
    assert build.returncode == 4
    assert "toyc was not found (set TOY_HOME to the toy installation)" in build.stderr


def test_a_toolchain_folder_whose_code_breaks_says_where(toy: tuple[Path, dict[str, str]]) -> None:
    project, env = toy
    assert wb("init", cwd=project, env=env).returncode == 0
    code = Path(env["WASMBUILD_RECIPES"]) / "toy" / "toolchain.py"
    text = code.read_text()
    code.write_text(text + "\ndef broken(:\n")
    build = wb("build", cwd=project, env=env)
    assert build.returncode == 2
    line = len(text.splitlines()) + 2
    assert build.stderr.startswith(f"error: {code}:{line}: the toolchain's code fails to load: SyntaxError: ")
    code.write_text(text + "\nraise RuntimeError('no toy today')\n")
    build = wb("build", cwd=project, env=env)
    assert build.returncode == 2 and build.stderr.startswith(
        f"error: {code}:{line}: the toolchain's code fails to load: RuntimeError: no toy today"), build.stderr
