"""``execute`` and ``assemble``: run the planned stages (cached, in parallel) and write the image.

The result is a manifest in an OCI layout (the local store) and its digest; where it goes next
(a tag in the store, ``oci:DIR``, an archive, a registry) is the job of an output/publisher.
"""

from __future__ import annotations

import concurrent.futures as cf
import graphlib
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import fetch, toolchains
from .dirs import cache_dir, source_date_epoch
from .errors import BuildError, WasmbuildError
from .executors import Executor, StageJob
from .hashing import tree_sha256
from .oci import Descriptor
from .oci.image import ImageSpec, write_image
from .oci.layer import Entry, collect, write_layer
from .oci.layout import Layout
from .paths import clean_image_path, clean_relative
from .plan import Plan
from .stagecache import StageCache, stage_key
from .wasmfile.loader import StageSpec


class Reporter(Protocol):
    def stage_start(self, name: str) -> None: ...
    def stage_log(self, name: str, line: str) -> None: ...
    def stage_end(self, name: str, cached: bool, seconds: float) -> None: ...
    def note(self, text: str) -> None: ...


class NullReporter:
    def stage_start(self, name: str) -> None:
        pass

    def stage_log(self, name: str, line: str) -> None:
        pass

    def stage_end(self, name: str, cached: bool, seconds: float) -> None:
        pass

    def note(self, text: str) -> None:
        pass


@dataclass
class BuildOptions:
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    no_cache: bool = False
    no_cache_stages: frozenset[str] = frozenset()
    cache: StageCache | None = None
    store: Layout | None = None


@dataclass(frozen=True)
class StageResult:
    name: str
    key: str
    cached: bool
    seconds: float


@dataclass(frozen=True)
class BuiltImage:
    layout: Layout
    descriptor: Descriptor
    stages: tuple[StageResult, ...]
    size: int  # bytes of config + layers + manifest

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "size": self.size,
            "platform": self.descriptor.platform,
            "stages": [
                {"name": s.name, "cached": s.cached, "seconds": round(s.seconds, 3), "key": s.key}
                for s in self.stages
            ],
        }


def _executor_for(spec: StageSpec) -> Executor:
    if spec.builder:
        from .executors.container import ContainerExecutor

        return ContainerExecutor()
    from .executors.host import HostExecutor

    return HostExecutor()


def _copy_in(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy(src, dest)  # content and mode bits; never timestamps or owners


class _Runner:
    """Runs one build's stages; shared state is only the finished outputs."""

    def __init__(self, plan: Plan, options: BuildOptions, reporter: Reporter, root: Path):
        self.plan = plan
        self.project = plan.project
        self.options = options
        self.reporter = reporter
        self.root = root
        self.cache = options.cache if options.cache is not None else StageCache()
        self.epoch = source_date_epoch()
        self.outputs: dict[str, Path] = {}
        self.lock = threading.Lock()

    def _stage_inputs(self, spec: StageSpec, src: Path) -> list[tuple[str, str]]:
        """Copy the inputs under ``src``; returns (dest, content digest) pairs for the key."""
        material: list[tuple[str, str]] = []
        for inp in spec.inputs:
            if inp.src is not None:
                origin = self.project.context / clean_relative(inp.src)
                dest = inp.dest or inp.src
            elif inp.from_ is not None:
                origin = self.outputs[inp.from_] / clean_relative(inp.path or "")
                dest = inp.dest or inp.path or ""
                if not origin.exists():
                    raise BuildError(f"stage {spec.name!r}: input {inp.path!r} is missing from "
                                     f"the outputs of stage {inp.from_!r}", where=spec.where)
            else:
                assert inp.url is not None and inp.sha256 is not None
                origin = fetch.fetch(inp.url, inp.sha256)
                dest = inp.dest or inp.url.rstrip("/").rsplit("/", 1)[-1]
            target = src / clean_relative(dest)
            _copy_in(origin, target)
            material.append((clean_relative(dest), tree_sha256(target)))
        return material

    def run_stage(self, name: str) -> StageResult:
        spec = self.project.stages[name]
        start = time.monotonic()
        base = self.root / name
        src, out, work = base / "src", base / "out", base / "work"
        for d in (src, out, work):
            d.mkdir(parents=True)
        inputs = self._stage_inputs(spec, src)
        toolchain = None if spec.builder else toolchains.get(spec.toolchain)
        executor = _executor_for(spec)
        identity = (executor.identity(spec) if hasattr(executor, "identity")
                    else (toolchain.identity if toolchain else "host"))
        key = stage_key({
            "steps": list(spec.steps), "env": spec.env, "network": spec.network,
            "outputs": list(spec.outputs), "inputs": inputs, "runner": identity,
        })
        use_cache = not self.options.no_cache and name not in self.options.no_cache_stages
        self.reporter.stage_start(name)
        if use_cache and self.cache.restore(key, out):
            self._publish(name, out)
            elapsed = time.monotonic() - start
            self.reporter.stage_end(name, True, elapsed)
            return StageResult(name, key, True, elapsed)
        job = StageJob(name=name, steps=spec.steps, env=spec.env, src=src, out=out, work=work,
                       network=spec.network, toolchain=toolchain, builder=spec.builder,
                       epoch=self.epoch, where=spec.where)
        executor.run(job, lambda line: self.reporter.stage_log(name, line))
        for declared in spec.outputs:
            if not (out / declared).exists() and not (out / declared).is_symlink():
                raise BuildError(f"stage {name!r} did not produce its declared output {declared!r}",
                                 where=spec.where, hint=f"make the steps write $OUT/{declared}")
        self.cache.store(key, name, out)
        shutil.rmtree(work, ignore_errors=True)
        self._publish(name, out)
        elapsed = time.monotonic() - start
        self.reporter.stage_end(name, False, elapsed)
        return StageResult(name, key, False, elapsed)

    def _publish(self, name: str, out: Path) -> None:
        with self.lock:
            self.outputs[name] = out

    def run_all(self) -> list[StageResult]:
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
                from .executors.host import kill_all

                kill_all()
                raise
        if errors:
            raise errors[0]
        return results


def _entrypoint_check(plan: Plan, entries: list[Entry]) -> None:
    image = plan.project.model.image
    entry = image.entrypoint[0]
    target = clean_image_path(entry if entry.startswith("/") else f"{image.workdir}/{entry}")
    found = next((e for e in entries if e.path == target.lstrip("/")), None)
    where = plan.project.positions.where(("image", "entrypoint"))
    if found is None or found.kind != "file" or found.source is None:
        raise BuildError(f"entrypoint {entry!r} ({target}) is not a file in the image", where=where,
                         hint="add it under image.files")
    data = found.source.read_bytes()
    if data[:4] != b"\0asm":
        raise BuildError(f"entrypoint {entry!r} is not a WebAssembly module (no \\0asm header)",
                         where=where, hint="point the entrypoint at a .wasm file built by a stage")
    import wasmtime

    try:
        wasmtime.Module.validate(wasmtime.Engine(), data)
    except Exception as exc:  # wasmtime raises WasmtimeError with a multi-line text
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BuildError(f"entrypoint {entry!r} is not a valid WebAssembly module: {first}",
                         where=where) from None


def assemble(plan: Plan, outputs: dict[str, Path], layout: Layout) -> tuple[Descriptor, int]:
    """Write the image (layer, config, manifest) into ``layout``; returns (manifest, size)."""
    project = plan.project
    image = project.model.image
    files: list[tuple[str, Path, int | None]] = []
    for f in image.files:
        if f.src is not None:
            source = project.context / clean_relative(f.src)
        else:
            assert f.from_ is not None
            source = outputs[f.from_] / clean_relative(f.path or "")
            if not source.exists():
                raise BuildError(f"stage {f.from_!r} has no output {f.path!r} for the image",
                                 where=project.stages[f.from_].where)
        files.append((clean_image_path(f.dest), source, f.mode))
    entries = collect(files)
    _entrypoint_check(plan, entries)
    epoch = source_date_epoch()
    layer, diff_id = write_layer(entries, epoch, layout)
    spec = ImageSpec(platform=image.platform, entrypoint=list(image.entrypoint), cmd=list(image.cmd),
                     env=dict(image.env), workdir=image.workdir, labels=dict(image.labels),
                     annotations=dict(image.annotations), variant=image.variant)
    manifest = write_image(layout, spec, [(layer, diff_id)], epoch)
    config_size = layout.read_json(manifest.digest)["config"]["size"]
    return manifest, manifest.size + int(config_size) + layer.size


def build(plan: Plan, options: BuildOptions | None = None,
          reporter: Reporter | None = None) -> BuiltImage:
    """Run the stages and assemble the image into the store. Nothing is tagged here."""
    options = options or BuildOptions()
    reporter = reporter or NullReporter()
    from .store import open_store

    store = options.store or open_store()
    builds = cache_dir() / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="build-", dir=builds))
    try:
        runner = _Runner(plan, options, reporter, root)
        results = runner.run_all()
        order = {n: i for i, n in enumerate(plan.order)}
        results.sort(key=lambda r: order[r.name])
        manifest, size = assemble(plan, runner.outputs, store)
    except WasmbuildError:
        raise
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return BuiltImage(store, manifest, tuple(results), size)
