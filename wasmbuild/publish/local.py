"""``-o local:DIR`` (buildx: ``--output type=local,dest=DIR``): files, not an image.

Without ``--target`` the image's root filesystem is written into DIR (its layers applied in
order, whiteouts honoured, and a raw Wasm layer -- runwasi's module, an artifact's -- written as
the file it stands for, :func:`wasm_layer_paths`); with ``--target STAGE`` the stage's outputs are (see
``pipeline.build_stages``). As buildx's local exporter does, DIR is created if needed and files
already there are overwritten or left alone, never removed wholesale.

Also the buildx spelling of every output (``type=oci,dest=FILE`` and friends), translated to
ours before :func:`~wasmbuild.publish.output_publisher` parses it.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ImageNotFound, StoreError
from ..fsutil import remove
from ..oci import TITLE, Descriptor
from ..oci.layout import Layout
from ..oci.targets import WASM_LAYER_TYPES
from ..paths import PathEscape, clean_relative
from . import Published

#: buildx ``--output type=...`` -> our transport (``tar=false`` makes ``oci`` a directory).
_BUILDX_TYPES = {"local": "local:", "oci": "oci-archive:", "docker": "docker-archive:", "registry": "docker://",
                 "image": "docker://"}


def from_buildx(text: str) -> str:
    """``type=local,dest=out`` -> ``local:out`` (other values pass through unchanged)."""
    if not text.startswith("type="):
        return text
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"--output {text!r}: {part!r} is not KEY=VALUE",
                              hint="e.g. type=local,dest=out or type=oci,dest=image.tar")
        fields[key.strip()] = value.strip()
    kind = fields.pop("type")
    if kind not in _BUILDX_TYPES:
        raise ConfigError(f"--output type={kind} is not supported",
                          hint=f"use one of type={', type='.join(_BUILDX_TYPES)}")
    if kind in ("registry", "image"):
        name = fields.pop("name", "")
        if not name or (kind == "image" and fields.pop("push", "false") != "true"):
            raise ConfigError(f"--output {text!r} names no registry to push to",
                              hint="e.g. type=registry,name=REGISTRY/NAME:TAG")
        return f"docker://{name}"
    dest = fields.pop("dest", "")
    if not dest:
        raise ConfigError(f"--output {text!r} has no dest=", hint=f"e.g. type={kind},dest=out")
    if kind == "oci" and fields.pop("tar", "true") == "false":
        return f"oci:{dest}"
    return f"{_BUILDX_TYPES[kind]}{dest}"


def export_dir(src: Path, dest: Path) -> None:
    """Copy a stage's outputs into ``dest`` (symlinks as symlinks, modes kept)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)


def _unsafe(name: str, why: str) -> StoreError:
    return StoreError(f"layer entry {name!r} {why}", hint="the image is damaged or hostile: not exported")


def _target(root: Path, name: str) -> Path | None:
    """``root/name`` for an archive member, refusing a climb out or a path through a symlink."""
    try:
        rel = clean_relative(name.lstrip("/") or ".", "layer entry")
    except PathEscape as exc:
        raise _unsafe(name, str(exc)) from None
    if rel == ".":
        return None
    path = root
    for part in Path(rel).parts[:-1]:
        path = path / part
        if path.is_symlink():
            raise _unsafe(name, f"goes through the symlink {path}")
    return root / rel


def _apply_layer(tar: tarfile.TarFile, root: Path) -> None:
    for member in tar:
        target = _target(root, member.name)
        if target is None:
            continue
        base = target.name
        if base == ".wh..wh..opq":  # opaque directory: drop what lower layers put there
            for child in target.parent.iterdir() if target.parent.is_dir() else []:
                remove(child)
            continue
        if base.startswith(".wh."):
            remove(target.with_name(base.removeprefix(".wh.")))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)  # a layer need not list parents
        if member.isdir():
            if target.exists() and not target.is_dir():
                remove(target)
            target.mkdir(exist_ok=True)
            target.chmod((member.mode & 0o755) | 0o700)
        elif member.isfile():
            remove(target)
            with tar.extractfile(member) as src, open(target, "xb") as out:  # type: ignore[union-attr]
                shutil.copyfileobj(src, out)
            target.chmod(member.mode & 0o755 | 0o600)
        elif member.issym():
            remove(target)
            os.symlink(member.linkname, target)
        elif member.islnk():
            source = _target(root, member.linkname)
            if source is None or not source.is_file():
                raise _unsafe(member.name, f"is a hard link to {member.linkname!r}, which is no file")
            remove(target)
            shutil.copy2(source, target)
        # devices, fifos: nothing a Wasm module's filesystem needs, never written


def wasm_layer_paths(manifest: dict[str, Any], config: Any) -> list[tuple[str, str]]:
    """(layer digest, path in the image) of each raw Wasm layer of ``manifest``. The entrypoint
    module (runwasi: the layer titled like the entrypoint's file, else the first one) is at the
    entrypoint's path, where a compat image has it; another layer, and an artifact's (which has
    no entrypoint), at ``/TITLE``, as ``wasmbuild run`` and ``wkg oci pull`` name it."""
    layers = [layer for layer in manifest.get("layers") or []
              if isinstance(layer, dict) and layer.get("mediaType") in WASM_LAYER_TYPES]
    cfg = config.get("config") if isinstance(config, dict) else None
    entry = (cfg or {}).get("Entrypoint") if isinstance(cfg, dict) else None
    first = entry[0] if isinstance(entry, list) and entry and isinstance(entry[0], str) else None
    workdir = (cfg or {}).get("WorkingDir") if isinstance(cfg, dict) else None
    entry_path = None
    if first:
        entry_path = first if first.startswith("/") else f"{workdir if isinstance(workdir, str) else ''}/{first}"

    def title(layer: dict[str, Any]) -> str:
        return str((layer.get("annotations") or {}).get(TITLE) or "module.wasm")

    chosen = next((layer for layer in layers if entry_path and entry_path.rsplit("/", 1)[-1] == title(layer)),
                  layers[0] if layers else None)
    return [(str(layer["digest"]), entry_path if layer is chosen and entry_path else "/" + title(layer))
            for layer in layers]


def _write_wasm_layers(layout: Layout, manifest: dict[str, Any], root: Path) -> None:
    """Each raw Wasm layer as the file it stands for (its mode, which a raw layer does not
    carry, 0644)."""
    config_desc = manifest.get("config") or {}
    digest = config_desc.get("digest") if isinstance(config_desc, dict) else None
    config = layout.read_json(digest) if isinstance(digest, str) and layout.has_blob(digest) else None
    for layer_digest, name in wasm_layer_paths(manifest, config):
        target = _target(root, name)
        if target is None:
            raise _unsafe(name, "names the root directory, not a file")
        blob = layout.blob_path(layer_digest)
        if not blob.is_file():
            raise ImageNotFound(f"layer {layer_digest} is missing from {layout.path}")
        target.parent.mkdir(parents=True, exist_ok=True)
        remove(target)
        shutil.copyfile(blob, target)
        target.chmod(0o644)


@dataclass(frozen=True)
class LocalPublisher:
    """``local:DIR``: the image's root filesystem as plain files, whatever its shape."""

    path: Path

    def publish(self, layout: Layout, desc: Descriptor) -> Published:
        _, manifest = layout.image(desc)
        self.path.mkdir(parents=True, exist_ok=True)
        root = self.path.resolve()
        from ..assemble.compress import unpack_layers

        unpack_layers(layout, manifest, lambda tar: _apply_layer(tar, root))
        _write_wasm_layers(layout, manifest, root)
        return Published(tags=(f"local:{self.path}",))
