"""The ``zig`` toolchain: zig from the ziglang wheel (a dependency of wasmbuild), for Zig
sources and, standing in for clang, for C and C++ with zig's own wasi-libc and libc++.

zig compiles wasi-libc (and libc++) on first use, ~1-2 minutes, into ``ZIG_GLOBAL_CACHE_DIR``
(:func:`global_cache`: stages, whose HOME is fresh, share it). Its libc objects carry debug
info naming the wheel's install path, so modules are linked with ``-Wl,--strip-debug``
($WASM_LDFLAGS): the same bytes wherever the wheel is installed, which is why the identity names
versions, not paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shlex
import shutil
from dataclasses import replace
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from wasmbuild.dirs import cache_area, cache_dir
from wasmbuild.errors import ToolchainError
from wasmbuild.execute import toolchains
from wasmbuild.execute.probing import Toolchain, ToolRecord, _run
from wasmbuild.fsutil import atomic_write_bytes

ZIG_HINT = "pip install ziglang (a dependency of wasmbuild), or set WASMBUILD_ZIG to a zig binary"


def _dist_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def binary() -> str | None:
    """``WASMBUILD_ZIG`` ("" turns zig off), else the ziglang wheel's binary, else zig on PATH."""
    env = os.environ.get("WASMBUILD_ZIG")
    if env is not None:
        return env or None
    spec = importlib.util.find_spec("ziglang")
    for base in (spec.submodule_search_locations or []) if spec else []:
        if (Path(base) / "zig").is_file():
            return str(Path(base) / "zig")
    return shutil.which("zig")


def _wrappers(zig_exe: str) -> Path:
    """A directory with ``zig-cc`` and ``zig-c++``: recipes call "$CC" as one program."""
    bindir = cache_area("toolchains") / f"zig-bin-{hashlib.sha256(zig_exe.encode()).hexdigest()[:16]}"
    for name, mode in (("zig-cc", "cc"), ("zig-c++", "c++")):
        text = f'#!/bin/sh\nexec {shlex.quote(zig_exe)} {mode} "$@"\n'.encode()
        path = bindir / name
        if not path.is_file() or path.read_bytes() != text:
            atomic_write_bytes(path, text, mode=0o755)
    return bindir


def global_cache() -> str:
    """Where zig keeps its compiled wasi-libc/libc++: ``WASMBUILD_ZIG_CACHE``, else the cache's
    ``compilers`` area (a cache area of its own, ``zig``, before the toolchain was a folder:
    moved over once, so its minutes of compiling are not lost)."""
    if os.environ.get("WASMBUILD_ZIG_CACHE"):
        return os.environ["WASMBUILD_ZIG_CACHE"]
    path = cache_area("compilers") / "zig"
    old = cache_dir() / "zig"
    if old.is_dir() and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # another build moved it first
            os.rename(old, path)
    return str(path)


@cache
def zig() -> Toolchain:
    """zig's clang and its own wasi-libc/libc++: C, C++ and Zig, nothing else needed."""
    exe = binary()
    if exe is None:
        raise ToolchainError("zig was not found", hint=ZIG_HINT)
    version = _run([exe, "version"])
    if not version:
        raise ToolchainError(f"{exe} does not run", hint=ZIG_HINT)
    bindir = _wrappers(exe)
    target = "wasm32-wasi"
    env = {"CC": str(bindir / "zig-cc"), "CXX": str(bindir / "zig-c++"), "ZIG": exe, "WASM_TARGET": target,
           "WASM_LDFLAGS": "-Wl,--strip-debug", "ZIG_GLOBAL_CACHE_DIR": global_cache()}
    return Toolchain("zig", env, (str(bindir),),
                     f"zig {version};ziglang={_dist_version('ziglang')};target={target}",
                     writable=("ZIG_GLOBAL_CACHE_DIR",))


def probe() -> Toolchain:
    return zig()


def complete(tc: Toolchain) -> Toolchain:
    """The C/C++ cross environment (CC, AR, CFLAGS, CMake and Meson files) for zig cc."""
    cross = toolchains.module("c").cross  # the C family's cross environment, the c folder's code
    env = cross.complete(dict(tc.env))
    return replace(tc, env=env, path_dirs=(str(Path(env["CC"]).parent), *tc.path_dirs),
                   identity=f"{tc.identity};cross={cross.CROSS_REVISION}")


def facts(tc: Toolchain) -> list[ToolRecord]:
    version = tc.identity.split(";")[0].removeprefix("zig ").strip()
    return [ToolRecord("toolchain", "zig", version, tc.env.get("ZIG"))]


def init(folder: Path) -> Any:
    """A Zig program: ``build.zig`` with ``src/main.zig``, or one ``main.zig``."""
    from wasmbuild.scaffold import Detected, image_name

    source = next((s for s in ("src/main.zig", "main.zig") if (folder / s).is_file()), None)
    if source is None:
        return None
    name = image_name(folder)
    notes = []
    zon = folder / "build.zig.zon"
    if zon.is_file() and "dependencies" in zon.read_text(errors="replace"):
        notes.append("build.zig.zon names dependencies: the zig recipe compiles the one root file "
                     "with the standard library only")
    return Detected("zig", name, "zig", {"source": source, "output": f"{name}.wasm"}, f"{name}.wasm",
                    [source], notes, what="the Zig program: zig build-exe for wasm32-wasi",
                    ignore=[".zig-cache", "zig-out", "**/*.wasm"])
