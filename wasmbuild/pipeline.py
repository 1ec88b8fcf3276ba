"""The whole pipeline in one place: ``load -> render -> plan -> execute -> assemble -> publish``.

Each step takes the previous step's frozen output. :func:`prepare` stops before anything runs
(``check`` and ``plan`` use it); :func:`build` executes and assembles into the local store;
:func:`build_and_publish` adds the stage-cache exchange and the publishers the CLI asked for;
:func:`build_target` is ``build --target STAGE``: the stages up to one, no image. Both return
the one :class:`BuildResult`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .assemble.assemble import AssembleOptions, assemble
from .attest import AttestOptions, attest
from .cache.digests import DigestMemo
from .cache.prune import auto_prune, sweep_all
from .cache.stages import StageCache
from .dirs import cache_area
from .errors import ConfigError
from .execute.scheduler import ExecuteOptions, Scheduler, StageResult
from .failpoints import pause
from .fsutil import remove, sweep, temp_path
from .oci.layout import Layout
from .plan import Plan, prepare
from .publish import MultiPublisher
from .publish.result import BuildResult, BuiltImage
from .reference import name_from_folder
from .ui import NullReporter, Reporter

if TYPE_CHECKING:
    from .registry.transport import RegistryOptions

__all__ = ["BuildOptions", "BuildResult", "BuiltImage", "CacheExchange", "ExecuteOptions", "build", "build_and_publish",
           "build_stages", "build_target", "check_stage_names", "image_names", "prepare"]


@dataclass(frozen=True)
class BuildOptions:
    """How to build: the options of each step, composed (each group is its step's own type)."""

    #: The local store, opened once by the caller: the build writes the image there and the
    #: store publisher tags it there.
    store: Layout
    #: How the stages run (jobs, ``--no-cache``, ``--sandbox``, the executor factory).
    execute: ExecuteOptions = field(default_factory=ExecuteOptions)
    #: The stage cache (default: the user's).
    cache: StageCache | None = None
    #: How to assemble (compression...); its memos are the cache's unless ``uncached``.
    assemble: AssembleOptions = field(default_factory=AssembleOptions)
    #: Do not use the layer, validation and optimisation memos (tests of assembly itself).
    uncached: bool = False
    #: Targets to write (``build --format``); empty: the Wasmfile's ``image.targets``.
    targets: tuple[str, ...] = ()
    #: Images to add to the index by reference (``build --include``), after ``image.include``.
    include: tuple[str, ...] = ()
    #: How to reach registries: included images, ``--cache-from`` and ``--cache-to``.
    registry: RegistryOptions | None = None
    #: The SBOM and provenance attached to the image (``--sbom``, ``--no-sbom``).
    attest: AttestOptions = field(default_factory=AttestOptions)
    #: Targets (triples) to attach precompiled code for (``--precompile``; docs/precompiled.md).
    precompile: tuple[str, ...] = ()


@dataclass(frozen=True)
class CacheExchange:
    """``--cache-from`` / ``--cache-to``: stage cache entries shared through a registry."""

    cache_from: Sequence[str] = ()
    cache_to: str | None = None


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
    with _work_dir() as root:
        results = Scheduler(the_plan, options.execute, reporter, root, cache, memo).run_all()
        yield _Run(root, results, memo)
    with contextlib.suppress(OSError):
        auto_prune(cache)
        memo.save()


def build(the_plan: Plan, options: BuildOptions, reporter: Reporter | None = None) -> BuiltImage:
    """Run the stages and assemble the image into the store. Nothing is tagged here: the caller
    publishes (and so should hold ``store.writing()`` until it has, see :func:`build_and_publish`)."""
    reporter = reporter or NullReporter()
    store = options.store
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


def build_stages(the_plan: Plan, options: BuildOptions, reporter: Reporter | None = None,
                 export: Path | None = None) -> tuple[StageResult, ...]:
    """Run the planned stages and no more (``--target``): no image. With ``export``, the target
    stage's outputs are copied there (``-o local:DIR``) before the build's scratch goes."""
    from .publish.local import export_dir

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


def _pushed(reporter: Reporter, label: str, done: int, total: int) -> None:
    reporter.transfer(label, done, total, done >= total)


def _show_pushes(publishers: MultiPublisher, reporter: Reporter) -> None:
    """Each registry push's bytes and rate on the live display (``Reporter.transfer``)."""
    from .publish import RegistryPublisher

    for p in publishers.publishers:
        if isinstance(p, RegistryPublisher) and p.stats is None:
            from .registry.ops import PushStats  # only for a push: it brings the HTTP client

            p.stats = PushStats(progress=functools.partial(_pushed, reporter, f"pushing {p.ref}"))


def _exchange_in(options: BuildOptions, exchange: CacheExchange,
                 reporter: Reporter) -> tuple[BuildOptions, int | None]:
    """The options with their stage cache made concrete (the exchange imports into it and
    exports from it), and how many entries ``--cache-from`` imported (``None``: not asked)."""
    cache = options.cache or StageCache()
    options = dataclasses.replace(options, cache=cache)
    if not exchange.cache_from:
        return options, None
    from .cache.shared import import_from

    imported = 0
    for ref in exchange.cache_from:
        keys, reason = import_from(ref, cache, _registry(options))
        imported += len(keys)
        reporter.note(reason or f"imported {len(keys)} stage cache entries from {ref}")
    return options, imported


def _exchange_out(options: BuildOptions, exchange: CacheExchange,
                  stages: Sequence[StageResult]) -> str | None:
    """``--cache-to``: push this build's stage cache entries; returns the index's name@digest."""
    if not exchange.cache_to:
        return None
    from .cache.shared import export_to

    assert options.cache is not None  # made concrete by _exchange_in
    return export_to(exchange.cache_to, options.cache, [s.key for s in stages], _registry(options))


def _registry(options: BuildOptions) -> RegistryOptions:
    from .registry.transport import RegistryOptions

    return options.registry or RegistryOptions()


def build_and_publish(the_plan: Plan, options: BuildOptions, publishers: MultiPublisher,
                      reporter: Reporter, exchange: CacheExchange = CacheExchange()) -> BuildResult:
    """``wasmbuild build``: import shared cache entries, build the image, publish it (and its
    referrers) to every destination, export the cache. A ``--target`` plan: :func:`build_target`."""
    if the_plan.target is not None:
        raise ValueError(f"plan of --target {the_plan.target}: no image to publish (use build_target)")
    options, imported = _exchange_in(options, exchange, reporter)
    with options.store.writing():  # until tagged: `wasmbuild gc` must not take the new blobs
        built = build(the_plan, options, reporter)
        _show_pushes(publishers, reporter)
        published = publishers.publish(built.layout, built.descriptor)
        attached = None
        if built.referrers:
            from .publish.referrers import publish_referrers

            attached = tuple(publish_referrers(publishers, built.layout, built.referrers))
    return BuildResult(built.stages, image=built, published=published, attached=attached,
                       cache_imported=imported, cache_to=_exchange_out(options, exchange, built.stages))


def build_target(the_plan: Plan, options: BuildOptions, reporter: Reporter, export: Path | None = None,
                 exchange: CacheExchange = CacheExchange()) -> BuildResult:
    """``wasmbuild build --target STAGE`` (``the_plan`` from ``prepare(..., target=STAGE)``):
    import shared cache entries, run that stage and what it needs, copy its outputs to
    ``export`` (``-o local:DIR``), export the cache. No image."""
    if the_plan.target is None:
        raise ValueError("build_target needs a plan with a target (prepare(..., target=STAGE))")
    options, imported = _exchange_in(options, exchange, reporter)
    stages = build_stages(the_plan, options, reporter, export)
    return BuildResult(stages, target=the_plan.target, exported=(f"local:{export}",) if export else (),
                       cache_imported=imported, cache_to=_exchange_out(options, exchange, stages))


def check_stage_names(the_plan: Plan, names: Sequence[str], flag: str) -> None:
    unknown = set(names) - set(the_plan.project.stages)
    if unknown:
        raise ConfigError(f"{flag} names unknown stage {sorted(unknown)[0]!r}",
                          hint=f"stages: {', '.join(the_plan.project.stages)}")
