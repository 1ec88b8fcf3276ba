"""Real builds through a real registry: push, pull and run; a stage cache shared via the registry."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Runner, copy_example, require
from tests.integration.registry_fixtures import RegistryServer

pytestmark = pytest.mark.integration


def test_build_push_delete_pull_run(wb: Runner, tmp_path: Path, registry: RegistryServer,
                                    isolated_dirs: dict[str, Path]) -> None:
    skopeo = require("skopeo")
    wasmfile = copy_example(tmp_path / "src")
    ref = f"{registry.host}/demo/hello:1"
    proc = wb("build", str(wasmfile), "-t", ref, "--push", "--plain-http", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    digest = result["digest"]
    assert result["pushed"] == [f"{registry.host}/demo/hello@{digest}"]
    before = wb("run", "hello-wasm")
    assert before.returncode == 0 and before.stdout == "Hello Wasm\n"

    raw = subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                         capture_output=True, check=True).stdout
    import hashlib

    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest

    shutil.rmtree(isolated_dirs["store"])
    shutil.rmtree(isolated_dirs["cache"])
    after = wb("run", "--plain-http", ref)
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    inspect = wb("inspect", ref, "--plain-http", "--json")
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["digest"] == digest


def test_cache_to_and_cache_from_share_stages(wb: Runner, tmp_path: Path,
                                              registry: RegistryServer) -> None:
    wasmfile = copy_example(tmp_path / "src")
    cache_ref = f"{registry.host}/ci/buildcache:main"
    first = wb("build", str(wasmfile), "--cache-to", cache_ref, "--plain-http", "--json",
               env={"WASMBUILD_CACHE": str(tmp_path / "cache-a")})
    assert first.returncode == 0, first.stderr
    built = json.loads(first.stdout)
    assert [s["cached"] for s in built["stages"]] == [False, False]
    # a peer reads the exported cache as an ordinary OCI index and copies all of it
    copied = subprocess.run([require("skopeo"), "copy", "-q", "--all", "--src-tls-verify=false",
                             f"docker://{cache_ref}", f"oci:{tmp_path / 'cache-copy'}:main"],
                            capture_output=True, text=True)
    assert copied.returncode == 0, copied.stderr

    second = wb("build", str(wasmfile), "--cache-from", cache_ref, "--plain-http", "--json",
                env={"WASMBUILD_CACHE": str(tmp_path / "cache-b"),
                     "WASMBUILD_STORE": str(tmp_path / "store-b")})
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["cache_imported"] == 2
    assert [s["cached"] for s in again["stages"]] == [True, True]  # no stage ran
    assert again["digest"] == built["digest"]


def test_cache_from_a_missing_ref_is_a_cold_build(wb: Runner, tmp_path: Path,
                                                  registry: RegistryServer) -> None:
    wasmfile = copy_example(tmp_path / "src")
    proc = wb("build", str(wasmfile), "--cache-from", f"{registry.host}/ci/none:x", "--plain-http",
              "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cache_imported"] == 0
