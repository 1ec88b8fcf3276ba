"""``wasmbuild init`` for a CMake project (CMakeLists.txt): recipe ``cmake``, the program of its
first ``add_executable`` (CMake names it NAME.wasm for WASI: the cross environment's suffix)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

FILES = ("CMakeLists.txt",)
WHAT = "the CMake project: cmake with a WASI toolchain file"
_EXE = re.compile(r"^\s*add_executable\s*\(\s*([A-Za-z0-9_.+-]+)", re.M | re.I)



def _detected(folder: Path, recipe: str, program: str | None, built: str, what: str,
              extra: dict[str, Any] | None = None) -> Any:
    from wasmbuild.execute import toolchains  # the C family's stage builder is the c folder's code

    return toolchains.module("c").build_system_stage(folder, recipe, program, built, what, FILES, extra)


def init(folder: Path) -> Any:
    for lists in sorted(folder.rglob("CMakeLists.txt"), key=lambda p: (len(p.parts), str(p))):
        found = _EXE.search(lists.read_text(errors="replace"))
        if found:
            rel = lists.parent.relative_to(folder).as_posix()
            built = f"{found.group(1)}.wasm" if rel == "." else f"{rel}/{found.group(1)}.wasm"
            return _detected(folder, "cmake", found.group(1), built, WHAT)
    return _detected(folder, "cmake", None, "app.wasm", WHAT)
