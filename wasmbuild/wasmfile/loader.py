"""``load``: a Wasmfile on disk -> a validated, recipe-rendered :class:`Project`.

Every problem is reported with the file and line it comes from and a hint. ``load`` raises one
:class:`ConfigError` whose message is the first problem; ``problems`` holds them all (used by
``wasmbuild check``).
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .. import recipes, reference
from ..errors import ConfigError, WasmbuildError
from ..paths import PathEscape, clean_image_path, clean_relative, within
from . import yamlpos
from .model import Input, Stage, Wasmfile


@dataclass(frozen=True)
class StageSpec:
    """A stage after recipe rendering: only explicit steps remain."""

    name: str
    steps: tuple[str, ...]
    inputs: tuple[Input, ...]
    outputs: tuple[str, ...]
    env: dict[str, str]
    network: bool
    builder: str | None
    toolchain: str | None
    recipe: str | None
    where: str
    user: str | None = None

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(sorted({i.from_ for i in self.inputs if i.from_}))


@dataclass(frozen=True)
class Project:
    path: Path
    context: Path
    model: Wasmfile
    stages: dict[str, StageSpec]
    positions: yamlpos.Positions = field(repr=False)


@dataclass
class _Problems:
    items: list[ConfigError] = field(default_factory=list)

    def add(self, message: str, where: str, hint: str | None = None) -> None:
        self.items.append(ConfigError(message, where=where, hint=hint))

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            err = ConfigError(first.message, where=first.where, hint=first.hint)
            err.problems = list(self.items)  # type: ignore[attr-defined]
            raise err


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that the location ``loc`` points into."""
    current: Any = Wasmfile
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            fld = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
            if fld is None:
                return None
            current = fld.annotation
        else:
            current = _unwrap(current)
            if current is None:
                return None
        current = _unwrap(current) if not isinstance(current, type) else current
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """list[X] / dict[K, X] / X | None -> X."""
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (list, tuple):
        return args[0] if args else None
    if origin is dict:
        return args[1] if len(args) > 1 else None
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _unwrap(args[0]) if typing.get_origin(args[0]) else args[0]
    if origin is typing.Annotated:
        return args[0]
    return tp


def _allowed(model: type[BaseModel] | None) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()] if model else []


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _translate(exc: ValidationError, pos: yamlpos.Positions, problems: _Problems) -> None:
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p != "[key]")
        kind = err["type"]
        where = pos.where(loc)
        if kind == "extra_forbidden":
            key, parent = loc[-1], loc[:-1]
            allowed = _allowed(_model_at(parent))
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
            problems.add(f"unknown key {key!r} in {_dotted(parent)}", where, hint)
        elif kind == "missing":
            problems.add(
                f"missing required key {loc[-1]!r} in {_dotted(loc[:-1])}",
                where,
                "see docs/wasmfile.md",
            )
        elif kind == "value_error":
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.add(f"{_dotted(loc)}: {msg}", where)
        elif kind == "string_pattern_mismatch" and "[key]" in err["loc"]:
            problems.add(
                f"invalid name {err['input']!r} in {_dotted(loc[:-1])}",
                where,
                "names use lowercase letters, digits, '-' and '_'",
            )
        else:
            got = err.get("input")
            shown = (
                f"{type(got).__name__} {got!r}"
                if not isinstance(got, dict | list)
                else type(got).__name__
            )
            problems.add(f"{_dotted(loc)}: {err['msg'].lower()}, got {shown}", where)


def _check_input(
    inp: Input, stage: str, idx: int, where: str, ctx: Path, names: set[str], problems: _Problems
) -> None:
    try:
        if inp.src is not None:
            full = within(ctx, inp.src, "input")
            if not full.exists():
                problems.add(
                    f"stage {stage!r}: input {inp.src!r} does not exist in the build context "
                    f"({ctx})",
                    where,
                    "fix the path or create the file",
                )
        if inp.from_ is not None:
            if inp.from_ not in names:
                close = difflib.get_close_matches(inp.from_, sorted(names), n=1)
                problems.add(
                    f"stage {stage!r}: input refers to unknown stage {inp.from_!r}",
                    where,
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"stages: {', '.join(sorted(names))}",
                )
            elif inp.from_ == stage:
                problems.add(f"stage {stage!r} takes an input from itself", where)
            clean_relative(inp.path or "", "input path")
        if inp.dest is not None:
            clean_relative(inp.dest, "input dest")
    except PathEscape as exc:
        problems.add(f"stage {stage!r}: {exc}", where, "keep paths relative and inside the context")


def _render_stage(name: str, stage: Stage, where: str, problems: _Problems) -> Stage | None:
    if stage.recipe is None:
        return stage
    try:
        recipe = recipes.get_recipe(stage.recipe)
    except ConfigError as exc:
        problems.add(exc.message, where, exc.hint)
        return None
    values, param_problems = recipes.resolve_params(recipe, dict(stage.with_))
    for p in param_problems:
        problems.add(f"stage {name!r}: {p}", where, "see `wasmbuild recipes`")
    if param_problems:
        return None
    try:
        _, data = recipes.render(recipe, values)
    except ConfigError as exc:
        problems.add(f"stage {name!r}: {exc.message}", exc.where or where, exc.hint)
        return None
    if not isinstance(data, dict):
        problems.add(
            f"recipe {recipe.name!r} did not render to a mapping", str(recipe.template_path)
        )
        return None
    merged = dict(data)
    # The Wasmfile may add inputs/env and choose the builder or network on top of the recipe.
    merged["inputs"] = list(data.get("inputs") or []) + [
        i.model_dump(by_alias=True, exclude_none=True) for i in stage.inputs
    ]
    merged["env"] = {**(data.get("env") or {}), **stage.env}
    if stage.builder is not None:
        merged["builder"] = stage.builder
    if stage.network:
        merged["network"] = True
    if stage.user is not None:
        merged["user"] = stage.user
    try:
        return Stage.model_validate(merged)
    except ValidationError as exc:
        for err in exc.errors():
            problems.add(
                f"stage {name!r}: recipe {recipe.name!r} rendered an invalid stage: "
                f"{_dotted(tuple(err['loc']))}: {err['msg']}",
                where,
                f"fix {recipe.template_path}",
            )
        return None


def load(path: Path | str, *, context: Path | str | None = None) -> Project:
    """Read, validate and render a Wasmfile. Raises :class:`ConfigError`."""
    path = Path(path)
    if path.is_dir():
        path = path / "Wasmfile"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"no Wasmfile at {path}", hint="pass the path of a Wasmfile") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    data, pos = yamlpos.load(text, str(path))
    problems = _Problems()
    if not isinstance(data, dict):
        raise ConfigError("a Wasmfile must be a YAML mapping with `wasmfile: 1`", where=pos.where())
    try:
        model = Wasmfile.model_validate(data)
    except ValidationError as exc:
        _translate(exc, pos, problems)
        problems.raise_if_any()
        raise AssertionError("unreachable") from exc

    ctx = Path(context) if context is not None else path.parent / model.context
    if not ctx.is_dir():
        raise ConfigError(f"build context {ctx} is not a directory", where=pos.where(("context",)))
    names = set(model.stages)
    specs: dict[str, StageSpec] = {}
    for name, raw in model.stages.items():
        where = pos.where(("stages", name))
        stage = _render_stage(name, raw, where, problems)
        if stage is None:
            continue
        for i, inp in enumerate(stage.inputs):
            _check_input(
                inp,
                name,
                i,
                pos.where(("stages", name, "inputs", i)) if raw.recipe is None else where,
                ctx,
                names,
                problems,
            )
        for out in stage.outputs:
            try:
                clean_relative(out, "output")
            except PathEscape as exc:
                problems.add(f"stage {name!r}: {exc}", where)
        specs[name] = StageSpec(
            name=name,
            steps=tuple(stage.steps),
            inputs=tuple(stage.inputs),
            outputs=tuple(clean_relative(o) for o in stage.outputs if not o.startswith("/")),
            env=dict(stage.env),
            network=stage.network,
            builder=stage.builder,
            toolchain=stage.toolchain,
            recipe=raw.recipe,
            where=where,
            user=stage.user,
        )
    _check_image(model, specs, ctx, names, pos, problems)
    problems.raise_if_any()
    return Project(path=path, context=ctx, model=model, stages=specs, positions=pos)


def _check_image(
    model: Wasmfile,
    specs: dict[str, StageSpec],
    ctx: Path,
    names: set[str],
    pos: yamlpos.Positions,
    problems: _Problems,
) -> None:
    image = model.image
    dests: list[str] = []
    for i, f in enumerate(image.files):
        where = pos.where(("image", "files", i))
        try:
            dests.append(clean_image_path(f.dest))
            if f.src is not None:
                full = within(ctx, f.src, "image file")
                if not full.exists():
                    problems.add(
                        f"image file {f.src!r} does not exist in the build context ({ctx})",
                        where,
                        "fix the path or create the file",
                    )
            else:
                clean_relative(f.path or "", "image file path")
        except PathEscape as exc:
            problems.add(
                str(exc), where, "keep sources inside the context and destinations in the image"
            )
            continue
        if f.from_ is not None:
            if f.from_ not in names:
                close = difflib.get_close_matches(f.from_, sorted(names), n=1)
                problems.add(
                    f"image file refers to unknown stage {f.from_!r}",
                    where,
                    f"did you mean {close[0]!r}?" if close else "declare it under `stages:`",
                )
            elif f.from_ in specs:
                declared = specs[f.from_].outputs
                p = clean_relative(f.path or "")
                if not any(p == o or p.startswith(o + "/") for o in declared):
                    problems.add(
                        f"image file takes {p!r} from stage {f.from_!r}, which does not "
                        f"declare it as an output",
                        where,
                        f"declared outputs: {', '.join(declared) or 'none'}",
                    )
    entry = image.entrypoint[0]
    target = clean_image_path(entry if entry.startswith("/") else f"{image.workdir}/{entry}")
    if not any(target == d or target.startswith(d.rstrip("/") + "/") for d in dests):
        problems.add(
            f"entrypoint {entry!r} ({target}) is not among the image files",
            pos.where(("image", "entrypoint")),
            "add it under image.files with that dest",
        )
    for i, tag in enumerate(image.tags):
        try:
            reference.parse(tag)
        except WasmbuildError as exc:
            problems.add(exc.message, pos.where(("image", "tags", i)), exc.hint)
