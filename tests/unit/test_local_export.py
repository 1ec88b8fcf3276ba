"""-o local:DIR writes an image's root filesystem: layers in order, whiteouts, nothing escapes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tests.support.images import gzip_bytes, make_image
from wasmbuild.errors import ConfigError, StoreError
from wasmbuild.oci.layout import Layout
from wasmbuild.publish import output_publisher
from wasmbuild.publish.local import LocalPublisher, from_buildx


def test_layers_apply_in_order_with_whiteouts(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    desc = make_image(layout, [
        {"app.wasm": b"\0asm", "old.txt": b"old", "dir/x": b"x", "dir/y": b"y"},
        {".wh.old.txt": b"", "dir/.wh..wh..opq": b"", "dir/z": b"z", "app.wasm": b"\0asm2"},
    ])
    out = tmp_path / "root"
    assert LocalPublisher(out).publish(layout, desc) == [f"local:{out}"]
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
