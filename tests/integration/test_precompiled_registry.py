"""Precompiled extras through the CLI and a registry (docs/precompiled.md), on the golden module (no
toolchain): ``build --precompile`` attaches one where the image goes (store, ``oci:DIR``, registry:
the fallback tag, or the referrers API); ``pull``/``run`` fetch and use it only with
``--trust-precompiled``; ``run`` of a store image uses it; a mismatched one is ignored."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Runner, require
from tests.integration.registry_fixtures import RegistryServer
from tests.integration.test_supply_chain import ReferrersAPI, spec_referrers
from tests.support.pipeline import GOLDEN
from wasmbuild.assemble.precompile import code_bytes
from wasmbuild.oci.layout import Layout
from wasmbuild.oci.referrers import referrers
from wasmbuild.wasm import precompiled as fmt

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(fmt.host_target() is None, reason="no wasmtime target for this OS/arch")]
WASMFILE = """\
wasmfile: 1
image:
  files: [{src: hello.wasm, dest: /hello.wasm}]
  entrypoint: [hello.wasm]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "p").mkdir()
    shutil.copy(GOLDEN, tmp_path / "p" / "hello.wasm")
    (tmp_path / "p" / "Wasmfile").write_text(WASMFILE)
    return tmp_path / "p"


@pytest.fixture
def referrers_api(registry: RegistryServer) -> Iterator[ReferrersAPI]:
    front = ReferrersAPI(registry)
    yield front
    front.stop()


def _fresh(tmp_path: Path, name: str) -> dict[str, str]:
    return {"WASMBUILD_STORE": str(tmp_path / name / "store"), "WASMBUILD_CACHE": str(tmp_path / name / "cache")}


def _extra_code(layout: Path, subject: str) -> bytes:
    store = Layout(layout)
    [desc] = referrers(store, subject, fmt.ARTIFACT_TYPE)
    [layer] = store.read_json(desc.digest)["layers"]
    return code_bytes(store.read_blob(layer["digest"]))


def _ran_with(wb: Runner, env: dict[str, str], *argv: str) -> bytes:
    """Run; returns the native code the run cached (the extra's own bytes when it used one)."""
    proc = wb("run", *argv, env=env)
    assert proc.returncode == 0 and proc.stdout == "Hello Wasm\n", proc.stderr
    [cached] = (Path(env["WASMBUILD_CACHE"]) / "modules").glob("*.cwasm")
    return cached.read_bytes()


def test_extra_travels_with_the_image_and_is_used_only_when_trusted(
        wb: Runner, project: Path, registry: RegistryServer, tmp_path: Path) -> None:
    ref = f"{registry.host}/demo/pre:1"
    oci = tmp_path / "oci"
    built = wb("build", str(project), "-t", "pre:1", "-t", ref, "--push", "--plain-http", "-o", f"oci:{oci}",
               "--precompile", "--json", env=_fresh(tmp_path, "a"))
    assert built.returncode == 0, built.stderr
    result = json.loads(built.stdout)
    digest = result["digest"]
    [extra] = [r for r in result["referrers"] if r["artifactType"] == fmt.ARTIFACT_TYPE]
    assert f"oci:{oci}" in result["attached"] and ref in result["attached"]
    # a peer reads the extra on the registry: the artifact manifest, byte for byte, naming its subject
    raw = subprocess.run([require("skopeo"), "inspect", "--tls-verify=false", "--raw",
                          f"docker://{registry.host}/demo/pre@{extra['digest']}"], capture_output=True)
    assert raw.returncode == 0, raw.stderr
    assert "sha256:" + hashlib.sha256(raw.stdout).hexdigest() == extra["digest"]
    peer = json.loads(raw.stdout)
    assert peer["artifactType"] == fmt.ARTIFACT_TYPE and peer["subject"]["digest"] == digest
    cached = wb("build", str(project), "-t", "pre:1", "--precompile", env=_fresh(tmp_path, "a"))  # memoised
    assert f"precompiled /hello.wasm for {fmt.host_target()}:" in cached.stderr and "(memoised)" in cached.stderr
    code = _extra_code(tmp_path / "a" / "store", digest)
    assert _extra_code(oci, digest) == code
    via, listed = spec_referrers(registry.host, "demo/pre", digest)  # docker-registry: the fallback tag
    assert via == "tag" and extra["digest"] in {d["digest"] for d in listed}

    # The store's image (built here): its extra is used, the module is not compiled.
    assert _ran_with(wb, _fresh(tmp_path, "a"), "pre:1") == code

    # oci:DIR: only with --trust-precompiled.
    env = {**_fresh(tmp_path, "a"), "WASMBUILD_CACHE": str(tmp_path / "oci-cache")}
    assert _ran_with(wb, env, f"oci:{oci}") != code
    shutil.rmtree(tmp_path / "oci-cache")
    assert _ran_with(wb, env, "--trust-precompiled", f"oci:{oci}") == code

    # A plain pull leaves native code behind; with --trust-precompiled it comes along and is used.
    env = _fresh(tmp_path, "b")
    pulled = wb("pull", ref, "--plain-http", "--json", env=env)
    assert pulled.returncode == 0 and "precompiled" not in json.loads(pulled.stdout)
    assert referrers(Layout(env["WASMBUILD_STORE"]), digest, fmt.ARTIFACT_TYPE) == []
    assert _ran_with(wb, env, ref) != code
    env = _fresh(tmp_path, "c")
    pulled = wb("pull", ref, "--plain-http", "--trust-precompiled", "--json", env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["precompiled"] == [extra["digest"]]
    assert _ran_with(wb, env, ref) == code

    # `run REF` pulling the image: with the opt-in it pulls and uses the extra too.
    assert _ran_with(wb, _fresh(tmp_path, "d"), "--plain-http", ref) != code
    assert _ran_with(wb, _fresh(tmp_path, "e"), "--plain-http", "--trust-precompiled", ref) == code

    # push from the store sends it along, and says what it is.
    again = f"{registry.host}/demo/again:1"
    pushed = wb("push", "pre:1", again, "--plain-http", env=_fresh(tmp_path, "a"))
    assert pushed.returncode == 0, pushed.stderr
    assert "referrer(s) (SBOM, provenance, precompiled code)" in pushed.stderr
    assert extra["digest"] in {d["digest"] for d in spec_referrers(registry.host, "demo/again", digest)[1]}


def test_extra_for_another_engine_is_not_pulled_and_the_module_compiles(
        wb: Runner, project: Path, registry: RegistryServer, tmp_path: Path) -> None:
    ref = f"{registry.host}/demo/rekeyed:1"
    built = wb("build", str(project), "-t", ref, "--push", "--plain-http", "--precompile", "--json",
               env=_fresh(tmp_path, "a"))
    assert built.returncode == 0, built.stderr
    digest = json.loads(built.stdout)["digest"]
    code = _extra_code(tmp_path / "a" / "store", digest)
    # This machine's "engine" now claims another key, as another wasmtime build would.
    env = _fresh(tmp_path, "b")
    memo = Path(env["WASMBUILD_CACHE"]) / "precompiled"
    memo.mkdir(parents=True)
    (memo / f"compat-{fmt.wasmtime_version()}-{fmt.host_target()}").write_text("sha256:" + "1" * 64)
    pulled = wb("pull", ref, "--plain-http", "--trust-precompiled", "--json", env=env)
    assert pulled.returncode == 0 and json.loads(pulled.stdout)["precompiled"] == []
    assert _ran_with(wb, env, ref) != code
    # The same with the extra in the store (a build here, then the key changes): ignored too.
    env = _fresh(tmp_path, "a")
    shutil.rmtree(Path(env["WASMBUILD_CACHE"]) / "modules", ignore_errors=True)
    (Path(env["WASMBUILD_CACHE"]) / "precompiled" / f"compat-{fmt.wasmtime_version()}-{fmt.host_target()}"
     ).write_text("sha256:" + "1" * 64)
    assert _ran_with(wb, env, ref) != code


def test_extra_through_the_referrers_api(wb: Runner, project: Path, referrers_api: ReferrersAPI,
                                         tmp_path: Path) -> None:
    ref = f"{referrers_api.host}/demo/api:1"
    built = wb("build", str(project), "-t", ref, "--push", "--plain-http", "--precompile", "--no-sbom", "--json",
               env=_fresh(tmp_path, "a"))
    assert built.returncode == 0, built.stderr
    digest = json.loads(built.stdout)["digest"]
    via, listed = spec_referrers(referrers_api.host, "demo/api", digest)
    assert via == "api" and [d["artifactType"] for d in listed] == [fmt.ARTIFACT_TYPE]
    env = _fresh(tmp_path, "b")
    assert _ran_with(wb, env, "--plain-http", "--trust-precompiled", ref) == _extra_code(
        tmp_path / "a" / "store", digest)
