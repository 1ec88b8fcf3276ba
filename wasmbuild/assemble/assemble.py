"""``assemble``: the stages' outputs and context files -> a FROM-scratch image in a layout.

One deterministic layer holds every image file; config and manifest follow (``image.py``), once
per target (``targets.py``), under an index when there are several (with any included images,
``include.py``). The result is a descriptor in the target layout (the local store), untagged:
naming it is a publisher's job.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..dirs import cache_area, source_date_epoch
from ..errors import BuildError
from ..execute.limits import max_layer_files
from ..ignore import Lister, load_ignore
from ..oci import Descriptor
from ..oci.graph import platform_text, walk
from ..oci.layout import Layout
from ..paths import clean_image_path, clean_relative
from ..plan import Plan
from . import validate
from .compress import Compression
from .image import ImageSpec
from .include import resolve as resolve_includes
from .layer import Entry, LayerMemo, TooManyEntries, collect, content_digests
from .optimize import optimize_entries, rules_for
from .targets import Inputs, write_index, write_targets

if TYPE_CHECKING:
    from ..registry.transport import RegistryOptions
    from ..wasm.binary import Kind

#: The WIT world a component entrypoint targets, e.g. ``wasi:cli/command`` (manifest annotation).
WORLD_ANNOTATION = "dev.wasmbuild.component.world"


@dataclass(frozen=True)
class Assembled:
    manifest: Descriptor  # the image manifest, or the index of several targets
    size: int  # bytes of every blob under it (configs, layers, manifests, index)
    layer_reused: bool  # the layer blobs came from the memo, not a new compression
    #: (target, manifest descriptor) of each target; included images as ("include", ...).
    targets: tuple[tuple[str, Descriptor], ...] = ()


@dataclass(frozen=True)
class AssembleOptions:
    #: Reuse unchanged layers and gzip segments (``None``: always compress afresh).
    layer_memo: Path | None = None
    #: Remember modules wasmtime validated (``None``: validate every time).
    valid_memo: Path | None = None
    #: Where optimised modules are kept, by content and settings (``optimize:``).
    optimized: Path | None = None
    #: Layer compression (``None``: gzip at the default level).
    compression: Compression | None = None
    #: Progress notes (sizes before and after ``optimize:``).
    note: Callable[[str], None] | None = None
    #: Bytes compressed so far (``Reporter.transfer``), for the live display.
    transfer: Callable[[str, int, int, bool], None] | None = None

    def cached(self) -> AssembleOptions:
        """These options with every memo in its cache area."""
        return dataclasses.replace(self, layer_memo=cache_area("layers"),
                                   valid_memo=cache_area("wasm-valid"),
                                   optimized=cache_area("optimized"))


def image_files(plan: Plan, outputs: Mapping[str, Path]) -> list[tuple[str, Path, int | None]]:
    """(image path, source, mode) of every ``image.files`` entry."""
    project = plan.project
    files: list[tuple[str, Path, int | None]] = []
    ignore = load_ignore(project.context)
    for i, f in enumerate(project.model.image.files):
        if f.src is not None:
            source = project.context / clean_relative(f.src)
            if ignore is not None:
                ignore.check_named(clean_relative(f.src), "image file",
                                   project.positions.where(("image", "files", i, "src")))
        else:
            assert f.from_ is not None
            source = outputs[f.from_] / clean_relative(f.path or "")
            if not source.exists() and not source.is_symlink():
                raise BuildError(f"stage {f.from_!r} has no output {f.path!r} for the image",
                                 where=project.stages[f.from_].where)
        files.append((clean_image_path(f.dest), source, f.mode))
    return files


def image_listers(plan: Plan) -> list[Lister | None]:
    """For each ``image.files`` entry, what to take from its directories: a ``src:`` directory
    leaves out what the context's ``.wasmignore`` ignores; a stage's outputs are taken whole."""
    ignore = load_ignore(plan.project.context)
    return [ignore.lister if ignore is not None and f.src is not None else None
            for f in plan.project.model.image.files]


def assemble(plan: Plan, outputs: Mapping[str, Path], layout: Layout,
             options: AssembleOptions | None = None, *, targets: Sequence[str] = (),
             include: Sequence[str] = (), registry: RegistryOptions | None = None,
             note: Callable[[str], None] = lambda _: None) -> Assembled:
    """Write the image into ``layout``: one manifest per target (``targets``, default the
    Wasmfile's ``image.targets``), under one index when there are several or when images are
    included (``image.include`` then ``include``)."""
    options = options or AssembleOptions()
    project = plan.project
    image = project.model.image
    limit = max_layer_files()
    try:
        entries = collect(image_files(plan, outputs), image_listers(plan), limit)
    except TooManyEntries as exc:
        raise BuildError(f"the image layer would hold more than {limit:,} files and directories "
                         f"(at {exc.args[0]})", where=project.positions.where(("image", "files")),
                         hint="put fewer files in the image, or raise WASMBUILD_MAX_LAYER_FILES") from None
    rules = rules_for(project.model)
    if rules:
        optimized = options.optimized or Path(tempfile.mkdtemp(prefix="wasmbuild-opt-"))
        entries = optimize_entries(entries, rules, optimized, options.note)
    epoch = source_date_epoch()
    memo = LayerMemo(options.layer_memo) if options.layer_memo is not None else None
    entry = image.entrypoint[0]
    target = clean_image_path(entry if entry.startswith("/") else f"{image.workdir}/{entry}")
    where = project.positions.where(("image", "entrypoint"))
    module = validate.entrypoint_module(entries, target, entry, where)
    module_kind = validate.module_kind(module, entry, where)  # once: every target and check ask it
    annotations = dict(image.annotations)
    assert module.source is not None
    if module_kind == "component":  # a WASI 0.2 component says so
        from ..wasm import binary

        world = binary.component_world(module.source).name
        if world:
            annotations.setdefault(WORLD_ANNOTATION, world)
    spec = ImageSpec(platform=image.platform, entrypoint=list(image.entrypoint),
                     cmd=list(image.cmd), env=dict(image.env), workdir=image.workdir,
                     labels=dict(image.labels), annotations=annotations,
                     variant=image.variant)
    names = tuple(dict.fromkeys(targets or image.targets))
    digests = content_digests(entries)  # once: the layers' memo keys and the validation memo
    inputs = Inputs(spec, entries, module, epoch, project.positions.where(("image", "targets")),
                    options.compression, options.transfer, module_kind, digests)
    # The layers are written in a thread (zlib-ng deflates off the GIL, on every core) while
    # this one checks the entrypoint (importing wasmtime and the checks are mostly Python).
    job = _in_background(write_targets, layout, inputs, names, memo)
    try:
        validate.check_module(module, digests.get(module.path), entry, where, options.valid_memo,
                              kind=module_kind)
        _preflight(module, module_kind, entry, where, names, note)
    except Exception:
        job.result()  # a layer's or a target's error first, as when they were written before the checks
        raise
    written, layers = job.result()
    extra = list(image.include) + list(include)
    done = tuple((w.target, w.desc) for w in written)
    if len(written) == 1 and not extra:
        top = written[0].desc
    else:
        taken = {platform_text(w.desc): f"target {w.target}" for w in written}
        n_wasmfile = len(image.include)

        def include_where(i: int) -> str | None:
            return project.positions.where(("image", "include", i)) if i < n_wasmfile else "--include"

        included = resolve_includes(extra, layout, taken, where=include_where, opts=registry,
                                    note=note)
        top = write_index(layout, [w.index_entry() for w in written] + included)
        done += tuple(("include", Descriptor.from_json(e)) for e in included)
    size = sum(d.size for d in walk(top, layout.read_json))
    return Assembled(top, size, all(layers.reused), done)


def _preflight(module: Entry, kind: Kind, entry: str, where: str, names: Sequence[str],
               note: Callable[[str], None]) -> None:
    """The pre-flight notes on the entrypoint: what the targets' runtimes cannot run."""
    from ..oci.preflight import for_component, for_module

    assert module.source is not None
    if kind == "component":
        for finding in for_component(names):  # a runtime that runs core modules only
            note(finding.render())
    else:  # a core module's own facts: a reactor, a proposal the runtime lacks
        for finding in for_module(module.source.read_bytes(), entry, names):
            note(f"warning: {where}: {finding.message}")


_T = TypeVar("_T")


def _in_background(fn: Callable[..., _T], *args: object) -> cf.Future[_T]:
    """``fn(*args)`` in a daemon thread: an interrupted build exits without waiting for it
    (what it leaves is a dead writer's temp file, which ``sweep`` removes)."""
    future: cf.Future[_T] = cf.Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # re-raised by result() in the caller's thread
                future.set_exception(exc)

    threading.Thread(target=run, name="wasmbuild-layers", daemon=True).start()
    return future
