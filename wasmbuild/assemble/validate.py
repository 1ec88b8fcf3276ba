"""Checks on what goes into the image: the entrypoint must be a valid WebAssembly module whose
imports the runtime provides."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import BuildError
from ..wasm.binary import Kind
from .imports import missing_imports
from .layer import Entry

#: Part of the memo's marker names: bump when the checks change (old markers then miss).
CHECKS = "imports1"


def entrypoint_module(entries: list[Entry], target: str, entry: str, where: str) -> Entry:
    """The layer entry of the entrypoint ``target`` (an absolute image path)."""
    found = next((e for e in entries if e.path == target.lstrip("/")), None)
    if found is None or found.kind != "file" or found.source is None:
        raise BuildError(f"entrypoint {entry!r} ({target}) is not a file in the image", where=where,
                         hint="add it under image.files")
    return found


def module_kind(found: Entry, entry: str, where: str) -> Kind:
    """Module or component: the entrypoint's kind, from its 8-byte header, decided once per
    build (the targets, the world annotation, the pre-flight and :func:`check_module` ask it)."""
    from ..wasm import binary

    assert found.source is not None
    try:
        return binary.kind_of_file(found.source)
    except BuildError:
        with found.source.open("rb") as fh:
            head = fh.read(8)
    if head[:4] != binary.MAGIC:
        raise BuildError(f"entrypoint {entry!r} is not a WebAssembly module (no \\0asm header)",
                         where=where, hint="point the entrypoint at a .wasm file built by a stage")
    try:
        binary.kind(head, f"entrypoint {entry!r}")  # the same refusal, naming the entrypoint
    except BuildError as exc:
        raise BuildError(exc.message, where=where, hint=exc.hint) from None
    raise AssertionError("kind_of_file refused a header kind accepts")


def check_module(found: Entry, digest: str | None, entry: str, where: str,
                 memo: Path | None, *, kind: Kind | None = None) -> None:
    """Validate the entrypoint module with wasmtime (a module or a component), and check that
    the runtime provides its imports (:func:`imports_problem`). ``kind``: :func:`module_kind`,
    if the caller has it.

    A module this wasmtime accepted once is not checked again (CPython's takes ~0.5 s, and
    importing wasmtime ~0.06 s): the marker in ``memo`` names the content digest and wasmtime's
    install.
    """
    assert found.source is not None
    marker = None
    if memo is not None and digest is not None:
        spec = importlib.util.find_spec("wasmtime")
        origin = os.stat(spec.origin).st_mtime_ns if spec and spec.origin else 0
        marker = memo / f"{digest}-{origin}-{CHECKS}"
        if marker.exists():
            return
    import wasmtime

    from ..wasm import binary

    kind = kind or module_kind(found, entry, where)
    data = found.source.read_bytes()
    try:
        if kind == "component":  # wasmtime-py: modules only
            binary.validate(found.source)
        else:
            wasmtime.Module.validate(wasmtime.Engine(), data)
    except BuildError as exc:
        raise BuildError(exc.message, where=where, hint=exc.hint) from None
    except Exception as exc:  # wasmtime raises WasmtimeError with a multi-line text
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BuildError(f"entrypoint {entry!r} is not a valid WebAssembly module: {first}",
                         where=where) from None
    problem = imports_problem(data, entry)
    if problem:
        raise BuildError(problem, where=where, hint=IMPORTS_HINT)
    if marker is not None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


IMPORTS_HINT = ("the module would fail at start with `unknown import`: define or link what it "
                "imports (C: do not link with --allow-undefined), or use only WASI preview 1")


def imports_problem(data: bytes, entry: str) -> str | None:
    """One line naming the imports of module ``data`` the runtime lacks, or None."""
    missing = missing_imports(data)
    if not missing:
        return None
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return f"entrypoint {entry!r} imports {missing[0]}{more}"
