"""A default ``-o oci:DIR`` read by every real reader of layouts, as a user would name it.

containers/image (skopeo, podman, buildah) takes ``oci:DIR`` without a tag only when
``index.json`` has one entry ("more than one image in oci, choose an image"); umoci and
containerd's ``ctr images import`` make an image of every entry. So the layout holds one entry
(the image), and its SBOM and provenance stay in ``blobs/`` where wasmbuild finds them by their
``subject`` (docs/supply-chain.md, issue 22).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.consumer_fixtures import Containerd, Podman, engine_command
from tests.integration.registry_fixtures import RegistryServer
from tests.support import missing, require

pytestmark = pytest.mark.integration

GOLDEN = REPO / "tests" / "fixtures" / "golden"
SPDX, INTOTO = "application/spdx+json", "application/vnd.in-toto+json"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Built:
    root: Path
    layout: Path  # the default `-o oci:DIR`
    archive: Path  # the default `-o oci-archive:FILE`
    digest: str
    referrers: dict[str, str]  # artifact type -> referrer digest

    def wb(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "WASMBUILD_STORE": str(self.root / "store"),
               "WASMBUILD_CACHE": str(self.root / "cache")}
        return subprocess.run([sys.executable, "-m", "wasmbuild", *args], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The golden image (a checked-in module, no compiler), SBOM and provenance on (the default)."""
    root = tmp_path_factory.mktemp("readers")
    shutil.copytree(GOLDEN, root / "ctx")
    b = Built(root, root / "layout", root / "image.tar", "", {})
    proc = b.wb("build", str(root / "ctx"), "-o", f"oci:{b.layout}", "-o", f"oci-archive:{b.archive}", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    return Built(root, b.layout, b.archive, result["digest"],
                 {r["artifactType"]: r["digest"] for r in result["referrers"]})


def _index(layout: Path) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = json.loads((layout / "index.json").read_bytes())["manifests"]
    return entries


def test_the_layout_lists_the_image_alone_and_keeps_its_documents_in_blobs(built: Built) -> None:
    [entry] = _index(built.layout)
    assert entry["digest"] == built.digest and entry["annotations"] == {REF_NAME: "1"}
    assert set(built.referrers) == {SPDX, INTOTO}
    for digest in built.referrers.values():
        manifest = json.loads((built.layout / "blobs" / "sha256" / digest[7:]).read_bytes())
        assert manifest["subject"]["digest"] == built.digest


def test_wasmbuild_still_finds_the_sbom_and_provenance(built: Built) -> None:
    for image in (f"oci:{built.layout}", f"oci-archive:{built.archive}"):
        text = built.wb("inspect", image, "--sbom", "--provenance")
        assert text.returncode == 0, text.stderr
        assert f"Sbom:         {built.referrers[SPDX]} ({SPDX}, via subject scan)" in text.stdout, text.stdout
        assert f"Provenance:   {built.referrers[INTOTO]} ({INTOTO}, via subject scan)" in text.stdout
        sbom = built.wb("inspect", image, "--sbom", "--json")
        assert sbom.returncode == 0, sbom.stderr
        assert json.loads(sbom.stdout)["spdxVersion"] == "SPDX-2.3"
    run = built.wb("run", f"oci:{built.layout}")
    assert (run.returncode, run.stdout) == (0, "Hello Wasm\n"), run.stderr


def test_push_from_the_layout_and_pull_into_another_take_the_documents_along(
        built: Built, registry: RegistryServer, tmp_path: Path) -> None:
    """`push oci:DIR` finds the referrers by subject and pushes them; `pull -o oci:COPY` writes
    them into the copy the same way (one entry again)."""
    ref = f"{registry.host}/readers/golden:1"
    pushed = built.wb("push", f"oci:{built.layout}", ref, "--plain-http", "--json")
    assert pushed.returncode == 0, pushed.stderr
    assert set(json.loads(pushed.stdout)["referrers"]) == set(built.referrers.values())
    copy = tmp_path / "copy"
    pulled = built.wb("pull", ref, "--plain-http", "-o", f"oci:{copy}", "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert [e["digest"] for e in _index(copy)] == [built.digest]
    sbom = built.wb("inspect", f"oci:{copy}", "--sbom")
    assert sbom.returncode == 0 and f"{built.referrers[SPDX]} ({SPDX}, via subject scan)" in sbom.stdout, sbom


def test_skopeo_inspects_and_copies_the_bare_layout(built: Built, tmp_path: Path) -> None:
    skopeo = require("skopeo")
    raw = subprocess.run([skopeo, "inspect", "--raw", f"oci:{built.layout}"], capture_output=True, check=False)
    assert raw.returncode == 0, raw.stderr
    assert "sha256:" + hashlib.sha256(raw.stdout).hexdigest() == built.digest
    info = json.loads(subprocess.run([skopeo, "inspect", f"oci:{built.layout}"], capture_output=True,
                                     text=True, check=True).stdout)
    assert (info["Digest"], info["Os"], info["Architecture"]) == (built.digest, "wasi", "wasm32")
    copied = subprocess.run([skopeo, "copy", f"oci:{built.layout}", f"oci:{tmp_path / 'copy'}:v1"],
                            capture_output=True, text=True, check=False)
    assert copied.returncode == 0, copied.stderr


def test_podman_pulls_and_runs_the_bare_layout(built: Built, podman: Podman) -> None:
    ref = podman.layout_ref(built.layout)
    assert ref.count(":") == 1, ref  # oci:PATH, no tag
    pulled = subprocess.run(engine_command(podman.command("pull", "--quiet", ref)), capture_output=True,
                            text=True, timeout=300, check=False)
    assert pulled.returncode == 0, pulled.stderr
    image_id = pulled.stdout.strip().splitlines()[-1]
    inspected = subprocess.run(engine_command(podman.command("image", "inspect", image_id)),
                               capture_output=True, text=True, timeout=300, check=False)
    assert inspected.returncode == 0, inspected.stderr
    [image] = json.loads(inspected.stdout)
    assert image["Digest"] == built.digest and (image["Os"], image["Architecture"]) == ("wasi", "wasm32")
    run = podman.run_layout(built.layout)  # `podman run oci:DIR` through crun's Wasm handler
    assert (run.returncode, run.stdout) == (0, "Hello Wasm\n"), run.stderr


def test_buildah_from_the_bare_layout(built: Built, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        missing("buildah's vfs storage needs root")
    bh = [require("buildah"), "--root", str(tmp_path / "bh" / "root"), "--runroot", str(tmp_path / "bh" / "run"),
          "--storage-driver", "vfs"]

    def run(*args: str) -> str:
        proc = subprocess.run(engine_command([*bh, *args]), capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    container = run("from", "-q", f"oci:{built.layout}")
    try:
        assert json.loads(run("inspect", "--type", "container", container))["FromImageDigest"] == built.digest
    finally:
        subprocess.run(engine_command([*bh, "rm", "-a"]), capture_output=True, timeout=300, check=False)


def test_umoci_lists_one_tag_and_unpacks_it(built: Built, tmp_path: Path) -> None:
    umoci = require("umoci")
    tags = subprocess.run([umoci, "ls", "--layout", str(built.layout)], capture_output=True, text=True, check=False)
    assert (tags.returncode, tags.stdout.split()) == (0, ["1"]), tags.stderr  # no sha256-<hex> list
    # `umoci unpack` writes a Linux runtime config and refuses os "wasi": `raw unpack` is the rootfs.
    rootfs = tmp_path / "rootfs"
    proc = subprocess.run([umoci, "raw", "unpack", "--rootless", "--image", f"{built.layout}:1", str(rootfs)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (rootfs / "hello.wasm").read_bytes() == (GOLDEN / "hello.wasm").read_bytes()


def _tar_of(layout: Path, dest: Path) -> Path:
    """The layout as a user tars it up (`tar -cf img.tar -C DIR .`)."""
    with tarfile.open(dest, "w") as tar:
        for p in sorted(layout.rglob("*")):
            if not p.name.startswith("."):
                tar.add(p, arcname=p.relative_to(layout).as_posix(), recursive=False)
    return dest


def test_ctr_imports_one_image_and_runs_it(built: Built, containerd: Containerd, tmp_path: Path) -> None:
    """`ctr images import` makes an image of every index.json entry: one, and it runs."""
    layout_tar = _tar_of(built.layout, tmp_path / "layout.tar")
    # The oci-archive's entry is named by its full reference; a layout's by its tag alone, which
    # ctr needs a --base-name for (its own help says so).
    for archive, opts, name in [(built.archive, [], "golden:1"),
                                (layout_tar, ["--base-name", "docker.io/wasmbuild/readers"],
                                 "docker.io/wasmbuild/readers:1")]:
        before = set(containerd.ctr("images", "ls", "-q").stdout.split())
        imported = containerd.ctr("images", "import", *opts, "--platform", "wasi/wasm32", str(archive))
        assert imported.returncode == 0, imported.stderr
        new = set(containerd.ctr("images", "ls", "-q").stdout.split()) - before
        assert new == {name}, (archive, new, imported.stdout)  # no sha256-<hex> list made an image
        assert containerd.ctr_missing(built.digest) == []
        run = containerd.ctr_run(name, platform="wasi/wasm32")
        assert (run.returncode, run.stdout) == (0, "Hello Wasm\n"), run.stderr
