"""``wasmbuild init`` for a Makefile project: recipe ``make`` with the cross environment, the
first ``NAME.wasm`` the Makefile names, else its first target."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

FILES = ("Makefile", "makefile", "GNUmakefile")
_WASM = re.compile(r"(?<![\w$(./-])([A-Za-z0-9_+-]+)\.wasm\b")
_TARGET = re.compile(r"^([A-Za-z0-9_.+-]+)\s*:(?!=)", re.M)

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
    makefile = next(folder / f for f in FILES if (folder / f).is_file())
    text = makefile.read_text(errors="replace")
    what = "the Makefile project: make with CC, AR, CFLAGS... for WASI"
    if found := _WASM.search(text):
        return _detected(folder, "make", found.group(1), f"{found.group(1)}.wasm", what, [])
    targets = [t for t in _TARGET.findall(text) if not t.startswith(".") and t not in ("all", "clean", "install")]
    if targets:
        return _detected(folder, "make", targets[0], targets[0], what, [])
    return _detected(folder, "make", None, "app", what, [])
