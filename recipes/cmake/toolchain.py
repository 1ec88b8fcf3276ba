"""``wasmbuild init`` for a CMake project (CMakeLists.txt): recipe ``cmake``, the program of its
first ``add_executable`` (CMake names it NAME.wasm for WASI: the cross environment's suffix)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

FILES = ("CMakeLists.txt",)
WHAT = "the CMake project: cmake with a WASI toolchain file"
_EXE = re.compile(r"^\s*add_executable\s*\(\s*([A-Za-z0-9_.+-]+)", re.M | re.I)

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
    for lists in sorted(folder.rglob("CMakeLists.txt"), key=lambda p: (len(p.parts), str(p))):
        found = _EXE.search(lists.read_text(errors="replace"))
        if found:
            rel = lists.parent.relative_to(folder).as_posix()
            built = f"{found.group(1)}.wasm" if rel == "." else f"{rel}/{found.group(1)}.wasm"
            return _detected(folder, "cmake", found.group(1), built, WHAT, [])
    return _detected(folder, "cmake", None, "app.wasm", WHAT, [])
