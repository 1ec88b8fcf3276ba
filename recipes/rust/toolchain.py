"""The ``rust`` toolchain: which rustc (and its cargo) builds for WASI, why that one, and the fix for
each one passed over; and a crate's ``edition`` / ``rust-version`` checked against the chosen
cargo before it builds.

A machine often has two Rusts: rustup's (first on PATH, often without a wasm32 standard
library) and the distribution's (``/usr/bin``, with ``libstd-rust-dev-wasm32``, older). The
probe takes the first with a WASI std, so a crate written for the user's own Rust can meet an
older cargo, whose message (``this version of Cargo is older than the 2024 edition``) names
neither the other toolchain nor the fix. :func:`crate_problem` says both, at the manifest's line.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmbuild.errors import ConfigError, ToolchainError
from wasmbuild.execute.probing import Toolchain, ToolRecord, _candidates, _run, _try, _well_known, version_in

if TYPE_CHECKING:
    from wasmbuild.render.project import StageSpec

RUST_HINT = (
    "install a Rust compiler with the WASI standard library: `apt-get install rustc cargo "
    "libstd-rust-dev-wasm32` (Debian) or `rustup target add wasm32-wasip1`"
)
TARGETS = ("wasm32-wasip1", "wasm32-wasi")
RUSTUP_FIX = "no wasm32-wasip1 target: run `rustup target add wasm32-wasip1`"
#: The first cargo that reads each edition (the Rust Edition Guide).
EDITIONS = {"2015": (1, 0), "2018": (1, 31), "2021": (1, 56), "2024": (1, 85)}


def version_of(text: str | None) -> str | None:
    """``"1.65.0"`` from ``cargo 1.65.0`` / ``rustc 1.95.0 (59807616e 2026-04-14)``."""
    match = re.search(r"\b(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return ".".join(g or "0" for g in match.groups()) if match else None


def _tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def _rustup_name(sysroot: str) -> str | None:
    """The rustup toolchain a sysroot belongs to (``~/.rustup/toolchains/NAME``), else None."""
    path = Path(sysroot)
    return path.name if path.parent.name == "toolchains" else None


def _candidate(rustc: str) -> dict[str, Any]:
    """What one rustc is: its sysroot, version, rustup toolchain and WASI target (or why not)."""
    sysroot, why = _try([rustc, "--print", "sysroot"])
    if not sysroot:
        return {"rustc": rustc, "why": why or "prints no sysroot"}
    target = next((t for t in TARGETS if (Path(sysroot) / "lib/rustlib" / t / "lib").is_dir()), None)
    rustup = _rustup_name(sysroot)
    found: dict[str, Any] = {"rustc": rustc, "sysroot": sysroot, "rustup": rustup, "target": target,
                             "version": version_of(_run([rustc, "--version"]))}
    if target is None:
        found["why"] = RUSTUP_FIX if rustup else (
            f"no wasm32-wasip1/wasm32-wasi std in {sysroot}: `apt-get install libstd-rust-dev-wasm32` (Debian)")
    return found


def describe(c: dict[str, Any]) -> str:
    """One candidate as `toolchains` names it: ``PATH (rustc 1.95.0, rustup toolchain X)``."""
    facts = [f"rustc {c['version']}"] if c.get("version") else []
    if c.get("rustup"):
        facts.append(f"rustup toolchain {c['rustup']}")
    return f"{c['rustc']} ({', '.join(facts)})" if facts else str(c["rustc"])


@cache
def probe() -> Toolchain:
    """The first rustc (``WASMBUILD_RUSTC``, then PATH, then ``/usr/bin`` and ``~/.cargo/bin``)
    whose sysroot has the wasm32-wasip1 (preferred) or wasm32-wasi std; the others are named in
    ``info["others"]`` with their fix."""
    tried: list[str] = []  # passed over before the chosen one (the probe's notes)
    others: list[dict[str, Any]] = []
    chosen: Toolchain | None = None
    extra = [str(Path(d).expanduser() / "rustc") for d in _well_known()]
    for rustc in _candidates("WASMBUILD_RUSTC", ["rustc"], extra):
        c = _candidate(rustc)
        if c.get("target") is None or chosen is not None:
            if chosen is None:
                tried.append(f"{rustc} ({c['why']})")
            else:
                c.setdefault("why", f"not used: {chosen.env['RUSTC']} comes first")
            c["before"] = chosen is None  # found before the chosen one: fixing it makes it chosen
            others.append(c)
            continue
        # Use the toolchain's own binary, not a rustup proxy: stages run with a clean HOME.
        real = Path(c["sysroot"]) / "bin" / "rustc"
        path = str(real) if real.is_file() else rustc
        version = _run([path, "--version"]) or "unknown"
        cargo = Path(path).with_name("cargo")
        env = {"RUSTC": path, "WASM_TARGET": c["target"]}
        info: dict[str, Any] = {"rustc": version_of(version)}
        if cargo.is_file():
            env["CARGO"] = str(cargo)
            info["cargo"] = version_of(_run([str(cargo), "--version"]))
        how = ("WASMBUILD_RUSTC names it" if os.environ.get("WASMBUILD_RUSTC") == rustc else
               "the first rustc (PATH, then /usr/bin and ~/.cargo/bin) with a WASI standard library")
        info["chosen"] = (f"{describe(c)}, cargo {info.get('cargo') or 'none'}, {c['target']}: {how} "
                          "(WASMBUILD_RUSTC=PATH chooses another)")
        chosen = Toolchain("rust", env, (str(Path(path).parent),),
                           f"rustc={path};{version};target={c['target']}", tried, info)
    if chosen is None:
        fix = next((f"{describe(c)}: {RUSTUP_FIX}" for c in others if c.get("rustup")), None)
        raise ToolchainError(
            "no Rust compiler with a WebAssembly standard library was found"
            + (f" (tried {'; '.join(tried)})" if tried else ""),
            hint=fix or RUST_HINT,
        )
    chosen.info["others"] = others
    return chosen


def _line(text: str, key: str) -> int:
    """The line of ``key = ...`` in the ``[package]`` table of a Cargo.toml (1 if not found)."""
    section = ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[] ")
        elif section == "package" and re.match(rf"{re.escape(key)}\s*=", line):
            return n
    return 1


def crate_problem(cargo_toml: Path, tc: Toolchain, shown: str | None = None) -> ToolchainError | None:
    """Why the chosen cargo cannot build the crate of ``cargo_toml`` (its ``edition`` is newer
    than that cargo, or its ``rust-version`` than that rustc), as one error at the manifest's
    line; None when it can (or the manifest says nothing checkable)."""
    try:
        text = cargo_toml.read_text(encoding="utf-8")
        package = tomllib.loads(text).get("package")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # cargo says what is wrong with it
    if not isinstance(package, dict):
        return None
    where = shown or str(cargo_toml)
    cargo, rustc = tc.info.get("cargo"), tc.info.get("rustc")
    rustup = next((c for c in tc.info.get("others", []) if c.get("rustup") and c.get("target") is None), None)
    own = (f"run `rustup target add wasm32-wasip1` for {describe(rustup)}"
           + ("" if rustup.get("before") else f" and set WASMBUILD_RUSTC={rustup['rustc']}")) if rustup else (
        "install a newer Rust with the wasm32-wasip1 target (`rustup target add wasm32-wasip1`)")
    using = f"wasmbuild's Rust is {tc.env.get('CARGO') or tc.env['RUSTC']}"
    edition = package.get("edition")
    if isinstance(edition, str) and edition in EDITIONS and cargo and _tuple(cargo) < EDITIONS[edition]:
        need = ".".join(map(str, EDITIONS[edition]))
        fits = max((e for e, v in EDITIONS.items() if v <= _tuple(cargo)), default="2015")
        return ToolchainError(f"edition {edition} needs cargo {need} or newer, and {using}, cargo {cargo}",
                              where=f"{where}:{_line(text, 'edition')}",
                              hint=f"{own}, or set edition = \"{fits}\"")
    wanted = package.get("rust-version")
    if isinstance(wanted, str) and rustc and _tuple(rustc) < _tuple(wanted):
        return ToolchainError(f"rust-version {wanted} is newer than {using}, rustc {rustc}",
                              where=f"{where}:{_line(text, 'rust-version')}",
                              hint=f"{own}, or lower rust-version to {rustc}")
    return None


def crates_problem(spec: StageSpec, context: Path, tc: Toolchain) -> ToolchainError | None:
    """:func:`crate_problem` for each crate among a stage's context inputs (a folder with a
    Cargo.toml, or the Cargo.toml itself)."""
    for item in spec.inputs:
        if not item.src:
            continue
        path = context / item.src
        manifest = path / "Cargo.toml" if path.is_dir() else path
        if manifest.name == "Cargo.toml" and manifest.is_file():
            problem = crate_problem(manifest, tc)
            if problem is not None:
                return problem
    return None


def check(spec: StageSpec, context: Path, tc: Toolchain) -> ToolchainError | None:
    """Before a stage runs: a crate the chosen cargo cannot build (before cargo says "older than
    the 2024 edition")."""
    return crates_problem(spec, context, tc)


def witnesses(env: dict[str, str]) -> list[str]:
    """rustup's bin directory, and the target's standard library (`rustup target add` adds it)."""
    paths = [str(Path.home() / ".cargo/bin")]
    if "RUSTC" in env:
        sysroot = Path(os.path.realpath(env["RUSTC"])).parent.parent
        paths.append(str(sysroot / "lib" / "rustlib" / env.get("WASM_TARGET", "") / "lib"))
    return paths


def report(tc: Toolchain, specs: list[StageSpec], context: Path) -> dict[str, Any]:
    """Which rustc was chosen and why, the others with their fix, and each crate checked against
    the chosen cargo (its edition, its rust-version), as the build will check it."""
    row: dict[str, Any] = {"chosen": tc.info.get("chosen"),
                           "others": [f"{describe(c)}: {c['why']}" for c in tc.info.get("others", [])]}
    for spec in specs:
        problem = crates_problem(spec, context, tc)
        if problem is not None:
            row.update(ok=False, error=problem.render(), state="CANNOT BUILD")
            break
    return row


def facts(tc: Toolchain) -> list[ToolRecord]:
    fields = tc.identity.split(";")
    return [ToolRecord("toolchain", "rustc", version_in(fields[1] if len(fields) > 1 else ""), tc.env["RUSTC"])]


def init(folder: Path) -> Any:
    """A crate with a program (src/main.rs or one [[bin]]): ``crate: .``, built offline."""
    from wasmbuild.scaffold import Detected, image_name

    if not (folder / "Cargo.toml").is_file():  # no crate: one program in one file, built by rustc
        files = sorted(p.name for p in folder.glob("*.rs") if p.is_file())
        source = "main.rs" if "main.rs" in files else (files[0] if len(files) == 1 else None)
        if source is None:
            return None
        name = image_name(folder)
        return Detected("rust", name, "rust", {"source": source, "output": f"{name}.wasm"}, f"{name}.wasm",
                        [source], [], what="the Rust program in this file: rustc, for wasm32-wasip1\n"
                        "# (wasm32-wasi on older Rust)", ignore=["**/*.wasm"])
    try:
        cargo = tomllib.loads((folder / "Cargo.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {folder / 'Cargo.toml'}: {exc}") from None
    package = cargo.get("package")
    if not isinstance(package, dict) or "name" not in package:
        raise ConfigError(f"{folder / 'Cargo.toml'} has no [package] (a workspace?)",
                          hint="run `wasmbuild init` in the folder of the crate that builds the program")
    bins = [b for b in cargo.get("bin", []) if isinstance(b, dict) and "name" in b]
    if not bins and not (folder / "src" / "main.rs").is_file():
        raise ConfigError(f"crate {package['name']!r} has no program (no src/main.rs or [[bin]])",
                          hint="a WASI command needs fn main; add src/main.rs")
    program = str(bins[0]["name"]) if bins else str(package["name"])
    notes = []
    if len(bins) > 1:
        notes.append(f"the crate has {len(bins)} [[bin]] targets; the recipe expects exactly one")
    if cargo.get("dependencies") and not (folder / "vendor").is_dir():
        notes.append("the rust recipe builds offline: run `cargo vendor` (and commit vendor/ and "
                     ".cargo/config.toml) so the dependencies are in the build context")
    notes += _toolchain_notes(folder)
    return Detected("rust", image_name(folder), "rust", {"crate": ".", "output": f"{program}.wasm"},
                    f"{program}.wasm", ["Cargo.toml"], notes,
                    what=("the Rust crate in this folder: cargo --offline, for wasm32-wasip1\n"
                          "# (wasm32-wasi on older Rust)"),
                    ignore=["target"])


def _toolchain_notes(folder: Path) -> list[str]:
    """A warning when the Rust wasmbuild will use cannot build this crate (its edition or
    rust-version is newer than that cargo), with the fix; nothing when no Rust is found yet
    (`wasmbuild toolchains` says what to install)."""
    from wasmbuild.execute import toolchains

    try:
        found = toolchains.get("rust")
    except ToolchainError:
        return []
    problem = crate_problem(folder / "Cargo.toml", found) if found is not None else None
    return [f"warning: {problem.render()}"] if problem is not None else []
