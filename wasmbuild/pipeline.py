"""The whole pipeline in one place: ``load -> render -> plan -> execute -> assemble -> publish``.

Each step takes the previous step's frozen output. :func:`prepare` stops before anything runs
(``check`` and ``plan`` use it); :func:`build` executes and assembles into the local store;
:func:`build_and_publish` adds the stage-cache exchange and the publishers the CLI asked for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .assemble.assemble import AssembleOptions, assemble
from .attest import AttestOptions, attest
from .cache.digests import DigestMemo
from .cache.prune import auto_prune, sweep_all
from .cache.stages import StageCache
from .dirs import cache_area
from .errors import ConfigError
from .execute.executors import Executor, executor_for
from .execute.scheduler import ExecuteOptions, Scheduler, StageResult
from .failpoints import fail, pause
from .fsutil import remove, sweep, temp_path
from .load.loader import ImageNeed, Problems, load
from .oci import Descriptor
from .oci.layout import Layout
from .plan import Plan, plan
from .publish import MultiPublisher
from .reference import name_from_folder
from .render.project import StageSpec
from .render.render import render
from .ui import NullReporter, Reporter


def prepare(path: Path | str, context: Path | str | None = None, target: str | None = None,
            image: ImageNeed | None = None) -> Plan:
    """``load``, ``render`` and ``plan`` a Wasmfile: everything short of running it. Every
    problem found by load and render is reported together (one ConfigError listing them).
    ``target``: plan only that stage and what it needs (``--target``); the image is then neither
    needed nor checked (``image``: see ``load``)."""
    fail("prepare")  # crash tests only (see failpoints)
    problems = Problems()
    need = image or ("ignored" if target is not None else "required")
    return plan(render(load(path, context=context, problems=problems, image=need), problems), target)


@dataclass
class BuildOptions:
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    no_cache: bool = False
    no_cache_stages: frozenset[str] = frozenset()
    cache: StageCache | None = None
    store: Layout | None = None
    #: Picks each stage's backend (tests inject fakes; default: host or container).
    executor_factory: Callable[[StageSpec], Executor] = executor_for
    #: How to assemble (compression...); its memos are the cache's unless ``uncached``.
    assemble: AssembleOptions = field(default_factory=AssembleOptions)
    #: Do not use the layer, validation and optimisation memos (tests of assembly itself).
    uncached: bool = False
    #: Targets to write (``build --format``); empty: the Wasmfile's ``image.targets``.
    targets: tuple[str, ...] = ()
    #: Images to add to the index by reference (``build --include``), after ``image.include``.
    include: tuple[str, ...] = ()
    #: RegistryOptions for fetching included images.
    registry: Any = None
    #: The SBOM and provenance attached to the image (``--sbom``, ``--no-sbom``).
    attest: AttestOptions = field(default_factory=AttestOptions)
    #: Host stages run in the bubblewrap sandbox; False (``--sandbox=off``) runs them unconfined.
    sandbox: bool = True
    #: Targets (triples) to attach precompiled code for (``--precompile``; docs/precompiled.md).
    precompile: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuiltImage:
    layout: Layout
    descriptor: Descriptor
    stages: tuple[StageResult, ...]
    size: int  # bytes of config + layers + manifest
    layer_reused: bool = False  # the layer blob came from the memo, not a new compression
    targets: tuple[tuple[str, Descriptor], ...] = ()  # (target, manifest) of an index's entries
    #: Artifact manifests (SBOM, provenance, precompiled code) whose subject is an image manifest
    #: of this build.
    referrers: tuple[Descriptor, ...] = ()

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "size": self.size,
            "layer_reused": self.layer_reused,
            "platform": self.descriptor.platform,
            "targets": [{"target": t, "digest": d.digest, "platform": d.platform}
                        for t, d in self.targets],
            "stages": [stage_json(s) for s in self.stages],
            "referrers": [{"digest": r.digest, "artifactType": r.artifact_type} for r in self.referrers],
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


@dataclass
class _Run:
    """The stages of one build, run: their results, outputs and the build's scratch."""

    root: Path
    results: list[StageResult]
    memo: DigestMemo

    def outputs(self) -> dict[str, Path]:
        return {r.name: self.root / r.name / "out" for r in self.results}


@contextlib.contextmanager
def _run_stages(the_plan: Plan, options: BuildOptions, reporter: Reporter) -> Iterator[_Run]:
    """Run the planned stages (cached, in parallel, sandboxed unless turned off) in a scratch
    directory that lives as long as the block; then trim the cache and save the digest memo."""
    cache = options.cache if options.cache is not None else StageCache()
    sweep_all(cache)
    memo = DigestMemo(cache_area("digests") / "memo.json")
    factory = options.executor_factory
    if not options.sandbox and factory is executor_for:
        factory = functools.partial(executor_for, sandbox=False)
    execute = ExecuteOptions(jobs=options.jobs, no_cache=options.no_cache,
                             no_cache_stages=options.no_cache_stages, executor_factory=factory)
    with _work_dir() as root:
        results = Scheduler(the_plan, execute, reporter, root, cache, memo).run_all()
        yield _Run(root, results, memo)
    with contextlib.suppress(OSError):
        auto_prune(cache)
        memo.save()


def build(the_plan: Plan, options: BuildOptions | None = None,
          reporter: Reporter | None = None) -> BuiltImage:
    """Run the stages and assemble the image into the store. Nothing is tagged here: the caller
    publishes (and so should hold ``store.writing()`` until it has, see :func:`build_and_publish`)."""
    from .store import open_store

    options = options or BuildOptions()
    reporter = reporter or NullReporter()
    store = options.store or open_store()
    sweep(store.path / "blobs" / "sha256")
    with _run_stages(the_plan, options, reporter) as ran:
        outputs = ran.outputs()
        how = options.assemble if options.uncached else options.assemble.cached()
        if how.note is None:
            how = dataclasses.replace(how, note=reporter.note, transfer=reporter.transfer)
        done = assemble(the_plan, outputs, store, how, targets=options.targets,
                        include=options.include, registry=options.registry, note=reporter.note)
        referrers = attest(the_plan, ran.results, outputs, store, done.manifest, options.attest,
                           ran.memo)
        if options.precompile:
            from .assemble.precompile import precompile

            referrers += precompile(store, done.manifest, options.precompile, reporter.note)
        pause("image")
    return BuiltImage(store, done.manifest, tuple(ran.results), done.size, done.layer_reused,
                      done.targets, referrers)


def build_stages(the_plan: Plan, options: BuildOptions | None = None, reporter: Reporter | None = None,
                 export: Path | None = None) -> tuple[StageResult, ...]:
    """Run the planned stages and no more (``--target``): no image. With ``export``, the target
    stage's outputs are copied there (``-o local:DIR``) before the build's scratch goes."""
    from .publish.local import export_dir

    options = options or BuildOptions()
    reporter = reporter or NullReporter()
    with _run_stages(the_plan, options, reporter) as ran:
        if export is not None and the_plan.target is not None:
            export_dir(ran.root / the_plan.target / "out", export)
            reporter.note(f"exported the outputs of stage {the_plan.target} to {export}")
    return tuple(ran.results)


def image_names(the_plan: Plan, tags: Sequence[str]) -> list[str]:
    """The image's names: the Wasmfile's tags, then ``-t``; else the project directory's name,
    made a valid reference (``My_Project`` -> ``my-project``, as docker compose does)."""

    image = the_plan.project.model.image_
    names = list(image.tags if image is not None else ()) + list(tags)
    if names:
        return names
    return [name_from_folder(the_plan.project.path.resolve().parent, "image")]


@dataclass
class Request:
    """What ``wasmbuild build`` was asked for, parsed and checked before anything runs."""

    plan: Plan
    options: BuildOptions
    publishers: MultiPublisher
    cache_from: Sequence[str] = ()
    cache_to: str | None = None
    registry: Any = None  # RegistryOptions for --cache-from/--cache-to
    #: With a ``--target`` plan: where to copy the target stage's outputs (``-o local:DIR``).
    export: Path | None = None


def _pushed(reporter: Reporter, label: str, done: int, total: int) -> None:
    reporter.transfer(label, done, total, done >= total)


def _show_pushes(publishers: MultiPublisher, reporter: Reporter) -> None:
    """Each registry push's bytes and rate on the live display (``Reporter.transfer``)."""
    from .publish import RegistryPublisher
    from .registry.ops import PushStats

    for p in publishers.publishers:
        if isinstance(p, RegistryPublisher) and p.stats is None:
            p.stats = PushStats(progress=functools.partial(_pushed, reporter, f"pushing {p.ref}"))


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
    if req.plan.target is not None:
        stages = build_stages(req.plan, req.options, reporter, req.export)
        result.update(target=req.plan.target, stages=[stage_json(s) for s in stages],
                      exported=[f"local:{req.export}"] if req.export else [])
    else:
        with store.writing():  # until tagged: `wasmbuild gc` must not take the new blobs
            built = build(req.plan, req.options, reporter)
            result.update(built.to_json())
            _show_pushes(req.publishers, reporter)
            result.update(req.publishers.publish(built.layout, built.descriptor))
            if built.referrers:
                from .publish.referrers import publish_referrers

                result["attached"] = publish_referrers(req.publishers, built.layout, built.referrers)
        stages = built.stages

    if req.cache_to:
        from .cache.shared import export_to

        result["cache_to"] = export_to(req.cache_to, cache, [s.key for s in stages], req.registry)
    return result


def stage_json(s: StageResult) -> dict[str, Any]:
    return {"name": s.name, "cached": s.cached, "seconds": round(s.seconds, 3), "key": s.key}


def check_stage_names(the_plan: Plan, names: Sequence[str], flag: str) -> None:
    unknown = set(names) - set(the_plan.project.stages)
    if unknown:
        raise ConfigError(f"{flag} names unknown stage {sorted(unknown)[0]!r}",
                          hint=f"stages: {', '.join(the_plan.project.stages)}")
