"""The `assemblyscript` recipe (issue 20, AssemblyScript part): examples/hello-assemblyscript built by
asc with @assemblyscript/wasi-shim (pinned npm inputs, node a tool of the stage), run by
`wasmbuild run` and by podman through crun, reproducible, the npm packages in the SBOM; `init`
writes a Wasmfile that builds a fresh project."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.integration.consumer_fixtures import Podman
from tests.support import examples, require

pytestmark = pytest.mark.integration
OUT = examples.OUT.replace("{lang}", "AssemblyScript")
NPM = {"pkg:npm/assemblyscript@0.28.20", "pkg:npm/binaryen@131.0.0-nightly.20260721", "pkg:npm/long@5.3.2",
       "pkg:npm/%40assemblyscript/wasi-shim@0.1.0"}


def test_hello_assemblyscript_builds_runs_and_reproduces(wb: Runner, tmp_path: Path) -> None:
    require("npm")
    layout, digest = examples.build_example(wb, "hello-assemblyscript", tmp_path)
    examples.assert_runs(wb, layout, OUT)
    # from scratch, in another checkout: the same bytes (asc's output names no path, no time)
    examples.assert_reproduces(wb, "hello-assemblyscript", tmp_path, digest)
    sbom = examples.sbom(wb, "hello-assemblyscript:latest")
    assert examples.purls(sbom) >= NPM, examples.purls(sbom)
    [node] = [p for p in sbom["packages"] if p["name"] == "node"]
    # the `node` toolchain, as `node --version` says it, less the "v"
    version = subprocess.run([shutil.which("node") or "node", "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert node["versionInfo"] == version.removeprefix("v"), node


def test_a_module_that_is_not_wasi_is_one_clear_error(wb: Runner, tmp_path: Path) -> None:
    """An asconfig that does not extend the wasi-shim makes asc emit a module for a JS host
    (`env.abort`): the stage fails saying so, not the runtime later."""
    require("npm")
    (tmp_path / "assembly").mkdir()
    (tmp_path / "assembly" / "index.ts").write_text('export function _start(): void { throw new Error("no"); }\n')
    (tmp_path / "asconfig.json").write_text('{"entries": ["assembly/index.ts"]}\n')
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: assemblyscript\n"
        "    with: {entry: '', config: asconfig.json, output: app.wasm}\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n")
    built = wb("build", str(tmp_path), timeout=900)
    assert built.returncode == 3, built.stderr
    assert "app.wasm imports env.abort: not a WASI module" in built.stderr, built.stderr


def test_init_writes_a_wasmfile_that_builds(wb: Runner, tmp_path: Path) -> None:
    require("npm")
    project = tmp_path / "greeter"
    (project / "assembly").mkdir(parents=True)
    (project / "package.json").write_text('{"devDependencies": {"assemblyscript": "0.28.20"}}\n')
    (project / "assembly" / "index.ts").write_text('console.log("hi " + process.argv.length.toString());\n')
    init = wb("init", "--json", cwd=project)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["detected"]["recipe"] == "assemblyscript"
    built = wb("build", str(project), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
    assert built.returncode == 0, built.stderr
    run = wb("run", f"oci:{tmp_path / 'oci'}", "x")
    assert (run.returncode, run.stdout) == (0, "hi 2\n"), run.stderr


def test_podman_runs_the_assemblyscript_image_through_crun(wb: Runner, tmp_path: Path, podman: Podman) -> None:
    """crun preopens the container root as "." (not "/"): the example falls back to it and
    reads /etc/greeting.txt."""
    require("npm")
    built = wb("build", str(REPO / "examples" / "hello-assemblyscript"), "-o", f"oci:{tmp_path / 'oci'}",
               timeout=900)
    assert built.returncode == 0, built.stderr
    proc = podman.run_layout(tmp_path / "oci", ["x"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:] == ["args: x", "Hello from AssemblyScript on WASI"], proc.stdout
    assert "GREETING=hi" in proc.stdout.splitlines()[0]
