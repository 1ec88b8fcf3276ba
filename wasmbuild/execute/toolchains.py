"""Find host toolchains that can target WASI, and describe them for the executor.

A toolchain is found once per process. Its ``identity`` (path, version, target) is part of a
stage's cache key; its ``env`` is the only toolchain information a stage sees ($RUSTC, $CC...).

``c`` and ``cxx`` prefer Debian's clang with wasi-libc / libc++ and fall back to zig, which the
``ziglang`` wheel brings with its own wasi-libc and libc++: ``pip install wasmbuild`` alone can
build C and C++. ``zig`` asks for zig whatever else is installed. ``component`` is the
component tools (wasm-tools, componentize-py) run by this Python.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from wasmbuild.dirs import cache_area
from wasmbuild.errors import ToolchainError
from wasmbuild.fsutil import atomic_write_bytes

from . import cross
from .probing import BASE_PATH, PROBE_DROP, Toolchain, _candidates, _run, _try, _well_known
from .rust import RUST_HINT, rust

__all__ = ["BASE_PATH", "PROBE_DROP", "RUST_HINT", "Toolchain", "get", "probe", "rust"]


C_HINT = (
    "install clang with wasi-libc: `apt-get install clang-16 lld-16 wasi-libc "
    "libclang-rt-16-dev-wasm32` (Debian), or set WASMBUILD_CC and WASI_SYSROOT for a wasi-sdk, "
    "or pip install ziglang (then zig builds it)"
)
CXX_HINT = "apt-get install libc++-16-dev-wasm32 (Debian), or pip install ziglang (then zig builds it)"


def _wasi_sysroot() -> tuple[str, str] | None:
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
    sysroot = _wasi_sysroot()
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
        if not _links(cc, target, root):
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


def _or_zig(name: str, find: Callable[[], Toolchain]) -> Toolchain:
    """``find()``'s toolchain, else zig (from the ziglang wheel) standing in for it."""
    try:
        return find()
    except ToolchainError as err:
        try:
            stand_in = zig()
        except ToolchainError:
            raise err from None
        return replace(stand_in, name=name, notes=[f"using zig: {err.message}"])


@cache
def c() -> Toolchain:
    """C for wasm32-wasi: clang + wasi-libc when installed, else zig from the ziglang wheel."""
    return _or_zig("c", clang)


@cache
def clangxx() -> Toolchain:
    """clang++ with libc++ for wasm32-wasi (Debian: libc++-16-dev-wasm32), exceptions off."""
    base = clang()
    cc = base.env["CC"]
    cxx = str(Path(cc).with_name(Path(cc).name.replace("clang", "clang++", 1)))
    root, target = base.env["WASI_SYSROOT"], base.env["WASM_TARGET"]
    # clang 16 looks for libc++'s headers in SYSROOT/include/c++/v1 only when that directory
    # exists; Debian puts the wasm32 ones under the target triple, so name them explicitly.
    headers = Path(root) / "include" / target / "c++" / "v1"
    env = {"CXX": cxx, "CC": cc, "WASM_TARGET": target, "WASI_SYSROOT": root}
    if headers.is_dir():
        env["WASM_CXXFLAGS"] = f"-isystem {headers}"
    if not Path(cxx).is_file() or not _links(cxx, target, root, cxx=env.get("WASM_CXXFLAGS", "")):
        raise ToolchainError(f"{cxx} cannot link a C++ program for {target} (is libc++ for wasm32 installed?)",
                             hint=CXX_HINT)
    version = (_run([cxx, "--version"]) or "unknown").splitlines()[0]
    return Toolchain("cxx", env, base.path_dirs, f"cxx={cxx};{version};sysroot={root};{target};libc++={headers}")


@cache
def cxx() -> Toolchain:
    """C++ for wasm32-wasi: clang++ + libc++ when installed, else zig."""
    return _or_zig("cxx", clangxx)


def _links(cc: str, target: str, sysroot: str, cxx: str | None = None) -> bool:
    """Compile and link a tiny program: the only sure test that wasm-ld (and libc++) is found."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / ("t.cpp" if cxx is not None else "t.c")
        src.write_text(CXX_PROBE if cxx is not None else "int main(void) { return 0; }\n")
        out = Path(tmp) / "t.wasm"
        flags = [*(cxx or "").split(), "-fno-exceptions"] if cxx is not None else []
        _run([cc, f"--target={target}", f"--sysroot={sysroot}", *flags, "-o", str(out), str(src)])
        return out.is_file()


CXX_PROBE = "#include <string>\nint main() { std::string s(\"x\"); return int(s.size()) - 1; }\n"


ZIG_HINT = "pip install ziglang (a dependency of wasmbuild), or set WASMBUILD_ZIG to a zig binary"


def _dist_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def _zig_binary() -> str | None:
    """``WASMBUILD_ZIG`` ("" turns zig off), else the ziglang wheel's binary, else zig on PATH."""
    env = os.environ.get("WASMBUILD_ZIG")
    if env is not None:
        return env or None
    spec = importlib.util.find_spec("ziglang")
    for base in (spec.submodule_search_locations or []) if spec else []:
        if (Path(base) / "zig").is_file():
            return str(Path(base) / "zig")
    return shutil.which("zig")


def _zig_wrappers(zig_exe: str) -> Path:
    """A directory with ``zig-cc`` and ``zig-c++``: recipes call "$CC" as one program."""
    bindir = cache_area("toolchains") / f"zig-bin-{hashlib.sha256(zig_exe.encode()).hexdigest()[:16]}"
    for name, mode in (("zig-cc", "cc"), ("zig-c++", "c++")):
        text = f'#!/bin/sh\nexec {shlex.quote(zig_exe)} {mode} "$@"\n'.encode()
        path = bindir / name
        if not path.is_file() or path.read_bytes() != text:
            atomic_write_bytes(path, text, mode=0o755)
    return bindir


def _zig_cache() -> str:
    """Where zig keeps its compiled wasi-libc/libc++: ``WASMBUILD_ZIG_CACHE``, else our cache dir."""
    return os.environ.get("WASMBUILD_ZIG_CACHE") or str(cache_area("zig"))


@cache
def zig() -> Toolchain:
    """zig's clang and its own wasi-libc/libc++ (the ziglang wheel): C and C++, nothing else needed.

    zig compiles wasi-libc (and libc++) on first use, ~1-2 minutes, into
    ``ZIG_GLOBAL_CACHE_DIR`` (:func:`_zig_cache`: stages, whose HOME is fresh, share it). Its
    libc objects carry debug info naming the wheel's install path, so modules are linked with
    ``-Wl,--strip-debug`` ($WASM_LDFLAGS): the same bytes wherever the wheel is installed, which
    is why the identity names versions, not paths.
    """
    exe = _zig_binary()
    if exe is None:
        raise ToolchainError("zig was not found", hint=ZIG_HINT)
    version = _run([exe, "version"])
    if not version:
        raise ToolchainError(f"{exe} does not run", hint=ZIG_HINT)
    bindir = _zig_wrappers(exe)
    target = "wasm32-wasi"
    env = {"CC": str(bindir / "zig-cc"), "CXX": str(bindir / "zig-c++"), "ZIG": exe, "WASM_TARGET": target,
           "WASM_LDFLAGS": "-Wl,--strip-debug", "ZIG_GLOBAL_CACHE_DIR": _zig_cache()}
    return Toolchain("zig", env, (str(bindir),),
                     f"zig {version};ziglang={_dist_version('ziglang')};target={target}")


@cache
def component() -> Toolchain:
    """The component tools (wasm-tools, componentize-py) run through this Python: ``$WASMBUILD_PYTHON
    -m wasmbuild.wasm.component`` / ``wasmbuild.wasm.python``. The identity names every input that
    shapes their output: tool versions, the vendored adapters/WIT (pins digest), our revision;
    not paths, so stage cache entries are shared between machines."""
    from ..wasm import TOOL_REVISION, pins, tools

    ids = [tools.wasm_tools_version(),
           f"componentize-py={tools.componentize_py_version()}", f"wasi-assets={pins.pins().digest}",
           f"revision={TOOL_REVISION}"]
    # WASMBUILD_PACKAGE: this package's own directory, which the steps import. The sandbox shows
    # the directories toolchain variables name: for an editable install (or any checkout) under
    # a hidden root such as /tmp or a home, the venv alone would not bring the code along.
    env = {"WASMBUILD_PYTHON": sys.executable, "WASM_TOOLS": tools.wasm_tools_path(),
           "WASMBUILD_PACKAGE": str(Path(__file__).resolve().parents[1])}
    return Toolchain("component", env, (), ";".join(ids))


PROBES: dict[str, Callable[[], Toolchain]] = {"rust": rust, "c": c, "cxx": cxx, "zig": zig,
                                              "component": component}


#: Environment variables that steer the search: a change means probing again.
PROBE_ENV = ("PATH", "HOME", "WASMBUILD_RUSTC", "WASMBUILD_CC", "WASI_SYSROOT",
             "WASMBUILD_TOOLCHAIN_DIRS", "WASMBUILD_ZIG", "WASMBUILD_ZIG_CACHE", "WASMBUILD_WASM_TOOLS")


def probe(name: str) -> Toolchain:
    """Search for toolchain ``name`` now (no memo)."""
    return PROBES[name]()


def _witnesses(value: dict[str, Any]) -> list[str]:
    """Paths whose change (install, upgrade, removal) invalidates a remembered toolchain."""
    env: dict[str, str] = value["env"]
    paths = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    paths += ["/usr/bin", str(Path.home() / ".cargo/bin")]
    target = env.get("WASM_TARGET", "")
    for var in ("RUSTC", "CARGO", "CC", "CXX", "ZIG", "WASM_TOOLS", "WASMBUILD_PYTHON"):
        if var in env:
            real = os.path.realpath(env[var])
            paths += [real, os.path.dirname(real)]
    if "RUSTC" in env:
        sysroot = Path(os.path.realpath(env["RUSTC"])).parent.parent
        paths.append(str(sysroot / "lib" / "rustlib" / target / "lib"))
    if "WASMBUILD_PYTHON" in env:  # a pip install/upgrade of the component tools lands here
        paths.append(sysconfig.get_paths()["purelib"])
    if "WASI_SYSROOT" in env:
        paths.append(str(Path(env["WASI_SYSROOT"]) / "lib" / target / "libc.a"))
    return paths


def get(name: str | None) -> Toolchain | None:
    """Toolchain ``name`` (``None``/``"none"``: no toolchain), remembered between runs."""
    if name in (None, "none"):
        return None
    assert name is not None
    from ..cache.toolmemo import remembered

    def run_probe() -> dict[str, Any]:
        tc = probe(name)
        _NOTES[name] = tc.notes  # only for a probe run now: a remembered one cost nothing
        return {"name": tc.name, "env": tc.env, "path_dirs": list(tc.path_dirs),
                "identity": tc.identity, "info": tc.info}

    data = remembered(name, run_probe, _witnesses, PROBE_ENV)
    env = dict(data["env"])
    if name in ("c", "cxx") and "ZIG" not in env:  # clang (zig runs no wasm-opt of its own)
        env["COMPILER_PATH"] = str(_no_wasm_opt())  # clang searches it first, as with -B
    path_dirs, identity = tuple(data["path_dirs"]), data["identity"]
    if name in ("c", "cxx", "zig"):  # CC, CXX, AR, ..., the CMake and Meson files (cross.py)
        env = cross.complete(env)
        path_dirs = (str(Path(env["CC"]).parent), *path_dirs)
        identity = f"{identity};cross={cross.CROSS_REVISION}"
    return Toolchain(data["name"], env, path_dirs, identity,
                     _NOTES.get(name, []), dict(data.get("info") or {}))


#: What this process's probes noted (candidates passed over, and why), by toolchain name.
_NOTES: dict[str, list[str]] = {}


def _no_wasm_opt() -> Path:
    """A directory whose ``wasm-opt`` does nothing, for a C stage's ``COMPILER_PATH``.

    clang runs ``wasm-opt FILE -O<n> -o FILE`` after linking whenever it finds a ``wasm-opt`` (in
    its own directory or on PATH), so the same sources would give other bytes (another image
    digest) on a machine that has binaryen installed. ``COMPILER_PATH`` (searched before either,
    like ``-B``) shadows it: C output stays a function of the sources and the compiler.
    Optimising is the Wasmfile's explicit, pinned ``optimize:`` step instead.
    """
    from ..dirs import cache_area
    from ..fsutil import atomic_write_bytes

    shims = cache_area("toolchains") / "shims"
    shim = shims / "wasm-opt"
    if not shim.is_file():
        atomic_write_bytes(shim, b"#!/bin/sh\n# wasmbuild: clang's implicit wasm-opt is off\nexit 0\n", 0o755)
    return shims
