"""Module or component from the header; imports and exports without tools; WASI import checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from wasmbuild.errors import BuildError
from wasmbuild.wasm import binary, pins

COMPONENT_HEADER = b"\0asm\x0d\x00\x01\x00"

MODULE = wasmtime.wat2wasm("""
(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_open" (func (param i32 i32 i32) (result i32)))
  (import "wasi_unstable" "proc_exit" (func (param i32)))
  (import "env" "foo" (func))
  (import "env" "memory" (memory 1 2))
  (import "env" "table" (table 1 funcref))
  (import "env" "g" (global (mut i32)))
  (import "wasi:cli/environment@0.2.0" "get-arguments" (func (param i32)))
  (func (export "_start"))
  (global (export "answer") i32 (i32.const 42)))
""")


def test_kind_from_the_header(tmp_path: Path) -> None:
    assert binary.kind(bytes(MODULE)) == "module"
    assert binary.kind(COMPONENT_HEADER + b"rest") == "component"
    path = tmp_path / "c.wasm"
    path.write_bytes(COMPONENT_HEADER)
    assert binary.kind_of_file(path) == "component"


@pytest.mark.parametrize(("data", "needle"), [
    (b"\x7fELF\x02\x01\x01\x00", r"app is not a WebAssembly binary \(it starts with b'\\x7fELF'"),
    (b"(module)", "not a WebAssembly binary"),
    (b"\0as", "not a WebAssembly binary"),
    (b"\0asm\x02\x00\x00\x00", "unknown WebAssembly version 2"),
])
def test_non_wasm_is_rejected_clearly(data: bytes, needle: str) -> None:
    with pytest.raises(BuildError, match=needle) as caught:
        binary.kind(data, "app")
    assert "\n" not in str(caught.value)


def test_imports_and_exports_of_a_module() -> None:
    got = [(i.module, i.name, i.kind) for i in binary.imports(bytes(MODULE))]
    assert got == [
        ("wasi_snapshot_preview1", "fd_write", "func"), ("wasi_snapshot_preview1", "sock_open", "func"),
        ("wasi_unstable", "proc_exit", "func"), ("env", "foo", "func"), ("env", "memory", "memory"),
        ("env", "table", "table"), ("env", "g", "global"), ("wasi:cli/environment@0.2.0", "get-arguments", "func"),
    ]
    assert [(e.name, e.kind) for e in binary.exports(bytes(MODULE))] == [("_start", "func"), ("answer", "global")]
    assert binary.imports(bytes(wasmtime.wat2wasm("(module)"))) == []


def test_a_truncated_module_is_a_clear_error() -> None:
    with pytest.raises(BuildError, match="truncated or malformed"):
        binary.imports(bytes(MODULE)[:40], "cut.wasm")


def test_components_have_no_core_imports() -> None:
    with pytest.raises(BuildError, match="is a component, not a core module"):
        binary.imports(COMPONENT_HEADER)


def test_check_wasi_imports_names_each_problem() -> None:
    problems = binary.check_wasi_imports(bytes(MODULE), binary.wasmtime_preview1_functions(), name="app.wasm")
    assert problems == [
        "app.wasm imports wasi_snapshot_preview1.sock_open, a WASI preview 1 function wasmtime does not provide",
        "app.wasm imports wasi_unstable.proc_exit from WASI snapshot 0, which wasmtime does not provide "
        "(rebuild for wasm32-wasip1)",
        *(f"app.wasm imports {k} env.{n}, which is not part of WASI: no WASI runtime provides it "
          "(define it in the module or link it in)"
          for k, n in [("func", "foo"), ("memory", "memory"), ("table", "table"), ("global", "g")]),
        "app.wasm imports func wasi:cli/environment@0.2.0.get-arguments, which is not part of WASI: no WASI "
        "runtime provides it (define it in the module or link it in)",
    ]
    # A wit-bindgen module's interface imports are fine when it is about to become a component.
    lenient = binary.check_wasi_imports(bytes(MODULE), {"fd_write", "sock_open"}, allow_interfaces=True)
    assert not any("wasi:cli" in p or "sock_open" in p for p in lenient) and len(lenient) == 5


def test_wasmtime_provides_preview1_but_not_extensions() -> None:
    provided = binary.wasmtime_preview1_functions()
    assert {"fd_write", "path_open", "proc_exit", "sock_accept"} <= provided <= binary.PREVIEW1_FUNCTIONS


def test_the_vendored_adapter_provides_every_preview1_function() -> None:
    adapter = pins.asset(pins.adapter_name("command")).read_bytes()
    funcs = {e.name for e in binary.exports(adapter) if e.kind == "func"}
    assert funcs >= binary.PREVIEW1_FUNCTIONS


WIT = """package root:component;

world root {
  import wasi:cli/environment@0.2.12;
  import wasi:io/streams@0.2.12;

  export wasi:cli/run@0.2.12;
}
package wasi:cli@0.2.12 {
  interface run {
    run: func() -> result;
  }
}
"""


def test_parse_world() -> None:
    world = binary.parse_world(WIT)
    assert world.imports == ("wasi:cli/environment@0.2.12", "wasi:io/streams@0.2.12")
    assert world.exports == ("wasi:cli/run@0.2.12",)
    assert world.name == "wasi:cli/command"
    proxy = binary.parse_world(WIT.replace("export wasi:cli/run", "export wasi:http/incoming-handler"))
    assert proxy.name == "wasi:http/proxy"
    assert binary.parse_world("package a:b;\n").name is None
