"""``assemble``: the stages' outputs and context files -> a FROM-scratch image in a layout.

One deterministic layer holds every image file; config and manifest follow (``image.py``). The
result is a manifest descriptor in the target layout (the local store), untagged: naming it is a
publisher's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..dirs import cache_area, source_date_epoch
from ..errors import BuildError
from ..execute.limits import max_layer_files
from ..oci import Descriptor
from ..oci.layout import Layout
from ..paths import clean_image_path, clean_relative
from ..plan import Plan
from . import validate
from .image import ImageSpec, write_image
from .layer import LayerMemo, TooManyEntries, cached_layer, collect


@dataclass(frozen=True)
class Assembled:
    manifest: Descriptor
    size: int  # bytes of config + layers + manifest
    layer_reused: bool  # the layer blob came from the memo, not a new compression


@dataclass(frozen=True)
class AssembleOptions:
    #: Reuse unchanged layers and gzip segments (``None``: always compress afresh).
    layer_memo: Path | None = None
    #: Remember modules wasmtime validated (``None``: validate every time).
    valid_memo: Path | None = None

    @classmethod
    def cached(cls) -> AssembleOptions:
        return cls(cache_area("layers"), cache_area("wasm-valid"))


def image_files(plan: Plan, outputs: Mapping[str, Path]) -> list[tuple[str, Path, int | None]]:
    """(image path, source, mode) of every ``image.files`` entry."""
    project = plan.project
    files: list[tuple[str, Path, int | None]] = []
    for f in project.model.image.files:
        if f.src is not None:
            source = project.context / clean_relative(f.src)
        else:
            assert f.from_ is not None
            source = outputs[f.from_] / clean_relative(f.path or "")
            if not source.exists() and not source.is_symlink():
                raise BuildError(f"stage {f.from_!r} has no output {f.path!r} for the image",
                                 where=project.stages[f.from_].where)
        files.append((clean_image_path(f.dest), source, f.mode))
    return files


def assemble(plan: Plan, outputs: Mapping[str, Path], layout: Layout,
             options: AssembleOptions | None = None) -> Assembled:
    """Write the image (layer, config, manifest) into ``layout``."""
    options = options or AssembleOptions()
    image = plan.project.model.image
    limit = max_layer_files()
    try:
        entries = collect(image_files(plan, outputs), limit)
    except TooManyEntries as exc:
        raise BuildError(f"the image layer would hold more than {limit:,} files and directories "
                         f"(at {exc.args[0]})", where=plan.project.positions.where(("image", "files")),
                         hint="put fewer files in the image, or raise WASMBUILD_MAX_LAYER_FILES") from None
    epoch = source_date_epoch()
    memo = LayerMemo(options.layer_memo) if options.layer_memo is not None else None
    layer, diff_id, reused, digests = cached_layer(entries, epoch, layout, memo)
    entry = image.entrypoint[0]
    target = clean_image_path(entry if entry.startswith("/") else f"{image.workdir}/{entry}")
    where = plan.project.positions.where(("image", "entrypoint"))
    module = validate.entrypoint_module(entries, target, entry, where)
    validate.check_module(module, digests.get(module.path), entry, where, options.valid_memo)
    spec = ImageSpec(platform=image.platform, entrypoint=list(image.entrypoint),
                     cmd=list(image.cmd), env=dict(image.env), workdir=image.workdir,
                     labels=dict(image.labels), annotations=dict(image.annotations),
                     variant=image.variant)
    manifest = write_image(layout, spec, [(layer, diff_id)], epoch)
    config_size = layout.read_json(manifest.digest)["config"]["size"]
    return Assembled(manifest, manifest.size + int(config_size) + layer.size, reused)
