"""Run a WASI 0.2 ``wasi:cli/command`` component with wasmtime-py's component API.

The same isolation as a core module (``run.py``): argv and env exactly as given (nothing from
the calling shell), ``root_dir`` preopened at ``/`` read-only (and ``workdir`` at ``.`` when it
is not ``/``), stdio inherited. ``wasmtime.component.Linker.add_wasip2`` supplies WASI 0.2 and
``Store.set_wasi`` its configuration. The component's ``wasi:cli/run`` export is called; the exit
code comes from ``wasi:cli/exit`` (an ``ExitTrap``) or from ``run``'s result (ok 0, err 1).

Compiling a component takes seconds (a componentize-py app: ~15 s, 18 MB), so native code is
cached by component digest and wasmtime version, like modules in ``run.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..dirs import cache_area
from ..errors import RunError
from ..fsutil import atomic_write_bytes
from ..wasm import binary
from ..wasm.precompiled import compile_native, wasmtime_version
from .wasi import compiling, first_line, wasi_config

RUN_EXPORT = "wasi:cli/run@"


def load_component(engine: Any, path: Path, precompiled: Callable[[bytes, Path], Any] | None = None) -> Any:
    """Compile the component at ``path``, or reuse native code for it: the cached one, else
    ``precompiled``'s (see ``run.load_module``)."""
    from wasmtime.component import Component

    data = path.read_bytes()
    key = hashlib.sha256(data + b"\0component\0" + wasmtime_version().encode()).hexdigest()
    cached = cache_area("modules") / f"{key}.component.cwasm"
    if cached.is_file():
        try:
            return Component.deserialize_file(engine, str(cached))
        except Exception:  # stale or corrupt: compile again below
            cached.unlink(missing_ok=True)
    if precompiled is not None:
        shipped = precompiled(data, cached)
        if shipped is not None:
            return shipped
    with compiling(path, len(data)):
        component = compile_native(engine, data, "component")
    atomic_write_bytes(cached, bytes(component.serialize()))
    return component


def _run_export(component: Any, engine: Any, name: str) -> str:
    exports = list(component.type.exports(engine))
    for export in exports:
        if export.startswith(RUN_EXPORT):
            return str(export)
    raise RunError(
        f"{name} exports no wasi:cli/run, so it is not a command (its exports: {', '.join(exports) or 'none'})",
        hint="build it as a wasi:cli/command component (component: command)",
    )


def run_component(path: Path, argv: list[str], env: dict[str, str], root_dir: Path | None, workdir: str = "/",
                  precompiled: Callable[[Any], Callable[[bytes, Path], Any] | None] | None = None,
                  name: str | None = None) -> int:
    """Run the command component at ``path`` (named ``name`` in messages); returns its exit code.
    ``root_dir`` None: no files (a Wasm OCI artifact). ``precompiled``: given the engine, a loader
    of trusted precompiled code (``precompiled.loader``)."""
    import wasmtime
    from wasmtime.component import Linker

    name = name or path.name
    if binary.kind_of_file(path) != "component":
        raise RunError(f"{name} is a core module, not a component", hint="run it as a module")
    engine = wasmtime.Engine()
    try:
        component = load_component(engine, path, precompiled(engine) if precompiled else None)
    except wasmtime.WasmtimeError as exc:
        raise RunError(f"cannot compile {name}: {first_line(exc, 'error')}") from None
    export = _run_export(component, engine, name)
    linker = Linker(engine)
    linker.add_wasip2()
    store = wasmtime.Store(engine)
    store.set_wasi(wasi_config(argv, env, root_dir, workdir, name))
    try:
        instance = linker.instantiate(store, component)
        index = instance.get_export_index(store, export)
        run_index = instance.get_export_index(store, "run", index) if index is not None else None
        run = instance.get_func(store, run_index) if run_index is not None else None
        if run is None:
            raise RunError(f"{name}: {export} has no run function", hint="rebuild it as a wasi:cli/command")
        result = run(store)
    except wasmtime.ExitTrap as exc:
        return int(exc.code)
    except wasmtime.Trap as exc:
        raise RunError(f"the component trapped: {first_line(exc, 'trap')}") from None
    except wasmtime.WasmtimeError as exc:
        raise RunError(f"cannot run {name}: {first_line(exc, 'error')}") from None
    # run: func() -> result: Variant(tag="ok"|"err"); wasmtime-py may also give None for ok.
    return 1 if getattr(result, "tag", "ok") == "err" else 0
