"""``wasmbuild init`` for a Makefile project: recipe ``make`` with the cross environment, the
first ``NAME.wasm`` the Makefile names, else its first target."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

FILES = ("Makefile", "makefile", "GNUmakefile")
_WASM = re.compile(r"(?<![\w$(./-])([A-Za-z0-9_+-]+)\.wasm\b")
_TARGET = re.compile(r"^([A-Za-z0-9_.+-]+)\s*:(?!=)", re.M)



def _detected(folder: Path, recipe: str, program: str | None, built: str, what: str,
              extra: dict[str, Any] | None = None) -> Any:
    from wasmbuild.execute import toolchains  # the C family's stage builder is the c folder's code

    return toolchains.module("c").build_system_stage(folder, recipe, program, built, what, FILES, extra)


def init(folder: Path) -> Any:
    makefile = next(folder / f for f in FILES if (folder / f).is_file())
    text = makefile.read_text(errors="replace")
    what = "the Makefile project: make with CC, AR, CFLAGS... for WASI"
    if found := _WASM.search(text):
        return _detected(folder, "make", found.group(1), f"{found.group(1)}.wasm", what)
    targets = [t for t in _TARGET.findall(text) if not t.startswith(".") and t not in ("all", "clean", "install")]
    if targets:
        return _detected(folder, "make", targets[0], targets[0], what)
    return _detected(folder, "make", None, "app", what)
