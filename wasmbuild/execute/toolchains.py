"""Find host toolchains that can target WASI, and describe them for the executor.

A toolchain is found once per process. Its ``identity`` (path, version, target) is part of a
stage's cache key; its ``env`` is the only toolchain information a stage sees ($RUSTC, $CC...).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from wasmbuild.errors import ToolchainError

BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Toolchain:
    name: str
    env: dict[str, str]
    path_dirs: tuple[str, ...]
    identity: str
    notes: list[str] = field(default_factory=list, compare=False)

    def search_path(self) -> str:
        dirs = [*self.path_dirs, *BASE_PATH.split(":")]
        return ":".join(dict.fromkeys(dirs))


#: Variables a probe does not pass on (see :func:`_try`).
PROBE_DROP = ("SOURCE_DATE_EPOCH", "LD_PRELOAD", "LD_AUDIT")
PROBE_TIMEOUT = 10.0  # a compiler answers --version in well under a second


def _probe_timeout() -> float:
    try:
        return float(os.environ.get("WASMBUILD_PROBE_TIMEOUT", "") or PROBE_TIMEOUT)
    except ValueError:
        return PROBE_TIMEOUT


def _try(argv: list[str]) -> tuple[str | None, str]:
    """Run a probe: (its stdout, or None; why it failed, or "").

    The probe runs with the caller's environment (rustup's proxies need HOME/RUSTUP_HOME to pick
    a toolchain) minus :data:`PROBE_DROP`: clang rejects an empty SOURCE_DATE_EPOCH, which would
    make a working compiler look broken; and an LD_PRELOAD such as libfaketime's (``faketime``)
    deadlocks programs linked with jemalloc -- rustup's rustc is one -- at start-up
    (wolfcw/libfaketime#130). Stages get neither: their environment is wasmbuild's own.
    """
    env = {k: v for k, v in os.environ.items() if k not in PROBE_DROP}
    timeout = _probe_timeout()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True,
                             env=env)
    except subprocess.TimeoutExpired:
        return None, f"`{Path(argv[0]).name} {' '.join(argv[1:2])}` timed out after {timeout:g}s"
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit code {exc.returncode}"]
        return None, last[0][:200]
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)[:200]
    return out.stdout.strip(), ""


def _run(argv: list[str]) -> str | None:
    return _try(argv)[0]


def _candidates(env_var: str, names: list[str], extra: list[str]) -> list[str]:
    found: list[str] = []
    if os.environ.get(env_var):
        found.append(os.environ[env_var])
    for d in os.environ.get("PATH", "").split(os.pathsep):
        for n in names:
            p = Path(d) / n
            if p.is_file() and os.access(p, os.X_OK):
                found.append(str(p))
    found.extend(p for p in extra if Path(p).is_file())
    unique: dict[str, str] = {}
    for item in found:
        unique.setdefault(os.path.realpath(item), item)
    return list(unique.values())


def _well_known() -> list[str]:
    """Places searched besides PATH (``WASMBUILD_TOOLCHAIN_DIRS`` overrides, "" for none)."""
    raw = os.environ.get("WASMBUILD_TOOLCHAIN_DIRS", "/usr/bin:~/.cargo/bin")
    return [d for d in raw.split(os.pathsep) if d]


RUST_HINT = (
    "install a Rust compiler with the WASI standard library: `apt-get install rustc cargo "
    "libstd-rust-dev-wasm32` (Debian) or `rustup target add wasm32-wasip1`"
)


@cache
def rust() -> Toolchain:
    """A rustc whose sysroot has the wasm32-wasip1 (preferred) or wasm32-wasi std.

    rustup's rustc often comes first on PATH without any wasm std; we keep looking instead of
    failing on the first rustc we see.
    """
    tried: list[str] = []
    extra = [str(Path(d).expanduser() / "rustc") for d in _well_known()]
    for rustc in _candidates("WASMBUILD_RUSTC", ["rustc"], extra):
        sysroot, why = _try([rustc, "--print", "sysroot"])
        if not sysroot:
            tried.append(f"{rustc} ({why or 'prints no sysroot'})")
            continue
        target = next(
            (
                t
                for t in ("wasm32-wasip1", "wasm32-wasi")
                if (Path(sysroot) / "lib/rustlib" / t / "lib").is_dir()
            ),
            None,
        )
        if target is None:
            tried.append(f"{rustc} (no wasm32-wasip1/wasm32-wasi std in {sysroot})")
            continue
        # Use the toolchain's own binary, not a rustup proxy: stages run with a clean HOME.
        real = Path(sysroot) / "bin" / "rustc"
        rustc = str(real) if real.is_file() else rustc
        version = _run([rustc, "--version"]) or "unknown"
        cargo = Path(rustc).with_name("cargo")
        env = {"RUSTC": rustc, "WASM_TARGET": target}
        if cargo.is_file():
            env["CARGO"] = str(cargo)
        return Toolchain(
            "rust",
            env,
            (str(Path(rustc).parent),),
            f"rustc={rustc};{version};target={target}",
            tried,
        )
    raise ToolchainError(
        "no Rust compiler with a WebAssembly standard library was found"
        + (f" (tried {'; '.join(tried)})" if tried else ""),
        hint=RUST_HINT,
    )


C_HINT = (
    "install clang with wasi-libc: `apt-get install clang-16 lld-16 wasi-libc "
    "libclang-rt-16-dev-wasm32` (Debian), or set WASMBUILD_CC and WASI_SYSROOT for a wasi-sdk"
)


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
def c() -> Toolchain:
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


def _links(cc: str, target: str, sysroot: str) -> bool:
    """Compile and link an empty program: the only sure test that wasm-ld is found."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "t.c"
        src.write_text("int main(void) { return 0; }\n")
        out = Path(tmp) / "t.wasm"
        _run([cc, f"--target={target}", f"--sysroot={sysroot}", "-o", str(out), str(src)])
        return out.is_file()


PROBES = {"rust": rust, "c": c}
#: Environment variables that steer the search: a change means probing again.
PROBE_ENV = ("PATH", "HOME", "WASMBUILD_RUSTC", "WASMBUILD_CC", "WASI_SYSROOT",
             "WASMBUILD_TOOLCHAIN_DIRS")


def probe(name: str) -> Toolchain:
    """Search for toolchain ``name`` now (no memo)."""
    return PROBES[name]()


def _witnesses(value: dict[str, Any]) -> list[str]:
    """Paths whose change (install, upgrade, removal) invalidates a remembered toolchain."""
    env: dict[str, str] = value["env"]
    paths = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    paths += ["/usr/bin", str(Path.home() / ".cargo/bin")]
    target = env.get("WASM_TARGET", "")
    for var in ("RUSTC", "CARGO", "CC", "CXX"):
        if var in env:
            real = os.path.realpath(env[var])
            paths += [real, os.path.dirname(real)]
    if "RUSTC" in env:
        sysroot = Path(os.path.realpath(env["RUSTC"])).parent.parent
        paths.append(str(sysroot / "lib" / "rustlib" / target / "lib"))
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
                "identity": tc.identity}

    data = remembered(name, run_probe, _witnesses, PROBE_ENV)
    env = dict(data["env"])
    if name == "c":
        env["COMPILER_PATH"] = str(_no_wasm_opt())  # clang searches it first, as with -B
    return Toolchain(data["name"], env, tuple(data["path_dirs"]), data["identity"],
                     _NOTES.get(name, []))


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
