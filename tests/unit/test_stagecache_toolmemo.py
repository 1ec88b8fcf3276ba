"""Toolchain probes are remembered until something they depended on changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wasmbuild.execute import toolchains
from wasmbuild.execute.toolchains import Toolchain


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    cc = bindir / "clang"
    cc.write_text("#!/bin/sh\n")
    cc.chmod(0o755)
    libc = tmp_path / "sys" / "lib" / "wasm32-wasi" / "libc.a"
    libc.parent.mkdir(parents=True)
    libc.write_bytes(b"!<arch>\n")
    calls: list[str] = []

    def probe(name: str | None) -> Toolchain:
        calls.append(str(name))
        return Toolchain("c", {"CC": str(cc), "WASM_TARGET": "wasm32-wasi",
                               "WASI_SYSROOT": str(tmp_path / "sys")}, (str(bindir),),
                         f"cc={cc};v{len(calls)}")

    monkeypatch.setattr(toolchains.module("c"), "probe", lambda: probe("c"))
    monkeypatch.setenv("WASMBUILD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.delenv("WASMBUILD_CC", raising=False)
    return tmp_path, calls


def test_probe_once_then_memo(fake: tuple[Path, list[str]]) -> None:
    _, calls = fake
    first = toolchains.get("c")
    second = toolchains.get("c")
    assert calls == ["c"] and first == second
    assert toolchains.get(None) is None and toolchains.get("none") is None


@pytest.mark.parametrize("change", ["compiler", "libc", "path-dir", "env"])
def test_any_relevant_change_probes_again(fake: tuple[Path, list[str]],
                                          monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    root, calls = fake
    before = toolchains.get("c")
    if change == "compiler":
        os.utime(root / "bin" / "clang", (1, 1))
    elif change == "libc":
        (root / "sys" / "lib" / "wasm32-wasi" / "libc.a").unlink()
    elif change == "path-dir":
        (root / "bin" / "clang-17").write_text("")  # something new on PATH
    else:
        monkeypatch.setenv("WASMBUILD_CC", "/opt/other/clang")
    after = toolchains.get("c")
    assert len(calls) == 2
    assert after is not None and before is not None and after.identity != before.identity
    assert toolchains.get("c") == after and len(calls) == 2  # remembered again


def test_a_garbage_memo_is_ignored(fake: tuple[Path, list[str]]) -> None:
    root, calls = fake
    toolchains.get("c")
    [memo] = (root / "cache" / "toolchains").glob("*.json")
    memo.write_text("{")
    toolchains.get("c")
    assert len(calls) == 2
