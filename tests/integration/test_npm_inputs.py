"""`npm:NAME@VERSION` inputs: an npm package's tarball fetched by the npm client (`npm pack`, the
package manager, never a registry URL written in a Wasmfile), pinned by sha256, in the SBOM with
its purl. The cpython-wasi recipe's Wizer comes this way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import Runner
from tests.support import require, validate_spdx

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "hello.wasm"
WIZER = "@bytecodealliance/wizer-linux-x64@11.0.3"
WIZER_SHA256 = "328369a2af8036d0ec4179f0b78f079dfff69ff432801490180f56720de61f20"  # scripts/fetch-wizer's pin


def project(tmp_path: Path, sha256: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    shutil.copy(GOLDEN, ctx / "hello.wasm")
    wasmfile = {
        "wasmfile": 1,
        "stages": {"tool": {
            "inputs": ["hello.wasm", {"url": f"npm:{WIZER}", "sha256": sha256}],
            "steps": ["cp $SRC/hello.wasm $OUT/app.wasm",
                      "tar -xzf $SRC/bytecodealliance-wizer-linux-x64-11.0.3.tgz -O package/package.json"
                      " | grep -o '\"version\": \"[^\"]*\"' > $OUT/version.txt"],
            "outputs": ["app.wasm", "version.txt"]}},
        "image": {"files": [{"from": "tool", "path": "app.wasm", "dest": "/app.wasm"},
                            {"from": "tool", "path": "version.txt", "dest": "/version.txt"}],
                  "entrypoint": ["app.wasm"], "tags": ["npm-input:1"]},
    }
    (ctx / "Wasmfile").write_text(yaml.safe_dump(wasmfile, sort_keys=False))
    return ctx


def test_an_npm_input_is_fetched_by_npm_pinned_and_in_the_sbom(wb: Runner, tmp_path: Path) -> None:
    require("npm")
    ctx = project(tmp_path, WIZER_SHA256)
    built = wb("build", str(ctx), timeout=900)
    assert built.returncode == 0, built.stderr
    exported = wb("build", str(ctx), "-o", f"local:{tmp_path / 'root'}")  # the stage is cached now
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "root" / "version.txt").read_text() == '"version": "11.0.3"\n'
    sbom = json.loads(wb("inspect", "npm-input:1", "--sbom", "--json").stdout)
    assert validate_spdx(sbom) == []
    package = next(p for p in sbom["packages"] if p["name"] == "bytecodealliance-wizer-linux-x64-11.0.3.tgz")
    assert package["checksums"] == [{"algorithm": "SHA256", "checksumValue": WIZER_SHA256}]
    assert package["externalRefs"][0]["referenceLocator"] == "pkg:npm/%40bytecodealliance/wizer-linux-x64@11.0.3"
    assert package["downloadLocation"] == "NOASSERTION"  # no registry URL: the npm client chose one


def test_an_npm_package_with_another_sha256_is_one_clear_error(wb: Runner, tmp_path: Path) -> None:
    require("npm")
    wrong = "0" * 64
    built = wb("build", str(project(tmp_path, wrong)), timeout=900)
    assert built.returncode != 0
    last = built.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: npm package {WIZER} has sha256 {WIZER_SHA256}, the Wasmfile pins {wrong}"), last
