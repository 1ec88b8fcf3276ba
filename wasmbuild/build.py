"""``execute`` and ``assemble``: run the planned stages (cached, in parallel) and write the image.

The result is a manifest in an OCI layout (the local store) and its digest; where it goes next
(a tag in the store, ``oci:DIR``, an archive, a registry) is the job of an output/publisher.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import graphlib
import hashlib
import importlib.util
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import fetch, toolchains, toolmemo
from .dirs import cache_dir, source_date_epoch
from .errors import BuildError
from .executors import Executor, StageJob
from .hashing import save_memo, tree_sha256
from .oci import Descriptor
from .oci.image import ImageSpec, write_image
from .oci.layer import Entry, LayerMemo, cached_layer, collect, sweep_layer_temps
from .oci.layout import Layout
from .paths import clean_image_path, clean_relative
from .plan import Plan
from .stagecache import StageCache, stage_key
from .testhooks import pause
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


def _executor_for(spec: StageSpec) -> Executor:
    if spec.builder:
        from .executors.builder import ContainerExecutor

        return ContainerExecutor()
    from .executors.host import HostExecutor

    return HostExecutor()


def _copy_in(src: Path, dest: Path, top: bool = True) -> str:
    """Copy ``src`` to ``dest`` (content and mode bits, never timestamps or owners; symlinks
    inside a directory as symlinks, a symlink named as the input itself followed) and return
    :func:`tree_sha256` of the copy, reading each file once."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    if src.is_symlink() and not top:
        link = os.readlink(src)
        os.symlink(link, dest)
        h.update(b"L" + link.encode())
    elif src.is_dir():
        dest.mkdir(exist_ok=True)
        shutil.copymode(src, dest)
        h.update(b"D")
        for child in sorted(src.iterdir(), key=lambda c: c.name):
            digest = _copy_in(child, dest / child.name, top=False)
            h.update(child.name.encode() + b"\0" + digest.encode())
    elif src.is_file():
        content = hashlib.sha256()
        with open(src, "rb") as fin, open(dest, "wb") as fout:
            while chunk := fin.read(1 << 20):
                content.update(chunk)
                fout.write(chunk)
        shutil.copymode(src, dest)
        executable = b"x" if dest.stat().st_mode & 0o111 else b"-"
        h.update(b"F" + executable + content.hexdigest().encode())
    else:
        return tree_sha256(src)  # a socket or fifo: not copied, hashed as tree_sha256 does
    return h.hexdigest()


class _Runner:
    """Runs one build's stages; shared state is only the finished outputs."""

    def __init__(self, plan: Plan, options: BuildOptions, reporter: Reporter, root: Path,
                 cache: StageCache):
        self.plan = plan
        self.project = plan.project
        self.options = options
        self.reporter = reporter
        self.root = root
        self.cache = cache
        self.epoch = source_date_epoch()
        self.outputs: dict[str, Path] = {}
        self.lock = threading.Lock()

    def _stage_inputs(self, spec: StageSpec) -> list[tuple[str, Path, str]]:
        """(dest, origin, content digest) of each input. Nothing is copied yet: a cache hit
        never needs the inputs, only their digests (remembered for big unchanged files)."""
        material: list[tuple[str, Path, str]] = []
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
            material.append((clean_relative(dest), origin, tree_sha256(origin, remember=True)))
        return material

    def run_stage(self, name: str) -> StageResult:
        spec = self.project.stages[name]
        start = time.monotonic()
        base = self.root / name
        src, out, work = base / "src", base / "out", base / "work"
        for d in (src, out, work):
            d.mkdir(parents=True)
        inputs = self._stage_inputs(spec)
        toolchain = None if spec.builder else toolmemo.get(spec.toolchain)
        executor = _executor_for(spec)
        if spec.builder:
            from .executors.builder import ContainerExecutor

            identity = ContainerExecutor().identity(spec.builder)
        else:
            identity = toolchain.identity if toolchain else "host"
        key = stage_key({
            "steps": list(spec.steps), "env": spec.env, "network": spec.network, "user": spec.user,
            "outputs": list(spec.outputs), "inputs": [(d, h) for d, _, h in inputs], "runner": identity,
        })
        use_cache = not self.options.no_cache and name not in self.options.no_cache_stages
        self.reporter.stage_start(name)

        def waiting() -> None:
            self.reporter.stage_log(name, f"[{name}] waiting for another build running this stage")

        # The key's lock makes "restore, or run and store" one step for every build sharing the
        # cache: a second build of the same stage waits, then restores instead of recompiling.
        with self.cache.locked(key, waiting):
            cached = use_cache and self.cache.restore(key, out)
            if not cached:
                for dest, origin, digest in inputs:
                    if _copy_in(origin, src / dest) != digest:
                        raise BuildError(f"stage {name!r}: input {dest!r} changed while building",
                                         where=spec.where, hint="build again")
                self._execute(spec, key, toolchain, executor, src, out, work)
        self._publish(name, out)
        elapsed = time.monotonic() - start
        self.reporter.stage_end(name, cached, elapsed)
        return StageResult(name, key, cached, elapsed)

    def _execute(self, spec: StageSpec, key: str, toolchain: toolchains.Toolchain | None,
                 executor: Executor, src: Path, out: Path, work: Path) -> None:
        name = spec.name
        job = StageJob(name=name, steps=spec.steps, env=spec.env, src=src, out=out, work=work,
                       network=spec.network, toolchain=toolchain, builder=spec.builder,
                       epoch=self.epoch, where=spec.where, user=spec.user)
        executor.run(job, lambda line: self.reporter.stage_log(name, line))
        for declared in spec.outputs:
            if not (out / declared).exists() and not (out / declared).is_symlink():
                raise BuildError(f"stage {name!r} did not produce its declared output {declared!r}",
                                 where=spec.where, hint=f"make the steps write $OUT/{declared}")
        self.cache.store(key, name, out)
        shutil.rmtree(work, ignore_errors=True)

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


def _entrypoint_check(plan: Plan, entries: list[Entry], digests: dict[str, str],
                      memo: Path | None) -> None:
    image = plan.project.model.image
    entry = image.entrypoint[0]
    target = clean_image_path(entry if entry.startswith("/") else f"{image.workdir}/{entry}")
    found = next((e for e in entries if e.path == target.lstrip("/")), None)
    where = plan.project.positions.where(("image", "entrypoint"))
    if found is None or found.kind != "file" or found.source is None:
        raise BuildError(f"entrypoint {entry!r} ({target}) is not a file in the image", where=where,
                         hint="add it under image.files")
    # A module this wasmtime accepted once is not validated again (CPython's takes ~0.5 s, and
    # importing wasmtime ~0.06 s): the marker names the content digest and wasmtime's install.
    marker = None
    if memo is not None and found.path in digests:
        spec = importlib.util.find_spec("wasmtime")
        origin = os.stat(spec.origin).st_mtime_ns if spec and spec.origin else 0
        marker = memo / f"{digests[found.path]}-{origin}"
        if marker.exists():
            return
    import wasmtime

    data = found.source.read_bytes()
    if data[:4] != b"\0asm":
        raise BuildError(f"entrypoint {entry!r} is not a WebAssembly module (no \\0asm header)",
                         where=where, hint="point the entrypoint at a .wasm file built by a stage")
    from .wasm import binary

    try:
        if binary.kind(data, f"entrypoint {entry!r}") == "component":  # wasmtime: modules only
            binary.validate(found.source)
        else:
            wasmtime.Module.validate(wasmtime.Engine(), data)
    except BuildError as exc:
        raise BuildError(exc.message, where=where, hint=exc.hint) from None
    except Exception as exc:  # wasmtime raises WasmtimeError with a multi-line text
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BuildError(f"entrypoint {entry!r} is not a valid WebAssembly module: {first}",
                         where=where) from None
    if marker is not None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


def assemble(plan: Plan, outputs: dict[str, Path], layout: Layout,
             memo_dir: Path | None = None) -> tuple[Descriptor, int, bool]:
    """Write the image (layer, config, manifest) into ``layout``.

    Returns (manifest, size, layer reused). With ``memo_dir`` an unchanged layer is taken from
    ``layout`` instead of being compressed again, and a validated entrypoint is not re-validated.
    """
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
    epoch = source_date_epoch()
    memo = LayerMemo(memo_dir / "layers") if memo_dir is not None else None
    layer, diff_id, reused, digests = cached_layer(entries, epoch, layout, memo)
    _entrypoint_check(plan, entries, digests, memo_dir / "wasm-valid" if memo_dir else None)
    spec = ImageSpec(platform=image.platform, entrypoint=list(image.entrypoint),
                     cmd=list(image.cmd), env=dict(image.env), workdir=image.workdir,
                     labels=dict(image.labels),
                     annotations=dict(image.annotations), variant=image.variant)
    manifest = write_image(layout, spec, [(layer, diff_id)], epoch)
    config_size = layout.read_json(manifest.digest)["config"]["size"]
    return manifest, manifest.size + int(config_size) + layer.size, reused


def _sweep_builds(builds: Path) -> None:
    """Remove work dirs of builds that died (kill -9): a live build holds a flock on its dir."""
    for d in builds.glob("build-*"):
        try:
            if time.time() - d.stat().st_mtime < 60:
                continue  # may be between mkdtemp and flock
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: a running build
        else:
            shutil.rmtree(d, ignore_errors=True)
        finally:
            os.close(fd)


def build(plan: Plan, options: BuildOptions | None = None,
          reporter: Reporter | None = None) -> BuiltImage:
    """Run the stages and assemble the image into the store. Nothing is tagged here."""
    options = options or BuildOptions()
    reporter = reporter or NullReporter()
    from .store import open_store

    store = options.store or open_store()
    builds = cache_dir() / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    _sweep_builds(builds)
    cache = options.cache if options.cache is not None else StageCache()
    cache.sweep()
    sweep_layer_temps(store)
    root = Path(tempfile.mkdtemp(prefix="build-", dir=builds))
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(root_fd, fcntl.LOCK_EX)  # "in use" for _sweep_builds; the kernel drops it on death
    try:
        runner = _Runner(plan, options, reporter, root, cache)
        results = runner.run_all()
        order = {n: i for i, n in enumerate(plan.order)}
        results.sort(key=lambda r: order[r.name])
        manifest, size, reused = assemble(plan, runner.outputs, store, cache_dir())
        pause("image")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        os.close(root_fd)
    with contextlib.suppress(OSError):
        cache.auto_prune()
        save_memo()
    return BuiltImage(store, manifest, tuple(results), size, reused)
