"""The compiler-free golden digest: a checked-in module assembled in-process (as apko's golden
build test does). Any change to the bytes wasmbuild writes for the same inputs -- tar entries,
gzip stream, config, manifest -- changes this digest; a deliberate change updates it here once."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from wasmbuild.oci.layout import Layout
from wasmbuild.pipeline import BuildOptions, build, prepare

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
GOLDEN = "sha256:1b7fec08898e29672e60615b9cc479157d73585fd2442043b210e7a3d46869d6"


def _build(tmp: Path) -> tuple[Layout, str]:
    project = tmp / "project"
    shutil.copytree(FIXTURE, project)
    for i, p in enumerate(sorted(project.rglob("*"))):  # mtimes must not matter
        os.utime(p, (1_000_000 + i * 977, 1_000_000 + i * 977))
    store = Layout(tmp / "store").init()
    built = build(prepare(project), BuildOptions(store=store, uncached=True))
    return store, built.digest


def test_golden_digest(tmp_path: Path) -> None:
    _, digest = _build(tmp_path)
    assert digest == GOLDEN


def test_same_digest_under_another_umask_and_checkout(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        _, digest = _build(tmp_path)
    finally:
        os.umask(old)
    assert digest == GOLDEN


def test_epoch_changes_the_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    _, digest = _build(tmp_path)
    assert digest != GOLDEN


def test_every_layer_decompresses_with_the_stdlib_to_its_diff_id(tmp_path: Path) -> None:
    store, digest = _build(tmp_path)
    manifest = store.read_json(digest)
    config = store.read_json(manifest["config"]["digest"])
    for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True):
        raw = gzip.decompress(store.blob_path(layer["digest"]).read_bytes())
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == diff_id
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            names = tar.getnames()
            assert names == sorted(names)
            assert all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.mtime == 0 for m in tar)
            assert "hello.wasm" in names and tar.getmember("src/hello.wat").mode == 0o600
