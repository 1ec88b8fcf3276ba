"""``wasmbuild init`` for an autotools project (configure.ac, or a release's configure): recipe
``autotools``, the first of Makefile.am's ``bin_PROGRAMS``; ``autoreconf`` when there is no
``configure`` yet (a git checkout)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

FILES = ("configure.ac", "configure.in", "configure")
_PROGRAMS = re.compile(r"^\s*bin_PROGRAMS\s*[+]?=\s*([A-Za-z0-9_.+-]+)", re.M)



def _detected(folder: Path, recipe: str, program: str | None, built: str, what: str,
              extra: dict[str, Any] | None = None) -> Any:
    from wasmbuild.execute import toolchains  # the C family's stage builder is the c folder's code

    return toolchains.module("c").build_system_stage(folder, recipe, program, built, what, FILES, extra)


def init(folder: Path) -> Any:
    extra: dict[str, Any] = {} if (folder / "configure").is_file() else {"autoreconf": True}
    what = "the autotools project: ./configure --host=$WASI_HOST, then make"
    for am in sorted(folder.rglob("Makefile.am"), key=lambda p: (len(p.parts), str(p))):
        found = _PROGRAMS.search(am.read_text(errors="replace"))
        if found:
            rel = am.parent.relative_to(folder).as_posix()
            built = found.group(1) if rel == "." else f"{rel}/{found.group(1)}"
            return _detected(folder, "autotools", found.group(1), built, what, extra)
    return _detected(folder, "autotools", None, "app", what, extra)
