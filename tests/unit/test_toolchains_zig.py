"""zig stands in for clang when clang or wasi-libc is missing; recipes pick c, cxx, zig, component."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmbuild.errors import ToolchainError
from wasmbuild.execute import toolchains
from wasmbuild.execute.toolchains import Toolchain
from wasmbuild.render import recipes

C, CXX, ZIG = (toolchains.module(n) for n in ("c", "cxx", "zig"))  # the recipe folders' code
CACHED = (C.clang, CXX.clangxx, ZIG.zig)


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    for fn in CACHED:
        fn.cache_clear()
    yield
    for fn in CACHED:
        fn.cache_clear()


def _fake_zig(tmp_path: Path) -> Path:
    exe = tmp_path / "zig"
    exe.write_text('#!/bin/sh\n[ "$1" = version ] && echo 0.99.0 || echo "$@"\n')
    exe.chmod(0o755)
    return exe


def _no_clang() -> Toolchain:
    raise ToolchainError("wasi-libc (the WASI C library) was not found", hint=C.C_HINT)


def test_zig_toolchain_wraps_cc_and_cxx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMBUILD_ZIG", str(_fake_zig(tmp_path)))
    monkeypatch.delenv("WASMBUILD_ZIG_CACHE", raising=False)
    tc = toolchains.probe("zig")
    assert tc.name == "zig" and tc.env["WASM_TARGET"] == "wasm32-wasi" and "WASI_SYSROOT" not in tc.env
    assert tc.env["ZIG_GLOBAL_CACHE_DIR"] == os.path.join(os.environ["WASMBUILD_CACHE"], "compilers", "zig")
    assert tc.writable == ("ZIG_GLOBAL_CACHE_DIR",)  # the sandbox lets the steps write it
    assert tc.env["WASM_LDFLAGS"] == "-Wl,--strip-debug"
    # The identity names versions, not paths: cache entries are shared between machines.
    assert tc.identity.startswith("zig 0.99.0;ziglang=") and str(tmp_path) not in tc.identity
    for var, mode in (("CC", "cc"), ("CXX", "c++")):
        out = subprocess.run([tc.env[var], "-o", "x"], capture_output=True, text=True, check=True).stdout
        assert out == f"{mode} -o x\n"


def test_c_falls_back_to_zig_when_clang_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMBUILD_ZIG", str(_fake_zig(tmp_path)))
    monkeypatch.setattr(C, "clang", _no_clang)
    tc = toolchains.probe("c")
    assert tc.name == "c" and tc.env["CC"].endswith("zig-cc") and tc.identity == toolchains.probe("zig").identity
    assert tc.notes == ["using zig: wasi-libc (the WASI C library) was not found"]
    monkeypatch.setattr(CXX, "clangxx", _no_clang)
    assert toolchains.probe("cxx").env["CXX"].endswith("zig-c++")


def test_without_zig_the_clang_error_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMBUILD_ZIG", "")  # "" turns zig off
    monkeypatch.setattr(C, "clang", _no_clang)
    with pytest.raises(ToolchainError, match=r"wasi-libc .* was not found \(.*or pip install ziglang"):
        toolchains.probe("c")
    with pytest.raises(ToolchainError, match="zig was not found"):
        toolchains.get("zig")


def _render(name: str, **given: object) -> dict[str, object]:
    recipe = recipes.get_recipe(name)
    values, _ = recipes.resolve_params(recipe, dict(given))
    data = recipes.render(recipe, values)[1]
    assert isinstance(data, dict)
    return data


def test_c_and_cxx_recipes_choose_their_toolchain() -> None:
    assert _render("c", sources=["a.c"])["toolchain"] == "c"
    zig = _render("c", sources=["src/a.c", "src/b.c"], include_dirs=["include"], toolchain="zig")
    assert zig["toolchain"] == "zig" and zig["inputs"] == ["src/a.c", "src/b.c", "include"]
    step = str(zig["steps"][0])  # type: ignore[index]
    assert '${WASI_SYSROOT:+--sysroot="$WASI_SYSROOT"}' in step and '-I"$SRC"/include' in step
    assert step.endswith('"$SRC"/src/a.c "$SRC"/src/b.c ${WASM_LDFLAGS:-}')
    cxx = _render("cxx", sources=["main.cpp"])
    assert cxx["toolchain"] == "cxx" and "-fno-exceptions" in str(cxx["steps"])
    assert "-fexceptions" in str(_render("cxx", sources=["main.cpp"], exceptions=True)["steps"])
    assert _render("cxx", sources=["main.cpp"], toolchain="zig")["toolchain"] == "zig"
    _, problems = recipes.resolve_params(recipes.get_recipe("c"), {"sources": ["a.c"], "toolchain": "gcc"})
    assert problems == ["parameter 'toolchain' must be one of ['auto', 'zig'], got 'gcc'"]


def test_component_recipes_render() -> None:
    py = _render("python-component", app="app", module="main")
    assert py["toolchain"] == "component" and py["inputs"] == ["app"] and py["outputs"] == ["app.wasm"]
    assert '-m wasmbuild.wasm.python "$SRC"/app main "$OUT"/app.wasm --world wasi:cli/command' in str(py["steps"])
    wrap = _render("component", stage="hello", path="hello.wasm", kind="reactor")
    assert wrap["inputs"] == [{"from": "hello", "path": "hello.wasm", "dest": "module.wasm"}]
    assert "--kind reactor" in str(wrap["steps"])
    crate = _render("rust", crate="vendored-hello")
    # cargo reads the crate's .cargo/config.toml from its cwd; $SRC is read-only: build a copy
    assert str(crate["steps"]).startswith(
        "['cp -Rp \"$SRC\" \"$WORK/src\" && cd \"$WORK/src\"/vendored-hello && ")
    # cargo's state persists between builds (caches, never in the stage key)
    assert crate["caches"] == [{"name": "target", "path": "target"}, {"name": "cargo-home", "path": "cargo-home"}]
    assert "caches" not in _render("rust", crate="vendored-hello", cache=False)


def test_the_component_toolchain_shows_this_package_to_the_sandbox(tmp_path: Path) -> None:
    """`$WASMBUILD_PYTHON -m wasmbuild.wasm.component` runs inside bubblewrap: the package's own
    directory is named by a toolchain variable, so the sandbox binds it where a tmpfs hid it
    (a checkout under /tmp, an editable install under a home)."""
    import wasmbuild
    from wasmbuild.execute.executors import StageJob
    from wasmbuild.execute.executors.sandbox import toolchain_dirs

    tc = toolchains.probe("component")
    package = Path(wasmbuild.__file__).resolve().parent
    assert tc.env["WASMBUILD_PACKAGE"] == str(package)
    job = StageJob(name="s", steps=(), env={}, src=tmp_path, out=tmp_path, work=tmp_path, toolchain=tc)
    assert str(package) in toolchain_dirs(job)
    assert "/tmp" not in tc.identity and str(package) not in tc.identity  # not in the cache key
