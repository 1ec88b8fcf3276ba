"""The recipe library: parameterised stage templates rendered with sandboxed Jinja2.

A recipe is a folder ``recipes/NAME/`` holding ``recipe.yaml`` (description, typed parameters,
defaults) and ``stage.yaml.j2`` (a Jinja2 template that renders to a stage: inputs, steps,
outputs). Rendering is sandboxed and uses ``StrictUndefined``: a misspelt variable is an error,
not an empty string. Templates stay pure: toolchain paths reach the steps as environment
variables (``$RUSTC``, ``$CC``, ``$WASM_TARGET``...) set by the executor, never at render time.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from wasmbuild.errors import ConfigError

PARAM_TYPES = {"string", "path", "paths", "list", "bool", "int"}


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str = ""
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ToolchainDecl:
    """A recipe folder's ``toolchain:``: a host toolchain it brings (docs/languages.md). Its
    code (finding it, its identity, its SBOM facts) is the folder's ``toolchain.py``."""

    name: str
    summary: str = ""
    #: Environment variables that steer the search: a change means probing again.
    probe_env: tuple[str, ...] = ()
    #: Shell commands the GitHub Action runs to set the toolchain up when a stage needs it.
    setup: tuple[str, ...] = ()


@dataclass(frozen=True)
class InitDecl:
    """A recipe folder's ``init:``: the files that make ``wasmbuild init`` recognise a project
    (globs, any match); its ``toolchain.py``'s ``init(folder)`` then writes the stage."""

    files: tuple[str, ...]
    order: int = 50  # lower is tried first: a Cargo.toml wins over the C files beside it


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    description: str
    params: dict[str, Param] = field(default_factory=dict)
    example: dict[str, Any] = field(default_factory=dict)
    toolchain: ToolchainDecl | None = None
    init: InitDecl | None = None

    @property
    def module_path(self) -> Path:
        """The folder's code for its toolchain and ``init`` (``toolchain.py``)."""
        return self.path / "toolchain.py"

    @property
    def template_path(self) -> Path:
        return self.path / "stage.yaml.j2"


def library_dir() -> Path:
    """The recipe library: packaged as ``wasmbuild/_recipes``, or ``recipes/`` in a checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_recipes", package.parent / "recipes"):
        if candidate.is_dir():
            return candidate
    return package.parent / "recipes"


def recipe_roots() -> list[Path]:
    """Where recipes are looked up: ``WASMBUILD_RECIPES`` (os.pathsep list), then the library."""
    roots = [Path(p) for p in os.environ.get("WASMBUILD_RECIPES", "").split(os.pathsep) if p]
    if library_dir().is_dir():
        roots.append(library_dir())
    return roots


def _check_type(p: Param, value: Any) -> str | None:
    ok: Callable[[Any], bool] = {
        "string": lambda v: isinstance(v, str),
        "path": lambda v: isinstance(v, str),
        "paths": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    }[p.type]
    if not ok(value):
        kind = {"paths": "list of paths", "list": "list of strings"}.get(p.type, p.type)
        return f"parameter {p.name!r} must be a {kind}, got {type(value).__name__} {value!r}"
    if p.choices and value not in p.choices:
        return f"parameter {p.name!r} must be one of {list(p.choices)}, got {value!r}"
    return None


def parse_recipe(path: Path) -> Recipe:
    """Load and check ``path/recipe.yaml``."""
    from wasmbuild.load import yamlpos

    meta_file = path / "recipe.yaml"
    if not meta_file.is_file():
        raise ConfigError("recipe has no recipe.yaml", where=str(path))
    data, pos = yamlpos.load(meta_file.read_text(), str(meta_file))
    if not isinstance(data, dict):
        raise ConfigError("recipe.yaml must be a mapping", where=str(meta_file))
    from wasmbuild.load.loader import key_hint

    top = ["description", "params", "example", "toolchain", "init"]
    unknown = set(data) - set(top)
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"unknown key {key!r}", where=pos.where((key,)), hint=key_hint(key, top))
    params: dict[str, Param] = {}
    for name, spec in (data.get("params") or {}).items():
        where = pos.where(("params", name))
        if not isinstance(spec, dict):
            raise ConfigError(f"parameter {name!r} must be a mapping", where=where)
        keys = ["type", "description", "default", "required", "choices"]
        if bad := sorted(set(spec) - set(keys)):
            raise ConfigError(f"unknown key {bad[0]!r} in parameter {name!r}",
                              where=pos.where(("params", name, bad[0])), hint=key_hint(bad[0], keys))
        ptype = spec.get("type", "string")
        if ptype not in PARAM_TYPES:
            raise ConfigError(
                f"parameter {name!r} has unknown type {ptype!r}",
                where=where,
                hint=f"use one of {sorted(PARAM_TYPES)}",
            )
        p = Param(
            name=name,
            type=ptype,
            description=str(spec.get("description", "")),
            default=spec.get("default"),
            required=bool(spec.get("required", False)),
            choices=tuple(spec.get("choices") or ()),
        )
        if p.default is not None and (problem := _check_type(p, p.default)):
            raise ConfigError(f"default of {problem}", where=where)
        params[name] = p
    example = data.get("example") or {}
    if not isinstance(example, dict) or set(example) - set(params):
        raise ConfigError(
            "`example` must map parameter names to values", where=pos.where(("example",))
        )
    recipe = Recipe(path.name, path, str(data.get("description", "")).strip(), params, example,
                    _toolchain_decl(data, pos), _init_decl(data, pos))
    if not recipe.template_path.is_file():
        raise ConfigError("recipe has no stage.yaml.j2 template", where=str(path))
    if (recipe.toolchain or recipe.init) and not recipe.module_path.is_file():
        key = "toolchain" if recipe.toolchain else "init"
        raise ConfigError(f"the recipe declares `{key}:` but has no toolchain.py", where=pos.where((key,)),
                          hint="add toolchain.py (docs/languages.md: a language is one folder)")
    return recipe


def _strings(value: Any, what: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{what} must be a list of strings", where=where)
    return tuple(value)


def _section(data: dict[str, Any], pos: Any, key: str, keys: list[str]) -> dict[str, Any] | None:
    from wasmbuild.load.loader import key_hint

    section = data.get(key)
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"`{key}` must be a mapping", where=pos.where((key,)))
    if bad := sorted(set(section) - set(keys)):
        raise ConfigError(f"unknown key {bad[0]!r} in `{key}`", where=pos.where((key, bad[0])),
                          hint=key_hint(bad[0], keys))
    return section


def _toolchain_decl(data: dict[str, Any], pos: Any) -> ToolchainDecl | None:
    section = _section(data, pos, "toolchain", ["name", "summary", "probe_env", "setup"])
    if section is None:
        return None
    name = section.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", name) or name == "none":
        raise ConfigError("`toolchain.name` must be a lowercase name (letters, digits, -), not `none`",
                          where=pos.where(("toolchain", "name")) if "name" in section else pos.where(("toolchain",)))
    where = pos.where(("toolchain",))
    return ToolchainDecl(name, str(section.get("summary", "")).strip(),
                         _strings(section.get("probe_env", []), "`toolchain.probe_env`", where),
                         _strings(section.get("setup", []), "`toolchain.setup`", where))


def _init_decl(data: dict[str, Any], pos: Any) -> InitDecl | None:
    section = _section(data, pos, "init", ["files", "order"])
    if section is None:
        return None
    order = section.get("order", 50)
    if not isinstance(order, int) or isinstance(order, bool):
        raise ConfigError("`init.order` must be a number", where=pos.where(("init", "order")))
    files = _strings(section.get("files"), "`init.files`", pos.where(("init",)))
    for pattern in files:
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise ConfigError(f"`init.files` pattern {pattern!r} leaves the project folder",
                              where=pos.where(("init", "files")), hint="use globs relative to it, e.g. `*.c`")
    return InitDecl(files, order)


@cache
def _find(name: str, roots: tuple[Path, ...]) -> Recipe | None:
    for root in roots:
        if (root / name / "recipe.yaml").is_file():
            return parse_recipe(root / name)
    return None


def get_recipe(name: str) -> Recipe:
    recipe = _find(name, tuple(recipe_roots()))
    if recipe is None:
        from wasmbuild.load.loader import key_hint

        hint = key_hint(name, [r.name for r in list_recipes()], "available recipes")
        raise ConfigError(f"unknown recipe {name!r}", hint=hint)
    return recipe


def list_recipes() -> list[Recipe]:
    return list(_all(tuple(recipe_roots())))


@cache
def _all(roots: tuple[Path, ...]) -> tuple[Recipe, ...]:
    seen: dict[str, Recipe] = {}
    for root in roots:
        for meta in sorted(root.glob("*/recipe.yaml")):
            seen.setdefault(meta.parent.name, parse_recipe(meta.parent))
    return tuple(sorted(seen.values(), key=lambda r: r.name))


@cache
def tree_digest(path: Path) -> str:
    """A recipe folder's digest: every file of it (the template, scripts, its toolchain code),
    never the ``__pycache__`` an installer may have compiled beside the code."""
    from wasmbuild.cache.digests import tree_sha256

    def lister(directory: Path) -> list[Path]:
        return sorted((p for p in directory.iterdir() if p.name != "__pycache__"), key=lambda p: p.name)

    return tree_sha256(path, lister)


def toolchain_folders() -> dict[str, Recipe]:
    """Every declared toolchain by name, with the recipe folder that declares it (the first
    root wins, as for recipes: ``WASMBUILD_RECIPES`` may replace a library toolchain)."""
    found: dict[str, Recipe] = {}
    for recipe in list_recipes():
        if recipe.toolchain is not None:
            found.setdefault(recipe.toolchain.name, recipe)
    return found


def unknown_params(recipe: Recipe, given: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(key, message, hint)`` for each key of ``with:`` that is not one of the recipe's
    parameters; the hint suggests the closest one and lists them all."""
    from wasmbuild.load.loader import key_hint

    allowed = list(recipe.params)
    return [(key, f"recipe {recipe.name!r} has no parameter {key!r}",
             key_hint(key, allowed, "its parameters")) for key in given if key not in recipe.params]


def resolve_params(recipe: Recipe, given: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Apply defaults and check types. Returns (values, problems)."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for _, message, hint in unknown_params(recipe, given):
        problems.append(f"{message} ({hint})")
    for name, p in recipe.params.items():
        if name in given:
            problem = _check_type(p, given[name])
            if problem:
                problems.append(problem)
            values[name] = given[name]
        elif p.required:
            problems.append(f"recipe {recipe.name!r} needs parameter {name!r}: {p.description}")
        else:
            values[name] = p.default
    return values, problems


class RecipeRefused(Exception):
    """The recipe refused its parameters (``raise_error`` in a template, or a value that cannot
    go into a step): the mistake is in the Wasmfile that uses the recipe, not in the recipe."""


def _sh(value: Any) -> str:
    text = str(value)
    if "\n" in text or "\0" in text:
        raise RecipeRefused(f"value {text!r} contains a newline or NUL and cannot go into a step")
    return shlex.quote(text)


def _raise_error(message: str) -> None:
    raise RecipeRefused(message)


@cache
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    env.filters["sh"] = _sh
    env.filters["basename"] = lambda v: Path(str(v)).name
    env.filters["stem"] = lambda v: Path(str(v)).stem
    env.globals["raise_error"] = _raise_error
    return env


@functools.lru_cache(maxsize=64)
def _template(source: str) -> Any:
    """The compiled template (compiling costs milliseconds; a Wasmfile reuses its recipes)."""
    return _environment().from_string(source)


def render(recipe: Recipe, values: dict[str, Any], context: Path | None = None) -> tuple[str, Any]:
    """Render the stage template with ``values``; returns (text, parsed YAML data).

    ``context`` is the build context, which ``read_requirements(PATH)`` reads a pinned
    requirements file from (:mod:`.requirements`), as do the functions the folder's
    ``templates(files)`` brings (:mod:`.folders`)."""
    from jinja2 import TemplateError

    from wasmbuild.load import yamlpos

    source = recipe.template_path.read_text()

    def recipe_file(name: str) -> str:
        """The text of a file shipped in the recipe's folder (e.g. a build script)."""
        path = (recipe.path / name).resolve()
        if recipe.path.resolve() not in path.parents or not path.is_file():
            raise ValueError(f"recipe {recipe.name!r} has no file {name!r}")
        return path.read_text()

    def requirements(path: str) -> list[dict[str, Any]]:
        """The packages of a requirements file in the build context, as ``pypi:`` inputs."""
        from . import requirements as reqs

        if context is None:
            raise RecipeRefused("`requirements` needs a build context (use the recipe from a Wasmfile)")
        return reqs.as_inputs(reqs.read(context, path))

    from .folders import template_functions

    try:
        functions = template_functions(recipe.module_path, context)
        names = {**functions, "recipe_file": recipe_file, "read_requirements": requirements, **values}
        text = _template(source).render(**names)
    except RecipeRefused:
        raise
    except (TemplateError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{recipe.template_path}:{line}" if line else str(recipe.template_path)
        raise ConfigError(f"cannot render recipe {recipe.name!r}: {exc}", where=where) from None
    data, _ = yamlpos.load(text, f"{recipe.template_path} (rendered)")
    return text, data
