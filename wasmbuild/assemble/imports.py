"""What an entrypoint module imports, checked against what the runtime provides.

A module that imports ``env.foo`` (a C symbol left undefined, linked with
``--allow-undefined``), or a WASI function the runtime lacks, validates fine and is pushed fine:
it only fails when someone runs it (``unknown import``). So the import section is read
(:func:`wasmbuild.wasm.binary.imports`, with each function's type) and every import is looked up
in the linker ``wasmbuild run`` uses: wasmtime's WASI preview 1 (``wasi_snapshot_preview1``),
the interface crun's and runwasi's wasmtime handlers give a module too. Components (WASI 0.2)
import WIT interfaces instead and are not checked here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BuildError
from ..wasm import binary

#: How messages name each kind of import (the binary reader's ``func`` is a "function").
KINDS = {"func": "function", "table": "table", "memory": "memory", "global": "global", "tag": "tag"}
WASI_MODULE = binary.PREVIEW1


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: str  # function, table, memory, global, tag
    #: (params, results) of a function import, when its type could be read.
    signature: binary.Signature | None = None

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"


def signature_text(sig: binary.Signature) -> str:
    return f"({', '.join(sig[0])}) -> ({', '.join(sig[1])})"


def module_imports(data: bytes) -> list[Import] | None:
    """The imports of a core module; None for a component or anything that is not a module.
    Raises ValueError when the type or import section is malformed."""
    if data[:4] != binary.MAGIC or data[4:8] != b"\x01\x00\x00\x00":
        return None
    try:
        found = binary.imports(data)
    except BuildError as exc:
        raise ValueError(exc.message) from None
    return [Import(i.module, i.name, KINDS.get(i.kind, i.kind), i.signature) for i in found]


def missing_imports(data: bytes) -> list[str]:
    """Each import of the module ``data`` that wasmtime's WASI linker does not satisfy, as one
    phrase naming it (empty for a component, or a module whose imports all resolve)."""
    try:
        imports = module_imports(data)
    except ValueError:
        return []  # wasmtime validated the module; an encoding this reader lacks is not an error
    if not imports:
        return []
    import wasmtime

    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    problems: list[str] = []
    for imp in imports:
        what = f"{imp.kind} {imp}"
        try:
            provided = linker.get(store, imp.module, imp.name)
        except wasmtime.WasmtimeError:
            if imp.module == WASI_MODULE:
                problems.append(f"{what}, which the runtime's WASI preview 1 lacks")
            else:
                problems.append(f"{what}, which is not WASI: the runtime provides only {WASI_MODULE}")
            continue
        if imp.kind != "function" or not isinstance(provided, wasmtime.Func):
            if imp.kind == "function" or isinstance(provided, wasmtime.Func):
                problems.append(f"{what}, which the runtime provides as another kind of item")
            continue
        ty = provided.type(store)
        theirs = (tuple(str(p) for p in ty.params), tuple(str(p) for p in ty.results))
        if imp.signature is not None and imp.signature != theirs:
            problems.append(f"{what} with type {signature_text(imp.signature)}, but the runtime's "
                            f"is {signature_text(theirs)}")
    return problems
