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
import posixpath
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmbuild.errors import ConfigError, ToolchainError

# The probing toolkit is imported where a probe runs: rendering loads this module for
# `templates` (Cargo.lock), and `check`/`plan` import no execute step.
if TYPE_CHECKING:
    from wasmbuild.execute.probing import Toolchain, ToolRecord
    from wasmbuild.render.folders import ContextFiles
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
    from wasmbuild.execute.probing import _run, _try

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
    from wasmbuild.execute.probing import Toolchain, _candidates, _run, _well_known

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
    return _lock_problem(cargo_toml.with_name("Cargo.lock"), cargo, using, own)


#: The first cargo that reads each Cargo.lock format (`version = N`).
LOCK_FORMATS = {4: (1, 78)}


def _lock_problem(lock: Path, cargo: str | None, using: str, own: str) -> ToolchainError | None:
    """A Cargo.lock in a format newer than the chosen cargo reads (cargo would say
    "lock file version 4 requires `-Znext-lockfile-bump`")."""
    try:
        text = lock.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = re.search(r"^version\s*=\s*(\d+)\s*$", text.split("[[", 1)[0], re.M)
    if found is None or not cargo:
        return None
    need = LOCK_FORMATS.get(int(found.group(1)))
    if need is None or _tuple(cargo) >= need:
        return None
    line = text[:found.start()].count("\n") + 1
    return ToolchainError(f"Cargo.lock format {found.group(1)} needs cargo {'.'.join(map(str, need))} or newer, "
                          f"and {using}, cargo {cargo}",
                          where=f"{lock}:{line}",
                          hint=f"{own}, or set `version = 3` at the top of Cargo.lock (cargo {cargo} reads it)")


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
    from wasmbuild.execute.probing import ToolRecord, version_in

    return [ToolRecord("toolchain", "rustc", version_in(fields[1] if len(fields) > 1 else ""), tc.env["RUSTC"])]


# --- Cargo.lock: the registry crates a crate needs, as pinned downloads -----------------------

#: The markers of a registry's download URL (``dl`` in its index's config.json, the Cargo book,
#: "Registry index"); a ``dl`` with none of them is a prefix cargo appends ``/{crate}/{version}/download`` to.
DL_MARKERS = ("{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}")
#: A crate's name and version as cargo allows them (nothing that could climb out of a folder).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_VERSION = re.compile(r"[0-9][A-Za-z0-9.+-]*")
LOCK_HINT = "regenerate it with `cargo generate-lockfile`, which records each registry crate's sha256"


@dataclass(frozen=True)
class LockedCrate:
    """A registry crate of a Cargo.lock: its name, exact version, the sha256 of its ``.crate``
    and the line of its ``[[package]]``."""

    name: str
    version: str
    checksum: str
    line: int
    source: str

    @property
    def purl(self) -> str:
        return f"pkg:cargo/{self.name}@{self.version}"

    @property
    def dir(self) -> str:
        """The folder its ``.crate`` unpacks to (and its vendor directory)."""
        return f"{self.name}-{self.version}"


def _toml_line(message: str) -> int | None:
    found = re.search(r"\(at line (\d+)", message)
    return int(found.group(1)) if found else None


def parse_cargo_lock(text: str, shown: str) -> list[LockedCrate]:
    """The registry crates of a Cargo.lock (``shown``: its name in errors), in the file's order.
    Path and workspace members (no ``source``) are skipped; a git crate, a registry crate
    without a checksum, a duplicate or a lockfile that is not one is one :class:`ConfigError` at
    its line."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_line(str(exc))
        raise ConfigError(f"{shown} is not valid TOML: {exc}", where=f"{shown}:{line}" if line else shown,
                          hint=LOCK_HINT) from None
    version = doc.get("version")
    if version is not None and (type(version) is not int or version not in (3, 4)):
        line = next((n for n, raw in enumerate(text.splitlines(), 1) if re.match(r"\s*version\s*=", raw)), 1)
        raise ConfigError(f"{shown} says `version = {version!r}`: not a Cargo.lock format wasmbuild reads "
                          "(1 to 4)", where=f"{shown}:{line}", hint=LOCK_HINT)
    packages = doc.get("package", [])
    metadata = doc.get("metadata", {})
    if not isinstance(packages, list) or not isinstance(metadata, dict):
        raise ConfigError(f"{shown} is not a Cargo.lock (`package` is not a list of [[package]] tables)",
                          where=shown, hint=LOCK_HINT)
    heads = [n for n, raw in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*package\s*\]\]", raw)]
    found: list[LockedCrate] = []
    seen: dict[tuple[str, str], int] = {}
    for i, pkg in enumerate(packages):
        line = heads[i] if i < len(heads) else 1
        where = f"{shown}:{line}"
        name, version, source = (pkg.get(k) if isinstance(pkg, dict) else None for k in ("name", "version", "source"))
        if not (isinstance(name, str) and isinstance(version, str) and _NAME.fullmatch(name)
                and _VERSION.fullmatch(version)):
            raise ConfigError(f"{shown}: a [[package]] without a valid name and version", where=where, hint=LOCK_HINT)
        if source is None:
            continue  # the crate itself, a workspace member or a path dependency: in the context
        what = f"crate {name} {version}"
        if not isinstance(source, str) or source.startswith("git+"):
            raise ConfigError(f"{what} comes from git ({source}); the rust recipe fetches registry crates only",
                              where=where, hint="vendor the crates with `cargo vendor` (and commit vendor/ and "
                              ".cargo/config.toml), or depend on a registry release of it")
        if not source.startswith(("registry+", "sparse+")):
            raise ConfigError(f"{what} has an unknown source {source!r}", where=where, hint=LOCK_HINT)
        if found and source != found[0].source:
            raise ConfigError(f"{what} comes from a second registry ({source}); `crates:` is one registry's",
                              where=where, hint="vendor the crates with `cargo vendor` instead")
        checksum = pkg.get("checksum") or metadata.get(f"checksum {name} {version} ({source})")
        if checksum is None:
            raise ConfigError(f"{what} has no checksum, so its download cannot be pinned",
                              where=where, hint=LOCK_HINT)
        if not isinstance(checksum, str) or not re.fullmatch(r"[0-9a-f]{64}", checksum):
            raise ConfigError(f"{what}: its checksum {checksum!r} is not a sha256", where=where, hint=LOCK_HINT)
        if (name, version) in seen:
            raise ConfigError(f"{what} is listed twice (also at line {seen[name, version]})",
                              where=where, hint=LOCK_HINT)
        seen[name, version] = line
        found.append(LockedCrate(name, version, checksum, line, source))
    return found


def crate_url(dl: str, crate: LockedCrate) -> str:
    """Where ``crate``'s ``.crate`` is, by a registry's ``dl`` (as cargo expands it)."""
    if not any(m in dl for m in DL_MARKERS):
        dl = dl.rstrip("/") + "/{crate}/{version}/download"
    n = crate.name
    prefix = {1: "1", 2: "2", 3: f"3/{n[:1]}"}.get(len(n), f"{n[:2]}/{n[2:4]}")
    for marker, value in (("{crate}", n), ("{version}", crate.version), ("{prefix}", prefix),
                          ("{lowerprefix}", prefix.lower()), ("{sha256-checksum}", crate.checksum)):
        dl = dl.replace(marker, value)
    return dl


def templates(files: ContextFiles) -> dict[str, Any]:
    """``cargo_crates(crate, crates)`` for stage.yaml.j2: the registry crates of the crate's
    Cargo.lock as pinned downloads from ``crates`` (a registry's ``dl``)."""

    def cargo_crates(crate: str, crates: str) -> list[dict[str, str]]:
        base = posixpath.normpath(crate or ".")
        lock = "Cargo.lock" if base == "." else f"{base}/Cargo.lock"
        if not crates:
            # Today's offline build: the project's own `cargo vendor` (its source replacement).
            if any(files.exists(posixpath.join(base, ".cargo", n)) for n in ("config.toml", "config")) or \
                    not files.exists(lock):
                return []
            text, shown = files.read_text(lock, "Cargo.lock")
            found = parse_cargo_lock(text, shown)
            if found:
                raise ConfigError(f"{shown} needs {len(found)} crates from a registry (the first: {found[0].name} "
                                  f"{found[0].version}) and the rust recipe builds offline",
                                  where=f"{shown}:{found[0].line}",
                                  hint="set the rust recipe's `crates:` to your registry's download URL (`dl` "
                                  "in its index's config.json), or vendor them with `cargo vendor`")
            return []
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", crates):
            raise ConfigError(f"the rust recipe's `crates` must be an http(s) URL (a registry's `dl`), not {crates!r}",
                              hint="e.g. https://HOST/api/v1/crates, or a template with {crate} and {version}")
        if not files.exists(lock):
            raise ConfigError(f"`crates:` needs the crate's Cargo.lock, and {lock!r} is not in the build context",
                              hint="run `cargo generate-lockfile` in the crate and keep Cargo.lock with it")
        text, shown = files.read_text(lock, "Cargo.lock")
        return [{"name": c.name, "version": c.version, "sha256": c.checksum, "url": crate_url(crates, c),
                 "purl": c.purl, "dir": c.dir} for c in parse_cargo_lock(text, shown)]

    return {"cargo_crates": cargo_crates}


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
    commented = _crates_notes(folder, notes) if cargo.get("dependencies") else []
    notes += _toolchain_notes(folder)
    return Detected("rust", image_name(folder), "rust", {"crate": ".", "output": f"{program}.wasm"},
                    f"{program}.wasm", ["Cargo.toml"], notes,
                    what=("the Rust crate in this folder: cargo --offline, for wasm32-wasip1\n"
                          "# (wasm32-wasi on older Rust)"),
                    ignore=["target"], commented=commented)


def _crates_notes(folder: Path, notes: list[str]) -> list[str]:
    """For a crate with dependencies and no `cargo vendor` source replacement: how its registry
    crates get into the offline build (a commented `crates:` line to fill in)."""
    if any((folder / ".cargo" / n).is_file() for n in ("config.toml", "config")):
        return []  # its own vendor directory (or another source replacement): built as it is
    lock = folder / "Cargo.lock"
    if not lock.is_file():
        notes.append("the rust recipe builds from Cargo.lock: run `cargo generate-lockfile` and keep Cargo.lock")
    else:
        try:
            found = parse_cargo_lock(lock.read_text(encoding="utf-8"), "Cargo.lock")
        except (OSError, UnicodeDecodeError, ConfigError) as exc:
            notes.append(f"warning: {exc}")
            return []
        if not found:
            return []
    notes.append("the rust recipe builds offline: set `crates:` below to your registry's download URL, and "
                 "every crate of Cargo.lock is fetched pinned by its checksum (or run `cargo vendor` and commit "
                 "vendor/ and .cargo/config.toml)")
    return ["crates: https://REGISTRY/api/v1/crates  # the `dl` of your registry's index (its config.json)"]


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
