"""Golden digests per target, compiler-free (the checked-in module of tests/fixtures/golden,
assembled in-process, as test_golden.py does for compat): any change to the bytes a target writes
for the same inputs changes its digest here. A deliberate change updates it once."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.unit.test_golden import GOLDEN as COMPAT_GOLDEN
from wasmbuild.oci import MEDIA_CONFIG, MEDIA_INDEX, MEDIA_LAYER_GZIP
from wasmbuild.oci.layout import Layout
from wasmbuild.oci.targets import MEDIA_RUNWASI_LAYER, MEDIA_WASM, MEDIA_WASM_CONFIG, RUNWASI_LAYERS_LABEL
from wasmbuild.pipeline import BuildOptions, BuiltImage, build, prepare

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
ALL = ("compat", "docker", "runwasi", "artifact")
GOLDEN = {
    "compat": COMPAT_GOLDEN,
    "docker": "sha256:41ef267bba18d0dbb7d603a4c827047b8b1c4802d0a9e865fbe7a4a61eeaddf9",
    "runwasi": "sha256:9874a0fc148f1513df83ad8e07271a5a4cd49019cd4036c9a5b7c42b519d51f8",
    "artifact": "sha256:995fd707c9b5530c0712ad70fc034595cd4d81fdf3d85f584f2c0f6b1775d66d",
}
GOLDEN_INDEX = "sha256:648137e05fb190600098c77f1a6eeca0f828cb7f12a933aa633c976e89f55a2e"


def checkout(dest: Path, seed: int = 977) -> Path:
    """A copy of the fixture whose mtimes depend on ``seed`` (they must not matter)."""
    shutil.copytree(FIXTURE, dest, dirs_exist_ok=True)
    for i, p in enumerate(sorted(dest.rglob("*"))):
        os.utime(p, (1_000_000 + i * seed, 1_000_000 + i * seed))
    return dest


def build_targets(tmp: Path, targets: tuple[str, ...], *, project: Path | None = None,
                  include: tuple[str, ...] = ()) -> BuiltImage:
    project = project or checkout(tmp / "project")
    store = Layout(tmp / "store").init()
    options = BuildOptions(store=store, uncached=True, targets=targets, include=include)
    return build(prepare(project), options)


@pytest.mark.parametrize("target", ALL)
def test_golden_digest_per_target(tmp_path: Path, target: str) -> None:
    built = build_targets(tmp_path, (target,))
    assert built.digest == GOLDEN[target]
    assert [t for t, _ in built.targets] == [target]


def test_all_targets_make_one_index_of_the_same_manifests(tmp_path: Path) -> None:
    built = build_targets(tmp_path, ALL)
    assert built.digest == GOLDEN_INDEX
    index = built.layout.read_json(built.digest)
    assert index["mediaType"] == MEDIA_INDEX and built.descriptor.media_type == MEDIA_INDEX
    assert [m["digest"] for m in index["manifests"]] == [GOLDEN[t] for t in ALL]
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "wasm32", "os": "wasi"}, {"architecture": "wasm", "os": "wasi"},
        {"architecture": "wasm", "os": "wasip1"}, {"architecture": "wasm", "os": "wasip1"}]
    # Every entry is an ordinary descriptor: no field skopeo 1.9 would drop on `copy --all`.
    assert all(set(m) == {"mediaType", "digest", "size", "platform"} for m in index["manifests"])
    assert [(t, d.digest) for t, d in built.targets] == [(t, GOLDEN[t]) for t in ALL]


def test_same_index_digest_from_two_checkouts(tmp_path: Path) -> None:
    first = build_targets(tmp_path / "a", ALL, project=checkout(tmp_path / "a" / "src", 977))
    old = os.umask(0o077)
    try:
        second = build_targets(tmp_path / "b", ALL, project=checkout(tmp_path / "b" / "src", 7919))
    finally:
        os.umask(old)
    assert first.digest == second.digest == GOLDEN_INDEX


def test_the_wasmfile_names_the_targets(tmp_path: Path) -> None:
    project = checkout(tmp_path / "project")
    wasmfile = project / "Wasmfile"
    wasmfile.write_text(wasmfile.read_text() + "  targets: [compat, docker, runwasi, artifact]\n")
    assert build_targets(tmp_path, (), project=project).digest == GOLDEN_INDEX
    # The command line's --format wins over the Wasmfile.
    assert build_targets(tmp_path, ("docker",), project=project).digest == GOLDEN["docker"]


def test_the_epoch_dates_every_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    built = build_targets(tmp_path, ALL)
    assert built.digest != GOLDEN_INDEX
    for target, desc in built.targets:
        assert desc.digest != GOLDEN[target]
        manifest = built.layout.read_json(desc.digest)
        config = built.layout.read_json(manifest["config"]["digest"])
        assert config["created"] == "2023-11-14T22:13:20Z", target


def _tar_names(layout: Layout, digest: str) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layout.blob_path(digest).read_bytes()))) as tar:
        return tar.getnames()


def test_runwasi_shape(tmp_path: Path) -> None:
    built = build_targets(tmp_path, ("runwasi",))
    layout = built.layout
    manifest = layout.read_json(built.digest)
    assert "annotations" not in manifest  # no variant annotation: runwasi goes by the config
    tar, wasm = manifest["layers"]
    assert (tar["mediaType"], wasm["mediaType"]) == (MEDIA_LAYER_GZIP, MEDIA_RUNWASI_LAYER)
    assert layout.read_blob(wasm["digest"]) == (FIXTURE / "hello.wasm").read_bytes()
    assert wasm["annotations"] == {"org.opencontainers.image.title": "hello.wasm"}
    assert _tar_names(layout, tar["digest"]) == ["src", "src/hello.wat"]  # the other files
    config = layout.read_json(manifest["config"]["digest"])
    assert manifest["config"]["mediaType"] == MEDIA_CONFIG
    assert (config["architecture"], config["os"]) == ("wasm", "wasip1")
    assert len(config["rootfs"]["diff_ids"]) == 1  # the tar layer only: the Wasm layer is no rootfs
    assert config["config"]["Entrypoint"] == ["hello.wasm"]
    assert config["config"]["Env"] == ["GREETING=hello"]
    assert set(config["config"]["Labels"]) == {RUNWASI_LAYERS_LABEL}


def test_artifact_shape(tmp_path: Path) -> None:
    built = build_targets(tmp_path, ("artifact",))
    layout = built.layout
    manifest = layout.read_json(built.digest)
    assert manifest["artifactType"] == MEDIA_WASM_CONFIG
    assert manifest["config"]["mediaType"] == MEDIA_WASM_CONFIG
    [layer] = manifest["layers"]
    assert layer["mediaType"] == MEDIA_WASM
    assert layout.read_blob(layer["digest"]) == (FIXTURE / "hello.wasm").read_bytes()
    config = layout.read_json(manifest["config"]["digest"])
    assert config == {"created": "1970-01-01T00:00:00Z", "architecture": "wasm", "os": "wasip1",
                      "layerDigests": [layer["digest"]]}
    assert json.dumps(config, sort_keys=True, separators=(",", ":")).encode() == \
        layout.read_blob(manifest["config"]["digest"])


def test_docker_shape(tmp_path: Path) -> None:
    built = build_targets(tmp_path, ("docker",))
    manifest = built.layout.read_json(built.digest)
    compat = build_targets(tmp_path / "c", ("compat",))
    compat_manifest = compat.layout.read_json(compat.digest)
    assert "annotations" not in manifest
    assert manifest["layers"] == compat_manifest["layers"]  # the very same layer
    config = built.layout.read_json(manifest["config"]["digest"])
    assert (config["os"], config["architecture"]) == ("wasi", "wasm")
    assert built.descriptor.platform == {"os": "wasi", "architecture": "wasm"}
