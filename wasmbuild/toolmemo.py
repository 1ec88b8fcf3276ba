"""Remember found toolchains between runs (probing clang links a test program: ~0.3 s).

A memo entry is used only while everything the probe depended on is unchanged: the environment
variables that steer the search, and the stat signature (mtime, size, inode) of every PATH
directory, the chosen compiler binary and its directory, and the target's standard library.
Installing, removing or upgrading a compiler changes one of those, and the next build probes
again. ``toolchains.get`` stays the one place that knows how to find a toolchain.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sysconfig
from pathlib import Path

from . import toolchains
from .atomic import atomic_write_bytes
from .dirs import cache_dir
from .toolchains import Toolchain

MEMO_VERSION = 1
_ENV = ("PATH", "HOME", "WASMBUILD_RUSTC", "WASMBUILD_CC", "WASI_SYSROOT", "WASMBUILD_ZIG",
        "WASMBUILD_ZIG_CACHE", "WASMBUILD_WASM_TOOLS")


def _sig(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"


def _witnesses(tc: Toolchain) -> list[str]:
    paths = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    paths += ["/usr/bin", str(Path.home() / ".cargo/bin")]
    target = tc.env.get("WASM_TARGET", "")
    for var in ("RUSTC", "CARGO", "CC", "CXX", "ZIG", "WASM_TOOLS", "WASMBUILD_PYTHON"):
        if var in tc.env:
            real = os.path.realpath(tc.env[var])
            paths += [real, os.path.dirname(real)]
    if "RUSTC" in tc.env:
        sysroot = Path(os.path.realpath(tc.env["RUSTC"])).parent.parent
        paths.append(str(sysroot / "lib" / "rustlib" / target / "lib"))
    if "WASMBUILD_PYTHON" in tc.env:  # a pip install/upgrade of the component tools lands here
        paths.append(sysconfig.get_paths()["purelib"])
    if "WASI_SYSROOT" in tc.env:
        paths.append(str(Path(tc.env["WASI_SYSROOT"]) / "lib" / target / "libc.a"))
    return sorted(set(paths))


def _memo_path(name: str) -> Path:
    material = json.dumps([MEMO_VERSION, name, [os.environ.get(k, "") for k in _ENV]])
    digest = hashlib.sha256(material.encode()).hexdigest()[:32]
    return cache_dir() / "toolchains" / f"{name}-{digest}.json"


def get(name: str | None) -> Toolchain | None:
    """Like :func:`toolchains.get`, from the memo when nothing relevant changed."""
    if name in (None, "none"):
        return None
    assert name is not None
    path = _memo_path(name)
    try:
        data = json.loads(path.read_bytes())
        if all(_sig(p) == s for p, s in data["witnesses"].items()):
            return Toolchain(data["name"], dict(data["env"]), tuple(data["path_dirs"]),
                             data["identity"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    tc = toolchains.get(name)
    assert tc is not None
    data = {"name": tc.name, "env": tc.env, "path_dirs": list(tc.path_dirs),
            "identity": tc.identity, "witnesses": {p: _sig(p) for p in _witnesses(tc)}}
    with contextlib.suppress(OSError):  # a read-only cache only costs the probe next time
        atomic_write_bytes(path, json.dumps(data, indent=1).encode())
    return tc
