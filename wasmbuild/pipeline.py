"""The whole pipeline in one place: ``load -> render -> plan -> execute -> assemble -> publish``.

Each step takes the previous step's frozen output. :func:`prepare` stops before anything runs
(``check`` and ``plan`` use it); :func:`build` executes and assembles into the local store;
:func:`build_and_publish` adds the stage-cache exchange and the publishers the CLI asked for.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .assemble.assemble import AssembleOptions, assemble
from .cache.digests import DigestMemo
from .cache.prune import auto_prune, sweep_all
from .cache.stages import StageCache
from .dirs import cache_area
from .errors import ConfigError
from .execute.executors import Executor, executor_for
from .execute.scheduler import ExecuteOptions, Scheduler, StageResult
from .failpoints import pause
from .fsutil import remove, sweep, temp_path
from .load.loader import Problems, load
from .oci import Descriptor
from .oci.layout import Layout
from .plan import Plan, plan
from .publish import MultiPublisher
from .render.project import StageSpec
from .render.render import render
from .ui import NullReporter, Reporter


def prepare(path: Path | str, context: Path | str | None = None) -> Plan:
    """``load``, ``render`` and ``plan`` a Wasmfile: everything short of running it. Every
    problem found by load and render is reported together (one ConfigError listing them)."""
    problems = Problems()
    return plan(render(load(path, context=context, problems=problems), problems))


@dataclass
class BuildOptions:
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    no_cache: bool = False
    no_cache_stages: frozenset[str] = frozenset()
    cache: StageCache | None = None
    store: Layout | None = None
    #: Picks each stage's backend (tests inject fakes; default: host or container).
    executor_factory: Callable[[StageSpec], Executor] = executor_for
    #: ``None``: the cached defaults (layer memo, validated-module memo).
    assemble: AssembleOptions | None = None
    #: Host stages run in the bubblewrap sandbox; False (``--sandbox=off``) runs them unconfined.
    sandbox: bool = True


@dataclass(frozen=True)
class BuiltImage:
    layout: Layout
    descriptor: Descriptor
    stages: tuple[StageResult, ...]
    size: int  # bytes of config + layers + manifest
    layer_reused: bool = False  # the layer blob came from the memo, not a new compression

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "size": self.size,
            "layer_reused": self.layer_reused,
            "platform": self.descriptor.platform,
            "stages": [
                {"name": s.name, "cached": s.cached, "seconds": round(s.seconds, 3), "key": s.key}
                for s in self.stages
            ],
        }


@contextlib.contextmanager
def _work_dir() -> Any:
    """This build's scratch directory, flocked while in use (a dead build's is swept later)."""
    builds = cache_area("builds")
    builds.mkdir(parents=True, exist_ok=True)
    root = temp_path(builds, "build")  # a temp name: swept once its build is dead
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # "in use" for sweep; the kernel drops it on death
    try:
        yield root
    finally:
        remove(root)
        os.close(fd)


def build(the_plan: Plan, options: BuildOptions | None = None,
          reporter: Reporter | None = None) -> BuiltImage:
    """Run the stages and assemble the image into the store. Nothing is tagged here: the caller
    publishes (and so should hold ``store.writing()`` until it has, see :func:`build_and_publish`)."""
    from .store import open_store

    options = options or BuildOptions()
    reporter = reporter or NullReporter()
    store = options.store or open_store()
    cache = options.cache if options.cache is not None else StageCache()
    sweep_all(cache)
    sweep(store.path / "blobs" / "sha256")
    memo = DigestMemo(cache_area("digests") / "memo.json")
    factory = options.executor_factory
    if not options.sandbox and factory is executor_for:
        factory = functools.partial(executor_for, sandbox=False)
    execute = ExecuteOptions(jobs=options.jobs, no_cache=options.no_cache,
                             no_cache_stages=options.no_cache_stages,
                             executor_factory=factory)
    with _work_dir() as root:
        results = Scheduler(the_plan, execute, reporter, root, cache, memo).run_all()
        outputs = {r.name: root / r.name / "out" for r in results}
        done = assemble(the_plan, outputs, store, options.assemble or AssembleOptions.cached())
        pause("image")
    with contextlib.suppress(OSError):
        auto_prune(cache)
        memo.save()
    return BuiltImage(store, done.manifest, tuple(results), done.size, done.layer_reused)


def image_names(the_plan: Plan, tags: Sequence[str]) -> list[str]:
    """The image's names: the Wasmfile's tags, then ``-t``; else the project directory's name."""
    names = list(the_plan.project.model.image.tags) + list(tags)
    return names or [the_plan.project.path.resolve().parent.name.lower() or "image"]


@dataclass
class Request:
    """What ``wasmbuild build`` was asked for, parsed and checked before anything runs."""

    plan: Plan
    options: BuildOptions
    publishers: MultiPublisher
    cache_from: Sequence[str] = ()
    cache_to: str | None = None
    registry: Any = None  # RegistryOptions for --cache-from/--cache-to


def build_and_publish(req: Request, reporter: Reporter) -> dict[str, Any]:
    """Import shared cache entries, build, publish to every destination, export the cache."""
    cache = req.options.cache = req.options.cache or StageCache()
    result: dict[str, Any] = {}
    if req.cache_from:
        from .cache.shared import import_from

        imported = 0
        for ref in req.cache_from:
            keys, reason = import_from(ref, cache, req.registry)
            imported += len(keys)
            reporter.note(reason or f"imported {len(keys)} stage cache entries from {ref}")
        result["cache_imported"] = imported
    from .store import open_store

    store = req.options.store = req.options.store or open_store()
    with store.writing():  # until tagged: `wasmbuild gc` must not take the new blobs
        built = build(req.plan, req.options, reporter)
        result.update(built.to_json())
        result.update(req.publishers.publish(built.layout, built.descriptor))
    if req.cache_to:
        from .cache.shared import export_to

        result["cache_to"] = export_to(req.cache_to, cache, [s.key for s in built.stages],
                                       req.registry)
    return result


def check_stage_names(the_plan: Plan, names: Sequence[str], flag: str) -> None:
    unknown = set(names) - set(the_plan.project.stages)
    if unknown:
        raise ConfigError(f"{flag} names unknown stage {sorted(unknown)[0]!r}",
                          hint=f"stages: {', '.join(the_plan.project.stages)}")
