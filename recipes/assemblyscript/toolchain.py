"""``wasmbuild init`` for an AssemblyScript project: an ``asconfig.json``, or ``assembly/index.ts``
with a package.json naming assemblyscript. The recipe declares no toolchain of its own: ``node``
is one of the stage's ``tools:`` and the compiler comes as pinned npm inputs (docs/languages.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SHIM = "@assemblyscript/wasi-shim"


def _json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None (missing, unreadable, not an object)."""
    try:
        data = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _names_assemblyscript(package: dict[str, Any] | None) -> bool:
    deps: dict[str, Any] = {}
    for key in ("dependencies", "devDependencies"):
        if isinstance((package or {}).get(key), dict):
            deps.update(package[key])  # type: ignore[index]
    return "assemblyscript" in deps


def init(folder: Path) -> Any:
    from wasmbuild.scaffold import Detected, image_name

    name = image_name(folder)
    config = _json(folder / "asconfig.json") if (folder / "asconfig.json").is_file() else None
    if config is None and not (folder / "assembly/index.ts").is_file():
        return None
    if config is None and not _names_assemblyscript(_json(folder / "package.json")):
        return None  # an assembly/index.ts of something else
    params: dict[str, Any] = {"entry": "assembly/index.ts", "output": f"{name}.wasm"}
    sources = ["assembly/index.ts"]
    notes = []
    if config is not None:
        entries = [e for e in config.get("entries") or [] if isinstance(e, str)]
        # the asconfig's target decides the optimisation: the recipe's flags would override it
        params = {"entry": "" if entries else "assembly/index.ts", "config": "asconfig.json",
                  "optimize": "", "no_assert": False, "output": f"{name}.wasm"}
        sources = ["asconfig.json", *entries] if entries else ["asconfig.json", "assembly/index.ts"]
        if SHIM not in json.dumps(config.get("extends", "")):
            notes.append(f"asconfig.json does not extend {SHIM}: add \"extends\": "
                         f"\"./node_modules/{SHIM}/asconfig.json\" (the build checks for a WASI module)")
    package = _json(folder / "package.json")
    others = sorted(set((package or {}).get("dependencies") or {}) - {"assemblyscript", SHIM})
    if others:
        notes.append(f"package.json names {', '.join(others)}: the recipe unpacks only assemblyscript, "
                     "its dependencies and the wasi-shim (the build is offline)")
    return Detected("assemblyscript", name, "assemblyscript", params, f"{name}.wasm", sources, notes,
                    what=("the AssemblyScript program: asc with @assemblyscript/wasi-shim for WASI\n"
                          "# (node runs the compiler; its npm packages are pinned inputs)"),
                    ignore=["node_modules", "build", "**/*.wasm"])
