"""Images made by someone else (an ``oci:`` layout, an archive, a pulled image) can be malformed
in every way JSON allows: ``run``, ``inspect`` and ``push`` end in one line with the documented
exit code (7 damaged content, 6 not found, 8 cannot run, 2 a bad option), never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support import one_line
from tests.support.images import make_image
from wasmbuild.errors import StoreError
from wasmbuild.oci import MEDIA_CONFIG, MEDIA_MANIFEST, Descriptor
from wasmbuild.oci.layout import Layout

GOLDEN = (REPO / "tests/fixtures/golden/hello.wasm").read_bytes()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in this process (as ``wb`` runs it in a subprocess, but in milliseconds)."""
    from wasmbuild.cli import run_cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_cli(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def wb() -> Cli:
    return cli


def layout_with(tmp_path: Path, index: object) -> Path:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps(index))
    return root


@pytest.mark.parametrize("index", [
    {"schemaVersion": 2, "manifests": [{"digest": "sha256:zz", "size": "x"}]},
    {"schemaVersion": 2, "manifests": [{"mediaType": MEDIA_MANIFEST, "digest": "sha256:" + "0" * 64}]},
    {"schemaVersion": 2, "manifests": {"not": "a list"}},
    ["not", "an", "index"],
])
@pytest.mark.parametrize("command", ["run", "inspect", "push"])
def test_malformed_index(wb: Cli, tmp_path: Path, index: object, command: str) -> None:
    root = layout_with(tmp_path, index)
    args = [command, f"oci:{root}"] + (["127.0.0.1:1/x:1"] if command == "push" else [])
    proc = wb(*args)
    one_line(proc, 7, f"{root}/index.json", "restore or delete the layout")
    assert proc.stderr.count(f"{root}/index.json") == 1  # named once, not "X: X is not ..."


@pytest.mark.parametrize("command", ["run", "inspect", "push"])
def test_a_tagged_index_whose_manifests_are_not_a_list(wb: Cli, tmp_path: Path, command: str) -> None:
    from wasmbuild.oci import MEDIA_INDEX

    layout = Layout(tmp_path / "img").init()
    layout.tag("latest", layout.write_json({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": 7},
                                           MEDIA_INDEX))
    args = [command, f"oci:{layout.path}:latest"] + (["127.0.0.1:1/x:1"] if command == "push" else [])
    one_line(wb(*args), 7, "not a JSON object")


def test_an_artifact_without_a_wasm_layer_cannot_run(wb: Cli, tmp_path: Path) -> None:
    from wasmbuild.oci.targets import MEDIA_WASM_CONFIG

    layout = Layout(tmp_path / "img").init()
    cfg = layout.write_json({"architecture": "wasm", "os": "wasip1", "layerDigests": []}, MEDIA_WASM_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST, "artifactType": MEDIA_WASM_CONFIG,
                "config": cfg.to_json(), "layers": []}
    layout.tag("latest", layout.write_json(manifest, MEDIA_MANIFEST))
    one_line(wb("run", f"oci:{layout.path}:latest"), 8, "has no application/wasm layer to run")


def test_a_missing_working_directory_is_one_run_error_for_modules_and_components(tmp_path: Path) -> None:
    """Both runners set WASI up through one function: a WorkingDir the image lacks is a RunError
    (it was a wasmtime traceback for a component)."""
    from wasmbuild.errors import RunError
    from wasmbuild.runtime.wasi import wasi_config

    with pytest.raises(RunError, match=r"cannot run /c\.wasm: failed to add preopen dir"):
        wasi_config(["c.wasm"], {}, tmp_path, "/nowhere", "/c.wasm")
    assert wasi_config(["c.wasm"], {"A": "b"}, tmp_path, "/", "/c.wasm") is not None


def test_inspect_text_of_an_index_and_local_output_of_every_layer_shape(wb: Cli, tmp_path: Path) -> None:
    """`inspect` printed a traceback for any index (multi-target image); `-o local:` could not
    read zstd layers and took runwasi's raw Wasm layer for a tar."""
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "hello.wasm").write_bytes(GOLDEN)
    (tmp_path / "ctx" / "Wasmfile").write_text(
        "wasmfile: 1\nimage:\n  files: [{src: hello.wasm, dest: /hello.wasm}]\n  entrypoint: [hello.wasm]\n")
    ctx = str(tmp_path / "ctx")
    built = wb("build", ctx, "--format", "compat", "--format", "docker", "-o", f"oci:{tmp_path / 'multi'}")
    assert built.returncode == 0, built.stderr
    text = wb("inspect", f"oci:{tmp_path / 'multi'}")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert any(line.startswith("Index:") for line in lines)
    assert [line.split()[0] for line in lines if line.startswith("  wasi/")] == ["wasi/wasm32", "wasi/wasm"]
    assert "Platform:     wasi/wasm32" in lines
    for args in (["--compression", "zstd"], ["--format", "runwasi"], []):
        out = tmp_path / f"local{len(args)}{args[-1] if args else ''}"
        proc = wb("build", ctx, *args, "-o", f"local:{out}")
        assert proc.returncode == 0, (args, proc.stderr)
        # runwasi keeps the module in its own Wasm layer, written at the entrypoint's path too
        assert sorted(p.name for p in out.iterdir()) == ["hello.wasm"], args
        assert (out / "hello.wasm").read_bytes() == GOLDEN, args


def manifest_layout(tmp_path: Path, manifest: object, config: object = None) -> Path:
    layout = Layout(tmp_path / "img").init()
    if config is not None:
        cfg = layout.write_json(config, MEDIA_CONFIG)
        if isinstance(manifest, dict) and manifest.get("config") == "CONFIG":
            manifest["config"] = cfg.to_json()
    desc = layout.write_json(manifest, MEDIA_MANIFEST)
    layout.tag("latest", desc)
    return layout.path


@pytest.mark.parametrize("manifest", [
    {"schemaVersion": 2, "layers": []},  # no config
    {"schemaVersion": 2, "config": {"digest": 7}, "layers": []},
    {"schemaVersion": 2, "config": "CONFIG", "layers": [{"mediaType": "x", "digest": "md5:1", "size": 1}]},
    {"schemaVersion": 2, "config": "CONFIG", "layers": "everything"},
    {"schemaVersion": 2, "config": "CONFIG", "layers": [], "annotations": ["not", "a", "mapping"]},
    [1, 2, 3],
])
def test_malformed_manifest(wb: Cli, tmp_path: Path, manifest: object) -> None:
    root = manifest_layout(tmp_path, manifest, config={"config": {}})
    for command in ("run", "inspect"):
        one_line(wb(command, f"oci:{root}:latest"), 7, "is malformed")


def test_a_manifest_that_is_not_json(wb: Cli, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "img").init()
    digest = layout.write_blob(b"\xff not json")
    layout.tag("latest", Descriptor(MEDIA_MANIFEST, digest, 10))
    one_line(wb("run", f"oci:{layout.path}:latest"), 7, f"blob {digest}", "is not JSON")


@pytest.mark.parametrize(("config", "needle"), [
    ({"config": {"Entrypoint": "app.wasm"}}, "Entrypoint is not a list of strings"),
    ({"config": {"Entrypoint": ["/app.wasm"], "Env": [1, 2]}}, "Env is not a list of strings"),
    ({"config": {"Entrypoint": ["/app.wasm"], "WorkingDir": 5}}, "WorkingDir is not an absolute path"),
    ({"config": ["no"]}, "`config` is not a JSON object"),
])
def test_malformed_config_cannot_run_but_can_be_inspected(
        wb: Cli, tmp_path: Path, config: dict[str, object], needle: str) -> None:
    layout = Layout(tmp_path / "img").init()
    make_image(layout, [{"app.wasm": GOLDEN}], tag="latest")
    manifest = layout.read_json(layout.tags()["latest"].digest)
    manifest["config"] = layout.write_json(config, MEDIA_CONFIG).to_json()
    layout.tag("latest", layout.write_json(manifest, MEDIA_MANIFEST))
    one_line(wb("run", f"oci:{layout.path}:latest"), 8, needle)
    assert wb("inspect", f"oci:{layout.path}:latest").returncode == 0


def test_a_damaged_layer_cannot_be_unpacked(wb: Cli, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "img").init()
    desc = make_image(layout, [{"app.wasm": GOLDEN}], tag="latest")
    layer = layout.read_json(desc.digest)["layers"][0]["digest"]
    layout.blob_path(layer).write_bytes(b"\x1f\x8b\x08\x00 truncated gzip")  # a damaged store
    one_line(wb("run", f"oci:{layout.path}:latest"), 7, "cannot be unpacked", "pull or build the image again")


def test_an_entrypoint_that_is_not_a_module(wb: Cli, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "img").init()
    make_image(layout, [{"app.wasm": b"\0asm\x01\0\0\0\xff\xff"}], tag="latest")
    one_line(wb("run", f"oci:{layout.path}:latest"), 8, "cannot run /app.wasm")


def test_an_archive_that_is_not_a_tar(wb: Cli, tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_text("root:x:0:0:root:/root:/bin/bash\n")
    one_line(wb("run", f"oci-archive:{tmp_path / 'x.tar'}"), 6, "is not a readable OCI archive")


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-3"])
def test_registry_timeout_must_be_a_positive_number(wb: Cli, value: str) -> None:
    one_line(wb("inspect", "127.0.0.1:1/x:1", "--timeout", value), 2, "registry timeout must be")


def test_a_registry_port_out_of_range_is_refused_at_once(wb: Cli) -> None:
    one_line(wb("pull", "localhost:99999/x"), 2, "'localhost:99999' is not HOST or HOST:PORT")


def test_descriptor_from_json_refuses_what_is_not_a_descriptor() -> None:
    good = {"mediaType": MEDIA_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 3,
            "platform": {"os": "wasi", "architecture": "wasm32", "os.features": ["x"]}}
    assert Descriptor.from_json(good).size == 3
    for bad in (None, [], {**good, "size": True}, {**good, "size": -1}, {**good, "digest": "sha256:A"},
                {**good, "annotations": {"a": 1}}, {**good, "platform": "wasi"}):
        with pytest.raises(StoreError, match="malformed descriptor"):
            Descriptor.from_json(bad)


def prebuilt(tmp_path: Path) -> Path:
    (tmp_path / "app.wasm").write_bytes(GOLDEN)
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nimage:\n  files: [{src: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n")
    return tmp_path / "Wasmfile"


@pytest.mark.parametrize("variable", ["WASMBUILD_CACHE", "WASMBUILD_STORE"])
def test_an_unusable_cache_or_store_is_one_line(
        wb: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "/dev/null/x")
    one_line(wb("build", str(prebuilt(tmp_path))), 7, "cannot use /dev/null/x as", "writable directory")


def test_an_unwritable_output_is_one_line(wb: Cli, tmp_path: Path) -> None:
    wasmfile = prebuilt(tmp_path)
    one_line(wb("build", str(wasmfile), "-o", "oci-archive:/proc/x.tar"), 2, "cannot write archive /proc/x.tar")
    one_line(wb("build", str(wasmfile), "-o", "oci:/dev/null/x"), 7, "cannot use /dev/null/x as an OCI image layout")


@pytest.mark.parametrize("args", [["check", "x" * 300], ["plan", "x" * 300], ["build", "x" * 300],
                                  ["run", "oci:" + "x" * 300], ["inspect", "oci:" + "x" * 300],
                                  ["run", "oci-archive:" + "x" * 300]])
def test_a_name_too_long_is_one_line(wb: Cli, args: list[str]) -> None:
    proc = wb(*args)
    assert proc.returncode in (2, 6) and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: ")


def test_an_unreadable_path_anywhere_is_one_line(wb: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last resort: an OSError no narrower handler knew names its path, exit 2."""
    monkeypatch.setenv("WASMBUILD_TEST_FAIL_AT", "prepare")
    monkeypatch.setenv("WASMBUILD_TEST_FAIL_PATH", str(tmp_path / "secret"))
    proc = wb("plan", str(prebuilt(tmp_path)))
    assert proc.returncode == 2
    assert proc.stderr == f"error: {tmp_path / 'secret'}: Permission denied (--debug shows where)\n"


@pytest.mark.parametrize("doc", [b'{"config": {"digest": 1}, "layers": []}', b'{"layers": []}',
                                 b'{"config": {"mediaType": "x", "digest": "sha256:' + b"0" * 64 + b'", "size": 1},'
                                 b' "layers": {"a": 1}}'])
def test_a_malformed_manifest_from_a_registry_is_a_registry_error(doc: bytes) -> None:
    from types import SimpleNamespace

    from wasmbuild.errors import RegistryError
    from wasmbuild.registry.ops import _children

    client = SimpleNamespace(what="pull r.example/x:1", registry="r.example")
    desc = Descriptor(MEDIA_MANIFEST, "sha256:" + "1" * 64, len(doc))
    with pytest.raises(RegistryError, match=r"pull r.example/x:1: r.example sent a malformed manifest"):
        _children(client, desc, doc)  # type: ignore[arg-type]


def test_a_foreign_sbom_is_skipped_with_a_warning_not_a_traceback(wb: Cli, tmp_path: Path) -> None:
    """Another tool's SPDX tag-value document attached as application/spdx+json: `inspect --sbom`
    shows the JSON ones and says which one it skipped."""
    from wasmbuild.oci.referrers import ARTIFACT_SPDX, Document, attach

    layout = Layout(tmp_path / "img").init()
    desc = make_image(layout, [{"app.wasm": GOLDEN}], tag="latest")
    [foreign] = attach(layout, desc, [Document(ARTIFACT_SPDX, b"SPDXVersion: SPDX-2.3\n", "sbom.spdx")],
                       "1970-01-01T00:00:00Z")
    proc = wb("inspect", f"oci:{layout.path}:latest", "--sbom")
    one_line(proc, 6, "has no sbom attached")
    assert f"warning: referrer {foreign.digest} (application/spdx+json) is not a JSON document" in proc.stderr
