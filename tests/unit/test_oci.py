"""OCI bytes: deterministic layers, config and manifest; layout tagging."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from wasmbuild.assemble.image import ImageSpec, write_image
from wasmbuild.assemble.layer import collect, write_layer
from wasmbuild.oci import MEDIA_MANIFEST
from wasmbuild.oci.layout import Layout
from wasmbuild.reference import parse


def make_tree(root: Path, umask: int, mtime: int) -> list[tuple[str, Path, int | None]]:
    old = os.umask(umask)
    try:
        (root / "sub").mkdir(parents=True)
        (root / "app.wasm").write_bytes(b"\0asm\1\0\0\0")
        os.chmod(root / "app.wasm", 0o777 & ~umask)
        (root / "sub" / "b.txt").write_text("b")
        (root / "sub" / "a.txt").write_text("a")
    finally:
        os.umask(old)
    for p in (root / "app.wasm", root / "sub" / "a.txt", root / "sub" / "b.txt"):
        os.utime(p, (mtime, mtime))
    return [("/bin/app.wasm", root / "app.wasm", None), ("/data", root / "sub", None)]


def test_layer_is_identical_across_umask_and_mtimes(tmp_path: Path) -> None:
    digests = set()
    for i, (umask, mtime) in enumerate([(0o022, 1_000_000), (0o077, 2_000_000)]):
        files = make_tree(tmp_path / f"src{i}", umask, mtime)
        layout = Layout(tmp_path / f"out{i}").init()
        desc, diff_id = write_layer(collect(files), 0, layout)
        digests.add((desc.digest, diff_id))
    assert len(digests) == 1


def test_layer_entries_are_normalised(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src", 0o002, 12345)
    layout = Layout(tmp_path / "out").init()
    desc, _ = write_layer(collect(files), 42, layout)
    raw = layout.read_blob(desc.digest)
    assert raw[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["bin", "bin/app.wasm", "data", "data/a.txt", "data/b.txt"]
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 42)
    modes = {m.name: m.mode for m in members}
    assert modes == {
        "bin": 0o755,
        "bin/app.wasm": 0o755,
        "data": 0o755,
        "data/a.txt": 0o644,
        "data/b.txt": 0o644,
    }


def test_symlinks_stay_links(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    os.symlink("/etc/passwd", tmp_path / "src" / "leak")
    layout = Layout(tmp_path / "out").init()
    desc, _ = write_layer(collect([("/d", tmp_path / "src", None)]), 0, layout)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layout.read_blob(desc.digest)))) as tar:
        leak = tar.getmember("d/leak")
    assert leak.issym() and leak.linkname == "/etc/passwd" and leak.size == 0


def test_image_config_and_manifest(tmp_path: Path) -> None:
    layout = Layout(tmp_path).init()
    (tmp_path / "m.wasm").write_bytes(b"\0asm\1\0\0\0")
    layer = write_layer(collect([("/m.wasm", tmp_path / "m.wasm", None)]), 0, layout)
    spec = ImageSpec(platform="wasi/wasm32", entrypoint=["m.wasm"], env={"A": "1"})
    desc = write_image(layout, spec, [layer], 86400)
    manifest = layout.read_json(desc.digest)
    config = layout.read_json(manifest["config"]["digest"])
    assert manifest["mediaType"] == MEDIA_MANIFEST
    assert manifest["annotations"] == {"module.wasm.image/variant": "compat"}
    assert (config["os"], config["architecture"]) == ("wasi", "wasm32")
    assert config["created"] == "1970-01-02T00:00:00Z"
    assert config["config"]["Env"] == ["A=1"] and config["config"]["Entrypoint"] == ["m.wasm"]
    assert config["rootfs"]["diff_ids"] == [layer[1]]
    assert desc.platform == {"os": "wasi", "architecture": "wasm32"}
    layout.tag("demo:1", desc)
    assert layout.resolve("demo:1").digest == desc.digest
    assert layout.gc() == 0  # everything referenced


def test_tag_refuses_missing_manifest(tmp_path: Path) -> None:
    from wasmbuild.errors import ImageNotFound
    from wasmbuild.oci import Descriptor

    layout = Layout(tmp_path).init()
    with pytest.raises(ImageNotFound, match="cannot tag x"):
        layout.tag("x", Descriptor(MEDIA_MANIFEST, "sha256:" + "0" * 64, 1))
    assert layout.tags() == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", ("hello", None, "latest")),
        ("localhost:5000/a/b:1.0", ("a/b", "localhost:5000", "1.0")),
        ("ghcr.io/x/y", ("x/y", "ghcr.io", "latest")),
        ("127.0.0.1:5000/hello@sha256:" + "a" * 64, ("hello", "127.0.0.1:5000", None)),
    ],
)
def test_reference_parse(text: str, expected: tuple[str, str | None, str | None]) -> None:
    ref = parse(text)
    assert (ref.repository, ref.registry, ref.tag) == expected


def test_reference_rejects_uppercase() -> None:
    from wasmbuild.errors import WasmbuildError

    with pytest.raises(WasmbuildError, match="invalid image reference 'Hello'"):
        parse("Hello")
