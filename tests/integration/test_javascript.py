"""The `javascript` recipe (issue 20, JavaScript and TypeScript): examples/hello-js (TypeScript with
an npm dependency) bundled by rolldown and made a component by componentize-js, every package an
npm input pinned by its lockfile's integrity; run by `wasmbuild run` and by `jco run`; the
npm packages in the SBOM; a tampered lockfile, and `init` on a fresh project.

Not byte-reproducible: componentize-js snapshots the initialised engine with wizer, whose
memory differs from run to run (bytecodealliance/ComponentizeJS#321, bytecodealliance/wizer#153):
the test shows the bundle reproduces and the components differ but behave the same. Components
do not run under crun (its wasmtime handler runs core modules only): the consumers are
`wasmbuild run` and jco."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Runner
from tests.support import examples, one_line, require

pytestmark = pytest.mark.integration
OUT = examples.OUT.replace("{lang}", "JavaScript")
LOCK = REPO / "recipes" / "javascript" / "toolchain-lock.json"
NPM = {"pkg:npm/strip-bom@5.0.0", "pkg:npm/%40bytecodealliance/componentize-js@0.23.0",
       "pkg:npm/rolldown@1.3.4", "pkg:npm/%40bytecodealliance/jco@1.35.0"}


def recipe_code() -> Any:
    spec = importlib.util.spec_from_file_location("javascript_recipe", REPO / "recipes" / "javascript" / "toolchain.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def toolchain_tree(dest: Path) -> Path:
    """The recipe's toolchain unpacked from the tarballs the build fetched (the download cache):
    jco for `jco run`, as the stage unpacks it."""
    from wasmbuild.execute.fetch import cached
    from wasmbuild.load.packages import Pin

    for p in recipe_code().npm_lock(LOCK.read_text(), str(LOCK)):
        tarball = cached(Pin.sri(p["integrity"]))
        assert tarball is not None, p
        target = dest / p["path"]
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                member.name = member.name.split("/", 1)[-1]
            tar.extractall(target, filter="data")
    return dest


def test_hello_js_builds_runs_in_wasmbuild_and_jco(wb: Runner, tmp_path: Path) -> None:
    node = require("node")
    require("npm")
    layout, digest = examples.build_example(wb, "hello-js", tmp_path)
    examples.assert_runs(wb, layout, OUT)
    sbom = examples.sbom(wb, f"oci:{layout}")
    assert examples.purls(sbom) >= NPM, examples.purls(sbom)
    [strip] = [p for p in sbom["packages"] if p["name"] == "strip-bom-5.0.0.tgz"]
    assert {c["algorithm"] for c in strip["checksums"]} == {"SHA512"}, strip
    [tool] = [p for p in sbom["packages"] if p["name"] == "node"]
    # the `node` toolchain, as `node --version` says it, less the "v"
    version = subprocess.run([shutil.which("node") or "node", "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert tool["versionInfo"] == version.removeprefix("v"), tool

    root = tmp_path / "root"
    exported = wb("build", str(tmp_path / "hello-js"), "-o", f"local:{root}", timeout=300)
    assert exported.returncode == 0, exported.stderr
    tree = toolchain_tree(tmp_path / "toolchain")
    jco = tree / "node_modules/@bytecodealliance/jco"
    # jco's WASI shim (its own copy): the image root as "/" and the declared env, as `wasmbuild run`
    (jco / "wasmbuild-setup.mjs").write_text(
        'import { _setPreopens } from "@bytecodealliance/preview2-shim/filesystem";\n'
        'import { _setEnv } from "@bytecodealliance/preview2-shim/cli";\n'
        f'_setPreopens({{ "/": {json.dumps(str(root))} }});\n_setEnv({{ GREETING: "hi" }});\n')
    for args, code in ((["a", "b"], 0), (["fail"], 7)):
        ran = subprocess.run([node, str(jco / "dist/jco.js"), "run", "--jco-import", str(jco / "wasmbuild-setup.mjs"),
                              str(root / "hello.wasm"), *args], capture_output=True, text=True, timeout=300,
                             cwd=tmp_path, check=False)
        assert (ran.returncode, ran.stdout) == (code, OUT.format(args=" ".join(args))), ran.stderr

    # another checkout, --no-cache: the same bundle, a component that differs (wizer's snapshot)
    # and behaves the same
    other = tmp_path / "elsewhere" / "hello-js"
    shutil.copytree(REPO / "examples" / "hello-js", other)
    # an unreachable registry: the tarballs come from the download cache, npm is not asked
    clean = wb("build", str(other), "--json", "--no-cache", "-o", f"oci:{tmp_path / 'oci-again'}", timeout=900,
               env={"NPM_CONFIG_REGISTRY": "http://127.0.0.1:9/"})
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["digest"] != digest, "componentize-js reproduces now: assert the same digest"
    examples.assert_runs(wb, tmp_path / "oci-again", OUT)
    bundles = []
    for ctx, out in ((tmp_path / "hello-js", tmp_path / "first"), (other, tmp_path / "again")):
        exported = wb("build", str(ctx), "--target", "app", "-o", f"local:{out}")  # cache hits
        assert exported.returncode == 0, exported.stderr
        bundles.append((out / "hello.wasm.bundle.js").read_bytes())
    assert bundles[0] == bundles[1] and b"stripBom" in bundles[0]


def test_a_tampered_integrity_fails_naming_the_package(wb: Runner, tmp_path: Path) -> None:
    require("npm")
    ctx = tmp_path / "hello-js"
    shutil.copytree(REPO / "examples" / "hello-js", ctx)
    lock = json.loads((ctx / "package-lock.json").read_text())
    real = lock["packages"]["node_modules/strip-bom"]["integrity"]
    forged = "sha512-" + base64.b64encode(hashlib.sha512(b"not strip-bom").digest()).decode()
    lock["packages"]["node_modules/strip-bom"]["integrity"] = forged
    (ctx / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")
    built = wb("build", str(ctx), timeout=900)
    line = one_line(built, 3, "npm package strip-bom@5.0.0 has sha512", f"the pinned integrity is {forged}")
    assert real in line, line


def test_init_writes_a_wasmfile_that_builds(wb: Runner, tmp_path: Path) -> None:
    require("npm")
    project = tmp_path / "greeter"
    (project / "lib").mkdir(parents=True)
    (project / "package.json").write_text('{"name": "greeter", "type": "module", "main": "lib/app.js"}\n')
    (project / "lib" / "app.js").write_text(
        'import { getArguments } from "wasi:cli/environment@0.2.12";\n'
        'export const run = { run() { console.log(`hi ${getArguments().length}`); } };\n')
    init = wb("init", "--json", cwd=project)
    assert init.returncode == 0, init.stderr
    detected = json.loads(init.stdout)["detected"]
    assert (detected["recipe"], detected["with"]["source"]) == ("javascript", "lib/app.js"), detected
    built = wb("build", str(project), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
    assert built.returncode == 0, built.stderr
    ran = wb("run", f"oci:{tmp_path / 'oci'}", "x", timeout=300)
    assert (ran.returncode, ran.stdout) == (0, "hi 2\n"), ran.stderr


def test_a_world_of_the_projects_own_without_bundling(wb: Runner, tmp_path: Path) -> None:
    """`dir`, `wit`, `world` and `bundle: false`: a plain .js module in a subfolder, built against
    the project's WIT (its world imports only wasi:cli/environment), no lockfile."""
    require("npm")
    web = tmp_path / "web"
    (web / "wit" / "deps").mkdir(parents=True)
    for dep in ("wasi-cli", "wasi-clocks", "wasi-filesystem", "wasi-io", "wasi-random", "wasi-sockets"):
        shutil.copytree(REPO / "wasmbuild" / "wasm" / "assets" / "wit" / "0.2.12" / dep, web / "wit" / "deps" / dep)
    (web / "wit" / "hello.wit").write_text("package local:hello;\n\nworld hello {\n"
                                            "  import wasi:cli/environment@0.2.12;\n  export wasi:cli/run@0.2.12;\n}\n")
    (web / "app.js").write_text('import { getArguments } from "wasi:cli/environment@0.2.12";\n'
                                'export const run = { run() {\n'
                                '  console.log(`own world: ${getArguments().slice(1)}`);\n} };\n')
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: javascript\n"
        "    with: {dir: web, source: app.js, wit: wit, world: hello, bundle: false, output: own.wasm}\n"
        "image:\n  files: [{from: app, path: own.wasm, dest: /own.wasm}]\n  entrypoint: [own.wasm]\n"
        "  targets: [runwasi]\n")
    built = wb("build", str(tmp_path), "-o", f"oci:{tmp_path / 'oci'}", timeout=900)
    assert built.returncode == 0, built.stderr
    ran = wb("run", f"oci:{tmp_path / 'oci'}", "x", "y", timeout=300)
    assert (ran.returncode, ran.stdout) == (0, "own world: x,y\n"), ran.stderr
