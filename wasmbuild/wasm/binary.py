"""Facts about a ``.wasm`` binary: module or component, imports, exports, WIT world.

The header decides module vs component (the binary format's ``layer`` field: 0 for a core
module, 1 for a component; WebAssembly/component-model ``design/mvp/Binary.md``). Imports and
exports of a core module come from a small reader of the import (id 2) and export (id 7)
sections, so no tool is needed for them. A component's WIT world comes from
``wasm-tools component wit``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import BuildError

Kind = Literal["module", "component"]
MAGIC = b"\0asm"
_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
NOT_WASM_HINT = "give a WebAssembly binary (.wasm), not a text .wat, an archive or a native executable"

#: The functions of WASI preview 1 (WebAssembly/WASI ``legacy/preview1/witx/wasi_snapshot_preview1.witx``).
PREVIEW1_FUNCTIONS = frozenset({
    "args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get",
    "clock_time_get", "fd_advise", "fd_allocate", "fd_close", "fd_datasync", "fd_fdstat_get",
    "fd_fdstat_set_flags", "fd_fdstat_set_rights", "fd_filestat_get", "fd_filestat_set_size",
    "fd_filestat_set_times", "fd_pread", "fd_prestat_get", "fd_prestat_dir_name", "fd_pwrite",
    "fd_read", "fd_readdir", "fd_renumber", "fd_seek", "fd_sync", "fd_tell", "fd_write",
    "path_create_directory", "path_filestat_get", "path_filestat_set_times", "path_link",
    "path_open", "path_readlink", "path_remove_directory", "path_rename", "path_symlink",
    "path_unlink_file", "poll_oneoff", "proc_exit", "proc_raise", "sched_yield", "random_get",
    "sock_accept", "sock_recv", "sock_send", "sock_shutdown",
})
PREVIEW1 = "wasi_snapshot_preview1"
_INTERFACE = re.compile(r"^(\[export\])?[a-z][\w-]*:[\w-]+/[\w-]+(@[\w.+-]+)?$")


Signature = tuple[tuple[str, ...], tuple[str, ...]]  # (params, results)
_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128",
             0x70: "funcref", 0x6F: "externref"}


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: str  # func, table, memory, global or tag
    #: (params, results) of a function import, when its type could be read.
    signature: Signature | None = None


@dataclass(frozen=True)
class Export:
    name: str
    kind: str


def kind(data: bytes, name: str = "the input") -> Kind:
    """``"module"`` or ``"component"``, from the 8-byte header; BuildError for anything else."""
    if len(data) < 8 or data[:4] != MAGIC:
        raise BuildError(f"{name} is not a WebAssembly binary (it starts with {bytes(data[:4])!r}, "
                         f"not {MAGIC!r})", hint=NOT_WASM_HINT)
    version = int.from_bytes(data[4:6], "little")
    layer = int.from_bytes(data[6:8], "little")
    if layer == 0 and version == 1:
        return "module"
    if layer == 1:
        return "component"
    raise BuildError(f"{name} has an unknown WebAssembly version {version} (layer {layer})",
                     hint="rebuild it with a current toolchain")


#: :func:`kind_of_file`'s answers, by path and stat signature (a rewritten file asks again).
_KIND_MEMO: dict[tuple[str, int, int, int, int, int], Kind] = {}
_KIND_MEMO_MAX = 4096


def kind_of_file(path: Path) -> Kind:
    """:func:`kind` of a file, reading only its header, once per file: every step that asks
    about the same file (the targets, the checks, ``run``) gets the memoised answer."""
    with path.open("rb") as fh:
        st = os.fstat(fh.fileno())
        key = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = _KIND_MEMO.get(key)
        if known is not None:
            return known
        answer = kind(fh.read(8), str(path))
    if len(_KIND_MEMO) >= _KIND_MEMO_MAX:
        _KIND_MEMO.clear()
    _KIND_MEMO[key] = answer
    return answer


class _Reader:
    """LEB128 and names over a byte range; running past the end is a BuildError."""

    def __init__(self, data: bytes, pos: int, end: int, name: str):
        self.data, self.pos, self.end, self.name = data, pos, end, name

    def byte(self) -> int:
        if self.pos >= self.end:
            raise BuildError(f"{self.name} is truncated or malformed: a read runs past byte {self.end}",
                             hint=NOT_WASM_HINT)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result
            if shift > 63:
                raise BuildError(f"{self.name} has a LEB128 number too long (at byte {self.pos})",
                                 hint=NOT_WASM_HINT)

    def skip(self, n: int) -> None:
        if self.pos + n > self.end:
            raise BuildError(f"{self.name} is truncated or malformed: a read runs past byte {self.end}",
                             hint=NOT_WASM_HINT)
        self.pos += n

    def valtype(self) -> str:
        code = self.byte()
        if code in _VALTYPES:
            return _VALTYPES[code]
        if code in (0x63, 0x64):  # (ref null? heaptype): typed references
            self.uleb()
            return "ref"
        raise BuildError(f"{self.name} has an unknown value type 0x{code:02x}", hint=NOT_WASM_HINT)

    def name_str(self) -> str:
        n = self.uleb()
        start = self.pos
        self.skip(n)
        return self.data[start:self.pos].decode("utf-8", "replace")

    def reftype(self) -> None:
        if self.byte() in (0x63, 0x64):  # (ref null? heaptype): GC proposal form
            self.uleb()  # heap type: a negative s33 or a type index, same skip either way

    def limits(self) -> None:
        flags = self.byte()
        self.uleb()
        if flags & 1:
            self.uleb()


def _sections(data: bytes, name: str) -> dict[int, tuple[int, int]]:
    if kind(data, name) != "module":
        raise BuildError(f"{name} is a component, not a core module", hint="read its world with component_world()")
    found: dict[int, tuple[int, int]] = {}
    r = _Reader(data, 8, len(data), name)
    while r.pos < r.end:
        section = r.byte()
        size = r.uleb()
        found.setdefault(section, (r.pos, r.pos + size))
        r.skip(size)
    return found


def _types(r: _Reader) -> list[Signature | None]:
    """The type section's function types (None past a GC-proposal type this reader stops at)."""
    types: list[Signature | None] = []
    for _ in range(r.uleb()):
        if r.byte() != 0x60:  # a GC proposal type (struct, array, rec group): stop reading types
            types.append(None)
            break
        params = tuple(r.valtype() for _ in range(r.uleb()))
        results = tuple(r.valtype() for _ in range(r.uleb()))
        types.append((params, results))
    return types


def imports(data: bytes, name: str = "the module") -> list[Import]:
    """A core module's imports, in order, each function's with its signature."""
    sections = _sections(data, name)
    span = sections.get(2)
    if span is None:
        return []
    types = _types(_Reader(data, *sections[1], name)) if 1 in sections else []
    r = _Reader(data, span[0], span[1], name)
    result: list[Import] = []
    for _ in range(r.uleb()):
        module, field = r.name_str(), r.name_str()
        k = r.byte()
        signature = None
        if k == 0:
            index = r.uleb()
            signature = types[index] if index < len(types) else None
        elif k == 1:
            r.reftype()
            r.limits()
        elif k == 2:
            r.limits()
        elif k == 3:
            r.reftype()  # the value type: one byte, or a GC reference type with its heap type
            r.byte()  # mutability
        elif k == 4:
            r.byte()
            r.uleb()
        else:
            raise BuildError(f"{name} has an import of unknown kind {k} ({module}.{field})", hint=NOT_WASM_HINT)
        result.append(Import(module, field, _KINDS[k], signature))
    return result


def exports(data: bytes, name: str = "the module") -> list[Export]:
    """A core module's exports, in order."""
    span = _sections(data, name).get(7)
    if span is None:
        return []
    r = _Reader(data, span[0], span[1], name)
    result: list[Export] = []
    for _ in range(r.uleb()):
        field = r.name_str()
        k = r.byte()
        r.uleb()
        result.append(Export(field, _KINDS.get(k, f"kind {k}")))
    return result


def check_wasi_imports(data: bytes, provided: Collection[str], provider: str = "wasmtime",
                       name: str = "the module", allow_interfaces: bool = False) -> list[str]:
    """One message per import that ``provider`` cannot satisfy, each naming the import.

    ``provided`` is the set of ``wasi_snapshot_preview1`` functions the provider has (see
    :func:`wasmtime_preview1_functions`, or the exports of an adapter). Anything outside
    ``wasi_snapshot_preview1`` (``env.foo``, an imported memory...) is reported too: no WASI
    runtime provides it. With ``allow_interfaces``, imports from WIT interfaces
    (``wasi:cli/environment@0.2.0``...: a wit-bindgen module about to become a component) pass.
    """
    problems: list[str] = []
    for imp in imports(data, name):
        full = f"{imp.module}.{imp.name}"
        if allow_interfaces and _INTERFACE.match(imp.module):
            continue
        if imp.module == PREVIEW1 and imp.kind == "func":
            if imp.name not in provided:
                problems.append(f"{name} imports {full}, a WASI preview 1 function {provider} does not provide")
        elif imp.module == "wasi_unstable":
            problems.append(f"{name} imports {full} from WASI snapshot 0, which {provider} does not "
                            f"provide (rebuild for wasm32-wasip1)")
        else:
            problems.append(f"{name} imports {imp.kind} {full}, which is not part of WASI: no WASI runtime "
                            f"provides it (define it in the module or link it in)")
    return problems


def wasmtime_preview1_functions() -> frozenset[str]:
    """The WASI preview 1 functions wasmtime-py's ``Linker.define_wasi`` defines."""
    import wasmtime

    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    found: set[str] = set()
    for fn in PREVIEW1_FUNCTIONS:
        try:
            linker.get(store, PREVIEW1, fn)
        except wasmtime.WasmtimeError:
            continue
        found.add(fn)
    return frozenset(found)


@dataclass(frozen=True)
class World:
    """A component's WIT world as ``wasm-tools component wit`` prints it."""

    imports: tuple[str, ...]  # e.g. "wasi:cli/environment@0.2.12"
    exports: tuple[str, ...]  # e.g. "wasi:cli/run@0.2.12"
    wit: str  # the whole text

    @property
    def name(self) -> str | None:
        """The WASI world this component fits, for image metadata: ``wasi:cli/command``,
        ``wasi:http/proxy``, or None when it exports neither's entry point."""
        names = {e.split("@", 1)[0] for e in self.exports}
        if "wasi:http/incoming-handler" in names:
            return "wasi:http/proxy"
        if "wasi:cli/run" in names:
            return "wasi:cli/command"
        return None


_ROOT_WORLD = re.compile(r"^world\s+[\w-]+\s*\{(?P<body>.*?)^\}", re.S | re.M)
_ITEM = re.compile(r"^\s*(import|export)\s+([^;:\s]+:[^;\s]+|[\w-]+)\s*;", re.M)


def parse_world(wit: str) -> World:
    """The root world's imported and exported interfaces (named ones; inline functions skipped)."""
    match = _ROOT_WORLD.search(wit)
    body = match.group("body") if match else ""
    items = _ITEM.findall(body)
    return World(tuple(n for k, n in items if k == "import"), tuple(n for k, n in items if k == "export"), wit)


def component_world(path: Path) -> World:
    """The WIT world of the component at ``path`` (runs ``wasm-tools component wit``)."""
    from . import tools

    if kind_of_file(path) != "component":
        raise BuildError(f"{path} is a core module, not a component",
                         hint="wrap it first (component: command), or read its imports() instead")
    return parse_world(tools.wasm_tools("component", "wit", str(path), what=f"reading the WIT world of {path}"))


def validate(path: Path) -> None:
    """Check a module or component is valid (``wasm-tools validate``); BuildError otherwise.

    wasmtime-py can validate core modules (``Module.validate``) but has no validate-only call
    for components: compiling one to find out takes seconds (~15 s for a Python app).
    """
    from . import tools

    kind_of_file(path)
    tools.wasm_tools("validate", str(path), what=f"{path} is not valid")


# -- a component's top-level names, read from its bytes (the Wasm OCI artifact's config lists
#    them: component.imports / component.exports) ---------------------------------------------
_COMPONENT_IMPORT_SECTION = 10
_COMPONENT_EXPORT_SECTION = 11


def is_wasm(data: bytes) -> bool:
    return data[:4] == MAGIC


def is_wasm_file(path: Path) -> bool:
    """Whether a file is a WebAssembly binary, by its magic (reading 4 bytes, not the file)."""
    with path.open("rb") as fh:
        return is_wasm(fh.read(4))


class _ComponentReader(_Reader):
    """:class:`_Reader` plus the component model's extern names and descriptors."""

    def extern_name(self) -> str:
        # importname'/exportname': 0x00 name, or 0x01 name (a versioned/"interface" form in the
        # binary format drafts); both carry the plain name first.
        tag = self.byte()
        if tag not in (0x00, 0x01):
            raise BuildError(f"{self.name} has an unknown extern name form 0x{tag:02x}", hint=NOT_WASM_HINT)
        return self.name_str()

    def externdesc(self) -> None:
        sort = self.byte()
        if sort == 0x00:  # core module: 0x11 typeidx
            self.byte()
            self.uleb()
        elif sort in (0x01, 0x04, 0x05):  # func, component, instance: typeidx
            self.uleb()
        elif sort == 0x02:  # value: valuebound (0x00 valueidx | 0x01 valtype)
            self.byte()
            self.uleb()
        elif sort == 0x03:  # type: typebound (0x00 typeidx | 0x01 sub resource)
            if self.byte() == 0x00:
                self.uleb()
        else:
            raise BuildError(f"{self.name} has an unknown externdesc sort 0x{sort:02x}", hint=NOT_WASM_HINT)

    def sortidx(self) -> None:
        if self.byte() == 0x00:  # core sort byte follows
            self.byte()
        self.uleb()


def component_names(data: bytes, name: str = "the component") -> tuple[list[str], list[str]]:
    """(imports, exports): the names a component imports and exports at its top level, such as
    ``wasi:cli/environment@0.2.0`` (what ``wit-component`` reports as the component's world).
    ValueError for bytes that are not a component; BuildError for a malformed one."""
    if data[:4] != MAGIC or data[6:8] != b"\x01\x00":
        raise ValueError("not a component")
    imports: list[str] = []
    exports: list[str] = []
    r = _ComponentReader(data, 8, len(data), name)
    while r.pos < r.end:
        section = r.byte()
        size = r.uleb()
        start, end = r.pos, r.pos + size
        r.skip(size)
        if section in (_COMPONENT_IMPORT_SECTION, _COMPONENT_EXPORT_SECTION):
            body = _ComponentReader(data, start, end, name)
            for _ in range(body.uleb()):
                item = body.extern_name()
                if section == _COMPONENT_IMPORT_SECTION:
                    body.externdesc()
                    imports.append(item)
                else:
                    body.sortidx()
                    if body.byte() == 0x01:  # optional ascribed type
                        body.externdesc()
                    exports.append(item)
    return imports, exports
