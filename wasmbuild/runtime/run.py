"""``run``: execute an image's entrypoint with wasmtime, as a container runtime would.

The module sees exactly the image's env (plus ``-e`` values), argv = entrypoint + cmd (run
arguments replace cmd, as with ``docker run``), and the image's root filesystem preopened at
``/`` read-only. Nothing from the calling shell's environment reaches it. Compiled modules are
cached (wasmtime serialisation keyed by module digest and wasmtime version) so the second start
skips compilation; the first one skips it too when the image carries precompiled code that fits
this engine and the caller trusts it (``precompiled.py``, docs/precompiled.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..dirs import cache_area
from ..errors import BuildError, ConfigError, ImageNotFound, RunError
from ..fsutil import atomic_write_bytes, staged_dir
from ..oci import TITLE, Descriptor
from ..oci.graph import platform_text
from ..oci.layout import Layout
from ..oci.targets import WASM_LAYER_TYPES, shape_of, target_of
from ..paths import PathEscape, clean_image_path
from .precompiled import Loader, loader
from .wasi import compiling, first_line, wasi_config


@dataclass(frozen=True)
class RunSpec:
    argv: list[str]
    env: dict[str, str]
    workdir: str
    module: str  # path of the module inside the image


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RunError(f"the image's config is malformed: {what} is not a list of strings",
                       hint="rebuild the image, or fix the tool that made it")
    return value


def run_spec(config: Any, args: list[str], extra_env: dict[str, str]) -> RunSpec:
    cfg = config.get("config") if isinstance(config, dict) else None
    if not isinstance(cfg or {}, dict):
        raise RunError("the image's config is malformed: `config` is not a JSON object",
                       hint="rebuild the image, or fix the tool that made it")
    cfg = cfg or {}
    entrypoint = _strings(cfg.get("Entrypoint"), "Entrypoint")
    cmd = _strings(cfg.get("Cmd"), "Cmd")
    argv = entrypoint + (list(args) if args else cmd)
    if not argv:
        raise ConfigError("the image has no entrypoint or cmd to run",
                          hint="set image.entrypoint in the Wasmfile")
    env: dict[str, str] = {}
    for item in _strings(cfg.get("Env"), "Env"):
        key, _, value = item.partition("=")
        env[key] = value
    env.update(extra_env)
    workdir = cfg.get("WorkingDir") or "/"
    if not isinstance(workdir, str) or not workdir.startswith("/"):
        raise RunError("the image's config is malformed: WorkingDir is not an absolute path",
                       hint="rebuild the image, or fix the tool that made it")
    try:
        module = clean_image_path(argv[0] if argv[0].startswith("/") else f"{workdir}/{argv[0]}")
    except PathEscape as exc:
        raise ConfigError(f"the image's entrypoint is not a path in the image: {exc}") from None
    return RunSpec(argv, env, workdir, module)


@contextlib.contextmanager
def rootfs(layout: Layout, manifest: dict[str, Any], digest: str) -> Iterator[Path]:
    """The image's unpacked root filesystem, cached by manifest digest (unpacked atomically).

    A shared flock on the directory marks it in use while the block runs, so ``wasmbuild cache
    prune`` leaves a running module's files alone.
    """
    final = cache_area("rootfs") / digest.split(":", 1)[1]
    if not final.is_dir():  # imported here: a warm start does not pay for them
        from .. import tarsafe
        from ..assemble.compress import unpack_layers

        with staged_dir(final) as tmp:
            unpack_layers(layout, manifest, lambda tar: tarsafe.extractall(tar, tmp, "data"))
    fd = os.open(final, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.utime(final)  # last use, for `cache prune`
        yield final
    finally:
        os.close(fd)


def _wasmtime_version() -> str:
    from ..wasm.precompiled import wasmtime_version

    return wasmtime_version()


def load_module(engine: Any, path: Path, precompiled: Loader | None = None, identity: str | None = None) -> Any:
    """Compile ``path`` or reuse native code for it: the cached one, else ``precompiled``'s
    (given the module's bytes and the cache entry to fill; None when it has none that fits).
    ``identity`` names the module's bytes exactly (a layer's digest; an image manifest's digest
    and the module's path in its immutable root): the cache entry is then found without reading
    and hashing the module (~10 ms of a warm CPython start)."""
    import wasmtime

    data = None if identity else path.read_bytes()
    h = hashlib.sha256(b"identity:" + identity.encode() if identity else data or b"")
    h.update(_wasmtime_version().encode())  # without identity: sha256(module + version), as before
    cached = cache_area("modules") / f"{h.hexdigest()}.cwasm"
    if cached.is_file():
        try:
            module = wasmtime.Module.deserialize_file(engine, str(cached))
            os.utime(cached)
            return module
        except Exception:  # stale or corrupt: compile again below
            cached.unlink(missing_ok=True)
    data = path.read_bytes() if data is None else data
    if precompiled is not None:
        shipped = precompiled(data, cached)
        if shipped is not None:
            return shipped
    from ..wasm.precompiled import compile_native

    with compiling(path, len(data)):
        module = compile_native(engine, data, "module")
    atomic_write_bytes(cached, bytes(module.serialize()))
    return module



def run(
    layout: Layout,
    desc: Descriptor,
    args: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
    *,
    on_pick: Callable[[str], None] | None = None,
    precompiled: bool = False,
) -> int:
    """Run the image (for an index, its Wasm entry, named to ``on_pick``); returns the module's
    exit code. Every target runs: an image (the entrypoint from its root filesystem), a runwasi
    image (the module from its Wasm layer, the files from its tar layer) and a Wasm OCI artifact
    (the module alone: no files, no env, argv[0] its title). ``precompiled``: load a fitting
    precompiled extra of the image instead of compiling (native code: only a trusted one)."""
    top = desc
    desc, manifest = layout.image(desc)
    extras = _Extras(layout, desc.digest) if precompiled else None
    if on_pick is not None and desc.digest != top.digest:
        on_pick(picked_line(layout, top, desc, manifest))
    config = layout.read_json(manifest["config"]["digest"])
    wasm_layer = next((layer for layer in manifest.get("layers") or []
                       if layer.get("mediaType") in WASM_LAYER_TYPES), None)
    shape = shape_of(manifest)
    if shape is not None and shape.runs_as == "module":  # the Wasm OCI artifact
        if wasm_layer is None:
            raise RunError(f"the Wasm artifact {desc.digest} has no application/wasm layer to run",
                           hint="build or pull it again: a Wasm OCI artifact holds one Wasm layer")
        title = (wasm_layer.get("annotations") or {}).get(TITLE) or "module.wasm"
        spec = RunSpec([title, *(args or [])], dict(extra_env or {}), "/", "/" + title)
        return _run_wasm(None, _blob(layout, wasm_layer["digest"]), spec, extras, wasm_layer["digest"])
    spec = run_spec(config, list(args or []), dict(extra_env or {}))
    with rootfs(layout, manifest, desc.digest) as root:
        if wasm_layer is not None:  # runwasi's Wasm-layer image: the layer is the module
            return _run_wasm(root, _blob(layout, wasm_layer["digest"]), spec, extras, wasm_layer["digest"])
        module_path = root / spec.module.lstrip("/")
        if not module_path.is_file():
            raise ConfigError(f"the image has no file {spec.module} to run",
                              hint="check image.entrypoint and image.files")
        return _run_wasm(root, module_path, spec, extras, f"{desc.digest}:{spec.module}")


def _run_wasm(root: Path | None, path: Path, spec: RunSpec, extras: _Extras | None, identity: str) -> int:
    """Run a core module (WASI preview 1) or a component (WASI 0.2: wasmtime's component API),
    whichever ``path`` holds, whatever shape of image it came in."""
    from ..wasm import binary

    try:
        kind = binary.kind_of_file(path)
    except BuildError as exc:  # a damaged or foreign image: its module is not Wasm at all
        raise RunError(f"cannot run {spec.module}: {exc.message}", hint=exc.hint) from None
    if kind == "component":
        from .component import run_component

        return run_component(path, spec.argv, spec.env, root, spec.workdir,
                             precompiled=extras.component if extras else None, name=spec.module)
    return _run_module(root, path, spec, extras, identity)


class _Extras:
    """The image's precompiled extras, looked up only when the compiled-module cache has no code
    for the module (a warm start reads nothing more)."""

    def __init__(self, layout: Layout, subject: str):
        self.layout, self.subject = layout, subject

    def module(self, engine: Any, component: bool = False) -> Loader:
        def load(data: bytes, dest: Path) -> Any:
            found = loader(engine, self.layout, self.subject, component)
            return found(data, dest) if found is not None else None

        return load

    def component(self, engine: Any) -> Loader:
        return self.module(engine, component=True)


def picked_line(layout: Layout, index: Descriptor, chosen: Descriptor,
                manifest: dict[str, Any]) -> str:
    """The one line ``run`` prints when it picks an index's Wasm entry."""
    return (f"running {platform_text(chosen)} entry {chosen.digest[:19]} "
            f"({target_of(manifest, chosen.platform)}) of index {index.digest[:19]}")


def _blob(layout: Layout, digest: str) -> Path:
    path = layout.blob_path(digest)
    if not path.is_file():
        raise ImageNotFound(f"layer {digest} is missing from {layout.path}")
    return path


def _run_module(root: Path | None, module_path: Path, spec: RunSpec, extras: _Extras | None = None,
                identity: str | None = None) -> int:
    import wasmtime

    engine = wasmtime.Engine()
    try:
        module = load_module(engine, module_path, extras.module(engine) if extras else None, identity)
    except wasmtime.WasmtimeError as exc:  # not a module
        raise RunError(f"cannot run {spec.module}: {first_line(exc)}") from None
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    store.set_wasi(wasi_config(spec.argv, spec.env, root, spec.workdir, spec.module))
    try:
        instance = linker.instantiate(store, module)
        start = instance.exports(store).get("_start")
        if not isinstance(start, wasmtime.Func):
            raise RunError(f"{spec.module} exports no _start function",
                           hint="build it as a WASI command (a program with main)")
        start(store)
    except wasmtime.ExitTrap as exc:
        return int(exc.code)
    except wasmtime.Trap as exc:
        # wasmtime's text is "error while executing at wasm backtrace: ...", the reason last.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        message = lines[-1].removeprefix("wasm trap: ") if lines else "trap"
        raise RunError(f"the module trapped: {message}") from None
    except wasmtime.WasmtimeError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
        raise RunError(f"cannot run {spec.module}: {message}") from None
    return 0
