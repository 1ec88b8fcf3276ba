"""Checks on what goes into the image: the entrypoint must be a valid WebAssembly module."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import BuildError
from .layer import Entry


def entrypoint_module(entries: list[Entry], target: str, entry: str, where: str) -> Entry:
    """The layer entry of the entrypoint ``target`` (an absolute image path)."""
    found = next((e for e in entries if e.path == target.lstrip("/")), None)
    if found is None or found.kind != "file" or found.source is None:
        raise BuildError(f"entrypoint {entry!r} ({target}) is not a file in the image", where=where,
                         hint="add it under image.files")
    return found


def check_module(found: Entry, digest: str | None, entry: str, where: str,
                 memo: Path | None) -> None:
    """Validate the entrypoint module with wasmtime (a module or a component).

    A module this wasmtime accepted once is not validated again (CPython's takes ~0.5 s, and
    importing wasmtime ~0.06 s): the marker in ``memo`` names the content digest and wasmtime's
    install.
    """
    assert found.source is not None
    marker = None
    if memo is not None and digest is not None:
        spec = importlib.util.find_spec("wasmtime")
        origin = os.stat(spec.origin).st_mtime_ns if spec and spec.origin else 0
        marker = memo / f"{digest}-{origin}"
        if marker.exists():
            return
    import wasmtime

    from ..wasm import binary

    data = found.source.read_bytes()
    if data[:4] != b"\0asm":
        raise BuildError(f"entrypoint {entry!r} is not a WebAssembly module (no \\0asm header)",
                         where=where, hint="point the entrypoint at a .wasm file built by a stage")
    try:
        if binary.kind(data, f"entrypoint {entry!r}") == "component":  # wasmtime-py: modules only
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
