"""``plan``: the project's stages as a DAG (graphlib). Pure: no I/O, no toolchains.

Only stages the image needs (directly or through other stages) are planned; the rest of the
Wasmfile is still validated by ``load`` but not built.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmbuild.errors import ConfigError
from wasmbuild.render.project import Project, StageSpec

if TYPE_CHECKING:
    from wasmbuild.load.loader import ImageNeed


@dataclass(frozen=True)
class Plan:
    project: Project
    order: tuple[str, ...]  # a topological order
    deps: dict[str, tuple[str, ...]]
    unused: tuple[str, ...]
    #: ``--target STAGE``: only that stage and what it needs are planned, and no image.
    target: str | None = None

    @property
    def stages(self) -> list[StageSpec]:
        return [self.project.stages[n] for n in self.order]

    def levels(self) -> list[list[str]]:
        """Stages grouped by depth: every stage in a level can run in parallel."""
        depth: dict[str, int] = {}
        for name in self.order:
            depth[name] = 1 + max((depth[d] for d in self.deps[name]), default=-1)
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for name in self.order:
            out[depth[name]].append(name)
        return out

    def to_json(self) -> dict[str, Any]:
        img = self.project.model.image_
        return {
            "wasmfile": str(self.project.path),
            "context": str(self.project.context),
            "stages": [
                {
                    "name": s.name,
                    "recipe": s.recipe,
                    "executor": f"container:{s.builder}" if s.builder else "host",
                    "toolchain": s.toolchain,
                    "depends_on": list(self.deps[s.name]),
                    "inputs": [i.model_dump(by_alias=True, exclude_none=True) for i in s.inputs],
                    "outputs": list(s.outputs),
                    "network": s.network,
                    "steps": list(s.steps),
                }
                for s in self.stages
            ],
            "levels": self.levels(),
            "unused_stages": list(self.unused),
            "image": None if img is None else {
                "platform": img.platform,
                "targets": list(img.targets),
                "include": list(img.include),
                "entrypoint": img.entrypoint,
                "cmd": img.cmd,
                "files": [f.model_dump(by_alias=True, exclude_none=True) for f in img.files],
                "tags": img.tags,
            },
        }


def plan(project: Project, target: str | None = None) -> Plan:
    """The stages the image needs, in order; with ``target``, the stages that stage needs
    (buildx's ``--target``: build up to that stage, no image)."""
    if target is not None and target not in project.stages:
        raise ConfigError(f"--target names unknown stage {target!r}",
                          hint=f"stages: {', '.join(project.stages) or 'none'}")
    deps = {name: spec.depends_on for name, spec in project.stages.items()}
    sorter = graphlib.TopologicalSorter(deps)
    try:
        full_order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = project.stages[cycle[0]]
        raise ConfigError(
            "stages form a cycle: " + " -> ".join(cycle),
            where=first.where,
            hint="a stage cannot (indirectly) take inputs from itself; break the loop",
        ) from None
    needed: set[str] = set()
    image = project.model.image_
    files = image.files if image is not None else []
    stack = [target] if target is not None else [f.from_ for f in files if f.from_]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(deps[name])
    order = tuple(n for n in full_order if n in needed)
    unused = tuple(n for n in full_order if n not in needed)
    return Plan(project, order, {n: deps[n] for n in order}, unused, target)


def prepare(path: Path | str, context: Path | str | None = None, target: str | None = None,
            image: ImageNeed | None = None) -> Plan:
    """``load``, ``render`` and ``plan`` a Wasmfile: everything short of running it. Every
    problem found by load and render is reported together (one ConfigError listing them).
    ``target``: plan only that stage and what it needs (``--target``); the image is then neither
    needed nor checked (``image``: see ``load``). Imports nothing of the later steps, so
    ``check`` and ``plan`` start fast."""
    from wasmbuild.failpoints import fail
    from wasmbuild.load.loader import Problems, load
    from wasmbuild.render.render import render

    fail("prepare")  # crash tests only (see failpoints)
    problems = Problems()
    need = image or ("ignored" if target is not None else "required")
    return plan(render(load(path, context=context, problems=problems, image=need), problems), target)
