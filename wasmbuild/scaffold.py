"""``wasmbuild init``: look at a folder and write a Wasmfile that builds and runs on the first try.

What it recognises comes from the recipe folders (docs/languages.md): a recipe whose
``recipe.yaml`` has ``init: {files, order}`` is asked, lowest ``order`` first, when one of those
globs matches; its ``toolchain.py``'s ``init(folder)`` returns the :class:`Detected` stage (or
None: not its project after all). The library's: ``rust`` (Cargo.toml, or one .rs file),
``cmake``, ``meson``, ``autotools``, ``make`` (their build files), ``go`` (go.mod), ``zig``
(build.zig, main.zig), ``assemblyscript`` (asconfig.json), ``cxx`` (C++ sources), ``c`` (C sources with their headers),
``python-component`` (a Python app).

It also writes a ``.wasmignore`` when the folder has none (build outputs, caches, and the
Wasmfile itself, so editing the Wasmfile's comments rebuilds nothing). An existing Wasmfile is
never replaced without ``force``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, WasmbuildError
from .fsutil import atomic_write_bytes
from .ignore import IGNORE_FILE
from .reference import name_from_folder

_IGNORE_COMMON = ["# Not part of the build context: neither hashed nor copied (.dockerignore syntax).",
                  ".git", "Wasmfile", ".wasmignore"]


@dataclass
class Detected:
    """What ``init`` found, and the Wasmfile's stage for it."""

    kind: str  # what the project is: rust, go, c, cxx, python...
    name: str  # image name, from the project
    recipe: str
    params: dict[str, Any]
    output: str
    sources: list[str]
    notes: list[str] = field(default_factory=list)
    extra_files: dict[str, str] = field(default_factory=dict)  # path -> content to write
    what: str = ""  # the Wasmfile's first comment: "the Rust crate in this folder: ..."
    ignore: list[str] = field(default_factory=list)  # the .wasmignore's project-specific lines
    targets: list[str] = field(default_factory=list)  # image targets, when not the default
    #: More files of the stage's $OUT in the image, (path, dest): an interpreter's app folder.
    image_files: list[tuple[str, str]] = field(default_factory=list)
    #: Arguments after the module in the entrypoint (an interpreter's script).
    entrypoint_args: list[str] = field(default_factory=list)
    #: Parameters to set by hand, written commented out under ``with:`` (``crates: URL  # why``).
    commented: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "recipe": self.recipe, "with": self.params,
                "output": self.output, "sources": self.sources, "notes": self.notes}


def image_name(folder: Path) -> str:
    return name_from_folder(folder, "app")


def detect(folder: Path) -> Detected:
    """What the project in ``folder`` is, as a recipe and its parameters."""
    from .render.folders import load_module
    from .render.recipes import list_recipes

    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder")
    asked = sorted((r for r in list_recipes() if r.init is not None), key=lambda r: (r.init.order, r.name))  # type: ignore[union-attr]
    for recipe in asked:
        assert recipe.init is not None
        if any(_matches(folder, pattern) for pattern in recipe.init.files):
            try:
                found = load_module(recipe.module_path).init(folder)
            except WasmbuildError:
                raise
            except Exception as exc:  # a folder's code is not ours: say whose it is
                raise ConfigError(f"recipe {recipe.name!r} failed to read this project: "
                                  f"{type(exc).__name__}: {exc}", where=str(recipe.module_path)) from None
            if found is not None and not isinstance(found, Detected):
                raise ConfigError(f"init() of recipe {recipe.name!r} returned {type(found).__name__}, not a Detected",
                                  where=str(recipe.module_path))
            if found is not None:
                return found
    looked = ", ".join(f"{'/'.join(f for f in r.init.files if '/' not in f)} ({r.name})"  # type: ignore[union-attr]
                       for r in asked)
    raise ConfigError(f"found no project in {folder.resolve()}: no {looked}",
                      hint="run `wasmbuild init` in the project's folder, or see `wasmbuild recipes`")


def _matches(folder: Path, pattern: str) -> bool:
    return any(p.is_file() for p in folder.glob(pattern))


def _yaml(value: Any) -> str:
    import json

    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    plain = re.fullmatch(r"[A-Za-z0-9_./-][A-Za-z0-9_./:-]*", text) and text not in ("true", "false", "null")
    return text if plain else json.dumps(text)


def _c(code: str, comment: str = "") -> str:
    """A line of YAML with its comment aligned."""
    return f"{code:<40}# {comment}" if comment and len(code) < 40 else (f"{code}  # {comment}" if comment else code)


def wasmfile_text(det: Detected) -> str:
    """The commented Wasmfile for ``det``."""
    tag = f"{det.name}:latest"
    lines = [
        f"# Wasmfile written by `wasmbuild init` for {det.what or 'the ' + det.kind + ' project'}.",
        _c("#   wasmbuild build", "stages -> image in the local store"),
        _c(f"#   wasmbuild run {tag}", "runs it with wasmtime"),
        "# The format: `wasmbuild schema`; recipes and their parameters: `wasmbuild recipes`.",
        *[f"# Note: {n}" for n in det.notes],
        "wasmfile: 1",
        "",
        "stages:",
        _c("  app:", "a stage: a recipe (or shell steps) and its outputs"),
        _c(f"    recipe: {det.recipe}", "parameters: `wasmbuild recipes`"),
        "    with:",
        *[f"      {k}: {_yaml(v)}" for k, v in det.params.items()],
        *[f"      # {line}" for line in det.commented],
        "",
        _c("image:", "FROM scratch: only these files, env and args"),
        "  files:",
        f"    - {{from: app, path: {_yaml(det.output)}, dest: {_yaml('/' + det.output)}}}",
        *[f"    - {{from: app, path: {_yaml(path)}, dest: {_yaml(dest)}}}" for path, dest in det.image_files],
        _c(f"  entrypoint: [{', '.join(_yaml(a) for a in ['/' + det.output, *det.entrypoint_args])}]",
           "the Wasm module to run (default args: cmd)"),
        _c("  env: {}", "the module's whole environment"),
        _c(f"  tags: [{tag}]", "names in the local store (-t adds more)"),
    ]
    if det.targets:  # a component: crun's handler runs core modules only (docs/targets.md)
        lines.append(_c(f"  targets: [{', '.join(det.targets)}]", "the image shapes to write (docs/targets.md)"))
    return "\n".join(lines) + "\n"


def ignore_text(det: Detected) -> str:
    return "\n".join([*_IGNORE_COMMON, *det.ignore]) + "\n"


def init(folder: Path, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
    """Detect the project in ``folder`` and write its Wasmfile (and ``.wasmignore``, runner)."""
    det = detect(folder)
    missing = _recipe_missing(det.recipe)
    if missing:
        det.notes.append(missing)
    wasmfile = folder / "Wasmfile"
    if wasmfile.exists() and not force:
        raise ConfigError(f"{wasmfile} exists already", hint="use --force to replace it")
    files = {"Wasmfile": wasmfile_text(det), **det.extra_files}
    written, kept = [], []
    for rel, text in files.items():
        path = folder / rel
        if rel != "Wasmfile" and path.exists() and not force and path.read_text(errors="replace") != text:
            raise ConfigError(f"{path} exists already and differs from the runner init writes",
                              hint="use --force to replace it, or define class Run in your app")
    if (folder / IGNORE_FILE).exists():
        kept.append(IGNORE_FILE)
    else:
        files[IGNORE_FILE] = ignore_text(det)
    for rel, text in files.items():
        if not dry_run:
            atomic_write_bytes(folder / rel, text.encode())
        written.append(rel)
    return {"detected": det.to_json(), "folder": str(folder.resolve()), "written": written, "kept": kept,
            "dry_run": dry_run, "build": "wasmbuild build", "run": f"wasmbuild run {det.name}:latest"}


def _recipe_missing(name: str) -> str | None:
    from .errors import WasmbuildError
    from .render.recipes import get_recipe

    try:
        get_recipe(name)
    except WasmbuildError:
        return f"this wasmbuild has no recipe {name!r}: `wasmbuild build` needs a version that has it"
    return None
