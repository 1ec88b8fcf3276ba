"""Smaller modules: drop custom sections and run Binaryen's ``wasm-opt`` (opt-in, ``optimize:``).

A debug build of a Rust "hello" is 6.9 MB, almost all of it DWARF for the standard library; the
same module stripped and ``wasm-opt -O2``'d is ~65 KB. Both steps are reproducible:

* stripping is done here, in Python: the module's sections are copied in order, custom sections
  (id 0: ``.debug_*``, ``name``, ``producers``, ``target_features``, ...) left out. A core
  module needs none of them to run.
* ``wasm-opt`` is deterministic for one Binaryen version whatever its thread count (checked
  with ``BINARYEN_CORES=1`` and ``2``: same bytes); its version is part of the cache key, so
  another Binaryen gives another (cached) output, never a stale one.

Results are memoised by (input sha256, level, strip, wasm-opt version): optimising CPython's
module takes tens of seconds and a rebuild must not pay it again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BuildError, ToolchainError
from ..fsutil import atomic_write_bytes
from ..paths import clean_image_path
from .layer import Entry

if TYPE_CHECKING:
    from ..load.model import Wasmfile

LEVELS = ("O0", "O1", "O2", "O3", "O4", "Os", "Oz")
WASM_MAGIC = b"\0asm"
_INSTALL_HINT = ("install Binaryen: `apt-get install binaryen` (Debian/Ubuntu) or "
                 "`npm install -g binaryen`, or set WASMBUILD_WASM_OPT to a wasm-opt binary")


@dataclass(frozen=True)
class Optimize:
    """What ``optimize:`` asks for: a wasm-opt level (None: strip only) and stripping."""

    level: str | None = "O2"
    strip: bool = True


def parse_level(text: str | None) -> str | None:
    """``O2``, ``-O2``, ``2``, ``s``, ``Oz``... -> ``O2``/``Os``/``Oz``; None/"none" -> None."""
    if text is None or str(text).lower() in ("none", "strip"):
        return None
    m = re.fullmatch(r"-?O?([0-4sz])", str(text).strip())
    if m is None:
        raise ValueError(f"unknown wasm-opt level {text!r} (use one of {', '.join(LEVELS)})")
    return "O" + m.group(1)


def wasm_opt() -> str:
    """The wasm-opt executable (``WASMBUILD_WASM_OPT`` or the PATH), or a ToolchainError."""
    explicit = os.environ.get("WASMBUILD_WASM_OPT")
    found = explicit if explicit and Path(explicit).is_file() else shutil.which("wasm-opt")
    if not found:
        raise ToolchainError("wasm-opt is not installed (needed by `optimize:`)", hint=_INSTALL_HINT)
    return found


_versions: dict[str, str] = {}


def wasm_opt_version(exe: str) -> str:
    if exe not in _versions:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
        _versions[exe] = (out.stdout or out.stderr).strip() or "unknown"
    return _versions[exe]


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated LEB128")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def strip_custom_sections(data: bytes) -> bytes:
    """The module without its custom sections (debug info, names, producers, features...)."""
    if data[:4] != WASM_MAGIC or len(data) < 8:
        raise ValueError("not a WebAssembly binary (no \\0asm header)")
    if data[4:8] != b"\x01\x00\x00\x00":
        raise ValueError("a WebAssembly component, not a core module: not stripped")
    out = [data[:8]]
    pos = 8
    while pos < len(data):
        start = pos
        section_id = data[pos]
        size, body = _leb(data, pos + 1)
        end = body + size
        if end > len(data):
            raise ValueError("truncated section")
        if section_id != 0:
            out.append(data[start:end])
        pos = end
    return b"".join(out)


def optimize(path_in: Path, path_out: Path, level: str | None = "O2",
             strip: bool = True) -> tuple[int, int]:
    """Write the optimised ``path_in`` to ``path_out``; returns (bytes before, bytes after).

    Raises ToolchainError when wasm-opt is needed and missing, BuildError when it fails.
    """
    data = path_in.read_bytes()
    before = len(data)
    if data[:4] != WASM_MAGIC:
        raise BuildError(f"{path_in.name} is not a WebAssembly module (no \\0asm header)",
                         hint="`optimize:` applies to .wasm files only")
    if level is not None:
        exe = wasm_opt()
        cmd = [exe, str(path_in), "-o", str(path_out), f"-{parse_level(level)}"]
        # Binaryen holds back some passes while DWARF is present: drop it first when stripping;
        # otherwise keep the name section and what DWARF it can carry along
        cmd.append("--strip-debug" if strip else "-g")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise BuildError(f"wasm-opt failed on {path_in.name}: {lines[-1] if lines else proc.returncode}",
                             details=proc.stderr, hint="try another level, or `optimize: {level: none}`")
        data = path_out.read_bytes()
    if strip:
        try:
            data = strip_custom_sections(data)
        except ValueError as exc:
            raise BuildError(f"cannot strip {path_in.name}: {exc}") from None
    atomic_write_bytes(path_out, data)
    return before, len(data)


def cached_optimize(path_in: Path, cache: Path, settings: Optimize) -> tuple[Path, int, int, bool]:
    """:func:`optimize` into ``cache`` unless done before. Returns (path, before, after, reused)."""
    digest = hashlib.sha256(path_in.read_bytes()).hexdigest()
    tool = wasm_opt_version(wasm_opt()) if settings.level is not None else "-"
    key = hashlib.sha256(f"{digest}\0{settings.level}\0{settings.strip}\0{tool}".encode()).hexdigest()
    out = cache / f"{key}.wasm"
    if out.is_file():
        return out, path_in.stat().st_size, out.stat().st_size, True
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{key}-{os.getpid()}.wasm"
    try:
        before, after = optimize(path_in, tmp, settings.level, settings.strip)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out, before, after, False


def settings(value: object) -> Optimize | None:
    """A Wasmfile ``optimize:`` value (bool, level string or ``{level, strip}``) -> Optimize."""
    if value is None or value is False:
        return None
    if value is True:
        return Optimize()
    if isinstance(value, str):
        return Optimize(parse_level(value), True)
    return Optimize(parse_level(getattr(value, "level", "O2")), bool(getattr(value, "strip", True)))


def rules_for(model: Wasmfile) -> list[tuple[str, Optimize | None]]:
    """(image path, settings) for each image file with ``optimize:``, its own or its stage's."""
    rules = []
    for f in model.image.files:
        stage = model.stages.get(f.from_) if f.from_ else None
        wanted = f.optimize if f.optimize is not None else (stage.optimize if stage else None)
        if wanted is not None:
            rules.append((clean_image_path(f.dest).lstrip("/"), settings(wanted)))
    return rules


def optimize_entries(entries: list[Entry], rules: list[tuple[str, Optimize | None]], cache: Path,
                     note: Callable[[str], None] | None = None) -> list[Entry]:
    """Swap each module under a rule's image path for its optimised copy (mode kept).

    ``rules`` maps image paths (a file, or a directory and everything under it) to settings;
    the longest matching path wins, so a file's own ``optimize: false`` beats its stage's.
    """
    if not rules:
        return entries
    out = []
    for entry in entries:
        rule = None
        for prefix, setting in sorted(rules, key=lambda r: len(r[0])):
            if entry.path == prefix or entry.path.startswith(prefix + "/"):
                rule = setting
        if rule is None or entry.kind != "file" or entry.source is None or not _is_module(entry.source):
            out.append(entry)
            continue
        path, before, after, reused = cached_optimize(entry.source, cache, rule)
        if note is not None:
            how = f"wasm-opt -{rule.level}" if rule.level else "no wasm-opt"
            how += ", custom sections stripped" if rule.strip else ""
            note(f"optimize /{entry.path}: {before:,} -> {after:,} bytes ({how}"
                 f"{', cached' if reused else ''})")
        out.append(dataclasses.replace(entry, source=path))
    return out


def _is_module(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8) == WASM_MAGIC + b"\x01\x00\x00\x00"
