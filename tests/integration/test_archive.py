"""oci-archive and docker-archive outputs, read back by skopeo, umoci, podman and Docker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.integration.docker_fixtures import DockerEngine
from tests.integration.registry_fixtures import require
from tests.support.images import hello_files, make_image, make_index
from wasmbuild.errors import ConfigError, ImageNotFound
from wasmbuild.oci import MEDIA_CONFIG, MEDIA_MANIFEST, Descriptor
from wasmbuild.oci.layout import Layout
from wasmbuild.publish import output_publisher
from wasmbuild.publish.archive import write_docker_archive, write_oci_archive

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("isolated_env")]


@pytest.fixture
def image(tmp_path: Path) -> tuple[Layout, Descriptor]:
    layout = Layout(tmp_path / "src").init()
    make_image(layout, [hello_files(), {"lib/data.txt": b"data" * 100}], tag="hello:latest")
    return layout, layout.tags()["hello:latest"]


def _skopeo_json(*args: str) -> dict:
    out = subprocess.run([require("skopeo"), *args], check=True, capture_output=True).stdout
    return json.loads(out)


def test_oci_archive_is_deterministic_and_readable(
    tmp_path: Path, image: tuple[Layout, Descriptor]
) -> None:
    layout, desc = image
    a = write_oci_archive(tmp_path / "a.tar", layout, desc, tag="v1")
    os.utime(layout.blob_path(desc.digest), (12345, 12345))  # mtimes on disk must not matter
    b = write_oci_archive(tmp_path / "b.tar", layout, desc, tag="v1")
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
    assert not list(tmp_path.glob(".a.tar.*"))  # no temp file left

    raw = subprocess.run(
        [require("skopeo"), "inspect", "--raw", f"oci-archive:{a}:v1"],
        check=True,
        capture_output=True,
    ).stdout
    assert raw == layout.read_blob(desc.digest)
    info = _skopeo_json("inspect", f"oci-archive:{a}:v1")
    assert (info["Os"], info["Architecture"]) == ("wasi", "wasm32")

    oci_dir = tmp_path / "copy"
    subprocess.run(
        [require("skopeo"), "copy", f"oci-archive:{a}:v1", f"oci:{oci_dir}:v1"],
        check=True,
        capture_output=True,
    )
    rootfs = tmp_path / "rootfs"
    subprocess.run(
        [require("umoci"), "raw", "unpack", "--rootless", "--image", f"{oci_dir}:v1", str(rootfs)],
        check=True,
        capture_output=True,
    )
    assert (rootfs / "etc" / "message.txt").read_bytes() == b"hello"


def test_oci_archive_of_index_holds_children(
    tmp_path: Path, image: tuple[Layout, Descriptor]
) -> None:
    layout, desc = image
    index = make_index(layout, desc)
    out = write_oci_archive(tmp_path / "i.tar", layout, index)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    manifest = layout.read_json(desc.digest)
    for d in [index.digest, desc.digest, manifest["config"]["digest"]]:
        assert f"blobs/sha256/{d.split(':')[1]}" in names


def test_docker_archive_structure_and_skopeo(
    tmp_path: Path, image: tuple[Layout, Descriptor]
) -> None:
    layout, desc = image
    [where] = output_publisher(f"docker-archive:{tmp_path / 'd.tar'}", ["wasm/hello:1"]).publish(layout, desc).tags
    out = Path(where.removeprefix("docker-archive:"))
    again = write_docker_archive(tmp_path / "d2.tar", layout, desc, repo_tags=["wasm/hello:1"])
    assert out.read_bytes() == again.read_bytes()
    with tarfile.open(out) as tar:
        entries = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        names = set(tar.getnames())
    manifest = layout.read_json(desc.digest)
    assert entries == [
        {
            "Config": "blobs/sha256/" + manifest["config"]["digest"].split(":")[1],
            "RepoTags": ["wasm/hello:1"],
            "Layers": [
                "blobs/sha256/" + layer["digest"].split(":")[1] for layer in manifest["layers"]
            ],
        }
    ]
    assert {"oci-layout", "index.json"} <= names
    info = _skopeo_json("inspect", f"docker-archive:{out}")
    assert (info["Os"], info["Architecture"]) == ("wasi", "wasm32")


FORMAT = "{{.Os}}/{{.Architecture}} {{.Digest}}"


def test_docker_archive_loads_into_podman(tmp_path: Path, image: tuple[Layout, Descriptor]) -> None:
    layout, desc = image
    archive = write_docker_archive(tmp_path / "p.tar", layout, desc, repo_tags=["wasm/hello:1"])
    podman = require("podman")
    short = Path(tempfile.mkdtemp(prefix="wbp-", dir="/tmp"))  # podman: runroot <= 50 chars
    store = ["--root", str(short / "root"), "--runroot", str(short / "run")]
    base = [podman, *store, "--storage-driver", "vfs"]
    try:
        subprocess.run([*base, "load", "-i", str(archive)], check=True, capture_output=True)
        out = subprocess.run(
            [*base, "image", "inspect", "localhost/wasm/hello:1", "--format", FORMAT],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    finally:
        shutil.rmtree(short, ignore_errors=True)
    # podman keeps our manifest byte for byte: its image digest is ours.
    assert out == f"wasi/wasm32 {desc.digest}"


def _linux_variant(layout: Layout, desc: Descriptor) -> Descriptor:
    manifest = layout.read_json(desc.digest)
    config = layout.read_json(manifest["config"]["digest"])
    config.update(os="linux", architecture="amd64")
    manifest["config"] = layout.write_json(config, MEDIA_CONFIG).to_json()
    return layout.write_json(manifest, MEDIA_MANIFEST)


def test_docker_load_of_docker_archive(
    tmp_path: Path, image: tuple[Layout, Descriptor], publish_dockerd: DockerEngine
) -> None:
    layout, desc = image
    engine = publish_dockerd
    # The archive format itself: a linux/amd64 twin loads on every engine, with its tag.
    twin = _linux_variant(layout, desc)
    twin_tar = write_docker_archive(tmp_path / "t.tar", layout, twin, repo_tags=["wb-test/twin:1"])
    engine.run("load", "-i", str(twin_tar))
    got = engine.run("image", "inspect", "wb-test/twin:1", "--format", "{{.Os}}/{{.Id}}").stdout
    twin_cfg = layout.read_json(twin.digest)["config"]["digest"]
    assert got.strip() == f"linux/{twin_cfg}"
    engine.run("image", "rm", "wb-test/twin:1")

    archive = write_docker_archive(tmp_path / "w.tar", layout, desc, repo_tags=["wb-test/wasm:1"])
    load = engine.run("load", "-i", str(archive), check=False)
    refused = ("unknown operating system", "unsupported os")
    major = int(str(engine.version).split(".")[0])
    if major < 24:
        # Docker's classic image store validates the config's os: 20.10 (Debian 12's docker.io)
        # parses it with containerd's platforms.Parse, which does not know "wasi", so it refuses
        # every wasi image, not just ours (Docker's Wasm support needs its containerd image
        # store, 24+). We assert that exact refusal; test_docker_archive_loads_into_podman shows the
        # same archive loading with its platform in a Docker-API engine that accepts wasi.
        assert load.returncode != 0 and "wasi" in load.stderr, load.stderr
        assert any(r in load.stderr for r in refused), load.stderr
        return
    assert load.returncode == 0, load.stderr
    got = engine.run(
        "image", "inspect", "wb-test/wasm:1", "--format", "{{.Os}}/{{.Architecture}}"
    ).stdout
    assert got.strip() == "wasi/wasm32"
    engine.run("image", "rm", "wb-test/wasm:1")


def test_archive_write_is_atomic(tmp_path: Path, image: tuple[Layout, Descriptor]) -> None:
    layout, desc = image
    target = tmp_path / "out.tar"
    target.write_bytes(b"previous")
    layer = layout.read_json(desc.digest)["layers"][0]["digest"]
    layout.blob_path(layer).unlink()
    with pytest.raises(ImageNotFound, match=f"blob {layer} is missing"):
        write_oci_archive(target, layout, desc)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")) == []


def test_publish_to_oci_dir_and_unknown(tmp_path: Path, image: tuple[Layout, Descriptor]) -> None:
    layout, desc = image
    [where] = output_publisher(f"oci:{tmp_path / 'dir'}:v2", []).publish(layout, desc).tags
    assert where.endswith(":v2")
    assert Layout(tmp_path / "dir").resolve("v2").digest == desc.digest
    with pytest.raises(ConfigError, match="unknown output 'zip:out\\.zip'") as err:
        output_publisher("zip:out.zip", []).publish(layout, desc)
    assert "oci-archive:FILE" in str(err.value)
