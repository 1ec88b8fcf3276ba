"""-o local:DIR writes an image's root filesystem: layers in order, whiteouts, nothing escapes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tests.support.images import gzip_bytes, make_image
from tests.unit.test_targets_golden import ALL, FIXTURE, build_targets, checkout
from wasmbuild.errors import ConfigError, StoreError
from wasmbuild.oci import MEDIA_MANIFEST, TITLE, Descriptor
from wasmbuild.oci.layout import Layout
from wasmbuild.publish import Published, output_publisher
from wasmbuild.publish.local import LocalPublisher, from_buildx, wasm_layer_paths


def test_layers_apply_in_order_with_whiteouts(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    desc = make_image(layout, [
        {"app.wasm": b"\0asm", "old.txt": b"old", "dir/x": b"x", "dir/y": b"y"},
        {".wh.old.txt": b"", "dir/.wh..wh..opq": b"", "dir/z": b"z", "app.wasm": b"\0asm2"},
    ])
    out = tmp_path / "root"
    assert LocalPublisher(out).publish(layout, desc) == Published(tags=(f"local:{out}",))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["app.wasm", "dir", "dir/z"]
    assert (out / "app.wasm").read_bytes() == b"\0asm2"


def _hostile(tmp_path: Path, members: list[tarfile.TarInfo]) -> tuple[Layout, object]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    layout = Layout(tmp_path / "oci")
    desc = make_image(layout, [], raw_layers=[gzip_bytes(buf.getvalue())])
    return layout, desc


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([_member("../escape")], "escapes"),
        ([_member("up", tarfile.SYMTYPE, "/etc"), _member("up/passwd")], "goes through the symlink"),
        ([_member("h", tarfile.LNKTYPE, "../../etc/passwd")], "escapes"),
    ],
)
def test_nothing_is_written_outside_dir(tmp_path: Path, members: list[tarfile.TarInfo], why: str) -> None:
    layout, desc = _hostile(tmp_path, members)
    with pytest.raises(StoreError, match=why):
        LocalPublisher(tmp_path / "root").publish(layout, desc)  # type: ignore[arg-type]
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize(
    ("buildx", "ours"),
    [
        ("type=local,dest=out", "local:out"),
        ("type=oci,dest=img.tar", "oci-archive:img.tar"),
        ("type=oci,dest=dir,tar=false", "oci:dir"),
        ("type=docker,dest=img.tar", "docker-archive:img.tar"),
        ("type=registry,name=localhost:5000/a:1", "docker://localhost:5000/a:1"),
        ("type=image,name=localhost:5000/a:1,push=true", "docker://localhost:5000/a:1"),
        ("oci:already-ours", "oci:already-ours"),
    ],
)
def test_buildx_output_spellings(buildx: str, ours: str) -> None:
    assert from_buildx(buildx) == ours


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("type=image,name=x/y:1", "names no registry to push to"),
        ("type=local,dest", "'dest' is not KEY=VALUE"),
        ("type=tar,dest=x", "type=tar is not supported"),
    ],
)
def test_bad_buildx_outputs(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        output_publisher(text, ["x:1"])


def test_local_is_an_output_everywhere(tmp_path: Path) -> None:
    assert output_publisher(f"local:{tmp_path}", ["x:1"]) == LocalPublisher(tmp_path)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("target", ALL)
def test_every_shape_exports_its_module_at_its_path(tmp_path: Path, target: str) -> None:
    """runwasi and artifact images carry the module as a raw Wasm layer, not in a tar: it was
    left out of the export (issue 22)."""
    built = build_targets(tmp_path, (target,))
    out = tmp_path / "root"
    LocalPublisher(out).publish(built.layout, built.descriptor)
    module = (FIXTURE / "hello.wasm").read_bytes()
    wat = (FIXTURE / "hello.wat").read_bytes()
    # The artifact holds the one module and no other files (docs/targets.md).
    expected = {"hello.wasm": module} if target == "artifact" else {"hello.wasm": module, "src/hello.wat": wat}
    assert _files(out) == expected


def test_a_runwasi_module_in_a_directory_lands_at_the_entrypoint_path(tmp_path: Path) -> None:
    project = checkout(tmp_path / "project")
    (project / "Wasmfile").write_text(
        "wasmfile: 1\nimage:\n  files: [{src: hello.wasm, dest: /bin/app.wasm}]\n"
        "  entrypoint: [/bin/app.wasm]\n")
    built = build_targets(tmp_path, ("runwasi",), project=project)
    out = tmp_path / "root"
    LocalPublisher(out).publish(built.layout, built.descriptor)
    assert _files(out) == {"bin/app.wasm": (FIXTURE / "hello.wasm").read_bytes()}


def test_wasm_layer_paths_of_foreign_images() -> None:
    def layer(n: int, title: str | None) -> dict[str, object]:
        notes = {"org.opencontainers.image.title": title} if title else {}
        return {"mediaType": "application/wasm", "digest": f"sha256:{n:064x}", "annotations": notes}

    two = {"layers": [layer(1, "lib.wasm"), layer(2, "main.wasm"), {"mediaType": "x.tar+gzip", "digest": "d"}]}
    config = {"config": {"Entrypoint": ["main.wasm"], "WorkingDir": "/app"}}
    assert wasm_layer_paths(two, config) == [(f"sha256:{1:064x}", "/lib.wasm"), (f"sha256:{2:064x}", "/app/main.wasm")]
    # no entrypoint (an artifact, a damaged config): each at /TITLE, an untitled one as `run` names it
    assert wasm_layer_paths({"layers": [layer(3, None)]}, None) == [(f"sha256:{3:064x}", "/module.wasm")]
    assert wasm_layer_paths({"layers": [layer(4, "a.wasm")]}, {"config": {"Entrypoint": "x"}}) == [
        (f"sha256:{4:064x}", "/a.wasm")]


def test_a_wasm_layer_titled_out_of_dir_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci").init()
    blob = Descriptor("application/wasm", layout.write_blob(b"\0asm\1\0\0\0"), 8, {TITLE: "../../escape.wasm"})
    cfg = layout.write_json({"architecture": "wasm", "os": "wasip1"}, "application/vnd.wasm.config.v0+json")
    manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST, "config": cfg.to_json(), "layers": [blob.to_json()]}
    desc = layout.write_json(manifest, MEDIA_MANIFEST)
    with pytest.raises(StoreError, match="escapes"):
        LocalPublisher(tmp_path / "root").publish(layout, desc)
    assert not (tmp_path / "escape.wasm").exists()
