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
class Recipe:
    name: str
    path: Path
    description: str
    params: dict[str, Param] = field(default_factory=dict)
    example: dict[str, Any] = field(default_factory=dict)

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

    unknown = set(data) - {"description", "params", "example"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"unknown key {key!r}", where=pos.where((key,)),
                          hint=key_hint(key, ["description", "params", "example"]))
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
    recipe = Recipe(path.name, path, str(data.get("description", "")).strip(), params, example)
    if not recipe.template_path.is_file():
        raise ConfigError("recipe has no stage.yaml.j2 template", where=str(path))
    return recipe


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
    seen: dict[str, Recipe] = {}
    for root in recipe_roots():
        for meta in sorted(root.glob("*/recipe.yaml")):
            seen.setdefault(meta.parent.name, parse_recipe(meta.parent))
    return sorted(seen.values(), key=lambda r: r.name)


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


def render(recipe: Recipe, values: dict[str, Any]) -> tuple[str, Any]:
    """Render the stage template with ``values``; returns (text, parsed YAML data)."""
    from jinja2 import TemplateError

    from wasmbuild.load import yamlpos

    source = recipe.template_path.read_text()

    def recipe_file(name: str) -> str:
        """The text of a file shipped in the recipe's folder (e.g. a build script)."""
        path = (recipe.path / name).resolve()
        if recipe.path.resolve() not in path.parents or not path.is_file():
            raise ValueError(f"recipe {recipe.name!r} has no file {name!r}")
        return path.read_text()

    try:
        text = _template(source).render(**values, recipe_file=recipe_file)
    except RecipeRefused:
        raise
    except (TemplateError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{recipe.template_path}:{line}" if line else str(recipe.template_path)
        raise ConfigError(f"cannot render recipe {recipe.name!r}: {exc}", where=where) from None
    data, _ = yamlpos.load(text, f"{recipe.template_path} (rendered)")
    return text, data
