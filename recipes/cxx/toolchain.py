"""The ``cxx`` toolchain: clang++ with libc++ for wasm32-wasi (exceptions off), else zig.

Debian: ``libc++-16-dev-wasm32`` besides the ``c`` toolchain's packages. It shares the ``c``
folder's clang search, cross environment and SBOM facts.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from wasmbuild.errors import ToolchainError
from wasmbuild.execute import toolchains
from wasmbuild.execute.probing import Toolchain, ToolRecord, _run

CXX_HINT = "apt-get install libc++-16-dev-wasm32 (Debian), or pip install ziglang (then zig builds it)"
_CXX = (".cpp", ".cc", ".cxx")


def _c() -> Any:
    return toolchains.module("c")


@cache
def clangxx() -> Toolchain:
    """clang++ with libc++ for wasm32-wasi (Debian: libc++-16-dev-wasm32), exceptions off."""
    base = _c().clang()
    cc = base.env["CC"]
    cxx = str(Path(cc).with_name(Path(cc).name.replace("clang", "clang++", 1)))
    root, target = base.env["WASI_SYSROOT"], base.env["WASM_TARGET"]
    # clang 16 looks for libc++'s headers in SYSROOT/include/c++/v1 only when that directory
    # exists; Debian puts the wasm32 ones under the target triple, so name them explicitly.
    headers = Path(root) / "include" / target / "c++" / "v1"
    env = {"CXX": cxx, "CC": cc, "WASM_TARGET": target, "WASI_SYSROOT": root}
    if headers.is_dir():
        env["WASM_CXXFLAGS"] = f"-isystem {headers}"
    if not Path(cxx).is_file() or not _c().links(cxx, target, root, cxx=env.get("WASM_CXXFLAGS", "")):
        raise ToolchainError(f"{cxx} cannot link a C++ program for {target} (is libc++ for wasm32 installed?)",
                             hint=CXX_HINT)
    version = (_run([cxx, "--version"]) or "unknown").splitlines()[0]
    return Toolchain("cxx", env, base.path_dirs, f"cxx={cxx};{version};sysroot={root};{target};libc++={headers}")


def probe() -> Toolchain:
    """C++ for wasm32-wasi: clang++ + libc++ when installed, else zig."""
    return toolchains.or_stand_in("cxx", clangxx, "zig")


def witnesses(env: dict[str, str]) -> list[str]:
    found: list[str] = _c().witnesses(env)
    return found


def complete(tc: Toolchain) -> Toolchain:
    done: Toolchain = _c().complete(tc)
    return done


def facts(tc: Toolchain) -> list[ToolRecord]:
    found: list[ToolRecord] = _c().facts(tc)
    return found


def init(folder: Path) -> Any:
    """C++ sources (``*.cpp``, ``*.cc``, ``*.cxx`` at the top or under ``src/``)."""
    sources = _c()._sources(folder, _CXX)
    return _c().c_like(folder, "cxx", sources, "the C++ sources: clang++ and libc++ for WASI") if sources else None
