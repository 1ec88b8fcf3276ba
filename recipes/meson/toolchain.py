"""``wasmbuild init`` for a Meson project (meson.build): recipe ``meson``, the program of its first
``executable(...)`` (named NAME.wasm in the image)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

FILES = ("meson.build",)
_EXE = re.compile(r"\bexecutable\s*\(\s*['\"]([^'\"]+)['\"]([^)]*)")



def _detected(folder: Path, recipe: str, program: str | None, built: str, what: str,
              extra: dict[str, Any] | None = None) -> Any:
    from wasmbuild.execute import toolchains  # the C family's stage builder is the c folder's code

    return toolchains.module("c").build_system_stage(folder, recipe, program, built, what, FILES, extra)


def init(folder: Path) -> Any:
    for build in sorted(folder.rglob("meson.build"), key=lambda p: (len(p.parts), str(p))):
        found = _EXE.search(build.read_text(errors="replace"))
        if found:
            name, rest = found.group(1), found.group(2)
            suffix = re.search(r"name_suffix\s*:\s*['\"]([^'\"]*)['\"]", rest)
            file = f"{name}.{suffix.group(1)}" if suffix and suffix.group(1) else name
            rel = build.parent.relative_to(folder).as_posix()
            built = file if rel == "." else f"{rel}/{file}"
            return _detected(folder, "meson", name, built, "the Meson project: meson with a WASI cross file")
    return _detected(folder, "meson", None, "app", "the Meson project: meson with a WASI cross file")
