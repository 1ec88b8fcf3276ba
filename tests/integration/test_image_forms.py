"""Every command that takes an IMAGE takes every form of it (store name, sha256:, oci:DIR[:TAG],
oci-archive:FILE, docker-archive:FILE, registry reference), and ``pull -o`` writes every output, local:DIR included."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.integration.registry_fixtures import RegistryServer
from tests.support.images import hello_files, make_image
from wasmbuild.oci.layout import Layout
from wasmbuild.publish.archive import write_docker_archive, write_oci_archive
from wasmbuild.store import normalize_tag

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("isolated_env")]


def test_push_and_inspect_take_every_image_form(wb: Runner, tmp_path: Path, registry: RegistryServer) -> None:
    store = Layout(os.environ["WASMBUILD_STORE"]).init()
    desc = make_image(store, [hello_files(b"forms")], tag=normalize_tag("forms:1"))
    layout = Layout(tmp_path / "oci").init()
    layout.copy_from(store, desc)
    layout.tag("v1", desc)
    archive = write_oci_archive(tmp_path / "image.tar", store, desc, tag="forms:1")
    saved = write_docker_archive(tmp_path / "saved.tar", store, desc, repo_tags=["forms:1"])
    forms = {"store": "forms:1", "digest": desc.digest, "oci": f"oci:{layout.path}:v1",
             "oci-archive": f"oci-archive:{archive}", "docker-archive": f"docker-archive:{saved}"}
    for i, (kind, image) in enumerate(forms.items()):
        ref = f"{registry.host}/forms-{i}:1"
        proc = wb("push", image, ref, "--plain-http", "--json")
        assert proc.returncode == 0, f"push {kind}: {proc.stderr}"
        assert json.loads(proc.stdout)["digest"] == desc.digest, kind
        info = wb("inspect", image, "--json")
        assert info.returncode == 0, f"inspect {kind}: {info.stderr}"
        assert json.loads(info.stdout)["digest"] == desc.digest, kind
        remote = wb("inspect", ref, "--plain-http", "--json")
        assert json.loads(remote.stdout)["digest"] == desc.digest, kind

    # pull -o: any output, as build -o writes them (here the root filesystem and a layout).
    root = tmp_path / "root"
    proc = wb("pull", f"{registry.host}/forms-2:1", "--plain-http", "-o", f"local:{root}", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["output"] == f"local:{root}"
    assert (root / "etc" / "message.txt").read_bytes() == b"forms"
    proc = wb("pull", f"{registry.host}/forms-3:1", "--plain-http", "-o", f"oci:{tmp_path / 'pulled'}")
    assert proc.returncode == 0, proc.stderr
    assert Layout(tmp_path / "pulled").resolve("1").digest == desc.digest


def test_a_missing_image_is_image_not_found_in_every_form(wb: Runner, tmp_path: Path) -> None:
    import tarfile

    old_save = tmp_path / "old-docker-save.tar"  # Docker < 25: manifest.json and layer folders only
    with tarfile.open(old_save, "w") as tar:
        (tmp_path / "manifest.json").write_text('[{"Config": "c.json", "RepoTags": ["x:1"], "Layers": []}]')
        tar.add(tmp_path / "manifest.json", "manifest.json")
    for image in ("nothing:1", f"oci:{tmp_path / 'none'}", f"oci-archive:{tmp_path / 'none.tar'}",
                  f"docker-archive:{tmp_path / 'none.tar'}", f"docker-archive:{old_save}"):
        proc = wb("push", image, "localhost:1/x:1", "--plain-http")
        assert proc.returncode == 6, (image, proc.stderr)
        assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    proc = wb("run", f"docker-archive:{old_save}")
    assert "without an OCI layout (Docker before 25)" in proc.stderr and "skopeo copy" in proc.stderr


def test_run_takes_every_local_image_form(wb: Runner, tmp_path: Path) -> None:
    golden = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "hello.wasm"
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "hello.wasm").write_bytes(golden.read_bytes())
    (tmp_path / "ctx" / "Wasmfile").write_text(
        "wasmfile: 1\nimage:\n  files: [{src: hello.wasm, dest: /hello.wasm}]\n  entrypoint: [hello.wasm]\n"
        "  tags: [golden:1]\n")
    built = wb("build", str(tmp_path / "ctx"), "--json")
    digest = json.loads(built.stdout)["digest"]
    outputs = (f"oci:{tmp_path / 'oci'}:v2", f"oci-archive:{tmp_path / 'golden.tar'}",
               f"docker-archive:{tmp_path / 'saved.tar'}")
    for output in outputs:
        assert wb("build", str(tmp_path / "ctx"), "-o", output).returncode == 0
    for image in ("golden:1", digest, *outputs):
        proc = wb("run", image)
        assert (proc.returncode, proc.stdout) == (0, "Hello Wasm\n"), (image, proc.stderr)
