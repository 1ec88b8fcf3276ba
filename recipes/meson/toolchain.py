"""``wasmbuild init`` for a Meson project (meson.build): recipe ``meson``, the program of its first
``executable(...)`` (named NAME.wasm in the image)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

FILES = ("meson.build",)
_EXE = re.compile(r"\bexecutable\s*\(\s*['\"]([^'\"]+)['\"]([^)]*)")

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
    for build in sorted(folder.rglob("meson.build"), key=lambda p: (len(p.parts), str(p))):
        found = _EXE.search(build.read_text(errors="replace"))
        if found:
            name, rest = found.group(1), found.group(2)
            suffix = re.search(r"name_suffix\s*:\s*['\"]([^'\"]*)['\"]", rest)
            file = f"{name}.{suffix.group(1)}" if suffix and suffix.group(1) else name
            rel = build.parent.relative_to(folder).as_posix()
            built = file if rel == "." else f"{rel}/{file}"
            return _detected(folder, "meson", name, built, "the Meson project: meson with a WASI cross file", [])
    return _detected(folder, "meson", None, "app", "the Meson project: meson with a WASI cross file", [])
