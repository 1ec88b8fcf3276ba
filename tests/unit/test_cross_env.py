"""The cross environment of the C/C++ toolchains (recipes/c/cross.py): the variables, the
wrappers, the CMake toolchain file and the Meson cross file, without a real compiler."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from wasmbuild.execute import toolchains

cross = toolchains.module("c").cross  # recipes/c/cross.py

CLANG_ENV = {"CC": "/opt/llvm/bin/clang-16", "WASM_TARGET": "wasm32-wasip1", "WASI_SYSROOT": "/opt/sysroot"}


def fake_llvm(tmp_path: Path) -> dict[str, str]:
    """A clang-16 whose installation has llvm-ar etc.; each tool prints its argv."""
    bindir = tmp_path / "llvm" / "bin"
    bindir.mkdir(parents=True)
    for name in ("clang-16", "clang++-16", "llvm-ar", "llvm-ranlib", "llvm-nm", "llvm-strip"):
        (bindir / name).write_text('#!/bin/sh\necho "$0" "$@"\n')
        (bindir / name).chmod(0o755)
    return {**CLANG_ENV, "CC": str(bindir / "clang-16")}


def test_clang_variables_carry_target_and_sysroot(tmp_path: Path) -> None:
    env = cross.complete(fake_llvm(tmp_path), area=tmp_path / "area")
    llvm = tmp_path / "llvm" / "bin"
    missing = f"-isystem {Path(env['CC']).parents[1] / 'missing'}"  # /opt/sysroot has none of them
    assert env["WASI_HOST"] == "wasm32-wasip1"
    assert env["LDFLAGS"] == "--target=wasm32-wasip1 --sysroot=/opt/sysroot"
    assert env["CFLAGS"] == f"--target=wasm32-wasip1 --sysroot=/opt/sysroot {missing}"
    assert env["CXXFLAGS"] == f"--target=wasm32-wasip1 --sysroot=/opt/sysroot {missing} -fno-exceptions"
    assert {k: env[k] for k in ("AR", "RANLIB", "NM", "STRIP")} == {
        "AR": str(llvm / "llvm-ar"), "RANLIB": str(llvm / "llvm-ranlib"),
        "NM": str(llvm / "llvm-nm"), "STRIP": str(llvm / "llvm-strip")}
    # CC and CXX always target WASI, whatever flags a Makefile sets
    out = subprocess.run([env["CC"], "-c", "a.c"], capture_output=True, text=True, check=True).stdout
    assert out.split()[1:] == ["--target=wasm32-wasip1", "--sysroot=/opt/sysroot", *missing.split(), "-c", "a.c"]
    out = subprocess.run([env["CXX"], "x.cpp"], capture_output=True, text=True, check=True).stdout
    assert out.split()[0].endswith("clang++-16") and "--target=wasm32-wasip1" in out
    assert set(cross.VARIABLES) <= set(env)


def test_headers_wasi_libc_lacks_are_errors_saying_what_wasi_lacks(tmp_path: Path) -> None:
    """Only for the headers the sysroot lacks: a sysroot with setjmp.h gets no stub for it."""
    sysroot = tmp_path / "sysroot"
    (sysroot / "include" / "wasm32-wasip1").mkdir(parents=True)
    (sysroot / "include" / "wasm32-wasip1" / "setjmp.h").write_text("/* real */\n")
    env = cross.complete({**fake_llvm(tmp_path), "WASI_SYSROOT": str(sysroot)}, area=tmp_path / "area")
    stubs = Path(env["CC"]).parents[1] / "missing"
    assert f"-isystem {stubs}" in env["CFLAGS"] and not (stubs / "setjmp.h").exists()
    assert (stubs / "pthread.h").read_text().splitlines()[1] == (
        '#error "<pthread.h> threads: the wasm32-wasi target has no pthreads (wasi-libc\'s threads '
        'need the wasm32-wasi-threads target and a runtime with wasi-threads); build without threads"')
    assert sorted(p.relative_to(stubs).as_posix() for p in stubs.rglob("*.h")) == sorted(
        h for h in cross.MISSING if h != "setjmp.h")


def test_a_link_missing_an_emulation_library_says_which(tmp_path: Path) -> None:
    """wasm-ld's `undefined symbol: signal` gets one line first naming the define and library;
    the compiler's own output follows unchanged, stdout is untouched, the exit code kept."""
    clang = tmp_path / "clang-16"
    clang.write_text('#!/bin/sh\necho out\necho "wasm-ld: error: a.o: undefined symbol: signal" >&2\n'
                     'echo "wasm-ld: error: a.o: undefined symbol: times" >&2\nexit 1\n')
    clang.chmod(0o755)
    env = cross.complete({**CLANG_ENV, "CC": str(clang)}, area=tmp_path / "area")
    proc = subprocess.run([env["CC"], "a.o"], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (1, "out\n")
    assert proc.stderr.splitlines() == [
        "wasmbuild: error: `signal` is in wasi-libc's emulation library (WASI has no such call): "
        "compile with -D_WASI_EMULATED_SIGNAL and link with -lwasi-emulated-signal",
        "wasmbuild: error: `times` is in wasi-libc's emulation library (WASI has no such call): "
        "compile with -D_WASI_EMULATED_PROCESS_CLOCKS and link with -lwasi-emulated-process-clocks",
        "wasm-ld: error: a.o: undefined symbol: signal", "wasm-ld: error: a.o: undefined symbol: times"]


def test_cmake_toolchain_file_names_the_cross_tools(tmp_path: Path) -> None:
    env = cross.complete(fake_llvm(tmp_path), area=tmp_path / "area")
    text = Path(env["CMAKE_TOOLCHAIN_FILE"]).read_text()
    for line in ("set(CMAKE_SYSTEM_NAME WASI)", f'set(CMAKE_C_COMPILER "{env["CC"]}")',
                 f'set(CMAKE_CXX_COMPILER "{env["CXX"]}")', "set(CMAKE_C_COMPILER_TARGET wasm32-wasip1)",
                 'set(CMAKE_SYSROOT "/opt/sysroot")', f'set(CMAKE_AR "{env["AR"]}" CACHE FILEPATH "")',
                 "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)"):
        assert line in text.splitlines()
    share = Path(env["CMAKE_TOOLCHAIN_FILE"]).parent
    assert f'list(APPEND CMAKE_MODULE_PATH "{share}")' in text
    assert (share / "Platform" / "WASI.cmake").read_text().splitlines()[1:] == [
        "set(WASI 1)", 'set(CMAKE_EXECUTABLE_SUFFIX ".wasm")']


def test_meson_cross_file_drops_gnu_ld_options_wasm_ld_rejects(tmp_path: Path) -> None:
    env = cross.complete(fake_llvm(tmp_path), area=tmp_path / "area")
    text = Path(env["MESON_CROSS_FILE"]).read_text()
    assert "[host_machine]\nsystem = 'wasi'\ncpu_family = 'wasm32'\ncpu = 'wasm32'\nendian = 'little'" in text
    assert f"ar = '{env['AR']}'" in text and "needs_exe_wrapper = true" in text
    meson_cc = text.split("c = '")[1].split("'")[0]
    out = subprocess.run([meson_cc, "-o", "app", "-Wl,--as-needed", "a b.o", "-Wl,--start-group", "l.a",
                          "-Wl,--end-group", "-Wl,-O1"], capture_output=True, text=True, check=True).stdout
    assert out.split()[-5:] == ["app", "a", "b.o", "l.a", "-Wl,-O1"]


def test_zig_wrappers_link_without_debug_info_and_have_ar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zig = tmp_path / "zig"
    zig.write_text('#!/bin/sh\necho zig "$@"\n')
    zig.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # no llvm-nm / llvm-strip
    env = cross.complete({"ZIG": str(zig), "WASM_TARGET": "wasm32-wasi", "CC": "unused"}, area=tmp_path / "a")
    assert env["CC"].endswith("zig-cc") and env["CXX"].endswith("zig-c++") and "NM" not in env
    assert env["LDFLAGS"] == "--target=wasm32-wasi -Wl,--strip-debug" and "WASI_SYSROOT" not in env

    def run(*argv: str) -> list[str]:
        return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout.split()

    assert run(env["CC"], "-o", "app", "a.o") == ["zig", "cc", "--target=wasm32-wasi", "-Wl,--strip-debug",
                                                   "-o", "app", "a.o"]
    assert run(env["CC"], "-c", "a.c") == ["zig", "cc", "--target=wasm32-wasi", "-c", "a.c"]
    assert run(env["AR"], "rcs", "l.a") == ["zig", "ar", "rcs", "l.a"]
    assert run(env["RANLIB"], "l.a") == ["zig", "ranlib", "l.a"]


def test_files_are_content_addressed_and_written_once(tmp_path: Path) -> None:
    area = tmp_path / "area"
    base = fake_llvm(tmp_path)
    results: list[dict[str, str]] = []
    threads = [threading.Thread(target=lambda: results.append(cross.complete(base, area=area)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r["CMAKE_TOOLCHAIN_FILE"] for r in results}) == 1
    assert [p.name for p in area.iterdir()] == [Path(results[0]["CC"]).parents[1].name]  # no temp left
    other = cross.complete({**base, "WASM_TARGET": "wasm32-wasi"}, area=area)
    assert other["CMAKE_TOOLCHAIN_FILE"] != results[0]["CMAKE_TOOLCHAIN_FILE"]
    assert os.access(other["CC"], os.X_OK)


def test_every_c_toolchain_stage_gets_the_cross_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbuild.execute import toolchains

    zig = tmp_path / "zig"
    zig.write_text('#!/bin/sh\n[ "$1" = version ] && echo 0.99.0 || echo "$@"\n')
    zig.chmod(0o755)
    monkeypatch.setenv("WASMBUILD_ZIG", str(zig))
    toolchains.module("zig").zig.cache_clear()
    try:
        tc = toolchains.get("zig")
    finally:
        toolchains.module("zig").zig.cache_clear()
    assert tc is not None and set(cross.VARIABLES) <= set(tc.env)
    # a change to the generated files changes the identity, hence the stage keys
    assert tc.identity.endswith(f";cross={cross.CROSS_REVISION}")
    assert str(Path(tc.env["CC"]).parent) == tc.path_dirs[0]  # the wrappers are on PATH
    assert Path(tc.env["MESON_CROSS_FILE"]).is_file()
