"""``wasmbuild init`` for an autotools project (configure.ac, or a release's configure): recipe
``autotools``, the first of Makefile.am's ``bin_PROGRAMS``; ``autoreconf`` when there is no
``configure`` yet (a git checkout)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

FILES = ("configure.ac", "configure.in", "configure")
_PROGRAMS = re.compile(r"^\s*bin_PROGRAMS\s*[+]?=\s*([A-Za-z0-9_.+-]+)", re.M)

def _toolchain(folder: Path) -> str:
    """``cxx`` when the project has C++ sources (clang++ links libc++), else ``auto`` (C)."""
    return "cxx" if any(p.suffix in (".cpp", ".cc", ".cxx") for p in folder.rglob("*") if p.is_file()) else "auto"


def _detected(folder: Path, recipe: str, program: str | None, built: str, what: str, notes: list[str],
              extra: dict[str, Any] | None = None) -> Any:
    """The stage: ``built`` is the program's path in the build directory, taken as NAME.wasm."""
    from wasmbuild.scaffold import Detected, image_name

    name = image_name(folder)
    output = f"{program or name}.wasm"
    params: dict[str, Any] = {"project": ".", "outputs": [built if built == output else f"{built}:{output}"]}
    if (tc := _toolchain(folder)) != "auto":
        params["toolchain"] = tc
    params.update(extra or {})
    if program is None:
        notes.append(f"could not tell which program the build makes: set `outputs` (now {built!r})")
    return Detected(recipe, name, recipe, params, output, [f for f in FILES if (folder / f).is_file()][:1], notes,
                    what=what, ignore=["**/*.o", "**/*.a", "**/*.wasm"])


def init(folder: Path) -> Any:
    extra: dict[str, Any] = {} if (folder / "configure").is_file() else {"autoreconf": True}
    what = "the autotools project: ./configure --host=$WASI_HOST, then make"
    for am in sorted(folder.rglob("Makefile.am"), key=lambda p: (len(p.parts), str(p))):
        found = _PROGRAMS.search(am.read_text(errors="replace"))
        if found:
            rel = am.parent.relative_to(folder).as_posix()
            built = found.group(1) if rel == "." else f"{rel}/{found.group(1)}"
            return _detected(folder, "autotools", found.group(1), built, what, [], extra)
    return _detected(folder, "autotools", None, "app", what, [], extra)
