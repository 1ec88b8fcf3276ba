"""The vendored WASI assets are exactly the pinned files (scripts/update-wasi-assets)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from wasmbuild.errors import ToolchainError
from wasmbuild.wasm import pins

UNPINNED = {"pins.json", "NOTICE.md"}


def test_every_vendored_file_matches_its_pin() -> None:
    data = json.loads((pins.ASSETS / "pins.json").read_text())
    assert data["package"] == "@bytecodealliance/jco" and data["integrity"].startswith("sha512-")
    for name, meta in data["files"].items():
        assert hashlib.sha256((pins.ASSETS / name).read_bytes()).hexdigest() == meta["sha256"], name


def test_every_file_under_assets_is_pinned() -> None:
    on_disk = {p.relative_to(pins.ASSETS).as_posix() for p in pins.ASSETS.rglob("*") if p.is_file()}
    assert on_disk - UNPINNED == set(pins.pins().files)


def test_adapters_and_wit_are_there() -> None:
    for kind in ("command", "reactor"):
        assert pins.asset(pins.adapter_name(kind)).read_bytes()[:8] == b"\0asm\x01\0\0\0"
    packages = pins.wit_packages()
    assert {"cli", "io", "clocks", "filesystem", "random", "sockets", "http"} <= set(packages)
    assert f"package wasi:cli@{pins.pins().wasi_version};" in packages["cli"].read_text()


def test_a_tampered_asset_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "assets"
    shutil.copytree(pins.ASSETS, copy)
    name = pins.adapter_name("command")
    with (copy / name).open("ab") as fh:
        fh.write(b"\0")
    monkeypatch.setattr(pins, "ASSETS", copy)
    with pytest.raises(ToolchainError, match=r"wasi_snapshot_preview1\.command\.wasm has sha256 [0-9a-f]{64}, "
                                             r"pinned 2a652d71.*update-wasi-assets"):
        pins.asset(name)
    (copy / name).unlink()
    with pytest.raises(ToolchainError, match="is missing"):
        pins.asset(name)
