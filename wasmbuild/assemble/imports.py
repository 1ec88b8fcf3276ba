"""What an entrypoint module imports, checked against what the runtime provides.

A module that imports ``env.foo`` (a C symbol left undefined, linked with
``--allow-undefined``), or a WASI function the runtime lacks, validates fine and is pushed fine:
it only fails when someone runs it (``unknown import``). So the import section is read here
(a small reader of the binary format: the type and import sections, nothing else) and every
import is looked up in the linker ``wasmbuild run`` uses: wasmtime's WASI preview 1
(``wasi_snapshot_preview1``), the interface crun's and runwasi's wasmtime handlers give a module
too. Components (WASI 0.2) import WIT interfaces instead and are not checked here.

Binary format: https://webassembly.github.io/spec/core/binary/modules.html
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = {0: "function", 1: "table", 2: "memory", 3: "global", 4: "tag"}
_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128",
             0x70: "funcref", 0x6F: "externref"}
WASI_MODULE = "wasi_snapshot_preview1"


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: str  # function, table, memory, global, tag
    #: (params, results) of a function import, when its type could be read.
    signature: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"


def signature_text(sig: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    return f"({', '.join(sig[0])}) -> ({', '.join(sig[1])})"


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ValueError("unexpected end of section")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("LEB128 number too long")

    def name(self) -> str:
        size = self.uleb()
        if self.pos + size > self.end:
            raise ValueError("name runs past its section")
        text = self.data[self.pos:self.pos + size].decode("utf-8", "replace")
        self.pos += size
        return text

    def valtype(self) -> str:
        code = self.byte()
        if code in _VALTYPES:
            return _VALTYPES[code]
        if code in (0x63, 0x64):  # (ref null? heaptype): typed references
            self.uleb()
            return "ref"
        raise ValueError(f"unknown value type 0x{code:02x}")

    def limits(self) -> None:
        flags = self.byte()
        self.uleb()
        if flags & 1:
            self.uleb()


def _types(r: _Reader) -> list[tuple[tuple[str, ...], tuple[str, ...]] | None]:
    types: list[tuple[tuple[str, ...], tuple[str, ...]] | None] = []
    for _ in range(r.uleb()):
        form = r.byte()
        if form != 0x60:  # a GC proposal type (struct, array, rec group): stop reading types
            types.append(None)
            break
        params = tuple(r.valtype() for _ in range(r.uleb()))
        results = tuple(r.valtype() for _ in range(r.uleb()))
        types.append((params, results))
    return types


def module_imports(data: bytes) -> list[Import] | None:
    """The imports of a core module; None for a component or anything that is not a module.
    Raises ValueError when the type or import section is malformed."""
    if data[:4] != b"\0asm" or data[4:8] != b"\x01\x00\x00\x00":
        return None
    r = _Reader(data, 8)
    types: list[tuple[tuple[str, ...], tuple[str, ...]] | None] = []
    while r.pos < len(data):
        section, size = r.byte(), r.uleb()
        start = r.pos
        if start + size > len(data):
            raise ValueError("a section runs past the end of the module")
        if section == 1:
            types = _types(_Reader(data, start, start + size))
        elif section == 2:
            return _imports(_Reader(data, start, start + size), types)
        elif section != 0:  # past the import section's place (custom sections go anywhere)
            return []
        r.pos = start + size
    return []


def _imports(r: _Reader, types: list[tuple[tuple[str, ...], tuple[str, ...]] | None]) -> list[Import]:
    found: list[Import] = []
    for _ in range(r.uleb()):
        module, name, kind = r.name(), r.name(), r.byte()
        sig = None
        if kind == 0:
            index = r.uleb()
            sig = types[index] if index < len(types) else None
        elif kind == 1:
            r.valtype()
            r.limits()
        elif kind == 2:
            r.limits()
        elif kind == 3:
            r.valtype()
            r.byte()
        elif kind == 4:
            r.byte()
            r.uleb()
        else:
            raise ValueError(f"unknown import kind {kind}")
        found.append(Import(module, name, KINDS[kind], sig))
    return found


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
