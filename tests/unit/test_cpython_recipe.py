"""The cpython-wasi recipe's downloads: upstream releases pinned by sha256 (issue 22 item 7)."""

from __future__ import annotations

from pathlib import Path

from wasmbuild.pipeline import prepare
from wasmbuild.render.project import StageSpec

ZLIB_SHA256 = "b3a24de97a8fdbc835b9833169501030b8977031bcb54b3b3ac13740f846ab30"  # zlib-1.2.13.tar.gz


def stage(tmp_path: Path, params: str) -> StageSpec:
    (tmp_path / "Wasmfile").write_text(
        f"wasmfile: 1\nstages:\n  python:\n    recipe: cpython-wasi\n    with: {{{params}}}\n"
        "image:\n  files: [{from: python, path: python3.wasm, dest: /python3.wasm}]\n  entrypoint: [python3.wasm]\n")
    return prepare(tmp_path / "Wasmfile").project.stages["python"]


def test_zlib_alone_is_zlibs_own_release_pinned(tmp_path: Path) -> None:
    spec = stage(tmp_path, "zlib: true")
    downloads = {i.dest: (i.url, i.sha256) for i in spec.inputs if i.url}
    assert downloads["zlib-src.tar"] == ("https://zlib.net/fossils/zlib-1.2.13.tar.gz", ZLIB_SHA256)
    assert all("debian" not in url for url, _ in downloads.values())


def test_a_local_zlib_tarball_is_checked_against_its_sha256(tmp_path: Path) -> None:
    (tmp_path / "zlib.tar.bz2").write_bytes(b"BZh9 not really")
    spec = stage(tmp_path, "zlib: true, zlib_source: zlib.tar.bz2, zlib_sha256: " + "ab" * 32)
    inputs = {i.dest: i for i in spec.inputs}
    assert inputs["zlib-src.tar"].src == "zlib.tar.bz2" and inputs["zlib-src.tar"].url is None
    assert any("ab" * 32 + "  $SRC/zlib-src.tar" in step and "sha256sum -c" in step
               for step in spec.steps)
