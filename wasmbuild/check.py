"""``check``: validate Wasmfiles and recipes without building (used by the pre-commit hook)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from wasmbuild.errors import ConfigError
from wasmbuild.load.model import Stage
from wasmbuild.plan import Plan
from wasmbuild.render import recipes

_PLACEHOLDER: dict[str, Any] = {
    "string": "x",
    "path": "placeholder.txt",
    "paths": ["placeholder.c"],
    "list": ["x"],
    "bool": False,
    "int": 0,
}


def _recipe_dir(path: Path) -> Path | None:
    for candidate in (path, *path.parents[:2]):
        if (candidate / "recipe.yaml").is_file() or candidate.name == "recipe.yaml":
            return candidate if candidate.is_dir() else candidate.parent
    if path.parent.parent.name == "recipes" or (path.parent.name == "recipes" and path.is_dir()):
        return path.parent if path.is_file() else path
    return None


def check_recipe(path: Path) -> list[str]:
    """Parse a recipe and render it with its defaults (placeholders for required params)."""
    try:
        recipe = recipes.parse_recipe(path)
        values = {
            n: (p.default if p.default is not None or not p.required else _PLACEHOLDER[p.type])
            for n, p in recipe.params.items()
        }
        values.update(recipe.example)
        _, data = recipes.render(recipe, values)
    except ConfigError as exc:
        return [exc.render()]
    except recipes.RecipeRefused as exc:
        return [f"{path}: the recipe refuses its own defaults and example: {exc}"]
    if not isinstance(data, dict):
        return [f"{recipe.template_path}: renders to {type(data).__name__}, not a stage mapping"]
    try:
        Stage.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        return [
            f"{recipe.template_path}: rendered stage is invalid: "
            f"{'.'.join(map(str, e['loc'])) or '(stage)'}: {e['msg']}"
            for e in errors
        ]
    return []


def check_wasmfile(path: Path, warnings: list[str] | None = None) -> list[str]:
    """Problems of the Wasmfile at ``path``; the pre-flight warnings of its targets (the traps
    their consumers meet, ``oci/preflight.py``) are added to ``warnings``."""
    from wasmbuild.plan import prepare

    try:
        the_plan = prepare(path, image="optional")
    except ConfigError as exc:
        return [p.render() for p in exc.problems]
    if the_plan.project.model.image_ is None:  # stages only: nothing for a plain build to make
        if warnings is not None:
            warnings.append(f"{the_plan.project.path}: no `image:` section: only `wasmbuild build "
                            "--target STAGE` builds from this Wasmfile (to build an image, "
                            "add `image:`, docs/wasmfile.md)")
        return []
    if warnings is not None:
        from wasmbuild.oci.preflight import for_wasmfile

        project = the_plan.project
        warnings += [f"{project.positions.where(('image', f.at))}: {f.message}"
                     for f in for_wasmfile(project.model.image, project.context)]
    return entrypoint_imports(the_plan)


def entrypoint_imports(the_plan: Plan) -> list[str]:
    """When the entrypoint module is a file of the context (not yet to be built by a stage),
    check its imports against the runtime now rather than at build time."""
    from wasmbuild.assemble.validate import IMPORTS_HINT, imports_problem
    from wasmbuild.errors import BuildError
    from wasmbuild.paths import PathEscape, clean_image_path, clean_relative
    from wasmbuild.wasm import binary

    project = the_plan.project
    image = project.model.image
    entry = image.entrypoint[0]
    try:
        target = clean_image_path(entry if entry.startswith("/") else f"{image.workdir}/{entry}")
        for f in image.files:
            dest = clean_image_path(f.dest).rstrip("/")
            if f.src is None or not (target == dest or target.startswith(dest + "/")):
                continue
            module = project.context / clean_relative(f.src) / target[len(dest):].lstrip("/")
            if module.is_file():
                # a core module's imports (a component's are its world): its header says which
                if not binary.is_wasm_file(module) or binary.kind_of_file(module) != "module":
                    return []
                problem = imports_problem(module.read_bytes(), entry)
                where = project.positions.where(("image", "entrypoint"))
                return [f"{where}: {problem} ({IMPORTS_HINT})"] if problem else []
    except (PathEscape, OSError, BuildError):
        return []  # reported by load, or unreadable or not Wasm: the build says so
    return []


def check_paths(paths: list[Path], warnings: list[str] | None = None) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    checked: list[str] = []
    recipe_dirs: dict[Path, None] = {}
    wasmfiles: list[Path] = []
    for p in paths:
        try:
            found = p.exists()
        except OSError as exc:  # a name too long, a loop of symlinks
            problems.append(f"{p}: {exc.strerror or exc}")
            continue
        if not found:
            problems.append(f"{p}: no such file")
            continue
        rdir = _recipe_dir(p)
        if rdir is not None:
            recipe_dirs[rdir.resolve()] = None
        elif p.is_dir() and (p / "Wasmfile").is_file():
            wasmfiles.append(p / "Wasmfile")
        else:
            wasmfiles.append(p)
    # Recipes being checked are also the ones the checked Wasmfiles may use.
    roots = {str(d.parent) for d in recipe_dirs}
    if Path("recipes").is_dir():
        roots.add(str(Path("recipes").resolve()))
    old = os.environ.get("WASMBUILD_RECIPES")
    os.environ["WASMBUILD_RECIPES"] = os.pathsep.join([*sorted(roots), *([old] if old else [])])
    try:
        for d in recipe_dirs:
            checked.append(str(d))
            problems.extend(check_recipe(d))
        for w in wasmfiles:
            checked.append(str(w))
            problems.extend(check_wasmfile(w, warnings))
    finally:
        if old is None:
            os.environ.pop("WASMBUILD_RECIPES", None)
        else:
            os.environ["WASMBUILD_RECIPES"] = old
    return problems, checked


def check_command(files: list[Path], json_out: bool = False) -> int:
    """``wasmbuild check FILES``: the problems and warnings printed (or as JSON); the exit code
    (2 if any problem). Shared by the Typer command and ``__main__``'s fast path, which imports
    no CLI framework (check runs in pre-commit hooks, on every commit)."""
    import sys

    from wasmbuild.ui import emit_json

    warnings: list[str] = []
    problems, checked = check_paths(files or [Path("Wasmfile")], warnings)
    if json_out:
        emit_json({"checked": checked, "problems": problems, "warnings": warnings, "ok": not problems})
    else:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        if not problems:
            print(f"ok: {len(checked)} file(s) checked", file=sys.stderr)
    return 2 if problems else 0


def parse_check_argv(args: list[str]) -> tuple[list[Path], bool] | None:
    """``check [--json] [FILE...]`` as (files, json), or None for anything else (``--help``, an
    unknown option: the full CLI answers those)."""
    files, json_out, only_paths = [], False, False
    for arg in args:
        if only_paths:
            files.append(Path(arg))
        elif arg == "--":
            only_paths = True
        elif arg == "--json":
            json_out = True
        elif arg.startswith("-"):
            return None
        else:
            files.append(Path(arg))
    return files, json_out
