"""The ``c`` toolchain: clang with wasi-libc, else zig (the ziglang wheel) standing in.

clang must link a wasm32-wasi module (wasm-ld, compiler-rt's wasm32 builtins, wasi-libc):
Debian's ``clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32``, or a wasi-sdk through
``WASMBUILD_CC`` and ``WASI_SYSROOT``. Without one, zig builds C with its own wasi-libc, so
``pip install wasmbuild`` alone can build C. Every C stage gets the cross environment of
``cross.py`` beside this file (CC, AR, CFLAGS, the CMake toolchain and Meson cross files). The
``cxx`` folder reuses :func:`clang`, :func:`links`, :func:`complete` and :func:`facts`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from wasmbuild.errors import ToolchainError
from wasmbuild.execute import toolchains
from wasmbuild.execute.probing import Toolchain, ToolRecord, _candidates, _run, _try, _well_known, version_in

#: The cross environment (CC, AR, CFLAGS, CMake and Meson files): cross.py beside this file.
cross = toolchains.load_module(Path(__file__).with_name("cross.py"))

C_HINT = (
    "install clang with wasi-libc: `apt-get install clang-16 lld-16 wasi-libc "
    "libclang-rt-16-dev-wasm32` (Debian), or set WASMBUILD_CC and WASI_SYSROOT for a wasi-sdk, "
    "or pip install ziglang (then zig builds it)"
)


def wasi_sysroot() -> tuple[str, str] | None:
    """(sysroot, target) for wasi-libc: Debian's layout, or a wasi-sdk's."""
    env = os.environ.get("WASI_SYSROOT")
    candidates = [env] if env else []
    if "WASMBUILD_TOOLCHAIN_DIRS" not in os.environ or _well_known():
        candidates += ["/usr", "/opt/wasi-sdk/share/wasi-sysroot"]
    for root in candidates:
        for target in ("wasm32-wasip1", "wasm32-wasi"):
            if (Path(root) / "lib" / target / "libc.a").is_file():
                return root, target
    return None


@cache
def clang() -> Toolchain:
    """clang that can link wasm32-wasi modules (needs wasm-ld and compiler-rt builtins)."""
    sysroot = wasi_sysroot()
    if sysroot is None:
        raise ToolchainError("wasi-libc (the WASI C library) was not found", hint=C_HINT)
    root, target = sysroot
    names = ["clang", *(f"clang-{v}" for v in range(21, 13, -1))]
    extra = [str(Path(d) / f"clang-{v}") for d in _well_known() for v in range(21, 13, -1)]
    tried: list[str] = []
    for cc in _candidates("WASMBUILD_CC", names, extra):
        builtins, why = _try([cc, f"--target={target}", "-print-libgcc-file-name", "-rtlib=compiler-rt"])
        if not builtins or not Path(builtins).is_file():
            tried.append(f"{cc} ({why if 'timed out' in why else 'no wasm32 compiler-rt builtins'})")
            continue
        if not links(cc, target, root):
            tried.append(f"{cc} (cannot link a wasm module: is lld installed?)")
            continue
        version = (_run([cc, "--version"]) or "unknown").splitlines()[0]
        return Toolchain(
            "c",
            {"CC": cc, "WASM_TARGET": target, "WASI_SYSROOT": root},
            (str(Path(os.path.realpath(cc)).parent),),
            f"cc={cc};{version};sysroot={root};{target}",
            tried,
        )
    raise ToolchainError(
        "no clang able to build WASI modules was found"
        + (f" (tried {'; '.join(tried)})" if tried else ""),
        hint=C_HINT,
    )


def links(cc: str, target: str, sysroot: str, cxx: str | None = None) -> bool:
    """Compile and link a tiny program: the only sure test that wasm-ld (and libc++) is found."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / ("t.cpp" if cxx is not None else "t.c")
        src.write_text(CXX_PROBE if cxx is not None else "int main(void) { return 0; }\n")
        out = Path(tmp) / "t.wasm"
        flags = [*(cxx or "").split(), "-fno-exceptions"] if cxx is not None else []
        _run([cc, f"--target={target}", f"--sysroot={sysroot}", *flags, "-o", str(out), str(src)])
        return out.is_file()


CXX_PROBE = "#include <string>\nint main() { std::string s(\"x\"); return int(s.size()) - 1; }\n"


def probe() -> Toolchain:
    """C for wasm32-wasi: clang + wasi-libc when installed, else zig."""
    return toolchains.or_stand_in("c", clang, "zig")


def witnesses(env: dict[str, str]) -> list[str]:
    """wasi-libc itself: installing or removing it changes what clang can build."""
    if "WASI_SYSROOT" not in env:
        return []
    return [str(Path(env["WASI_SYSROOT"]) / "lib" / env.get("WASM_TARGET", "") / "libc.a")]


def complete(tc: Toolchain) -> Toolchain:
    """The cross environment (cross.py, planned once per process) and, for
    clang, the wasm-opt shim."""
    env = dict(tc.env)
    if "ZIG" not in env:  # clang (zig runs no wasm-opt of its own)
        env["COMPILER_PATH"] = str(no_wasm_opt())  # clang searches it first, as with -B
    env = cross.complete(env)
    return replace(tc, env=env, path_dirs=(str(Path(env["CC"]).parent), *tc.path_dirs),
                   identity=f"{tc.identity};cross={cross.CROSS_REVISION}")


def no_wasm_opt() -> Path:
    """A directory whose ``wasm-opt`` does nothing, for a C stage's ``COMPILER_PATH``.

    clang runs ``wasm-opt FILE -O<n> -o FILE`` after linking whenever it finds a ``wasm-opt`` (in
    its own directory or on PATH), so the same sources would give other bytes (another image
    digest) on a machine that has binaryen installed. ``COMPILER_PATH`` (searched before either,
    like ``-B``) shadows it: C output stays a function of the sources and the compiler.
    Optimising is the Wasmfile's explicit, pinned ``optimize:`` step instead.
    """
    from wasmbuild.dirs import cache_area
    from wasmbuild.fsutil import atomic_write_bytes

    shims = cache_area("toolchains") / "shims"
    shim = shims / "wasm-opt"
    if not shim.is_file():
        atomic_write_bytes(shim, b"#!/bin/sh\n# wasmbuild: clang's implicit wasm-opt is off\nexit 0\n", 0o755)
    return shims


def facts(tc: Toolchain) -> list[ToolRecord]:
    """The compiler and the C library (or zig, which brings its own)."""
    if "ZIG" in tc.env:
        return list(toolchains.facts(replace(tc, name="zig")))
    fields = tc.identity.split(";")
    compiler = fields[0].partition("=")[2]
    line = fields[1] if len(fields) > 1 else ""
    name = "clang" if "clang" in line else Path(compiler).name
    records = [ToolRecord("toolchain", name, version_in(line), compiler)]
    if "WASI_SYSROOT" in tc.env:
        libc = str(Path(tc.env["WASI_SYSROOT"]) / "lib" / tc.env["WASM_TARGET"] / "libc.a")
        records.append(ToolRecord("library", "wasi-libc", "", libc))
    return records


def _sources(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    top = [p for p in folder.iterdir() if p.is_file() and p.suffix in suffixes]
    src = folder / "src"
    nested = [p for p in src.rglob("*") if p.is_file() and p.suffix in suffixes] if src.is_dir() else []
    return sorted(p.relative_to(folder).as_posix() for p in top + nested)


HEADERS = (".h", ".hh", ".hpp", ".hxx", ".inc")


def c_like(folder: Path, recipe: str, sources: list[str], what: str) -> Any:
    """``init``'s stage for C or C++ sources: their headers (``headers``) and ``include/``."""
    from wasmbuild.scaffold import Detected, image_name

    name = image_name(folder)
    params: dict[str, Any] = {"sources": sources, "output": f"{name}.wasm"}
    if headers := _sources(folder, HEADERS):  # next to the sources: #include "util.h" finds them in $SRC
        params["headers"] = headers
    if (folder / "include").is_dir():
        params["include_dirs"] = ["include"]
    return Detected(recipe, name, recipe, params, f"{name}.wasm", sources, what=what,
                    ignore=["**/*.o", "**/*.wasm"])


def init(folder: Path) -> Any:
    """C sources (``*.c`` at the top or under ``src/``)."""
    sources = _sources(folder, (".c",))
    return c_like(folder, "c", sources, "the C sources: clang and wasi-libc") if sources else None


def build_system_stage(folder: Path, recipe: str, program: str | None, built: str, what: str,
                       build_files: tuple[str, ...], extra: dict[str, Any] | None = None) -> Any:
    """``init``'s stage for a make/cmake/autotools/meson project (their folders call this):
    ``built`` is the program's path in the build directory, taken as NAME.wasm; C++ sources
    choose the ``cxx`` toolchain (clang++ links libc++)."""
    from wasmbuild.scaffold import Detected, image_name

    name = image_name(folder)
    output = f"{program or name}.wasm"
    params: dict[str, Any] = {"project": ".", "outputs": [built if built == output else f"{built}:{output}"]}
    if any(p.suffix in (".cpp", ".cc", ".cxx") for p in folder.rglob("*") if p.is_file()):
        params["toolchain"] = "cxx"
    params.update(extra or {})
    notes = [] if program else [f"could not tell which program the build makes: set `outputs` (now {built!r})"]
    return Detected(recipe, name, recipe, params, output, [f for f in build_files if (folder / f).is_file()][:1],
                    notes, what=what, ignore=["**/*.o", "**/*.a", "**/*.wasm"])
