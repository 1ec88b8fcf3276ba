"""``render``: turn every recipe stage of a loaded Wasmfile into explicit steps, then check what
needs the rendered stages (inputs, outputs, which stage feeds which image file).

A recipe's own mistakes (a missing parameter, a bad value) are reported at the Wasmfile line that
uses the recipe, since that is what the user edits; only a broken template names the template.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from ..ignore import load_ignore
from ..load.loader import Loaded, Problems, dotted
from ..load.model import Input, Stage, parse_duration
from ..load.yamlpos import Positions
from ..paths import PathEscape, clean_relative, within
from . import recipes
from .project import Project, StageSpec


def render(loaded: Loaded, problems: Problems | None = None) -> Project:
    """Render ``loaded``'s stages. Raises one :class:`ConfigError` listing every problem (those
    already in ``problems`` too)."""
    model, pos, ctx = loaded.model, loaded.positions, loaded.context
    problems = problems if problems is not None else Problems()
    names = set(model.stages)
    specs: dict[str, StageSpec] = {}
    for name, raw in model.stages.items():
        where = pos.where(("stages", name))
        stage = _render_stage(name, raw, where, pos, problems, ctx)
        if stage is None:
            continue
        if stage.toolchain not in (None, "none"):
            _check_toolchain(stage.toolchain or "", name, pos.where(("stages", name, "toolchain"))
                             if raw.recipe is None else where, problems)
        for i, inp in enumerate(stage.inputs):
            at = pos.where(("stages", name, "inputs", i)) if raw.recipe is None else where
            _check_input(inp, name, at, ctx, names, problems)
            ignore = load_ignore(ctx) if inp.src is not None else None
            if ignore is not None:  # refused here, as the stage would refuse it, not after others ran
                try:
                    ignore.check_named(clean_relative(inp.src or ""), f"stage {name!r}: input", where)
                except ConfigError as exc:
                    problems.add(exc.message, where, exc.hint)
                except PathEscape:
                    pass  # _check_input reported it

        for out in stage.outputs:
            try:
                clean_relative(out, "output")
            except PathEscape as exc:
                problems.add(f"stage {name!r}: {exc}", pos.where(("stages", name, "outputs")),
                             "outputs are paths under $OUT, e.g. app.wasm")
        specs[name] = StageSpec(
            name=name,
            steps=tuple(stage.steps),
            inputs=tuple(stage.inputs),
            outputs=tuple(_safe_outputs(stage.outputs)),
            env=dict(stage.env),
            network=stage.network,
            builder=stage.builder,
            toolchain=stage.toolchain,
            recipe=raw.recipe,
            where=where,
            user=stage.user,
            component=stage.component,
            timeout=parse_duration(stage.timeout) if stage.timeout is not None else None,
            caches=tuple((c.name, c.path) for c in stage.caches),
            tools=tuple(dict.fromkeys(stage.tools)),
            packages=tuple(dict.fromkeys((p.purl, p.pin) for p in stage.packages)),
            **_recipe_identity(raw.recipe),
        )
    _check_image_sources(loaded, specs, problems)
    problems.raise_if_any()
    return Project(path=loaded.path, context=ctx, model=model, stages=specs, positions=pos)


def _safe_outputs(outputs: list[str]) -> list[str]:
    clean: list[str] = []
    for o in outputs:
        try:
            clean.append(clean_relative(o))
        except PathEscape:
            continue  # reported above
    return clean


def _check_input(inp: Input, stage: str, where: str, ctx: Path, names: set[str],
                 problems: Problems) -> None:
    try:
        if inp.src is not None:
            ignore = load_ignore(ctx)
            full = within(ctx, inp.src, "input", ignore.ignored if ignore is not None else None)
            if not full.exists():
                problems.add(f"stage {stage!r}: input {inp.src!r} does not exist in the build "
                             f"context ({ctx})", where, "fix the path or create the file")
        if inp.from_ is not None:
            if inp.from_ not in names:
                close = difflib.get_close_matches(inp.from_, sorted(names), n=1)
                problems.add(f"stage {stage!r}: input refers to unknown stage {inp.from_!r}", where,
                             f"did you mean {close[0]!r}?" if close
                             else f"stages: {', '.join(sorted(names))}")
            elif inp.from_ == stage:
                problems.add(f"stage {stage!r} takes an input from itself", where)
            clean_relative(inp.path or "", "input path")
        if inp.dest is not None:
            clean_relative(inp.dest, "input dest")
    except PathEscape as exc:
        problems.add(f"stage {stage!r}: {exc}", where, "keep paths relative and inside the context")


def _recipe_identity(name: str | None) -> dict[str, Any]:
    """``recipe_sha256`` / ``recipe_library`` of a rendered stage (nothing without a recipe)."""
    if name is None:
        return {}
    recipe = recipes.get_recipe(name)
    return {"recipe_sha256": recipes.tree_digest(recipe.path),
            "recipe_library": recipe.path.resolve().is_relative_to(recipes.library_dir().resolve())}


def _check_toolchain(toolchain: str, stage: str, where: str, problems: Problems) -> None:
    """A toolchain some recipe folder declares (docs/languages.md), or one line naming the others."""
    from ..load.loader import key_hint

    declared = recipes.toolchain_folders()
    if toolchain not in declared:
        problems.add(f"stage {stage!r}: unknown toolchain {toolchain!r}", where,
                     key_hint(toolchain, sorted(declared), "toolchains the recipe folders declare"))


def _render_stage(name: str, stage: Stage, where: str, pos: Positions,
                  problems: Problems, context: Path | None = None) -> Stage | None:
    if stage.recipe is None:
        return stage
    try:
        recipe = recipes.get_recipe(stage.recipe)
    except ConfigError as exc:
        problems.add(exc.message, pos.where(("stages", name, "recipe")), exc.hint)
        return None
    unknown = recipes.unknown_params(recipe, dict(stage.with_))
    for key, message, hint in unknown:
        problems.add(f"stage {name!r}: {message}", pos.where(("stages", name, "with", key)), hint)
    if unknown:  # a misspelt key would also show as a missing parameter: one mistake, one line
        return None
    values, param_problems = recipes.resolve_params(recipe, dict(stage.with_))
    for p in param_problems:
        problems.add(f"stage {name!r}: {p}", where, "see `wasmbuild recipes`")
    if param_problems:
        return None
    try:
        _, data = recipes.render(recipe, values, context)
    except recipes.RecipeRefused as exc:
        # The recipe refused the parameters (raise_error in the template): the user's mistake.
        problems.add(f"stage {name!r}: {exc}", where, f"see `wasmbuild recipes` for {recipe.name!r}")
        return None
    except ConfigError as exc:
        problems.add(f"stage {name!r}: {exc.message}", exc.where or where, exc.hint)
        return None
    if not isinstance(data, dict):
        problems.add(f"recipe {recipe.name!r} did not render to a mapping", str(recipe.template_path))
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
    if stage.component is not None:
        merged["component"] = stage.component
    if stage.timeout is not None:
        merged["timeout"] = stage.timeout
    if stage.tools:  # the recipe's tools, then the Wasmfile's
        merged["tools"] = [*(data.get("tools") or []), *stage.tools]
    if stage.caches:  # the Wasmfile's caches replace the recipe's of the same name
        own = {c.name for c in stage.caches}
        merged["caches"] = [c for c in data.get("caches") or [] if not (isinstance(c, dict) and c.get("name") in own)]
        merged["caches"] += [c.model_dump() for c in stage.caches]
    try:
        return Stage.model_validate(merged)
    except ValidationError as exc:
        for err in exc.errors():
            problems.add(f"stage {name!r}: recipe {recipe.name!r} rendered an invalid stage: "
                         f"{dotted(tuple(err['loc']))}: {err['msg']}", where,
                         f"fix {recipe.template_path}")
        return None


def _check_image_sources(loaded: Loaded, specs: dict[str, StageSpec], problems: Problems) -> None:
    """Every image file taken ``from`` a stage names a stage that declares that output."""
    names = set(loaded.model.stages)
    image = loaded.model.image_
    for i, f in enumerate(image.files if image is not None else ()):
        if f.from_ is None:
            continue
        where = loaded.positions.where(("image", "files", i))
        if f.from_ not in names:
            close = difflib.get_close_matches(f.from_, sorted(names), n=1)
            problems.add(f"image file refers to unknown stage {f.from_!r}", where,
                         f"did you mean {close[0]!r}?" if close else "declare it under `stages:`")
        elif f.from_ in specs:
            declared = specs[f.from_].outputs
            try:
                p = clean_relative(f.path or "")
            except PathEscape:
                continue  # reported by load
            if not any(p == o or p.startswith(o + "/") for o in declared):
                problems.add(f"image file takes {p!r} from stage {f.from_!r}, which does not "
                             f"declare it as an output", where,
                             f"declared outputs: {', '.join(declared) or 'none'}")
