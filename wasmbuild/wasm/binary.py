"""What a ``.wasm`` file is, from its header: a core module or a component.

Both start with ``\\0asm``; the next four bytes are the version and layer: ``01 00 00 00`` for a
core module (WASI 0.1, ``wasip1``), ``0d 00 01 00`` for a component (the component model's
binary format, WASI 0.2, ``wasip2``). :func:`component_world` reads a component's top-level import
and export names, which the CNCF Wasm OCI artifact's config lists (``component.imports``,
``component.exports``).
"""

from __future__ import annotations

from typing import Literal

MAGIC = b"\0asm"
MODULE_VERSION = b"\x01\x00\x00\x00"
COMPONENT_VERSION = b"\x0d\x00\x01\x00"

Kind = Literal["module", "component"]

_IMPORT_SECTION = 10
_EXPORT_SECTION = 11


def is_wasm(data: bytes) -> bool:
    return data[:4] == MAGIC


def kind(data: bytes) -> Kind:
    """``"module"`` or ``"component"`` from the header; ValueError for anything else."""
    if data[:4] != MAGIC:
        raise ValueError("not a WebAssembly binary (no \\0asm header)")
    if data[4:8] == MODULE_VERSION:
        return "module"
    if data[4:8] == COMPONENT_VERSION:
        return "component"
    raise ValueError(f"unknown WebAssembly version/layer {data[4:8].hex(' ')}")


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data, self.pos, self.end = data, pos, len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ValueError("truncated component")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u32(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 35:
                raise ValueError("malformed LEB128 integer")

    def name(self) -> str:
        n = self.u32()
        if self.pos + n > self.end:
            raise ValueError("truncated name")
        text = self.data[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return text

    def extern_name(self) -> str:
        # importname'/exportname': 0x00 name, or 0x01 name (a versioned/"interface" form in the
        # binary format drafts); both carry the plain name first.
        tag = self.byte()
        if tag not in (0x00, 0x01):
            raise ValueError(f"unknown extern name form 0x{tag:02x}")
        return self.name()

    def externdesc(self) -> None:
        sort = self.byte()
        if sort == 0x00:  # core module: 0x11 typeidx
            self.byte()
            self.u32()
        elif sort in (0x01, 0x04, 0x05):  # func, component, instance: typeidx
            self.u32()
        elif sort == 0x02:  # value: valuebound (0x00 valueidx | 0x01 valtype)
            self.byte()
            self.u32()
        elif sort == 0x03:  # type: typebound (0x00 typeidx | 0x01 sub resource)
            if self.byte() == 0x00:
                self.u32()
        else:
            raise ValueError(f"unknown externdesc sort 0x{sort:02x}")

    def sortidx(self) -> None:
        if self.byte() == 0x00:  # core sort byte follows
            self.byte()
        self.u32()


def component_world(data: bytes) -> tuple[list[str], list[str]]:
    """(imports, exports): the names a component imports and exports at its top level, such as
    ``wasi:cli/environment@0.2.0`` (what ``wit-component`` reports as the component's world)."""
    if kind(data) != "component":
        raise ValueError("not a component")
    imports: list[str] = []
    exports: list[str] = []
    r = _Reader(data, 8)
    while r.pos < len(data):
        section = r.byte()
        size = r.u32()
        start, end = r.pos, r.pos + size
        if end > len(data):
            raise ValueError("truncated section")
        if section in (_IMPORT_SECTION, _EXPORT_SECTION):
            body = _Reader(data, start, end)
            for _ in range(body.u32()):
                name = body.extern_name()
                if section == _IMPORT_SECTION:
                    body.externdesc()
                    imports.append(name)
                else:
                    body.sortidx()
                    if body.byte() == 0x01:  # optional ascribed type
                        body.externdesc()
                    exports.append(name)
        r.pos = end
    return imports, exports
