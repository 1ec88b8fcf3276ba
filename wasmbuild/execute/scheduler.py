"""``execute``: run the planned stages, each at most once, cached and in parallel.

Stages run as soon as their inputs are ready (``graphlib``), up to ``jobs`` at a time. For each
stage the key is computed from its inputs' digests and what runs it (``keys.stage_key``); under
the key's lock a build restores the cached outputs or runs the stage and stores them, so builds
sharing a cache never compile the same stage twice at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import graphlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache.digests import DigestMemo
from ..cache.stages import StageCache
from ..dirs import source_date_epoch
from ..errors import BuildError
from ..plan import Plan
from ..render.project import StageSpec
from ..ui import Reporter
from . import limits
from .keys import stage_key
from .probing import ToolRecord

if TYPE_CHECKING:  # what runs a stage is imported when one runs (a build of context files runs none)
    from .executors import Executor, ExecutorFactory
    from .inputs import InputFile
    from .tools import HostTool


def executor_for(spec: StageSpec, *, sandbox: bool = True) -> Executor:
    """:func:`.executors.executor_for` (the default ``ExecuteOptions.executor_factory``)."""
    from .executors import executor_for as pick

    return pick(spec, sandbox=sandbox)


@dataclass(frozen=True)
class ExecuteOptions:
    """How to run a build's stages (``build --jobs``, ``--no-cache``, ``--sandbox``...)."""

    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    no_cache: bool = False
    no_cache_stages: frozenset[str] = frozenset()
    #: Host stages run in the bubblewrap sandbox; False (``--sandbox=off``) runs them unconfined.
    sandbox: bool = True
    #: Picks the backend of each stage, given ``sandbox`` (tests inject fakes; default: host or
    #: container).
    executor_factory: ExecutorFactory = executor_for


@dataclass(frozen=True)
class StageResult:
    name: str
    key: str
    cached: bool
    seconds: float
    #: What ran the stage (``Executor.identity``: toolchain path and version, or builder image id)
    #: and its inputs with their digests: what the SBOM and the provenance record.
    runner: str = ""
    inputs: tuple[InputFile, ...] = ()
    #: What ran it, as the SBOM names it: the toolchain folder's ``facts``, the declared tools,
    #: the builder image (typed: attest never parses ``runner``).
    tools: tuple[ToolRecord, ...] = ()


def _records(executor: Executor, spec: StageSpec, runner: str) -> tuple[ToolRecord, ...]:
    """What the executor says ran ``spec`` (``Executor.tools``), else its identity as one record."""
    tools = getattr(executor, "tools", None)
    if tools is not None:
        return tuple(tools(spec))
    return (ToolRecord("runner", runner[:80]),) if runner not in ("", "host") else ()


class Scheduler:
    """Runs one build's stages; shared state is only the finished outputs."""

    def __init__(self, plan: Plan, options: ExecuteOptions, reporter: Reporter, root: Path,
                 cache: StageCache, memo: DigestMemo):
        self.plan = plan
        self.project = plan.project
        self.options = options
        self.reporter = reporter
        self.root = root
        self.cache = cache
        self.memo = memo
        self.epoch = source_date_epoch()
        self.outputs: dict[str, Path] = {}
        self.noted: set[str] = set()
        self.lock = threading.Lock()

    def run_stage(self, name: str) -> StageResult:
        spec = self.project.stages[name]
        start = time.monotonic()
        base = self.root / name
        src, out, work = base / "src", base / "out", base / "work"
        for d in (src, out, work):
            d.mkdir(parents=True)
        with self.lock:
            ready = dict(self.outputs)
        from . import inputs as stage_inputs
        from .tools import identity_of
        from .tools import resolve as resolve_tools

        found = stage_inputs.stage_inputs(spec, self.project.context, ready, self.memo)
        executor = self.options.executor_factory(spec, sandbox=self.options.sandbox)
        # declared host tools (`tools:`), found and hashed once: in the key and given to the job
        tools = () if spec.builder else resolve_tools(spec, self.memo)
        ran_by = executor.identity(spec)
        runner = ran_by + identity_of(tools)
        records = _records(executor, spec, ran_by) + tuple(t.record for t in tools)
        if spec.component:  # the wrapping tools (wasm-tools, the pinned adapters) shape the outputs
            from ..wasm.component import tools_identity

            runner += ";" + tools_identity()
        key = stage_key(spec, [(i.dest, i.digest) for i in found], runner)
        use_cache = not self.options.no_cache and name not in self.options.no_cache_stages
        self.reporter.stage_start(name)

        def waiting() -> None:
            self.reporter.stage_log(name, f"[{name}] waiting for another build running this stage")

        with self.cache.locked(key, waiting):
            cached = use_cache and self.cache.restore(key, out)
            if not cached:
                stage_inputs.place(found, src, spec, self.memo)
                self._execute(spec, key, executor, src, out, work, runner, use_cache, tools)
        with self.lock:
            self.outputs[name] = out
        elapsed = time.monotonic() - start
        self.reporter.stage_end(name, cached, elapsed)
        return StageResult(name, key, cached, elapsed, runner, tuple(found), records)

    def _execute(self, spec: StageSpec, key: str, executor: Executor, src: Path, out: Path,
                 work: Path, runner: str = "", use_cache: bool = True,
                 tools: tuple[HostTool, ...] = ()) -> None:
        name = spec.name
        if not (use_cache and spec.caches):  # --no-cache: empty
            for _, rel in spec.caches:
                (work / rel).mkdir(parents=True, exist_ok=True)
            # a builder container sees only what is sent in: the empty directories, then
            empty = tuple((rel, work / rel) for _, rel in spec.caches) if spec.builder else ()
            self._run(spec, key, executor, src, out, work, empty, tools)
            return
        # The caches of one project's stage run by one toolchain or builder (see cache/mounts.py).
        from ..cache import mounts

        scope = f"{self.project.context.resolve()}\0{runner}"

        def waiting() -> None:
            self.reporter.stage_log(name, f"[{name}] waiting for another build using this stage's caches")

        with mounts.mounted(name, spec.caches, scope, waiting) as held:
            mounts.restamp(src, held)  # unchanged inputs keep last build's mtimes (make, cargo)
            self._run(spec, key, executor, src, out, work, tuple((m.path, m.data) for m in held), tools)

    def _run(self, spec: StageSpec, key: str, executor: Executor, src: Path, out: Path,
             work: Path, caches: tuple[tuple[str, Path], ...], tools: tuple[HostTool, ...] = ()) -> None:
        from . import toolchains
        from .executors import StageJob, run_job

        name = spec.name
        toolchain = None if spec.builder else toolchains.get(spec.toolchain)
        if toolchain is not None:
            for note in toolchain.notes:
                if "timed out" in note and note not in self.noted:  # a slow probe says so
                    self.noted.add(note)
                    self.reporter.note(f"warning: {spec.toolchain} toolchain probe: {note}; using "
                                       f"{toolchain.identity.split(';')[0]}")
        if toolchain is not None:  # the toolchain folder's own check (a crate's edition...)
            problem = toolchains.check(spec, self.project.context, toolchain)
            if problem is not None:
                raise problem
        job = StageJob(name=name, steps=spec.steps, env=spec.env, src=src, out=out, work=work,
                       network=spec.network, toolchain=toolchain, builder=spec.builder,
                       epoch=self.epoch, where=spec.where, user=spec.user,
                       timeout=limits.stage_timeout(spec.timeout), caches=caches,
                       stable_paths=bool(spec.caches),
                       tools=tools)
        run_job(executor, job, lambda line: self.reporter.stage_log(name, line))
        for declared in spec.outputs:
            if not (out / declared).exists() and not (out / declared).is_symlink():
                raise BuildError(f"stage {name!r} did not produce its declared output {declared!r}",
                                 where=spec.where, hint=f"make the steps write $OUT/{declared}")
        if spec.component:
            wrap_outputs(spec, out, lambda line: self.reporter.stage_log(name, line))
        self.cache.store(key, name, out)
        shutil.rmtree(work, ignore_errors=True)

    def run_all(self) -> list[StageResult]:
        """Run every planned stage; returns their results in plan order. The first failure is
        raised once the stages already running have finished (or been killed on interrupt)."""
        sorter = graphlib.TopologicalSorter(self.plan.deps)
        sorter.prepare()
        results: list[StageResult] = []
        errors: list[BaseException] = []
        with cf.ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
            running: dict[cf.Future[StageResult], str] = {}
            try:
                while sorter.is_active() and not errors:
                    for name in sorter.get_ready():
                        running[pool.submit(self.run_stage, name)] = name
                    if not running:
                        break
                    done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    for fut in done:
                        name = running.pop(fut)
                        exc = fut.exception()
                        if exc is not None:
                            errors.append(exc)
                        else:
                            results.append(fut.result())
                            sorter.done(name)
                cf.wait(running)
            except BaseException:
                from .executors import interrupt_all

                interrupt_all()
                raise
        if errors:
            raise errors[0]
        order = {n: i for i, n in enumerate(self.plan.order)}
        return sorted(results, key=lambda r: order[r.name])


def wrap_outputs(spec: StageSpec, out: Path, log: Callable[[str], None]) -> None:
    """``component: command|reactor``: every core module among the declared outputs becomes a
    component (in place), on this machine, whatever ran the stage."""
    from ..errors import BuildError as _BuildError
    from ..wasm import binary
    from ..wasm.component import wrap

    wrapped = 0
    for declared in spec.outputs:
        top = out / declared
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            if path.is_symlink() or not binary.is_wasm_file(path) or binary.kind_of_file(path) != "module":
                continue
            tmp = path.with_name(path.name + ".component")
            try:
                wrap(path, tmp, spec.component)  # type: ignore[arg-type]
            except _BuildError as exc:
                raise _BuildError(f"stage {spec.name!r}: {exc.message}", where=spec.where, hint=exc.hint) from None
            os.replace(tmp, path)
            wrapped += 1
            log(f"[{spec.name}] wrapped {path.relative_to(out)} as a {spec.component} component")
    if not wrapped:
        raise BuildError(f"stage {spec.name!r} has `component: {spec.component}` but none of its outputs "
                         f"is a core module", where=spec.where,
                         hint="declare the .wasm module as an output, or drop `component:`")
